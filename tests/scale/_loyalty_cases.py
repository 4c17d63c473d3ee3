"""Loyalty event frames and the options the tier and points parity tests run.

:func:`tier_events` and :func:`points_events` draw random journeys that start at the
awkward instants of :mod:`tests.scale._data` (daylight-saving nights in Europe, the
last millisecond of a month or a year) and step by offsets that include 0 (events of
one unit in the same millisecond, ids random so a tie breaks either way), 1 ms, a
day, 23 hours and a month. So the data holds:

* tiers: repeated joins, joins into another tier without a ``left``, a unit whose
  data starts with a ``prolonged`` (already in a tier), keep events after a
  ``left``, upgrades without a ``tier_to_id``, tiers without a name and a tier id
  whose name changes (which name a result shows follows the event order), units
  without a campaign, spells still open at the end;
* points: every ledger kind (earning, the ``rewarded.loyalty_points`` twin of an
  accrual, pending points added, activated — with and without the
  ``points_activated`` of the same group — and canceled, transfers both ways,
  expiries with and without ``expired_points``, loyalty-card and other redemptions
  and their rollbacks, reward redemptions and their rollbacks), balances reported on
  some events only, cards without a voucher code, events without a campaign;
* rows without a customer or a time, and rows of another family (ignored).

``tz`` gives the same instants in another zone or naive (read as UTC).
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import polars as pl

from tests.scale._data import BASES, DAY_MS

T = "customer.loyalty.tier."
P = "customer.voucher.loyalty_card."
STEPS_MS = [0, 0, 0, 1, 3_600_000, 23 * 3_600_000, DAY_MS - 1, DAY_MS, 31 * DAY_MS]

TIER_SCHEMA = {
    "id": pl.String,
    "type": pl.String,
    "customer_id": pl.String,
    "campaign_id": pl.String,
    "created_at": pl.Datetime("ms", "UTC"),
    "tier_id": pl.String,
    "tier_name": pl.String,
    "tier_from_id": pl.String,
    "tier_from_name": pl.String,
    "tier_to_id": pl.String,
    "tier_to_name": pl.String,
}
POINTS_SCHEMA = {
    "id": pl.String,
    "type": pl.String,
    "customer_id": pl.String,
    "campaign_id": pl.String,
    "created_at": pl.Datetime("ms", "UTC"),
    "voucher_code": pl.String,
    "group_id": pl.String,
    "points": pl.Int64,
    "balance": pl.Int64,
    "points_change": pl.Int64,
    "expired_points": pl.Int64,
    "transaction_type": pl.String,
    "pending_points": pl.Int64,
    "reward_points": pl.Int64,
    "redemption_amount": pl.Int64,
    "voucher_type": pl.String,
}
#: (id, name) of the tiers; "b" is sometimes named differently.
TIERS = [("b", "Bronze"), ("s", "Silver"), ("g", "Gold")]


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seen: set[str] = set()

    def __call__(self) -> str:
        while (i := f"{self.rng.randrange(16**6):06x}") in self.seen:
            pass
        self.seen.add(i)
        return i


def _zoned(df: pl.DataFrame, tz: str | None) -> pl.DataFrame:
    if tz is None:
        return df.with_columns(pl.col("created_at").dt.replace_time_zone(None))
    return df.with_columns(pl.col("created_at").dt.convert_time_zone(tz))


def _tier(rng: random.Random) -> tuple[str, str | None]:
    tid, name = rng.choice(TIERS)
    roll = rng.random()
    if roll < 0.1:
        return tid, None  # no name: the id stands in
    if tid == "b" and roll < 0.3:
        return tid, "Bronze (old)"
    return tid, name


def tier_events(
    units: int = 50, *, seed: int = 0, tz: str | None = "UTC"
) -> pl.DataFrame:
    """Tier events of ``units`` (customer, campaign) journeys (see the module
    docstring)."""
    rng = random.Random(seed)
    new_id = _Ids(rng)
    rows: list[dict[str, Any]] = []
    kinds = [
        "joined",
        "joined",
        "upgraded",
        "upgraded",
        "downgraded",
        "left",
        "prolonged",
        "expiration.changed",
    ]
    for u in range(units):
        customer = f"c{u // 2:03d}"  # two journeys per customer, usually two campaigns
        campaign = rng.choice(["club", "vip", "vip", None])
        t = rng.choice(BASES)
        state: tuple[str, str | None] | None = None
        for _ in range(rng.randint(1, 9)):
            t += timedelta(milliseconds=rng.choice(STEPS_MS))
            kind = rng.choice(kinds)
            row: dict[str, Any] = {
                "id": new_id(),
                "type": T + kind,
                "customer_id": customer,
                "campaign_id": campaign,
                "created_at": t,
            }
            if kind in ("upgraded", "downgraded"):
                to = _tier(rng)
                frm = state or _tier(rng)
                row["tier_from_id"], row["tier_from_name"] = frm
                if rng.random() < 0.1:
                    to = (None, None)  # nothing to move to: the state stays
                row["tier_to_id"], row["tier_to_name"] = to
                if to[0] is not None:
                    state = to
            else:
                tier = state if state and kind != "joined" else _tier(rng)
                row["tier_id"], row["tier_name"] = tier
                if kind == "joined":
                    state = tier
                elif kind == "left":
                    state = None
            rows.append(row)
    rows += [
        {"id": "no-customer", "type": T + "joined", "created_at": BASES[0]},
        {"id": "no-time", "type": T + "left", "customer_id": "c000"},
        {"id": "other-family", "type": P + "points_added", "customer_id": "c000"},
    ]
    for row in rows[-3:]:
        row.update(campaign_id="club", tier_id="b", tier_name="Bronze")
    rng.shuffle(rows)
    return _zoned(pl.DataFrame(rows, schema=TIER_SCHEMA), tz)


def _points_event(
    rng: random.Random, kind: str
) -> list[tuple[str, dict[str, Any], int]]:
    """The rows of one ledger move: (type, typed columns, balance change)."""
    n = rng.randint(1, 80)
    group = f"g{rng.randrange(10**9)}"
    if kind == "add":
        cols = {"points": n, "points_change": n, "group_id": group}
        return [
            (P + "points_added", cols, n),
            ("customer.rewarded.loyalty_points", cols, 0),
        ]
    if kind == "pending":
        out = [(P + "pending_points.added", {"pending_points": n}, 0)]
        roll = rng.random()
        if roll < 0.4:
            out.append((P + "pending_points.canceled", {"pending_points": n}, 0))
        else:
            act = {"points": n, "pending_points": n, "group_id": group}
            out.append((P + "pending_points.activated", act, n))
            if roll < 0.8:  # the same credit again, counted once
                again = {"points": n, "points_change": n, "group_id": group}
                out.append((P + "points_activated", again, 0))
        return out
    if kind == "activated":
        return [(P + "points_activated", {"points_change": n, "group_id": group}, n)]
    if kind in ("in", "out"):
        sign = 1 if kind == "in" else -1
        cols = {
            "points": sign * n,
            "points_change": sign * n,
            "transaction_type": f"POINTS_TRANSFER_{kind.upper()}",
        }
        return [(P + "points_transferred", cols, sign * n)]
    if kind == "expire":
        cols = {"points_change": -n}
        if rng.random() < 0.7:
            cols["expired_points"] = n
        return [(P + "points_expired", cols, -n)]
    if kind == "redeem":
        vtype = rng.choice(["LOYALTY_CARD", "LOYALTY_CARD", "DISCOUNT_VOUCHER", None])
        out = [
            (
                "customer.redemption.succeeded",
                {"redemption_amount": n, "voucher_type": vtype},
                -n,
            )
        ]
        if rng.random() < 0.3:
            back = {"redemption_amount": -n, "voucher_type": vtype}
            out.append(("customer.redemption.rollback.succeeded", back, n))
        return out
    # a reward
    out = [
        ("customer.reward_redemptions.created", {"reward_points": n}, 0),
        ("customer.reward_redemptions.completed", {"reward_points": n}, -n),
    ]
    if rng.random() < 0.3:
        out.append(("customer.reward_redemptions.rolledback", {"reward_points": n}, n))
    return out


def points_events(
    cards: int = 40, *, seed: int = 0, tz: str | None = "UTC"
) -> pl.DataFrame:
    """Points events of ``cards`` loyalty cards (see the module docstring)."""
    rng = random.Random(seed)
    new_id = _Ids(rng)
    rows: list[dict[str, Any]] = []
    kinds = ["add", "add", "add", "pending", "activated", "in", "out", "expire"]
    kinds += ["redeem", "redeem", "reward", "reward"]
    for c in range(cards):
        customer = f"c{c // 2:03d}"
        campaign = rng.choice(["club", "vip", None])
        code = f"LC{c:03d}" if rng.random() < 0.85 else None
        t = rng.choice(BASES)
        balance = 0
        for _ in range(rng.randint(1, 10)):
            t += timedelta(milliseconds=rng.choice(STEPS_MS))
            for type_, cols, change in _points_event(rng, rng.choice(kinds)):
                balance += change
                row = {
                    "id": new_id(),
                    "type": type_,
                    "customer_id": customer,
                    "campaign_id": campaign,
                    "created_at": t,
                    "voucher_code": code,
                    **cols,
                }
                if change and rng.random() < 0.5:
                    row["balance"] = balance  # reported on some events only
                rows.append(row)
    rows += [
        {"id": "no-customer", "type": P + "points_added", "points_change": 5},
        {"id": "no-time", "type": P + "points_added", "customer_id": "c000"},
        {"id": "other-family", "type": T + "joined", "customer_id": "c000"},
    ]
    rows[-3]["created_at"] = BASES[0]
    rows[-2].update(points_change=7, voucher_code="LC000")
    rng.shuffle(rows)
    return _zoned(pl.DataFrame(rows, schema=POINTS_SCHEMA), tz)


# -- options --------------------------------------------------------------------------

#: A bound that falls on events (the DST night in Berlin, with ties on it) and one
#: half a millisecond after the last millisecond of February 2024 (Polars compares a
#: millisecond column with it as with that millisecond).
ON_EVENTS = BASES[0]
MID_MS = BASES[3] + timedelta(microseconds=500)

#: name -> (function name, options)
TIER_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "spells": ("tier_spells", {}),
    "path": ("tier_path", {}),
    "transitions-event": ("tier_transitions", {}),
    "transitions-event-bounded": (
        "tier_transitions",
        {"start": ON_EVENTS, "end": MID_MS + timedelta(days=30)},
    ),
    "transitions-period": ("tier_transitions", {"level": "period"}),
    "transitions-period-start": (
        "tier_transitions",
        {"level": "period", "start": MID_MS},
    ),
    "transitions-period-bounded": (
        "tier_transitions",
        {"level": "period", "start": ON_EVENTS, "end": "2024-11-01T00:00:00.0005Z"},
    ),
    "distribution-month": ("tier_distribution", {}),
    "distribution-day-berlin": (
        "tier_distribution",
        {"period": "day", "tz": "Europe/Berlin"},
    ),
    "distribution-week-sunday-ny": (
        "tier_distribution",
        {"period": "week", "week_start": "sunday", "tz": "America/New_York"},
    ),
    "distribution-quarter-kolkata": (
        "tier_distribution",
        {"period": "quarter", "tz": "Asia/Kolkata"},
    ),
    "distribution-year": ("tier_distribution", {"period": "year"}),
    "distribution-end-mid": ("tier_distribution", {"end": MID_MS}),
    "distribution-week-end-later": (
        "tier_distribution",
        {"period": "week", "tz": "Europe/Berlin", "end": "2025-03-30T01:30:00Z"},
    ),
    "time-summary": ("time_in_tier", {}),
    "time-summary-end": ("time_in_tier", {"end": MID_MS + timedelta(days=200)}),
    "time-curve": ("time_in_tier", {"output": "curve", "confidence": 0.9}),
}

#: A subset for the engines where each query costs more (Ibis compiles every plan;
#: Spark runs seconds per query), still one of each function and level.
TIER_COVERING = [
    "spells",
    "path",
    "transitions-event-bounded",
    "transitions-period-bounded",
    "distribution-day-berlin",
    "distribution-week-sunday-ny",
    "distribution-week-end-later",
    "time-summary",
    "time-curve",
]
TIER_SPARK = [
    "spells",
    "path",
    "transitions-period-bounded",
    "distribution-day-berlin",
    "time-curve",
]

POINTS_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "flows-month": ("points_flows", {}),
    "flows-day-berlin-by": (
        "points_flows",
        {"period": "day", "tz": "Europe/Berlin", "by": "campaign_id"},
    ),
    "flows-week-sunday-by2": (
        "points_flows",
        {
            "period": "week",
            "week_start": "sunday",
            "by": ["campaign_id", "voucher_type"],
        },
    ),
    "flows-quarter-ny": (
        "points_flows",
        {"period": "quarter", "tz": "America/New_York"},
    ),
    "flows-year-kolkata": ("points_flows", {"period": "year", "tz": "Asia/Kolkata"}),
    "breakage-month": ("breakage", {}),
    "breakage-day-berlin": ("breakage", {"period": "day", "tz": "Europe/Berlin"}),
    "breakage-week-monday-ny": (
        "breakage",
        {"period": "week", "tz": "America/New_York"},
    ),
    "liability": (
        "points_liability",
        {"value_per_point": 0.01, "expected_breakage": 0.15},
    ),
    "liability-total-at": (
        "points_liability",
        {"value_per_point": 0.3, "expected_breakage": 0.0, "by": None, "at": ON_EVENTS},
    ),
    "liability-by2-at-mid": (
        "points_liability",
        {
            "value_per_point": 1.7,
            "expected_breakage": 0.35,
            "by": ["campaign_id", "customer_id"],
            "at": MID_MS,
        },
    ),
}
POINTS_COVERING = [
    "flows-day-berlin-by",
    "flows-week-sunday-by2",
    "breakage-day-berlin",
    "liability",
    "liability-by2-at-mid",
]
POINTS_SPARK = [
    "flows-day-berlin-by",
    "breakage-week-monday-ny",
    "liability-by2-at-mid",
]


# -- helpers of the parity tests --------------------------------------------------------


def check_same(local: pl.DataFrame, engine_result: Any) -> None:
    """An engine's result has the local rows, in the same order."""
    from polars.testing import assert_frame_equal

    from tests.scale.conftest import canonical, to_polars

    assert_frame_equal(canonical(to_polars(engine_result)), canonical(local))


def run_case(cases: dict[str, tuple[str, dict[str, Any]]], case: str, data: Any) -> Any:
    """The analysis of ``case`` with its options on ``data``."""
    from activity_toolkit import analysis

    name, options = cases[case]
    return getattr(analysis, name)(data, **options)


def engine_cases(
    cases: dict[str, tuple[str, dict[str, Any]]], covering: list[str]
) -> list[tuple[str, str]]:
    """``(engine, case)``: every case on Polars and DuckDB, the covering ones on
    Ibis (where each query compiles a plan)."""
    return [
        *[("polars", c) for c in cases],
        *[("duckdb", c) for c in cases],
        *[("ibis", c) for c in covering],
    ]


def spark_failures(
    engine: Any,
    cases: dict[str, tuple[str, dict[str, Any]]],
    names: list[str],
    events: pl.DataFrame,
) -> list[str]:
    """Run ``names`` on Spark (``engine``) and say which differ from the local
    rows or do not come back as a Spark DataFrame (collected, not raised: each
    Spark query costs seconds, so one test runs them all)."""
    failures: list[str] = []
    frame = engine(events)
    for case in names:
        out = run_case(cases, case, frame)
        if not isinstance(out, engine.native_type):
            failures.append(f"{case}: {type(out)}")
            continue
        try:
            check_same(run_case(cases, case, events), out)
        except AssertionError as exc:
            failures.append(f"{case}: {exc}")
    return failures
