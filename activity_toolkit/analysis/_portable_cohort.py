"""The portable retention: the event-level part of
:func:`~activity_toolkit.analysis.retention` and
:func:`~activity_toolkit.analysis.retention_matrix`, written once in narwhals.

The engine does all the work that grows with the data: it finds each unit's cohort(s),
the periods of its return events, applies ``min_events`` and the retention mode, and
reduces everything to one small frame (:func:`parts`): a row per cohort and period with
active units, plus each cohort's size and first and last start. :mod:`.cohort` collects
that aggregate and finishes it with the local code (the grid of periods from 0 to the
last begun, zeros, rates, observability, the matrix pivot), then hands it back in the
engine's kind. The semantics are those of :mod:`.cohort`'s docstring; here is only
*how*:

**Time** is integer epoch milliseconds (``_ms``, :func:`~._engine.with_epoch_ms`).
Retention is insensitive to the order of same-time events (it takes minima and counts),
so no ``id`` is needed.

**Calendar periods in a time zone** are numbered on the engine by
:func:`~._portable_tiers.with_period_key`: the zone's UTC offsets over the data's time
range, read from Polars' own time zone database (the engine is asked for that range in
one small query when ``tz`` is not UTC), then integer calendar arithmetic. So periods
fall as on Polars — DST nights, month ends and leap days included — whatever the
engine's session time zone. The cohort's period start is named locally from its first
start (Polars' own calendar).

**Cohorts.** ``cohort="first"``: a ``group_by`` on the unit (first start time);
``"recurring"``: a ``group_by`` on (unit, period of a start event). Returns are joined
to the cohorts on the unit; calendar returns are first reduced to (unit, period,
events), so the join is small.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import narwhals as nw
import polars as pl

from activity_toolkit.analysis._engine import require, to_polars, with_epoch_ms
from activity_toolkit.analysis._portable_funnel import _match
from activity_toolkit.analysis._portable_tiers import (
    floor_div,
    ms_range,
    with_period_key,
    zone_offsets,
)
from activity_toolkit.exceptions import AnalysisInputError

if TYPE_CHECKING:
    from activity_toolkit.analysis._common import Step
    from activity_toolkit.analysis.cohort import _RetentionSpec

__all__ = ["match_types", "parts", "present_types"]

Frame = nw.LazyFrame[Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Zones whose offset is 0 at every instant: no range query, no offsets to read.
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Zulu", "Zulu"})


# -- generic primitives (candidates for _engine) -------------------------------------------


def match_types(step: Step, type_col: str, *, what: str) -> nw.Expr:
    """Boolean expression: the row's ``type_col`` is one of ``step``'s event types
    (null counts as no match): the funnel's matcher, whose refusal of a step given as
    a Polars expression (it only runs on Polars) is prefixed with the option ``what``."""
    try:
        return _match(step, type_col)
    except AnalysisInputError as exc:
        msg = f"{what}: {exc}"
        raise AnalysisInputError(msg) from None


def present_types(
    lf: Frame, steps: Sequence[Step], type_col: str
) -> pl.DataFrame | None:
    """The distinct values of ``type_col`` (a small local frame), asked of the engine
    only when a step names a ``customer.`` type that is not registered (a probable
    typo, to be refused with the closest names); ``None`` otherwise."""
    from activity_toolkit.events import REGISTRY

    unknown = any(
        t.startswith("customer.") and t not in REGISTRY
        for s in steps
        for t in (s.types or ())
    )
    if not unknown or type_col not in lf.collect_schema():
        return None
    return to_polars(lf.select(nw.col(type_col)).unique())


# -- the retention aggregate ------------------------------------------------------------------


def _epoch_ms(value: datetime) -> int:
    """Epoch milliseconds of an aware datetime, floored."""
    return (value - _EPOCH) // timedelta(milliseconds=1)


def _events(lf: Frame, spec: _RetentionSpec) -> Frame:
    """Keys, ``_ms``, ``_s`` (start event) and ``_r`` (return event) of the events with
    a unit and a time, up to ``end``."""
    steps = [s for s in (spec.start, spec.returning) if s is not None]
    schema = require(
        lf, [*spec.keys, spec.time_col, *([spec.type_col] if steps else [])]
    )

    def matches(step: Step | None, what: str) -> nw.Expr:
        if step is None:
            return nw.lit(value=True)
        return match_types(step, spec.type_col, what=what)

    flags = [
        matches(spec.start, "start").alias("_s"),
        matches(spec.returning, "returning").alias("_r"),
    ]
    time = nw.col(spec.time_col)
    if isinstance(schema[spec.time_col], nw.Date):
        time = time.cast(nw.Datetime("us"))  # midnight, read as UTC
    lf = lf.select(*spec.keys, time.alias("_t"), *flags)
    base = with_epoch_ms(lf, "_t", "_ms").drop("_t")
    base = base.filter(
        nw.all_horizontal(
            *[~nw.col(c).is_null() for c in (*spec.keys, "_ms")], ignore_nulls=False
        )
    )
    if spec.end is not None:
        base = base.filter(nw.col("_ms") <= _epoch_ms(spec.end))
    return base


def _offsets(base: Frame, spec: _RetentionSpec) -> list[tuple[int | None, int]]:
    """:func:`~._portable_tiers.zone_offsets` of ``spec.tz`` over the data's time
    range (one small query, skipped for UTC)."""
    if spec.tz in _UTC_NAMES:
        return [(None, 0)]
    return zone_offsets(spec.tz, *ms_range(base))


def parts(lf: Frame, spec: _RetentionSpec) -> Frame:
    """The small aggregate of a retention analysis, computed by ``lf``'s engine.

    One row per cohort (``_c``, its calendar period number) and period ``_p`` >= 1 with
    active units ``_v`` (for ``mode="on_or_after"``: units whose last active period is
    ``_p``), plus the cohort's ``cohort_size``, ``_amin`` and ``_amax`` (its earliest
    and latest start, epoch ms) on every row; a cohort without returns has one row with
    null ``_p`` and ``_v``. Without ``spec.end``, ``_end`` is the last event's epoch ms.
    """
    keys = list(spec.keys)
    base = _events(lf, spec)
    offsets = _offsets(base, spec)

    def index(frame: Frame, source: str, name: str) -> Frame:
        return with_period_key(
            frame,
            source,
            name,
            period=spec.period,
            week_start=spec.weekday,
            offsets=offsets,
        )

    s, ms = nw.col("_s"), nw.col("_ms")
    if spec.cohort == "first":
        units = (
            base.group_by(keys)
            .agg(nw.when(s).then(ms).min().alias("_a"))
            .filter(~nw.col("_a").is_null())
        )
        units = index(units, "_a", "_c")
    else:
        starts = index(base.filter(s).select(*keys, "_ms"), "_ms", "_c")
        units = starts.group_by([*keys, "_c"]).agg(ms.min().alias("_a"))
    returns = base.filter(nw.col("_r")).select(*keys, "_ms")
    p = nw.col("_p")
    if spec.rolling:
        length = spec.length_ms
        qual = (
            returns.join(units.select(*keys, "_c", "_a"), on=keys, how="inner")
            .filter(ms >= nw.col("_a"))
            .with_columns(floor_div(ms - nw.col("_a"), length).alias("_p"))
            .filter(p >= 1)
            .group_by([*keys, "_c", "_p"])
            .agg(nw.len().alias("_n"))
        )
    else:
        per_period = (
            index(returns, "_ms", "_e")
            .group_by([*keys, "_e"])
            .agg(nw.len().alias("_n"))
        )
        qual = per_period.join(
            units.select(*keys, "_c"), on=keys, how="inner"
        ).with_columns((nw.col("_e") - nw.col("_c")).alias("_p"))
        qual = qual.filter(p >= 1)
    qual = qual.filter(nw.col("_n") >= spec.min_events).select(*keys, "_c", "_p")
    if spec.mode == "on_or_after":
        qual = qual.group_by([*keys, "_c"]).agg(p.max())
    counts = qual.group_by(["_c", "_p"]).agg(nw.len().cast(nw.Int64).alias("_v"))
    cohorts = units.group_by("_c").agg(
        nw.len().cast(nw.Int64).alias("cohort_size"),
        nw.col("_a").min().alias("_amin"),
        nw.col("_a").max().alias("_amax"),
    )
    out = cohorts.join(counts, on="_c", how="left")
    if spec.end is None:
        out = out.join(base.select(ms.max().alias("_end")), how="cross")
    return out
