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

**Calendar periods in a time zone** are numbered on the engine by :func:`period_key`:
the zone's UTC offsets over the data's time range, read from Polars' own time zone
database (:func:`~._portable_tiers.zone_offsets`; the engine is asked for that range
in one small query when ``tz`` is not UTC), then integer calendar arithmetic on the
local day number. So periods fall as on Polars — DST nights, month ends and leap days
included — whatever the engine's session time zone. The cohort's period start is named
locally from its first start, by Polars' own calendar.

**Cohorts.** ``cohort="first"``: the unit's first start, a window minimum over the
unit, is on every row, so one pass over the events suffices; ``"recurring"``: every row
of the unit joins each of its cohorts (one per period with a start event). With
calendar periods the events are first reduced to one row per unit and period. Each
member of a cohort has a row in period 0 (its start), which gives the cohort sizes
in the same aggregation as the returns.
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
    _offset_expr,
    ms_range,
    zone_offsets,
)
from activity_toolkit.exceptions import AnalysisInputError

if TYPE_CHECKING:
    from activity_toolkit.analysis._common import Step
    from activity_toolkit.analysis.cohort import _RetentionSpec

__all__ = ["exact_div", "match_types", "parts", "period_key", "present_types"]

Frame = nw.LazyFrame[Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_MS = 86_400_000
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


def exact_div(x: nw.Expr, d: int) -> nw.Expr:
    """``floor(x / d)`` of an integer expression, for a positive integer ``d`` and
    ``|x| < 2**53``: the floored remainder (narwhals' ``%`` is a floor modulo on every
    engine) is taken off, so the true quotient is an integer; the division runs in
    doubles and is rounded to it (Polars multiplies by the reciprocal, one ulp off).
    ``x`` appears twice. Not narwhals' ``//``: on DuckDB it repeats its operand three
    times, and a chain of them (the calendar below) grows into an expression DuckDB's
    planner runs out of memory on."""
    return ((x - x % d) / d).round(0).cast(nw.Int64)


def period_key(
    lf: Frame,
    ms: str,
    name: str,
    *,
    period: str,
    week_start: int,
    offsets: Sequence[tuple[int | None, int]],
) -> Frame:
    """Add ``name``: consecutive integers for the consecutive calendar periods holding
    the epoch milliseconds ``ms`` in the zone of ``offsets``
    (:func:`~._portable_tiers.zone_offsets`), the numbers of
    :func:`~._periods.index`: days since 1970-01-01, weeks from the one of
    1969-12-29 shifted to ``week_start`` (0 = Monday), months since January of the
    year 0, quarters, years (dates from the year 1 to 9999).

    Months come from the local day number by the calendar algorithm of C. Neri and
    L. Schneider ("Euclidean affine functions and their application to calendar
    algorithms", 2022) on March-based years, in which the day number is read 14
    times, where ``civil_from_days`` (:func:`~._portable_tiers.with_period_key`)
    reads it hundreds of times: engines that inline one column into the next (DuckDB
    relations, Ibis' SQL) plan it in a blink instead of seconds."""
    t, c = nw.col(ms), nw.col
    wall = t if offsets == [(None, 0)] else t + _offset_expr(t, offsets)
    out = lf.with_columns(exact_div(wall, _DAY_MS).alias("_d"))
    temps = ["_d"]
    if period == "day":
        key = c("_d")
    elif period == "week":  # 1970-01-01 was a Thursday (weekday 3)
        key = exact_div(c("_d") + (3 - week_start), 7)
    else:
        # n1 = 4 x (days since 0000-03-01) + 3; century, day of the century, then
        # year of the century (z) and day of the year (ny) from one product
        n1 = (c("_d") + 719_468) * 4 + 3
        p2 = (exact_div(n1 % 146_097, 4) * 4 + 3) * 2_939_745
        out = out.with_columns(
            exact_div(n1, 146_097).alias("_cent"), p2.alias("_p2")
        ).with_columns(
            exact_div(c("_p2"), 2**32).alias("_z"),
            exact_div(c("_p2") % 2**32, 4 * 2_939_745).alias("_ny"),
        )
        # month 3 (March) ... 14 (February of the next year): the year's January
        # is month 13 of the March-based year before it, so no correction is needed
        month = exact_div(c("_ny") * 2141 + 197_913, 2**16)
        months = c("_cent") * 1200 + c("_z") * 12 + month - 1
        temps += ["_cent", "_p2", "_z", "_ny"]
        per = {"month": 1, "quarter": 3, "year": 12}[period]
        key = months if per == 1 else exact_div(months, per)
    return out.with_columns(key.cast(nw.Int64).alias(name)).drop(*temps)


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
    """The small aggregate of a retention analysis, computed by ``lf``'s engine in
    one pass over the events (two for recurring cohorts).

    Every event is paired with its unit's cohort(s): ``_a`` the cohort's start (the
    unit's first start event in it) and ``_c`` its calendar period number; ``_p`` is
    the event's period in that cohort. The anchor event itself is in period 0, so
    every member of a cohort has a period-0 row: the cohort's size needs no second
    pass. Per (unit, cohort, period): ``_n`` return events; a period counts when it
    is 0, or >= 1 with at least ``min_events`` returns.

    One row per (cohort ``_c``, period ``_p``) with ``_v`` units and ``_amin`` /
    ``_amax``, their earliest and latest start (epoch ms), and ``_tmax``, their last
    event (rows with a null ``_c`` hold the units without a start event, for the
    observation end). ``mode="on"``: ``_v`` units active in ``_p`` (at period 0: all
    members; rows whose ``_v`` is 0 may occur). ``mode="on_or_after"``: ``_v`` units
    whose last active period is ``_p`` (0: never returned), so the cohort's size is
    the sum over its rows.
    """
    keys = list(spec.keys)
    base = _events(lf, spec)
    offsets = _offsets(base, spec)

    def index(frame: Frame, source: str, name: str) -> Frame:
        return period_key(
            frame,
            source,
            name,
            period=spec.period,
            week_start=spec.weekday,
            offsets=offsets,
        )

    s, ms, a, p = nw.col("_s"), nw.col("_ms"), nw.col("_a"), nw.col("_p")
    first_start = nw.when(s).then(ms).min()
    returns = nw.col("_r").cast(nw.Int64).sum().alias("_n")
    if not spec.rolling:
        # calendar periods: the events are first reduced to (unit, period)
        per_period = (
            index(base, "_ms", "_e")
            .group_by([*keys, "_e"])
            .agg(first_start.alias("_sa"), returns, ms.max().alias("_tmax"))
        )
        if spec.cohort == "first":
            paired = index(
                per_period.with_columns(nw.col("_sa").min().over(*keys).alias("_a")),
                "_a",
                "_c",
            )
        else:
            anchors = per_period.filter(~nw.col("_sa").is_null()).select(
                *keys, nw.col("_e").alias("_c"), nw.col("_sa").alias("_a")
            )
            paired = per_period.join(anchors, on=keys, how="left")
        cells = paired.with_columns((nw.col("_e") - nw.col("_c")).alias("_p"))
    elif spec.cohort == "first":
        # rolling periods from the unit's first start event, on every event
        paired = base.with_columns(first_start.over(*keys).alias("_a"))
        paired = paired.with_columns(exact_div(ms - a, spec.length_ms).alias("_p"))
        cells = paired.group_by([*keys, "_a", "_p"]).agg(
            returns, ms.max().alias("_tmax")
        )
        cells = index(cells, "_a", "_c")
    else:
        # a cohort per period with a start event; every event of the unit joins each
        anchors = (
            index(base.filter(s).select(*keys, "_ms"), "_ms", "_c")
            .group_by([*keys, "_c"])
            .agg(ms.min().alias("_a"))
        )
        paired = base.join(anchors, on=keys, how="left")
        paired = paired.with_columns(exact_div(ms - a, spec.length_ms).alias("_p"))
        cells = paired.group_by([*keys, "_c", "_p"]).agg(
            returns, a.min(), ms.max().alias("_tmax")
        )
    counted = (p == 0) | ((p >= 1) & (nw.col("_n") >= spec.min_events))
    counted = counted.fill_null(value=False)
    if spec.mode == "on_or_after":
        cells = cells.group_by([*keys, "_c"]).agg(
            nw.when(counted).then(p).max().alias("_p"),
            a.min(),
            nw.col("_tmax").max(),
        )
        count = nw.len()
    else:
        count = counted.cast(nw.Int64).sum()
    return cells.group_by(["_c", "_p"]).agg(
        count.cast(nw.Int64).alias("_v"),
        a.min().alias("_amin"),
        a.max().alias("_amax"),
        nw.col("_tmax").max(),
    )
