"""Time values the user passes as parameters: one reading of them everywhere."""

from __future__ import annotations

from datetime import UTC, date, datetime

__all__ = ["TimeLike", "as_utc"]

TimeLike = datetime | date | str


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
