"""time_in_tier's Kaplan-Meier curve, confidence band and quantiles, checked against
lifelines' ``KaplanMeierFitter`` and against R ``survival``'s quantile rule.

lifelines (and pandas) are test-only dependencies; the package never imports them.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter
from lifelines.utils import qth_survival_time

import activity_toolkit as at
from activity_toolkit.analysis import params_of, tier_spells, time_in_tier
from activity_toolkit.exceptions import AnalysisInputError
from tests.analysis.conftest import T0, ts, typed

T = "customer.loyalty.tier."
DAY_MS = 86_400_000
BAND = ["survival", "lower", "upper"]


def spells_frame(spells, *, end_ms: int = 400 * DAY_MS, tier=("b", "Bronze")):
    """Tier events giving one spell per ``(duration_ms, closed)``: open spells are
    censored at ``end_ms`` after ``duration_ms``."""
    rows = []
    for i, (dur, closed) in enumerate(spells):
        start = T0 + timedelta(milliseconds=end_ms - dur)
        common = {"customer_id": f"u{i}", "campaign_id": "club"}
        common["tier_id"], common["tier_name"] = tier
        rows.append({**common, "type": T + "joined", "created_at": start})
        if closed:
            left_at = start + timedelta(milliseconds=dur)
            rows.append({**common, "type": T + "left", "created_at": left_at})
    return typed(["tier"], rows), ts(T0 + timedelta(milliseconds=end_ms))


def days(*spells):
    """``(days, closed)`` pairs -> ``(ms, closed)`` pairs."""
    return [(round(d * DAY_MS), closed) for d, closed in spells]


def lifelines_fit(durations_ms, closed, *, confidence=0.95):
    kmf = KaplanMeierFitter(alpha=1 - confidence)
    kmf.fit(
        np.asarray(durations_ms, dtype=float),
        event_observed=np.asarray(closed, dtype=bool),
    )
    return kmf


def lifelines_curve(kmf, durations_ms) -> pl.DataFrame:
    """lifelines' survival and interval at the given durations (ms)."""
    times = np.asarray(durations_ms, dtype=float)
    sf = kmf.survival_function_.loc[times].to_numpy()[:, 0]
    ci = kmf.confidence_interval_.loc[times].to_numpy()
    return pl.DataFrame({"survival": sf, "lower": ci[:, 0], "upper": ci[:, 1]})


def ours(curve: pl.DataFrame) -> tuple[list[int], pl.DataFrame]:
    ms = curve["duration"].dt.total_milliseconds().to_list()
    return ms, curve.select(BAND)


def assert_band_equal(got: pl.DataFrame, want: pl.DataFrame) -> None:
    assert got.columns == want.columns
    for col in got.columns:
        assert got[col].to_list() == pytest.approx(
            want[col].to_list(), rel=1e-9, abs=1e-12
        ), col


# -- against lifelines ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_log():
    return at.sample(customers=300, seed=0)


def test_curve_matches_lifelines_on_sample(sample_log):
    spells = tier_spells(sample_log)
    last = sample_log.events["created_at"].max()
    durations = spells.select(
        "tier_id",
        (pl.coalesce("end", pl.lit(last)) - pl.col("start"))
        .dt.total_milliseconds()
        .alias("ms"),
        (~pl.col("censored")).alias("closed"),
    )
    curve = time_in_tier(sample_log, output="curve")
    summary = time_in_tier(sample_log)
    tiers = summary["tier_id"].to_list()
    assert len(tiers) == 3
    for tier in tiers:
        mine = curve.filter(pl.col("tier_id") == tier)
        theirs = durations.filter(pl.col("tier_id") == tier)
        kmf = lifelines_fit(theirs["ms"], theirs["closed"])
        ms, band = ours(mine)
        assert ms == sorted(set(theirs["ms"].to_list()))
        assert_band_equal(band, lifelines_curve(kmf, ms))
        # numbers at risk as in lifelines' event table
        table = kmf.event_table.loc[np.asarray(ms, dtype=float)]
        assert mine["at_risk"].to_list() == table["at_risk"].astype(int).tolist()
        assert mine["left"].to_list() == table["observed"].astype(int).tolist()
        # no flat stretch exactly on a quartile level here, so the R rule and
        # lifelines' "first time S <= p" agree
        row = summary.filter(pl.col("tier_id") == tier).row(0, named=True)
        for col, p in (("q25", 0.75), ("median", 0.5), ("q75", 0.25)):
            assert not ((mine["survival"] - p).abs() < 1e-6).any()
            want = qth_survival_time(p, kmf.survival_function_)
            assert row[col] == timedelta(milliseconds=want), (tier, col)
        assert row["median"] == timedelta(milliseconds=kmf.median_survival_time_)


TIES = days(
    (0, True),  # a zero-length stay
    (2, True),
    (2, True),
    (2, False),  # censored at a time with events: still at risk then
    (3, False),
    (5, True),
    (5, False),
    (5, False),
    (7, True),
    (7, True),
    (8, False),
    (9, True),  # the last stay left: S = 0
)


@pytest.mark.parametrize("confidence", [0.95, 0.8, 0.99])
def test_curve_matches_lifelines_with_ties_and_censoring(run, confidence):
    df, end = spells_frame(TIES)
    curve = run(time_in_tier, df, end=end, output="curve", confidence=confidence)
    assert curve.columns == [
        "campaign_id",
        "tier_id",
        "tier_name",
        "duration",
        "at_risk",
        "left",
        "censored",
        "survival",
        "std_err",
        "lower",
        "upper",
    ]
    ms, band = ours(curve)
    assert ms == [round(d * DAY_MS) for d in (0, 2, 3, 5, 7, 8, 9)]
    kmf = lifelines_fit(
        [d for d, _ in TIES], [c for _, c in TIES], confidence=confidence
    )
    assert_band_equal(band, lifelines_curve(kmf, ms))
    # Greenwood by hand: S(t) * sqrt(sum d / (n (n - d)))
    n_d = [(12, 1), (11, 2), (8, 0), (7, 1), (4, 2), (2, 0), (1, 1)]
    assert curve.select("at_risk", "left").rows() == n_d
    s, total, want_se = 1.0, 0.0, []
    for n, d in n_d:
        s *= 1 - d / n
        total += d / (n * (n - d)) if n > d else 0.0
        want_se.append(s * math.sqrt(total))
    assert curve["std_err"].to_list() == pytest.approx(want_se, rel=1e-12, abs=1e-15)
    # the interval holds the estimate, and collapses onto it at S = 0
    assert (curve["lower"] <= curve["survival"]).all()
    assert (curve["survival"] <= curve["upper"]).all()
    last = curve.row(-1, named=True)
    assert (last["survival"], last["std_err"], last["lower"], last["upper"]) == (
        0.0,
        0.0,
        0.0,
        0.0,
    )


def test_interval_is_one_before_the_first_exit(run):
    # censored stays before the first exit: S = 1, no variance yet
    df, end = spells_frame(days((1, False), (2, False), (3, True), (4, True)))
    curve = run(time_in_tier, df, end=end, output="curve")
    head = curve.head(2).select("survival", "std_err", "lower", "upper").rows()
    assert head == [(1.0, 0.0, 1.0, 1.0)] * 2
    kmf = lifelines_fit([d * DAY_MS for d in (1, 2, 3, 4)], [False, False, True, True])
    assert_band_equal(
        ours(curve)[1], lifelines_curve(kmf, [d * DAY_MS for d in (1, 2, 3, 4)])
    )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.booleans()),
        min_size=1,
        max_size=25,
    )
)
def test_curve_matches_lifelines_on_random_spells(spells):
    df, end = spells_frame([(d * 60_000, c) for d, c in spells], end_ms=60 * 60_000)
    curve = time_in_tier(df, end=end, output="curve")
    kmf = lifelines_fit([d * 60_000 for d, _ in spells], [c for _, c in spells])
    ms, band = ours(curve)
    assert_band_equal(band, lifelines_curve(kmf, ms))


# -- quantiles: R survival's rule ------------------------------------------------------


def summary_row(run, spells, **kw):
    df, end = spells_frame(spells)
    return run(time_in_tier, df, end=end, **kw).row(0, named=True)


def test_median_is_the_midpoint_of_a_flat_half(run):
    spells = days(
        (10, True),
        (10, True),
        (10, True),  # S(10d) = 3/6 = 0.5 exactly
        (15, False),  # a censored stay on the flat stretch: not an event time
        (20, True),  # S(20d) = 0.5 * 1/2 = 0.25
        (30, False),  # the curve ends on 0.25
    )
    row = summary_row(run, spells)
    # the next event time after reaching 0.5 is 20 days (the censoring at 15 days
    # does not move the curve): median = (10 + 20) / 2 days
    assert row["median"] == timedelta(days=(10 + 20) / 2)
    # S jumps from 1 to 0.5 at 10 days: never exactly 0.75, the first time below
    assert row["q25"] == timedelta(days=10)
    # S sits on 0.25 from 20 days to the end without dropping below: the left end
    assert row["q75"] == timedelta(days=20)
    # lifelines has no midpoint rule: it takes an end of the flat stretch, the left
    # one or (its exp(sum(log)) survival landing just above 0.5, as here) the right one
    kmf = lifelines_fit([d for d, _ in spells], [c for _, c in spells])
    assert kmf.median_survival_time_ in (10 * DAY_MS, 20 * DAY_MS)


def test_quartiles_are_midpoints_too(run):
    # four stays, one exit at each of 4, 8, 12 and 16 days: S = 3/4, 1/2, 1/4, 0
    row = summary_row(run, days((4, True), (8, True), (12, True), (16, True)))
    assert (row["q25"], row["median"], row["q75"]) == (
        timedelta(days=6),
        timedelta(days=10),
        timedelta(days=14),
    )


def test_a_level_reached_up_to_rounding_counts_as_exact(run):
    # S = (1 - 4/10) * (1 - 1/6) = 0.6 * 5/6: 0.5 up to floating point
    spells = days(*[(1, True)] * 4, (2, True), (4, True), *[(5, False)] * 4)
    row = summary_row(run, spells)
    assert row["median"] == timedelta(days=3)


def test_a_midpoint_is_rounded_down_to_the_millisecond(run):
    row = summary_row(run, [(1000, True), (2001, True)])
    assert row["median"] == timedelta(milliseconds=1500)


def test_no_quantile_when_the_curve_stays_above(run):
    row = summary_row(run, days((1, True), (2, False), (3, False)))
    assert row["q25"] == timedelta(days=1)  # S = 2/3
    assert row["median"] is None
    assert row["q75"] is None


# -- the confidence parameter -----------------------------------------------------------


@pytest.mark.parametrize(
    "bad", [0, 1, 0.0, 1.0, -0.5, 1.5, 95, math.nan, True, "0.95", None]
)
def test_confidence_must_be_strictly_between_0_and_1(bad):
    df, end = spells_frame(TIES)
    with pytest.raises(AnalysisInputError, match="confidence"):
        time_in_tier(df, end=end, confidence=bad)
    with pytest.raises(AnalysisInputError, match="confidence"):
        time_in_tier(df.lazy(), end=end, output="curve", confidence=bad)


def test_confidence_is_recorded_and_widens_the_band():
    df, end = spells_frame(TIES)
    assert params_of(time_in_tier(df, end=end))["confidence"] == 0.95
    narrow = time_in_tier(df, end=end, output="curve", confidence=0.5)
    wide = time_in_tier(df, end=end, output="curve", confidence=0.99)
    assert params_of(wide)["confidence"] == 0.99
    inside = narrow["survival"].is_between(0.0, 1.0, closed="none")
    assert (wide.filter(inside)["lower"] < narrow.filter(inside)["lower"]).all()
    assert (wide.filter(inside)["upper"] > narrow.filter(inside)["upper"]).all()
    assert wide["std_err"].to_list() == narrow["std_err"].to_list()
