"""The portable funnel: :func:`~activity_toolkit.analysis.funnel`,
:func:`~activity_toolkit.analysis.funnel_units` and the engine part of
:func:`~activity_toolkit.analysis.funnel_trend`, written once in narwhals.

It runs on every engine of :mod:`._engine` and is the reference definition: the
local Polars code of :mod:`.funnel` (faster on one machine) must give the same
numbers, which ``tests/scale/`` checks unit by unit. The semantics are those of
:mod:`.funnel`'s docstring; here is only *how* each mode is computed per unit
(``key``), with events in ``(time, id)`` order and time as integer epoch
milliseconds (``_ms``):

``ordered``
    Rows: the events matching any step or exclusion. For each step k ≥ 2 a running
    count ``_K{k}`` of the unit's s_k events. An attempt starts at an s1 row; step k
    is "the next s_k event after step k-1's row", which is the unit's
    ``(_K{k} at that row + 1)``-th s_k event: an equi-join on ``(key, ordinal)``
    (greedy earliest match, as on Polars).
``strict``
    Rows: every event; ``_pos`` numbers them per unit. Step k is the row at
    ``_pos`` of step 1 + k - 1 if it matches s_k: a join on ``(key, _pos)``.
``unordered``
    Counts of step events in ``[t, t + within]`` for each anchor time t, without a
    time-range join: the anchor's two edges are added as marker rows (before the
    events at t, after the events at t + within) to the unit's event stream, and the
    count is the difference of running sums at the two markers. Hall's condition on
    the counts gives the step reached, as on Polars.
``reached``
    A ``group_by`` on the key (and ``by``): first time of each step.

Exclusions: the next exclusion event after the ``from_step`` event, found by the
same ordinal join, compared with the ``to_step`` event's position (or the window).
``entry="furthest"`` keeps each unit's attempt with the most steps, not excluded
first, earliest first (a row number over that order).

``funnel_trend``: the units are numbered by the calendar period of their entry on the
engine (:func:`~._engine.period_key`: the zone's UTC offsets, read from
Polars for the data's time range, as a ``when`` tree on the epoch milliseconds, and
integer calendar arithmetic) and reduced to a row per period (:func:`trend_parts`);
:mod:`.funnel` names each period with Polars' own ``bucket`` of its first entrant,
checks that its last entrant falls in the same period, and builds the grid locally.

Each query reads the units once: DuckDB and Spark do not reuse a common subplan, so a
second branch over the units would compute the whole funnel again (:func:`summary`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import narwhals as nw

from activity_toolkit.analysis._engine import (
    match_types,
    period_key,
    polars_quantiles,
    require,
    row_number,
    running_count,
    unpivot,
    with_epoch_ms,
)
from activity_toolkit.exceptions import AnalysisInputError

if TYPE_CHECKING:
    from activity_toolkit.analysis.funnel import _Spec

__all__ = [
    "STEP_COLUMNS",
    "SUMMARY_COLUMNS",
    "public_units",
    "summary",
    "trend_parts",
    "trend_span",
    "units",
]

Frame = nw.LazyFrame[Any]
ORDER = ["_ms", "_o"]
#: The leading columns of every funnel-shaped result (``funnel``, ``coupon_funnel``).
STEP_COLUMNS = (
    "step",
    "label",
    "count",
    "conversion",
    "step_conversion",
    "dropped",
    "median_time_from_previous",
)
#: The columns of ``funnel``'s rows after the ``by`` columns (every engine).
SUMMARY_COLUMNS = (
    *STEP_COLUMNS,
    "p90_time_from_previous",
    "median_time_from_start",
    "p90_time_from_start",
)


def _base(lf: Frame, spec: _Spec, until_ms: int | None = None) -> Frame:
    """Keys, breakdown, ``_t`` (the time as given), ``_ms`` (epoch ms), ``_o`` (id)
    and one boolean column per step (``_m1``…) and exclusion (``_x1``…), of the
    rows with a key and a time (up to ``until_ms`` when given)."""
    if spec.id_col is None or spec.id_col not in lf.collect_schema():
        msg = (
            "an engine frame needs an event id column to order same-time events "
            f"(id_col={spec.id_col!r}); engines have no input row order"
        )
        raise AnalysisInputError(msg)
    require(lf, [*spec.keys, spec.time_col, spec.type_col, *spec.bys, spec.id_col])
    cols = list(dict.fromkeys([*spec.keys, *spec.bys, spec.time_col, spec.type_col]))
    lf = lf.select(*cols, nw.col(spec.id_col).alias("_o"))
    lf = with_epoch_ms(lf, spec.time_col, "_ms")
    out = lf.select(
        *spec.keys,
        *[b for b in spec.bys if b not in spec.keys],
        nw.col(spec.time_col).alias("_t"),
        "_ms",
        "_o",
        *[
            match_types(s, spec.type_col).alias(f"_m{k}")
            for k, s in enumerate(spec.steps, 1)
        ],
        *[
            match_types(s, spec.type_col).alias(f"_x{i}")
            for i, (s, _, _) in enumerate(spec.exclusions, 1)
        ],
    )
    out = out.filter(
        nw.all_horizontal(
            *[~nw.col(c).is_null() for c in (*spec.keys, "_ms")], ignore_nulls=False
        )
    )
    return out if until_ms is None else out.filter(nw.col("_ms") <= until_ms)


def _null_like(column: str) -> nw.Expr:
    """A null of ``column``'s type (a typed null literal is not portable)."""
    return nw.when(nw.lit(value=False)).then(nw.col(column))


def _sequence(b: Frame, spec: _Spec) -> Frame:
    """Ordered and strict funnels: one row per unit (its credited attempt)."""
    keys = list(spec.keys)
    n = spec.n
    strict = spec.mode == "strict"
    flags = [f"_m{k}" for k in range(1, n + 1)]
    xflags = [f"_x{i}" for i in range(1, len(spec.exclusions) + 1)]
    rows = (
        b if strict else b.filter(nw.any_horizontal(*flags, *xflags, ignore_nulls=True))
    )
    counted = [] if strict else list(range(2, n + 1))
    rows = rows.with_columns(
        row_number(keys, ORDER).alias("_pos"),
        running_count("_m1", keys, ORDER).alias("_K1"),
        *[running_count(f"_m{k}", keys, ORDER).alias(f"_K{k}") for k in counted],
        *[running_count(x, keys, ORDER).alias(f"_KX{x[2:]}") for x in xflags],
    )

    # what a step's row hands on: the running counts the later steps look up
    def handed(k: int) -> list[nw.Expr]:
        out = [nw.col(f"_K{j}").alias(f"_cK{j}") for j in counted if j > k]
        out += [
            nw.col(f"_KX{i}").alias(f"_ex{i}")
            for i, (_, a, _) in enumerate(spec.exclusions, 1)
            if a == k
        ]
        return out

    first = (
        nw.col("_m1") & (nw.col("_K1") == 1) if spec.entry == "first" else nw.col("_m1")
    )
    att = rows.filter(first).select(
        *keys,
        *[c for c in spec.bys if c not in keys],
        nw.col("_pos").alias("_p1"),
        nw.col("_ms").alias("_ms1"),
        nw.col("_t").alias("_t1"),
        *handed(1),
    )
    for k in range(2, n + 1):
        if strict:
            look = rows.select(
                *keys,
                nw.col("_pos").alias("_need"),
                nw.col(f"_m{k}").alias("_hit"),
                nw.col("_pos").alias(f"_p{k}"),
                nw.col("_ms").alias(f"_ms{k}"),
                nw.col("_t").alias(f"_t{k}"),
                *handed(k),
            )
            need: nw.Expr = nw.when(~nw.col(f"_p{k - 1}").is_null()).then(
                nw.col("_p1") + (k - 1)
            )
        else:
            look = rows.filter(nw.col(f"_m{k}")).select(
                *keys,
                nw.col(f"_K{k}").alias("_need"),
                nw.lit(value=True).alias("_hit"),
                nw.col("_pos").alias(f"_p{k}"),
                nw.col("_ms").alias(f"_ms{k}"),
                nw.col("_t").alias(f"_t{k}"),
                *handed(k),
            )
            need = nw.col(f"_cK{k}") + 1
        # the running counts handed on by step k-1 are used up or replaced by step k's
        used = [c for c in att.collect_schema() if c.startswith("_cK")]
        att = (
            att.with_columns(need.alias("_need"))
            .drop(used)
            .join(look, on=[*keys, "_need"], how="left")
            .drop("_need")
        )
        hit = nw.col("_hit").fill_null(value=False)
        att = att.with_columns(
            nw.when(hit).then(nw.col(f"_p{k}")).alias(f"_p{k}"),
            nw.when(hit).then(nw.col(f"_ms{k}")).alias(f"_ms{k}"),
            nw.when(hit).then(nw.col(f"_t{k}")).alias(f"_t{k}"),
        ).drop("_hit")
    # steps reached: consecutive steps found (and inside the window)
    ok: nw.Expr = nw.lit(value=True)
    oks = [ok]
    for k in range(2, n + 1):
        ok = ok & ~nw.col(f"_p{k}").is_null()
        if spec.within_ms is not None:
            ok = ok & ((nw.col(f"_ms{k}") - nw.col("_ms1")) <= spec.within_ms)
        oks.append(ok.fill_null(value=False))
    att = att.with_columns(
        nw.sum_horizontal(*[o.cast(nw.Int64) for o in oks])
        .cast(nw.Int64)
        .alias("_reach")
    )
    hits = []
    for i, (_, a, bstep) in enumerate(spec.exclusions, 1):
        look = rows.filter(nw.col(f"_x{i}")).select(
            *keys,
            nw.col(f"_KX{i}").alias("_need"),
            nw.col("_pos").alias(f"_xp{i}"),
            nw.col("_ms").alias(f"_xms{i}"),
        )
        att = (
            att.with_columns(
                nw.when(nw.col("_reach") >= a)
                .then(nw.col(f"_ex{i}") + 1)
                .alias("_need")
            )
            .join(look, on=[*keys, "_need"], how="left")
            .drop("_need")
        )
        x = nw.col(f"_xp{i}")
        in_window: nw.Expr = (
            nw.lit(value=True)
            if spec.within_ms is None
            else (nw.col(f"_xms{i}") - nw.col("_ms1")) <= spec.within_ms
        )
        before_to = (
            nw.when(nw.col("_reach") >= bstep)
            .then(x < nw.col(f"_p{bstep}"))
            .otherwise(in_window)
        )
        hits.append((~x.is_null() & before_to).fill_null(value=False))
    excluded = (
        nw.any_horizontal(*hits, ignore_nulls=True) if hits else nw.lit(value=False)
    )
    att = att.with_columns(excluded.alias("_excl"))
    if spec.entry == "furthest":
        att = (
            att.with_columns(
                (-nw.col("_reach")).alias("_nr"),
                nw.col("_excl").cast(nw.Int64).alias("_xi"),
            )
            .with_columns(row_number(keys, ["_nr", "_xi", "_p1"]).alias("_rank"))
            .filter(nw.col("_rank") == 1)
        )
    reached = [nw.col("_reach") >= k for k in range(1, n + 1)]
    return att.select(
        *keys,
        *[c for c in spec.bys if c not in keys],
        nw.col("_reach").cast(nw.Int64).alias("furthest_step"),
        nw.col("_excl").alias("excluded"),
        nw.col("_t1").alias("entered_at"),
        *[
            nw.when(r).then(nw.col(f"_t{k}")).alias(f"step_{k}_at")
            for k, r in enumerate(reached, 1)
        ],
        *[
            nw.when(r).then(nw.col(f"_ms{k}")).alias(f"_sms{k}")
            for k, r in enumerate(reached, 1)
        ],
    )


def _unordered(
    b: Frame, spec: _Spec, defs: list[int], groups: list[tuple[int, ...]]
) -> Frame:
    keys = list(spec.keys)
    n = spec.n
    first_step = {d: defs.index(d) + 1 for d in set(defs)}
    gcols = [f"_g{i}" for i in range(len(groups))]
    flags = [f"_m{k}" for k in range(1, n + 1)]
    ev = (
        b.filter(nw.any_horizontal(*flags, ignore_nulls=True))
        .with_columns(row_number(keys, ORDER).alias("_pos"))
        .with_columns(
            nw.any_horizontal(
                *[nw.col(f"_m{first_step[d]}") for d in g], ignore_nulls=True
            )
            .cast(nw.Int64)
            .alias(c)
            for g, c in zip(groups, gcols, strict=True)
        )
    )
    anchors = ev if spec.entry == "furthest" else ev.filter(nw.col("_pos") == 1)
    anchors = anchors.drop(gcols)
    if spec.within_ms is None:
        counts = ev.group_by(keys).agg(nw.col(gcols).sum().cast(nw.Int64))
        anchors = anchors.join(counts, on=keys, how="left")
    else:
        # running sums at two markers per anchor time: before the events at t and
        # after the events at t + within (kind -1 / +1 sort around the events' 0)
        times = anchors.select(*keys, nw.col("_ms").alias("_a")).unique()
        zero = [nw.lit(0).cast(nw.Int64).alias(c) for c in gcols]

        def marker(kind: int, at: nw.Expr) -> Frame:
            return times.select(
                *keys,
                at.cast(nw.Int64).alias("_ms"),
                nw.lit(kind).cast(nw.Int64).alias("_kind"),
                nw.col("_a").cast(nw.Int64),
                *zero,
            )

        stream = nw.concat(
            [
                ev.select(
                    *keys,
                    nw.col("_ms").cast(nw.Int64),
                    nw.lit(0).cast(nw.Int64).alias("_kind"),
                    nw.lit(None).cast(nw.Int64).alias("_a"),
                    *[nw.col(c).cast(nw.Int64) for c in gcols],
                ),
                marker(-1, nw.col("_a")),
                marker(1, nw.col("_a") + spec.within_ms),
            ],
            how="vertical",
        )
        sums = stream.with_columns(
            nw.col(c)
            .cum_sum()
            .over(*keys, order_by=["_ms", "_kind"])
            .cast(nw.Int64)
            .alias(c)
            for c in gcols
        )
        counts = (
            sums.filter(nw.col("_kind") != 0)
            .with_columns((nw.col(c) * nw.col("_kind")).alias(c) for c in gcols)
            .group_by(*keys, "_a")
            .agg(nw.col(gcols).sum().cast(nw.Int64))
            .rename({"_a": "_ms"})
        )
        anchors = anchors.join(counts, on=[*keys, "_ms"], how="left")
    oks = []
    ok: nw.Expr = nw.lit(value=True)
    for k in range(1, n + 1):
        for g, c in zip(groups, gcols, strict=True):
            need = sum(1 for d in defs[:k] if d in g)
            if need:
                ok = ok & (nw.col(c) >= need)
        oks.append(ok.fill_null(value=False))
    best = (
        anchors.with_columns(
            nw.sum_horizontal(*[o.cast(nw.Int64) for o in oks])
            .cast(nw.Int64)
            .alias("_reach")
        )
        .with_columns((-nw.col("_reach")).alias("_nr"))
        .with_columns(row_number(keys, ["_nr", "_pos"]).alias("_rank"))
        .filter(nw.col("_rank") == 1)
    )
    return best.select(
        *keys,
        *[c for c in spec.bys if c not in keys],
        nw.col("_reach").alias("furthest_step"),
        nw.lit(value=False).alias("excluded"),
        nw.col("_t").alias("entered_at"),
        *[_null_like("_t").alias(f"step_{k}_at") for k in range(1, n + 1)],
        *[_null_like("_ms").alias(f"_sms{k}") for k in range(1, n + 1)],
    )


def _reached(b: Frame, spec: _Spec) -> Frame:
    keys = list(spec.keys)
    n = spec.n
    group = [*keys, *[c for c in spec.bys if c not in keys]]
    flags = [f"_m{k}" for k in range(1, n + 1)]
    ev = b.filter(nw.any_horizontal(*flags, ignore_nulls=True)).with_columns(
        *[
            nw.when(nw.col(f"_m{k}")).then(nw.col("_t")).alias(f"_tt{k}")
            for k in range(1, n + 1)
        ],
        *[
            nw.when(nw.col(f"_m{k}")).then(nw.col("_ms")).alias(f"_tm{k}")
            for k in range(1, n + 1)
        ],
    )
    out = ev.group_by(group).agg(
        nw.col("_t").min().alias("entered_at"),
        *[nw.col(f"_tt{k}").min().alias(f"step_{k}_at") for k in range(1, n + 1)],
        *[nw.col(f"_tm{k}").min().alias(f"_sms{k}") for k in range(1, n + 1)],
    )
    if spec.exclusions:
        xflags = [f"_x{i}" for i in range(1, len(spec.exclusions) + 1)]
        excl = (
            b.filter(nw.any_horizontal(*xflags, ignore_nulls=True))
            .select(*keys)
            .unique()
            .with_columns(nw.lit(value=True).alias("excluded"))
        )
        out = out.join(excl, on=keys, how="left").with_columns(
            nw.col("excluded").fill_null(value=False)
        )
    else:
        out = out.with_columns(nw.lit(value=False).alias("excluded"))
    return out.select(
        *group,
        nw.lit(None).cast(nw.Int64).alias("furthest_step"),
        "excluded",
        "entered_at",
        *[f"step_{k}_at" for k in range(1, n + 1)],
        *[f"_sms{k}" for k in range(1, n + 1)],
    )


def units(
    lf: Frame,
    spec: _Spec,
    defs: list[int],
    groups: list[tuple[int, ...]],
    *,
    until_ms: int | None = None,
) -> Frame:
    """The rows of :func:`funnel_units` plus ``_sms1``… (the step times in epoch
    ms, for :func:`summary`), from the events up to ``until_ms`` (all by default).
    ``defs``/``groups`` are :func:`~activity_toolkit.analysis.funnel._step_groups`
    of the spec (unordered mode only)."""
    b = _base(lf, spec, until_ms)
    if spec.mode in ("ordered", "strict"):
        out = _sequence(b, spec)
    elif spec.mode == "unordered":
        out = _unordered(b, spec, defs, groups)
    else:
        out = _reached(b, spec)
    return out


def public_units(units_: Frame, spec: _Spec) -> Frame:
    """:func:`units` without the internal ``_sms`` columns, sorted by key and
    ``by`` (nulls last), as :func:`funnel_units` returns them."""
    by = [*spec.keys, *[c for c in spec.bys if c not in spec.keys]]
    drop = [f"_sms{k}" for k in range(1, spec.n + 1)]
    return units_.drop(drop).sort(by, nulls_last=True)


def _hit(spec: _Spec, k: int) -> nw.Expr:
    """1 when a row of :func:`units` counts at step ``k`` (as in ``funnel``'s
    counts), else 0."""
    reached = (
        ~nw.col(f"step_{k}_at").is_null()
        if spec.mode == "reached"
        else nw.col("furthest_step") >= k
    )
    return reached.cast(nw.Int64)


def summary(units_: Frame, spec: _Spec, source: Frame) -> Frame:
    """The rows of :func:`funnel` from :func:`units` (durations as ``Int64``
    milliseconds, floored as Polars' ``Duration("ms")`` cast does). ``source`` is
    the input frame: its first zero rows give the empty aggregate that makes a row
    for every step when there is no ``by`` and no unit.

    The units are read **once**, by one chain: per unit, a hit flag per step and
    (ordered and strict modes) the step-to-step and from-start durations, all
    unpivoted into ``(by, metric, step, value)`` rows. Step counts are a window
    sum of the hit rows, carried as a grouping column (constant in each group) of
    the duration quantiles (:func:`~._engine.polars_quantiles`); one ``group_by``
    pivots them back. An engine without common-subplan reuse (DuckDB, Spark)
    computes a frame again for each query branch that reads it: with separate
    count and duration branches the units were computed twice (on 3M events on
    DuckDB a 3.2 GB peak, against 1.7 GB now, as for ``funnel_units``).
    """
    n = spec.n
    bys = [c for c in spec.bys if c not in spec.keys]
    timed = spec.mode in ("ordered", "strict") and n > 1
    hit_cols = [f"_cc|{k:03d}" for k in range(1, n + 1)]
    hits = [_hit(spec, k).alias(c) for k, c in enumerate(hit_cols, 1)]
    gap_cols = (
        [f"_d{w}|{k:03d}" for k in range(2, n + 1) for w in "ps"] if timed else []
    )
    # -1 stands for null (a unit that did not reach the step) through the unpivot,
    # whose DuckDB version drops nulls; Polars' quantile counts the nulls (see
    # polars_quantiles)
    gaps = (
        [
            (nw.col(f"_sms{k}") - nw.col(first)).fill_null(-1).alias(name)
            for k in range(2, n + 1)
            for first, name in (
                (f"_sms{k - 1}", f"_dp|{k:03d}"),
                ("_sms1", f"_ds|{k:03d}"),
            )
        ]
        if timed
        else []
    )
    wide = units_.filter(~nw.col("excluded")).select(*bys, *hits, *gaps)
    long = unpivot(
        wide,
        [*hit_cols, *gap_cols],
        index=bys,
        variable_name="_var",
        value_name="_v",
    )
    if not bys:
        # zero hits for every step, from an aggregate of no rows (engines skip the
        # scan under a zero limit)
        nothing = source.head(0).select(
            nw.len().cast(nw.Int64).alias(c) for c in hit_cols
        )
        zeros = unpivot(
            nothing, hit_cols, index=[], variable_name="_var", value_name="_v"
        )
        long = nw.concat([long, zeros], how="vertical")
    long = _split_var(long)
    is_count = nw.col("_metric") == "_cc"
    if timed:
        count = (
            nw.when(is_count)
            .then(nw.col("_v"))
            .otherwise(0)
            .sum()
            .over(*bys, "_metric", "step")
            .cast(nw.Int64)
        )
        stats = polars_quantiles(
            long.with_columns(
                count.alias("_cnt"),
                nw.when(nw.col("_v") >= 0).then(nw.col("_v")).alias("_v"),
            ),
            [*bys, "_metric", "step", "_cnt"],
            "_v",
            {"_q50": 0.5, "_q90": 0.9},
        )

        def metric_value(metric: str, column: str) -> nw.Expr:
            return nw.when(nw.col("_metric") == metric).then(nw.col(column)).max()

        per_step = stats.group_by(*bys, "step").agg(
            metric_value("_cc", "_cnt").alias("count"),
            metric_value("_dp", "_q50").alias("_mp"),
            metric_value("_dp", "_q90").alias("_qp"),
            metric_value("_ds", "_q50").alias("_ms"),
            metric_value("_ds", "_q90").alias("_qs"),
        )
    else:
        per_step = (
            long.group_by(*bys, "step")
            .agg(nw.col("_v").sum().alias("count"))
            .with_columns(
                nw.lit(None).cast(nw.Int64).alias(m)
                for m in ("_mp", "_qp", "_ms", "_qs")
            )
        )
    durations = {
        "_mp": "median_time_from_previous",
        "_qp": "p90_time_from_previous",
        "_ms": "median_time_from_start",
        "_qs": "p90_time_from_start",
    }
    label = nw.lit(None).cast(nw.String)
    for k, s in reversed(list(enumerate(spec.steps, 1))):
        label = nw.when(nw.col("step") == k).then(nw.lit(s.label)).otherwise(label)
    part = bys or ["_one"]
    out = per_step.with_columns(
        nw.col("count").fill_null(0).cast(nw.Int64),
        label.alias("label"),
        nw.lit(1).alias("_one"),
        *[nw.col(m).cast(nw.Int64).alias(name) for m, name in durations.items()],
    )
    first = nw.when(nw.col("step") == 1).then(nw.col("count")).max().over(*part)
    prev = nw.col("count").shift(1).over(*part, order_by="step")
    out = (
        out.with_columns(first.alias("_first"), prev.alias("_prev"))
        .with_columns(
            nw.when(nw.col("step") == 1)
            .then(nw.col("count"))
            .otherwise(nw.col("_prev"))
            .alias("_prev")
        )
        .with_columns(
            nw.when(nw.col("_first") > 0)
            .then(nw.col("count") / nw.col("_first"))
            .alias("conversion"),
            nw.when(nw.col("_prev") > 0)
            .then(nw.col("count") / nw.col("_prev"))
            .alias("step_conversion"),
            (nw.col("_prev") - nw.col("count")).cast(nw.Int64).alias("dropped"),
        )
    )
    return out.select(*bys, *SUMMARY_COLUMNS).sort([*bys, "step"], nulls_last=True)


def _split_var(long: Frame) -> Frame:
    """``_var`` names such as ``"_dp|002"`` split into ``_metric`` and ``step``."""
    return long.with_columns(
        nw.col("_var").str.slice(0, 3).alias("_metric"),
        nw.col("_var").str.slice(4, 3).cast(nw.Int64).alias("step"),
    )


# -- conversion over time ----------------------------------------------------------------


def trend_span(lf: Frame, spec: _Spec, until_ms: int | None) -> Frame:
    """``funnel_trend``'s first, small query: one row with ``lo`` and ``hi``, the
    first and last epoch ms of the events the funnel reads (a key and a time, up
    to ``until_ms``; null without such events)."""
    return _base(lf, spec, until_ms).select(
        nw.col("_ms").min().alias("lo"), nw.col("_ms").max().alias("hi")
    )


def trend_parts(
    lf: Frame,
    spec: _Spec,
    defs: list[int],
    groups: list[tuple[int, ...]],
    *,
    period: str,
    week_start: int,
    offsets: Sequence[tuple[int | None, int]],
    until_ms: int | None,
) -> Frame:
    """``funnel_trend``'s aggregate, computed by the engine: per calendar period of
    entry (``_p``, :func:`~._engine.period_key` of ``entered_at`` with
    the zone's ``offsets``), ``entered`` and ``converted`` units (excluded ones left
    out) and ``_lo`` / ``_hi``, the first and last entry (epoch ms), from which the
    local code names the period with Polars' own calendar.

    Ordered and strict funnels of two steps or more also give the median time to
    convert (ms) of the converted units: ``median`` on the row whose ``_hn`` is 1
    (a period has a row with ``_hn`` 0 when some entrant did not convert). The
    counts are window sums carried as grouping columns of the quantile, so that the
    units are read once (see :func:`summary`).
    """
    n = spec.n
    timed = spec.mode in ("ordered", "strict") and n > 1
    # the time to convert of a converted unit; 0 for the others, whose rows only
    # carry the counts (a null would count in Polars' quantile)
    took = (
        [
            nw.when(nw.col("furthest_step") >= n)
            .then(nw.col(f"_sms{n}") - nw.col("_sms1"))
            .otherwise(0)
            .cast(nw.Int64)
            .alias("_d")
        ]
        if timed
        else []
    )
    u = units(lf, spec, defs, groups, until_ms=until_ms).filter(~nw.col("excluded"))
    u = period_key(
        with_epoch_ms(u, "entered_at", "_ems"),
        "_ems",
        "_p",
        period=period,
        week_start=week_start,
        offsets=offsets,
    ).select(
        "_p", "_ems", _hit(spec, 1).alias("_h1"), _hit(spec, n).alias("_hn"), *took
    )
    totals = {
        "entered": nw.col("_h1").sum().cast(nw.Int64),
        "converted": nw.col("_hn").sum().cast(nw.Int64),
        "_lo": nw.col("_ems").min(),
        "_hi": nw.col("_ems").max(),
    }
    if not timed:
        return u.group_by("_p").agg(e.alias(name) for name, e in totals.items())
    carried = u.with_columns(e.over("_p").alias(name) for name, e in totals.items())
    return polars_quantiles(carried, ["_p", *totals, "_hn"], "_d", {"median": 0.5})
