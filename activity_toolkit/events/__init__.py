"""Event types: the registry of known types and the normalisation into frames."""

from __future__ import annotations

from activity_toolkit.events._normalize import (
    ENVELOPE_SCHEMA,
    EVENTS_SCHEMA,
    POLARS_ERRORS,
    TIME_RANGE,
    blank_text,
    empty_frame,
    frame_schema,
    in_time_range,
    normalize,
    parse_timestamp,
    parse_timestamps,
    timestamp_problem,
)
from activity_toolkit.events._registry import (
    ALIASES,
    COMMON_FIELDS,
    EVENT_COLUMNS,
    FAMILIES,
    REGISTRY,
    UNKNOWN_FAMILY,
    EventSpec,
    Field,
    canonical_type,
    did_you_mean,
    family_of,
)

__all__ = [
    "ALIASES",
    "COMMON_FIELDS",
    "ENVELOPE_SCHEMA",
    "EVENTS_SCHEMA",
    "EVENT_COLUMNS",
    "FAMILIES",
    "POLARS_ERRORS",
    "REGISTRY",
    "TIME_RANGE",
    "UNKNOWN_FAMILY",
    "EventSpec",
    "Field",
    "blank_text",
    "canonical_type",
    "did_you_mean",
    "empty_frame",
    "family_of",
    "frame_schema",
    "in_time_range",
    "normalize",
    "parse_timestamp",
    "parse_timestamps",
    "timestamp_problem",
]
