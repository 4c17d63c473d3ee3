"""``funnel_trend`` on engines gives the local Polars rows, period by period.

The engine computes the funnel units and reduces them to a row per calendar period
of entry (:func:`activity_toolkit.analysis._portable_funnel.trend_parts`); the
periods are numbered on the engine from the zone's offsets (read from Polars' own
time zone database), so the fixtures aim at the calendar: entries on both sides of
local midnights on daylight-saving days (Berlin, New York, São Paulo's 2018 change
at midnight, Lord Howe's half-hour one), a half-hour zone (Kolkata), week starts,
month, quarter and year ends, plus the edge events of ``_data`` for every funnel mode
and rule, windows, exclusions, ``end`` and a two-column key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from activity_toolkit.analysis import Exclusion, Step, funnel_trend, params_of
from activity_toolkit.exceptions import AnalysisInputError
from tests.scale._cases import STEPS
from tests.scale._data import edge_events
from tests.scale.conftest import Engine, canonical, to_polars
from tests.scale.test_pyspark import _compare as compare

#: name -> options of funnel_trend over the edge events and STEPS
TREND_CASES: dict[str, dict[str, Any]] = {
    "week": {},
    "ordered-1d-furthest": {"within": "1d", "entry": "furthest"},
    "strict-1d": {"mode": "strict", "within": "1d"},
    "unordered-1d": {"mode": "unordered", "within": "1d"},
    "unordered": {"mode": "unordered", "period": "month"},
    "reached-year": {"mode": "reached", "period": "year"},
    "exclusion-range": {
        "within": "7d",
        "exclude": [Exclusion("X", from_step=2), Exclusion("Y", to_step=2)],
    },
    "key": {"key": ["customer_id", "code"], "within": "1d"},
    "day-berlin-7d": {"period": "day", "tz": "Europe/Berlin", "within": "7d"},
    "week-sunday-new-york": {
        "period": "week",
        "week_start": "sunday",
        "tz": "America/New_York",
    },
    "month-berlin-end": {
        "period": "month",
        "tz": "Europe/Berlin",
        "within": "1d",
        "end": "2024-10-28T00:30:00",
    },
    "quarter-kolkata": {"period": "quarter", "tz": "Asia/Kolkata", "within": "1d"},
    "end-on-an-edge": {
        "within": "1d",
        "end": datetime(2024, 3, 31, 0, 30, tzinfo=UTC) + timedelta(days=1),
    },
}
#: every mode, rule, zone and period, for the engines where a query costs more
COVERING = [
    "ordered-1d-furthest",
    "strict-1d",
    "unordered-1d",
    "reached-year",
    "exclusion-range",
    "key",
    "day-berlin-7d",
    "week-sunday-new-york",
    "month-berlin-end",
]
SPARK = ["ordered-1d-furthest", "unordered-1d", "exclusion-range", "month-berlin-end"]


def check_same(local: pl.DataFrame, engine_result: Any) -> None:
    assert_frame_equal(canonical(to_polars(engine_result)), canonical(local))


@pytest.fixture(scope="module")
def edges() -> pl.DataFrame:
    return edge_events(60, seed=1, tz="Europe/Berlin")


@pytest.mark.parametrize(
    ("engine", "case"),
    [
        *[("polars", c) for c in TREND_CASES],
        *[("duckdb", c) for c in TREND_CASES],
        *[("ibis", c) for c in COVERING],
    ],
    indirect=["engine"],
)
def test_trend_per_period(engine: Engine, edges: pl.DataFrame, case: str):
    options = TREND_CASES[case]
    local = funnel_trend(edges, STEPS, **options)
    assert local.height > 1
    out = funnel_trend(engine(edges), STEPS, **options)
    assert isinstance(out, engine.native_type)
    check_same(local, out)


# -- the calendar ---------------------------------------------------------------------

#: zone -> local dates whose midnight (and the hour around it) gets entries
CALENDAR = {
    # daylight-saving changes at 02:00/03:00; a month, quarter and year end
    "Europe/Berlin": [
        "2024-03-31",
        "2024-04-01",
        "2024-10-27",
        "2024-10-28",
        "2025-01-01",
    ],
    "America/New_York": ["2024-03-10", "2024-11-03", "2024-11-04", "2024-07-01"],
    # clocks went from 00:00 to 01:00: that midnight did not exist
    "America/Sao_Paulo": ["2018-11-04", "2018-11-05", "2019-02-17", "2019-01-01"],
    # a half-hour daylight-saving change
    "Australia/Lord_Howe": ["2024-04-07", "2024-10-06", "2024-10-01"],
    "Asia/Kolkata": ["2024-03-01", "2024-01-01"],
}


def calendar_events(tz: str) -> pl.DataFrame:
    """One unit per instant 1 ms, 0 and 1 ms around each local midnight of
    ``CALENDAR[tz]`` and the hours before and after it (instants that do not exist
    in the zone are dropped): an A event then, a B event an hour later."""
    local = [
        datetime.fromisoformat(day) + timedelta(hours=h, milliseconds=ms)
        for day in CALENDAR[tz]
        for h in (-1, 0, 1)
        for ms in (-1, 0, 1)
    ]
    starts = (
        pl.Series(local, dtype=pl.Datetime("ms"))
        .dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
        .drop_nulls()
        .dt.convert_time_zone("UTC")
    )
    n = len(starts)
    return pl.DataFrame(
        {
            "customer_id": [f"c{i:03d}" for i in range(n)] * 2,
            "created_at": pl.concat([starts, starts + timedelta(hours=1)]),
            "id": [f"{kind}{i:03d}" for kind in "ab" for i in range(n)],
            "type": ["A"] * n + ["B"] * n,
        }
    )


PERIODS = [
    ("day", "monday"),
    ("week", "monday"),
    ("week", "tuesday"),
    ("week", "sunday"),
    ("month", "monday"),
    ("quarter", "monday"),
    ("year", "monday"),
]


@pytest.mark.parametrize("tz", list(CALENDAR))
def test_calendar_periods(engine: Engine, tz: str):
    events = calendar_events(tz)
    frame = engine(events)
    for period, week_start in PERIODS if engine.name != "ibis" else PERIODS[2:5]:
        options = {"period": period, "week_start": week_start, "tz": tz}
        local = funnel_trend(events, ["A", "B"], **options)
        if (tz, period) != ("America/Sao_Paulo", "day"):
            # (the local grid misses a day without midnight, and its entrants:
            # see tests/analysis/test_funnel_trend.py)
            assert local["entered"].sum() == events.height // 2
        check_same(local, funnel_trend(frame, ["A", "B"], **options))


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
SPAN_MS = 400 * 86_400_000


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    offsets=st.lists(st.integers(0, SPAN_MS), min_size=1, max_size=12),
    tz=st.sampled_from(ZONES),
    period=st.sampled_from(PERIODS),
    within=st.sampled_from([None, "1d"]),
)
def test_random_instants_on_duckdb(duck_connection, offsets, tz, period, within):
    start = datetime(2024, 1, 1, tzinfo=UTC)
    times = [start + timedelta(milliseconds=ms) for ms in offsets]
    n = len(times)
    events = pl.DataFrame(
        {
            "customer_id": [f"c{i % 4}" for i in range(n)],
            "created_at": times,
            "id": [f"{i:03d}" for i in range(n)],
            "type": ["A" if i % 3 else "B" for i in range(n)],
        },
        schema_overrides={"created_at": pl.Datetime("ms", "UTC")},
    )
    options = {"period": period[0], "week_start": period[1], "tz": tz}
    local = funnel_trend(events, ["A", "B"], within=within, **options)
    rel = duck_connection.from_arrow(events.to_arrow())
    check_same(local, funnel_trend(rel, ["A", "B"], within=within, **options))


# -- the rest -------------------------------------------------------------------------


def test_naive_times_and_no_entrants(engine: Engine):
    events = edge_events(30, seed=4, tz=None)
    check_same(
        funnel_trend(events, STEPS, within="1d", tz="Europe/Berlin"),
        funnel_trend(engine(events), STEPS, within="1d", tz="Europe/Berlin"),
    )
    nobody = events.filter(pl.col("type") == "X")
    local = funnel_trend(nobody, STEPS)
    assert local.height == 0
    check_same(local, funnel_trend(engine(nobody), STEPS))


def test_params_and_engine_note(engine: Engine, edges: pl.DataFrame):
    out = funnel_trend(
        engine(edges), STEPS, period="month", within="2d", end="2025-01-01"
    )
    params = params_of(out)
    assert params is not None
    assert params.analysis == "funnel_trend"
    assert params["period"] == "month"
    assert params["within"] == timedelta(days=2)
    assert params["end"] == datetime(2025, 1, 1, tzinfo=UTC)
    assert any("period of its entry" in note for note in params.notes)
    assert any(n.startswith(f"computed by {engine.name}") for n in params.notes)


def test_engine_input_errors(engine: Engine, edges: pl.DataFrame):
    with pytest.raises(AnalysisInputError, match="Polars expression"):
        funnel_trend(engine(edges), ["A", Step(pl.col("type") == "B", label="B")])
    with pytest.raises(AnalysisInputError, match="needs an event id column"):
        funnel_trend(engine(edges.drop("id")), STEPS)
    with pytest.raises(AnalysisInputError, match="period"):
        funnel_trend(engine(edges), STEPS, period="fortnight")  # type: ignore[call-overload]


@pytest.mark.slow
def test_trend_on_spark(spark_engine: Engine, edges: pl.DataFrame):
    """A few cases and two zones' calendars in one Spark session (each query costs
    seconds)."""
    failures: list[str] = []
    frame = spark_engine(edges)
    for case in SPARK:
        options = TREND_CASES[case]
        out = funnel_trend(frame, STEPS, **options)
        assert isinstance(out, spark_engine.native_type)
        compare(failures, case, funnel_trend(edges, STEPS, **options), out)
    for tz in ("America/Sao_Paulo", "Australia/Lord_Howe"):
        events = calendar_events(tz)
        calendar = spark_engine(events)
        for period, week_start in (("day", "monday"), ("week", "sunday")):
            options = {"period": period, "week_start": week_start, "tz": tz}
            compare(
                failures,
                f"{tz} {period}",
                funnel_trend(events, ["A", "B"], **options),
                funnel_trend(calendar, ["A", "B"], **options),
            )
    assert failures == []
