"""The sandbox over real HTTP/1.1 on 127.0.0.1 (stdlib ``ThreadingHTTPServer``).

The stdlib server gives full control of the socket, so faults are real: a dropped
connection closes it without an answer, a truncated body closes it after half of
the ``Content-Length`` bytes, a slow answer sleeps before the status line.
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from activity_toolkit.sandbox._messages import RequestHandler, SandboxRequest

__all__ = ["SandboxServer"]

logger = logging.getLogger("activity_toolkit.sandbox")

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "voucherify-sandbox/1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = SandboxRequest.build(
            self.command, self.path, list(self.headers.items()), body
        )
        answer = self.server.sandbox.handle(request)
        if answer.delay:
            self.server.stopping.wait(answer.delay)
        if answer.fault == "drop":
            self._hang_up()
            return
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        if answer.fault == "truncate":
            self.send_header("Connection", "close")
        self.end_headers()
        if answer.fault == "truncate":
            self.wfile.write(answer.body[: len(answer.body) // 2])
            self.wfile.flush()
            self._hang_up()
            return
        self.wfile.write(answer.body)

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: RequestHandler) -> None:
        self.sandbox = sandbox
        self.stopping = threading.Event()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timeout, retry) is normal here: log, do not print."""
        import sys

        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            logger.debug("client %s went away: %s", client_address, error)
            return
        logger.exception("sandbox error while answering %s", client_address)


class SandboxServer:
    """A running sandbox HTTP server; use as a context manager or call :meth:`close`.

    It binds to 127.0.0.1 (loopback only) unless another loopback host is given.
    """

    def __init__(
        self, sandbox: RequestHandler, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        if host not in _LOOPBACK:
            msg = f"the sandbox only binds to loopback (127.0.0.1), not {host!r}"
            raise ValueError(msg)
        self.sandbox = sandbox
        self._server = _Server((host, port), sandbox)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8765``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        """Serve in a background (daemon) thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="sandbox-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until Ctrl-C (or :meth:`close` from another thread).
        Not together with :meth:`start`: one loop serves a server."""
        if self._thread is not None:
            msg = "this server already serves in a background thread (start())"
            raise RuntimeError(msg)
        self._server.serve_forever(poll_interval=0.2)

    def close(self) -> None:
        """Stop serving and close the socket."""
        self._server.stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10)
        self._server.server_close()

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
