"""Charts: Altair charts of analysis results, one function per chart.

Each function takes the frame an analysis returned (eager; collect a lazy one with
:func:`activity_toolkit.analysis.collect`) and returns an Altair chart whose
subtitle states how its numbers were computed. :func:`chart` picks the default
chart of any result. Nothing here analyses events or does I/O beyond
:func:`save`.

=========================  ==========================================================
Funnels                    :func:`funnel_chart`, :func:`time_to_convert`,
                           :func:`funnel_trend_chart`, :func:`coupon_funnel_chart`,
                           :func:`coupon_funnels_chart`
Cohorts                    :func:`retention_heatmap`, :func:`retention_curves`
Loyalty                    :func:`tier_distribution_chart`, :func:`tier_migration`,
                           :func:`tier_flow`, :func:`time_in_tier_chart`
Points                     :func:`points_flows_chart`, :func:`liability_waterfall`,
                           :func:`breakage_chart`
Campaigns, overview        :func:`campaign_leaderboard`,
                           :func:`activity_timeline_chart`, :func:`kpi_cards`
Display and export         :func:`setup` (live or static, offline), :func:`theme`,
                           :func:`use_theme`, :func:`to_svg`, :func:`to_png`,
                           :func:`save`
=========================  ==========================================================
"""

from __future__ import annotations

from activity_toolkit.charts._base import MAX_ROWS, PALETTE, theme, use_theme
from activity_toolkit.charts._campaigns import (
    activity_timeline_chart,
    campaign_leaderboard,
    kpi_cards,
)
from activity_toolkit.charts._cohort import (
    retention_curves,
    retention_heatmap,
    retention_long,
)
from activity_toolkit.charts._dispatch import CHARTS, chart
from activity_toolkit.charts._funnel import (
    PICK,
    coupon_funnel_chart,
    coupon_funnels_chart,
    failure_reasons,
    funnel_chart,
    funnel_trend_chart,
    time_to_convert,
)
from activity_toolkit.charts._loyalty import (
    tier_distribution_chart,
    tier_flow,
    tier_migration,
    time_in_tier_chart,
)
from activity_toolkit.charts._points import (
    breakage_chart,
    liability_waterfall,
    points_flows_chart,
)
from activity_toolkit.charts._render import save, setup, to_png, to_svg

__all__ = [
    "CHARTS",
    "MAX_ROWS",
    "PALETTE",
    "PICK",
    "activity_timeline_chart",
    "breakage_chart",
    "campaign_leaderboard",
    "chart",
    "coupon_funnel_chart",
    "coupon_funnels_chart",
    "failure_reasons",
    "funnel_chart",
    "funnel_trend_chart",
    "kpi_cards",
    "liability_waterfall",
    "points_flows_chart",
    "retention_curves",
    "retention_heatmap",
    "retention_long",
    "save",
    "setup",
    "theme",
    "tier_distribution_chart",
    "tier_flow",
    "tier_migration",
    "time_in_tier_chart",
    "time_to_convert",
    "to_png",
    "to_svg",
    "use_theme",
]
