"""Analysis: pure functions from events to aggregated frames (placeholder)."""

from __future__ import annotations

from activity_toolkit.analysis._common import Step
from activity_toolkit.analysis._params import (
    AnalysisParams,
    collect,
    params_of,
    with_params,
)
from activity_toolkit.analysis.funnel import Exclusion, funnel, funnel_units

__all__ = [
    "AnalysisParams",
    "Exclusion",
    "Step",
    "collect",
    "funnel",
    "funnel_units",
    "params_of",
    "with_params",
]
