"""Cohort retention: who comes back, period by period.

A *unit* (customer by default) enters a cohort with a **start event** and is *active*
in a later period when it does a **return event** there (at least ``min_events`` of
them). Every rule is a parameter and is recorded in the result's
:class:`~activity_toolkit.analysis.AnalysisParams`:

``cohort="first"``
    The unit's cohort is the period of its first start event in the data.
``cohort="recurring"``
    The unit joins the cohort of every period in which it did a start event, so it can
    appear in several cohorts.
``rolling=False`` (calendar periods)
    Periods are calendar days, weeks (starting on ``week_start``), months, quarters or
    years in the time zone ``tz``. Period p of a cohort is the p-th calendar period
    after the cohort's own, so a unit first seen on 31 Jan 23:00 that returns on 1 Feb
    01:00 is active in month 1 (retentioneering 3 and PostHog do the same).
``rolling=True``
    Period p of a unit is ``[start + p·L, start + (p+1)·L)`` measured from the unit's
    own (first) start event in that cohort, with L = 24 h x 1, 7, 30, 91 or 365 for day,
    week, month, quarter, year (Amplitude and Mixpanel's default). The cohort label is
    still the calendar period of the start event.
``mode="on"`` / ``"on_or_after"``
    Active in period p, or active in p or any later period.

Period 0 is the cohort itself: its ``active`` count is the cohort size by definition
(the start event happened there), whatever the return event.

**Zeros and unobservable cells.** Cells run from period 0 to the last period that has
begun by the end of the observation (``end``, by default the data's last timestamp).
A cell with no active unit is 0. A cell is ``observable=False`` when its period ends
after ``end`` (for rolling periods: for at least one member); its count is then a lower
bound. With ``mode="on_or_after"`` even an observable cell can still grow when later
data arrives.

With the defaults and ``period="month"`` (first event of any type, calendar months,
any event returns) the non-zero cells equal retentioneering 3's ``Cohorts`` tool with
``cohort_period=(1, "M")``; ``period="week"`` matches ``("W", (1, "W"))``.

**Engines.** Both functions also take a DuckDB relation, an Ibis table or a PySpark
DataFrame (any frame narwhals treats as lazy, or a narwhals LazyFrame) with the same
columns, and return a frame of that kind, with every option. The engine computes all
that grows with the data — cohorts, the periods of the return events, ``min_events``,
the mode — with the portable definition of :mod:`._portable_cohort`, down to one row
per cohort and period; those rows are finished by the code here (the grid of periods,
zeros, rates, observability, the matrix) and handed back as a frame of the engine (on
DuckDB, a relation of the default connection). There ``start`` and ``returning`` are
event types (a Polars expression only runs on Polars), the time column is a timestamp
or a date, no ``id`` is needed (retention does not depend on the order of same-time
events), and a ``tz`` other than UTC costs one small query first: the data's time range,
over which the zone's daylight-saving changes are read from Polars' time zone database,
so periods are numbered as here whatever the engine's own session time zone. The
results equal the local ones cohort by cohort (``tests/scale/``); the Polars code here
stays the local path because it is faster on one machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import narwhals as nw
import polars as pl

from activity_toolkit._time import as_utc
from activity_toolkit.analysis import _portable_cohort
from activity_toolkit.analysis._common import (
    UTC_MS,
    Step,
    StepLike,
    absent_note,
    as_lazy,
    as_step,
    check_step_types,
    finish,
    match_expr,
    norm_key,
    require_columns,
    utc_ms,
)
from activity_toolkit.analysis._engine import (
    EngineFrame,
    finish_native,
    from_polars,
    is_local,
    portable,
    to_polars,
    wrap,
)
from activity_toolkit.analysis._options import (
    CohortRule,
    Period,
    RetentionMode,
    WeekStart,
    check,
)
from activity_toolkit.analysis._params import AnalysisParams, with_params
from activity_toolkit.analysis._periods import floor as _floor
from activity_toolkit.analysis._periods import index as _index
from activity_toolkit.analysis._periods import weekday
from activity_toolkit.exceptions import AnalysisInputError
from activity_toolkit.model import ActivityLog

__all__ = ["retention", "retention_matrix"]

_ROLLING_DAYS = {"day": 1, "week": 7, "month": 30, "quarter": 91, "year": 365}
_OFFSET_UNIT = {"day": "d", "week": "w", "month": "mo", "quarter": "q", "year": "y"}
_MS_DAY = 86_400_000


def _check_tz(tz: object) -> None:
    """Refuse a time zone Polars does not know, with its suggestion."""
    try:
        if not isinstance(tz, str):
            raise TypeError
        pl.Series([0], dtype=UTC_MS).dt.convert_time_zone(tz)
    except (TypeError, pl.exceptions.ComputeError) as exc:
        hints = [ln for ln in str(exc).splitlines() if ln.startswith("Hint:")]
        hint = f" ({hints[0][6:]})" if hints else ""
        msg = f"tz={tz!r} is not an IANA time zone name such as 'Europe/Warsaw'{hint}"
        raise AnalysisInputError(msg) from None


@dataclass(frozen=True, slots=True)
class _RetentionSpec:
    """The options of one retention analysis, checked and normalised once (by
    :meth:`build`) and handed to every step."""

    period: str
    start: Step | None  # None: any event
    returning: Step | None  # None: any event
    cohort: str
    mode: str
    rolling: bool
    tz: str
    week_start: str  # as given, for the parameters
    weekday: int  # the same day as 0 (Monday) … 6, for the calendar
    min_events: int
    end: datetime | None  # UTC; None: the data's last timestamp
    keys: tuple[str, ...]
    time_col: str
    type_col: str
    absent: tuple[str, ...] = ()  # registered step types the data lacks

    @classmethod
    def build(
        cls,
        *,
        period: str,
        start: StepLike | None,
        returning: StepLike | None,
        cohort: str,
        mode: str,
        rolling: bool,
        tz: str,
        week_start: str,
        min_events: int,
        end: datetime | date | str | None,
        key: str | Sequence[str],
        time_col: str,
        type_col: str,
    ) -> _RetentionSpec:
        """Validate the options (``AnalysisInputError`` on an invalid one)."""
        check(period, Period, name="period")
        check(cohort, CohortRule, name="cohort")
        check(mode, RetentionMode, name="mode")
        if not isinstance(min_events, int) or min_events < 1:
            msg = f"min_events must be an integer >= 1; got {min_events!r}"
            raise AnalysisInputError(msg)
        _check_tz(tz)
        return cls(
            period=period,
            start=as_step(start) if start is not None else None,
            returning=as_step(returning) if returning is not None else None,
            cohort=cohort,
            mode=mode,
            rolling=rolling,
            tz=tz,
            week_start=week_start,
            weekday=weekday(week_start),
            min_events=min_events,
            end=as_utc(end) if end is not None else None,
            keys=norm_key(key),
            time_col=time_col,
            type_col=type_col,
        )

    def checked(self, data: object, lf: pl.LazyFrame) -> _RetentionSpec:
        """The spec after checking the ``start``/``returning`` types against the
        registry and the data: a ``customer.`` type that is neither is refused with
        the closest names; registered types the data lacks are noted."""
        absent: list[str] = []
        for what, step in (("start", self.start), ("returning", self.returning)):
            if step is not None:
                absent += check_step_types([step], data, lf, self.type_col, what=what)
        absent = list(dict.fromkeys(absent))
        return replace(self, absent=tuple(absent)) if absent else self

    def checked_on_engine(self, lf: nw.LazyFrame[Any]) -> _RetentionSpec:
        """:meth:`checked` for an engine frame: the engine is asked for its distinct
        event types only when a step names an unregistered ``customer.`` type."""
        steps = [s for s in (self.start, self.returning) if s is not None]
        present = _portable_cohort.present_types(lf, steps, self.type_col)
        return self.checked(
            present, present.lazy() if present is not None else pl.LazyFrame()
        )

    @property
    def length_ms(self) -> int:
        """Length of a rolling period."""
        return _ROLLING_DAYS[self.period] * _MS_DAY

    def floor(self, expr: pl.Expr) -> pl.Expr:
        """Start of the calendar period of a UTC time, in ``tz``."""
        return _floor(
            expr.dt.convert_time_zone(self.tz), self.period, self.weekday, tz=self.tz
        )

    def index(self, expr: pl.Expr) -> pl.Expr:
        """Number of the calendar period of a UTC time (consecutive periods differ
        by 1)."""
        return _index(self.floor(expr), self.period, self.weekday)

    def params(self, analysis: str) -> AnalysisParams:
        notes = [
            "period 0 = cohort size (the start event happened there)",
            "a zero is 0; observable=False when the period ends after the observation end",
        ]
        if self.rolling:
            notes.append(
                f"rolling periods of {_ROLLING_DAYS[self.period]} x 24 h from each unit's start"
            )
        else:
            notes.append("calendar periods counted from the cohort's period")
        notes.extend(absent_note(self.absent))
        calendar_week = self.period == "week" and not self.rolling
        return AnalysisParams(
            analysis,
            (
                ("period", self.period),
                ("start", self.start.label if self.start is not None else "any event"),
                (
                    "returning",
                    self.returning.label if self.returning is not None else "any event",
                ),
                ("cohort", self.cohort),
                ("mode", self.mode),
                ("rolling", self.rolling),
                ("tz", self.tz),
                ("week_start", self.week_start if calendar_week else None),
                ("min_events", self.min_events),
                ("end", self.end if self.end is not None else "last event"),
                ("key", self.keys[0] if len(self.keys) == 1 else self.keys),
            ),
            tuple(notes),
        )


# -- the cells, step by step -------------------------------------------------------------
#
# Plan: one aggregation per unit (its first start event, and the calendar periods — or,
# for rolling periods, the times — of its return events as a list), then the lists are
# exploded into (unit, cohort, period) rows. Grouping by the unit alone keeps the hash
# table small (one entry per unit instead of one per unit and period), which is what
# makes this fast on millions of events.
#
# Private columns: ``_t`` event time (UTC), ``_s``/``_r`` is a start/return event,
# ``_e`` the event's calendar period number, ``_a`` the unit's start (anchor) time in
# its cohort, ``_ret`` its returns, ``_c``/``_cs`` the cohort's period number/start,
# ``_p`` a period of the cohort, ``_v`` units active there, ``_end`` observation end.


def _events(lf: pl.LazyFrame, spec: _RetentionSpec) -> pl.LazyFrame:
    """Keys, ``_t``, ``_s``, ``_r`` (and ``_e`` for calendar periods) of the events
    with a unit and a time, up to ``end``."""
    schema = lf.collect_schema()
    needs_type = any(
        s is not None and not isinstance(s.match, pl.Expr)
        for s in (spec.start, spec.returning)
    )
    require_columns(
        schema,
        [*spec.keys, spec.time_col, *([spec.type_col] if needs_type else [])],
    )

    def matches(step: Step | None) -> pl.Expr:
        if step is None:
            return pl.lit(value=True)
        return match_expr(step, spec.type_col)

    base = lf.select(
        *spec.keys,
        utc_ms(spec.time_col, schema).alias("_t"),
        matches(spec.start).alias("_s"),
        matches(spec.returning).alias("_r"),
    ).filter(pl.all_horizontal(pl.col(c).is_not_null() for c in (*spec.keys, "_t")))
    if spec.end is not None:
        base = base.filter(pl.col("_t") <= spec.end)
    if not spec.rolling:
        base = base.with_columns(spec.index(pl.col("_t")).alias("_e"))
    return base


def _units(base: pl.LazyFrame, spec: _RetentionSpec) -> pl.LazyFrame:
    """One row per unit and cohort it joined: ``_a``, ``_ret`` (the unit's return
    periods, or times for rolling periods), ``_end``, ``_cs`` and ``_c``."""
    keys = list(spec.keys)
    ret_value = pl.col("_t") if spec.rolling else pl.col("_e")
    ret_list = ret_value.filter(pl.col("_r"))
    if spec.min_events == 1 and not spec.rolling:
        ret_list = ret_list.unique()

    if spec.cohort == "first":
        # one row per unit, its cohort and its return events as a list
        units = base.group_by(keys).agg(
            pl.col("_t").filter(pl.col("_s")).min().alias("_a"),
            pl.col("_t").max().alias("_tmax"),
            ret_list.alias("_ret"),
        )
    else:
        # one row per (unit, period with a start event); the unit's returns as a list
        if spec.rolling:
            base = base.with_columns(spec.index(pl.col("_t")).alias("_e"))
        anchors = (
            base.filter(pl.col("_s"))
            .group_by([*keys, "_e"])
            .agg(pl.col("_t").min().alias("_a"))
            .drop("_e")
        )
        per_unit = base.group_by(keys).agg(
            pl.col("_t").max().alias("_tmax"), ret_list.alias("_ret")
        )
        units = per_unit.join(anchors, on=keys, how="left")
    if spec.end is not None:
        units = units.with_columns(pl.lit(spec.end).cast(UTC_MS).alias("_end"))
    else:
        units = units.with_columns(pl.col("_tmax").max().alias("_end"))
    return units.filter(pl.col("_a").is_not_null()).with_columns(
        spec.floor(pl.col("_a")).alias("_cs"), spec.index(pl.col("_a")).alias("_c")
    )


def _active_counts(units: pl.LazyFrame, spec: _RetentionSpec) -> pl.LazyFrame:
    """``_c``, ``_p`` (>= 1) and ``_v``: the units active in period ``_p`` of cohort
    ``_c`` (for ``on_or_after``: whose last active period is ``_p``), only where
    there are some."""
    keys = spec.keys
    # (unit, cohort, period) for every return in a period >= 1
    rets = units.select(*keys, "_c", "_a", "_ret").explode("_ret")
    if spec.rolling:
        p = (pl.col("_ret") - pl.col("_a")).dt.total_milliseconds() // spec.length_ms
        rets = rets.filter(pl.col("_ret") >= pl.col("_a"))
    else:
        p = pl.col("_ret") - pl.col("_c")
    rets = rets.select(*keys, "_c", p.alias("_p")).filter(pl.col("_p") >= 1)
    if spec.rolling or spec.min_events > 1:
        qual = (
            rets.group_by([*keys, "_c", "_p"])
            .agg(pl.len().alias("_n"))
            .filter(pl.col("_n") >= spec.min_events)
            .drop("_n")
        )
    else:
        qual = rets
    if spec.mode == "on":
        return qual.group_by(["_c", "_p"]).agg(pl.len().cast(pl.Int64).alias("_v"))
    return (
        qual.group_by([*keys, "_c"])
        .agg(pl.col("_p").max())
        .group_by(["_c", "_p"])
        .agg(pl.len().cast(pl.Int64).alias("_v"))
    )


def _cohorts(units: pl.LazyFrame) -> pl.LazyFrame:
    """One row per cohort: ``_c``, ``cohort_size``, ``_cs``, ``_end`` and
    ``_amin``/``_amax``, the cohort's earliest and latest start."""
    return units.group_by("_c").agg(
        pl.len().cast(pl.Int64).alias("cohort_size"),
        pl.col("_cs").first(),
        pl.col("_end").first(),
        pl.col("_a").min().alias("_amin"),
        pl.col("_a").max().alias("_amax"),
    )


def _grid(
    cohorts: pl.LazyFrame, counts: pl.LazyFrame, spec: _RetentionSpec
) -> pl.LazyFrame:
    """Every (cohort, period) from 0 to the last period begun by ``_end``, with the
    columns of :func:`_cohorts` and the counts (0 where none)."""
    if spec.rolling:
        last = (pl.col("_end") - pl.col("_amin")).dt.total_milliseconds()
        last = last // spec.length_ms
    else:
        last = spec.index(pl.col("_end")) - pl.col("_c")
    return (
        cohorts.with_columns(
            pl.int_ranges(0, pl.max_horizontal(last, 0) + 1).alias("_p")
        )
        .explode("_p")
        .with_columns(pl.col("_p").cast(pl.Int64))
        .join(counts, on=["_c", "_p"], how="left")
        .with_columns(pl.col("_v").fill_null(0))
        .sort(["_c", "_p"])
    )


def _cells(grid: pl.LazyFrame, spec: _RetentionSpec) -> pl.LazyFrame:
    """The public columns: ``active``, ``rate`` and ``observable`` per cell."""
    active = (
        pl.col("_v")
        if spec.mode == "on"
        else pl.col("_v").cum_sum(reverse=True).over("_c")
    )
    active = pl.when(pl.col("_p") == 0).then(pl.col("cohort_size")).otherwise(active)
    if spec.rolling:
        # for every member: its period p ends at most this late
        period_end = pl.col("_amax") + pl.duration(
            milliseconds=(pl.col("_p") + 1) * spec.length_ms
        )
    else:
        period_end = (
            pl.col("_cs")
            .dt.offset_by(pl.format("{}" + _OFFSET_UNIT[spec.period], pl.col("_p") + 1))
            .dt.convert_time_zone("UTC")
        )
    return grid.select(
        pl.col("_cs").alias("cohort"),
        pl.col("_p").alias("period"),
        "cohort_size",
        active.cast(pl.Int64).alias("active"),
        (active / pl.col("cohort_size")).alias("rate"),
        (period_end <= pl.col("_end")).alias("observable"),
    )


def _long(lf: pl.LazyFrame, spec: _RetentionSpec) -> pl.LazyFrame:
    """The retention cells of :func:`retention`."""
    units = _units(_events(lf, spec), spec)
    return _cells(_grid(_cohorts(units), _active_counts(units, spec), spec), spec)


def _long_on_engine(lf: nw.LazyFrame[Any], spec: _RetentionSpec) -> pl.DataFrame:
    """The retention cells of an engine frame: the engine computes the aggregate of
    :func:`._portable_cohort.parts`; its few rows are finished here, locally, by the
    code of the local path (the grid of periods, zeros, rates, observability)."""
    agg = to_polars(_portable_cohort.parts(lf, spec)).with_columns(
        pl.col("_c", "_p", "_v").cast(pl.Int64)
    )

    def instant(value: pl.Expr) -> pl.Expr:
        return value.cast(pl.Int64).cast(UTC_MS)

    end = (
        pl.lit(spec.end).cast(UTC_MS)
        if spec.end is not None
        else instant(pl.lit(agg["_tmax"].max()))
    )
    members = agg.filter(pl.col("_c").is_not_null())
    size = pl.col("_v").filter(pl.col("_p") == 0) if spec.mode == "on" else pl.col("_v")
    # the engine's cohort key (_k) is renumbered by the local calendar (_c)
    cohorts = (
        members.lazy()
        .group_by(pl.col("_c").alias("_k"))
        .agg(
            size.sum().cast(pl.Int64).alias("cohort_size"),
            instant(pl.col("_amin").min()).alias("_amin"),
            instant(pl.col("_amax").max()).alias("_amax"),
        )
        .with_columns(
            end.alias("_end"),
            spec.floor(pl.col("_amin")).alias("_cs"),
            spec.index(pl.col("_amin")).alias("_c"),
        )
    )
    counts = (
        members.lazy()
        .filter((pl.col("_p") >= 1) & (pl.col("_v") > 0))
        .select(pl.col("_c").alias("_k"), "_p", "_v")
        .join(cohorts.select("_k", "_c"), on="_k")
        .drop("_k")
    )
    return _cells(_grid(cohorts, counts, spec), spec).collect()


@portable
def retention(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame | EngineFrame,
    *,
    period: Period = "week",
    start: StepLike | None = None,
    returning: StepLike | None = None,
    cohort: CohortRule = "first",
    mode: RetentionMode = "on",
    rolling: bool = False,
    tz: str = "UTC",
    week_start: WeekStart = "monday",
    min_events: int = 1,
    end: datetime | date | str | None = None,
    key: str | Sequence[str] = "customer_id",
    time_col: str = "created_at",
    type_col: str = "type",
) -> pl.DataFrame | pl.LazyFrame | EngineFrame:
    """Retention of cohorts as a long frame, one row per cohort and period.

    Parameters
    ----------
    data
        An :class:`~activity_toolkit.ActivityLog`, or a DataFrame / LazyFrame with the
        key and time columns (and the type column when ``start``/``returning`` name
        event types), or such a frame of another engine (see the module docstring).
    period
        ``"day"``, ``"week"``, ``"month"``, ``"quarter"`` or ``"year"``.
    start, returning
        The cohort (start) event and the return event: an event type, a sequence of
        types, a boolean expression or a :class:`Step`. ``None`` = any event.
    cohort
        ``"first"`` (first start event) or ``"recurring"`` (every period with one).
    mode
        ``"on"`` (active in the period) or ``"on_or_after"`` (in it or later).
    rolling
        Measure periods in 24 h multiples from each unit's start instead of calendar
        periods.
    tz
        IANA time zone of the calendar (``"Europe/Warsaw"``); also the zone of the
        ``cohort`` column.
    week_start
        First day of a week for ``period="week"``.
    min_events
        Return events a unit needs in a period to count as active there (periods ≥ 1).
    end
        End of observation; default the data's last timestamp.
    key, time_col, type_col
        Column names.

    Returns
    -------
    DataFrame, LazyFrame or the engine's frame
        ``cohort`` (period start, in ``tz``), ``period`` (0, 1, …), ``cohort_size``,
        ``active``, ``rate`` (active ÷ cohort size) and ``observable``; sorted by
        cohort and period.

    Raises
    ------
    MissingColumnsError
        A needed column is missing.
    AnalysisInputError
        An invalid option or time zone; on an engine frame, a step given as a Polars
        expression.

    Examples
    --------
    >>> import polars as pl
    >>> events = pl.DataFrame(
    ...     {
    ...         "customer_id": ["a", "a", "b", "b", "c"],
    ...         "created_at": pl.Series(
    ...             [
    ...                 "2024-01-31 23:00",
    ...                 "2024-02-01 01:00",
    ...                 "2024-01-05 00:00",
    ...                 "2024-03-02 00:00",
    ...                 "2024-02-10 00:00",
    ...             ]
    ...         ).str.to_datetime(),
    ...     }
    ... )
    >>> retention(events, period="month").select(
    ...     pl.col("cohort").dt.date(), "period", "active", "observable"
    ... )
    shape: (5, 4)
    ┌────────────┬────────┬────────┬────────────┐
    │ cohort     ┆ period ┆ active ┆ observable │
    │ ---        ┆ ---    ┆ ---    ┆ ---        │
    │ date       ┆ i64    ┆ i64    ┆ bool       │
    ╞════════════╪════════╪════════╪════════════╡
    │ 2024-01-01 ┆ 0      ┆ 2      ┆ true       │
    │ 2024-01-01 ┆ 1      ┆ 1      ┆ true       │
    │ 2024-01-01 ┆ 2      ┆ 1      ┆ false      │
    │ 2024-02-01 ┆ 0      ┆ 1      ┆ true       │
    │ 2024-02-01 ┆ 1      ┆ 0      ┆ false      │
    └────────────┴────────┴────────┴────────────┘
    """
    spec = _RetentionSpec.build(
        period=period,
        start=start,
        returning=returning,
        cohort=cohort,
        mode=mode,
        rolling=rolling,
        tz=tz,
        week_start=week_start,
        min_events=min_events,
        end=end,
        key=key,
        time_col=time_col,
        type_col=type_col,
    )
    if not is_local(data):
        frame = wrap(data)
        spec = spec.checked_on_engine(frame)
        long = _long_on_engine(frame, spec)
        return finish_native(
            from_polars(long, frame), spec.params("retention"), given=data
        )
    lf, kind = as_lazy(data)
    spec = spec.checked(data, lf)
    return finish(_long(lf, spec), kind, spec.params("retention"))


def _matrix(long: pl.LazyFrame, periods: int) -> pl.LazyFrame:
    cols = [str(p) for p in range(periods + 1)]
    value = pl.when(pl.col("observable")).then(pl.col("rate"))
    rows = (
        long.group_by("cohort", maintain_order=True)
        .agg(
            pl.col("cohort_size").first(),
            *[
                value.filter(pl.col("period") == p).first().alias(str(p))
                for p in range(periods + 1)
            ],
        )
        .sort("cohort")
        .with_columns(pl.col("cohort").dt.strftime("%Y-%m-%d %H:%M").alias("row"))
    )
    obs = long.filter(pl.col("observable"))
    weighted = obs.group_by("period").agg(
        (pl.col("active").sum() / pl.col("cohort_size").sum()).alias("v")
    )
    # a sequential sum in sorted order: a parallel mean adds partial sums in a
    # varying order, which changed the last digit from run to run
    simple = obs.group_by("period").agg(
        (pl.col("rate").sort().cum_sum().last() / pl.len()).alias("v")
    )
    size = long.filter(pl.col("period") == 0).select(pl.col("cohort_size").sum())

    def avg_row(frame: pl.LazyFrame, label: str) -> pl.LazyFrame:
        return frame.select(
            pl.lit(label).alias("row"),
            *[
                pl.col("v").filter(pl.col("period") == p).first().alias(str(p))
                for p in range(periods + 1)
            ],
        ).join(size, how="cross")

    schema_row = [
        pl.col("row"),
        pl.col("cohort"),
        pl.col("cohort_size").cast(pl.Int64),
        *[pl.col(c).cast(pl.Float64) for c in cols],
    ]
    cohort_dtype = long.collect_schema()["cohort"]
    averages = pl.concat(
        [avg_row(weighted, "weighted average"), avg_row(simple, "simple average")],
        how="vertical",
    ).with_columns(pl.lit(None, dtype=cohort_dtype).alias("cohort"))
    return pl.concat(
        [rows.select(schema_row), averages.select(schema_row)], how="vertical"
    )


def _max_period(long: pl.DataFrame) -> int:
    value = long.select(pl.col("period").max()).item()
    return int(value) if value is not None else 0


@portable
def retention_matrix(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame | EngineFrame,
    *,
    period: Period = "week",
    start: StepLike | None = None,
    returning: StepLike | None = None,
    cohort: CohortRule = "first",
    mode: RetentionMode = "on",
    rolling: bool = False,
    tz: str = "UTC",
    week_start: WeekStart = "monday",
    min_events: int = 1,
    end: datetime | date | str | None = None,
    key: str | Sequence[str] = "customer_id",
    time_col: str = "created_at",
    type_col: str = "type",
    periods: int | None = None,
) -> pl.DataFrame | pl.LazyFrame | EngineFrame:
    """The cohort x period retention pivot, with weighted and simple average rows.

    Takes the same parameters as :func:`retention`, plus ``periods``.

    Parameters
    ----------
    periods
        Highest period column to show. By default the highest period in the data;
        give it to keep a LazyFrame input fully lazy (otherwise the small long result
        is collected to find the columns, and returned as a LazyFrame again).

    Returns
    -------
    DataFrame, LazyFrame or the engine's frame
        ``row`` (the cohort start as text, or ``"weighted average"`` /
        ``"simple average"``), ``cohort`` (null on the average rows), ``cohort_size``
        (the total on the average rows) and one column per period ``"0"``, ``"1"``, …
        holding the rate; null where the cell is not observable (or absent). The
        weighted average is Σ active ÷ Σ cohort size over the observable cells of a
        period; the simple average is the mean of their rates.

    Examples
    --------
    >>> import polars as pl
    >>> events = pl.DataFrame(
    ...     {
    ...         "customer_id": ["a", "a", "b", "c", "c"],
    ...         "created_at": pl.Series(
    ...             ["2024-01-01", "2024-01-09", "2024-01-02", "2024-01-08", "2024-01-22"]
    ...         ).str.to_datetime(),
    ...     }
    ... )
    >>> m = retention_matrix(events, period="week")
    >>> m.select("row", "cohort_size", "0", "1")
    shape: (4, 4)
    ┌──────────────────┬─────────────┬─────┬──────────┐
    │ row              ┆ cohort_size ┆ 0   ┆ 1        │
    │ ---              ┆ ---         ┆ --- ┆ ---      │
    │ str              ┆ i64         ┆ f64 ┆ f64      │
    ╞══════════════════╪═════════════╪═════╪══════════╡
    │ 2024-01-01 00:00 ┆ 2           ┆ 1.0 ┆ 0.5      │
    │ 2024-01-08 00:00 ┆ 1           ┆ 1.0 ┆ 0.0      │
    │ weighted average ┆ 3           ┆ 1.0 ┆ 0.333333 │
    │ simple average   ┆ 3           ┆ 1.0 ┆ 0.25     │
    └──────────────────┴─────────────┴─────┴──────────┘
    """
    if periods is not None and (not isinstance(periods, int) or periods < 0):
        msg = f"periods must be a non-negative integer or None; got {periods!r}"
        raise AnalysisInputError(msg)
    spec = _RetentionSpec.build(
        period=period,
        start=start,
        returning=returning,
        cohort=cohort,
        mode=mode,
        rolling=rolling,
        tz=tz,
        week_start=week_start,
        min_events=min_events,
        end=end,
        key=key,
        time_col=time_col,
        type_col=type_col,
    )
    if not is_local(data):
        frame = wrap(data)
        spec = spec.checked_on_engine(frame)
        cells = _long_on_engine(frame, spec)
        n = periods if periods is not None else _max_period(cells)
        matrix = _matrix(cells.lazy(), n).collect()
        return finish_native(
            from_polars(matrix, frame), spec.params("retention_matrix"), given=data
        )
    lf, kind = as_lazy(data)
    spec = spec.checked(data, lf)
    long = _long(lf, spec)
    params = spec.params("retention_matrix")
    if kind == "eager":
        collected = long.collect()
        n = periods if periods is not None else _max_period(collected)
        return with_params(_matrix(collected.lazy(), n).collect(), params)
    if periods is None:
        collected = long.collect()
        n = _max_period(collected)
        return with_params(_matrix(collected.lazy(), n).collect().lazy(), params)
    return with_params(_matrix(long, periods), params)
