"""The API's error body, shared by every refusal the sandbox sends.

Every error (401, 404, 400, 429, injected 5xx) carries the documented shape:
``{"code", "key", "message", "details"?, "request_id", ...}`` as JSON.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from activity_toolkit.sandbox._messages import SandboxResponse

__all__ = ["JSON_CONTENT_TYPE", "Headers", "error_response", "request_id"]

Headers = tuple[tuple[str, str], ...]

JSON_CONTENT_TYPE = ("Content-Type", "application/json; charset=utf-8")


def request_id(rng: random.Random) -> str:
    """A request id like the API's (``v-`` and 18 hex digits), drawn from ``rng``."""
    return "v-" + "".join(rng.choice("0123456789abcdef") for _ in range(18))


def error_response(
    status: int,
    key: str,
    message: str,
    details: str,
    request_id: str,
    *,
    extra_headers: Sequence[tuple[str, str]] = (),
    delay: float = 0.0,
    extra: Mapping[str, Any] | None = None,
) -> SandboxResponse:
    """An error answer in the API's shape (``details`` left out when empty)."""
    body: dict[str, Any] = {"code": status, "key": key, "message": message}
    if details:
        body["details"] = details
    body["request_id"] = request_id
    body.update(extra or {})
    headers = (JSON_CONTENT_TYPE, *extra_headers)
    return SandboxResponse(status, headers, orjson.dumps(body), delay=delay)
