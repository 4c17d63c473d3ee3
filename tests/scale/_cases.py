"""The funnel options the parity suite runs on every engine: each mode and entry
rule, windows, exclusions (whole funnel, a step range, several), OR-steps, repeated
steps, ``by`` and a two-column key."""

from __future__ import annotations

from typing import Any

from activity_toolkit.analysis import Exclusion

STEPS = ["A", "B", "C"]

#: name -> (steps, options)
FUNNEL_CASES: dict[str, tuple[list[Any], dict[str, Any]]] = {
    "ordered": (STEPS, {}),
    "ordered-1d": (STEPS, {"within": "1d"}),
    "ordered-7d-furthest": (STEPS, {"within": "7d", "entry": "furthest"}),
    "ordered-0s": (STEPS, {"within": "0s"}),
    "strict": (STEPS, {"mode": "strict"}),
    "strict-1d-furthest": (
        STEPS,
        {"mode": "strict", "within": "1d", "entry": "furthest"},
    ),
    "unordered": (STEPS, {"mode": "unordered"}),
    "unordered-1d": (STEPS, {"mode": "unordered", "within": "1d"}),
    "unordered-1d-furthest": (
        STEPS,
        {"mode": "unordered", "within": "1d", "entry": "furthest"},
    ),
    "unordered-overlapping-steps": (
        ["A", ["A", "B"], "B"],
        {"mode": "unordered", "within": "1d", "entry": "furthest"},
    ),
    "reached": (STEPS, {"mode": "reached"}),
    "exclude": (STEPS, {"exclude": "X"}),
    "exclusion-ranges-1d-furthest": (
        STEPS,
        {
            "within": "1d",
            "entry": "furthest",
            "exclude": [
                Exclusion("X", from_step=2, to_step=3),
                Exclusion(["Y"], from_step=1, to_step=2),
            ],
        },
    ),
    "strict-exclude": (STEPS, {"mode": "strict", "exclude": "X"}),
    "reached-exclude": (STEPS, {"mode": "reached", "exclude": "Y"}),
    "or-steps": (["A", ["B", "C"], "C"], {"within": "7d"}),
    "repeated-step": (["A", "B", "A", "B"], {"entry": "furthest", "within": "7d"}),
    "by": (STEPS, {"by": "channel", "within": "7d"}),
    "reached-by": (STEPS, {"mode": "reached", "by": "channel"}),
    "key": (STEPS, {"key": ["customer_id", "code"], "within": "1d"}),
}

#: A subset that still covers every mode, entry rule, window, exclusion kind, OR-step,
#: repeated step, ``by`` and key: for the engines where a query costs a second
#: (Ibis compiles every plan to SQL) and for ``funnel``'s summary off Polars.
COVERING_CASES = [
    "ordered-7d-furthest",
    "ordered-0s",
    "strict-1d-furthest",
    "unordered-1d-furthest",
    "unordered-overlapping-steps",
    "reached-by",
    "exclusion-ranges-1d-furthest",
    "strict-exclude",
    "or-steps",
    "repeated-step",
    "key",
]

#: A subset for PySpark, where each query costs seconds: one per mode and rule.
SPARK_CASES = [
    "ordered-7d-furthest",
    "strict-1d-furthest",
    "unordered-1d",
    "reached-exclude",
    "exclusion-ranges-1d-furthest",
    "by",
]
