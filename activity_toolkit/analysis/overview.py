"""The overview: headline numbers per period and activity over time.

:func:`kpis` compares the last complete period with the one before it: customers
active, events, redemption success rate, paid-order revenue and outstanding loyalty
points. :func:`activity_timeline` counts events per period and family.
:func:`coupon_funnels` stacks the coupon funnels of the top campaigns.

**Engines.** Given a DuckDB relation, an Ibis table or a PySpark DataFrame of events
(``customer_id``, ``type``, ``created_at`` a timestamp; ``family`` and
``order_amount`` when present; the points columns of :mod:`.points` for outstanding
points), :func:`kpis` and :func:`activity_timeline` run their portable definition
(:mod:`._portable_overview`): the engine counts and sums per period key or between
the period bounds (computed here from the last event's time, one small query), and
the small aggregate is finished by the same local code as here (the grid of every
period and family, the metric rows) and handed back in the engine's kind.
:func:`coupon_funnels` takes the stacked campaign rows that
:func:`~activity_toolkit.coupon_funnel` reads on an engine; the engine counts the
publications per campaign and runs each campaign's coupon funnel query.
``tests/scale/`` checks they give the local rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import narwhals as nw
import polars as pl

from activity_toolkit._time import as_utc
from activity_toolkit.analysis import (
    _portable_campaigns,
    _portable_overview,
    _portable_points,
)
from activity_toolkit.analysis._common import (
    UTC_MS,
    as_lazy,
    finish,
    require_columns,
    utc_ms,
)
from activity_toolkit.analysis._engine import (
    EngineFrame,
    engine_name,
    finish_native,
    from_polars,
    is_local,
    ms_range,
    period_starts,
    portable,
    to_polars,
    wrap,
    zone_shifts,
)
from activity_toolkit.analysis._options import Period, WeekStart, check
from activity_toolkit.analysis._params import AnalysisParams, params_of, with_params
from activity_toolkit.analysis._periods import bucket, every_period, interval, weekday
from activity_toolkit.analysis._portable_overview import FAILED as _FAILED
from activity_toolkit.analysis._portable_overview import PAID as _PAID
from activity_toolkit.analysis._portable_overview import SUCCEEDED as _SUCCEEDED
from activity_toolkit.analysis._typed import typed_events
from activity_toolkit.analysis.campaigns import (
    _check_campaigns,
    _coupon_from_parts,
    _coupon_params,
    _engine_frame,
    coupon_funnel,
)
from activity_toolkit.analysis.funnel import _observed
from activity_toolkit.analysis.points import _input as _points_input
from activity_toolkit.analysis.points import _ledger
from activity_toolkit.events import REGISTRY, family_of
from activity_toolkit.exceptions import AnalysisInputError, MissingColumnsError
from activity_toolkit.model import ActivityLog

__all__ = ["activity_timeline", "coupon_funnels", "kpis"]

#: (metric, label, unit) in display order
_METRICS = (
    ("customers", "Active customers", "count"),
    ("events", "Events", "count"),
    ("redemption_rate", "Redemption success rate", "ratio"),
    ("revenue", "Paid-order revenue", "money"),
    ("outstanding_points", "Outstanding points", "points"),
)


def _events(data: ActivityLog | pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    lf, _ = as_lazy(data)
    schema = lf.collect_schema()
    require_columns(schema, ["customer_id", "type", "created_at"])
    return lf.with_columns(utc_ms("created_at", schema).alias("created_at"))


def _orders(data: ActivityLog | pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame | None:
    """Paid orders with ``order_amount``, or None when the data has no amounts."""
    if isinstance(data, ActivityLog):
        lf = typed_events(data, families=["order"]).lazy()
    else:
        lf, _ = as_lazy(data)
    schema = lf.collect_schema()
    if "order_amount" not in schema:
        return None
    amount = schema["order_amount"]
    if amount == pl.Null:  # no amount at all: a sum of nothing, as on engines
        amount = pl.Int64()
    elif not amount.is_numeric():
        raise AnalysisInputError(_portable_overview.AMOUNT_ERROR.format(amount))
    return lf.filter(pl.col("type") == _PAID).select(
        utc_ms("created_at", schema).alias("created_at"),
        pl.col("order_amount").cast(amount),
    )


def _points_deltas(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame,
) -> pl.LazyFrame | None:
    try:
        lf, _ = _points_input(data)
    except (KeyError, ValueError):  # no points columns: nothing to report
        return None
    return _ledger(lf).select("created_at", "_delta")


@portable
def kpis(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame | EngineFrame,
    *,
    period: Period = "month",
    tz: str = "UTC",
    week_start: WeekStart = "monday",
    end: datetime | date | str | None = None,
    ledger: ActivityLog | pl.DataFrame | pl.LazyFrame | EngineFrame | None = None,
) -> pl.DataFrame | pl.LazyFrame | EngineFrame:
    """Headline numbers of the last complete period, with the change from the one
    before.

    Parameters
    ----------
    data
        An :class:`~activity_toolkit.ActivityLog` (revenue and points come from its
        typed frames), an events frame (revenue needs ``order_amount``, points the
        points columns; without them those metrics are null) or such a frame of
        another engine (DuckDB relation, Ibis table, PySpark DataFrame; see
        :mod:`._portable_overview`).
    period
        ``"day"``, ``"week"``, ``"month"``, ``"quarter"`` or ``"year"``, calendar
        periods in ``tz``.
    tz
        Time zone of the calendar.
    week_start
        First day of a week for ``period="week"``.
    end
        End of observation; default: the last event's time. The current period is
        the last one that ends at or before ``end``.
    ledger
        Where outstanding points are computed from; default ``data``. A balance
        needs every points event of a card since it was issued, so when ``data``
        is a subset (a channel, a date window) pass the whole log here; a balance
        summed from a subset can even be negative. With an engine frame as
        ``data``, a frame of the same engine.

    Returns
    -------
    DataFrame, LazyFrame or the engine's frame
        One row per metric: ``metric``, ``label``, ``unit`` (``count``, ``ratio``,
        ``money`` in minor units, ``points``), ``period`` and ``previous_period``
        (starts), ``value``, ``previous`` and ``change`` ((value - previous) ÷
        previous; null when previous is 0 or null). ``customers`` counts distinct
        customers with any event in the period; ``redemption_rate`` is succeeded ÷
        (succeeded + failed) redemptions; ``revenue`` sums ``order_amount`` of paid
        orders; ``outstanding_points`` is the sum of all loyalty balances at the
        period's end.

    Examples
    --------
    >>> from activity_toolkit import sample
    >>> k = kpis(sample(customers=40, seed=1))
    >>> k["metric"].to_list()
    ['customers', 'events', 'redemption_rate', 'revenue', 'outstanding_points']
    """
    check(period, Period, name="period")
    ws = weekday(week_start)
    end_utc = as_utc(end) if end is not None else None
    params = AnalysisParams(
        "kpis",
        (
            ("period", period),
            ("tz", tz),
            ("week_start", week_start if period == "week" else None),
            ("end", end_utc),
            ("ledger", None if ledger is None else "given"),
        ),
        (
            "current period = the last complete period before the end of observation",
            "redemption rate = succeeded / (succeeded + failed) redemptions",
            "revenue = order_amount of paid orders, minor units",
            "outstanding points = sum of loyalty balances at the period end",
        ),
    )
    if ledger is not None and is_local(data) != is_local(ledger):
        msg = (
            "kpis: ledger must be the same kind of frame as data (both local, or "
            f"both of one engine); got {type(data).__name__} and "
            f"{type(ledger).__name__}"
        )
        raise AnalysisInputError(msg)
    if not is_local(data):
        return _kpis_on_engine(
            data,
            ledger,
            period=period,
            tz=tz,
            week_start=ws,
            end=end_utc,
            params=params,
        )
    _, kind = as_lazy(data)
    ev = _events(data)
    end_expr = (
        pl.lit(end_utc).cast(UTC_MS)
        if end_utc is not None
        else pl.col("created_at").max()
    )
    bounds = _bounds(ev.select(end_expr.alias("_end")), period, tz, ws)

    def per(lf: pl.LazyFrame, agg: list[pl.Expr]) -> pl.LazyFrame:
        """``agg`` over the current (suffix _v) and previous (_p) period."""
        joined = lf.join(bounds.select("_ps", "_pe", "_ce"), how="cross")
        cur = (pl.col("created_at") >= pl.col("_pe")) & (
            pl.col("created_at") < pl.col("_ce")
        )
        prev = (pl.col("created_at") >= pl.col("_ps")) & (
            pl.col("created_at") < pl.col("_pe")
        )
        return pl.concat(
            [
                joined.filter(cur).select(a.name.suffix("_v") for a in agg),
                joined.filter(prev).select(a.name.suffix("_p") for a in agg),
            ],
            how="horizontal",
        )

    t = pl.col("type")
    base = per(
        ev,
        [
            pl.col("customer_id").drop_nulls().n_unique().alias("customers"),
            pl.len().alias("events"),
            (t == _SUCCEEDED).sum().alias("_ok"),
            t.is_in([_SUCCEEDED, _FAILED]).sum().alias("_tried"),
        ],
    )
    parts = [base]
    orders = _orders(data)
    if orders is not None:
        parts.append(per(orders, [pl.col("order_amount").sum().alias("revenue")]))
    deltas = _points_deltas(data if ledger is None else ledger)
    if deltas is not None:
        balance = deltas.join(bounds, how="cross").select(
            pl.col("_delta")
            .filter(pl.col("created_at") < pl.col("_ce"))
            .sum()
            .alias("outstanding_points_v"),
            pl.col("_delta")
            .filter(pl.col("created_at") < pl.col("_pe"))
            .sum()
            .alias("outstanding_points_p"),
        )
        parts.append(balance)
    wide = pl.concat([*parts, bounds.select("_cur", "_prev")], how="horizontal")
    return finish(_kpi_table(wide), kind, params)


def _bounds(ends: pl.LazyFrame, period: str, tz: str, ws: int) -> pl.LazyFrame:
    """From the one-row ``_end`` (the end of observation, UTC): ``_cur`` and
    ``_prev``, the starts of the current and previous period in ``tz``, and
    ``_ps``, ``_pe`` and ``_ce``, the previous period's start and the current one's
    start and end in UTC (local path and engines)."""
    step = interval(period)
    return (
        ends.with_columns(bucket("_end", period, tz, ws).alias("_open"))
        .with_columns(
            # the period holding `end` is complete only when it ends exactly there
            # (compared in `tz`: Polars refuses to compare two zones)
            pl.when(
                pl.col("_open").dt.offset_by(step)
                <= pl.col("_end").dt.convert_time_zone(tz)
            )
            .then(pl.col("_open"))
            .otherwise(pl.col("_open").dt.offset_by("-" + step))
            .alias("_cur")
        )
        .with_columns(pl.col("_cur").dt.offset_by("-" + step).alias("_prev"))
        .with_columns(
            pl.col("_cur").dt.offset_by(step).dt.convert_time_zone("UTC").alias("_ce"),
            pl.col("_cur").dt.convert_time_zone("UTC").alias("_pe"),
            pl.col("_prev").dt.convert_time_zone("UTC").alias("_ps"),
        )
    )


def _kpi_table(wide: pl.LazyFrame) -> pl.LazyFrame:
    """The metric rows of :func:`kpis` from one wide row: ``<metric>_v`` and
    ``<metric>_p`` of the metrics the data has, ``_ok`` / ``_tried`` (succeeded and
    attempted redemptions) of both periods, ``_cur`` and ``_prev`` (local path and
    engines)."""
    wide = wide.with_columns(
        (pl.col(f"_ok_{s}") / pl.col(f"_tried_{s}"))
        .fill_nan(None)
        .alias(f"redemption_rate_{s}")
        for s in ("v", "p")
    )
    schema = wide.collect_schema()
    rows = [
        wide.select(
            pl.lit(name).alias("metric"),
            pl.lit(label).alias("label"),
            pl.lit(unit).alias("unit"),
            pl.col("_cur").alias("period"),
            pl.col("_prev").alias("previous_period"),
            (
                pl.col(f"{name}_v").cast(pl.Float64)
                if f"{name}_v" in schema
                else pl.lit(None, dtype=pl.Float64)
            ).alias("value"),
            (
                pl.col(f"{name}_p").cast(pl.Float64)
                if f"{name}_p" in schema
                else pl.lit(None, dtype=pl.Float64)
            ).alias("previous"),
        )
        for name, label, unit in _METRICS
    ]
    return pl.concat(rows, how="vertical").with_columns(
        pl.when(pl.col("previous") != 0)
        .then((pl.col("value") - pl.col("previous")) / pl.col("previous").abs())
        .alias("change")
    )


def _kpis_on_engine(
    data: EngineFrame,
    ledger: EngineFrame | None,
    *,
    period: str,
    tz: str,
    week_start: int,
    end: datetime | None,
    params: AnalysisParams,
) -> Any:
    """``kpis`` of an engine frame: the period bounds from the last event's time
    (one small query) by the local code, the sums between them by the engine
    (:func:`._portable_overview.kpi_parts`, :func:`~._portable_overview.balance_parts`),
    the metric rows built locally and handed back in the engine's kind."""
    lf = wrap(data)
    rows = _portable_overview.event_rows(lf)
    last = None if end is not None else ms_range(rows)[1]
    bounds = _engine_bounds(end, last, period=period, tz=tz, week_start=week_start)
    edges = _edges(bounds)
    parts = [to_polars(_portable_overview.kpi_parts(rows, edges))]
    points = _engine_points(
        lf if ledger is None else wrap(ledger, what="ledger"), like=lf
    )
    if points is not None:
        parts.append(to_polars(_portable_overview.balance_parts(points, edges)))
    out = _kpis_from_parts(parts, bounds)
    return finish_native(from_polars(out, rows), params, given=data)


def _engine_bounds(
    end: datetime | None, last_ms: int | None, *, period: str, tz: str, week_start: int
) -> pl.DataFrame:
    """:func:`_bounds` (one row) of the end of observation: ``end``, or else the
    last event's epoch ms ``last_ms``."""
    return _bounds(_observed(end, last_ms), period, tz, week_start).collect()


def _edges(bounds: pl.DataFrame) -> _portable_overview.Bounds:
    """The previous period's start and the current one's start and end, epoch ms
    (None without events)."""
    ps, pe, ce = (
        None if v is None else int(v)
        for v in bounds.select(pl.col("_ps", "_pe", "_ce").dt.epoch("ms")).row(0)
    )
    return ps, pe, ce


def _kpis_from_parts(
    parts: Sequence[pl.DataFrame], bounds: pl.DataFrame
) -> pl.DataFrame:
    """``kpis``' rows from the one-row sums of its engine queries
    (:func:`._portable_overview.kpi_parts` and, with points,
    :func:`~._portable_overview.balance_parts`) and the bounds."""
    # sums over no row are null on SQL engines and 0 on Polars
    sums = pl.concat(parts, how="horizontal").fill_null(0)
    wide = pl.concat([sums, bounds.select("_cur", "_prev")], how="horizontal")
    return _kpi_table(wide.lazy()).collect()


def _engine_points(
    lf: nw.LazyFrame[Any], *, like: nw.LazyFrame[Any]
) -> nw.LazyFrame[Any] | None:
    """The points rows of an engine frame (of ``like``'s engine), or None when it
    has no points columns (as :func:`_points_deltas`). ``id`` is not needed for a
    balance (a sum): a frame without one gets nulls."""
    if engine_name(lf) != engine_name(like):
        msg = (
            f"kpis: ledger is a {engine_name(lf)} frame and data a "
            f"{engine_name(like)} frame; give both on one engine"
        )
        raise AnalysisInputError(msg)
    if "id" not in lf.collect_schema():
        lf = lf.with_columns(nw.lit(None).cast(nw.String).alias("id"))
    try:
        return _portable_points.points_rows(lf)
    except MissingColumnsError:  # no points columns: nothing to report
        return None


@portable
def activity_timeline(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame | EngineFrame,
    *,
    period: Period = "week",
    tz: str = "UTC",
    week_start: WeekStart = "monday",
) -> pl.DataFrame | pl.LazyFrame | EngineFrame:
    """Events per period and event family, zeros included.

    Parameters
    ----------
    data
        An :class:`~activity_toolkit.ActivityLog` or an events frame (``family`` is
        derived from a canonical ``type`` when missing), or such a frame of another
        engine (DuckDB relation, Ibis table, PySpark DataFrame; see
        :mod:`._portable_overview`).
    period
        ``"day"``, ``"week"``, ``"month"``, ``"quarter"`` or ``"year"``, calendar
        periods in ``tz``.
    tz
        Time zone of the calendar.
    week_start
        First day of a week for ``period="week"``.

    Returns
    -------
    DataFrame, LazyFrame or the engine's frame
        ``period`` (start), ``family``, ``events`` and ``customers`` (distinct), one
        row per period from the first to the last event and per family.

    Examples
    --------
    >>> from activity_toolkit import sample
    >>> t = activity_timeline(sample(customers=30, seed=1), period="month")
    >>> t.columns
    ['period', 'family', 'events', 'customers']
    """
    check(period, Period, name="period")
    ws = weekday(week_start)
    params = AnalysisParams(
        "activity_timeline",
        (
            ("period", period),
            ("tz", tz),
            ("week_start", week_start if period == "week" else None),
        ),
        ("events counted in the calendar period of created_at",),
    )
    if not is_local(data):
        rows = _portable_overview.event_rows(wrap(data))
        parts = _portable_overview.timeline_parts(
            rows, period=period, week_start=ws, offsets=zone_shifts(rows, tz)
        )
        out = _timeline_from_parts(
            to_polars(parts), period=period, tz=tz, week_start=ws
        )
        return finish_native(from_polars(out, rows), params, given=data)
    _, kind = as_lazy(data)
    ev = _events(data)
    if "family" not in ev.collect_schema():
        families = {t: family_of(t) for t in REGISTRY}
        ev = ev.with_columns(
            pl.col("type")
            .replace_strict(families, default="unknown", return_dtype=pl.String)
            .alias("family")
        )
    ev = ev.with_columns(bucket("created_at", period, tz, ws).alias("period"))
    counts = ev.group_by("period", "family").agg(
        pl.len().cast(pl.Int64).alias("events"),
        pl.col("customer_id").drop_nulls().n_unique().cast(pl.Int64).alias("customers"),
    )
    return finish(_timeline_rows(counts, period), kind, params)


def _timeline_from_parts(
    parts: pl.DataFrame, *, period: str, tz: str, week_start: int
) -> pl.DataFrame:
    """``activity_timeline``'s rows from the rows of its engine query
    (:func:`._portable_overview.timeline_parts`): each period key named by Polars'
    bucket of one of its events, then :func:`_timeline_rows`."""
    named = period_starts(
        parts, "_rep", "period", period=period, tz=tz, week_start=week_start
    ).drop("_key", "_rep")
    return _timeline_rows(named.lazy(), period).collect()


def _timeline_rows(counts: pl.LazyFrame, period: str) -> pl.LazyFrame:
    """The rows of :func:`activity_timeline` from its counts per ``period`` (null
    for events without a time) and ``family``: every period from the first to the
    last times every family, zeros filled (local path and engines)."""
    families = counts.select("family").unique()
    grid = every_period(counts, period).join(families, how="cross")
    return (
        grid.join(counts, on=["period", "family"], how="left")
        .filter(pl.col("period").is_not_null())
        .with_columns(pl.col("events", "customers").fill_null(0))
        .sort("period", "family")
    )


def coupon_funnels(
    data: ActivityLog | EngineFrame,
    *,
    campaigns: str | Sequence[str] | None = None,
    top: int = 5,
) -> pl.DataFrame | EngineFrame:
    """:func:`~activity_toolkit.coupon_funnel` per campaign, stacked: a
    ``campaign_name`` column, then the coupon funnel's columns.

    Parameters
    ----------
    data
        An :class:`~activity_toolkit.ActivityLog`, or the stacked campaign rows of
        another engine (DuckDB relation, Ibis table, PySpark DataFrame), as
        :func:`~activity_toolkit.coupon_funnel` takes them; the result is then a
        frame of that engine (with no campaign, an empty one with the columns).
    campaigns
        A campaign name or id, or a sequence of them (a repeat is dropped); each is
        shown as given in ``campaign_name``. Default: the ``top`` campaigns with the
        most succeeded publications.
    top
        How many campaigns when ``campaigns`` is not given (0 or more). With no
        campaign the result has the columns and no row.

    Examples
    --------
    >>> from activity_toolkit import sample
    >>> f = coupon_funnels(sample(customers=40, seed=1), top=2)
    >>> f.columns[:3]
    ['campaign_name', 'step', 'label']
    >>> f["campaign_name"].n_unique()
    2
    """
    given = _campaign_list(campaigns, top)
    if not is_local(data):
        return _coupon_funnels_on_engine(data, campaigns=given, top=top)
    if not isinstance(data, ActivityLog):
        msg = (
            "coupon_funnels takes an ActivityLog or an engine frame of campaign "
            f"rows; got {type(data).__name__} (use coupon_funnel per campaign)"
        )
        raise AnalysisInputError(msg)
    if given is None:
        pub = data.events.filter(
            (pl.col("type") == "customer.publication.succeeded")
            & pl.col("campaign_name").is_not_null()
        )
        chosen = _top_campaigns(pub.group_by("campaign_name").len(), top)
    else:
        chosen = given
    frames = []
    notes: tuple[str, ...] = ()
    for name in chosen:
        one = coupon_funnel(data, campaign=name)
        params = params_of(one)
        if params is not None:
            notes = params.notes
        frames.append(one.select(pl.lit(name).alias("campaign_name"), pl.all()))
    out = (
        pl.concat(frames, how="vertical_relaxed") if frames else _no_funnel(local=True)
    )
    return with_params(out, _funnels_params(chosen, given, top, notes))


def _campaign_list(campaigns: str | Sequence[str] | None, top: int) -> list[str] | None:
    """``coupon_funnels``' campaigns as a list without repeats (None: the top ones),
    ``top`` checked."""
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        msg = f"coupon_funnels: top must be an integer, 0 or more; got {top!r}"
        raise AnalysisInputError(msg)
    if campaigns is None:
        return None
    if isinstance(campaigns, str):
        return [campaigns]
    return list(dict.fromkeys(campaigns))


def _no_funnel(*, local: bool) -> pl.DataFrame:
    """``coupon_funnels`` of no campaign: its columns, no row (durations as on the
    path: ``Duration`` locally, ``Int64`` milliseconds for an engine)."""
    nothing = pl.DataFrame(schema=_PARTS_SCHEMA)
    out = (
        _coupon_from_parts(nothing)
        .head(0)
        .select(pl.lit(None, dtype=pl.String).alias("campaign_name"), pl.all())
    )
    if local:
        gap = pl.col("median_time_from_previous")
        out = out.with_columns(gap.cast(pl.Duration("ms")))
    return out


def _top_campaigns(counts: pl.DataFrame, top: int) -> list[str]:
    """The ``top`` campaign names by succeeded publications (``len``), ties by
    name (local path and engines)."""
    return (
        counts.sort(["len", "campaign_name"], descending=[True, False])
        .head(top)["campaign_name"]
        .to_list()
    )


def _funnels_params(
    chosen: Sequence[str],
    campaigns: Sequence[str] | None,
    top: int,
    notes: Sequence[str],
) -> AnalysisParams:
    return AnalysisParams(
        "coupon_funnels",
        (
            ("campaigns", tuple(chosen)),
            ("top", top if campaigns is None else None),
            ("key", ("customer_id", "voucher_code")),
        ),
        (*notes, "one coupon funnel per campaign"),
    )


#: The columns of :func:`._portable_campaigns.coupon_parts`' rows.
_PARTS_SCHEMA = {
    "_metric": pl.String,
    "step": pl.Int64,
    "reason": pl.String,
    **dict.fromkeys(["units", "_h1", "_h2", "_h3", "_h4", "_rolled"], pl.Int64),
    "median": pl.Int64,
}


def _coupon_funnels_on_engine(
    data: EngineFrame, *, campaigns: list[str] | None, top: int
) -> Any:
    """``coupon_funnels`` of an engine frame: the top campaigns counted by the
    engine, then per campaign the engine query of ``coupon_funnel``
    (:func:`._portable_campaigns.coupon_parts`) finished locally by its code; the
    funnels stacked here and handed back in the engine's kind."""
    lf = _engine_frame(data)
    if campaigns is None:
        counts = to_polars(_portable_overview.publication_counts(lf))
        chosen = _top_campaigns(counts, top)
    else:
        chosen = campaigns
        _check_campaigns(lf, chosen)
    frames = [
        _coupon_from_parts(
            to_polars(_portable_campaigns.coupon_parts(lf, name))
        ).select(pl.lit(name).alias("campaign_name"), pl.all())
        for name in chosen
    ]
    out = (
        pl.concat(frames, how="vertical_relaxed") if frames else _no_funnel(local=False)
    )
    notes = _coupon_params(None).notes if chosen else ()
    params = _funnels_params(chosen, campaigns, top, notes)
    return finish_native(from_polars(out, lf), params, given=data)
