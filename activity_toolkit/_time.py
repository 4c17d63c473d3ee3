"""Time values, in one place: what the user passes as parameters, and the API's
timestamp text.

Every module that reads or writes a time (the analyses, the client, ``fetch``, the
sandbox) takes these helpers from here, so there is one reading of a naive value
(UTC), one of a date (midnight UTC) and one API format
(``2024-05-01T10:00:00.000Z``: UTC, milliseconds).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

__all__ = [
    "TimeLike",
    "as_utc",
    "before_ms",
    "format_time",
    "from_ms",
    "parse_time",
    "to_ms",
]

TimeLike = datetime | date | str

_MS = timedelta(milliseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def as_utc(value: TimeLike) -> datetime:
    """An aware UTC datetime from a datetime (naive means UTC), a date (midnight UTC)
    or ISO 8601 text (``Z`` accepted).

    Examples
    --------
    >>> as_utc("2024-05-01T12:00:00+02:00")
    datetime.datetime(2024, 5, 1, 10, 0, tzinfo=datetime.timezone.utc)
    >>> as_utc(date(2024, 5, 1))
    datetime.datetime(2024, 5, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_time(value: TimeLike) -> datetime:
    """:func:`as_utc`, with a message that names the value when the text is not an
    ISO 8601 timestamp.

    >>> parse_time("2024-05-01T00:00:00.123Z").microsecond
    123000
    """
    try:
        return as_utc(value)
    except ValueError:
        msg = f"not an ISO 8601 timestamp: {value!r}"
        raise ValueError(msg) from None


def format_time(value: TimeLike) -> str:
    """The API's timestamp format: UTC, milliseconds, ``Z``.

    >>> format_time("2024-05-01T12:00:00+02:00")
    '2024-05-01T10:00:00.000Z'
    """
    dt = parse_time(value)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def to_ms(value: TimeLike) -> int:
    """Milliseconds since the Unix epoch (exact, no float rounding).

    >>> to_ms("1970-01-01T00:00:01.500Z")
    1500
    """
    return (parse_time(value) - _EPOCH) // _MS


def from_ms(ms: int) -> str:
    """:func:`format_time` of milliseconds since the Unix epoch.

    >>> from_ms(1500)
    '1970-01-01T00:00:01.500Z'
    """
    return format_time(_EPOCH + ms * _MS)


def before_ms(value: TimeLike) -> str:
    """The timestamp 1 ms earlier, in the API's format (a cursor with overlap).

    >>> before_ms("2024-05-01T00:00:00.000Z")
    '2024-04-30T23:59:59.999Z'
    """
    return format_time(parse_time(value) - _MS)
