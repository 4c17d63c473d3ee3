"""Retention inputs and options for the parity suite.

:func:`cohort_events` draws each unit's events at fixed offsets from one of a few
awkward instants, so that every period rule meets its edges:

* same-millisecond ties (three offsets are 0);
* rolling period edges: 1 ms before, on and after 1, 7, 30, 91 and 365 days;
* daylight-saving nights in Berlin (2024-03-31, 2024-10-27), New York (2024-03-10,
  2024-11-03) and Santiago (2024-09-08, a day that starts at 01:00), where a calendar
  day is 23 or 25 hours;
* month, quarter and year ends, in UTC and in local time (the last millisecond of
  29 February in Berlin is 22:59:59.999 UTC; of 30 June in New York, 03:59:59.999 UTC
  on 1 July), and the end of a Monday-to-Sunday week;
* a unit alone in its month with one event (a cohort with no returns at all);
* nulls: rows without a customer, a time or a type.

``RETENTION_CASES`` names option sets that together take every value of every option
of :func:`~activity_toolkit.analysis.retention` (period, cohort rule, mode, rolling,
time zone, week start, start and return events, ``min_events``, ``end``, a two-column
key), mostly in combination; :func:`grid_cases` is the full product of the rules that
change how periods are numbered and counted.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

DAY_MS = 86_400_000
BASES = [
    datetime(2024, 3, 31, 0, 30, tzinfo=UTC),  # Berlin springs forward at 01:00 UTC
    datetime(2024, 10, 27, 0, 30, tzinfo=UTC),  # and falls back at 01:00 UTC
    datetime(2024, 3, 10, 6, 30, tzinfo=UTC),  # New York springs forward at 07:00 UTC
    datetime(2024, 11, 3, 5, 30, tzinfo=UTC),  # and falls back at 06:00 UTC
    datetime(2024, 1, 31, 23, 59, 59, 999_000, tzinfo=UTC),
    datetime(2024, 2, 29, 22, 59, 59, 999_000, tzinfo=UTC),  # Berlin: 29 Feb ends
    datetime(2024, 7, 1, 3, 59, 59, 999_000, tzinfo=UTC),  # New York: 30 June ends
    datetime(2024, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC),
    datetime(2024, 1, 7, 23, 59, 59, 999_000, tzinfo=UTC),  # a Sunday ends
    # Santiago springs forward at local midnight (04:00 UTC): 8 September has no 00:00
    datetime(2024, 9, 8, 3, 30, tzinfo=UTC),
]
_EDGES = [1, 7, 30, 91, 365]
OFFSETS_MS = [
    0,
    0,
    0,
    1,
    3_600_000,
    *[d * DAY_MS + e for d in _EDGES for e in (-1, 0, 1)],
    45 * DAY_MS,
    61 * DAY_MS + 7_200_000,
    200 * DAY_MS,
]
TYPES = ["A", "B", "C", None]
SCHEMA = {
    "customer_id": pl.String,
    "created_at": pl.Datetime("ms", "UTC"),
    "id": pl.String,
    "type": pl.String,
    "code": pl.String,
}


def cohort_events(
    units: int = 80, *, seed: int = 0, tz: str | None = "UTC"
) -> pl.DataFrame:
    """Events of ``units`` customers (see the module docstring). Every unit's first
    event is at its base instant, so rolling periods meet their edges exactly; ``tz``
    gives the same instants in another zone, or naive (read as UTC)."""
    rng = random.Random(seed)
    rows: list[tuple[Any, ...]] = []
    for u in range(units):
        base = rng.choice(BASES)
        offsets = [0, *rng.sample(OFFSETS_MS, rng.randint(0, 10))]
        for n, offset in enumerate(offsets):
            rows.append(
                (
                    f"c{u:03d}",
                    base + timedelta(milliseconds=offset),
                    f"e{u:03d}-{n:02d}",
                    rng.choice(TYPES),
                    rng.choice(["k1", "k2"]),
                )
            )
    rows += [
        # alone in November 2023: a cohort nobody returns to
        ("lone", datetime(2023, 11, 15, 12, tzinfo=UTC), "lone", "A", "k1"),
        (None, BASES[0], "null-customer", "A", "k1"),
        ("c000", None, "null-time", "A", "k1"),
    ]
    rng.shuffle(rows)
    df = pl.DataFrame(rows, schema=SCHEMA, orient="row")
    if tz is None:
        return df.with_columns(pl.col("created_at").dt.replace_time_zone(None))
    return df.with_columns(pl.col("created_at").dt.convert_time_zone(tz))


#: name -> options of ``retention`` / ``retention_matrix``
RETENTION_CASES: dict[str, dict[str, Any]] = {
    "week": {},
    "day": {"period": "day"},
    "month": {"period": "month"},
    "quarter-berlin": {"period": "quarter", "tz": "Europe/Berlin"},
    "year-new-york": {"period": "year", "tz": "America/New_York"},
    "week-sunday-berlin": {"week_start": "sunday", "tz": "Europe/Berlin"},
    "week-wednesday-new-york-recurring": {
        "week_start": "wednesday",
        "tz": "America/New_York",
        "cohort": "recurring",
    },
    "month-berlin-recurring-on-or-after": {
        "period": "month",
        "tz": "Europe/Berlin",
        "cohort": "recurring",
        "mode": "on_or_after",
    },
    "day-new-york-on-or-after-min2": {
        "period": "day",
        "tz": "America/New_York",
        "mode": "on_or_after",
        "min_events": 2,
    },
    "day-santiago-recurring": {
        "period": "day",
        "tz": "America/Santiago",
        "cohort": "recurring",
    },
    # Sunday weeks in Santiago: 8 September 2024 is a Sunday without a midnight; its
    # week starts at 01:00 (the local path once put it at 23:00 the day before)
    "week-sunday-santiago": {"week_start": "sunday", "tz": "America/Santiago"},
    "rolling-day": {"period": "day", "rolling": True},
    "rolling-week-recurring-berlin": {
        "rolling": True,
        "cohort": "recurring",
        "tz": "Europe/Berlin",
    },
    "rolling-month-on-or-after-min2": {
        "period": "month",
        "rolling": True,
        "mode": "on_or_after",
        "min_events": 2,
    },
    "rolling-quarter-new-york": {
        "period": "quarter",
        "rolling": True,
        "tz": "America/New_York",
    },
    "rolling-year": {"period": "year", "rolling": True},
    "start-returning": {"period": "month", "start": "A", "returning": ["B", "C"]},
    "start-returning-recurring-min2-berlin": {
        "start": ["A", "B"],
        "returning": "C",
        "cohort": "recurring",
        "min_events": 2,
        "tz": "Europe/Berlin",
    },
    "min3": {"period": "month", "min_events": 3},
    "no-returns": {"period": "month", "returning": "Z"},
    "end-inside": {"end": "2024-03-31T02:30:00.000500+02:00", "tz": "Europe/Berlin"},
    "end-date-rolling": {"period": "day", "rolling": True, "end": date(2024, 11, 3)},
    "end-before-the-data": {"end": datetime(2020, 1, 1)},
    "key-two-columns": {"key": ["customer_id", "code"], "cohort": "recurring"},
}

#: A subset that still covers every option, for engines where a query costs more.
COVERING_CASES = [
    "week-wednesday-new-york-recurring",
    "month-berlin-recurring-on-or-after",
    "day-new-york-on-or-after-min2",
    "rolling-week-recurring-berlin",
    "rolling-month-on-or-after-min2",
    "start-returning-recurring-min2-berlin",
    "quarter-berlin",
    "end-inside",
    "key-two-columns",
]

#: Matrix cases: (case, periods)
MATRIX_CASES = [
    ("week", None),
    ("month-berlin-recurring-on-or-after", 2),
    ("rolling-day", 30),
    ("end-before-the-data", None),
]


def grid_cases() -> list[dict[str, Any]]:
    """Every period x cohort rule x mode x rolling x time zone; the start and return
    events and ``min_events`` rotate over the product so each meets every rule."""
    events = [(None, None), ("A", ["B", "C"]), (["A", "B"], "A")]
    out = []
    for n, (period, cohort, mode, rolling, tz) in enumerate(
        itertools.product(
            ["day", "week", "month", "quarter", "year"],
            ["first", "recurring"],
            ["on", "on_or_after"],
            [False, True],
            ["UTC", "Europe/Berlin"],
        )
    ):
        start, returning = events[n % 3]
        out.append(
            {
                "period": period,
                "cohort": cohort,
                "mode": mode,
                "rolling": rolling,
                "tz": tz,
                "start": start,
                "returning": returning,
                "min_events": 1 + (n // 3) % 2,
            }
        )
    return out


def case_id(options: dict[str, Any]) -> str:
    """A short test id for a :func:`grid_cases` entry."""
    return "-".join(
        str(options[k])
        for k in ("period", "cohort", "mode", "rolling", "tz", "min_events")
    )
