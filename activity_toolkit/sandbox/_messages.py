"""What passes between the sandbox's handler and its transports.

A :class:`SandboxRequest` comes in, a :class:`SandboxResponse` goes out; the
transports (in-process httpx transport, real HTTP server) build the one and carry
out the other, and only need something with a :meth:`RequestHandler.handle` method.
Both sides import these values from here, so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import parse_qs, unquote

__all__ = ["RequestHandler", "SandboxRequest", "SandboxResponse"]


@dataclass(frozen=True, slots=True)
class SandboxRequest:
    """A request, independent of how it arrived."""

    method: str
    path: str
    query: Mapping[str, Sequence[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""

    @classmethod
    def build(
        cls,
        method: str,
        target: str,
        headers: Mapping[str, str] | Sequence[tuple[str, str]],
        body: bytes = b"",
    ) -> SandboxRequest:
        """From a request target (``/path?query``) and raw headers."""
        path, _, qs = target.partition("?")
        items = headers.items() if isinstance(headers, Mapping) else headers
        return cls(
            method=method.upper(),
            path=unquote(path),
            query=parse_qs(qs, keep_blank_values=True),
            headers={k.lower(): v for k, v in items},
            body=body,
        )

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass(frozen=True, slots=True)
class SandboxResponse:
    """What to answer, and how (``delay`` seconds first; ``fault`` to misbehave)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    delay: float = 0.0
    fault: Literal["drop", "truncate"] | None = None


class RequestHandler(Protocol):
    """What a transport serves: :class:`~activity_toolkit.sandbox.Sandbox`, or any
    object that answers a request."""

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request (called from several threads at once)."""
        ...
