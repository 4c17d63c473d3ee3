from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from activity_toolkit import sample
from activity_toolkit.analysis import Exclusion, funnel, params_of
from activity_toolkit.analysis.funnel import funnel_trend
from activity_toolkit.exceptions import AnalysisInputError, MissingColumnsError
from tests.analysis.conftest import events

DAY = 24 * 60  # minutes; T0 = 2024-01-01 00:00 UTC, a Monday
H = 60
COLUMNS = [
    "period",
    "entered",
    "converted",
    "conversion",
    "median_time_to_convert",
    "complete",
]
SAMPLE_STEPS = [
    "customer.publication.succeeded",
    "customer.redemption.succeeded",
    "customer.order.paid",
]


def week(day: int) -> datetime:
    return datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=day)


def two_weeks() -> pl.DataFrame:
    """Week of Jan 1: c1 converts in 1 day, c2 never, c3 in 7 days (its B falls in
    the next week but it counts in its entry week). Week of Jan 8: c4 converts in 2 h,
    c5 never. c6 never did A. The last event is on day 10."""
    return events(
        [
            ("c1", 0, "e01", "A"),
            ("c1", DAY, "e02", "B"),
            ("c2", 2 * DAY, "e03", "A"),
            ("c3", 3 * DAY, "e04", "A"),
            ("c3", 10 * DAY, "e05", "B"),
            ("c4", 8 * DAY, "e06", "A"),
            ("c4", 8 * DAY + 2 * H, "e07", "B"),
            ("c5", 9 * DAY, "e08", "A"),
            ("c6", 9 * DAY, "e09", "B"),
        ]
    )


def test_per_week_conversion(run):
    out = run(funnel_trend, two_weeks(), ["A", "B"])
    assert out.columns == COLUMNS
    assert out.schema["period"] == pl.Datetime("ms", "UTC")
    assert out.schema["median_time_to_convert"] == pl.Duration("ms")
    assert out["period"].to_list() == [week(0), week(7)]
    assert out["entered"].to_list() == [3, 2]
    assert out["converted"].to_list() == [2, 1]
    assert out["conversion"].to_list() == pytest.approx([2 / 3, 1 / 2])
    # week 1: 1 day and 7 days -> median 4 days; week 2: 2 hours
    assert out["median_time_to_convert"].to_list() == [
        timedelta(days=4),
        timedelta(hours=2),
    ]


def test_within_excludes_a_slow_conversion(run):
    out = run(funnel_trend, two_weeks(), ["A", "B"], within="2d")
    # c3 took 7 days: not converted within 2 days
    assert out["entered"].to_list() == [3, 2]
    assert out["converted"].to_list() == [1, 1]
    assert out["conversion"].to_list() == pytest.approx([1 / 3, 1 / 2])
    assert out["median_time_to_convert"].to_list() == [
        timedelta(days=1),
        timedelta(hours=2),
    ]
    totals = run(funnel, two_weeks(), ["A", "B"], within="2d")["count"].to_list()
    assert [out["entered"].sum(), out["converted"].sum()] == totals


def test_empty_week_is_filled_with_zeros(run):
    ev = events(
        [
            ("c1", 0, "e1", "A"),
            ("c1", H, "e2", "B"),
            ("c2", 15 * DAY, "e3", "A"),
        ]
    )
    out = run(funnel_trend, ev, ["A", "B"])
    assert out["period"].to_list() == [week(0), week(7), week(14)]
    assert out["entered"].to_list() == [1, 0, 1]
    assert out["converted"].to_list() == [1, 0, 0]
    assert out["conversion"].to_list() == [1.0, None, 0.0]
    assert out["median_time_to_convert"].to_list() == [timedelta(hours=1), None, None]
    assert out.schema["entered"] == pl.Int64


def test_complete_flag(run):
    ev = two_weeks()  # last event on day 10 (Jan 11)
    # no window: a period is complete once it has ended
    assert run(funnel_trend, ev, ["A", "B"])["complete"].to_list() == [True, False]
    # week 1 ends on Jan 8; plus 3 days is Jan 11 00:00, the last event's time
    out = run(funnel_trend, ev, ["A", "B"], within="3d")
    assert out["complete"].to_list() == [True, False]
    # plus 4 days is after it
    out = run(funnel_trend, ev, ["A", "B"], within="4d")
    assert out["complete"].to_list() == [False, False]
    # an explicit observation end after both windows
    out = run(funnel_trend, ev, ["A", "B"], within="4d", end="2024-01-20")
    assert out["complete"].to_list() == [True, True]


def test_events_after_the_observation_end_are_ignored(run):
    ev = two_weeks()
    out = run(funnel_trend, ev, ["A", "B"], end=week(9))  # day 9 00:00, inclusive
    # c3's conversion (day 10) is after the end; c5's entry at the end itself counts
    assert out["entered"].to_list() == [3, 2]
    assert out["converted"].to_list() == [1, 1]
    assert out["complete"].to_list() == [True, False]
    out = run(funnel_trend, ev, ["A", "B"], end=week(9) - timedelta(minutes=1))
    assert out["entered"].to_list() == [3, 1]


def test_excluded_units_are_left_out_as_in_funnel(run):
    ev = events(
        [
            ("c1", 0, "e1", "A"),
            ("c1", H, "e2", "X"),
            ("c1", 2 * H, "e3", "B"),
            ("c2", DAY, "e4", "A"),
            ("c2", DAY + H, "e5", "B"),
            ("c3", 8 * DAY, "e6", "A"),
        ]
    )
    out = run(funnel_trend, ev, ["A", "B"], exclude=Exclusion("X"))
    assert out["entered"].to_list() == [1, 1]
    assert out["converted"].to_list() == [1, 0]
    totals = run(funnel, ev, ["A", "B"], exclude=Exclusion("X"))["count"].to_list()
    assert [out["entered"].sum(), out["converted"].sum()] == totals


def test_time_zone_and_week_start(run):
    # Sunday Jan 7 23:30 UTC is Monday Jan 8 00:30 in Warsaw
    ev = events([("c1", 7 * DAY - 30, "e1", "A"), ("c1", 7 * DAY, "e2", "B")])
    out = run(funnel_trend, ev, ["A", "B"], tz="Europe/Warsaw")
    assert out.schema["period"] == pl.Datetime("ms", "Europe/Warsaw")
    assert out["period"].dt.date().to_list() == [week(7).date()]
    out = run(funnel_trend, ev, ["A", "B"], week_start="sunday")
    assert out["period"].dt.date().to_list() == [week(6).date()]
    out = run(funnel_trend, ev, ["A", "B"], period="day")
    assert out["period"].to_list() == [week(6)]


def test_empty_input(run):
    ev = events([("c1", 0, "e1", "X")])
    out = run(funnel_trend, ev, ["A", "B"])
    assert out.columns == COLUMNS
    assert out.height == 0
    assert run(funnel_trend, ev.head(0), ["A", "B"]).height == 0


@pytest.fixture(scope="module")
def log():
    return sample(customers=200, seed=1)


@pytest.mark.parametrize("mode", ["ordered", "strict", "unordered", "reached"])
def test_totals_equal_funnel_on_the_sample(log, run, mode):
    out = run(funnel_trend, log.events, SAMPLE_STEPS, within="14d", mode=mode)
    counts = funnel(log, SAMPLE_STEPS, within="14d", mode=mode)["count"].to_list()
    assert out["entered"].sum() == counts[0]
    assert out["converted"].sum() == counts[-1]
    # consecutive weeks, no gaps
    gaps = out["period"].diff().drop_nulls().unique().to_list()
    assert gaps == [timedelta(weeks=1)]
    if mode == "ordered":
        assert counts[-1] > 0
        assert out["complete"].any()


def test_activity_log_input_gives_a_dataframe(log):
    out = funnel_trend(log, SAMPLE_STEPS, within="14d", period="month")
    assert isinstance(out, pl.DataFrame)
    assert out.columns == COLUMNS


def test_bad_options_raise():
    ev = two_weeks()
    with pytest.raises(AnalysisInputError, match="period='fortnight'"):
        funnel_trend(ev, ["A", "B"], period="fortnight")  # type: ignore[call-overload]
    with pytest.raises(AnalysisInputError, match="week_start"):
        funnel_trend(ev, ["A", "B"], week_start="someday")  # type: ignore[call-overload]
    with pytest.raises(AnalysisInputError, match="mode"):
        funnel_trend(ev, ["A", "B"], mode="any")  # type: ignore[call-overload]
    with pytest.raises(AnalysisInputError, match="single step"):
        funnel_trend(ev, "A")
    with pytest.raises(AnalysisInputError, match="within"):
        funnel_trend(ev, ["A", "B"], within="1mo")
    with pytest.raises(MissingColumnsError):
        funnel_trend(ev.drop("type"), ["A", "B"])


def test_params(kind):
    ev = two_weeks()
    data = ev.lazy() if kind == "lazy" else ev
    out = funnel_trend(data, ["A", "B"], within="2d")
    p = params_of(out)
    assert p is not None
    assert p.analysis == "funnel_trend"
    assert p["period"] == "week"
    assert p["steps"] == ("A", "B")
    assert p["within"] == timedelta(days=2)
    assert p["week_start"] == "monday"
    assert p["end"] == "last event"
    assert "by" not in p
    assert any("period of its entry" in note for note in p.notes)
    assert any("complete=False" in note for note in p.notes)
    p = params_of(funnel_trend(data, ["A", "B"], period="month", end="2024-02-01"))
    assert p is not None
    assert p["period"] == "month"
    assert p["week_start"] is None
    assert p["end"] == datetime(2024, 2, 1, tzinfo=UTC)


def test_a_day_without_midnight_keeps_its_entrants():
    # São Paulo's clocks went from 00:00 to 01:00 on 2018-11-04
    noon = [datetime(2018, 11, d, 15, tzinfo=UTC) for d in (3, 4, 5)]
    ev = pl.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3"],
            "created_at": noon,
            "id": ["e1", "e2", "e3"],
            "type": ["A", "A", "A"],
        },
        schema_overrides={"created_at": pl.Datetime("ms", "UTC")},
    )
    out = funnel_trend(ev, ["A", "B"], period="day", tz="America/Sao_Paulo")
    assert out["entered"].to_list() == [1, 1, 1]
