from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from activity_toolkit.analysis import (
    breakage,
    params_of,
    points_flows,
    points_liability,
)
from activity_toolkit.exceptions import AnalysisInputError
from tests.analysis.conftest import as_log, typed

FAMS = ["points", "pending_points", "reward_redemption", "redemption"]
P = "customer.voucher.loyalty_card."


def row(when, type_, card="LC1", cust="c1", camp="club", **kw):
    return {
        "customer_id": cust,
        "campaign_id": camp,
        "voucher_code": card,
        "type": type_,
        "created_at": when,
        **kw,
    }


def frame(*rows):
    return typed(FAMS, rows)


LEDGER = frame(
    # an accrual: rewarded.loyalty_points repeats points_added (same group)
    row(
        "2024-01-03",
        P + "points_added",
        points=100,
        points_change=100,
        balance=100,
        group_id="g1",
    ),
    row(
        "2024-01-03",
        "customer.rewarded.loyalty_points",
        points=100,
        points_change=100,
        balance=100,
        group_id="g1",
    ),
    # pending points: added (memo), activated (credited), canceled (memo)
    row("2024-01-05", P + "pending_points.added", pending_points=40),
    row(
        "2024-01-19",
        P + "pending_points.activated",
        points=40,
        pending_points=40,
        balance=140,
        group_id="g2",
    ),
    row(
        "2024-01-19",
        P + "points_activated",
        points=40,
        points_change=40,
        balance=140,
        group_id="g2",
    ),  # same credit
    row("2024-01-20", P + "pending_points.added", pending_points=10),
    row("2024-01-25", P + "pending_points.canceled", pending_points=10),
    # February: spend on a reward and on a loyalty-card redemption, one rolled back
    row("2024-02-01", "customer.reward_redemptions.created", reward_points=50),
    row("2024-02-01", "customer.reward_redemptions.completed", reward_points=50),
    row(
        "2024-02-02",
        "customer.redemption.succeeded",
        redemption_amount=30,
        voucher_type="LOYALTY_CARD",
    ),
    row(
        "2024-02-03",
        "customer.redemption.rollback.succeeded",
        redemption_amount=-30,
        voucher_type="LOYALTY_CARD",
    ),
    row(
        "2024-02-04",
        "customer.redemption.succeeded",
        redemption_amount=0,
        voucher_type="DISCOUNT_VOUCHER",
        voucher_code="D1",
    ),
    # March: transfers and an expiry
    row(
        "2024-03-01",
        P + "points_transferred",
        points=-20,
        points_change=-20,
        balance=70,
        transaction_type="POINTS_TRANSFER_OUT",
    ),
    row(
        "2024-03-01",
        P + "points_transferred",
        card="LC2",
        points=20,
        points_change=20,
        balance=20,
        transaction_type="POINTS_TRANSFER_IN",
    ),
    row("2024-03-10", P + "points_expired", expired_points=15, points_change=-15),
)


def test_flows_per_period(run):
    out = run(points_flows, LEDGER)
    assert out["period"].dt.strftime("%Y-%m").to_list() == [
        "2024-01",
        "2024-02",
        "2024-03",
    ]
    cols = [
        "earned",
        "spent_redemptions",
        "spent_rewards",
        "spent",
        "expired",
        "transferred_in",
        "transferred_out",
        "pending_added",
        "pending_activated",
        "pending_canceled",
        "net",
    ]
    assert out.select(cols).rows() == [
        (140, 0, 0, 0, 0, 0, 0, 50, 40, 10, 140),
        (0, 0, 50, 50, 0, 0, 0, 0, 0, 0, -50),
        (0, 0, 0, 0, 15, 20, 20, 0, 0, 0, -15),
    ]
    assert out["earn_burn_ratio"].to_list() == [0.0, None, None]
    assert_frame_equal(points_flows(as_log(LEDGER)), run(points_flows, LEDGER))
    assert params_of(points_flows(LEDGER))["period"] == "month"


def test_flows_by_campaign_fill_zero_periods(run):
    df = frame(
        row("2024-01-03", P + "points_added", points_change=10, camp="A"),
        row("2024-03-03", P + "points_added", points_change=5, camp="B"),
    )
    out = run(points_flows, df, by="campaign_id")
    assert out.select(pl.col("period").dt.month(), "campaign_id", "earned").rows() == [
        (1, "A", 10),
        (1, "B", 0),
        (2, "A", 0),
        (2, "B", 0),
        (3, "A", 0),
        (3, "B", 5),
    ]


def test_points_activated_without_pending_counts_as_earned(run):
    df = frame(
        row("2024-01-03", P + "points_activated", points_change=25, group_id="g9")
    )
    assert run(points_flows, df)["earned"].to_list() == [25]


def test_breakage_is_first_in_first_out(run):
    df = frame(
        row("2024-01-05", P + "points_added", points_change=100),
        row("2024-02-05", P + "points_added", points_change=100),
        row("2024-02-20", "customer.reward_redemptions.completed", reward_points=150),
        row("2024-03-01", P + "points_transferred", points_change=-20),
        row("2025-01-05", P + "points_expired", expired_points=10, points_change=-10),
        # another card
        row("2024-01-09", P + "points_added", card="LC2", points_change=40),
        row("2024-06-09", P + "points_expired", card="LC2", expired_points=40),
    )
    out = run(breakage, df)
    assert out.select(
        pl.col("cohort").dt.strftime("%Y-%m"),
        "earned",
        "spent",
        "expired",
        "transferred_out",
        "outstanding",
        "settled",
    ).rows() == [
        ("2024-01", 140, 100, 40, 0, 0, True),
        ("2024-02", 100, 50, 10, 20, 20, False),
    ]
    assert out["realised_breakage"].to_list() == pytest.approx([40 / 140, 0.1])
    assert out["lifetime_breakage"].to_list() == pytest.approx([40 / 140, 0.5])
    notes = " ".join(params_of(breakage(df)).notes)
    assert "expired / earned" in notes
    assert "(earned - spent) / earned" in notes


def test_rollback_refund_is_a_credit_not_earning(run):
    df = frame(
        row("2024-01-05", P + "points_added", points_change=100),
        row("2024-02-01", "customer.reward_redemptions.completed", reward_points=100),
        row("2024-02-02", "customer.reward_redemptions.rolledback", reward_points=100),
        row("2024-03-01", P + "points_expired", expired_points=100),
    )
    out = run(breakage, df)
    # the refund is consumed by the expiry (after the January lot, which was spent)
    assert out.select("earned", "spent", "expired", "outstanding").rows() == [
        (100, 100, 0, 0)
    ]
    flows = run(points_flows, df)
    assert flows["spent_rewards"].to_list() == [0, 0, 0]  # Jan 0, Feb +100 -100, Mar 0


def test_liability(run):
    out = run(points_liability, LEDGER, value_per_point=0.5, expected_breakage=0.2)
    # LC1: last balance 70 (transfer), then the expiry -15 -> 55; LC2: 20
    assert out.select("campaign_id", "cards", "outstanding_points").rows() == [
        ("club", 2, 75)
    ]
    assert out["liability"].item() == pytest.approx(75 * 0.5 * 0.8)
    total = run(
        points_liability, LEDGER, value_per_point=1, expected_breakage=0, by=None
    )
    assert total.columns == [
        "cards",
        "outstanding_points",
        "value_per_point",
        "expected_breakage",
        "liability",
    ]
    early = run(
        points_liability,
        LEDGER,
        value_per_point=1,
        expected_breakage=0,
        at="2024-02-02",
    )
    # LC1 at that time: balance 140 (19 Jan), then the reward (-50) -> 90
    assert early["outstanding_points"].to_list() == [90]


def test_liability_without_balances_uses_the_ledger(run):
    df = frame(
        row("2024-01-05", P + "points_added", points_change=100),
        row("2024-02-01", "customer.reward_redemptions.completed", reward_points=130),
    )
    out = run(points_liability, df, value_per_point=1, expected_breakage=0)
    assert out["outstanding_points"].to_list() == [0]  # never negative


def test_liability_errors():
    with pytest.raises(AnalysisInputError, match="expected_breakage"):
        points_liability(LEDGER, value_per_point=1, expected_breakage=1.0)
    with pytest.raises(AnalysisInputError, match="value_per_point"):
        points_liability(LEDGER, value_per_point=-1, expected_breakage=0)
    with pytest.raises(AnalysisInputError, match="by column"):
        points_liability(LEDGER, value_per_point=1, expected_breakage=0, by="segment")


def test_empty_input(run):
    df = LEDGER.clear()
    assert run(points_flows, df).height == 0
    assert run(breakage, df).height == 0
    out = run(points_liability, df, value_per_point=1, expected_breakage=0, by=None)
    assert out["outstanding_points"].to_list() == [0]


@st.composite
def ledgers(draw):
    rows = []
    for i in range(draw(st.integers(1, 14))):
        card = draw(st.sampled_from(["L1", "L2"]))
        when = f"2024-{draw(st.integers(1, 6)):02d}-{draw(st.integers(1, 28)):02d}"
        kind = draw(st.sampled_from(["add", "add", "spend", "expire", "out", "in"]))
        n = draw(st.integers(1, 60))
        if kind == "add":
            rows.append(
                row(
                    when, P + "points_added", card=card, points_change=n, id=f"e{i:03d}"
                )
            )
        elif kind == "spend":
            rows.append(
                row(
                    when,
                    "customer.reward_redemptions.completed",
                    card=card,
                    reward_points=n,
                    id=f"e{i:03d}",
                )
            )
        elif kind == "expire":
            rows.append(
                row(
                    when,
                    P + "points_expired",
                    card=card,
                    expired_points=n,
                    id=f"e{i:03d}",
                )
            )
        else:
            sign = -1 if kind == "out" else 1
            rows.append(
                row(
                    when,
                    P + "points_transferred",
                    card=card,
                    points_change=sign * n,
                    id=f"e{i:03d}",
                )
            )
    return frame(*rows)


@settings(max_examples=60, deadline=None)
@given(ledgers())
def test_breakage_conserves_points(df):
    out = breakage(df)
    flows = points_flows(df)
    assert out["earned"].sum() == flows["earned"].sum()
    parts = out["spent"] + out["expired"] + out["transferred_out"] + out["outstanding"]
    assert (parts == out["earned"]).all()
    assert (out["outstanding"] >= 0).all()
    # attributed debits never exceed the debits in the ledger
    assert out["spent"].sum() <= flows["spent"].sum()
    assert out["expired"].sum() <= flows["expired"].sum()
    assert out["realised_breakage"].is_between(0, 1).all()
    assert_frame_equal(breakage(df.lazy()).collect(), out)
    assert_frame_equal(points_flows(df.lazy()).collect(), flows)
