"""activity_toolkit: Voucherify customer activity as typed Polars frames.

Load activity from the API, saved pages, webhook/event files or the built-in synthetic
sample; analyse funnels, cohorts, loyalty tiers, points and campaigns.

>>> import activity_toolkit as at
>>> log = at.sample(customers=20, seed=7)
>>> log.events.columns[:4]
['id', 'type', 'type_raw', 'family']
>>> at.funnel(log, ["customer.publication.succeeded", "customer.order.paid"])["step"].to_list()
[1, 2]

The API client, ``fetch`` and the sandbox server are imported on first use
(``at.fetch``, ``at.VoucherifyClient``, ``at.Sandbox``), so importing the package for
offline analysis does not load the HTTP stack.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from activity_toolkit import analysis, exceptions
from activity_toolkit.analysis import (
    AnalysisParams,
    Exclusion,
    Step,
    activity_timeline,
    breakage,
    campaign_summary,
    coupon_funnel,
    funnel,
    funnel_trend,
    funnel_units,
    kpis,
    params_of,
    points_flows,
    points_liability,
    retention,
    retention_matrix,
    tier_distribution,
    tier_path,
    tier_spells,
    tier_transitions,
    time_in_tier,
    typed_events,
)
from activity_toolkit.events import (
    EVENT_COLUMNS,
    FAMILIES,
    REGISTRY,
    canonical_type,
    family_of,
)
from activity_toolkit.io import (
    LoadReport,
    read_events,
    read_pages,
    read_parquet,
    scan_events,
    scan_frame,
    store_paths,
)
from activity_toolkit.model import ActivityLog
from activity_toolkit.sample import SampleWorld, sample, sample_world

if TYPE_CHECKING:
    from activity_toolkit import charts, reporting, widgets
    from activity_toolkit.charts import chart
    from activity_toolkit.client import VoucherifyClient
    from activity_toolkit.load import afetch, fetch
    from activity_toolkit.reporting import report
    from activity_toolkit.sandbox import Sandbox
    from activity_toolkit.widgets import dashboard, funnel_explorer

from activity_toolkit._version import __version__

#: Names loaded on first access: they pull in the HTTP stack, Altair or ipywidgets.
_LAZY = {
    "Sandbox": "activity_toolkit.sandbox",
    "VoucherifyClient": "activity_toolkit.client",
    "afetch": "activity_toolkit.load",
    "fetch": "activity_toolkit.load",
    "chart": "activity_toolkit.charts",
    "report": "activity_toolkit.reporting",
    "dashboard": "activity_toolkit.widgets",
    "funnel_explorer": "activity_toolkit.widgets",
}
#: Subpackages loaded on first access (``at.charts``), for the same reason.
_LAZY_MODULES = ("charts", "reporting", "widgets")


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return import_module(f"activity_toolkit.{name}")
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'activity_toolkit' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "EVENT_COLUMNS",
    "FAMILIES",
    "REGISTRY",
    "ActivityLog",
    "AnalysisParams",
    "Exclusion",
    "LoadReport",
    "SampleWorld",
    "Sandbox",
    "Step",
    "VoucherifyClient",
    "__version__",
    "activity_timeline",
    "afetch",
    "analysis",
    "breakage",
    "campaign_summary",
    "canonical_type",
    "chart",
    "charts",
    "coupon_funnel",
    "dashboard",
    "exceptions",
    "family_of",
    "fetch",
    "funnel",
    "funnel_explorer",
    "funnel_trend",
    "funnel_units",
    "kpis",
    "params_of",
    "points_flows",
    "points_liability",
    "read_events",
    "read_pages",
    "read_parquet",
    "report",
    "reporting",
    "retention",
    "retention_matrix",
    "sample",
    "sample_world",
    "scan_events",
    "scan_frame",
    "store_paths",
    "tier_distribution",
    "tier_path",
    "tier_spells",
    "tier_transitions",
    "time_in_tier",
    "typed_events",
    "widgets",
]
