"""The overview: headline numbers per period and activity over time.

:func:`kpis` compares the last complete period with the one before it: customers
active, events, redemption success rate, paid-order revenue and outstanding loyalty
points. :func:`activity_timeline` counts events per period and family.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import polars as pl

from activity_toolkit._time import as_utc
from activity_toolkit.analysis._common import (
    UTC_MS,
    as_lazy,
    finish,
    require_columns,
    same_kind,
    utc_ms,
)
from activity_toolkit.analysis._options import Period, WeekStart, check
from activity_toolkit.analysis._params import AnalysisParams, params_of, with_params
from activity_toolkit.analysis._periods import bucket, every_period, interval, weekday
from activity_toolkit.analysis._typed import typed_events
from activity_toolkit.analysis.campaigns import coupon_funnel
from activity_toolkit.analysis.points import _input as _points_input
from activity_toolkit.analysis.points import _ledger
from activity_toolkit.events import REGISTRY, family_of
from activity_toolkit.model import ActivityLog

__all__ = ["activity_timeline", "coupon_funnels", "kpis"]

_SUCCEEDED = "customer.redemption.succeeded"
_FAILED = "customer.redemption.failed"
_PAID = "customer.order.paid"
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
    return lf.filter(pl.col("type") == _PAID).select(
        utc_ms("created_at", schema).alias("created_at"), "order_amount"
    )


def _points_deltas(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame,
) -> pl.LazyFrame | None:
    try:
        lf, _ = _points_input(data)
    except (KeyError, ValueError):  # no points columns: nothing to report
        return None
    return _ledger(lf).select("created_at", "_delta")


@same_kind
def kpis(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame,
    *,
    period: Period = "month",
    tz: str = "UTC",
    week_start: WeekStart = "monday",
    end: datetime | date | str | None = None,
    ledger: ActivityLog | pl.DataFrame | pl.LazyFrame | None = None,
) -> pl.DataFrame | pl.LazyFrame:
    """Headline numbers of the last complete period, with the change from the one
    before.

    Parameters
    ----------
    data
        An :class:`~activity_toolkit.ActivityLog` (revenue and points come from its
        typed frames) or an events frame (revenue needs ``order_amount``, points the
        points columns; without them those metrics are null).
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
        summed from a subset can even be negative.

    Returns
    -------
    DataFrame or LazyFrame
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
    _, kind = as_lazy(data)
    ev = _events(data)
    step = interval(period)
    end_expr = (
        pl.lit(as_utc(end)).cast(UTC_MS)
        if end is not None
        else pl.col("created_at").max()
    )
    bounds = (
        ev.select(end_expr.alias("_end"))
        .with_columns(bucket("_end", period, tz, ws).alias("_open"))
        .with_columns(
            # the period holding `end` is complete only when it ends exactly there
            pl.when(pl.col("_open").dt.offset_by(step) <= pl.col("_end"))
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
    ).with_columns(
        (pl.col(f"_ok_{s}") / pl.col(f"_tried_{s}"))
        .fill_nan(None)
        .alias(f"redemption_rate_{s}")
        for s in ("v", "p")
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
    rows = [
        wide.select(
            pl.lit(name).alias("metric"),
            pl.lit(label).alias("label"),
            pl.lit(unit).alias("unit"),
            pl.col("_cur").alias("period"),
            pl.col("_prev").alias("previous_period"),
            (
                pl.col(f"{name}_v").cast(pl.Float64)
                if f"{name}_v" in wide.collect_schema()
                else pl.lit(None, dtype=pl.Float64)
            ).alias("value"),
            (
                pl.col(f"{name}_p").cast(pl.Float64)
                if f"{name}_p" in wide.collect_schema()
                else pl.lit(None, dtype=pl.Float64)
            ).alias("previous"),
        )
        for name, label, unit in _METRICS
    ]
    out = pl.concat(rows, how="vertical").with_columns(
        pl.when(pl.col("previous") != 0)
        .then((pl.col("value") - pl.col("previous")) / pl.col("previous").abs())
        .alias("change")
    )
    params = AnalysisParams(
        "kpis",
        (
            ("period", period),
            ("tz", tz),
            ("week_start", week_start if period == "week" else None),
            ("end", as_utc(end) if end is not None else None),
            ("ledger", None if ledger is None else "given"),
        ),
        (
            "current period = the last complete period before the end of observation",
            "redemption rate = succeeded / (succeeded + failed) redemptions",
            "revenue = order_amount of paid orders, minor units",
            "outstanding points = sum of loyalty balances at the period end",
        ),
    )
    return finish(out, kind, params)


@same_kind
def activity_timeline(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame,
    *,
    period: Period = "week",
    tz: str = "UTC",
    week_start: WeekStart = "monday",
) -> pl.DataFrame | pl.LazyFrame:
    """Events per period and event family, zeros included.

    Parameters
    ----------
    data
        An :class:`~activity_toolkit.ActivityLog` or an events frame (``family`` is
        derived from a canonical ``type`` when missing).
    period
        ``"day"``, ``"week"``, ``"month"``, ``"quarter"`` or ``"year"``, calendar
        periods in ``tz``.
    tz
        Time zone of the calendar.
    week_start
        First day of a week for ``period="week"``.

    Returns
    -------
    DataFrame or LazyFrame
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
    grid = every_period(ev, period).join(ev.select("family").unique(), how="cross")
    out = (
        grid.join(counts, on=["period", "family"], how="left")
        .filter(pl.col("period").is_not_null())
        .with_columns(pl.col("events", "customers").fill_null(0))
        .sort("period", "family")
    )
    params = AnalysisParams(
        "activity_timeline",
        (
            ("period", period),
            ("tz", tz),
            ("week_start", week_start if period == "week" else None),
        ),
        ("events counted in the calendar period of created_at",),
    )
    return finish(out, kind, params)


def coupon_funnels(
    data: ActivityLog,
    *,
    campaigns: Sequence[str] | None = None,
    top: int = 5,
) -> pl.DataFrame:
    """:func:`~activity_toolkit.coupon_funnel` per campaign, stacked: a
    ``campaign_name`` column, then the coupon funnel's columns.

    Parameters
    ----------
    data
        An :class:`~activity_toolkit.ActivityLog`.
    campaigns
        Campaign names or ids; default: the ``top`` campaigns with the most
        succeeded publications.
    top
        How many campaigns when ``campaigns`` is not given.

    Examples
    --------
    >>> from activity_toolkit import sample
    >>> f = coupon_funnels(sample(customers=40, seed=1), top=2)
    >>> f.columns[:3]
    ['campaign_name', 'step', 'label']
    >>> f["campaign_name"].n_unique()
    2
    """
    if campaigns is None:
        pub = data.events.filter(
            (pl.col("type") == "customer.publication.succeeded")
            & pl.col("campaign_name").is_not_null()
        )
        chosen = (
            pub.group_by("campaign_name")
            .len()
            .sort(["len", "campaign_name"], descending=[True, False])
            .head(top)["campaign_name"]
            .to_list()
        )
    else:
        chosen = list(campaigns)
    frames = []
    notes: tuple[str, ...] = ()
    for name in chosen:
        one = coupon_funnel(data, campaign=name)
        params = params_of(one)
        if params is not None:
            notes = params.notes
        frames.append(one.select(pl.lit(name).alias("campaign_name"), pl.all()))
    out = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
    return with_params(
        out,
        AnalysisParams(
            "coupon_funnels",
            (
                ("campaigns", tuple(chosen)),
                ("top", top if campaigns is None else None),
                ("key", ("customer_id", "voucher_code")),
            ),
            (*notes, "one coupon funnel per campaign"),
        ),
    )
