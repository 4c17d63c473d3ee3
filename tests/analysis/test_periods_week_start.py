"""The calendar buckets of :mod:`activity_toolkit.analysis._periods`: week starts
other than Monday in zones whose midnight was skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import narwhals as nw
import polars as pl
import pytest

from activity_toolkit.analysis._engine import period_key, zone_offsets
from activity_toolkit.analysis._periods import bucket, every_period, floor, index

_DAYS_90 = timedelta(days=90)
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _start(t: datetime, tz: str, week_start: int) -> datetime:
    out = pl.DataFrame({"t": [t]}).select(bucket("t", "week", tz, week_start))
    return out.item()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("tz", "week_start", "event", "start"),
    [
        # Santiago skipped 1970-10-11 00:00 (a Sunday): the week starts at 01:00,
        # not at 23:00 on the Saturday before (which put the Sunday a week early)
        ("America/Santiago", 6, datetime(1970, 10, 11, 9), datetime(1970, 10, 11, 1)),
        ("America/Santiago", 6, datetime(1970, 10, 13, 9), datetime(1970, 10, 11, 1)),
        ("America/Santiago", 6, datetime(2024, 9, 7, 23, 30), datetime(2024, 9, 1)),
        ("America/Santiago", 6, datetime(2024, 9, 8, 1, 30), datetime(2024, 9, 8, 1)),
        # Tehran skipped 1993-03-24 00:00 (a Wednesday): Wednesday weeks
        ("Asia/Tehran", 2, datetime(1993, 3, 24, 1, 30), datetime(1993, 3, 24)),
        ("Asia/Tehran", 2, datetime(1993, 3, 26, 16, 30), datetime(1993, 3, 24)),
        # midnights skipped by a new offset (these raised a Polars ComputeError)
        (
            "Australia/Lord_Howe",
            6,
            datetime(1981, 3, 3, 22),
            datetime(1981, 3, 1, 0, 30),
        ),
        ("Asia/Kathmandu", 2, datetime(1986, 1, 2, 17), datetime(1986, 1, 1, 0, 15)),
        # Apia skipped Friday 2011-12-30 whole: Friday weeks start on the Saturday
        ("Pacific/Apia", 4, datetime(2011, 12, 31, 12), datetime(2011, 12, 31)),
        ("Pacific/Apia", 4, datetime(2011, 12, 29, 12), datetime(2011, 12, 23)),
        ("Pacific/Apia", 5, datetime(2012, 1, 1, 2), datetime(2011, 12, 31)),
    ],
)
def test_week_start_after_a_skipped_midnight(
    tz: str, week_start: int, event: datetime, start: datetime
):
    zone = ZoneInfo(tz)
    t = event.replace(tzinfo=zone).astimezone(UTC)
    assert _start(t, tz, week_start) == start.replace(tzinfo=zone)


@pytest.mark.parametrize(
    ("tz", "years"),
    [
        ("America/Santiago", (1969, 1972)),
        ("Asia/Tehran", (1977, 1995)),
        ("Australia/Lord_Howe", (1980, 1983)),
        ("Asia/Kathmandu", (1985, 1987)),
        ("Pacific/Apia", (2010, 2013)),
        ("America/Havana", (2010, 2013)),
        ("Europe/Berlin", (2023, 2025)),
    ],
)
def test_weeks_every_half_hour_agree_with_the_engine_numbering(
    tz: str, years: tuple[int, int]
):
    """For every week start, each half hour's week start is the first instant of a
    local day, not after the time, and numbered as the engines number the week (the
    day ``week_start`` on or before the local date)."""
    lo = int(datetime(years[0], 1, 1, tzinfo=UTC).timestamp() * 1000)
    hi = int(datetime(years[1], 1, 1, tzinfo=UTC).timestamp() * 1000)
    ms = pl.DataFrame({"ms": pl.int_range(lo, hi, 1_800_000, eager=True)})
    offsets = zone_offsets(tz, lo, hi)
    local = pl.col("ms").cast(pl.Datetime("ms", "UTC")).dt.convert_time_zone(tz)
    for ws, day in enumerate(DAYS):
        start = floor(local, "week", ws, tz=tz)
        got = ms.select(
            "ms",
            local.alias("t"),
            start.alias("start"),
            index(start, "week", ws).alias("i"),
            (start - pl.duration(milliseconds=1)).dt.date().alias("before"),
        )
        keys = period_key(
            nw.from_native(ms.lazy()),
            "ms",
            "k",
            period="week",
            week_start=ws,
            offsets=offsets,
        )
        got = got.join(nw.to_native(keys).collect(), on="ms")
        assert got["start"].null_count() == 0, day
        assert (got["start"] <= got["t"]).all(), day
        assert (got["before"] < got["start"].dt.date()).all(), day
        wrong = got.filter(pl.col("i") != pl.col("k"))
        assert wrong.is_empty(), (day, wrong.head(3).rows())


@pytest.mark.parametrize(
    ("tz", "period", "week_start", "first"),
    [
        ("America/Santiago", "week", 6, datetime(1970, 9, 1, tzinfo=UTC)),
        ("America/Sao_Paulo", "week", 6, datetime(2018, 10, 1, tzinfo=UTC)),
        ("America/Sao_Paulo", "week", 0, datetime(2018, 10, 1, tzinfo=UTC)),
        ("Asia/Tehran", "week", 2, datetime(1993, 2, 1, tzinfo=UTC)),
        ("America/Havana", "month", 0, datetime(2011, 11, 1, tzinfo=UTC)),
    ],
)
def test_the_period_grid_holds_each_periods_start(
    tz: str, period: str, week_start: int, first: datetime
):
    """The grid the analyses fill zeros on has exactly the buckets' starts, across
    a skipped midnight."""
    hours = pl.datetime_range(first, first + _DAYS_90, "7h", eager=True)
    starts = pl.DataFrame({"t": hours}).select(
        bucket("t", period, tz, week_start).alias("period")
    )
    grid = every_period(starts.lazy(), period).collect()["period"]
    assert grid.to_list() == starts["period"].unique().sort().to_list()
