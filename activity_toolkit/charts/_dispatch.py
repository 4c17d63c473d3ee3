"""``chart(result)``: the right chart for any analysis result, read from the
parameters the analysis recorded (:func:`~activity_toolkit.params_of`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import altair as alt
import polars as pl

from activity_toolkit.charts._base import params_for
from activity_toolkit.charts._campaigns import (
    activity_timeline_chart,
    campaign_leaderboard,
    kpi_cards,
)
from activity_toolkit.charts._cohort import retention_heatmap
from activity_toolkit.charts._funnel import (
    coupon_funnel_chart,
    coupon_funnels_chart,
    funnel_chart,
    funnel_trend_chart,
    time_to_convert,
)
from activity_toolkit.charts._loyalty import (
    tier_distribution_chart,
    tier_flow,
    time_in_tier_chart,
)
from activity_toolkit.charts._points import breakage_chart, points_flows_chart
from activity_toolkit.exceptions import ChartError

__all__ = ["CHARTS", "chart"]

#: analysis name → the chart drawn for its result by default
CHARTS: dict[str, Callable[..., Any]] = {
    "funnel": funnel_chart,
    "funnel_units": time_to_convert,
    "funnel_trend": funnel_trend_chart,
    "coupon_funnel": coupon_funnel_chart,
    "coupon_funnels": coupon_funnels_chart,
    "retention": retention_heatmap,
    "retention_matrix": retention_heatmap,
    "tier_distribution": tier_distribution_chart,
    "tier_transitions": tier_flow,
    "time_in_tier": time_in_tier_chart,
    "points_flows": points_flows_chart,
    "breakage": breakage_chart,
    "campaign_summary": campaign_leaderboard,
    "activity_timeline": activity_timeline_chart,
    "kpis": kpi_cards,
}


def chart(result: pl.DataFrame, **options: Any) -> alt.TopLevelMixin:
    """The default chart of an analysis result.

    The analysis is read from the result's recorded parameters, so pass the frame
    an analysis returned (collect a lazy one with
    :func:`activity_toolkit.analysis.collect`). ``options`` go to the chart
    function (e.g. ``data_range=``). The functions of :mod:`activity_toolkit.charts`
    give the other views (``retention_curves``, ``tier_migration``,
    ``liability_waterfall``, ...).

    >>> import activity_toolkit as at
    >>> log = at.sample(customers=30, seed=1)
    >>> c = at.chart(at.funnel(log, ["customer.publication.succeeded", "customer.order.paid"]))
    >>> type(c).__name__
    'LayerChart'
    """
    params = params_for(result)
    if params is None:
        msg = (
            "chart: this frame has no recorded analysis parameters (it is not the exact "
            "frame an analysis returned; a filtered or collected copy loses them). "
            "Use activity_toolkit.analysis.collect / with_params, or call a chart "
            "function of activity_toolkit.charts directly"
        )
        raise ChartError(msg)
    draw = CHARTS.get(params.analysis)
    if draw is None:
        msg = (
            f"chart: there is no chart for {params.analysis!r} results; charted "
            f"analyses: {sorted(CHARTS)}"
        )
        raise ChartError(msg)
    if params.analysis == "time_in_tier" and params.get("output") != "curve":
        msg = "chart: time_in_tier draws its curve; call time_in_tier(..., output='curve')"
        raise ChartError(msg)
    return draw(result, **options)
