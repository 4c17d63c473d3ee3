"""Analysis: pure functions from customer activity to small, chartable frames.

Every function takes an :class:`~activity_toolkit.ActivityLog`, a polars ``DataFrame``
or a polars ``LazyFrame`` and returns the same kind of frame it got (an ActivityLog
gives a DataFrame; a LazyFrame stays lazy until you collect it). Nothing here reads
files, talks to the network, prints or imports pandas.

=========================  ==========================================================
Funnels                    :func:`funnel`, :func:`funnel_units`, :func:`funnel_trend`, :class:`Step`,
                           :class:`Exclusion`, :func:`coupon_funnel`
Cohorts and retention      :func:`retention`, :func:`retention_matrix`
Loyalty tiers              :func:`tier_spells`, :func:`tier_path`,
                           :func:`tier_transitions`, :func:`tier_distribution`,
                           :func:`time_in_tier`
Points                     :func:`points_flows`, :func:`breakage`,
                           :func:`points_liability`
Campaigns                  :func:`campaign_summary`, :func:`coupon_funnel`
Overview                   :func:`kpis`, :func:`activity_timeline`, :func:`coupon_funnels`
Inputs                     :func:`typed_events` (stack the typed frames of families)
Result columns             ``FUNNEL_COLUMNS`` (after ``by``), ``COUPON_FUNNEL_COLUMNS``
Result parameters          :class:`AnalysisParams`, :func:`params_of`,
                           :func:`collect`, :func:`with_params`
Option types               ``FunnelMode``, ``FunnelEntry``, ``Period``,
                           ``CohortRule``, ``RetentionMode``, ``WeekStart``,
                           ``TierLevel``, ``SurvivalOutput`` (``Literal`` aliases,
                           all in :mod:`._options`)
=========================  ==========================================================

**Other engines.** Every function above also takes a DuckDB relation, an Ibis
table or a PySpark DataFrame (:func:`coupon_funnels`: instead of an ActivityLog, the
stacked campaign rows) and returns a frame of that kind, computed by that engine from
one portable definition (narwhals; see :mod:`activity_toolkit.analysis._engine`). A
small result that needs a period grid, a Kaplan-Meier curve or list columns is
finished locally on the engine's aggregate and handed back as a frame of the engine.
Install the ``scale`` extra for Ibis and PySpark.

**Event order.** Everywhere, events are ordered by ``created_at`` and then by ``id``;
same-timestamp events are therefore not interchangeable (see :mod:`.funnel`). The
coupon funnel is the one documented exception: one API call emits several of its
events in the same millisecond, so a step may share its predecessor's timestamp.

**Result parameters.** Each result is recorded with the :class:`AnalysisParams` that
produced it (options in signature order plus notes stating the semantic rules), so a
chart can print them. ``params_of(result)`` reads the record; it is kept for the exact
object returned, held through a weak reference. ``collect(lazy_result)`` collects a
lazy result and keeps the record; ``with_params(frame, params)`` re-attaches it to a
frame you derived. See :mod:`activity_toolkit.analysis._params` for why this is a
registry and not a wrapper.

Examples
--------
>>> from activity_toolkit import sample
>>> from activity_toolkit.analysis import funnel, params_of
>>> log = sample(customers=60, seed=2)
>>> steps = ["customer.publication.succeeded", "customer.redemption.succeeded"]
>>> result = funnel(log, steps, within="30d")
>>> result["step"].to_list()
[1, 2]
>>> params_of(result).describe()  # doctest: +ELLIPSIS
'funnel: steps=[customer.publication.succeeded, ...], mode=ordered, within=30d, ...'
"""

from __future__ import annotations

from activity_toolkit.analysis._common import Step
from activity_toolkit.analysis._options import (
    CohortRule,
    FunnelEntry,
    FunnelMode,
    Period,
    RetentionMode,
    SurvivalOutput,
    TierLevel,
    WeekStart,
)
from activity_toolkit.analysis._params import (
    AnalysisParams,
    collect,
    params_of,
    with_params,
)
from activity_toolkit.analysis._typed import typed_events
from activity_toolkit.analysis.campaigns import (
    COUPON_FUNNEL_COLUMNS,
    campaign_summary,
    coupon_funnel,
)
from activity_toolkit.analysis.cohort import retention, retention_matrix
from activity_toolkit.analysis.funnel import (
    FUNNEL_COLUMNS,
    Exclusion,
    funnel,
    funnel_trend,
    funnel_units,
)
from activity_toolkit.analysis.overview import activity_timeline, coupon_funnels, kpis
from activity_toolkit.analysis.points import breakage, points_flows, points_liability
from activity_toolkit.analysis.tiers import (
    tier_distribution,
    tier_path,
    tier_spells,
    tier_transitions,
    time_in_tier,
)

__all__ = [
    "COUPON_FUNNEL_COLUMNS",
    "FUNNEL_COLUMNS",
    "AnalysisParams",
    "CohortRule",
    "Exclusion",
    "FunnelEntry",
    "FunnelMode",
    "Period",
    "RetentionMode",
    "Step",
    "SurvivalOutput",
    "TierLevel",
    "WeekStart",
    "activity_timeline",
    "breakage",
    "campaign_summary",
    "collect",
    "coupon_funnel",
    "coupon_funnels",
    "funnel",
    "funnel_trend",
    "funnel_units",
    "kpis",
    "params_of",
    "points_flows",
    "points_liability",
    "retention",
    "retention_matrix",
    "tier_distribution",
    "tier_path",
    "tier_spells",
    "tier_transitions",
    "time_in_tier",
    "typed_events",
    "with_params",
]
