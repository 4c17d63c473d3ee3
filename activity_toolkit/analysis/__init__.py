"""Analysis: pure functions from events to aggregated frames (work in progress)."""

from __future__ import annotations

from activity_toolkit.analysis._common import Step
from activity_toolkit.analysis._params import (
    AnalysisParams,
    collect,
    params_of,
    with_params,
)
from activity_toolkit.analysis.cohort import retention, retention_matrix
from activity_toolkit.analysis.funnel import Exclusion, funnel, funnel_units

__all__ = [
    "AnalysisParams",
    "Exclusion",
    "Step",
    "collect",
    "funnel",
    "funnel_units",
    "params_of",
    "retention",
    "retention_matrix",
    "with_params",
]
