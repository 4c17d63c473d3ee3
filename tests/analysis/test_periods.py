"""One time-bucket vocabulary: ``period=`` everywhere, ``every=`` deprecated."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import activity_toolkit as at
from activity_toolkit.analysis import params_of
from activity_toolkit.exceptions import AnalysisInputError

LOG = at.sample(customers=60, seed=3)
BUCKETED = [at.points_flows, at.breakage, at.tier_distribution, at.retention]
PERIODS = ["day", "week", "month", "quarter", "year"]


@pytest.mark.parametrize("fn", BUCKETED, ids=lambda f: f.__name__)
@pytest.mark.parametrize("period", PERIODS)
def test_every_bucketed_analysis_takes_the_same_period_values(fn, period):
    out = fn(LOG, period=period)
    assert params_of(out)["period"] == period
    col = "cohort" if "cohort" in out.columns else "period"
    starts = out[col].drop_nulls().unique().sort()
    assert len(starts) > 0
    # every bucket start is the start of its own period
    floored = starts.dt.truncate(
        {"day": "1d", "week": "1w", "month": "1mo", "quarter": "1q", "year": "1y"}[
            period
        ]
    )
    assert starts.to_list() == floored.to_list()


@pytest.mark.parametrize(
    ("fn", "every", "period"),
    [
        (at.points_flows, "1mo", "month"),
        (at.breakage, "1q", "quarter"),
        (at.tier_distribution, "1w", "week"),
        (at.points_flows, "1y", "year"),
        (at.tier_distribution, "1d", "day"),
    ],
)
def test_the_old_every_keyword_still_works_with_a_deprecation_warning(
    fn, every, period
):
    with pytest.warns(DeprecationWarning, match=f"period='{period}'"):
        old = fn(LOG, every=every)
    new = fn(LOG, period=period)
    assert_frame_equal(old, new)
    assert params_of(old)["period"] == period


def test_the_deprecation_warning_points_at_the_callers_line():
    with pytest.warns(DeprecationWarning, match="deprecated") as record:
        at.points_flows(LOG, every="1mo")
    assert record[0].filename == __file__


@pytest.mark.parametrize("fn", [at.points_flows, at.breakage, at.tier_distribution])
def test_bad_period_values_raise_the_packages_error(fn):
    with pytest.raises(AnalysisInputError, match="fortnight"):
        fn(LOG, period="fortnight")
    with pytest.raises(AnalysisInputError, match="no period equivalent"):
        fn(LOG, every="2mo")
    with pytest.raises(AnalysisInputError, match="disagree"):
        fn(LOG, period="week", every="1mo")
    with pytest.raises(AnalysisInputError, match="week_start"):
        fn(LOG, period="week", week_start="caturday")


def test_week_start_moves_the_weekly_buckets_of_points_flows():
    monday = at.points_flows(LOG, period="week")
    sunday = at.points_flows(LOG, period="week", week_start="sunday")
    assert set(monday["period"].dt.weekday()) == {1}
    assert set(sunday["period"].dt.weekday()) == {7}
    assert monday["earned"].sum() == sunday["earned"].sum()
    assert params_of(sunday)["week_start"] == "sunday"
    assert params_of(at.points_flows(LOG))["week_start"] is None


def test_points_flows_buckets_in_the_given_time_zone():
    p = "customer.voucher.loyalty_card."
    events = pl.DataFrame(
        {
            "customer_id": ["c1", "c1"],
            "type": [p + "points_added", p + "points_added"],
            # 23:30 UTC on Jan 31 is already February in Warsaw
            "created_at": pl.Series(["2024-01-31T23:30:00", "2024-02-10T10:00:00"])
            .str.to_datetime()
            .dt.replace_time_zone("UTC"),
            "points_change": [10, 20],
        }
    )
    utc = at.points_flows(events, period="month")
    waw = at.points_flows(events, period="month", tz="Europe/Warsaw")
    assert utc["earned"].to_list() == [10, 20]
    assert waw["earned"].to_list() == [30]
