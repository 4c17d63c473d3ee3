"""activity_toolkit: Voucherify customer activity as typed Polars frames.

Load activity from the API, saved pages, webhook/event files or the built-in synthetic
sample; analyse funnels, cohorts, loyalty tiers, points and campaigns; chart and report.

>>> import activity_toolkit as at
>>> log = at.sample(customers=20, seed=7)
>>> log.events.columns[:4]
['id', 'type', 'type_raw', 'family']
"""

from __future__ import annotations

from activity_toolkit import exceptions
from activity_toolkit.events import EVENT_COLUMNS, FAMILIES, REGISTRY, canonical_type, family_of
from activity_toolkit.io import (
    LoadReport,
    read_events,
    read_pages,
    read_parquet,
    scan_events,
)
from activity_toolkit.model import ActivityLog
from activity_toolkit.sample import sample

__version__ = "0.1.0"

__all__ = [
    "ActivityLog",
    "EVENT_COLUMNS",
    "FAMILIES",
    "LoadReport",
    "REGISTRY",
    "__version__",
    "canonical_type",
    "exceptions",
    "family_of",
    "read_events",
    "read_pages",
    "read_parquet",
    "sample",
    "scan_events",
]
