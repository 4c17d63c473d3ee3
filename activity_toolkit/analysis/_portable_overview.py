"""The portable overview: the engine part of :func:`~activity_toolkit.analysis.kpis`,
:func:`~activity_toolkit.analysis.activity_timeline` and
:func:`~activity_toolkit.analysis.coupon_funnels`, written once in narwhals.

Input: an events frame of any engine of :mod:`._engine` with ``customer_id``,
``type`` and ``created_at`` (a timestamp); ``family`` is read when present (else
derived from the registered ``type``, ``"unknown"`` for any other), ``order_amount``
when present (paid-order revenue). Each function returns one small aggregate,
computed by the engine; :mod:`.overview` collects it and finishes the result with its
local code (the period grid, the metric rows), handed back in the engine's kind.

* **Periods** of :func:`activity_timeline` are the keys of
  :func:`~._engine.period_key`, each named by :func:`~._engine.period_starts` of one
  of its events, as in ``points_flows``.
* **The current and previous period** of :func:`kpis` are computed locally by the
  local code from the last event's time (one small query); the engine sums the rows
  between those bounds, given as epoch milliseconds.
* **Distinct customers** are narwhals' ``n_unique`` less one when a null was among
  the values (it counts a null as a value; the local path drops nulls).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals as nw

from activity_toolkit.analysis._engine import period_key, require, with_epoch_ms
from activity_toolkit.analysis._portable_points import _sum_where, ledger
from activity_toolkit.events import REGISTRY, family_of
from activity_toolkit.exceptions import AnalysisInputError

__all__ = [
    "AMOUNT_ERROR",
    "FAILED",
    "PAID",
    "SUCCEEDED",
    "Bounds",
    "balance_parts",
    "event_rows",
    "kpi_parts",
    "publication_counts",
    "timeline_parts",
]

Frame = nw.LazyFrame[Any]
#: (previous start, current start, current end) in epoch ms; None without events
Bounds = tuple[int | None, int | None, int | None]

#: The error for an ``order_amount`` column that holds no numbers (every path).
AMOUNT_ERROR = "kpis: column 'order_amount' must be numeric (minor units); got {}"
SUCCEEDED = "customer.redemption.succeeded"
FAILED = "customer.redemption.failed"
PAID = "customer.order.paid"
_PUBLISHED = "customer.publication.succeeded"


def event_rows(lf: Frame, *, what: str = "events") -> Frame:
    """The columns the overview reads (``family`` and ``order_amount`` when
    present), checked, with ``_ms``, the epoch milliseconds of ``created_at``."""
    have = require(lf, ["customer_id", "type", "created_at"], what=what)
    extra = [c for c in ("family", "order_amount") if c in have]
    rows = lf.select("customer_id", "type", "created_at", *extra)
    return with_epoch_ms(rows, "created_at", "_ms")


def _family() -> nw.Expr:
    """The family of a registered ``type`` (``"unknown"`` for any other or null),
    one branch per family, as the local path's lookup of the registry."""
    types: dict[str, list[str]] = {}
    for name in REGISTRY:
        types.setdefault(family_of(name), []).append(name)
    t = nw.col("type")
    items = list(types.items())
    chain = nw.when(t.is_in(items[0][1])).then(nw.lit(items[0][0]))
    for family, members in items[1:]:
        chain = chain.when(t.is_in(members)).then(nw.lit(family))
    return chain.otherwise(nw.lit("unknown"))


def _distinct(values: nw.Expr) -> nw.Expr:
    """The distinct non-null values (narwhals' ``n_unique`` counts a null)."""
    return values.n_unique() - (values.null_count() > 0).cast(nw.Int64)


def timeline_parts(
    rows: Frame,
    *,
    period: str,
    week_start: int,
    offsets: Sequence[tuple[int | None, int]],
) -> Frame:
    """``activity_timeline``'s aggregate: per calendar period key (``_key``, null
    for a null time) and ``family``, ``events``, ``customers`` (distinct) and
    ``_rep``, the first epoch ms of the group."""
    if "family" not in rows.collect_schema():
        rows = rows.with_columns(_family().alias("family"))
    keyed = period_key(
        rows, "_ms", "_key", period=period, week_start=week_start, offsets=offsets
    )
    return keyed.group_by("_key", "family").agg(
        nw.len().cast(nw.Int64).alias("events"),
        _distinct(nw.col("customer_id")).cast(nw.Int64).alias("customers"),
        nw.col("_ms").min().alias("_rep"),
    )


def _between(lo: int | None, hi: int | None) -> nw.Expr:
    """``lo <= _ms < hi`` (false without bounds; null for a null time)."""
    ms = nw.col("_ms")
    if hi is None:  # false on every row (a bare literal is no column to aggregate)
        return ms.is_null() & nw.lit(value=False)
    below = ms < nw.lit(hi).cast(nw.Int64)
    return below if lo is None else (ms >= nw.lit(lo).cast(nw.Int64)) & below


def kpi_parts(rows: Frame, bounds: Bounds) -> Frame:
    """``kpis``' sums over the current (suffix ``_v``) and previous (``_p``)
    period, one row: ``customers``, ``events``, ``_ok`` and ``_tried`` (succeeded,
    and succeeded or failed redemptions), ``revenue`` (paid ``order_amount``) when
    the rows have it. Sums over no row are null on SQL engines."""
    ps, pe, ce = bounds
    t = nw.col("type")
    amount = rows.collect_schema().get("order_amount")
    if amount is not None and not amount.is_numeric() and amount != nw.Unknown:
        raise AnalysisInputError(AMOUNT_ERROR.format(amount))
    aggs: list[nw.Expr] = []
    for suffix, when in (("v", _between(pe, ce)), ("p", _between(ps, pe))):
        aggs += [
            _distinct(nw.when(when).then(nw.col("customer_id")))
            .cast(nw.Int64)
            .alias(f"customers_{suffix}"),
            _sum_where(nw.lit(1), when, f"events_{suffix}"),
            _sum_where(nw.lit(1), when & (t == SUCCEEDED), f"_ok_{suffix}"),
            _sum_where(
                nw.lit(1), when & t.is_in([SUCCEEDED, FAILED]), f"_tried_{suffix}"
            ),
        ]
        if amount is not None:
            paid = nw.when(when & (t == PAID)).then(nw.col("order_amount")).sum()
            dtype = nw.Int64 if amount.is_integer() else nw.Float64
            aggs.append(paid.cast(dtype).alias(f"revenue_{suffix}"))
    return rows.select(aggs)


def balance_parts(points: Frame, bounds: Bounds) -> Frame:
    """``kpis``' outstanding points at the end of the current (``_v``) and previous
    (``_p``) period, one row: the ledger's balance changes before each end, from the
    points rows of :func:`._portable_points.points_rows`."""
    _, pe, ce = bounds
    delta = nw.col("_delta")
    return ledger(points).select(
        _sum_where(delta, _between(None, ce), "outstanding_points_v"),
        _sum_where(delta, _between(None, pe), "outstanding_points_p"),
    )


def publication_counts(lf: Frame) -> Frame:
    """Succeeded publications per ``campaign_name`` (named ones), for
    ``coupon_funnels``' top campaigns."""
    return (
        lf.filter((nw.col("type") == _PUBLISHED) & ~nw.col("campaign_name").is_null())
        .group_by("campaign_name")
        .agg(nw.len().cast(nw.Int64).alias("len"))
    )
