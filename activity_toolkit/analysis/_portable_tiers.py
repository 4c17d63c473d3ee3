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
* **Calendar periods in a time zone** (:func:`with_period_key`): narwhals converts
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
    engine_name,
    require,
    row_number,
    running_count,
    to_polars,
    with_epoch_ms,
)
from activity_toolkit.analysis._periods import bucket
from activity_toolkit.analysis._portable_campaigns import _nw_dtype
from activity_toolkit.analysis._typed import family_types, typed_schema
from activity_toolkit.exceptions import AnalysisInputError, MissingColumnsError

__all__ = [
    "DAY_MS",
    "NONE",
    "PREFIX",
    "TYPED",
    "UNIT",
    "distribution_parts",
    "floor_div",
    "km_counts",
    "ms_range",
    "ordered_list",
    "path",
    "period_starts",
    "spells",
    "spells_result",
    "tier_rows",
    "transitions",
    "typed_rows",
    "with_period_key",
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
DAY_MS = 86_400_000

# -- primitives shared with the points analyses ------------------------------------------


def floor_div(x: nw.Expr, d: int) -> nw.Expr:
    """``x // d`` rounded towards minus infinity, exact on every engine: narwhals'
    ``%`` is a floor modulo everywhere, so ``x - x % d`` is a multiple of ``d`` and
    the division is exact (DuckDB's ``//`` truncates, Spark's divides in doubles)."""
    return ((x - x % d) // d).cast(nw.Int64)


def typed_rows(
    lf: Frame,
    *,
    families: Sequence[str],
    required: Sequence[str],
    typed: Sequence[str],
    optional: Sequence[str] = (),
    what: str,
) -> Frame:
    """The engine's version of :func:`~activity_toolkit.analysis._typed.typed_input`:
    ``required`` columns plus ``created_at`` and ``id`` (engines have no row order),
    at least one of ``typed``; the missing ``typed`` and ``optional`` columns as
    nulls (of the registry's type, else strings); ``_ms``, the epoch milliseconds of
    ``created_at``; only the rows of ``families``."""
    have = require(lf, [*required, "created_at", "id"], what=what)
    if typed and not any(c in have for c in typed):
        raise MissingColumnsError(typed, list(have), what=f"{what} (typed columns)")
    schema = typed_schema(families)
    wanted = list(dict.fromkeys([*required, "created_at", "id", *optional, *typed]))
    lf = lf.select(
        *[
            nw.col(c)
            if c in have
            else nw.lit(None).cast(_nw_dtype(schema.get(c, pl.String()))).alias(c)
            for c in wanted
        ]
    )
    return with_epoch_ms(lf, "created_at", "_ms").filter(
        nw.col("type").is_in(family_types(families))
    )


def ms_range(lf: Frame, column: str = "_ms") -> tuple[int | None, int | None]:
    """The smallest and largest value of an integer column (``None`` when it has no
    value), collected."""
    row = to_polars(
        lf.select(nw.col(column).min().alias("lo"), nw.col(column).max().alias("hi"))
    ).row(0)
    lo, hi = row
    return (None if lo is None else int(lo)), (None if hi is None else int(hi))


def _local_offsets(ms: pl.Series, tz: str) -> pl.Series:
    """Polars' UTC offset of ``tz`` (ms) at each epoch millisecond of ``ms``."""
    utc = pl.from_epoch(ms, time_unit="ms").dt.replace_time_zone("UTC")
    wall = utc.dt.convert_time_zone(tz).dt.replace_time_zone(None)
    return wall.dt.epoch("ms") - ms


#: Offsets are sampled this often; a zone that changes its offset and changes it
#: back within this time between two samples would be missed (none does).
_SAMPLE_MS = 6 * 3_600_000


def zone_offsets(
    tz: str, lo_ms: int | None, hi_ms: int | None
) -> list[tuple[int | None, int]]:
    """The UTC offsets of ``tz`` from ``lo_ms`` to ``hi_ms`` as Polars reads them
    (its own time-zone database): ``[(since_ms, offset_ms), …]`` in time order, the
    first ``since_ms`` ``None`` (the offset before the first change). Each change is
    found to the millisecond by bisection between two samples."""
    if lo_ms is None or hi_ms is None:
        return [(None, 0)]
    start = lo_ms - lo_ms % _SAMPLE_MS
    samples = pl.int_range(start, hi_ms + _SAMPLE_MS, _SAMPLE_MS, eager=True)
    offsets = _local_offsets(samples, tz)
    changed = (offsets != offsets.shift(-1)).fill_null(value=False)
    lo = samples.filter(changed)
    hi = samples.shift(-1).filter(changed)
    a = offsets.filter(changed)
    out: list[tuple[int | None, int]] = [(None, int(offsets[0]))]
    if lo.len():
        # invariant: the offset at lo is a, at hi it is the next one
        while int((hi - lo).max()) > 1:  # type: ignore[arg-type]
            mid = (lo + hi) // 2
            before = _local_offsets(mid, tz) == a
            lo = mid.zip_with(before, lo)
            hi = hi.zip_with(before, mid)
        b = _local_offsets(hi, tz)
        out += [(int(t), int(o)) for t, o in zip(hi, b, strict=True)]
    return out


def _offset_expr(ms: nw.Expr, offsets: Sequence[tuple[int | None, int]]) -> nw.Expr:
    """The offset at ``ms``: a balanced ``when`` tree over the changes (a few
    comparisons per row whatever the number of changes)."""
    if len(offsets) == 1:
        return nw.lit(offsets[0][1]).cast(nw.Int64)
    mid = len(offsets) // 2
    since = offsets[mid][0]
    assert since is not None
    return (
        nw.when(ms >= nw.lit(since).cast(nw.Int64))
        .then(_offset_expr(ms, offsets[mid:]))
        .otherwise(_offset_expr(ms, offsets[:mid]))
    )


def with_period_key(
    lf: Frame,
    ms: str,
    name: str,
    *,
    period: str,
    week_start: int,
    offsets: Sequence[tuple[int | None, int]],
) -> Frame:
    """Add ``name``: an ``Int64`` numbering the calendar periods (``period`` in the
    zone of ``offsets``, weeks starting on ``week_start``, 0 = Monday) of the epoch
    milliseconds ``ms``, consecutive for consecutive periods (null for a null time).

    The local date comes from the offset; year and month from it by integer
    arithmetic (H. Hinnant's ``civil_from_days``), so every engine computes the same
    key. The key groups events exactly as :func:`~._periods.bucket` does on Polars;
    :func:`period_starts` turns it back into the period's start.
    """
    z = f"_z{name}"
    t = nw.col(ms)
    out = lf.with_columns(floor_div(t + _offset_expr(t, offsets), DAY_MS).alias(z))
    if period == "day":
        return out.rename({z: name})
    if period == "week":
        # day 0 (1970-01-01) was a Thursday: weeks from Monday start at day -3
        return out.with_columns(
            floor_div(nw.col(z) + (3 - week_start), 7).alias(name)
        ).drop(z)
    era, doe, yoe, mp = (f"_{p}{name}" for p in ("era", "doe", "yoe", "mp"))
    days = nw.col(z) + 719_468  # days since 0000-03-01
    out = (
        out.with_columns(floor_div(days, 146_097).alias(era))
        .with_columns((days - nw.col(era) * 146_097).alias(doe))  # day of the era
        .with_columns(
            floor_div(
                nw.col(doe)
                - floor_div(nw.col(doe), 1460)
                + floor_div(nw.col(doe), 36_524)
                - floor_div(nw.col(doe), 146_096),
                365,
            ).alias(yoe)
        )
        .with_columns(
            floor_div(
                5
                * (
                    nw.col(doe)
                    - (
                        365 * nw.col(yoe)
                        + floor_div(nw.col(yoe), 4)
                        - floor_div(nw.col(yoe), 100)
                    )
                )
                + 2,
                153,
            ).alias(mp)  # month from March, 0-11
        )
    )
    january = nw.col(mp) >= 10
    year = nw.col(yoe) + nw.col(era) * 400 + january.cast(nw.Int64)
    month0 = nw.when(january).then(nw.col(mp) - 10).otherwise(nw.col(mp) + 2)
    months = year * 12 + month0
    per = {"month": 1, "quarter": 3, "year": 12}[period]
    key = months if per == 1 else floor_div(months, per)
    return out.with_columns(key.cast(nw.Int64).alias(name)).drop(z, era, doe, yoe, mp)


def period_starts(
    frame: pl.DataFrame,
    rep: str,
    name: str,
    *,
    period: str,
    tz: str,
    week_start: int,
) -> pl.DataFrame:
    """``frame`` with ``name``: the start of the period holding the epoch
    millisecond ``rep`` (one event of each period key), as the local path's
    :func:`~._periods.bucket` gives it (``Datetime("ms", tz)``)."""
    at = pl.col(rep).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")
    return frame.with_columns(at.alias(name)).with_columns(
        bucket(name, period, tz, week_start).alias(name)
    )


def ordered_list(
    lf: Frame, by: Sequence[str], order_by: Sequence[str], value: str, name: str
) -> Frame:
    """One row per ``by`` group: ``name``, the group's ``value`` in ``order_by`` order
    (ascending; the order columns must hold no nulls), as a list built by the
    engine's own ordered list aggregation (narwhals has none). Every branch runs in
    ``tests/scale/``."""
    native = lf.to_native()
    engine = engine_name(lf)
    if engine == "polars":
        out: Any = native.group_by(list(by)).agg(
            pl.col(value).sort_by(list(order_by)).alias(name)
        )
    elif engine == "duckdb":
        import duckdb

        col = duckdb.ColumnExpression
        fn = duckdb.FunctionExpression
        item = fn(
            "struct_pack",
            *[col(c).alias(f"o{i}") for i, c in enumerate(order_by)],
            col(value).alias("v"),
        )
        values = fn(
            "list_transform",
            fn("list_sort", fn("list", item)),
            duckdb.LambdaExpression(
                "x", fn("struct_extract", col("x"), duckdb.ConstantExpression("v"))
            ),
        )
        # the group keys as DuckDB prints quoted column expressions
        keys = ", ".join(str(col(c)) for c in by)
        out = native.aggregate([*[col(c) for c in by], values.alias(name)], keys)
    elif engine == "ibis":
        out = native.group_by(list(by)).aggregate(
            **{
                name: native[value].collect(
                    order_by=[native[c] for c in order_by], include_null=True
                )
            }
        )
    elif engine == "pyspark":
        import pyspark.sql.functions as F

        pairs = F.struct(
            *[F.col(c).alias(f"o{i}") for i, c in enumerate(order_by)],
            F.col(value).alias("v"),
        )
        listed = F.transform(F.sort_array(F.collect_list(pairs)), lambda x: x["v"])
        out = native.groupBy(*by).agg(listed.alias(name))
    else:  # pragma: no cover - wrap() and with_epoch_ms() refuse other engines first
        msg = f"engine {engine!r} is not supported by the portable analyses"
        raise AnalysisInputError(msg)
    return nw.from_native(out)  # type: ignore[no-any-return]


def forward_fill(
    lf: Frame, column: str, name: str, over: Sequence[str], order_by: Sequence[str]
) -> Frame:
    """Add ``name``: the last non-null ``column`` up to this row within ``over`` (in
    ``order_by`` order), null before the first. A running count of non-null rows
    numbers the runs; each run takes its first row's value."""
    run, flag = f"_run{name}", f"_set{name}"
    return (
        lf.with_columns((~nw.col(column).is_null()).alias(flag))
        .with_columns(running_count(flag, over, order_by).alias(run))
        .with_columns(
            nw.when(nw.col(flag))
            .then(nw.col(column))
            .max()
            .over(*over, run)
            .alias(name)
        )
        .drop(flag, run)
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
    offsets = zone_offsets(tz, lo, hi) if tz != "UTC" else [(None, 0)]
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
    deltas = with_period_key(
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
