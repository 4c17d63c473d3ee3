"""Loyalty tiers: stays in a tier, paths, migrations, membership over time, time in tier.

**Tier state.** For each (customer, campaign), tier events are replayed in
(``created_at``, ``id``) order:

* ``joined`` sets the tier to its ``tier_id``; ``upgraded`` and ``downgraded`` set it to
  ``tier_to_id``;
* ``left`` clears it (no tier);
* ``prolonged`` and ``expiration.changed`` keep it. When such an event is the first
  one seen (the data starts while the member is already in a tier), its ``tier_id``
  starts the state.

A **spell** is a maximal stay in one tier: it starts at the event that set the tier and
ends at the next event that changed the state. An event that sets the tier the member
is already in (a repeated ``joined``) does not start a new spell. The state at a time
``t`` is the result of the events strictly before ``t``.

Inputs are an :class:`~activity_toolkit.ActivityLog` or a frame of stacked tier events
(see :func:`~activity_toolkit.analysis.typed_events`) with ``customer_id``,
``campaign_id``, ``type``, ``created_at`` and the tier columns; ``id`` breaks ties when
present.

**Engines.** Given a DuckDB relation, an Ibis table or a PySpark DataFrame of tier
events — the store's ``tier`` family table (:func:`~activity_toolkit.store_paths`) or
any events table — with the columns ``id``, ``customer_id``, ``campaign_id``,
``type``, ``created_at`` (a timestamp) and at least one of ``tier_id``,
``tier_name``, ``tier_from_id``, ``tier_from_name``, ``tier_to_id``,
``tier_to_name``, every function runs its portable definition
(:mod:`._portable_tiers`) and returns a frame of that engine. ``tier_spells``,
``tier_path`` and ``tier_transitions`` are computed by the engine whole;
``tier_distribution`` and ``time_in_tier`` are computed by the engine up to their
small aggregates (membership changes per tier and period; spells per tier and
duration), whose period grid and Kaplan-Meier curve are then finished locally by the
same code as here and handed back in the engine's kind. ``id`` is required there
(engines have no row order); ``start``/``end`` keep the input's timestamp type and
durations are ``Int64`` milliseconds. ``tests/scale/`` checks every function and
option gives the local rows.
"""

from __future__ import annotations

import math
import sys
from datetime import date, datetime
from statistics import NormalDist
from typing import Any

import narwhals as nw
import polars as pl

from activity_toolkit._time import as_utc, to_ms
from activity_toolkit.analysis import _portable_tiers
from activity_toolkit.analysis._common import UTC_MS, Kind, finish
from activity_toolkit.analysis._engine import (
    EngineFrame,
    finish_native,
    from_polars,
    is_local,
    period_starts,
    portable,
    wrap,
)
from activity_toolkit.analysis._options import (
    Period,
    SurvivalOutput,
    TierLevel,
    WeekStart,
    check,
)
from activity_toolkit.analysis._params import AnalysisParams
from activity_toolkit.analysis._periods import bucket, interval, resolve_period, weekday
from activity_toolkit.analysis._portable_tiers import NONE as _NONE
from activity_toolkit.analysis._portable_tiers import PREFIX as _PREFIX
from activity_toolkit.analysis._portable_tiers import TYPED as _TYPED
from activity_toolkit.analysis._portable_tiers import UNIT as _UNIT
from activity_toolkit.analysis._typed import typed_input
from activity_toolkit.exceptions import AnalysisInputError
from activity_toolkit.model import ActivityLog

__all__ = [
    "tier_distribution",
    "tier_path",
    "tier_spells",
    "tier_transitions",
    "time_in_tier",
]


_ORDER_NOTE = "tier events replayed per customer and campaign in (created_at, id) order"


def _tier_input(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame,
) -> tuple[pl.LazyFrame, Kind, pl.Expr]:
    """Tier events, the result kind, and an expression for the observation end."""
    lf, kind = typed_input(
        data,
        families=["tier"],
        required=["customer_id", "campaign_id", "type", "created_at"],
        typed=_TYPED,
        what="tier events",
    )
    if isinstance(data, ActivityLog):
        last = data.events["created_at"].max()
        end = (
            pl.lit(last, dtype=UTC_MS)
            if last is not None
            else pl.lit(None, dtype=UTC_MS)
        )
    else:
        end = pl.col("created_at").max()
    return lf, kind, end


def _engine_rows(data: EngineFrame) -> Any:
    """The tier events of an engine frame, checked, for :mod:`._portable_tiers`."""
    return _portable_tiers.tier_rows(wrap(data, what="tier events"))


def _to_engine(
    out: pl.DataFrame, like: Any, params: AnalysisParams, given: object
) -> Any:
    """A result finished locally, handed back in the engine's kind (durations as
    ``Int64`` milliseconds)."""
    ms = [
        pl.col(c).cast(pl.Int64)
        for c, dtype in out.schema.items()
        if isinstance(dtype, pl.Duration)
    ]
    return finish_native(from_polars(out.with_columns(ms), like), params, given=given)


def _states(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Every tier event with the state after it: ``_sid`` / ``_sname`` (``_NONE``
    when not in a tier), ``_kind`` (type suffix) and ``_change`` (state changed)."""
    kind = pl.col("type").str.strip_prefix(_PREFIX)
    sets_to = pl.col("tier_to_id").is_not_null() & kind.is_in(
        ["upgraded", "downgraded"]
    )
    raw_id = (
        pl.when(kind == "left")
        .then(pl.lit(_NONE))
        .when(sets_to)
        .then(pl.col("tier_to_id"))
        .when(kind == "joined")
        .then(pl.col("tier_id"))
    )
    raw_name = (
        pl.when(kind == "left")
        .then(pl.lit(_NONE))
        .when(sets_to)
        .then(pl.coalesce("tier_to_name", "tier_to_id"))
        .when(kind == "joined")
        .then(pl.coalesce("tier_name", "tier_id"))
    )
    # rows grouped by unit, in (created_at, id) order inside it; "_u" numbers the
    # units so that "within the unit" needs no window function over string keys
    first_of_unit = pl.any_horizontal(
        pl.col(c).ne_missing(pl.col(c).shift(1)) for c in _UNIT
    )
    ev = (
        lf.filter(
            pl.col("customer_id").is_not_null() & pl.col("created_at").is_not_null()
        )
        .sort([*_UNIT, "created_at", "id"], nulls_last=[True, True, False, False])
        .with_row_index("_r")
        .with_columns(
            kind.alias("_kind"),
            raw_id.alias("_rid"),
            raw_name.alias("_rname"),
            first_of_unit.cum_sum().alias("_u"),
        )
        .with_columns(
            pl.coalesce(_fill_in_unit("_rid"), "tier_id").alias("_sid"),
            pl.coalesce(
                _fill_in_unit("_rname"), pl.coalesce("tier_name", "tier_id")
            ).alias("_sname"),
        )
        .filter(pl.col("_sid").is_not_null())
    )
    same_unit = pl.col("_u") == pl.col("_u").shift(1)
    prev = pl.when(same_unit).then(pl.col("_sid").shift(1))
    return ev.with_columns(pl.col("_sid").ne_missing(prev).alias("_change"))


def _fill_in_unit(col: str) -> pl.Expr:
    """Forward fill of ``col`` that does not cross into the next unit (rows sorted by
    unit, ``_r`` the row number, ``_u`` the unit number)."""
    src = pl.when(pl.col(col).is_not_null()).then(pl.col("_r")).forward_fill()
    src_unit = pl.col("_u").gather(src)
    return pl.when(src_unit == pl.col("_u")).then(pl.col(col).forward_fill())


def _spells(lf: pl.LazyFrame, *, keep: tuple[str, ...] = ()) -> pl.LazyFrame:
    changes = _states(lf).filter(pl.col("_change"))
    next_same = pl.col("_u").shift(-1) == pl.col("_u")
    nxt_t = pl.when(next_same).then(pl.col("created_at").shift(-1))
    nxt_kind = pl.when(next_same).then(pl.col("_kind").shift(-1))
    return (
        changes.with_columns(nxt_t.alias("_end"), nxt_kind.alias("_end_kind"))
        .filter(pl.col("_sid") != _NONE)
        .select(
            *_UNIT,
            pl.col("_sid").alias("tier_id"),
            pl.col("_sname").alias("tier_name"),
            pl.col("created_at").alias("start"),
            pl.col("_end").alias("end"),
            pl.col("_end_kind").fill_null("open").alias("end_reason"),
            pl.col("_end").is_null().alias("censored"),
            *keep,
        )
    )


@portable
def tier_spells(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame | EngineFrame,
) -> pl.DataFrame | pl.LazyFrame | EngineFrame:
    """One row per stay of a member in a tier.

    Parameters
    ----------
    data
        Tier events whose spells to list: an
        :class:`~activity_toolkit.ActivityLog`, stacked tier events, or a DuckDB
        relation, Ibis table or PySpark DataFrame with ``id``, ``customer_id``,
        ``campaign_id``, ``type``, ``created_at`` and tier columns (``tier_id``,
        ``tier_name``…; see *Engines* above).

    Returns
    -------
    DataFrame or LazyFrame
        ``customer_id``, ``campaign_id``, ``tier_id``, ``tier_name``, ``start``,
        ``end`` (null while the member is still in the tier), ``end_reason``
        (``upgraded``, ``downgraded``, ``left``, ``joined`` — a join into another tier
        without a ``left`` in between — or ``open``) and ``censored`` (still open);
        sorted by customer, campaign and start. From an engine frame, a frame of
        that engine with ``start``/``end`` in the input's timestamp type.

    Examples
    --------
    >>> import polars as pl
    >>> events = pl.DataFrame(
    ...     {
    ...         "customer_id": ["c1"] * 4,
    ...         "campaign_id": ["club"] * 4,
    ...         "type": [
    ...             "customer.loyalty.tier.joined",
    ...             "customer.loyalty.tier.upgraded",
    ...             "customer.loyalty.tier.left",
    ...             "customer.loyalty.tier.joined",
    ...         ],
    ...         "created_at": pl.Series(
    ...             ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]
    ...         ).str.to_datetime(),
    ...         "tier_id": ["t1", None, "t2", "t1"],
    ...         "tier_name": ["Bronze", None, "Silver", "Bronze"],
    ...         "tier_to_id": [None, "t2", None, None],
    ...         "tier_to_name": [None, "Silver", None, None],
    ...     }
    ... )
    >>> tier_spells(events).select("tier_name", "end_reason", "censored")
    shape: (3, 3)
    ┌───────────┬────────────┬──────────┐
    │ tier_name ┆ end_reason ┆ censored │
    │ ---       ┆ ---        ┆ ---      │
    │ str       ┆ str        ┆ bool     │
    ╞═══════════╪════════════╪══════════╡
    │ Bronze    ┆ upgraded   ┆ false    │
    │ Silver    ┆ left       ┆ false    │
    │ Bronze    ┆ open       ┆ true     │
    └───────────┴────────────┴──────────┘
    """
    params = AnalysisParams(
        "tier_spells", (), (_ORDER_NOTE, "open spells are censored")
    )
    if not is_local(data):
        spells = _portable_tiers.spells_result(_engine_rows(data))
        return finish_native(spells, params, given=data)
    lf, kind, _ = _tier_input(data)
    out = _spells(lf).sort([*_UNIT, "start"], nulls_last=True)
    return finish(out, kind, params)


@portable
def tier_path(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame | EngineFrame,
) -> pl.DataFrame | pl.LazyFrame | EngineFrame:
    """Per customer and campaign, the ordered list of tiers the member went through.

    A ``"(none)"`` entry marks a ``left`` (time without a tier).

    Parameters
    ----------
    data
        Tier events whose paths to list: an
        :class:`~activity_toolkit.ActivityLog`, stacked tier events, or a DuckDB
        relation, Ibis table or PySpark DataFrame with ``id``, ``customer_id``,
        ``campaign_id``, ``type``, ``created_at`` and tier columns (``tier_id``,
        ``tier_name``…; see *Engines* above).
        Each engine builds the lists with its own ordered list aggregation.

    Returns
    -------
    DataFrame or LazyFrame
        ``customer_id``, ``campaign_id``, ``path`` (list of tier names) and ``changes``
        (number of entries), sorted by customer and campaign.

    Examples
    --------
    >>> import polars as pl
    >>> t = "customer.loyalty.tier."
    >>> events = pl.DataFrame(
    ...     {
    ...         "customer_id": ["c1"] * 3,
    ...         "campaign_id": ["club"] * 3,
    ...         "type": [t + "joined", t + "left", t + "joined"],
    ...         "created_at": pl.Series(
    ...             ["2024-01-01", "2024-02-01", "2024-03-01"]
    ...         ).str.to_datetime(),
    ...         "tier_id": ["t1", "t1", "t1"],
    ...         "tier_name": ["Bronze", "Bronze", "Bronze"],
    ...     }
    ... )
    >>> tier_path(events)["path"].to_list()
    [['Bronze', '(none)', 'Bronze']]
    """
    params = AnalysisParams(
        "tier_path", (), (_ORDER_NOTE, "'(none)' = not in a tier after a left")
    )
    if not is_local(data):
        paths = _portable_tiers.path(_engine_rows(data))
        return finish_native(paths, params, given=data)
    lf, kind, _ = _tier_input(data)
    name = (
        pl.when(pl.col("_sid") == _NONE)
        .then(pl.lit("(none)"))
        .otherwise(pl.col("_sname"))
    )
    out = (
        _states(lf)
        .filter(pl.col("_change"))
        .group_by(_UNIT, maintain_order=True)
        .agg(name.alias("path"))
        .with_columns(pl.col("path").list.len().cast(pl.Int64).alias("changes"))
        .sort(_UNIT, nulls_last=True)
    )
    return finish(out, kind, params)


_TRANSITION_NOTES: dict[str, tuple[str, ...]] = {
    "event": ("one transition per tier event, read from the event",),
    "period": (
        _ORDER_NOTE,
        "state at start (or 'none') -> state at end (or 'left'), members with a tier in the period",
    ),
}


def _share(counts: pl.LazyFrame, row: list[str]) -> pl.LazyFrame:
    return counts.with_columns(
        (pl.col("count") / pl.col("count").sum().over(row)).alias("share")
    )


@portable
def tier_transitions(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame | EngineFrame,
    *,
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    level: TierLevel = "event",
) -> pl.DataFrame | pl.LazyFrame | EngineFrame:
    """Tier migration counts, from → to, with row shares.

    Parameters
    ----------
    data
        Tier events whose migrations to count: an
        :class:`~activity_toolkit.ActivityLog`, stacked tier events, or a DuckDB
        relation, Ibis table or PySpark DataFrame with ``id``, ``customer_id``,
        ``campaign_id``, ``type``, ``created_at`` and tier columns (``tier_id``,
        ``tier_name``…; see *Engines* above).
    start, end
        The half-open period ``[start, end)``; ``None`` = unbounded.
    level
        ``"event"``: one transition per tier event in the period, read from the
        event itself — ``upgraded``/``downgraded`` give ``tier_from`` → ``tier_to``,
        ``joined`` gives ``"none"`` → tier, ``left`` gives tier → ``"left"``
        (``prolonged`` and ``expiration.changed`` are not transitions).
        ``"period"``: one transition per member who had a tier at some time in the
        period, from the state at ``start`` (a tier or ``"none"``) to the state at
        ``end`` (a tier, or ``"left"`` when the member has no tier then).

    Returns
    -------
    DataFrame or LazyFrame
        ``campaign_id``, ``from_tier``, ``to_tier``, ``count`` and ``share`` (count ÷
        the row total of ``from_tier``), sorted by campaign, from and to.

    Examples
    --------
    >>> import polars as pl
    >>> t = "customer.loyalty.tier."
    >>> events = pl.DataFrame(
    ...     {
    ...         "customer_id": ["c1", "c1", "c2"],
    ...         "campaign_id": ["club"] * 3,
    ...         "type": [t + "joined", t + "upgraded", t + "joined"],
    ...         "created_at": pl.Series(
    ...             ["2024-01-01", "2024-02-01", "2024-01-05"]
    ...         ).str.to_datetime(),
    ...         "tier_id": ["b", None, "b"],
    ...         "tier_name": ["Bronze", None, "Bronze"],
    ...         "tier_from_name": [None, "Bronze", None],
    ...         "tier_to_id": [None, "s", None],
    ...         "tier_to_name": [None, "Silver", None],
    ...     }
    ... )
    >>> tier_transitions(events).select("from_tier", "to_tier", "count", "share")
    shape: (2, 4)
    ┌───────────┬─────────┬───────┬───────┐
    │ from_tier ┆ to_tier ┆ count ┆ share │
    │ ---       ┆ ---     ┆ ---   ┆ ---   │
    │ str       ┆ str     ┆ i64   ┆ f64   │
    ╞═══════════╪═════════╪═══════╪═══════╡
    │ Bronze    ┆ Silver  ┆ 1     ┆ 1.0   │
    │ none      ┆ Bronze  ┆ 2     ┆ 1.0   │
    └───────────┴─────────┴───────┴───────┘
    >>> tier_transitions(events, level="period", end="2024-03-01")["to_tier"].to_list()
    ['Bronze', 'Silver']
    """
    check(level, TierLevel, name="level")
    lo = as_utc(start) if start is not None else None
    hi = as_utc(end) if end is not None else None
    params = AnalysisParams(
        "tier_transitions",
        (
            ("level", level),
            ("start", lo),
            ("end", hi),
        ),
        _TRANSITION_NOTES[level],
    )
    if not is_local(data):
        out_engine = _portable_tiers.transitions(
            _engine_rows(data),
            lo_ms=to_ms(lo) if lo is not None else None,
            hi_ms=to_ms(hi) if hi is not None else None,
            level=level,
        )
        return finish_native(out_engine, params, given=data)
    lf, kind, _ = _tier_input(data)
    if level == "event":
        ev = lf
        if lo is not None:
            ev = ev.filter(pl.col("created_at") >= lo)
        if hi is not None:
            ev = ev.filter(pl.col("created_at") < hi)
        k = pl.col("type").str.strip_prefix(_PREFIX)
        tier = pl.coalesce("tier_name", "tier_id")
        frm = (
            pl.when(k == "joined")
            .then(pl.lit("none"))
            .when(k == "left")
            .then(tier)
            .otherwise(pl.coalesce("tier_from_name", "tier_from_id"))
        )
        to = (
            pl.when(k == "joined")
            .then(tier)
            .when(k == "left")
            .then(pl.lit("left"))
            .otherwise(pl.coalesce("tier_to_name", "tier_to_id"))
        )
        pairs = ev.filter(k.is_in(["joined", "left", "upgraded", "downgraded"])).select(
            "campaign_id", frm.alias("from_tier"), to.alias("to_tier")
        )
    else:
        sp = _spells(lf)
        if lo is not None:
            sp = sp.filter(pl.col("end").is_null() | (pl.col("end") >= lo))
        if hi is not None:
            sp = sp.filter(pl.col("start") < hi)

        def state_at(t: datetime | None, default: str) -> pl.Expr:
            if t is None:
                covers = (
                    pl.col("end").is_null()
                    if default == "left"
                    else pl.lit(value=False)
                )
            else:
                covers = (pl.col("start") < t) & (
                    pl.col("end").is_null() | (pl.col("end") >= t)
                )
            return pl.col("tier_name").filter(covers).first().fill_null(default)

        pairs = (
            sp.group_by(_UNIT)
            .agg(
                state_at(lo, "none").alias("from_tier"),
                state_at(hi, "left").alias("to_tier"),
            )
            .select("campaign_id", "from_tier", "to_tier")
        )
    out = _share(
        pairs.group_by(["campaign_id", "from_tier", "to_tier"]).agg(
            pl.len().cast(pl.Int64).alias("count")
        ),
        ["campaign_id", "from_tier"],
    ).sort(["campaign_id", "from_tier", "to_tier"], nulls_last=True)
    return finish(out, kind, params)


@portable
def tier_distribution(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame | EngineFrame,
    *,
    period: Period = "month",
    tz: str = "UTC",
    week_start: WeekStart = "monday",
    end: datetime | date | str | None = None,
    every: str | None = None,
) -> pl.DataFrame | pl.LazyFrame | EngineFrame:
    """Members per tier at the end of each period.

    Parameters
    ----------
    data
        Tier events whose members to count: an
        :class:`~activity_toolkit.ActivityLog`, stacked tier events, or a DuckDB
        relation, Ibis table or PySpark DataFrame with ``id``, ``customer_id``,
        ``campaign_id``, ``type``, ``created_at`` and tier columns (``tier_id``,
        ``tier_name``…; see *Engines* above).
    period
        ``"day"``, ``"week"``, ``"month"``, ``"quarter"`` or ``"year"``: calendar
        periods in ``tz``.
    tz
        Time zone of the calendar and of the ``period`` columns.
    week_start
        First day of a week for ``period="week"``.
    end
        End of observation: events after it are not seen, the last row is its
        period, and ``complete`` tells whether a period had ended by then. Default: the data's last timestamp (for
        an ActivityLog, its last event of any type; for a table of tier events, its
        last tier event: pass the last event of the whole data to get the
        ActivityLog's numbers from such a table).
    every
        Deprecated: the Polars duration (``"1mo"``) that ``period`` replaces.

    Returns
    -------
    DataFrame or LazyFrame
        ``campaign_id``, ``tier_id``, ``tier_name``, ``period`` (start),
        ``period_end`` and ``members`` (in the tier after all events before
        ``period_end``), plus ``complete`` (the period ended by ``end``). Every tier
        has a row for every period from the first tier event's period to the period
        of ``end``, zeros included. From an engine frame:
        the engine counts the membership changes per tier and period, and this
        small table is finished locally and handed back as a frame of that engine.

    Examples
    --------
    >>> import polars as pl
    >>> t = "customer.loyalty.tier."
    >>> events = pl.DataFrame(
    ...     {
    ...         "customer_id": ["c1", "c2", "c1"],
    ...         "campaign_id": ["club"] * 3,
    ...         "type": [t + "joined", t + "joined", t + "left"],
    ...         "created_at": pl.Series(
    ...             ["2024-01-10", "2024-02-10", "2024-03-10"]
    ...         ).str.to_datetime(),
    ...         "tier_id": ["b", "b", "b"],
    ...         "tier_name": ["Bronze"] * 3,
    ...     }
    ... )
    >>> tier_distribution(events)["members"].to_list()
    [1, 2, 1]
    """
    period = resolve_period(period, every, function="tier_distribution")  # type: ignore[assignment]
    ws = weekday(week_start)
    params = AnalysisParams(
        "tier_distribution",
        (
            ("period", period),
            ("tz", tz),
            ("week_start", week_start if period == "week" else None),
            ("end", as_utc(end) if end is not None else None),
        ),
        (_ORDER_NOTE, "members = in the tier after all events before period_end"),
    )
    if not is_local(data):
        return _distribution_on_engine(
            data, period, tz, ws, params, to_ms(end) if end is not None else None
        )
    lf, kind, last = _tier_input(data)
    end_at = last
    if end is not None:  # observation stops there: later events are not seen
        end_at = pl.lit(as_utc(end), dtype=UTC_MS)
        lf = lf.filter(pl.col("created_at") <= end_at)
    sp = _spells(lf)

    def trunc(col: str) -> pl.Expr:
        return bucket(col, period, tz, ws)

    deltas = pl.concat(
        [
            sp.select(
                "campaign_id",
                "tier_id",
                "tier_name",
                trunc("start").alias("period"),
                pl.lit(1).alias("_d"),
            ),
            sp.filter(pl.col("end").is_not_null()).select(
                "campaign_id",
                "tier_id",
                "tier_name",
                trunc("end").alias("period"),
                pl.lit(-1).alias("_d"),
            ),
        ],
        how="vertical",
    )
    tiers = deltas.group_by(["campaign_id", "tier_id"]).agg(pl.col("tier_name").first())
    bounds = lf.select(trunc("created_at").min().alias("_lo"), end_at.alias("_end"))
    out = _distribution_table(deltas, tiers, bounds, period, tz, ws)
    return finish(out, kind, params)


def _distribution_table(
    deltas: pl.LazyFrame,
    tiers: pl.LazyFrame,
    bounds: pl.LazyFrame,
    period: str,
    tz: str,
    ws: int,
) -> pl.LazyFrame:
    """``tier_distribution``'s rows from the membership changes (``campaign_id``,
    ``tier_id``, ``period``, ``_d``), each tier's name and the bounds (``_lo``, the
    first event's period; ``_end``, the end of observation): every tier in every
    period, members by a running sum."""
    step = interval(period)
    periods = (
        bounds.with_columns(bucket("_end", period, tz, ws).alias("_hi"))
        .select(
            pl.datetime_ranges("_lo", "_hi", step, time_unit="ms").alias("period"),
            "_end",
        )
        .explode("period")
    )
    grid = (
        tiers.join(periods, how="cross")
        .join(
            deltas.group_by(["campaign_id", "tier_id", "period"]).agg(
                pl.col("_d").sum()
            ),
            on=["campaign_id", "tier_id", "period"],
            how="left",
        )
        .sort(["campaign_id", "tier_id", "period"], nulls_last=True)
        .with_columns(pl.col("period").dt.offset_by(step).alias("period_end"))
    )
    return grid.select(
        "campaign_id",
        "tier_id",
        "tier_name",
        "period",
        "period_end",
        pl.col("_d")
        .fill_null(0)
        .cum_sum()
        .over(["campaign_id", "tier_id"])
        .cast(pl.Int64)
        .alias("members"),
        (pl.col("period_end").dt.convert_time_zone("UTC") <= pl.col("_end")).alias(
            "complete"
        ),
    ).filter(pl.col("period").is_not_null())


def _distribution_on_engine(
    data: EngineFrame,
    period: str,
    tz: str,
    ws: int,
    params: AnalysisParams,
    end_ms: int | None,
) -> Any:
    """``tier_distribution`` of an engine frame: the engine's membership changes per
    tier and period, the grid and running sums built locally (up to ``end_ms``, by
    default the last tier event)."""
    rows = _engine_rows(data)
    if end_ms is not None:  # observation stops there: later events are not seen
        rows = rows.filter(nw.col("_ms") <= end_ms)
    parts, lo, hi = _portable_tiers.distribution_parts(
        rows, period=period, tz=tz, week_start=ws
    )
    if end_ms is not None and lo is not None:
        hi = end_ms
    counts = period_starts(parts, "_rep", "period", period=period, tz=tz, week_start=ws)
    tiers = counts.group_by("campaign_id", "tier_id").agg(
        pl.col("_name").drop_nulls().first().alias("tier_name")
    )
    first_last = pl.DataFrame(
        {"_rep": [lo], "_hi": [hi]}, schema=[("_rep", pl.Int64), ("_hi", pl.Int64)]
    )
    bounds = period_starts(
        first_last, "_rep", "_lo", period=period, tz=tz, week_start=ws
    ).select(
        "_lo",
        pl.col("_hi").cast(UTC_MS).alias("_end"),
    )
    out = _distribution_table(
        counts.select("campaign_id", "tier_id", "period", "_d").lazy(),
        tiers.lazy(),
        bounds.lazy(),
        period,
        tz,
        ws,
    ).collect()
    return _to_engine(out, rows, params, data)


#: R ``survival``'s tolerance (``sqrt(.Machine$double.eps)``): a survival value this
#: close to a level counts as sitting exactly on it (products such as 0.6 * 5/6).
_KM_TOL = math.sqrt(sys.float_info.epsilon)


def _km_quantile(level: float) -> pl.Expr:
    """Aggregation over one tier's curve rows: the duration where S(t) reaches
    ``level``, by R ``survival``'s ``quantile.survfit`` rule (see :func:`time_in_tier`).
    Order-free: S does not increase with the duration."""
    s = pl.col("survival")
    reached = s <= level + _KM_TOL
    t_reach = pl.col("duration").filter(reached).min()
    s_reach = s.filter(reached).max()
    # the next event time, where the curve drops below the value it reached
    t_below = pl.col("duration").filter(s < s_reach).min()
    on_level = (s_reach - level).abs() < _KM_TOL
    lo = t_reach.to_physical()
    mid = (lo + (t_below.to_physical() - lo) // 2).cast(pl.Duration("ms"))
    return pl.when(on_level & t_below.is_not_null()).then(mid).otherwise(t_reach)


def _km_band(z: float, grp: list[str]) -> list[pl.Expr]:
    """``std_err``, ``lower`` and ``upper`` of a curve sorted by group and duration:
    Greenwood's variance and the exponential Greenwood (log(-log)) interval with the
    normal quantile ``z``, as lifelines' ``KaplanMeierFitter`` computes them."""
    s = pl.col("survival")
    n = pl.col("at_risk").cast(pl.Float64)
    d = pl.col("left").cast(pl.Float64)
    # Greenwood's sum of d / (n (n - d)); a time where everyone at risk left (S = 0
    # from there) adds nothing, as in lifelines
    term = pl.when(n > d).then(d / (n * (n - d))).otherwise(pl.lit(0.0))
    root = term.cum_sum().over(grp).sqrt()
    log_s = s.log()
    half = z * root / log_s  # <= 0: the half-width on the log(-log S) scale, negated
    centre = (-log_s).log()

    def bound(expr: pl.Expr) -> pl.Expr:
        # S = 1 (no one left yet) and S = 0 have a degenerate interval at S
        return (
            pl.when(s >= 1.0)
            .then(pl.lit(1.0))
            .when(s <= 0.0)
            .then(pl.lit(0.0))
            .otherwise(expr)
        )

    return [
        (s * root).alias("std_err"),
        bound((-(centre - half).exp()).exp()).alias("lower"),
        bound((-(centre + half).exp()).exp()).alias("upper"),
    ]


@portable
def time_in_tier(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame | EngineFrame,
    *,
    end: datetime | date | str | None = None,
    output: SurvivalOutput = "summary",
    confidence: float = 0.95,
) -> pl.DataFrame | pl.LazyFrame | EngineFrame:
    """Kaplan-Meier time in tier, open spells censored at the end of observation.

    A closed spell is an event (the member left the tier after its duration); an open
    spell is censored at ``end``. Survival S(t) is the share of stays still in the tier
    after t (the product-limit estimate, per campaign and tier). The naive mean of
    closed spells is not reported because it is biased towards short stays.

    **Quantiles** follow R ``survival`` (``quantile.survfit``) and SAS: the quantile
    for a level p (``q25``: p = 0.75, the time by which a quarter of the stays ended;
    ``median``: p = 0.5; ``q75``: p = 0.25) is the first duration where S(t) <= p.
    When S(t) equals p exactly (within ``sqrt(machine epsilon)``) from that duration
    until the next event time, where the curve drops below p, the quantile is the
    midpoint of that flat stretch (rounded down to the millisecond). When the curve
    never reaches p it is null; when it stays on p until its end (the last stays are
    censored) it is the duration where it reached p.

    Parameters
    ----------
    data
        Tier events whose stays to measure: an
        :class:`~activity_toolkit.ActivityLog`, stacked tier events, or a DuckDB
        relation, Ibis table or PySpark DataFrame with ``id``, ``customer_id``,
        ``campaign_id``, ``type``, ``created_at`` and tier columns (``tier_id``,
        ``tier_name``…; see *Engines* above).
    end
        Censoring time for open spells; default the data's last timestamp (for an
        ActivityLog, its last event of any type).
    output
        ``"summary"`` (one row per tier) or ``"curve"`` (the survival table).
    confidence
        Level of the curve's pointwise confidence interval, strictly between 0 and 1.

    Returns
    -------
    DataFrame or LazyFrame
        Summary: ``campaign_id``, ``tier_id``, ``tier_name``, ``spells``, ``closed``,
        ``censored``, ``q25``, ``median``, ``q75`` (durations). Curve:
        ``campaign_id``, ``tier_id``, ``tier_name``, ``duration``, ``at_risk``,
        ``left``, ``censored``, ``survival``, ``std_err`` (Greenwood's standard error
        of the survival), ``lower`` and ``upper`` (the exponential Greenwood
        interval, i.e. Greenwood's variance on the log(-log S) scale, the default of
        lifelines' ``KaplanMeierFitter``; both equal the survival where it is 1 or 0).
        From an engine frame: the engine counts the spells per tier and duration,
        the curve is computed locally on those counts and handed back as a frame of
        that engine, durations as ``Int64`` milliseconds; the default ``end`` is
        then the last tier event.

    Raises
    ------
    AnalysisInputError
        ``output`` is not one of the choices, or ``confidence`` is not a number
        strictly between 0 and 1.

    Examples
    --------
    >>> import polars as pl
    >>> t = "customer.loyalty.tier."
    >>> events = pl.DataFrame(
    ...     {
    ...         "customer_id": ["a", "a", "b", "b", "c"],
    ...         "campaign_id": ["club"] * 5,
    ...         "type": [t + "joined", t + "left", t + "joined", t + "left", t + "joined"],
    ...         "created_at": pl.Series(
    ...             ["2024-01-01", "2024-01-11", "2024-01-01", "2024-01-21", "2024-01-01"]
    ...         ).str.to_datetime(),
    ...         "tier_id": ["b"] * 5,
    ...         "tier_name": ["Bronze"] * 5,
    ...     }
    ... )
    >>> time_in_tier(events, end="2024-02-01").select("spells", "censored", "median")
    shape: (1, 3)
    ┌────────┬──────────┬──────────────┐
    │ spells ┆ censored ┆ median       │
    │ ---    ┆ ---      ┆ ---          │
    │ i64    ┆ i64      ┆ duration[ms] │
    ╞════════╪══════════╪══════════════╡
    │ 3      ┆ 1        ┆ 20d          │
    └────────┴──────────┴──────────────┘
    >>> curve = time_in_tier(events, end="2024-02-01", output="curve")
    >>> curve.select("duration", "survival", "lower", "upper").with_columns(
    ...     pl.col("survival", "lower", "upper").round(3)
    ... )
    shape: (3, 4)
    ┌──────────────┬──────────┬───────┬───────┐
    │ duration     ┆ survival ┆ lower ┆ upper │
    │ ---          ┆ ---      ┆ ---   ┆ ---   │
    │ duration[ms] ┆ f64      ┆ f64   ┆ f64   │
    ╞══════════════╪══════════╪═══════╪═══════╡
    │ 10d          ┆ 0.667    ┆ 0.054 ┆ 0.945 │
    │ 20d          ┆ 0.333    ┆ 0.009 ┆ 0.774 │
    │ 31d          ┆ 0.333    ┆ 0.009 ┆ 0.774 │
    └──────────────┴──────────┴───────┴───────┘

    Without ``c``, S is exactly 0.5 from 10 to 20 days, and the median is the
    midpoint:

    >>> time_in_tier(events.head(4), end="2024-02-01")["median"].item()
    datetime.timedelta(days=15)
    """
    check(output, SurvivalOutput, name="output")
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not 0 < confidence < 1
    ):
        msg = (
            "confidence must be a number strictly between 0 and 1 (0.95 for a 95% "
            f"interval); got {confidence!r}"
        )
        raise AnalysisInputError(msg)
    params = AnalysisParams(
        "time_in_tier",
        (
            ("end", as_utc(end) if end is not None else "last event"),
            ("output", output),
            ("confidence", float(confidence)),
        ),
        (
            _ORDER_NOTE,
            "Kaplan-Meier; open spells censored at the end of observation",
            "quantiles as R survival: first duration with S <= p, the midpoint up to "
            "the next event when S = p exactly",
            "curve interval: Greenwood variance, log(-log) transform",
        ),
    )
    if not is_local(data):
        rows = _engine_rows(data)
        counts = _portable_tiers.km_counts(
            rows, end_ms=to_ms(end) if end is not None else None
        ).select(
            "campaign_id",
            "tier_id",
            pl.col("_dur").cast(pl.Duration("ms")).alias("duration"),
            "tier_name",
            "left",
            "_n",
        )
        out_local = _km_table(counts.lazy(), output, confidence).collect()
        return _to_engine(out_local, rows, params, data)
    lf, kind, end_expr = _tier_input(data)
    censor_at = pl.lit(as_utc(end), dtype=UTC_MS) if end is not None else end_expr
    sp = _spells(lf.with_columns(censor_at.alias("_cens")), keep=("_cens",))
    durations = sp.select(
        "campaign_id",
        "tier_id",
        "tier_name",
        (pl.coalesce("end", "_cens") - pl.col("start"))
        .cast(pl.Duration("ms"))
        .alias("duration"),
        (~pl.col("censored")).cast(pl.Int64).alias("_event"),
    )
    counts_lf = durations.group_by(["campaign_id", "tier_id", "duration"]).agg(
        pl.col("tier_name").first(),
        pl.col("_event").sum().alias("left"),
        pl.len().cast(pl.Int64).alias("_n"),
    )
    return finish(_km_table(counts_lf, output, confidence), kind, params)


def _km_table(
    counts: pl.LazyFrame, output: SurvivalOutput, confidence: float
) -> pl.LazyFrame:
    """``time_in_tier``'s rows from the spells counted per campaign, tier and
    ``duration`` (``tier_name``, ``left``: closed, ``_n``: all): the Kaplan-Meier
    curve, or its summary."""
    grp = ["campaign_id", "tier_id"]
    curve = (
        counts.sort([*grp, "duration"], nulls_last=True)
        .with_columns(
            pl.col("_n").cum_sum(reverse=True).over(grp).alias("at_risk"),
            (pl.col("_n") - pl.col("left")).alias("censored"),
        )
        .with_columns(
            (1 - pl.col("left") / pl.col("at_risk"))
            .cum_prod()
            .over(grp)
            .alias("survival")
        )
    )
    if output == "curve":
        z = NormalDist().inv_cdf(0.5 + confidence / 2)
        return curve.select(
            *grp,
            "tier_name",
            "duration",
            "at_risk",
            "left",
            "censored",
            "survival",
            *_km_band(z, grp),
        )
    return (
        curve.group_by(grp)
        .agg(
            pl.col("tier_name").first(),
            pl.col("_n").sum().cast(pl.Int64).alias("spells"),
            pl.col("left").sum().cast(pl.Int64).alias("closed"),
            pl.col("censored").sum().cast(pl.Int64).alias("censored"),
            _km_quantile(0.75).alias("q25"),
            _km_quantile(0.5).alias("median"),
            _km_quantile(0.25).alias("q75"),
        )
        .sort(grp, nulls_last=True)
    )
