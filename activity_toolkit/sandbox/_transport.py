"""The sandbox as an httpx transport (sync and async), for in-process use."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx

from activity_toolkit.sandbox._messages import (
    RequestHandler,
    SandboxRequest,
    SandboxResponse,
)

__all__ = ["SandboxTransport"]


def _incomplete(received: int, expected: int) -> str:
    return (
        "peer closed connection without sending complete message body: "
        f"received {received} bytes, expected {expected}"
    )


class _CutStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that stops half-way and then fails like a closed connection."""

    def __init__(self, body: bytes, request: httpx.Request) -> None:
        self._part = body[: len(body) // 2]
        self._expected = len(body)
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        yield self._part
        raise httpx.RemoteProtocolError(
            _incomplete(len(self._part), self._expected), request=self._request
        )

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._part
        raise httpx.RemoteProtocolError(
            _incomplete(len(self._part), self._expected), request=self._request
        )


class SandboxTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Calls :meth:`Sandbox.handle` directly, with the same faults as over HTTP.

    A slow answer longer than the request's read timeout raises
    ``httpx.ReadTimeout`` after that timeout, as a real socket would.
    ``sleep=False`` skips every delay (fast unit tests).
    """

    def __init__(self, sandbox: RequestHandler, *, sleep: bool = True) -> None:
        self.sandbox = sandbox
        self.sleep = sleep

    def _answer(
        self, request: httpx.Request, body: bytes
    ) -> tuple[SandboxResponse, float, bool]:
        target = request.url.raw_path.decode("ascii")
        answer = self.sandbox.handle(
            SandboxRequest.build(
                request.method, target, list(request.headers.items()), body
            )
        )
        timeout = request.extensions.get("timeout", {}).get("read")
        delay = answer.delay if self.sleep else 0.0
        timed_out = timeout is not None and answer.delay > timeout
        if timed_out and self.sleep:
            delay = timeout
        return answer, delay, timed_out

    @staticmethod
    def _response(answer: SandboxResponse, request: httpx.Request) -> httpx.Response:
        if answer.fault == "drop":
            msg = "Server disconnected without sending a response."
            raise httpx.RemoteProtocolError(msg, request=request)
        headers = [*answer.headers, ("Content-Length", str(len(answer.body)))]
        if answer.fault == "truncate":
            return httpx.Response(
                answer.status,
                headers=headers,
                stream=_CutStream(answer.body, request),
                request=request,
            )
        return httpx.Response(
            answer.status, headers=headers, content=answer.body, request=request
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer, delay, timed_out = self._answer(request, request.read())
        if delay:
            time.sleep(delay)
        if timed_out:
            msg = "timed out"
            raise httpx.ReadTimeout(msg, request=request)
        return self._response(answer, request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        answer, delay, timed_out = self._answer(request, await request.aread())
        if delay:
            await asyncio.sleep(delay)
        if timed_out:
            msg = "timed out"
            raise httpx.ReadTimeout(msg, request=request)
        return self._response(answer, request)
