"""Readers and writers: saved API pages, event files, the Parquet store."""

from __future__ import annotations

from activity_toolkit.io._parquet import (
    StoreWriter,
    read_parquet,
    read_state,
    scan_events,
    scan_frame,
    write_store,
)
from activity_toolkit.io._readers import read_events, read_pages
from activity_toolkit.io._report import LoadReport, Skipped

__all__ = [
    "LoadReport",
    "Skipped",
    "StoreWriter",
    "read_events",
    "read_pages",
    "read_parquet",
    "read_state",
    "scan_events",
    "scan_frame",
    "write_store",
]
