from __future__ import annotations

import sys
from datetime import datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from activity_toolkit import sample
from activity_toolkit.analysis import (
    params_of,
    tier_distribution,
    tier_path,
    tier_spells,
    tier_transitions,
    time_in_tier,
    typed_events,
)
from activity_toolkit.exceptions import AnalysisInputError, MissingColumnsError
from tests.analysis.conftest import as_log, ts, typed

T = "customer.loyalty.tier."
DAY = 24 * 60


def ev(cust, when, kind, tier=None, *, frm=None, to=None, camp="club", id=None):
    """One tier event; tiers are (id, name) pairs such as ("b", "Bronze")."""
    row = {
        "customer_id": cust,
        "campaign_id": camp,
        "type": T + kind,
        "created_at": when,
    }
    if tier:
        row["tier_id"], row["tier_name"] = tier
    if frm:
        row["tier_from_id"], row["tier_from_name"] = frm
    if to:
        row["tier_to_id"], row["tier_to_name"] = to
    if id:
        row["id"] = id
    return row


B, S, G = ("b", "Bronze"), ("s", "Silver"), ("g", "Gold")


def frame(*rows):
    return typed(["tier"], rows)


JOURNEY = frame(
    ev("c1", 0, "joined", B),
    ev("c1", 10 * DAY, "upgraded", frm=B, to=S),
    ev("c1", 15 * DAY, "prolonged", S),  # keeps Silver
    ev("c1", 20 * DAY, "downgraded", frm=S, to=B),
    ev("c1", 30 * DAY, "left", B),
    ev("c1", 40 * DAY, "joined", B),  # re-join: a new spell, still open
    ev("c2", 5 * DAY, "joined", S),
    ev("c2", 6 * DAY, "expiration.changed", S),
)


def spells_rows(df):
    return df.select(
        "customer_id",
        "tier_name",
        pl.col("start"),
        pl.col("end"),
        "end_reason",
        "censored",
    ).rows()


def test_spells_follow_the_state_rules(run):
    out = run(tier_spells, JOURNEY)
    assert out.columns == [
        "customer_id",
        "campaign_id",
        "tier_id",
        "tier_name",
        "start",
        "end",
        "end_reason",
        "censored",
    ]
    assert spells_rows(out) == [
        ("c1", "Bronze", ts(0), ts(10 * DAY), "upgraded", False),
        ("c1", "Silver", ts(10 * DAY), ts(20 * DAY), "downgraded", False),
        ("c1", "Bronze", ts(20 * DAY), ts(30 * DAY), "left", False),
        ("c1", "Bronze", ts(40 * DAY), None, "open", True),
        ("c2", "Silver", ts(5 * DAY), None, "open", True),
    ]


def test_activity_log_input_equals_frame_input(run):
    assert_frame_equal(tier_spells(as_log(JOURNEY)), run(tier_spells, JOURNEY))
    assert_frame_equal(tier_path(as_log(JOURNEY)), run(tier_path, JOURNEY))


def test_path_marks_time_without_a_tier(run):
    out = run(tier_path, JOURNEY)
    assert out.select("customer_id", "path", "changes").rows() == [
        ("c1", ["Bronze", "Silver", "Bronze", "(none)", "Bronze"], 5),
        ("c2", ["Silver"], 1),
    ]


def test_repeated_join_and_leading_keep_event(run):
    df = frame(
        ev("c1", 0, "joined", B),
        ev("c1", 5, "joined", B),  # same tier again: same spell
        ev("c2", 0, "prolonged", G),  # data starts inside a Gold stay
        ev("c2", 9, "left", G),
        ev("c2", 12, "prolonged", G),  # after a left: no tier, nothing starts
        ev("c3", 0, "joined", B),
        ev("c3", 7, "joined", S),  # a join into another tier without a left
    )
    out = run(tier_spells, df)
    assert spells_rows(out) == [
        ("c1", "Bronze", ts(0), None, "open", True),
        ("c2", "Gold", ts(0), ts(9), "left", False),
        ("c3", "Bronze", ts(0), ts(7), "joined", False),
        ("c3", "Silver", ts(7), None, "open", True),
    ]


def test_same_timestamp_events_follow_id_order(run):
    df = frame(
        ev("c1", 0, "upgraded", frm=B, to=S, id="e2"),
        ev("c1", 0, "joined", B, id="e1"),
    )
    out = run(tier_spells, df)
    assert spells_rows(out) == [
        ("c1", "Bronze", ts(0), ts(0), "upgraded", False),
        ("c1", "Silver", ts(0), None, "open", True),
    ]


def test_a_null_id_sorts_first_among_same_time_events(run):
    """Ties on created_at are broken by id with nulls first (Polars' default order),
    however the unit's rows are sorted."""
    df = frame(
        ev("c1", 0, "joined", B),
        ev("c1", 0, "upgraded", frm=B, to=S),
        ev("c1", DAY, "left", S),
    ).with_columns(pl.Series("id", [None, "a", "b"], dtype=pl.String))
    out = run(tier_spells, df)
    assert spells_rows(out) == [
        ("c1", "Bronze", ts(0), ts(0), "upgraded", False),
        ("c1", "Silver", ts(0), ts(DAY), "left", False),
    ]


def test_campaigns_are_separate(run):
    df = frame(ev("c1", 0, "joined", B, camp="k1"), ev("c1", 1, "left", B, camp="k2"))
    out = run(tier_spells, df)
    assert out.select("campaign_id", "end_reason").rows() == [("k1", "open")]


def test_event_level_transitions(run):
    out = run(tier_transitions, JOURNEY)
    assert out.select("from_tier", "to_tier", "count", "share").rows() == [
        ("Bronze", "Silver", 1, 0.5),
        ("Bronze", "left", 1, 0.5),
        ("Silver", "Bronze", 1, 1.0),
        ("none", "Bronze", 2, 2 / 3),
        ("none", "Silver", 1, 1 / 3),
    ]
    # half-open period [start, end)
    out = run(tier_transitions, JOURNEY, start=ts(10 * DAY), end=ts(30 * DAY))
    assert out.select("from_tier", "to_tier", "count").rows() == [
        ("Bronze", "Silver", 1),
        ("Silver", "Bronze", 1),
    ]
    assert params_of(tier_transitions(JOURNEY))["level"] == "event"


def test_period_level_transitions(run):
    out = run(
        tier_transitions, JOURNEY, level="period", start=ts(12 * DAY), end=ts(35 * DAY)
    )
    # c1: Silver at the start, no tier at the end; c2: Silver throughout
    assert out.select("from_tier", "to_tier", "count", "share").rows() == [
        ("Silver", "Silver", 1, 0.5),
        ("Silver", "left", 1, 0.5),
    ]
    out = run(tier_transitions, JOURNEY, level="period")
    assert out.select("from_tier", "to_tier", "count").rows() == [
        ("none", "Bronze", 1),
        ("none", "Silver", 1),
    ]
    # the state at a time t is the result of the events strictly before t
    out = run(
        tier_transitions,
        JOURNEY,
        level="period",
        start=ts(10 * DAY),
        end=ts(10 * DAY + 1),
    )
    assert (
        out.filter(pl.col("from_tier") == "Bronze").select("to_tier").item() == "Silver"
    )


def test_distribution_counts_members_at_each_period_end(run):
    df = frame(
        ev("c1", "2024-01-10", "joined", B),
        ev("c2", "2024-01-20", "joined", B),
        ev("c1", "2024-03-05", "upgraded", frm=B, to=S),
        ev("c2", "2024-03-31T23:59:59", "left", B),
        ev("c3", "2024-04-02", "joined", B),
    )
    out = run(tier_distribution, df)
    got = out.select(
        pl.col("period").dt.strftime("%Y-%m"), "tier_name", "members", "complete"
    ).rows()
    assert got == [
        ("2024-01", "Bronze", 2, True),
        ("2024-02", "Bronze", 2, True),
        ("2024-03", "Bronze", 0, True),
        ("2024-04", "Bronze", 1, False),
        ("2024-01", "Silver", 0, True),
        ("2024-02", "Silver", 0, True),
        ("2024-03", "Silver", 1, True),
        ("2024-04", "Silver", 1, False),
    ]
    waw = run(tier_distribution, df, period="month", tz="Europe/Warsaw")
    # 23:59:59 UTC on 31 March is already April in Warsaw
    march = waw.filter(
        pl.col("period").dt.month() == 3, pl.col("tier_name") == "Bronze"
    )
    assert march["members"].item() == 1


def test_time_in_tier_kaplan_meier(run):
    df = frame(
        ev("a", 0, "joined", B),
        ev("a", 10 * DAY, "left", B),
        ev("b", 0, "joined", B),
        ev("b", 20 * DAY, "left", B),
        ev("c", 0, "joined", B),  # open: censored at the end (15 days)
        ev("d", 0, "joined", B),
        ev("d", 30 * DAY, "left", B),
        ev("z", 15 * DAY, "joined", S),
        ev("z", 15 * DAY, "left", S),  # zero-length stay
    )
    out = run(time_in_tier, df, end=ts(15 * DAY))
    bronze = out.filter(pl.col("tier_id") == "b").row(0, named=True)
    assert (bronze["spells"], bronze["closed"], bronze["censored"]) == (4, 3, 1)
    # S(10d) = 3/4, S(20d) = 3/4 * 1/2, S(30d) = 0; S sits on 3/4 from 10 days to
    # the next exit at 20 days (the censoring at 15 days is not an exit): q25 is the
    # midpoint, as in R survival
    assert bronze["q25"] == timedelta(days=15)
    assert bronze["median"] == timedelta(days=20)
    assert bronze["q75"] == timedelta(days=30)
    curve = run(time_in_tier, df, end=ts(15 * DAY), output="curve").filter(
        pl.col("tier_id") == "b"
    )
    assert curve.select("duration", "at_risk", "left", "censored").rows() == [
        (timedelta(days=10), 4, 1, 0),
        (timedelta(days=15), 3, 0, 1),
        (timedelta(days=20), 2, 1, 0),
        (timedelta(days=30), 1, 1, 0),
    ]
    assert curve["survival"].to_list() == pytest.approx([0.75, 0.75, 0.375, 0.0])
    # default censoring time: the last event (d's exit at 30 days here, so c is
    # censored at 30 days: S(20d) = 3/4 * 2/3 = 1/2 until d's exit, median 25 days)
    default = run(time_in_tier, df)
    assert_frame_equal(default, run(time_in_tier, df, end=ts(30 * DAY)))
    assert default.filter(pl.col("tier_id") == "b")["median"].item() == timedelta(
        days=25
    )


def test_median_is_null_when_survival_stays_high(run):
    df = frame(
        ev("a", 0, "joined", B),
        ev("a", 1, "left", B),
        ev("b", 0, "joined", B),
        ev("c", 0, "joined", B),
    )
    row = run(time_in_tier, df, end=ts(100)).row(0, named=True)
    assert row["q25"] == timedelta(minutes=1)
    assert row["median"] is None


def test_empty_input(run):
    df = frame(ev("c1", 0, "joined", B)).clear()
    assert run(tier_spells, df).height == 0
    assert run(tier_path, df).height == 0
    assert run(tier_transitions, df).height == 0
    assert run(tier_distribution, df).height == 0
    assert run(time_in_tier, df).height == 0


def test_errors():
    with pytest.raises(MissingColumnsError):
        tier_spells(JOURNEY.drop("campaign_id"))
    with pytest.raises(MissingColumnsError, match="typed columns"):
        tier_spells(
            JOURNEY.select("id", "customer_id", "campaign_id", "type", "created_at")
        )
    with pytest.raises(AnalysisInputError, match="level"):
        tier_transitions(JOURNEY, level="monthly")  # type: ignore[arg-type]


# -- Kaplan-Meier against a direct computation -------------------------------------------


def km_oracle(durations: list[tuple[int, bool]]) -> dict[float, float | None]:
    """Product-limit estimate; returns R survival's quantile for each level: the first
    duration with S <= level, or the midpoint between it and the next drop when S is
    exactly on the level there (old print.survfit's ``minmin``)."""
    tol = sys.float_info.epsilon**0.5
    times = sorted({d for d, _ in durations})
    s, curve = 1.0, []
    for t in times:
        at_risk = sum(1 for d, _ in durations if d >= t)
        events = sum(1 for d, e in durations if d == t and e)
        s *= 1 - events / at_risk
        curve.append((t, s))
    out: dict[float, float | None] = {}
    for level in (0.75, 0.5, 0.25):
        kept = [(t, y) for t, y in curve if y < level + tol]
        if not kept:
            out[level] = None
            continue
        t1, y1 = kept[0]
        below = [t for t, y in kept if y < y1]
        out[level] = (t1 + below[0]) / 2 if abs(y1 - level) < tol and below else t1
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.booleans()), min_size=1, max_size=12))
def test_time_in_tier_matches_oracle(spells):
    end = 30
    rows = []
    for i, (dur, closed) in enumerate(spells):
        start = end - dur  # so that an open spell is censored after `dur` minutes
        rows.append(ev(f"u{i}", start, "joined", B))
        if closed:
            rows.append(ev(f"u{i}", start + dur, "left", B))
    out = time_in_tier(frame(*rows), end=ts(end)).row(0, named=True)
    oracle = km_oracle(spells)
    to_min = {
        k: (None if v is None else timedelta(minutes=v)) for k, v in oracle.items()
    }
    assert (out["q25"], out["median"], out["q75"]) == (
        to_min[0.75],
        to_min[0.5],
        to_min[0.25],
    )


def test_distribution_end_gives_a_tier_table_the_logs_observation_end():
    # the last event of the log is not a tier event: a table of its tier events
    # alone ends earlier, unless it is given the log's end
    log = sample(customers=30, seed=4)
    tiers = typed_events(log, families="tier")
    last = log.events["created_at"].max()
    assert isinstance(last, datetime)
    assert tiers["created_at"].max() < last
    whole = tier_distribution(log, period="week")
    assert not tier_distribution(tiers, period="week").equals(whole)
    assert tier_distribution(tiers, period="week", end=last).equals(whole)
    assert params_of(whole) is not None
    later = tier_distribution(tiers, period="week", end=last + timedelta(weeks=3))
    assert later["period"].max() == whole["period"].max() + timedelta(weeks=3)
    # the weeks after the data ended before ``end`` are complete, the one holding it
    # is not, and members stay as they were
    added = later.filter(pl.col("period") > whole["period"].max())
    assert added.group_by("period").agg(pl.col("complete").all()).sort("period")[
        "complete"
    ].to_list() == [True, True, False]
    kept = whole.filter(pl.col("period") == whole["period"].max())
    assert added.group_by("tier_id").agg(pl.col("members").unique()).sort("tier_id")[
        "members"
    ].to_list() == [[m] for m in kept.sort("tier_id")["members"]]


def test_distribution_does_not_see_events_after_its_end():
    # on 2024-06-15 both customers are Bronze members; c1 leaves after that
    events = frame(
        ev("c1", "2024-05-10T00:00:00Z", "joined", B),
        ev("c2", "2024-06-01T00:00:00Z", "joined", B),
        ev("c1", "2024-06-20T00:00:00Z", "left", B),
    )
    out = tier_distribution(events, end="2024-06-15")
    assert out.select("members", "complete").rows() == [(1, True), (2, False)]
    assert tier_distribution(events)["members"].to_list() == [1, 1]
    assert tier_distribution(events, end="2024-05-01").is_empty()
