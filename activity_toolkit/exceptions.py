"""The package's error and warning tree.

Every exception the toolkit raises on purpose derives from
:class:`ActivityToolkitError`, and also from the natural builtin where one fits, so
``except ValueError`` keeps working for callers that do not know this package::

    ActivityToolkitError(Exception)
    ├── InputError(ValueError)                bad input handed to a reader
    │   ├── InvalidJSONError                  text that is not JSON
    │   ├── InvalidPageError                  an API page without its envelope
    │   ├── UnreadableFileError               a truncated or corrupt gzip, an I/O error
    │   └── InvalidEventError                 an event without id/type/created_at, bad timestamp
    ├── StoreError                            a Parquet store that is missing or damaged
    ├── CredentialsError(ValueError)          credentials or API URL that cannot be sent
    ├── ApiError                              the API answered with an error body
    │   ├── AuthenticationError               401 / 403
    │   ├── NotFoundError                     404
    │   ├── BadRequestError                   400 and other 4xx
    │   ├── RateLimitError                    429 (``retry_after`` in seconds)
    │   └── ServerError                       5xx
    ├── TransportError                        timeouts, dropped connections, truncated bodies
    ├── PaginationError                       an envelope or cursor the client cannot follow
    ├── FetchError                            some customers failed; the rest is kept
    ├── AnalysisInputError(ValueError)        a frame an analysis function cannot use
    │   ├── MissingColumnsError(KeyError)
    │   └── EmptyFrameError
    ├── ChartError(ValueError)                a frame a chart cannot draw
    └── ReportError                           the HTML report cannot be built or written

    ActivityToolkitWarning(UserWarning)
    ├── UnknownEventTypeWarning               a type string not in the registry (kept)
    ├── SkippedRecordsWarning                 ``on_error="skip"`` left records out
    └── IncompleteFetchWarning                collected events differ from the API's ``total``

Messages say what was received, where (file, line, page) and what was expected. They
never contain credentials.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "ActivityToolkitError",
    "ActivityToolkitWarning",
    "AnalysisInputError",
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ChartError",
    "CredentialsError",
    "EmptyFrameError",
    "FetchError",
    "IncompleteFetchWarning",
    "InputError",
    "InvalidEventError",
    "InvalidJSONError",
    "InvalidPageError",
    "MissingColumnsError",
    "NotFoundError",
    "PaginationError",
    "RateLimitError",
    "ReportError",
    "ServerError",
    "SkippedRecordsWarning",
    "StoreError",
    "TransportError",
    "UnknownEventTypeWarning",
    "UnreadableFileError",
]


class ActivityToolkitError(Exception):
    """Root of every error raised on purpose by ``activity_toolkit``."""


class InputError(ActivityToolkitError, ValueError):
    """Input handed to a reader is not what it should be.

    Attributes
    ----------
    source
        The file, page or iterable the bad record came from (a readable label).
    line
        1-based line number in ``source`` where that applies, else ``None``.
    item
        0-based index in a page's ``data`` list (or in an iterable) where that
        applies, else ``None``.
    reason
        What was wrong, without the location.
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str | None = None,
        line: int | None = None,
        item: int | None = None,
    ):
        self.reason = reason
        self.source = source
        self.line = line
        self.item = item
        super().__init__(f"{self.location}: {reason}" if self.location else reason)

    @property
    def location(self) -> str:
        """``"file, line 7"``, ``"page.json, data[3]"`` or ``""`` when unknown."""
        parts = [p for p in (self.source,) if p]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.item is not None:
            parts.append(f"data[{self.item}]" if self.source else f"item {self.item}")
        return ", ".join(parts)


class InvalidJSONError(InputError):
    """A line, file or page that does not parse as JSON."""


class UnreadableFileError(InputError):
    """A file that cannot be read to its end: a truncated or corrupt gzip stream, or
    an I/O error. Records read before the damage are kept."""


class InvalidPageError(InputError):
    """An API list page without the envelope it needs (``data`` list, ``object``)."""


class InvalidEventError(InputError):
    """An event without ``id``/``type``/``created_at``, or with a timestamp that does not parse."""


class StoreError(ActivityToolkitError):
    """A Parquet store that is missing, half-written or not written by this toolkit."""


class CredentialsError(ActivityToolkitError, ValueError):
    """Credentials or an API URL the client refuses before sending anything: a key
    with surrounding whitespace or control characters (a ``.env`` file with Windows
    line endings), non-ASCII characters, or ``user:password@`` in the API URL.

    The message names the setting and the problem, never the value.
    """


class ApiError(ActivityToolkitError):
    """The Voucherify API answered with an error.

    Carries the API's error body fields when present: ``code``, ``key``, ``message``,
    ``details`` and ``request_id``, plus the HTTP ``status_code`` and the request's
    method and URL path (never its headers).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: Mapping[str, Any] | None = None,
        method: str | None = None,
        path: str | None = None,
    ):
        body = dict(body or {})
        self.status_code = status_code
        self.body = body
        self.code = body.get("code")
        self.key = body.get("key")
        self.api_message = body.get("message")
        self.details = body.get("details")
        self.request_id = body.get("request_id")
        self.method = method
        self.path = path
        parts = [message]
        if method and path:
            parts.append(f"({method} {path})")
        extra = [
            f"{name}={value!r}"
            for name, value in (
                ("key", self.key),
                ("message", self.api_message),
                ("details", self.details),
                ("request_id", self.request_id),
            )
            if value
        ]
        if extra:
            parts.append("[" + ", ".join(extra) + "]")
        super().__init__(" ".join(parts))


class AuthenticationError(ApiError):
    """401 or 403: the application id / secret key (or token) was refused."""


class NotFoundError(ApiError, LookupError):
    """404: the customer (or other resource) does not exist."""


class BadRequestError(ApiError):
    """400 and the other 4xx answers that retrying will not fix."""


class RateLimitError(ApiError):
    """429: the plan's request budget is used up; ``retry_after`` says for how long."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, **kwargs: Any
    ):
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ServerError(ApiError):
    """5xx: the API failed; usually worth retrying."""


class TransportError(ActivityToolkitError):
    """The request never got a usable answer: timeout, refused or dropped connection,
    or a truncated / malformed body."""


class PaginationError(ActivityToolkitError):
    """A list envelope or cursor the client cannot follow (loops, missing cursors)."""


class FetchError(ActivityToolkitError):
    """``fetch`` could not get every customer (retry budget spent, 404, ...).

    Everything fetched is kept: in ``log`` and, with a store, in the store too, so
    running the same ``fetch`` again resumes.

    Attributes
    ----------
    failures
        Customer id (as given) -> the error that ended that customer's fetch.
    log
        The events that were fetched (the whole store's content with a store).
    store
        The store path, or ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        failures: Mapping[str, ActivityToolkitError],
        log: Any = None,
        store: Any = None,
    ):
        self.failures = dict(failures)
        self.log = log
        self.store = store
        super().__init__(message)


class AnalysisInputError(ActivityToolkitError, ValueError):
    """A frame or parameter an analysis function cannot use."""


class MissingColumnsError(AnalysisInputError, KeyError):
    """The frame lacks columns the function needs."""

    def __init__(
        self, missing: Iterable[str], available: Iterable[str], *, what: str = "frame"
    ):
        self.missing = tuple(missing)
        self.available = tuple(available)
        msg = (
            f"{what} is missing column(s) {list(self.missing)}; "
            f"available: {list(self.available)}. Pass the column names as parameters "
            "if yours are named differently."
        )
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class EmptyFrameError(AnalysisInputError):
    """The input has no rows where the function needs at least one."""


class ChartError(ActivityToolkitError, ValueError):
    """A frame a chart cannot draw: not an analysis result, or missing its columns."""


class ReportError(ActivityToolkitError):
    """The HTML report cannot be built or written (the message says which step)."""


class ActivityToolkitWarning(UserWarning):
    """Root of the toolkit's warnings."""


class UnknownEventTypeWarning(ActivityToolkitWarning):
    """A type string that is not in the registry: its events are kept under family
    ``unknown``, with the common columns and the raw ``payload``."""


class SkippedRecordsWarning(ActivityToolkitWarning):
    """``on_error="skip"`` left some records out; the load report lists them."""


class IncompleteFetchWarning(ActivityToolkitWarning):
    """The number of events collected differs from what the API said there were."""
