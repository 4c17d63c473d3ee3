"""The portable campaign analyses: the engine part of
:func:`~activity_toolkit.analysis.coupon_funnel` and
:func:`~activity_toolkit.analysis.campaign_summary`, written once in narwhals.

Input: the stacked typed rows of the publication, validation, redemption and order
families (the columns :func:`~activity_toolkit.analysis.typed_events` gives), as any
engine frame of :mod:`._engine`. Each function returns small aggregates, computed by
the engine; :mod:`.campaigns` collects them and builds the result's list columns
locally (narwhals cannot build list columns on an engine).

Where the local code takes "the first" or "the last" row of a group in frame order
(a voucher code's campaign, a campaign's name, a paid order's amount), the portable
definition takes the first or last by ``(created_at, id)``: the same rows when the
input is in that order, as an :class:`~activity_toolkit.ActivityLog`'s typed frames
are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals as nw

from activity_toolkit.analysis._engine import (
    nw_dtype,
    polars_quantiles,
    require,
    row_number,
    to_polars,
    unpivot,
    with_epoch_ms,
)
from activity_toolkit.analysis._typed import family_types, typed_schema
from activity_toolkit.exceptions import MissingColumnsError

__all__ = [
    "CANCELED",
    "PAID",
    "PUB",
    "PUB_FAIL",
    "RED",
    "RED_FAIL",
    "ROLLBACK",
    "TYPE_COUNTS",
    "VAL",
    "VAL_FAIL",
    "campaign_parts",
    "chosen_publications",
    "coupon_parts",
    "coupon_units",
    "known_campaigns",
    "typed_frame",
]

Frame = nw.LazyFrame[Any]
UNIT = ["customer_id", "voucher_code"]
ORDER = ["_ms", "id"]

PUB = "customer.publication.succeeded"
PUB_FAIL = "customer.publication.failed"
VAL = "customer.validation.succeeded"
VAL_FAIL = "customer.validation.failed"
RED = "customer.redemption.succeeded"
RED_FAIL = "customer.redemption.failed"
ROLLBACK = "customer.redemption.rollback.succeeded"
PAID = "customer.order.paid"
CANCELED = "customer.order.canceled"
#: The event counts of ``campaign_summary``: column -> event type.
TYPE_COUNTS = {
    "publications": PUB,
    "publications_failed": PUB_FAIL,
    "validations_valid": VAL,
    "validations_invalid": VAL_FAIL,
    "redemptions_succeeded": RED,
    "redemptions_failed": RED_FAIL,
    "rollbacks": ROLLBACK,
}


def typed_frame(
    lf: Frame, *, families: Sequence[str], typed: Sequence[str], what: str
) -> Frame:
    """:func:`~activity_toolkit.analysis._typed.typed_input` for an engine frame:
    the needed columns (an ``id`` is required: engines have no row order), missing
    typed columns as nulls, ``_ms`` (epoch ms of ``created_at``) and only the rows of
    ``families``."""
    have = require(lf, ["customer_id", "type", "created_at", "id"], what=what)
    if typed and not any(c in have for c in typed):
        raise MissingColumnsError(typed, list(have), what=f"{what} (typed columns)")
    schema = typed_schema(families)
    cols = ["customer_id", "type", "created_at", "id", *[c for c in typed if c in have]]
    lf = lf.select(
        *cols,
        *[
            nw.lit(None).cast(nw_dtype(schema[c])).alias(c)
            for c in typed
            if c not in have
        ],
    )
    return with_epoch_ms(lf, "created_at", "_ms").filter(
        nw.col("type").is_in(family_types(families))
    )


def _first_by_time(lf: Frame, over: Sequence[str], *, last: bool = False) -> Frame:
    """The first (or last) row of each ``over`` group in ``(created_at, id)``
    order."""
    rank = nw.col("_ms").cum_count(reverse=last).over(*over, order_by=ORDER)
    return (
        lf.with_columns(rank.alias("_rank")).filter(nw.col("_rank") == 1).drop("_rank")
    )


def _with_campaign(lf: Frame) -> Frame:
    """Campaign id and name of events that only carry a voucher code, from the
    first event of the same code that has them."""
    coded = lf.filter(
        ~nw.col("voucher_code").is_null() & ~nw.col("campaign_id").is_null()
    )
    cid = _first_by_time(coded, ["voucher_code"]).select(
        "voucher_code", nw.col("campaign_id").alias("_cid")
    )
    cname = _first_by_time(
        coded.filter(~nw.col("campaign_name").is_null()), ["voucher_code"]
    ).select("voucher_code", nw.col("campaign_name").alias("_cname"))
    return (
        lf.join(cid, on="voucher_code", how="left")
        .join(cname, on="voucher_code", how="left")
        .with_columns(
            nw.coalesce("campaign_id", "_cid").alias("campaign_id"),
            nw.coalesce("campaign_name", "_cname").alias("campaign_name"),
        )
        .drop("_cid", "_cname")
    )


def campaign_parts(lf: Frame, *, top: int) -> tuple[Frame, Frame]:
    """``campaign_summary``'s two engine queries: one row per campaign with every
    count and amount (no list columns), and the top ``top`` redemption failure
    codes per campaign (``campaign_id``, ``code``, ``count``, ``_rank``)."""
    ev = _with_campaign(lf).filter(~nw.col("campaign_id").is_null())
    t = nw.col("type")
    disc = nw.col("order_total_discount_amount").fill_null(0)
    counts = (
        ev.with_columns(
            nw.when(t == RED).then(disc).otherwise(0).alias("_dr"),
            nw.when(t == ROLLBACK).then(disc).otherwise(0).alias("_db"),
        )
        .group_by("campaign_id")
        .agg(
            *[
                (t == type_).cast(nw.Int64).sum().cast(nw.Int64).alias(name)
                for name, type_ in TYPE_COUNTS.items()
            ],
            (nw.col("_dr").sum() - nw.col("_db").sum())
            .cast(nw.Int64)
            .alias("discount_given"),
        )
    )
    names = _first_by_time(
        ev.filter(~nw.col("campaign_name").is_null()), ["campaign_id"]
    ).select("campaign_id", "campaign_name")
    customers = (
        ev.filter(~nw.col("customer_id").is_null())
        .select("campaign_id", "customer_id")
        .unique()
        .group_by("campaign_id")
        .agg(nw.len().cast(nw.Int64).alias("customers"))
    )
    redeemed = (
        ev.filter((t == RED) & ~nw.col("order_id").is_null())
        .select("campaign_id", "order_id")
        .unique()
    )
    paid = _first_by_time(
        lf.filter((t == PAID) & ~nw.col("order_id").is_null()), ["order_id"], last=True
    ).select("order_id", "order_total_amount")
    revenue = (
        redeemed.join(paid, on="order_id", how="inner")
        .group_by("campaign_id")
        .agg(nw.col("order_total_amount").sum().cast(nw.Int64).alias("order_revenue"))
    )
    out = (
        counts.join(names, on="campaign_id", how="left")
        .join(customers, on="campaign_id", how="left")
        .join(revenue, on="campaign_id", how="left")
        .with_columns(
            nw.col("customers").fill_null(0),
            nw.col("order_revenue").fill_null(0),
        )
    )
    codes = (
        ev.filter(t == RED_FAIL)
        .with_columns(nw.col("failure_code").fill_null("(none)").alias("code"))
        .group_by("campaign_id", "code")
        .agg(nw.len().cast(nw.Int64).alias("count"))
        .with_columns((-nw.col("count")).alias("_neg"))
        .with_columns(row_number(["campaign_id"], ["_neg", "code"]).alias("_rank"))
        .filter(nw.col("_rank") <= top)
        .select("campaign_id", "code", "count", "_rank")
    )
    return out, codes


def known_campaigns(lf: Frame) -> list[str]:
    """The campaign ids and names on the engine's events (for the typo check)."""
    values = nw.concat(
        [
            lf.select(nw.col(c).cast(nw.String).alias("campaign"))
            for c in ("campaign_id", "campaign_name")
        ],
        how="vertical",
    )
    found = to_polars(values.filter(~nw.col("campaign").is_null()).unique())
    return sorted(found["campaign"].to_list())


def chosen_publications(lf: Frame, campaign: str | Sequence[str] | None) -> Frame:
    """The succeeded publications of a voucher code to a customer, of the chosen
    campaigns (ids or names; a name selects every campaign id that carries it on
    any event). The local path runs this too, over its Polars LazyFrame."""
    pubs = lf.filter(
        (nw.col("type") == PUB)
        & ~nw.col("voucher_code").is_null()
        & ~nw.col("customer_id").is_null()
    )
    if campaign is not None:
        names = [campaign] if isinstance(campaign, str) else list(campaign)
        named = (
            lf.filter(
                nw.col("campaign_name").is_in(names) & ~nw.col("campaign_id").is_null()
            )
            .select("campaign_id")
            .unique()
            .with_columns(nw.lit(value=True).alias("_named"))
        )
        pubs = (
            pubs.join(named, on="campaign_id", how="left")
            .filter(
                nw.col("campaign_id").is_in(names).fill_null(value=False)
                | nw.col("campaign_name").is_in(names).fill_null(value=False)
                | nw.col("_named").fill_null(value=False)
            )
            .drop("_named")
        )
    return pubs


def _published_units(lf: Frame, campaign: str | Sequence[str] | None) -> Frame:
    return (
        chosen_publications(lf, campaign)
        .group_by(UNIT)
        .agg(nw.col("_ms").min().alias("_t1"))
    )


def _first_after(
    cur: Frame,
    events: Frame,
    *,
    on: list[str],
    prev: str,
    name: str,
    carry: Sequence[str] = (),
    last: bool = False,
) -> Frame:
    """``cur`` plus ``name``: the time of the unit's first event (last with
    ``last=True``) of ``events`` at or after ``prev`` (ties allowed, then broken by
    id), and the ``carry`` columns of that event (null when there is none).

    One left join and one window, so that ``cur`` is read once: engines without
    common-subplan reuse (DuckDB) would compute it again for a second reference.
    """
    ev = events.select(
        *on,
        nw.col("_ms").alias("_ems"),
        nw.col("id").alias("_eid"),
        *[nw.col(c).alias(f"_e{c}") for c in carry],
    )
    ok = (nw.col("_ems") >= nw.col(prev)).fill_null(value=False).cast(nw.Int64)
    # matching events first (last), each in (time, id) order; a unit without one
    # keeps a single row whose found columns are nulled
    order = ["_ok", "_ems", "_eid"] if last else ["_nok", "_ems", "_eid"]
    rank = nw.col("_one").cum_count(reverse=last).over(*UNIT, order_by=order)
    found = nw.col("_ok") == 1
    return (
        cur.join(ev, on=on, how="left")
        .with_columns(ok.alias("_ok"), nw.lit(1).alias("_one"))
        .with_columns((1 - nw.col("_ok")).alias("_nok"))
        .with_columns(rank.alias("_rank"))
        .filter(nw.col("_rank") == 1)
        .with_columns(
            nw.when(found).then(nw.col("_ems")).alias(name),
            *[nw.when(found).then(nw.col(f"_e{c}")).alias(c) for c in carry],
        )
        .drop(
            "_ems", "_eid", "_ok", "_nok", "_one", "_rank", *[f"_e{c}" for c in carry]
        )
    )


def _coded(lf: Frame, type_: str) -> Frame:
    return lf.filter(~nw.col("voucher_code").is_null() & (nw.col("type") == type_))


def coupon_units(lf: Frame, campaign: str | Sequence[str] | None) -> Frame:
    """The units of ``coupon_funnel`` (customer, voucher code), one chain of joins:
    the step it stopped before (``step`` 2, 3 or 4; null for a unit that paid) and
    its ``reason``, the steps it reached (``_h1``…``_h4``), whether its redemption
    was rolled back (``_rolled``), and its step durations ``_d2``…``_d4`` (ms; -1
    when not reached)."""
    sel = ["customer_id", "voucher_code", "_ms", "id"]
    units = _published_units(lf, campaign)
    units = _first_after(
        units, _coded(lf, VAL).select(sel), on=UNIT, prev="_t1", name="_t2"
    )
    units = _first_after(
        units,
        _coded(lf, RED).select(*sel, "order_id"),
        on=UNIT,
        prev="_t2",
        name="_t3",
        carry=("order_id",),
    )
    paid = lf.filter((nw.col("type") == PAID) & ~nw.col("order_id").is_null()).select(
        "customer_id", "order_id", "_ms", "id"
    )
    units = _first_after(
        units, paid, on=["customer_id", "order_id"], prev="_t3", name="_t4"
    )
    rollbacks = (
        _coded(lf, ROLLBACK).group_by(UNIT).agg(nw.col("_ms").min().alias("_rb"))
    )
    canceled = (
        lf.filter((nw.col("type") == CANCELED) & ~nw.col("order_id").is_null())
        .select("order_id")
        .unique()
        .with_columns(nw.lit(value=True).alias("_canceled"))
    )
    units = units.join(rollbacks, on=UNIT, how="left").join(
        canceled, on="order_id", how="left"
    )
    # the last failed validation after publication, the last failed redemption
    # after validation; a failure event without a code counts as "(unknown)"
    for type_, after, name in (
        (VAL_FAIL, "_t1", "_fval"),
        (RED_FAIL, "_t2", "_fred"),
    ):
        failures = _coded(lf, type_).select(*sel, nw.col("failure_code").alias(name))
        units = _first_after(
            units,
            failures,
            on=UNIT,
            prev=after,
            name=f"{name}_at",
            carry=(name,),
            last=True,
        ).with_columns(
            nw.when(~nw.col(f"{name}_at").is_null())
            .then(nw.col(name).fill_null("(unknown)"))
            .alias(name)
        )
    rolled = (
        ~nw.col("_t3").is_null()
        & (nw.col("_rb") >= nw.col("_t3")).fill_null(value=False)
    ).fill_null(value=False)
    units = units.with_columns(rolled.alias("_rolled"))
    stop = (
        nw.when(nw.col("_t2").is_null())
        .then(nw.lit(2))
        .when(nw.col("_t3").is_null())
        .then(nw.lit(3))
        .when(nw.col("_t4").is_null())
        .then(nw.lit(4))
    )
    reason = (
        nw.when(nw.col("_t2").is_null())
        .then(nw.col("_fval").fill_null("(no attempt)"))
        .when(nw.col("_t3").is_null())
        .then(nw.col("_fred").fill_null("(no attempt)"))
        .when(nw.col("_t4").is_null() & nw.col("_rolled"))
        .then(nw.lit("rolled back"))
        .when(nw.col("_t4").is_null() & nw.col("_canceled").fill_null(value=False))
        .then(nw.lit("order canceled"))
        .when(nw.col("_t4").is_null())
        .then(nw.lit("(not paid)"))
    )
    reached = [
        (~nw.col(f"_t{k}").is_null()).cast(nw.Int64).alias(f"_h{k}")
        for k in range(1, 5)
    ]
    return units.select(
        stop.cast(nw.Int64).alias("step"),
        reason.alias("reason"),
        *reached,
        nw.col("_rolled").cast(nw.Int64),
        # -1 stands for null through the unpivot (see polars_quantiles)
        *[
            (nw.col(f"_t{k}") - nw.col(f"_t{k - 1}")).fill_null(-1).alias(f"_d{k}")
            for k in (2, 3, 4)
        ],
        nw.lit(0).cast(nw.Int64).alias("_r"),
    )


def coupon_parts(lf: Frame, campaign: str | Sequence[str] | None) -> Frame:
    """``coupon_funnel``'s engine query: :func:`coupon_units` in long form (a row
    of ``_metric`` ``"_r"`` per unit and one per duration ``"_d2"``…``"_d4"``)
    reduced to rows of (``_metric``, ``step``, ``reason``) — null ``step`` and
    ``reason`` on the duration rows — with ``units`` (the units of that group),
    the group's sums of ``_h1``…``_h4`` and ``_rolled`` (the totals are the sums
    over the ``"_r"`` rows) and ``median``, the median duration on a duration row (no row for a
    duration that no unit has). The counts are window aggregates carried as
    grouping columns of the median, so that the units are read once: DuckDB and
    Spark compute a frame again for every branch that reads it (see
    :func:`~._portable_funnel.summary`)."""
    hits = ["_h1", "_h2", "_h3", "_h4", "_rolled"]
    long = unpivot(
        coupon_units(lf, campaign),
        ["_r", "_d2", "_d3", "_d4"],
        index=["step", "reason", *hits],
        variable_name="_metric",
        value_name="_v",
    )
    is_reason = nw.col("_metric") == "_r"
    long = long.with_columns(
        nw.when(is_reason).then(nw.col("step")).alias("step"),
        nw.when(is_reason).then(nw.col("reason")).alias("reason"),
        nw.when(nw.col("_v") >= 0).then(nw.col("_v")).alias("_v"),
    ).with_columns(
        nw.col("_metric")
        .count()
        .over("_metric", "step", "reason")
        .cast(nw.Int64)
        .alias("units"),
        *[
            nw.col(h).sum().over("_metric", "step", "reason").cast(nw.Int64).alias(h)
            for h in hits
        ],
    )
    return polars_quantiles(
        long, ["_metric", "step", "reason", "units", *hits], "_v", {"median": 0.5}
    )
