"""The portable points analyses: the engine part of :mod:`.points`, written once in
narwhals.

Input: an engine frame of :mod:`._engine` holding the rows of the ``points``,
``pending_points``, ``reward_redemption`` and ``redemption`` families — the store's
four family tables stacked by column name (DuckDB ``union_by_name``, Spark
``unionByName(allowMissingColumns=True)``), the stacked rows of
:func:`~activity_toolkit.analysis.typed_events`, or an events table — with ``id``,
``customer_id``, ``type``, ``created_at`` (a timestamp) and at least one of the typed
columns ``points``, ``balance``, ``points_change``, ``expired_points``,
``transaction_type``, ``pending_points``, ``reward_points``, ``redemption_amount``,
``voucher_type``; ``campaign_id``, ``voucher_code`` and ``group_id`` are read when
present. Missing typed columns are read as nulls; rows of other types are ignored.

How the local rules of :mod:`.points` are computed on an engine:

* **The ledger** is one expression per column, as locally; "a ``points_activated``
  in the ``group_id`` of a ``pending_points.activated``" is a left join on the
  distinct ``group_id`` of those events.
* **Per card, in (created_at, id) order**, the running credits and debits of
  ``breakage`` and the "last balance reported" of ``points_liability`` are running
  sums and counts over the card (``over(_card, order_by=…)``); the first-in-first-out
  overlaps are the same join of a card's earning lots with its debits as locally.
* **Periods** are the keys of :func:`~._engine.period_key`; the engine
  sums per key and :mod:`.points` finishes the small per-period tables (the grid of
  every period, the rates) with its local code. ``points_liability`` is computed by
  the engine whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals as nw
import polars as pl

from activity_toolkit.analysis._engine import (
    period_key,
    running_count,
    to_polars,
    typed_rows,
    zone_shifts,
)

__all__ = [
    "BASE_KIND",
    "FAMILIES",
    "RAW_FLOWS",
    "TYPED",
    "P",
    "breakage_parts",
    "flows_parts",
    "ledger",
    "liability",
    "points_rows",
]

Frame = nw.LazyFrame[Any]
ORDER = ["_ms", "id"]

FAMILIES = ["points", "pending_points", "reward_redemption", "redemption"]
TYPED = (
    "points",
    "balance",
    "points_change",
    "expired_points",
    "transaction_type",
    "pending_points",
    "reward_points",
    "redemption_amount",
    "voucher_type",
)
#: Columns the ledger reads when present (null otherwise).
OPTIONAL = ("campaign_id", "voucher_code", "group_id")
P = "customer.voucher.loyalty_card."
BASE_KIND = {
    P + "points_added": "earned",
    P + "points_activated": "earned",
    P + "pending_points.activated": "pending_activated",
    P + "points_transferred": "transfer",
    P + "points_expired": "expired",
    "customer.redemption.succeeded": "spent_redemptions",
    "customer.redemption.rollback.succeeded": "spent_redemptions",
    "customer.reward_redemptions.completed": "spent_rewards",
    "customer.reward_redemptions.rolledback": "spent_rewards",
    P + "pending_points.added": "pending_added",
    P + "pending_points.canceled": "pending_canceled",
}
#: The flows ``points_flows`` sums per period (the others derive from them).
RAW_FLOWS = (
    "earned",
    "pending_activated",
    "transferred_in",
    "transferred_out",
    "expired",
    "spent_redemptions",
    "spent_rewards",
    "pending_added",
    "pending_canceled",
)


def points_rows(lf: Frame, *, extra: Sequence[str] = ()) -> Frame:
    """The points events of an engine frame, checked, with ``_ms`` (and the
    ``extra`` columns, such as ``by`` columns, when present)."""
    return typed_rows(
        lf,
        families=FAMILIES,
        required=["customer_id", "type"],
        typed=TYPED,
        optional=[*OPTIONAL, *extra],
        what="points events",
    )


def _whole(x: nw.Expr) -> nw.Expr:
    """``x`` as ``Int64``, a fraction cut toward zero as Polars' cast cuts it (a SQL
    ``CAST`` rounds): points are whole numbers, but a table may hold them as floats."""
    return nw.when(x >= 0).then(x.floor()).otherwise(x.ceil()).cast(nw.Int64)


def _null_string() -> nw.Expr:
    return nw.lit(None).cast(nw.String)


def ledger(rows: Frame) -> Frame:
    """One row per points-related event with ``_kind``, ``_amount``, ``_delta`` and
    ``_card``, as :func:`~activity_toolkit.analysis.points._ledger`."""
    t = nw.col("type")
    items = list(BASE_KIND.items())
    chain = nw.when(t == items[0][0]).then(nw.lit(items[0][1]))
    for type_, kind_ in items[1:]:
        chain = chain.when(t == type_).then(nw.lit(kind_))
    pending = (
        rows.filter(
            (t == P + "pending_points.activated") & ~nw.col("group_id").is_null()
        )
        .select("group_id")
        .unique()
        .with_columns(nw.lit(value=True).alias("_pend"))
    )
    k = nw.col("_kind")
    change = nw.coalesce("points_change", "points")
    kind = (
        nw.when(k == "transfer")
        .then(
            nw.when(change >= 0)
            .then(nw.lit("transferred_in"))
            .otherwise(nw.lit("transferred_out"))
        )
        .when((k == "spent_redemptions") & (nw.col("voucher_type") != "LOYALTY_CARD"))
        .then(_null_string())
        .when((t == P + "points_activated") & nw.col("_pend").fill_null(value=False))
        .then(_null_string())
        .otherwise(k)
    )
    rolled = t == "customer.reward_redemptions.rolledback"
    amount = (
        nw.when(k.is_in(["earned", "transferred_in"]))
        .then(change)
        .when(k == "transferred_out")
        .then(-change)
        .when(k == "pending_activated")
        .then(nw.coalesce("points", "pending_points"))
        .when(k == "expired")
        .then(nw.coalesce(nw.col("expired_points"), -nw.col("points_change")))
        .when(k == "spent_redemptions")
        .then(nw.col("redemption_amount"))
        .when(k == "spent_rewards")
        .then(
            nw.when(rolled)
            .then(-nw.col("reward_points"))
            .otherwise(nw.col("reward_points"))
        )
        .when(k.is_in(["pending_added", "pending_canceled"]))
        .then(nw.col("pending_points"))
    )
    amt = nw.col("_amount")
    delta = (
        nw.when(k.is_in(["earned", "pending_activated", "transferred_in"]))
        .then(amt)
        .when(
            k.is_in(
                ["transferred_out", "expired", "spent_redemptions", "spent_rewards"]
            )
        )
        .then(-amt)
        .otherwise(0)
    )
    card = nw.coalesce(
        nw.col("voucher_code"),
        nw.concat_str(
            [nw.col("customer_id"), nw.col("campaign_id").fill_null("")], separator="/"
        ),
    )
    return (
        rows.with_columns(chain.alias("_kind"))
        .filter(~k.is_null())
        .join(pending, on="group_id", how="left")
        .with_columns(kind.alias("_kind"), card.alias("_card"))
        .filter(~k.is_null())
        .with_columns(_whole(amount.fill_null(0)).alias("_amount"))
        .with_columns(delta.cast(nw.Int64).alias("_delta"))
        .drop("_pend")
    )


def _keyed(led: Frame, rows: Frame, *, period: str, tz: str, week_start: int) -> Frame:
    """``led`` with ``_key``, the calendar period of ``_ms`` (the zone's offsets
    read over the time range of ``rows``)."""
    offsets = zone_shifts(rows, tz)
    return period_key(
        led, "_ms", "_key", period=period, week_start=week_start, offsets=offsets
    )


def _sum_where(value: nw.Expr, condition: nw.Expr, name: str) -> nw.Expr:
    """The sum of ``value`` over the rows where ``condition`` holds (0 without)."""
    return nw.when(condition).then(value).otherwise(0).sum().cast(nw.Int64).alias(name)


def flows_parts(
    rows: Frame, *, bys: Sequence[str], period: str, tz: str, week_start: int
) -> pl.DataFrame:
    """``points_flows``' engine part, collected: each raw flow summed per period key
    and ``bys``, with ``_rep``, one epoch millisecond of the period."""
    led = _keyed(ledger(rows), rows, period=period, tz=tz, week_start=week_start)
    sums = led.group_by("_key", *bys).agg(
        nw.col("_ms").min().alias("_rep"),
        *[_sum_where(nw.col("_amount"), nw.col("_kind") == k, k) for k in RAW_FLOWS],
    )
    return to_polars(sums)


def breakage_parts(
    rows: Frame, *, period: str, tz: str, week_start: int
) -> pl.DataFrame:
    """``breakage``'s engine part, collected: per earning cohort (period key, with
    ``_rep``), the points earned and the spent, expired and transferred-out points
    attributed to it first-in-first-out (null without any)."""
    credit = nw.col("_delta") > 0
    led = (
        ledger(rows)
        .filter(nw.col("_delta") != 0)
        .with_columns(
            nw.when(credit).then(nw.col("_delta")).otherwise(0).alias("_cin"),
            nw.when(credit).then(0).otherwise(-nw.col("_delta")).alias("_cout"),
        )
        .with_columns(
            nw.col(c).cum_sum().over("_card", order_by=ORDER).cast(nw.Int64).alias(h)
            for c, h in (("_cin", "_in_hi"), ("_cout", "_out_hi"))
        )
    )
    lots = led.filter(
        credit & nw.col("_kind").is_in(["earned", "pending_activated"])
    ).select(
        "_card",
        "_ms",
        (nw.col("_in_hi") - nw.col("_delta")).alias("_lo"),
        nw.col("_in_hi").alias("_hi"),
    )
    lots = _keyed(lots, rows, period=period, tz=tz, week_start=week_start)
    debits = led.filter(~credit).select(
        "_card",
        (nw.col("_out_hi") + nw.col("_delta")).alias("_dlo"),
        nw.col("_out_hi").alias("_dhi"),
        nw.when(nw.col("_kind").is_in(["spent_redemptions", "spent_rewards"]))
        .then(nw.lit("spent"))
        .otherwise(nw.col("_kind"))
        .alias("_dkind"),
    )
    x = nw.col("_x")
    overlap = (
        lots.join(debits, on="_card", how="inner")
        .with_columns(
            (nw.min_horizontal("_hi", "_dhi") - nw.max_horizontal("_lo", "_dlo")).alias(
                "_x"
            )
        )
        .filter(x > 0)
        .group_by("_key")
        .agg(
            _sum_where(x, nw.col("_dkind") == k, k)
            for k in ("spent", "expired", "transferred_out")
        )
    )
    earned = lots.group_by("_key").agg(
        (nw.col("_hi") - nw.col("_lo")).sum().cast(nw.Int64).alias("earned"),
        nw.col("_ms").min().alias("_rep"),
    )
    return to_polars(earned.join(overlap, on="_key", how="left"))


def liability(
    rows: Frame,
    *,
    bys: Sequence[str],
    at_ms: int | None,
    value_per_point: float,
    expected_breakage: float,
) -> Frame:
    """``points_liability`` on the engine: per card, the last reported balance plus
    the later changes without one (or the ledger's sum), then per ``bys`` group."""
    led = ledger(rows)
    if at_ms is not None:
        led = led.filter(nw.col("_ms") < at_ms)
    card = ["_card"]
    has_balance = (~nw.col("balance").is_null()).alias("_hasbal")
    last = [f"_last{i}" for i in range(len(bys))]
    led = led.with_columns(
        has_balance,
        *[(~nw.col(c).is_null()).alias(f"_has{i}") for i, c in enumerate(bys)],
    ).with_columns(
        running_count("_hasbal", card, ORDER).alias("_seen"),
        *[running_count(f"_has{i}", card, ORDER).alias(n) for i, n in enumerate(last)],
    )
    led = led.with_columns(
        nw.col(c).max().over(*card).alias(f"{c}_max") for c in ["_seen", *last]
    )

    def at_last(flag: str, counter: str) -> nw.Expr:
        return nw.col(flag) & (nw.col(counter) == nw.col(f"{counter}_max"))

    per_card = led.group_by(*card).agg(
        *[
            nw.when(at_last(f"_has{i}", n)).then(nw.col(c)).max().alias(c)
            for i, (c, n) in enumerate(zip(bys, last, strict=True))
        ],
        nw.when(at_last("_hasbal", "_seen"))
        .then(nw.col("balance"))
        .max()
        .alias("_bal"),
        _sum_where(
            nw.col("_delta"),
            (nw.col("_seen") == nw.col("_seen_max")) & ~nw.col("_hasbal"),
            "_after",
        ),
        nw.col("_delta").sum().cast(nw.Int64).alias("_all"),
    )
    outstanding = nw.max_horizontal(
        nw.when(~nw.col("_bal").is_null())
        .then(nw.col("_bal") + nw.col("_after"))
        .otherwise(nw.col("_all")),
        nw.lit(0),
    )
    per_card = per_card.with_columns(_whole(outstanding).alias("_out"))
    aggs = [
        nw.len().cast(nw.Int64).alias("cards"),
        nw.col("_out").sum().cast(nw.Int64).alias("outstanding_points"),
    ]
    grouped = (
        per_card.group_by(*bys).agg(aggs)
        if bys
        else per_card.select(aggs).with_columns(
            nw.col("outstanding_points").fill_null(0)
        )
    )
    vpp = nw.lit(float(value_per_point)).cast(nw.Float64)
    keep = nw.lit(1 - float(expected_breakage)).cast(nw.Float64)
    out = grouped.with_columns(
        vpp.alias("value_per_point"),
        nw.lit(float(expected_breakage)).cast(nw.Float64).alias("expected_breakage"),
        (nw.col("outstanding_points").cast(nw.Float64) * vpp * keep).alias("liability"),
    )
    return out.sort(*bys, nulls_last=True) if bys else out
