"""``read_parquet``: a Parquet store as an :class:`~activity_toolkit.model.ActivityLog`.

The store's format (layout, format version, writer, lazy scans) lives in
:mod:`activity_toolkit._store`, below the model, because
:meth:`ActivityLog.write_parquet` writes through it; this module adds the one step
that needs the model, and :mod:`activity_toolkit.io` exports both.
"""

from __future__ import annotations

from pathlib import Path

from activity_toolkit._store import read_frames
from activity_toolkit.model import ActivityLog

__all__ = ["read_parquet"]


def read_parquet(path: str | Path) -> ActivityLog:
    """Read a store written by :meth:`ActivityLog.write_parquet` (or by ``fetch``).

    The result equals the log that was written, frame for frame. Events written in
    several parts are kept once (first part wins). The read is of the version live
    when it starts: a writer that replaces the store meanwhile keeps that version
    for 10 minutes (``KEEP_OLD_VERSIONS_SECONDS``). Stores of format version 4 (one
    table per event family, see :func:`~activity_toolkit.io.store_paths`) and of
    version 3 are read.

    Raises
    ------
    StoreError
        ``path`` is not a store, it has a store format version this toolkit does not
        read (the message names the version found and the ones expected), or its
        live version is damaged (the message names the store, the damaged file and
        the problem).
    """
    events, frames = read_frames(path)
    return ActivityLog(events, frames)
