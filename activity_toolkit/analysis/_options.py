"""The option types of every analysis, in one place.

Each choice an analysis offers is a ``Literal`` alias here; the run-time check reads
the allowed values from the alias itself (:func:`check`), so the type a checker sees
and the values the function accepts cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias, get_args

from activity_toolkit.exceptions import AnalysisInputError

__all__ = [
    "CohortRule",
    "FunnelEntry",
    "FunnelMode",
    "Period",
    "RetentionMode",
    "SurvivalOutput",
    "TierLevel",
    "WeekStart",
    "check",
]

#: Calendar (or, in ``retention(rolling=True)``, fixed-length) time buckets, the
#: one vocabulary of every analysis that groups by time.
Period: TypeAlias = Literal["day", "week", "month", "quarter", "year"]
#: First day of a week for ``period="week"``.
WeekStart: TypeAlias = Literal[
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"
]
#: How a funnel matches its steps (see :mod:`activity_toolkit.analysis.funnel`).
FunnelMode: TypeAlias = Literal["ordered", "strict", "unordered", "reached"]
#: Which attempt a unit enters a windowed funnel with.
FunnelEntry: TypeAlias = Literal["first", "furthest"]
#: Which start event puts a unit in a cohort.
CohortRule: TypeAlias = Literal["first", "recurring"]
#: Active in the period, or in it or any later one.
RetentionMode: TypeAlias = Literal["on", "on_or_after"]
#: Tier transitions read per event or per period.
TierLevel: TypeAlias = Literal["event", "period"]
#: ``time_in_tier``'s summary table or the whole Kaplan-Meier curve.
SurvivalOutput: TypeAlias = Literal["summary", "curve"]


def check(value: Any, option: Any, *, name: str) -> str:
    """``value`` if it is one of ``option``'s literal values, else an
    :class:`~activity_toolkit.exceptions.AnalysisInputError` that lists them.

    >>> check("week", Period, name="period")
    'week'
    >>> check("fortnight", Period, name="period")
    Traceback (most recent call last):
    ...
    activity_toolkit.exceptions.AnalysisInputError: period='fortnight' is not one of ['day', 'week', 'month', 'quarter', 'year']
    """
    allowed = get_args(option)
    if value not in allowed:
        msg = f"{name}={value!r} is not one of {list(allowed)}"
        raise AnalysisInputError(msg)
    return str(value)
