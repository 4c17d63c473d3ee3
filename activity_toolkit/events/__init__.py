"""Event types: the registry of known types and the normalisation into frames."""

from __future__ import annotations

from activity_toolkit.events._normalize import (
    ENVELOPE_SCHEMA,
    EVENTS_SCHEMA,
    POLARS_ERRORS,
    empty_frame,
    frame_schema,
    normalize,
    parse_timestamp,
    parse_timestamps,
)
from activity_toolkit.events._registry import (
    ALIASES,
    COMMON_FIELDS,
    EVENT_COLUMNS,
    FAMILIES,
    REGISTRY,
    EventSpec,
    Field,
    canonical_type,
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
    "EventSpec",
    "Field",
    "canonical_type",
    "empty_frame",
    "family_of",
    "frame_schema",
    "normalize",
    "parse_timestamp",
    "parse_timestamps",
]
