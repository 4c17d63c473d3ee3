"""Who may call the sandbox: app credentials or an OAuth bearer token, and the 401.

:class:`Auth` accepts ``X-App-Id`` / ``X-App-Token`` with the configured credentials,
or ``Authorization: Bearer`` with an unexpired token it issued
(``POST /v1/oauth/token``, see :func:`~activity_toolkit.sandbox._endpoints.oauth_token`).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable

from activity_toolkit.sandbox._errors import error_response
from activity_toolkit.sandbox._messages import SandboxRequest, SandboxResponse

__all__ = ["TOKEN_LIFETIME", "Auth", "unauthorised"]

TOKEN_LIFETIME = 900
"""Seconds an issued bearer token stays valid."""


class Auth:
    """The credential check and the bearer tokens issued so far (thread-safe)."""

    def __init__(
        self, app_id: str, secret_key: str, clock: Callable[[], float]
    ) -> None:
        self.app_id = app_id
        self._secret_key = secret_key
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # token -> expiry (clock seconds)

    def authorised(self, request: SandboxRequest) -> bool:
        """Whether ``request`` carries the app credentials or a live bearer token."""
        h = request.headers
        if (
            h.get("x-app-id") == self.app_id
            and h.get("x-app-token") == self._secret_key
        ):
            return True
        auth = h.get("authorization", "")
        if auth.lower().startswith("bearer "):
            with self._lock:
                expiry = self._tokens.get(auth[7:].strip())
            return expiry is not None and expiry > self._clock()
        return False

    def issue(self) -> tuple[str, float]:
        """A new bearer token valid for :data:`TOKEN_LIFETIME` seconds, and the time
        it was issued."""
        token = "sandbox_token_" + secrets.token_hex(16)
        now = self._clock()
        with self._lock:
            self._tokens[token] = now + TOKEN_LIFETIME
        return token, now


def unauthorised(request_id: str) -> SandboxResponse:
    """The API's 401 answer."""
    return error_response(
        401,
        "unauthorized",
        "Unauthorized",
        "Missing or invalid authorization (X-App-Id / X-App-Token or "
        "Authorization: Bearer)",
        request_id,
    )
