"""Conversion funnels: which units went through a sequence of steps, and how fast.

Every semantic choice is a parameter, recorded in the result's
:class:`~activity_toolkit.analysis.AnalysisParams`:

**Event order.** Events of a unit are ordered by ``created_at``, then by ``id`` (the
ActivityLog order). Two events with the same timestamp are therefore *not*
interchangeable: the one with the smaller ``id`` comes first. A frame without an ``id``
column falls back to its row order (this reproduces retentioneering 5, which keeps
same-timestamp events in input order). No event ever serves two steps.

**Modes** (``mode=``):

``"ordered"``
    The unit did s1, then later s2, …, then sk (any events in between). Without a
    window this is retentioneering 5's ``funnel_data``: each step is matched to the
    earliest event after the previous step's event (greedy earliest match, which finds
    a match whenever one exists). With ``within=W`` every step must happen at most W
    after the step-1 event (inclusive), and ``entry`` says which s1 events start an
    attempt: ``"first"`` — only the unit's first s1 (Mixpanel uniques); ``"furthest"``
    — every s1, and the unit is credited with the furthest step any attempt reached
    (PostHog's ordered funnel). Without a window both entries give the same result.
``"strict"``
    Like ordered, but consecutive steps must be consecutive events of the unit: *every*
    event of the unit in the input counts as "another event" (filter the input first
    to narrow that scope). ``entry`` and ``within`` work as in ordered.
``"unordered"``
    Step k is reached when events matching s1, …, sk all occur within ``within`` of
    the earliest of them, in any order (``within=None``: at any time). A step listed m
    times needs m distinct events. ``entry="first"`` only tries the window that opens
    at the unit's first step event; ``"furthest"`` tries every window.
``"reached"``
    Step k counts the units that did sk at all, in any order and at any time
    (retentioneering 3's ``open`` funnel). Counts need not decrease, so conversion can
    exceed 1.

**Exclusions** (``exclude=``): an :class:`Exclusion` (or any step value, meaning the
whole funnel) names events that disqualify an attempt when they happen after its
``from_step`` event and before its ``to_step`` event — or, when the attempt never
reached ``to_step``, at any time after ``from_step`` (within the window). A unit whose
furthest attempt(s) are all disqualified is removed from the *whole* funnel (every step
count), as in PostHog; :func:`funnel_units` still lists it with ``excluded=True``. In
``reached`` mode a unit with any exclusion event is removed; ``unordered`` mode does not
take exclusions.

**Breakdown** (``by=``): the value of the ``by`` column(s) on the unit's entry event
(the step-1 event of the attempt it is credited with, or the opening event of its best
window in unordered mode). In ``reached`` mode every event counts under its own value,
so a unit may appear under several values.

Rows with a null key or a null timestamp are ignored.

**Engines.** :func:`funnel`, :func:`funnel_units` and :func:`funnel_trend` also take
a DuckDB relation, an Ibis table or a PySpark DataFrame (any frame narwhals treats as
lazy, or a narwhals LazyFrame) with the same columns, and return a frame of that kind
computed by that engine: the portable definition of :mod:`._portable_funnel`, which
gives the rows of the Polars code here (checked unit by unit, and period by period,
in ``tests/scale/``). There an ``id`` column is required (engines have no row
order), steps are event types (a Polars expression only runs on Polars), times keep
the input's type and precision, and durations are ``Int64`` milliseconds.
``funnel`` and ``funnel_units`` stay lazy on the engine; ``funnel_trend`` runs when
called: the engine reduces the units to a row per period of entry (numbered with the
zone's UTC offsets, read from Polars' time zone database for the data's time range:
one more small query), and the periods are named, gap-filled and flagged here, with
Polars' calendar, on those few rows. The Polars code here stays the local path
because it is faster on one machine (about 3x on 1M events). Over an Ibis table the
queries are also compiled for Snowflake, BigQuery, Trino, Postgres and Databricks in
``tests/scale/test_compile.py``: compiled, not run (only DuckDB runs them there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import narwhals as nw
import polars as pl

from activity_toolkit._time import as_utc
from activity_toolkit.analysis import _portable_funnel
from activity_toolkit.analysis._common import (
    UTC_MS,
    Step,
    StepLike,
    absent_note,
    as_lazy,
    as_step,
    check_step_types,
    conversion_columns,
    duration_ms,
    finish,
    match_expr,
    norm_by,
    norm_key,
    require_columns,
    to_timedelta,
    utc_ms,
)
from activity_toolkit.analysis._engine import (
    EngineFrame,
    finish_native,
    from_polars,
    is_local,
    period_starts,
    portable,
    to_polars,
    wrap,
    zone_offsets,
)
from activity_toolkit.analysis._options import (
    FunnelEntry,
    FunnelMode,
    Period,
    WeekStart,
    check,
)
from activity_toolkit.analysis._params import AnalysisParams
from activity_toolkit.analysis._periods import bucket, every_period, interval, weekday
from activity_toolkit.events import REGISTRY
from activity_toolkit.exceptions import ActivityToolkitError, AnalysisInputError
from activity_toolkit.model import ActivityLog

__all__ = ["FUNNEL_COLUMNS", "Exclusion", "funnel", "funnel_trend", "funnel_units"]

#: The columns of ``funnel``'s rows after its ``by`` columns, in order (every engine).
FUNNEL_COLUMNS = _portable_funnel.SUMMARY_COLUMNS


_NEVER = 2**62  # a position after every event: "no previous match"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TIE_NOTE = "events ordered by created_at, then id (same-timestamp events are not interchangeable)"
_MODE_NOTES = {
    "ordered": "step k: s1..sk in order, greedy earliest match, any events in between",
    "strict": "step k: s1..sk as consecutive events of the unit (every input event counts)",
    "unordered": "step k: s1..sk all within the window of the earliest, any order",
    "reached": "step k: the unit did sk at all (counts are not nested)",
}


@dataclass(frozen=True, slots=True)
class Exclusion:
    """Events that disqualify a funnel attempt between two of its steps.

    Parameters
    ----------
    match
        Event type(s), a boolean expression or a :class:`Step`.
    from_step, to_step
        1-based steps bounding the exclusion range; ``to_step=None`` means the last
        step. The event must come after the ``from_step`` event and before the
        ``to_step`` event (or, if that step was not reached, at any time after
        ``from_step`` within the window).

    Examples
    --------
    >>> Exclusion("customer.redemption.failed", from_step=2).to_step is None
    True
    """

    match: StepLike
    from_step: int = 1
    to_step: int | None = None

    @property
    def label(self) -> str:
        """Display label of the matched events."""
        return as_step(self.match).label or ""


@dataclass(frozen=True, slots=True)
class _Spec:
    steps: tuple[Step, ...]
    mode: str
    entry: str
    within_ms: int | None
    keys: tuple[str, ...]
    bys: tuple[str, ...]
    exclusions: tuple[tuple[Step, int, int], ...]
    time_col: str
    type_col: str
    id_col: str | None
    absent: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return len(self.steps)

    def params(self, analysis: str) -> AnalysisParams:
        notes = [_MODE_NOTES[self.mode], TIE_NOTE]
        if self.mode in ("ordered", "strict") and self.within_ms is not None:
            notes.append("window measured from the step-1 event, inclusive")
        if self.exclusions:
            notes.append("an excluded unit is removed from every step")
        if self.by_note:
            notes.append(self.by_note)
        notes.extend(absent_note(self.absent))
        entry = None if self.mode == "reached" else self.entry
        return AnalysisParams(
            analysis,
            (
                ("steps", tuple(s.label for s in self.steps)),
                ("mode", self.mode),
                ("within", to_timedelta(self.within_ms)),
                ("entry", entry),
                ("key", self.keys[0] if len(self.keys) == 1 else self.keys),
                ("by", (self.bys[0] if len(self.bys) == 1 else self.bys) or None),
                (
                    "exclude",
                    tuple(f"{s.label} (steps {a}-{b})" for s, a, b in self.exclusions)
                    or None,
                ),
            ),
            tuple(notes),
        )

    @property
    def by_note(self) -> str | None:
        if not self.bys:
            return None
        if self.mode == "reached":
            return "breakdown: every event counts under its own value"
        return "breakdown: value on the unit's entry event"


def _checked(spec: _Spec, data: object, lf: pl.LazyFrame) -> _Spec:
    """The spec after checking its step types against the registry and the data."""
    steps = [*spec.steps, *(s for s, _, _ in spec.exclusions)]
    absent = check_step_types(steps, data, lf, spec.type_col)
    return replace(spec, absent=absent) if absent else spec


def _checked_on_engine(spec: _Spec, lf: nw.LazyFrame[Any]) -> _Spec:
    """:func:`_checked` for an engine frame: the engine is asked for its distinct
    event types only when a step names an unregistered ``customer.`` type."""
    steps = [*spec.steps, *(s for s, _, _ in spec.exclusions)]
    unknown = any(
        t.startswith("customer.") and t not in REGISTRY
        for s in steps
        for t in (s.types or ())
    )
    present = None
    if unknown and spec.type_col in lf.collect_schema():
        present = to_polars(lf.select(nw.col(spec.type_col)).unique())
    lazy = present.lazy() if present is not None else pl.LazyFrame()
    absent = check_step_types(steps, present, lazy, spec.type_col)
    return replace(spec, absent=absent) if absent else spec


def _on_engine(data: EngineFrame, spec: _Spec, *, analysis: str) -> Any:
    """``funnel_units`` / ``funnel`` on a non-Polars frame: the portable definition
    (:mod:`._portable_funnel`), computed by the frame's engine."""
    lf = wrap(data)
    spec = _checked_on_engine(spec, lf)
    defs, groups = _step_groups(spec) if spec.mode == "unordered" else ([], [])
    units = _portable_funnel.units(lf, spec, defs, groups)
    if analysis == "funnel":
        out = _portable_funnel.summary(units, spec, lf)
    else:
        out = _portable_funnel.public_units(units, spec)
    return finish_native(out, spec.params(analysis), given=data)


def _norm_exclusions(
    exclude: StepLike | Exclusion | Sequence[StepLike | Exclusion] | None, n: int
) -> tuple[tuple[Step, int, int], ...]:
    if exclude is None:
        return ()
    if isinstance(exclude, str | pl.Expr | Step | Exclusion):
        items: list[StepLike | Exclusion] = [exclude]
    else:
        items = list(exclude)
        # a plain list of strings is one exclusion step matching any of them
        if items and all(isinstance(i, str) for i in items):
            items = [Step(tuple(str(i) for i in items))]
    out = []
    for item in items:
        ex = item if isinstance(item, Exclusion) else Exclusion(item)
        to = n if ex.to_step is None else ex.to_step
        if n < 2:
            msg = "exclusions need a funnel of at least two steps"
            raise AnalysisInputError(msg)
        if not 1 <= ex.from_step < to <= n:
            msg = (
                f"exclusion {ex.label!r}: need 1 <= from_step < to_step <= {n}; "
                f"got from_step={ex.from_step}, to_step={to}"
            )
            raise AnalysisInputError(msg)
        out.append((as_step(ex.match), ex.from_step, to))
    return tuple(out)


def _spec(
    steps: Sequence[StepLike],
    *,
    within: timedelta | str | None,
    mode: str,
    entry: str,
    key: str | Sequence[str],
    by: str | Sequence[str] | None,
    exclude: StepLike | Exclusion | Sequence[StepLike | Exclusion] | None,
    time_col: str,
    type_col: str,
    id_col: str | None,
) -> _Spec:
    if isinstance(steps, str | pl.Expr | Step):
        msg = "steps must be a sequence of steps, e.g. ['a', 'b']; got a single step"
        raise AnalysisInputError(msg)
    norm_steps = tuple(as_step(s) for s in steps)
    if not norm_steps:
        msg = "a funnel needs at least one step"
        raise AnalysisInputError(msg)
    check(mode, FunnelMode, name="mode")
    check(entry, FunnelEntry, name="entry")
    exclusions = _norm_exclusions(exclude, len(norm_steps))
    if exclusions and mode == "unordered":
        msg = "mode='unordered' does not take exclusions (steps have no order to exclude between)"
        raise AnalysisInputError(msg)
    return _Spec(
        steps=norm_steps,
        mode=mode,
        entry=entry,
        within_ms=duration_ms(within),
        keys=norm_key(key),
        bys=tuple(b for b in norm_by(by) if b not in norm_key(key)),
        exclusions=exclusions,
        time_col=time_col,
        type_col=type_col,
        id_col=id_col,
    )


# -- the unit-level engine ---------------------------------------------------------------


def _base(lf: pl.LazyFrame, spec: _Spec) -> pl.LazyFrame:
    """Keys, breakdown, ``_t`` (UTC ms), ``_o`` (tie-break) and one boolean column per
    step (``_m1``…) and exclusion (``_x1``…)."""
    schema = lf.collect_schema()
    require_columns(schema, [*spec.keys, spec.time_col, spec.type_col, *spec.bys])
    if spec.id_col is not None and spec.id_col in schema:
        order = pl.col(spec.id_col).alias("_o")
    else:
        lf = lf.with_row_index("_row")
        order = pl.col("_row").alias("_o")
    flags = [
        match_expr(s, spec.type_col).alias(f"_m{k}")
        for k, s in enumerate(spec.steps, 1)
    ]
    xflags = [
        match_expr(s, spec.type_col).alias(f"_x{i}")
        for i, (s, _, _) in enumerate(spec.exclusions, 1)
    ]
    out = lf.select(
        *spec.keys,
        *spec.bys,
        utc_ms(spec.time_col, schema).alias("_t"),
        order,
        *flags,
        *xflags,
    )
    return out.filter(
        pl.all_horizontal(pl.col(c).is_not_null() for c in (*spec.keys, "_t"))
    )


def _step_cols(spec: _Spec) -> list[str]:
    return [f"_m{k}" for k in range(1, spec.n + 1)]


def _x_cols(spec: _Spec) -> list[str]:
    return [f"_x{i}" for i in range(1, len(spec.exclusions) + 1)]


def _unit_sorted(lf: pl.LazyFrame, spec: _Spec, flags: list[str]) -> pl.LazyFrame:
    """Rows grouped by unit (numbered ``_u``), each unit in (time, id) order.

    A hash ``group_by`` on the key, sorting each unit's rows inside the group and
    exploding them back, is much faster than sorting millions of rows by a string
    key; the boolean flags travel packed into integer bit masks. Units are numbered
    in order of first appearance in the input.
    """
    masks = []
    for start in range(0, len(flags), 64):
        chunk = flags[start : start + 64]
        masks.append(
            pl.sum_horizontal(
                pl.col(f).cast(pl.UInt64) * (1 << i) for i, f in enumerate(chunk)
            ).alias(f"_mask{start // 64}")
        )
    mask_cols = [f"_mask{j}" for j in range(len(masks))]
    listed = ["_t", *mask_cols, *spec.bys]
    grouped = (
        lf.select(*spec.keys, *spec.bys, "_t", "_o", *masks)
        # maintain_order: the unit numbers must be the same whenever this plan is
        # evaluated (a plan that uses the frame twice may evaluate it twice)
        .group_by(list(spec.keys), maintain_order=True)
        .agg(pl.col(listed).sort_by("_t", "_o"))
        .with_row_index("_u")
        .explode(listed)
    )
    decode = [
        (
            (pl.col(f"_mask{i // 64}") & pl.lit(1 << (i % 64), dtype=pl.UInt64)) != 0
        ).alias(f)
        for i, f in enumerate(flags)
    ]
    return grouped.with_columns(*decode).drop(mask_cols)


def _next_flag(flag: str) -> pl.Expr:
    """Position of the next row strictly after this one where ``flag`` holds (any
    unit; compare with ``_end`` to stay inside the unit)."""
    return pl.when(pl.col(flag)).then(pl.col("_pos")).backward_fill().shift(-1)


def _in_unit(pos: pl.Expr) -> pl.Expr:
    return pl.when(pos <= pl.col("_end")).then(pos)


def _sequence_units(base: pl.LazyFrame, spec: _Spec) -> pl.LazyFrame:
    """Ordered and strict funnels in one pass over one frame (no self-joins).

    Rows are sorted by (key, time, id) and numbered ``_pos``; ``_end`` is the last
    position of the row's unit. Each row matching s1 is an attempt. Ordered: step k is
    the first sk row after step k-1's row, found by gathering from a "next sk
    position" column (greedy earliest match). Strict: step k is the row k-1 positions
    after the attempt's row.
    """
    n = spec.n
    flags = _step_cols(spec) + _x_cols(spec)
    ev = base if spec.mode == "strict" else base.filter(pl.any_horizontal(flags))
    ev = _unit_sorted(ev, spec, flags).with_row_index("_pos")
    last = pl.col("_u").ne_missing(pl.col("_u").shift(-1))
    ev = ev.with_columns(
        pl.col("_pos").cast(pl.Int64),
        pl.when(last).then(pl.col("_pos").cast(pl.Int64)).backward_fill().alias("_end"),
    )
    helpers = [_next_flag(x).alias(f"_n{x}") for x in _x_cols(spec)]
    if spec.mode == "ordered":
        helpers += [_next_flag(f"_m{k}").alias(f"_n_m{k}") for k in range(2, n + 1)]
    ev = ev.with_columns(helpers)
    # positions of steps 2..n for every row, as if the row were an s1 attempt
    ev = ev.with_columns(pl.col("_pos").alias("_p1"))
    for k in range(2, n + 1):
        if spec.mode == "ordered":
            nxt = (
                pl.col(f"_n_m{k}")
                if k == 2
                else pl.col(f"_n_m{k}").gather(pl.col(f"_p{k - 1}"))
            )
            pk = _in_unit(nxt)
        else:
            cand = pl.col("_pos") + (k - 1)
            pk = pl.when(
                pl.col(f"_p{k - 1}").is_not_null()
                & (cand <= pl.col("_end"))
                & pl.col(f"_m{k}").shift(-(k - 1)).fill_null(value=False)
            ).then(cand)
        ev = ev.with_columns(pk.alias(f"_p{k}"))
    ev = ev.with_columns(
        pl.col("_t").alias("_t1"),
        *[
            pl.col("_t").gather(pl.col(f"_p{k}")).alias(f"_t{k}")
            for k in range(2, n + 1)
        ],
    )
    # reach within the window, then exclusion lookups (still before filtering rows,
    # because gathers index the whole frame)
    ok = pl.lit(value=True)
    oks = [ok]
    for k in range(2, n + 1):
        ok = ok & pl.col(f"_p{k}").is_not_null()
        if spec.within_ms is not None:
            ok = ok & (
                (pl.col(f"_t{k}") - pl.col("_t1"))
                <= pl.duration(milliseconds=spec.within_ms)
            )
        oks.append(ok)
    ev = ev.with_columns(
        pl.sum_horizontal([o.cast(pl.Int64) for o in oks]).alias("_reach")
    )
    excl = pl.lit(value=False)
    for i, (_, a, b) in enumerate(spec.exclusions, 1):
        lo = pl.when(pl.col("_reach") >= a).then(pl.col(f"_p{a}"))
        x = _in_unit(pl.col(f"_n_x{i}").gather(lo))
        if spec.within_ms is None:
            in_window = pl.lit(value=True)
        else:
            in_window = (pl.col("_t").gather(x) - pl.col("_t1")) <= pl.duration(
                milliseconds=spec.within_ms
            )
        hit = x.is_not_null() & (
            pl.when(pl.col("_reach") >= b)
            .then(x < pl.col(f"_p{b}"))
            .otherwise(in_window)
        )
        excl = excl | hit
    ev = ev.with_columns(excl.alias("_excl"))
    if spec.entry == "first":
        # the unit's first s1: running count of s1 rows minus the count before the unit
        count = pl.col("_m1").cast(pl.Int64).cum_sum()
        unit_start = pl.col("_u").ne_missing(pl.col("_u").shift(1))
        before = (
            pl.when(unit_start)
            .then(count - pl.col("_m1").cast(pl.Int64))
            .forward_fill()
        )
        att = ev.filter(pl.col("_m1") & (count - before == 1))
    else:
        att = (
            ev.filter(pl.col("_m1"))
            .sort(
                ["_u", "_reach", "_excl", "_pos"],
                descending=[False, True, False, False],
            )
            .unique("_u", keep="first")
        )
    return att.select(
        *spec.keys,
        *spec.bys,
        pl.col("_reach").alias("furthest_step"),
        pl.col("_excl").alias("excluded"),
        pl.col("_t1").alias("entered_at"),
        *[
            pl.when(pl.col("_reach") >= k).then(pl.col(f"_t{k}")).alias(f"step_{k}_at")
            for k in range(1, n + 1)
        ],
    )


def _step_groups(spec: _Spec) -> tuple[list[int], list[tuple[int, ...]]]:
    """Distinct step definitions, and the groups of definitions whose event counts
    must be checked.

    ``defs[j]`` is the definition index of step j+1. A set of steps can take distinct
    events exactly when, for every group D of definitions, the events matching any of
    D are at least as many as the steps using D (Hall's theorem). When the definitions
    are disjoint event-type sets, single definitions are enough.
    """
    defs: list[int] = []
    reps: list[Step] = []
    for s in spec.steps:
        for d, r in enumerate(reps):
            if s.same_as(r):
                defs.append(d)
                break
        else:
            defs.append(len(reps))
            reps.append(s)
    m = len(reps)
    type_sets = [r.types for r in reps]
    disjoint = all(t is not None for t in type_sets) and all(
        not set(type_sets[a] or ()) & set(type_sets[b] or ())
        for a in range(m)
        for b in range(a + 1, m)
    )
    groups: list[tuple[int, ...]]
    if disjoint:
        groups = [(d,) for d in range(m)]
    else:
        if m > 10:
            msg = (
                "mode='unordered' with overlapping steps supports at most 10 distinct "
                f"step definitions; got {m}"
            )
            raise AnalysisInputError(msg)
        groups = [
            tuple(d for d in range(m) if mask >> d & 1) for mask in range(1, 2**m)
        ]
    return defs, groups


def _unordered_units(base: pl.LazyFrame, spec: _Spec) -> pl.LazyFrame:
    n = spec.n
    defs, groups = _step_groups(spec)
    first_step = {d: defs.index(d) + 1 for d in set(defs)}
    gcols = [f"_g{i}" for i in range(len(groups))]
    ev = (
        _unit_sorted(
            base.filter(pl.any_horizontal(_step_cols(spec))), spec, _step_cols(spec)
        )
        .with_row_index("_pos")
        .with_columns(
            pl.any_horizontal(pl.col(f"_m{first_step[d]}") for d in g)
            .cast(pl.Int64)
            .alias(c)
            for g, c in zip(groups, gcols, strict=True)
        )
    )
    if spec.within_ms is None:
        counts = ev.group_by("_u").agg(pl.col(gcols).sum())
    else:
        counts = (
            ev.rolling(
                "_t",
                # [t, t + W] on millisecond timestamps (a zero period is not allowed)
                period=timedelta(milliseconds=spec.within_ms + 1),
                offset=timedelta(0),
                closed="left",
                group_by="_u",
            )
            .agg(pl.col(gcols).sum())
            .unique(["_u", "_t"])
        )
    anchors = ev.select("_u", *spec.keys, *spec.bys, "_t", "_pos")
    if spec.entry == "first":
        anchors = anchors.filter(pl.col("_u").ne_missing(pl.col("_u").shift(1)))
    on = ["_u"] if spec.within_ms is None else ["_u", "_t"]
    anchors = anchors.join(counts, on=on, how="left")
    oks = []
    ok = pl.lit(value=True)
    for k in range(1, n + 1):
        conds = []
        for g, c in zip(groups, gcols, strict=True):
            need = sum(1 for d in defs[:k] if d in g)
            if need:
                conds.append(pl.col(c) >= need)
        ok = ok & pl.all_horizontal(conds)
        oks.append(ok)
    best = (
        anchors.with_columns(
            pl.sum_horizontal([o.cast(pl.Int64) for o in oks]).alias("_reach")
        )
        .sort(["_u", "_reach", "_pos"], descending=[False, True, False])
        .unique("_u", keep="first")
    )
    return best.select(
        *spec.keys,
        *spec.bys,
        pl.col("_reach").cast(pl.Int64).alias("furthest_step"),
        pl.lit(value=False).alias("excluded"),
        pl.col("_t").alias("entered_at"),
        *[
            pl.lit(None, dtype=pl.Datetime("ms", "UTC")).alias(f"step_{k}_at")
            for k in range(1, n + 1)
        ],
    )


def _reached_units(base: pl.LazyFrame, spec: _Spec) -> pl.LazyFrame:
    n = spec.n
    ev = base.filter(pl.any_horizontal(_step_cols(spec)))
    units = ev.group_by([*spec.keys, *spec.bys]).agg(
        pl.col("_t").min().alias("entered_at"),
        *[
            pl.col("_t").filter(pl.col(f"_m{k}")).min().alias(f"step_{k}_at")
            for k in range(1, n + 1)
        ],
    )
    if spec.exclusions:
        xcols = _x_cols(spec)
        excl = (
            base.filter(pl.any_horizontal(xcols))
            .select(*spec.keys)
            .unique()
            .with_columns(pl.lit(value=True).alias("excluded"))
        )
        units = units.join(excl, on=list(spec.keys), how="left").with_columns(
            pl.col("excluded").fill_null(value=False)
        )
    else:
        units = units.with_columns(pl.lit(value=False).alias("excluded"))
    return units.select(
        *spec.keys,
        *spec.bys,
        pl.lit(None, dtype=pl.Int64).alias("furthest_step"),
        "excluded",
        "entered_at",
        *[f"step_{k}_at" for k in range(1, n + 1)],
    )


def _units(lf: pl.LazyFrame, spec: _Spec) -> pl.LazyFrame:
    base = _base(lf, spec)
    if spec.mode in ("ordered", "strict"):
        units = _sequence_units(base, spec)
    elif spec.mode == "unordered":
        units = _unordered_units(base, spec)
    else:
        units = _reached_units(base, spec)
    units = units.with_columns(
        pl.col("entered_at").cast(pl.Datetime("ms", "UTC")),
        *[
            pl.col(f"step_{k}_at").cast(pl.Datetime("ms", "UTC"))
            for k in range(1, spec.n + 1)
        ],
    )
    return units.sort([*spec.keys, *spec.bys], nulls_last=True)


def _summary(units: pl.LazyFrame, spec: _Spec) -> pl.LazyFrame:
    n = spec.n
    u = units.filter(~pl.col("excluded"))
    timed = spec.mode in ("ordered", "strict")
    aggs: list[pl.Expr] = []
    for k in range(1, n + 1):
        if spec.mode == "reached":
            hit = pl.col(f"step_{k}_at").is_not_null()
        else:
            hit = pl.col("furthest_step") >= k
        aggs.append(hit.sum().cast(pl.Int64).alias(f"_c{k}"))
        if timed and k > 1:
            prev = pl.col(f"step_{k}_at") - pl.col(f"step_{k - 1}_at")
            start = pl.col(f"step_{k}_at") - pl.col("step_1_at")
        else:
            prev = start = pl.lit(None, dtype=pl.Duration("ms"))
        aggs += [
            prev.median().cast(pl.Duration("ms")).alias(f"_mp{k}"),
            prev.quantile(0.9, "linear").cast(pl.Duration("ms")).alias(f"_qp{k}"),
            start.median().cast(pl.Duration("ms")).alias(f"_ms{k}"),
            start.quantile(0.9, "linear").cast(pl.Duration("ms")).alias(f"_qs{k}"),
        ]
    wide = u.group_by(list(spec.bys)).agg(aggs) if spec.bys else u.select(aggs)
    long = pl.concat(
        [
            wide.select(
                *spec.bys,
                pl.lit(k, dtype=pl.Int64).alias("step"),
                pl.lit(s.label, dtype=pl.String).alias("label"),
                pl.col(f"_c{k}").fill_null(0).alias("count"),
                pl.col(f"_mp{k}").alias("median_time_from_previous"),
                pl.col(f"_qp{k}").alias("p90_time_from_previous"),
                pl.col(f"_ms{k}").alias("median_time_from_start"),
                pl.col(f"_qs{k}").alias("p90_time_from_start"),
            )
            for k, s in enumerate(spec.steps, 1)
        ],
        how="vertical",
    ).sort([*spec.bys, "step"], nulls_last=True)
    return long.with_columns(conversion_columns(spec.bys)).select(
        *spec.bys, *FUNNEL_COLUMNS
    )


_DOC_PARAMS = """
    Parameters
    ----------
    data
        An :class:`~activity_toolkit.ActivityLog`, or a DataFrame / LazyFrame with at
        least the key, time and type columns (plus any column a step expression uses),
        or the same columns plus ``id`` as a DuckDB relation, Ibis table or PySpark
        DataFrame (computed by that engine; see the module documentation).
    steps
        The funnel steps in order. Each is an event type, a sequence of types (any of
        them), a boolean Polars expression (Polars input only), or a :class:`Step`
        with a label.
    within
        Conversion window (``timedelta`` or text such as ``"7d"``), inclusive, measured
        from the step-1 event (ordered, strict) or from the earliest step event
        (unordered). ``None``: no limit. Ignored by ``mode="reached"``.
    mode
        ``"ordered"``, ``"strict"``, ``"unordered"`` or ``"reached"`` (see the module
        documentation).
    entry
        Which step-1 events start an attempt: ``"first"`` (only the unit's first) or
        ``"furthest"`` (each one; the unit gets its furthest attempt).
    key
        Column(s) identifying the unit, e.g. ``["customer_id", "campaign_id"]`` to hold
        the campaign constant.
    by
        Breakdown column(s), attributed from the entry event.
    exclude
        Exclusion events: a step value (whole funnel) or :class:`Exclusion` values.
    time_col, type_col, id_col
        Column names of the timestamp, the event type and the tie-breaking event id
        (without an ``id_col`` column, the input row order breaks ties).
"""


@portable
def funnel_units(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame | EngineFrame,
    steps: Sequence[StepLike],
    *,
    within: timedelta | str | None = None,
    mode: FunnelMode = "ordered",
    entry: FunnelEntry = "first",
    key: str | Sequence[str] = "customer_id",
    by: str | Sequence[str] | None = None,
    exclude: StepLike | Exclusion | Sequence[StepLike | Exclusion] | None = None,
    time_col: str = "created_at",
    type_col: str = "type",
    id_col: str | None = "id",
) -> pl.DataFrame | pl.LazyFrame | EngineFrame:
    """Per unit: how far it got in the funnel, and when.

    One row per unit that did a step-1 event (any step event for ``"unordered"`` and
    ``"reached"``), sorted by key.
    {params}
    Returns
    -------
    DataFrame, LazyFrame or the engine's frame
        The key column(s), the ``by`` column(s), ``furthest_step`` (1…n; null in
        ``reached`` mode), ``excluded``, ``entered_at`` (the entry event's time) and
        ``step_1_at`` … ``step_n_at``: the times of the step events of the credited
        attempt (null beyond ``furthest_step``; in ``reached`` mode each step's first
        time; null in ``unordered`` mode). Units that dropped after step k are those
        with ``furthest_step == k``.

    Raises
    ------
    MissingColumnsError
        A needed column is missing.
    AnalysisInputError
        Invalid steps, mode, entry, window or exclusion.

    Examples
    --------
    >>> import polars as pl
    >>> events = pl.DataFrame(
    ...     {{
    ...         "customer_id": ["c1", "c1", "c2"],
    ...         "type": ["view", "buy", "view"],
    ...         "created_at": pl.Series(
    ...             ["2024-01-01 10:00", "2024-01-02 10:00", "2024-01-01 11:00"]
    ...         ).str.to_datetime(),
    ...     }}
    ... )
    >>> funnel_units(events, ["view", "buy"]).select("customer_id", "furthest_step")
    shape: (2, 2)
    ┌─────────────┬───────────────┐
    │ customer_id ┆ furthest_step │
    │ ---         ┆ ---           │
    │ str         ┆ i64           │
    ╞═════════════╪═══════════════╡
    │ c1          ┆ 2             │
    │ c2          ┆ 1             │
    └─────────────┴───────────────┘
    """
    spec = _spec(
        steps,
        within=within,
        mode=mode,
        entry=entry,
        key=key,
        by=by,
        exclude=exclude,
        time_col=time_col,
        type_col=type_col,
        id_col=id_col,
    )
    if not is_local(data):
        return _on_engine(data, spec, analysis="funnel_units")
    lf, kind = as_lazy(data)
    spec = _checked(spec, data, lf)
    return finish(_units(lf, spec), kind, spec.params("funnel_units"))


@portable
def funnel(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame | EngineFrame,
    steps: Sequence[StepLike],
    *,
    within: timedelta | str | None = None,
    mode: FunnelMode = "ordered",
    entry: FunnelEntry = "first",
    key: str | Sequence[str] = "customer_id",
    by: str | Sequence[str] | None = None,
    exclude: StepLike | Exclusion | Sequence[StepLike | Exclusion] | None = None,
    time_col: str = "created_at",
    type_col: str = "type",
    id_col: str | None = "id",
) -> pl.DataFrame | pl.LazyFrame | EngineFrame:
    """Step counts, conversion and time to convert of a funnel.
    {params}
    Returns
    -------
    DataFrame, LazyFrame or the engine's frame
        One row per step (per ``by`` group): ``step`` (1-based), ``label``, ``count``
        (units credited with at least that step; excluded units left out),
        ``conversion`` (÷ step 1), ``step_conversion`` (÷ previous step; step 1 is
        ÷ itself), ``dropped`` (previous count - count; 0 at step 1), and
        ``median_time_from_previous``, ``p90_time_from_previous``,
        ``median_time_from_start``, ``p90_time_from_start`` (durations over the units
        that reached the step, linear interpolation; null at step 1 and in
        ``unordered`` / ``reached`` modes; ``Int64`` milliseconds on an engine). A
        ratio with a zero denominator is null. Without ``by``, every step has a row
        even when nobody entered.

    Raises
    ------
    MissingColumnsError
        A needed column is missing.
    AnalysisInputError
        Invalid steps, mode, entry, window or exclusion.

    Examples
    --------
    >>> import polars as pl
    >>> events = pl.DataFrame(
    ...     {{
    ...         "customer_id": ["c1", "c1", "c2", "c3", "c3"],
    ...         "type": ["view", "buy", "view", "buy", "view"],
    ...         "created_at": pl.Series(
    ...             ["2024-01-01", "2024-01-03", "2024-01-01", "2024-01-01", "2024-01-02"]
    ...         ).str.to_datetime(),
    ...     }}
    ... )
    >>> funnel(events, ["view", "buy"]).select("step", "count", "conversion", "dropped")
    shape: (2, 4)
    ┌──────┬───────┬────────────┬─────────┐
    │ step ┆ count ┆ conversion ┆ dropped │
    │ ---  ┆ ---   ┆ ---        ┆ ---     │
    │ i64  ┆ i64   ┆ f64        ┆ i64     │
    ╞══════╪═══════╪════════════╪═════════╡
    │ 1    ┆ 3     ┆ 1.0        ┆ 0       │
    │ 2    ┆ 1     ┆ 0.333333   ┆ 2       │
    └──────┴───────┴────────────┴─────────┘
    >>> funnel(events, ["view", "buy"], mode="reached")["count"].to_list()
    [3, 2]
    """
    spec = _spec(
        steps,
        within=within,
        mode=mode,
        entry=entry,
        key=key,
        by=by,
        exclude=exclude,
        time_col=time_col,
        type_col=type_col,
        id_col=id_col,
    )
    if not is_local(data):
        return _on_engine(data, spec, analysis="funnel")
    lf, kind = as_lazy(data)
    spec = _checked(spec, data, lf)
    return finish(_summary(_units(lf, spec), spec), kind, spec.params("funnel"))


funnel_units.__doc__ = (funnel_units.__doc__ or "").format(params=_DOC_PARAMS)
funnel.__doc__ = (funnel.__doc__ or "").format(params=_DOC_PARAMS)


# -- conversion over time ----------------------------------------------------------------

_TREND_COLUMNS = (
    "period",
    "entered",
    "converted",
    "conversion",
    "median_time_to_convert",
    "complete",
)


@dataclass(frozen=True, slots=True)
class _Calendar:
    """``funnel_trend``'s periods: ``period`` in ``tz``, weeks from ``week_start``
    (0 = Monday), observed up to ``end`` (UTC; None: the last event)."""

    period: str
    tz: str
    week_start: int
    end: datetime | None


def _reached_step(spec: _Spec, k: int) -> pl.Expr:
    """Whether a row of :func:`funnel_units` counts at step ``k`` (as in
    :func:`funnel`'s counts)."""
    if spec.mode == "reached":
        return pl.col(f"step_{k}_at").is_not_null()
    return pl.col("furthest_step") >= k


def _trend_params(
    spec: _Spec, *, period: str, tz: str, week_start: str, end: datetime | None
) -> AnalysisParams:
    """:meth:`_Spec.params` (without ``by``) plus the period options and notes."""
    base = spec.params("funnel_trend")
    opts = [(k, v) for k, v in base.options if k != "by"]
    opts.insert(1, ("period", period))
    opts += [
        ("tz", tz),
        ("week_start", week_start if period == "week" else None),
        ("end", end if end is not None else "last event"),
    ]
    # the window that a late entrant still has to convert in ("reached" has none)
    window = spec.within_ms is not None and spec.mode != "reached"
    notes = (
        "a unit counts in the period of its entry (entered_at, in tz)",
        "converted = reached the last step (per mode and entry); "
        "conversion = converted / entered",
        "complete=False when the period's end"
        + (" plus the window" if window else "")
        + " is after the observation end (events after it are ignored): "
        "its entrants may still convert",
    )
    return AnalysisParams(base.analysis, tuple(opts), (*notes, *base.notes))


def _trend(lf: pl.LazyFrame, spec: _Spec, cal: _Calendar) -> pl.LazyFrame:
    """Per entry period: entrants, converters, time to convert and completeness.

    Plan: :func:`_units` (the engine of :func:`funnel_units`) on the events up to the
    observation end, excluded units dropped; one ``group_by`` on the entry period;
    then a left join onto the grid of every period from the first to the last.
    """
    period, tz, week_start, end = cal.period, cal.tz, cal.week_start, cal.end
    schema = lf.collect_schema()
    require_columns(schema, [*spec.keys, spec.time_col, spec.type_col])
    t = utc_ms(spec.time_col, schema)
    if end is None:
        # the data's last event time (rows the funnel reads: key and time not null)
        observed = lf.filter(
            pl.all_horizontal(pl.col(c).is_not_null() for c in spec.keys)
        ).select(t.max().alias("_end"))
    else:
        lf = lf.filter(t <= end)
        observed = _observed(end, None)
    n = spec.n
    units = _units(lf, spec).filter(~pl.col("excluded"))
    converted = _reached_step(spec, n)
    if spec.mode in ("ordered", "strict") and n > 1:
        to_convert = pl.col(f"step_{n}_at") - pl.col("step_1_at")
    else:
        to_convert = pl.lit(None, dtype=pl.Duration("ms"))
    counts = (
        units.with_columns(bucket("entered_at", period, tz, week_start).alias("period"))
        .group_by("period")
        .agg(
            _reached_step(spec, 1).sum().cast(pl.Int64).alias("entered"),
            converted.sum().cast(pl.Int64).alias("converted"),
            to_convert.filter(converted)
            .median()
            .cast(pl.Duration("ms"))
            .alias("median_time_to_convert"),
        )
    )
    return _trend_rows(counts, observed, spec, period)


def _trend_rows(
    counts: pl.LazyFrame, observed: pl.LazyFrame, spec: _Spec, period: str
) -> pl.LazyFrame:
    """The rows of :func:`funnel_trend` from the counts per entry period (a row per
    period with entrants: ``period``, ``entered``, ``converted``,
    ``median_time_to_convert``) and the observation end (``_end``, one row): the
    grid of every period from the first to the last, zeros, conversion and
    ``complete``. Shared by the local path and the engines' aggregates."""
    periods = every_period(counts, period)
    # the last moment a unit that entered in the period can still convert
    closes = pl.col("period").dt.offset_by(interval(period)).dt.convert_time_zone("UTC")
    if spec.within_ms is not None and spec.mode != "reached":
        closes = closes + pl.duration(milliseconds=spec.within_ms)
    return (
        periods.filter(pl.col("period").is_not_null())
        .join(counts, on="period", how="left")
        .join(observed, how="cross")
        .with_columns(pl.col("entered", "converted").fill_null(0))
        .with_columns(
            pl.when(pl.col("entered") > 0)
            .then(pl.col("converted") / pl.col("entered"))
            .alias("conversion"),
            (closes <= pl.col("_end")).alias("complete"),
        )
        .select(_TREND_COLUMNS)
        .sort("period")
    )


def _trend_on_engine(
    lf: nw.LazyFrame[Any], spec: _Spec, cal: _Calendar
) -> pl.DataFrame:
    """:func:`funnel_trend`'s rows of an engine frame, as a Polars DataFrame.

    The engine computes the units and reduces them to a row per entry period
    (:func:`._portable_funnel.trend_parts`, numbered with the zone's offsets read
    from Polars' database over the data's time range, one small query); each
    period is then named by :func:`~._periods.bucket` of its first entrant, here,
    and finished by the local code (:func:`_trend_rows`)."""
    period, tz, week_start, end = cal.period, cal.tz, cal.week_start, cal.end
    defs, groups = _step_groups(spec) if spec.mode == "unordered" else ([], [])
    until = None if end is None else (end - _EPOCH) // timedelta(milliseconds=1)
    lo, hi = to_polars(_portable_funnel.trend_span(lf, spec, until)).row(0)
    parts = _portable_funnel.trend_parts(
        lf,
        spec,
        defs,
        groups,
        period=period,
        week_start=week_start,
        offsets=_zone_offsets(tz, lo, hi),
        until_ms=until,
    )
    return _trend_from_parts(to_polars(parts), hi, spec, cal)


def _zone_offsets(
    tz: str, lo: int | None, hi: int | None
) -> list[tuple[int | None, int]]:
    """The UTC offsets of ``tz`` over ``[lo, hi]`` epoch ms, from Polars."""
    return zone_offsets(tz, lo, hi) if tz != "UTC" else [(None, 0)]


def _trend_from_parts(
    parts: pl.DataFrame, last_ms: int | None, spec: _Spec, cal: _Calendar
) -> pl.DataFrame:
    """:func:`funnel_trend`'s rows from the rows of its engine query
    (:func:`._portable_funnel.trend_parts`) and the last event's epoch ms; durations
    as ``Int64`` milliseconds."""
    period, tz, week_start, end = cal.period, cal.tz, cal.week_start, cal.end
    median = (
        pl.col("median").filter(pl.col("_hn") == 1).first()
        if "median" in parts.columns
        else pl.lit(None, dtype=pl.Int64)
    )
    counts = parts.group_by("_p").agg(
        pl.col("entered", "converted", "_lo", "_hi").first(),
        pl.duration(milliseconds=median, time_unit="ms").alias(
            "median_time_to_convert"
        ),
    )
    # each period is named by Polars' own bucket of its first and last entrant
    for rep, name in (("_lo", "period"), ("_hi", "_last")):
        counts = period_starts(
            counts, rep, name, period=period, tz=tz, week_start=week_start
        )
    # the engine's periods must be Polars' periods: one per number, each whole
    split = (counts["period"] != counts["_last"]).any()
    if split or counts["period"].is_duplicated().any():
        msg = (
            "funnel_trend: the engine's calendar periods differ from Polars' "
            f"(period={period!r}, tz={tz!r}); please report this"
        )
        raise ActivityToolkitError(msg)
    out = _trend_rows(counts.lazy(), _observed(end, last_ms), spec, period).collect()
    return out.with_columns(pl.col("median_time_to_convert").dt.total_milliseconds())


def _observed(end: datetime | None, last_ms: int | None) -> pl.LazyFrame:
    """The observation end as a one-row ``_end`` frame: ``end``, or else the last
    event's epoch ms ``last_ms`` (null without events)."""
    if end is not None:
        return pl.LazyFrame({"_end": [end]}, schema={"_end": UTC_MS})
    return pl.LazyFrame({"_end": [last_ms]}, schema={"_end": pl.Int64}).select(
        pl.from_epoch("_end", time_unit="ms").cast(UTC_MS)
    )


@portable
def funnel_trend(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame | EngineFrame,
    steps: Sequence[StepLike],
    *,
    period: Period = "week",
    within: timedelta | str | None = None,
    mode: FunnelMode = "ordered",
    entry: FunnelEntry = "first",
    key: str | Sequence[str] = "customer_id",
    exclude: StepLike | Exclusion | Sequence[StepLike | Exclusion] | None = None,
    tz: str = "UTC",
    week_start: WeekStart = "monday",
    end: datetime | date | str | None = None,
    time_col: str = "created_at",
    type_col: str = "type",
    id_col: str | None = "id",
) -> pl.DataFrame | pl.LazyFrame | EngineFrame:
    """Conversion over time: the funnel's conversion by the period units entered it.

    Every unit of :func:`funnel_units` (excluded units left out, as in
    :func:`funnel`) counts in the calendar period of its ``entered_at``; a unit
    *converted* when it is credited with the last step. This is PostHog's "historical
    trends" funnel view. Summed over the periods, ``entered`` and ``converted`` are
    :func:`funnel`'s step-1 and last-step counts (with ``end`` after the last event).

    Parameters
    ----------
    data
        An :class:`~activity_toolkit.ActivityLog`, or a DataFrame / LazyFrame with at
        least the key, time and type columns (plus any column a step expression
        uses), or an engine frame with those columns and ``id`` (see the module
        docstring).
    steps
        The funnel steps in order, as for :func:`funnel`.
    period
        ``"day"``, ``"week"``, ``"month"``, ``"quarter"`` or ``"year"``: calendar
        periods in ``tz``.
    within, mode, entry, key, exclude
        As for :func:`funnel`.
    tz
        Time zone of the calendar and of the ``period`` column.
    week_start
        First day of a week for ``period="week"``.
    end
        End of observation (``datetime``, ``date`` or ISO text; naive means UTC):
        events after it are ignored. Default: the data's last event time.
    time_col, type_col, id_col
        Column names of the timestamp, the event type and the tie-breaking event id,
        as for :func:`funnel`.

    Returns
    -------
    DataFrame, LazyFrame or the engine's frame
        One row per entry period, from the first to the last (periods without
        entrants have zeros), sorted by ``period``: ``period`` (start,
        ``Datetime("ms", tz)``), ``entered`` (units that entered in the period;
        in ``reached`` mode those that did step 1), ``converted`` (of them, units
        credited with the last step), ``conversion`` (converted ÷ entered, null when
        nobody entered; can exceed 1 in ``reached`` mode), ``median_time_to_convert``
        (duration from the step-1 to the last-step event among converted units;
        null with one step and in ``unordered`` / ``reached`` modes; ``Int64``
        milliseconds on an engine) and
        ``complete`` (``False`` when the period's end plus ``within`` — the
        period's end alone without a window or in ``reached`` mode — is after
        ``end``: its entrants may still convert, so its conversion is a lower
        bound).

    Raises
    ------
    MissingColumnsError
        A needed column is missing.
    AnalysisInputError
        Invalid steps, mode, entry, window, exclusion, period or week start.

    Examples
    --------
    >>> import polars as pl
    >>> events = pl.DataFrame(
    ...     {
    ...         "customer_id": ["c1", "c1", "c2", "c3", "c3"],
    ...         "type": ["view", "buy", "view", "view", "buy"],
    ...         "created_at": pl.Series(
    ...             ["2024-01-01", "2024-01-03", "2024-01-02", "2024-01-15", "2024-01-16"]
    ...         ).str.to_datetime(),
    ...     }
    ... )
    >>> funnel_trend(events, ["view", "buy"]).select(
    ...     pl.col("period").dt.date(), "entered", "converted", "conversion", "complete"
    ... )
    shape: (3, 5)
    ┌────────────┬─────────┬───────────┬────────────┬──────────┐
    │ period     ┆ entered ┆ converted ┆ conversion ┆ complete │
    │ ---        ┆ ---     ┆ ---       ┆ ---        ┆ ---      │
    │ date       ┆ i64     ┆ i64       ┆ f64        ┆ bool     │
    ╞════════════╪═════════╪═══════════╪════════════╪══════════╡
    │ 2024-01-01 ┆ 2       ┆ 1         ┆ 0.5        ┆ true     │
    │ 2024-01-08 ┆ 0       ┆ 0         ┆ null       ┆ true     │
    │ 2024-01-15 ┆ 1       ┆ 1         ┆ 1.0        ┆ false    │
    └────────────┴─────────┴───────────┴────────────┴──────────┘
    """
    spec = _spec(
        steps,
        within=within,
        mode=mode,
        entry=entry,
        key=key,
        by=None,
        exclude=exclude,
        time_col=time_col,
        type_col=type_col,
        id_col=id_col,
    )
    check(period, Period, name="period")
    ws = weekday(week_start)
    end_utc = as_utc(end) if end is not None else None
    calendar = _Calendar(period, tz, ws, end_utc)
    if not is_local(data):
        engine = wrap(data)
        spec = _checked_on_engine(spec, engine)
        rows = _trend_on_engine(engine, spec, calendar)
        params = _trend_params(
            spec, period=period, tz=tz, week_start=week_start, end=end_utc
        )
        return finish_native(from_polars(rows, engine), params, given=data)
    lf, kind = as_lazy(data)
    spec = _checked(spec, data, lf)
    out = _trend(lf, spec, calendar)
    params = _trend_params(
        spec, period=period, tz=tz, week_start=week_start, end=end_utc
    )
    return finish(out, kind, params)
