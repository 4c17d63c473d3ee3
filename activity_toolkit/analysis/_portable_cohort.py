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

**Calendar periods in a time zone** are numbered on the engine by :func:`~._engine.period_key`:
the zone's UTC offsets over the data's time range, read from Polars' own time zone
database (:func:`~._engine.zone_offsets`; the engine is asked for that range
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

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import narwhals as nw

from activity_toolkit.analysis._engine import (
    exact_div,
    match_types,
    period_key,
    present_types,
    require,
    with_epoch_ms,
    zone_shifts,
)

if TYPE_CHECKING:
    from activity_toolkit.analysis._common import Step
    from activity_toolkit.analysis.cohort import _RetentionSpec

__all__ = ["parts", "present_types"]

Frame = nw.LazyFrame[Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
    offsets = zone_shifts(base, spec.tz)

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
