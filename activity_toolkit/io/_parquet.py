"""The Parquet store: an ``ActivityLog`` on disk, written atomically, scannable lazily.

Layout::

    STORE/
      CURRENT                      name of the live version directory (atomic pointer)
      v-<timestamp>-<random>/
        manifest.json              format, version, counts, per-type column order
        events/month=YYYY-MM/part-0.parquet     Hive-partitioned by created_at month
        frames/<event type>.parquet             id + the typed columns of that type
        state.json                 optional: sync state written with the data (fetch)

A new version is written in full, then ``CURRENT`` is replaced with ``os.replace``
(atomic on POSIX and Windows), then older versions are removed. A reader that follows
``CURRENT`` never sees a half-written store, and a writer killed mid-way leaves the
previous version live.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from activity_toolkit.events._normalize import EVENTS_SCHEMA
from activity_toolkit.events._registry import EVENT_COLUMNS
from activity_toolkit.exceptions import StoreError
from activity_toolkit.model import ActivityLog

__all__ = ["read_parquet", "read_state", "scan_events", "write_store"]

FORMAT = "activity_toolkit.store"
FORMAT_VERSION = 1
_MONTH = "month"


def _live_dir(path: Path) -> Path:
    pointer = path / "CURRENT"
    if not path.exists():
        msg = "no such store (nothing has been written there yet)"
        msg_0 = f"{path}: {msg}"
        raise StoreError(msg_0)
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        msg = f"{path}: not an activity_toolkit store (no CURRENT file)"
        raise StoreError(msg) from None
    live = path / name
    if not (live / "manifest.json").is_file():
        msg = f"{path}: CURRENT points at {name!r}, which has no manifest.json"
        raise StoreError(msg)
    return live


def _manifest(live: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((live / "manifest.json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        msg = f"{live}: manifest format {meta.get('format')!r}, expected {FORMAT!r}"
        raise StoreError(msg)
    return meta


def _frame_file(live: Path, event_type: str) -> Path:
    return live / "frames" / f"{event_type}.parquet"


def write_store(
    log: ActivityLog, path: str | Path, *, state: Mapping[str, Any] | None = None
) -> Path:
    """Write ``log`` (and an optional JSON-able sync ``state``) as a new store version
    and make it live atomically. Returns the store path."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    name = f"v-{time.time_ns()}-{secrets.token_hex(4)}"
    tmp = path / f".tmp-{name}"
    tmp.mkdir()
    try:
        events = log.events
        if events.height:
            month = pl.col("created_at").dt.strftime("%Y-%m")
            for (m,), part in events.group_by(month.alias(_MONTH), maintain_order=True):
                d = tmp / "events" / f"{_MONTH}={m}"
                d.mkdir(parents=True)
                part.write_parquet(d / "part-0.parquet")
        (tmp / "frames").mkdir()
        columns: dict[str, list[str]] = {}
        for t, frame in log.frames.items():
            columns[t] = frame.columns
            typed = [c for c in frame.columns if c not in EVENT_COLUMNS]
            frame.select("id", *typed).write_parquet(_frame_file(tmp, t))
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "events": events.height,
            "columns": columns,
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        if state is not None:
            (tmp / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
        _fsync_tree(tmp)
        final = path / name
        os.replace(tmp, final)
        pointer = path / f".CURRENT-{name}"
        pointer.write_text(name, encoding="utf-8")
        os.replace(pointer, path / "CURRENT")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in path.iterdir():
        if old.name != name and (old.name.startswith(("v-", ".tmp-", ".CURRENT-"))):
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
    return path


def _fsync_tree(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            with p.open("rb") as fh:
                os.fsync(fh.fileno())


def scan_events(path: str | Path) -> pl.LazyFrame:
    """Lazily scan the events of a store (Hive partitions pruned by month).

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> from activity_toolkit import sample, scan_events
    >>> store = sample(customers=10, seed=3).write_parquet(tempfile.mkdtemp())
    >>> scan_events(store).filter(pl.col("type") == "customer.order.paid").collect().height > 0
    True
    """
    live = _live_dir(Path(path))
    files = sorted((live / "events").glob(f"{_MONTH}=*/*.parquet"))
    if not files:
        return pl.LazyFrame(schema=EVENTS_SCHEMA)
    return pl.scan_parquet(files, hive_partitioning=False).select(EVENT_COLUMNS)


def read_state(path: str | Path) -> dict[str, Any] | None:
    """The sync state stored with the live version, or ``None`` when there is none
    (or no store yet)."""
    path = Path(path)
    if not (path / "CURRENT").exists():
        return None
    state = _live_dir(path) / "state.json"
    if not state.is_file():
        return None
    data: dict[str, Any] = json.loads(state.read_text(encoding="utf-8"))
    return data


def read_parquet(path: str | Path) -> ActivityLog:
    """Read a store written by :meth:`ActivityLog.write_parquet` (or by ``fetch``).

    The result equals the log that was written, frame for frame.

    Raises
    ------
    StoreError
        ``path`` is not a store, or its live version is damaged.
    """
    path = Path(path)
    live = _live_dir(path)
    meta = _manifest(live)
    events = scan_events(path).collect().sort("created_at", "id")
    frames: dict[str, pl.DataFrame] = {}
    for t, cols in meta["columns"].items():
        base = events.filter(pl.col("type") == t)
        typed_path = _frame_file(live, t)
        if not typed_path.is_file():
            msg = f"{path}: frame file for {t!r} is missing"
            raise StoreError(msg)
        typed = pl.read_parquet(typed_path)
        if typed.width > 1:
            base = base.join(typed, on="id", how="left", maintain_order="left")
        frames[t] = base.select(cols)
    if events.height != meta["events"]:
        msg = f"{path}: manifest says {meta['events']} events, files hold {events.height}"
        raise StoreError(msg)
    return ActivityLog(events, frames)
