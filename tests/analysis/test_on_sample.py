"""Integration checks on the synthetic sample: invariants that must hold on realistic
data, and ActivityLog input agreeing with the equivalent (lazy) frame input."""

from __future__ import annotations

import itertools

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from activity_toolkit import sample
from activity_toolkit.analysis import (
    breakage,
    campaign_summary,
    coupon_funnel,
    funnel,
    funnel_units,
    params_of,
    points_flows,
    points_liability,
    retention,
    retention_matrix,
    tier_distribution,
    tier_path,
    tier_spells,
    tier_transitions,
    time_in_tier,
    typed_events,
)

PUB = "customer.publication.succeeded"
VAL = "customer.validation.succeeded"
RED = "customer.redemption.succeeded"
PAID = "customer.order.paid"


@pytest.fixture(scope="module")
def log():
    return sample(customers=150, seed=11)


def test_funnels_on_sample(log):
    steps = [PUB, VAL, RED, PAID]
    ordered = funnel(log, steps, within="14d")
    reached = funnel(log, steps, mode="reached")
    c = ordered["count"].to_list()
    assert all(a >= b for a, b in itertools.pairwise(c))
    assert all(r >= o for r, o in zip(reached["count"], c, strict=True))
    assert c[-1] > 0
    lazy = funnel(log.events.lazy(), steps, within="14d")
    assert isinstance(lazy, pl.LazyFrame)
    assert_frame_equal(lazy.collect(), ordered)
    furthest = funnel(log, steps, within="14d", entry="furthest")["count"].to_list()
    assert all(f >= o for f, o in zip(furthest, c, strict=True))
    units = funnel_units(log, steps, within="14d")
    assert units.height == c[0]
    assert units.filter(pl.col("furthest_step") == 4).height == c[3]
    by = funnel(log, steps, within="14d", by="campaign_name")
    assert by.filter(pl.col("step") == 1)["count"].sum() == c[0]


def test_retention_on_sample(log):
    for period in ("week", "month"):
        out = retention(log, period=period)
        assert (
            out.filter(pl.col("period") == 0)
            .select(pl.col("active") == pl.col("cohort_size"))
            .to_series()
        ).all()
        assert out["rate"].is_between(0, 1).all()
        assert (
            out.filter(pl.col("period") == 0)["cohort_size"].sum()
            == log.customers.len()
        )
    paid = retention(
        log, period="month", start=PAID, returning=PAID, tz="Europe/Warsaw"
    )
    assert_frame_equal(
        retention(
            log.events.lazy(),
            period="month",
            start=PAID,
            returning=PAID,
            tz="Europe/Warsaw",
        ).collect(),
        paid,
    )
    m = retention_matrix(log, period="month")
    assert m["row"].to_list()[-2:] == ["weighted average", "simple average"]


def test_tiers_on_sample(log):
    tiers = typed_events(log, families="tier").lazy()
    spells = tier_spells(log)
    assert spells.height > 0
    assert_frame_equal(tier_spells(tiers).collect(), spells)
    # one open spell at most per member, and spells of a member do not overlap
    assert (
        spells.group_by("customer_id", "campaign_id")
        .agg(pl.col("censored").sum())["censored"]
        .max()
        <= 1
    )
    nxt = spells.with_columns(
        pl.col("start").shift(-1).over("customer_id", "campaign_id").alias("next")
    )
    assert (
        nxt.filter(
            pl.col("next").is_not_null() & (pl.col("end") > pl.col("next"))
        ).height
        == 0
    )
    # members in the last period (ending after the data) = open spells
    dist = tier_distribution(log)
    last = dist.filter(pl.col("period") == dist["period"].max())
    assert last["members"].sum() == spells["censored"].sum()
    km = time_in_tier(log)
    assert km["spells"].sum() == spells.height
    assert km["closed"].sum() == spells.filter(~pl.col("censored")).height
    paths = tier_path(log)
    assert paths.height == spells.select("customer_id", "campaign_id").unique().height
    ev = tier_transitions(log)
    assert ev.group_by("campaign_id", "from_tier").agg(pl.col("share").sum())[
        "share"
    ].to_list() == pytest.approx(
        [1.0] * ev.select("campaign_id", "from_tier").unique().height
    )
    period = tier_transitions(log, level="period", start="2024-07-01", end="2025-01-01")
    assert set(period["to_tier"]) - set(spells["tier_name"]) <= {"left"}


def test_points_on_sample(log):
    fams = ["points", "pending_points", "reward_redemption", "redemption"]
    stacked = typed_events(log, families=fams).lazy()
    flows = points_flows(log)
    assert_frame_equal(points_flows(stacked).collect(), flows)
    added = log["customer.voucher.loyalty_card.points_added"]["points_change"].sum()
    pending = log["customer.voucher.loyalty_card.pending_points.activated"][
        "points"
    ].sum()
    assert flows["earned"].sum() == added + pending
    assert flows["spent_rewards"].sum() == (
        log["customer.reward_redemptions.completed"]["reward_points"].sum()
        - log["customer.reward_redemptions.rolledback"]["reward_points"].sum()
    )
    b = breakage(log)
    assert b["earned"].sum() == flows["earned"].sum()
    assert (
        (b["spent"] + b["expired"] + b["transferred_out"] + b["outstanding"])
        == b["earned"]
    ).all()
    assert_frame_equal(breakage(stacked).collect(), b)
    liab = points_liability(log, value_per_point=0.01, expected_breakage=0.25)
    assert (liab["outstanding_points"] >= 0).all()
    assert params_of(liab)["expected_breakage"] == 0.25


def test_campaigns_on_sample(log):
    fams = ["publication", "validation", "redemption", "order"]
    stacked = typed_events(log, families=fams).lazy()
    summary = campaign_summary(log)
    assert_frame_equal(campaign_summary(stacked).collect(), summary)
    pubs = log["customer.publication.succeeded"]
    assert (
        summary["publications"].sum()
        == pubs.filter(pl.col("campaign_id").is_not_null()).height
    )
    assert (
        summary["redemptions_succeeded"].sum()
        == log[RED].filter(pl.col("campaign_id").is_not_null()).height
    )
    cf = coupon_funnel(log)
    c = cf["count"].to_list()
    assert all(a >= b for a, b in itertools.pairwise(c))
    assert (
        c[0]
        == pubs.filter(pl.col("voucher_code").is_not_null())
        .select("customer_id", "voucher_code")
        .unique()
        .height
    )
    assert_frame_equal(coupon_funnel(stacked).collect(), cf)
    one = summary.sort("publications", descending=True)["campaign_name"][0]
    assert coupon_funnel(log, campaign=one)["count"][0] <= c[0]
