"""The portable tier analyses: the engine part of :mod:`.tiers`, written once in
narwhals, and the primitives it shares with :mod:`._portable_points`.

Input: an engine frame of :mod:`._engine` holding the ``tier`` family's rows — the
store's ``tier`` family table (:func:`~activity_toolkit.store_paths`), the stacked
rows of :func:`~activity_toolkit.analysis.typed_events`, or an events table — with
``id``, ``customer_id``, ``campaign_id``, ``type``, ``created_at`` (a timestamp) and
at least one of the tier columns ``tier_id``, ``tier_name``, ``tier_from_id``,
``tier_from_name``, ``tier_to_id``, ``tier_to_name`` (the missing ones are read as
nulls). Rows of other types are ignored.

How the local rules of :mod:`.tiers` are computed per unit (customer and campaign),
with events in ``(created_at, id)`` order and time as epoch milliseconds (``_ms``):

* **The state after each event** is a forward fill within the unit: a running count
  of the events that set a value numbers the runs, and each run takes the value of
  its first row (a window aggregate over the unit and the run). narwhals'
  ``fill_null(strategy=)`` does not run on Ibis.
* **Spells** are the rows where the state changes; the end and its reason are the
  next change's time and kind (``shift(-1)`` over the unit).
* **Calendar periods in a time zone** (:func:`~._engine.period_key`): narwhals converts
  no time zone on an engine, so the zone's UTC offsets over the data's time range
  are read from Polars (:func:`zone_offsets`), applied as a ``when``/``then`` tree on
  the epoch milliseconds, and the local date is split into year, month and day with
  integer arithmetic. Events are grouped by that period key on the engine; the
  period's start is then computed locally by Polars from one event of each group
  (:func:`period_starts`), so it is exactly the local path's bucket.
* **Lists** (``tier_path``): narwhals cannot aggregate into a list; each engine's own
  ordered list aggregation does it (:func:`ordered_list`).

Small results that need a period grid or a Kaplan-Meier curve (``tier_distribution``,
``time_in_tier``) come back as the engine's aggregates; :mod:`.tiers` finishes them
with its local code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals as nw
import polars as pl

from activity_toolkit.analysis._engine import (
    forward_fill,
    ms_range,
    ordered_list,
    period_key,
    period_starts,
    row_number,
    to_polars,
    typed_rows,
    zone_offsets,
)

__all__ = [
    "NONE",
    "PREFIX",
    "TYPED",
    "UNIT",
    "distribution_parts",
    "km_counts",
    "path",
    "period_starts",
    "spells",
    "spells_result",
    "tier_rows",
    "transitions",
    "zone_offsets",
]

Frame = nw.LazyFrame[Any]

UNIT = ["customer_id", "campaign_id"]
ORDER = ["_ms", "id"]
NONE = "\x00none"
PREFIX = "customer.loyalty.tier."
TYPED = (
    "tier_id",
    "tier_name",
    "tier_from_id",
    "tier_from_name",
    "tier_to_id",
    "tier_to_name",
)


# -- the tier analyses ------------------------------------------------------------------


def tier_rows(lf: Frame) -> Frame:
    """The tier events of an engine frame, checked, with ``_ms``."""
    return typed_rows(
        lf,
        families=["tier"],
        required=["customer_id", "campaign_id", "type"],
        typed=TYPED,
        what="tier events",
    )


def _states(rows: Frame) -> Frame:
    """The unit's events with the state after each: ``_sid``/``_sname`` (``NONE``
    when not in a tier), ``_kind`` (type suffix) and ``_change``."""
    kind = nw.col("_kind")
    sets_to = ~nw.col("tier_to_id").is_null() & kind.is_in(["upgraded", "downgraded"])
    raw_id = (
        nw.when(kind == "left")
        .then(nw.lit(NONE))
        .when(sets_to)
        .then(nw.col("tier_to_id"))
        .when(kind == "joined")
        .then(nw.col("tier_id"))
    )
    raw_name = (
        nw.when(kind == "left")
        .then(nw.lit(NONE))
        .when(sets_to)
        .then(nw.coalesce("tier_to_name", "tier_to_id"))
        .when(kind == "joined")
        .then(nw.coalesce("tier_name", "tier_id"))
    )
    ev = (
        rows.filter(~nw.col("customer_id").is_null() & ~nw.col("_ms").is_null())
        .with_columns(nw.col("type").str.slice(len(PREFIX)).alias("_kind"))
        .with_columns(raw_id.alias("_rid"), raw_name.alias("_rname"))
    )
    ev = forward_fill(ev, "_rid", "_fid", UNIT, ORDER)
    ev = forward_fill(ev, "_rname", "_fname", UNIT, ORDER)
    ev = ev.with_columns(
        nw.coalesce("_fid", "tier_id").alias("_sid"),
        nw.coalesce("_fname", "tier_name", "tier_id").alias("_sname"),
    ).filter(~nw.col("_sid").is_null())
    prev = nw.col("_sid").shift(1).over(*UNIT, order_by=ORDER)
    return ev.with_columns(prev.alias("_prev")).with_columns(
        (nw.col("_prev").is_null() | (nw.col("_sid") != nw.col("_prev"))).alias(
            "_change"
        )
    )


def spells(rows: Frame) -> Frame:
    """One row per spell: the columns of ``tier_spells`` plus ``_ms`` and ``_ems``
    (start and end in epoch ms) and ``id`` (of the event that started it)."""

    def following(column: str) -> nw.Expr:
        return nw.col(column).shift(-1).over(*UNIT, order_by=ORDER)

    return (
        _states(rows)
        .filter(nw.col("_change"))
        .with_columns(
            following("created_at").alias("end"),
            following("_ms").alias("_ems"),
            following("_kind").alias("_end_kind"),
        )
        .filter(nw.col("_sid") != NONE)
        .select(
            *UNIT,
            nw.col("_sid").alias("tier_id"),
            nw.col("_sname").alias("tier_name"),
            nw.col("created_at").alias("start"),
            "end",
            nw.col("_end_kind").fill_null("open").alias("end_reason"),
            nw.col("_ems").is_null().alias("censored"),
            "_ms",
            "_ems",
            "id",
        )
    )


def _sorted(lf: Frame, by: Sequence[str], columns: Sequence[str]) -> Frame:
    """``lf`` sorted by ``by`` then ``(_ms, id)`` as the local path orders rows
    (nulls last in ``by``, a null ``id`` first), keeping ``columns``."""
    return (
        lf.with_columns((~nw.col("id").is_null()).alias("_idnn"))
        .sort([*by, "_ms", "_idnn", "id"], nulls_last=True)
        .select(*columns)
    )


def spells_result(rows: Frame) -> Frame:
    """``tier_spells`` on the engine, sorted as the local result."""
    columns = [
        *UNIT,
        "tier_id",
        "tier_name",
        "start",
        "end",
        "end_reason",
        "censored",
    ]
    return _sorted(spells(rows), UNIT, columns)


def path(rows: Frame) -> Frame:
    """``tier_path`` on the engine: the state changes of each unit as a list."""
    name = (
        nw.when(nw.col("_sid") == NONE)
        .then(nw.lit("(none)"))
        .otherwise(nw.col("_sname"))
    )
    changes = (
        _states(rows)
        .filter(nw.col("_change"))
        .select(
            *UNIT,
            name.alias("_name"),
            "_ms",
            (~nw.col("id").is_null()).alias("_idnn"),
            nw.col("id").fill_null("").alias("_id"),
        )
    )
    out = ordered_list(changes, UNIT, ["_ms", "_idnn", "_id"], "_name", "path")
    return out.with_columns(
        nw.col("path").list.len().cast(nw.Int64).alias("changes")
    ).sort(UNIT, nulls_last=True)


def _counted(pairs: Frame) -> Frame:
    """``(campaign, from, to)`` pairs counted, with the row share, sorted."""
    row = ["campaign_id", "from_tier"]
    return (
        pairs.group_by("campaign_id", "from_tier", "to_tier")
        .agg(nw.len().cast(nw.Int64).alias("count"))
        .with_columns(
            (nw.col("count") / nw.col("count").sum().over(*row))
            .cast(nw.Float64)
            .alias("share")
        )
        .sort("campaign_id", "from_tier", "to_tier", nulls_last=True)
    )


def transitions(
    rows: Frame, *, lo_ms: int | None, hi_ms: int | None, level: str
) -> Frame:
    """``tier_transitions`` on the engine (``lo_ms``/``hi_ms``: the period's bounds
    floored to the millisecond, as Polars compares a millisecond column with them)."""
    if level == "event":
        ev = rows
        if lo_ms is not None:
            ev = ev.filter(nw.col("_ms") >= lo_ms)
        if hi_ms is not None:
            ev = ev.filter(nw.col("_ms") < hi_ms)
        k = nw.col("type").str.slice(len(PREFIX))
        tier = nw.coalesce("tier_name", "tier_id")
        frm = (
            nw.when(k == "joined")
            .then(nw.lit("none"))
            .when(k == "left")
            .then(tier)
            .otherwise(nw.coalesce("tier_from_name", "tier_from_id"))
        )
        to = (
            nw.when(k == "joined")
            .then(tier)
            .when(k == "left")
            .then(nw.lit("left"))
            .otherwise(nw.coalesce("tier_to_name", "tier_to_id"))
        )
        pairs = ev.filter(k.is_in(["joined", "left", "upgraded", "downgraded"])).select(
            "campaign_id", frm.alias("from_tier"), to.alias("to_tier")
        )
        return _counted(pairs)
    sp = spells(rows)
    if lo_ms is not None:
        sp = sp.filter(nw.col("_ems").is_null() | (nw.col("_ems") >= lo_ms))
    if hi_ms is not None:
        sp = sp.filter(nw.col("_ms") < hi_ms)

    def state_at(t: int | None, default: str) -> nw.Expr:
        # at most one spell of a unit covers a time: the one this gives
        if t is None:
            covers = (
                nw.col("_ems").is_null() if default == "left" else nw.lit(value=False)
            )
        else:
            covers = (nw.col("_ms") < t) & (
                nw.col("_ems").is_null() | (nw.col("_ems") >= t)
            )
        return nw.when(covers).then(nw.col("tier_name")).max().fill_null(default)

    pairs = sp.group_by(*UNIT).agg(
        state_at(lo_ms, "none").alias("from_tier"),
        state_at(hi_ms, "left").alias("to_tier"),
    )
    return _counted(pairs.select("campaign_id", "from_tier", "to_tier"))


def _first_in_spell_order(partition: Sequence[str]) -> nw.Expr:
    """The first spell of each partition in the local path's spell order (customer,
    start, id): the one whose ``tier_name`` its ``first()`` takes."""
    return row_number(partition, ["customer_id", "_ms", "id"]) == 1


def distribution_parts(
    rows: Frame, *, period: str, tz: str, week_start: int
) -> tuple[pl.DataFrame, int | None, int | None]:
    """``tier_distribution``'s engine part: the membership changes per campaign,
    tier and period key (``_d``), one epoch millisecond of each period (``_rep``) and
    the tier's name (``_name``, on one row of each tier), collected; and the first and
    last tier event's epoch milliseconds."""
    lo, hi = ms_range(rows)
    offsets = zone_offsets(tz, lo, hi)
    sp = spells(rows)
    starts = sp.select(
        "campaign_id",
        "tier_id",
        nw.col("_ms").alias("_t"),
        nw.lit(1).cast(nw.Int64).alias("_d"),
        nw.when(_first_in_spell_order(["campaign_id", "tier_id"]))
        .then(nw.col("tier_name"))
        .alias("_name"),
    )
    ends = sp.filter(~nw.col("_ems").is_null()).select(
        "campaign_id",
        "tier_id",
        nw.col("_ems").alias("_t"),
        nw.lit(-1).cast(nw.Int64).alias("_d"),
        nw.lit(None).cast(nw.String).alias("_name"),
    )
    deltas = period_key(
        nw.concat([starts, ends], how="vertical"),
        "_t",
        "_key",
        period=period,
        week_start=week_start,
        offsets=offsets,
    )
    counts = deltas.group_by("campaign_id", "tier_id", "_key").agg(
        nw.col("_d").sum().cast(nw.Int64),
        nw.col("_t").min().alias("_rep"),
        nw.col("_name").max(),
    )
    return to_polars(counts), lo, hi


def km_counts(rows: Frame, *, end_ms: int | None) -> pl.DataFrame:
    """``time_in_tier``'s engine part, collected: per campaign, tier and duration
    (``_dur``, ms; open spells censored at ``end_ms``, default the last tier event),
    the spells that ended (``left``), all spells (``_n``) and the ``tier_name`` of
    the first of them in the local path's spell order."""
    sp = spells(rows)
    if end_ms is None:
        sp = sp.join(rows.select(nw.col("_ms").max().alias("_cens")), how="cross")
    else:
        sp = sp.with_columns(nw.lit(end_ms).cast(nw.Int64).alias("_cens"))
    part = ["campaign_id", "tier_id", "_dur"]
    durations = sp.with_columns(
        (nw.coalesce("_ems", "_cens") - nw.col("_ms")).alias("_dur")
    ).with_columns(
        nw.when(_first_in_spell_order(part)).then(nw.col("tier_name")).alias("_name"),
        (~nw.col("censored")).cast(nw.Int64).alias("_event"),
    )
    counts = durations.group_by(*part).agg(
        nw.col("_name").max().alias("tier_name"),
        nw.col("_event").sum().cast(nw.Int64).alias("left"),
        nw.len().cast(nw.Int64).alias("_n"),
    )
    return to_polars(counts)
