"""Turn HTTP answers and httpx failures into the package's error tree.

Every message names the request (method and path, never headers or credentials) and
carries the API's error body (``code``, ``key``, ``message``, ``details``,
``request_id``) where there is one.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
import orjson

from activity_toolkit.client._secret import Secret, redact
from activity_toolkit.exceptions import (
    ActivityToolkitError,
    ApiError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)

__all__ = [
    "error_from_exception",
    "error_from_response",
    "is_retryable",
    "parse_json_body",
    "retry_after_seconds",
]

_SNIPPET = 200


def _clean(value: Any, secrets: Iterable[Secret | None]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {k: _clean(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, secrets) for v in value]
    return value


def _error_body(
    response: httpx.Response, secrets: Iterable[Secret | None]
) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content)
    except (orjson.JSONDecodeError, httpx.ResponseNotRead):
        body = None
    if isinstance(body, Mapping):
        return _clean(dict(body), secrets)  # type: ignore[no-any-return]
    text = response.content[:_SNIPPET].decode("utf-8", "replace").strip()
    return {"details": redact(text, secrets)} if text else {}


def retry_after_seconds(
    headers: Mapping[str, str], *, now: float | None = None
) -> float | None:
    """Seconds to wait according to ``Retry-After`` (seconds or an HTTP date), else
    ``X-Rate-Limit-Retry`` (Unix epoch seconds); ``None`` when neither is usable."""
    now = time.time() if now is None else now
    headers = {k.lower(): v for k, v in headers.items()}
    raw = headers.get("retry-after")
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(raw)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                return max(0.0, when.timestamp() - now)
    raw = headers.get("x-rate-limit-retry")
    if raw:
        try:
            return max(0.0, float(raw) - now)
        except ValueError:
            return None
    return None


def error_from_response(
    response: httpx.Response, *, secrets: Iterable[Secret | None] = (), note: str = ""
) -> ApiError:
    """The :class:`~activity_toolkit.exceptions.ApiError` subclass for an error answer
    (``note``, e.g. how many attempts were made, follows the lead sentence)."""
    secrets = tuple(secrets)
    tail = f"; {note}" if note else ""
    status = response.status_code
    body = _error_body(response, secrets)
    method = response.request.method
    path = redact(response.request.url.path, secrets)
    kwargs: dict[str, Any] = {
        "status_code": status,
        "body": body,
        "method": method,
        "path": path,
    }
    if status in (401, 403):
        hint = (
            "check VOUCHERIFY_APP_ID / VOUCHERIFY_SECRET_KEY (or the bearer token) "
            "and that VOUCHERIFY_API_URL is your project's cluster"
        )
        return AuthenticationError(
            f"{status} authentication failed; {hint}{tail}", **kwargs
        )
    if status == 404:
        return NotFoundError(f"{status} not found{tail}", **kwargs)
    if status == 429:
        wait = retry_after_seconds(response.headers)
        when = f"; retry after {wait:.1f} s" if wait is not None else ""
        return RateLimitError(
            f"{status} rate limit reached{when}{tail}", retry_after=wait, **kwargs
        )
    if status >= 500:
        return ServerError(f"{status} server error{tail}", **kwargs)
    return BadRequestError(f"{status} request refused{tail}", **kwargs)


def error_from_exception(
    exc: BaseException,
    *,
    method: str,
    path: str,
    secrets: Iterable[Secret | None] = (),
    note: str = "",
) -> TransportError:
    """A :class:`~activity_toolkit.exceptions.TransportError` for an httpx failure."""
    kinds: dict[type[BaseException], str] = {
        httpx.ConnectTimeout: "connect timed out",
        httpx.ReadTimeout: "read timed out",
        httpx.WriteTimeout: "write timed out",
        httpx.PoolTimeout: "timed out waiting for a connection",
        httpx.ConnectError: "connection failed",
        httpx.RemoteProtocolError: "connection dropped or body truncated",
        httpx.ReadError: "connection dropped while reading",
    }
    kind = kinds.get(type(exc))
    if kind is None:
        kind = (
            "timed out"
            if isinstance(exc, httpx.TimeoutException)
            else "transport error"
        )
    detail = redact(str(exc), secrets)
    text = f"{kind} ({method} {redact(path, secrets)})"
    if detail:
        text += f": {detail}"
    if note:
        text += f"; {note}"
    return TransportError(text)


def parse_json_body(
    response: httpx.Response, *, secrets: Iterable[Secret | None] = ()
) -> dict[str, Any]:
    """The JSON object of a 2xx answer; :class:`TransportError` when it is not one
    (a malformed or truncated body, which is worth retrying)."""
    method = response.request.method
    path = redact(response.request.url.path, tuple(secrets))
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        size = len(response.content)
        msg = f"malformed or truncated JSON body ({method} {path}, {size} bytes): {exc}"
        raise TransportError(msg) from None
    if not isinstance(body, dict):
        msg = f"expected a JSON object ({method} {path}), got {type(body).__name__}"
        raise TransportError(msg)
    return body


def is_retryable(error: ActivityToolkitError) -> bool:
    """429, 5xx and transport failures are worth another try; other 4xx are not."""
    return isinstance(error, RateLimitError | ServerError | TransportError)
