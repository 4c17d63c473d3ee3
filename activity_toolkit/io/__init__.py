"""Readers and writers: saved API pages, event files, the Parquet store.

The store's format itself (layout, format version, writer, lazy scans) is
:mod:`activity_toolkit._store`, below the model; it is exported from here with
``read_parquet``, the one step of it that needs the model.
"""

from __future__ import annotations

from activity_toolkit._store import (
    FORMAT_VERSION,
    StorePaths,
    StoreWriter,
    read_state,
    scan_events,
    scan_frame,
    store_paths,
    write_store,
)
from activity_toolkit.io._parquet import read_parquet
from activity_toolkit.io._readers import (
    read_events,
    read_ndjson_chunks,
    read_pages,
    read_parts,
)
from activity_toolkit.io._report import LoadReport, Skipped
from activity_toolkit.io._sources import expand_paths, open_bytes

__all__ = [
    "FORMAT_VERSION",
    "LoadReport",
    "Skipped",
    "StorePaths",
    "StoreWriter",
    "expand_paths",
    "open_bytes",
    "read_events",
    "read_ndjson_chunks",
    "read_pages",
    "read_parquet",
    "read_parts",
    "read_state",
    "scan_events",
    "scan_frame",
    "store_paths",
    "write_store",
]
