"""Time buckets: the one reading of ``period=`` that every analysis shares.

A period is a calendar bucket in a time zone: a day, a week starting on
``week_start``, a month, a quarter or a year. :func:`floor` gives the start of the
bucket holding a time, :func:`interval` the Polars duration that steps from one
bucket to the next, :func:`index` a consecutive numbering of buckets.
"""

from __future__ import annotations

import warnings
from typing import get_args

import polars as pl

from activity_toolkit.analysis._options import Period, WeekStart, check
from activity_toolkit.exceptions import AnalysisInputError

__all__ = [
    "bucket",
    "every_period",
    "floor",
    "index",
    "interval",
    "resolve_period",
    "weekday",
]

_INTERVAL = {"day": "1d", "week": "1w", "month": "1mo", "quarter": "1q", "year": "1y"}
#: The ``every=`` strings the analyses took before ``period=``; nothing else was
#: documented, so nothing else is translated.
_EVERY = {v: k for k, v in _INTERVAL.items()}


def every_period(
    frame: pl.LazyFrame, period: str, column: str = "period"
) -> pl.LazyFrame:
    """One row per period from the first to the last period start in ``column``
    (zeros are filled by joining results onto this grid).

    Steps by the wall clock land at 23:00 the day before a skipped midnight, or keep
    the 01:00 of a period that starts after one; each step of a week or longer is
    taken back to the start of its local day (that of 12 hours later), as
    :func:`floor` gives it; days too (a day whose midnight was skipped starts at
    01:00, where ``truncate`` puts its events)."""
    grid = frame.select(
        pl.datetime_ranges(
            pl.col(column).min(), pl.col(column).max(), interval(period), time_unit="ms"
        ).alias(column)
    ).explode(column)
    return grid.with_columns(
        (pl.col(column) + pl.duration(hours=12)).dt.truncate("1d").alias(column)
    )


def interval(period: str) -> str:
    """The Polars duration of one ``period`` (``"month"`` → ``"1mo"``)."""
    return _INTERVAL[period]


def weekday(week_start: str) -> int:
    """``"monday"`` → 0 … ``"sunday"`` → 6, validated."""
    check(week_start, WeekStart, name="week_start")
    return list(get_args(WeekStart)).index(week_start)


def floor(local: pl.Expr, period: str, week_start: int = 0, *, tz: str) -> pl.Expr:
    """Start of the calendar period containing ``local`` (a datetime in time zone
    ``tz``): the first instant of the period's first local day.

    Weeks that do not start on Monday are counted on the local date (the day
    ``week_start`` on or before it), whose midnight is read in ``tz``; where that
    midnight was skipped (a DST change or a zone's new offset at midnight:
    America/Santiago 1970-10-11, Pacific/Apia's lost 2011-12-30), the start is the
    first instant after the gap. Shifting the time by whole days on the zoned
    datetime instead lands before the gap, a week early, or raises on a skipped
    midnight.
    """
    if period != "week" or not week_start:
        return local.dt.truncate(_INTERVAL[period])
    back = (local.dt.weekday().cast(pl.Int32) - 1 - week_start) % 7
    midnight = local.dt.replace_time_zone(None).dt.truncate("1d") - pl.duration(
        days=back
    )
    start = midnight.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    # a skipped midnight read with the offset in force before the change (two days
    # earlier) is the instant of the change when the gap starts at midnight (all
    # the cases we found); Polars' truncation to the day raises on some of them
    before = (midnight - pl.duration(days=2)).dt.replace_time_zone(
        tz, ambiguous="earliest", non_existent="null"
    )
    # wall time minus UTC (``dt.base_utc_offset`` panics on some nulls)
    offset = before.dt.replace_time_zone(None) - before.dt.convert_time_zone(
        "UTC"
    ).dt.replace_time_zone(None)
    after_gap = (midnight - offset).dt.replace_time_zone("UTC")
    return start.fill_null(after_gap.dt.convert_time_zone(tz))


def bucket(column: str, period: str, tz: str, week_start: int = 0) -> pl.Expr:
    """The start of ``column``'s period in time zone ``tz``."""
    return floor(pl.col(column).dt.convert_time_zone(tz), period, week_start, tz=tz)


def index(start: pl.Expr, period: str, week_start: int = 0) -> pl.Expr:
    """Consecutive integers for consecutive periods, from a period's start."""
    if period in ("day", "week"):
        days = start.dt.date().cast(pl.Int64)
        if period == "day":
            return days
        # 1969-12-29 was a Monday: day -3 since the epoch
        return (days - (-3 + week_start)) // 7
    months = start.dt.year().cast(pl.Int64) * 12 + start.dt.month().cast(pl.Int64) - 1
    if period == "month":
        return months
    if period == "quarter":
        return months // 3
    return months // 12


def resolve_period(period: str, every: str | None, *, function: str) -> str:
    """The period to use, accepting the deprecated ``every=`` of older releases.

    ``every`` was a Polars duration (``"1mo"``); it still works for the five
    durations that name a period, with a :class:`DeprecationWarning`.
    """
    if every is None:
        return check(period, Period, name="period")
    if every not in _EVERY:
        msg = (
            f"{function}: every={every!r} has no period equivalent; use period= "
            f"with one of {list(get_args(Period))}"
        )
        raise AnalysisInputError(msg)
    if period not in ("month", _EVERY[every]):
        msg = f"{function}: period={period!r} and every={every!r} disagree; give period= only"
        raise AnalysisInputError(msg)
    warnings.warn(
        f"{function}(every={every!r}) is deprecated; use period={_EVERY[every]!r}",
        DeprecationWarning,
        stacklevel=3,
    )
    return _EVERY[every]
