"""The Parquet store's format: layout, versions, the writer and the lazy scans.

Layout (format version 2)::

    STORE/
      CURRENT                      name of the live version directory (atomic pointer)
      v-<timestamp>-<random>/
        manifest.json              format, format version, counts, per-type column order
        events/month=YYYY-MM/part-<k>.parquet   Hive-partitioned by created_at month
        frames/t=<type>/part-<k>.parquet        id + the typed columns of that type;
                                                <type> percent-encoded (one path part)
        state.json                 optional: sync state written with the data (fetch)

A new version is written in full (in one or several parts, see :class:`StoreWriter`),
then ``CURRENT`` is replaced with ``os.replace`` (atomic on POSIX and Windows), then
older versions are removed. A reader that follows ``CURRENT`` never sees a
half-written store, and a writer killed mid-way leaves the previous version live.

Format versions (``FORMAT_VERSION``, in ``manifest.json``; bump it with every change
of the layout, and add a line here):

1. ``frames/<type>/part-<k>.parquet``, the type's name as the directory name.
2. ``frames/t=<percent-encoded type>/part-<k>.parquet``, so that any type string
   (unknown types are kept as received) is one safe path component.

A store of another version is refused with a :class:`StoreError` that names the
store, the version found and the version expected; writing the log again
(:meth:`ActivityLog.write_parquet`, ``activity-toolkit load``, or ``fetch`` into a new
directory) makes a current one.

This module works on frames, not on :class:`~activity_toolkit.model.ActivityLog`:
it sits below the model (whose ``write_parquet`` calls :func:`write_store`) and below
:mod:`activity_toolkit.io`, which builds the log in ``read_parquet`` and re-exports
the rest, so the import graph has no cycle.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import polars as pl

from activity_toolkit._version import __version__
from activity_toolkit.events import (
    EVENT_COLUMNS,
    EVENTS_SCHEMA,
    POLARS_ERRORS,
    canonical_type,
    frame_schema,
)
from activity_toolkit.exceptions import StoreError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Frames",
    "StoreWriter",
    "read_frames",
    "read_state",
    "scan_events",
    "scan_frame",
    "write_store",
]


class Frames(Protocol):
    """What the store writes: an events frame and one typed frame per type (an
    :class:`~activity_toolkit.model.ActivityLog` is one)."""

    @property
    def events(self) -> pl.DataFrame: ...

    @property
    def frames(self) -> Mapping[str, pl.DataFrame]: ...


FORMAT = "activity_toolkit.store"
FORMAT_VERSION = 2
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


def _manifest(path: Path, live: Path) -> dict[str, Any]:
    """The manifest of the live version ``live`` of the store ``path``, checked: the
    store's format, and a format version this code reads."""
    meta: dict[str, Any] = json.loads(
        (live / "manifest.json").read_text(encoding="utf-8")
    )
    if meta.get("format") != FORMAT:
        msg = f"{live}: manifest format {meta.get('format')!r}, expected {FORMAT!r}"
        raise StoreError(msg)
    found = meta.get("version")
    if found != FORMAT_VERSION:
        if isinstance(found, int) and found > FORMAT_VERSION:
            advice = "it was written by a newer activity_toolkit; upgrade to read it"
        else:
            advice = (
                "it was written by an older activity_toolkit with another layout; "
                "write the data again (ActivityLog.write_parquet, activity-toolkit "
                "load, or fetch into a new directory)"
            )
        msg = (
            f"{path}: store format version {found!r}, but activity_toolkit "
            f"{__version__} reads format version {FORMAT_VERSION}; {advice}"
        )
        raise StoreError(msg)
    return meta


def _open(path: Path) -> tuple[Path, dict[str, Any]]:
    """The live version of the store ``path`` and its checked manifest."""
    live = _live_dir(path)
    return live, _manifest(path, live)


class StoreWriter:
    """Writes a new store version part by part; :meth:`commit` makes it live.

    Each :meth:`add` writes one log as new part files, so a store larger than memory
    can be built from pieces (the sample world block by block, for instance). Until
    :meth:`commit`, the previous version stays live; leaving the ``with`` block
    without committing (or on an exception) throws the new version away. Events that
    appear in several parts are kept once when the store is read (first part wins).

    With ``extend=True`` the new version starts as the live one: its part files are
    hard-linked (copied where the file system cannot link) and its sync state is
    kept unless :meth:`commit` is given a new one, so adding a log costs only that
    log's writing. ``fetch`` checkpoints this way.

    Examples
    --------
    >>> import tempfile
    >>> from activity_toolkit import read_parquet, sample
    >>> store = tempfile.mkdtemp()
    >>> with StoreWriter(store) as writer:
    ...     writer.add(sample(customers=5, seed=1))
    ...     writer.add(sample(customers=5, seed=2))
    ...     _ = writer.commit()
    >>> len(read_parquet(store)) > 0
    True
    """

    def __init__(self, path: str | Path, *, extend: bool = False) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = _WriterLock(self.path)
        self.name = f"v-{time.time_ns()}-{secrets.token_hex(4)}"
        self._tmp = self.path / f".tmp-{self.name}"
        self._parts = 0
        self._events = 0
        self._columns: dict[str, list[str]] = {}
        self._done = False
        try:
            if extend and (self.path / "CURRENT").exists():
                self._start_from(*_open(self.path))
            else:
                self._tmp.mkdir()
                (self._tmp / "events").mkdir()
                (self._tmp / "frames").mkdir()
        except BaseException:
            self.abort()
            raise

    def _start_from(self, live: Path, meta: Mapping[str, Any]) -> None:
        """Begin the new version as a copy of ``live`` made of hard links."""
        for sub in ("events", "frames"):
            shutil.copytree(live / sub, self._tmp / sub, copy_function=_link_or_copy)
        if (live / "state.json").is_file():  # a copy: commit may rewrite it
            shutil.copy2(live / "state.json", self._tmp / "state.json")
        self._parts = int(meta["parts"])
        self._events = int(meta["events"])
        self._columns = {t: list(c) for t, c in meta["columns"].items()}

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._done:
            self.abort()

    def add(self, log: Frames) -> None:
        """Write ``log`` (an :class:`~activity_toolkit.model.ActivityLog`) as one more
        part of the new version."""
        if self._done:
            msg = "this StoreWriter has already committed or aborted"
            raise StoreError(msg)
        k = self._parts
        self._parts += 1
        events = log.events
        self._events += events.height
        if events.height:
            month = pl.col("created_at").dt.strftime("%Y-%m")
            for (m,), part in events.group_by(month.alias(_MONTH), maintain_order=True):
                d = self._tmp / "events" / f"{_MONTH}={m}"
                d.mkdir(exist_ok=True)
                part.write_parquet(d / f"part-{k}.parquet")
        for t, frame in log.frames.items():
            known = self._columns.setdefault(t, frame.columns)
            if known != frame.columns:
                msg = f"frame {t!r} has columns {frame.columns}, earlier parts had {known}"
                raise StoreError(msg)
            typed = [c for c in frame.columns if c not in EVENT_COLUMNS]
            d = _type_dir(self._tmp, t)
            d.mkdir(exist_ok=True)
            frame.select("id", *typed).write_parquet(d / f"part-{k}.parquet")

    def commit(self, *, state: Mapping[str, Any] | None = None) -> Path:
        """Make the new version live (with an optional JSON-able sync ``state``) and
        remove older versions. Returns the store path."""
        if self._done:
            msg = "this StoreWriter has already committed or aborted"
            raise StoreError(msg)
        try:
            manifest = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "events": self._events,
                "parts": self._parts,
                "columns": self._columns,
                "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            (self._tmp / "manifest.json").write_text(
                json.dumps(manifest, indent=1), encoding="utf-8"
            )
            if state is not None:
                (self._tmp / "state.json").write_text(
                    json.dumps(state, indent=1), encoding="utf-8"
                )
            _fsync_tree(self._tmp)
            os.replace(self._tmp, self.path / self.name)
            pointer = self.path / f".CURRENT-{self.name}"
            pointer.write_text(self.name, encoding="utf-8")
            os.replace(pointer, self.path / "CURRENT")
        except BaseException:
            self.abort()
            raise
        self._done = True
        try:
            _remove_old_versions(self.path, keep=self.name)
        finally:
            self._lock.release()
        return self.path

    def abort(self) -> None:
        """Throw the new version away; the previous one stays live."""
        self._done = True
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._lock.release()


#: Superseded versions are kept this long, so readers that resolved ``CURRENT`` just
#: before a write (or hold a lazy scan) can finish.
KEEP_OLD_VERSIONS_SECONDS = 600.0


def _remove_old_versions(path: Path, *, keep: str) -> None:
    """Remove superseded versions: all but the newest previous one, and that one too
    once it is older than ``KEEP_OLD_VERSIONS_SECONDS``."""
    now = time.time()
    versions = sorted(
        (p for p in path.iterdir() if p.name.startswith("v-") and p.name != keep),
        key=lambda p: p.name,
    )
    for i, old in enumerate(versions):
        newest_previous = i == len(versions) - 1
        if newest_previous and now - old.stat().st_mtime < KEEP_OLD_VERSIONS_SECONDS:
            continue
        shutil.rmtree(old, ignore_errors=True)
    for leftover in path.glob(".CURRENT-*"):
        leftover.unlink(missing_ok=True)
    for stale in path.glob(".tmp-*"):  # a crashed writer's; never a live writer's
        if now - stale.stat().st_mtime > 24 * 3600:
            shutil.rmtree(stale, ignore_errors=True)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # no hard links here (another device, some network shares)
        shutil.copy2(src, dst)


class _WriterLock:
    """One writer per store at a time (an advisory ``flock`` on ``STORE/.lock``)."""

    def __init__(self, path: Path) -> None:
        self._fh = (path / ".lock").open("a+b")
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
            return
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            msg = f"{path}: another process is writing this store right now"
            raise StoreError(msg) from None

    def release(self) -> None:
        if not self._fh.closed:
            self._fh.close()  # closing drops the flock


def write_store(
    log: Frames, path: str | Path, *, state: Mapping[str, Any] | None = None
) -> Path:
    """Write ``log`` (an :class:`~activity_toolkit.model.ActivityLog`, and an optional
    JSON-able sync ``state``) as a new store version and make it live atomically.
    Returns the store path."""
    with StoreWriter(path) as writer:
        writer.add(log)
        return writer.commit(state=state)


def _fsync_tree(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            with p.open("rb") as fh:
                os.fsync(fh.fileno())


def scan_events(path: str | Path) -> pl.LazyFrame:
    """Lazily scan the events of a store (Hive partitions pruned by month).

    A store written in several parts (by :class:`StoreWriter`, or a fetch's
    checkpoints) keeps an event written twice once, first part wins, as
    :func:`read_parquet` does; that deduplication runs before any filter, so
    compact stores scan fastest.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> from activity_toolkit import sample, scan_events
    >>> store = sample(customers=10, seed=3).write_parquet(tempfile.mkdtemp())
    >>> scan_events(store).filter(pl.col("type") == "customer.order.paid").collect().height > 0
    True
    """
    return _scan_version(*_open(Path(path)))


def _scan_version(live: Path, meta: Mapping[str, Any]) -> pl.LazyFrame:
    """The events of one store version, lazily (see :func:`scan_events`)."""
    files = _event_files(live)
    if not files:
        return pl.LazyFrame(schema=EVENTS_SCHEMA)
    events = pl.scan_parquet(files, hive_partitioning=False).select(EVENT_COLUMNS)
    if meta["parts"] > 1:  # written in parts: an event is kept once
        events = events.unique("id", keep="first", maintain_order=True)
    return events


def _event_files(live: Path) -> list[Path]:
    """The event part files, first part first (it wins on a duplicate id)."""
    files = (live / "events").glob(f"{_MONTH}=*/*.parquet")
    return sorted(files, key=lambda p: (_part_no(p), p.parent.name))


def read_state(path: str | Path) -> dict[str, Any] | None:
    """The sync state stored with the live version, or ``None`` when there is none
    (or no store yet)."""
    path = Path(path)
    if not (path / "CURRENT").exists():
        return None
    state = _open(path)[0] / "state.json"
    if not state.is_file():
        return None
    data: dict[str, Any] = json.loads(state.read_text(encoding="utf-8"))
    return data


def _type_dir(root: Path, event_type: str) -> Path:
    """The directory of one type's frame parts. Type strings come from the data
    (unknown types are kept as received), so they are percent-encoded into a single
    path component: ``..`` or ``a/b`` can neither escape the store nor fail."""
    return root / "frames" / f"t={quote(event_type, safe='')}"


def _frame_parts(live: Path, event_type: str) -> list[Path]:
    return sorted(_type_dir(live, event_type).glob("part-*.parquet"), key=_part_no)


def _part_no(path: Path) -> int:
    return int(path.stem.removeprefix("part-"))


def scan_frame(path: str | Path, event_type: str) -> pl.LazyFrame:
    """Lazily scan the typed frame of one event type in a store (the common columns
    joined to that type's typed columns), without reading the whole store.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> from activity_toolkit import sample, scan_frame
    >>> store = sample(customers=10, seed=3).write_parquet(tempfile.mkdtemp())
    >>> paid = scan_frame(store, "customer.order.paid").select(pl.col("order_amount").sum())
    >>> paid.collect().item() > 0
    True
    """
    live, meta = _open(Path(path))
    t = canonical_type(event_type)
    if t not in meta["columns"]:
        return pl.LazyFrame(schema=frame_schema(t))
    return _typed_frame(_scan_version(live, meta), live, t, meta["columns"][t])


def _typed_frame(
    events: pl.LazyFrame, live: Path, event_type: str, columns: list[str]
) -> pl.LazyFrame:
    """One type's frame: its events joined to its typed part files (first part wins
    on a duplicate id), in the column order it was written with."""
    parts = _frame_parts(live, event_type)
    if not parts:
        msg = f"{live.parent}: the frame files of {event_type!r} are missing"
        raise StoreError(msg)
    base = events.filter(pl.col("type") == event_type)
    typed = pl.scan_parquet(parts).unique("id", keep="first", maintain_order=True)
    if len(typed.collect_schema()) > 1:
        base = base.join(typed, on="id", how="left", maintain_order="left")
    return base.select(columns)


def read_frames(path: str | Path) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """The events and the typed frames of the live version of a store (what
    :func:`activity_toolkit.read_parquet` makes its log of).

    Events written in several parts are kept once (first part wins). If a writer
    replaces the store while it is being read, the read starts again on the new
    version.

    Raises
    ------
    StoreError
        ``path`` is not a store, its format version is not :data:`FORMAT_VERSION`,
        or its live version is damaged.
    """
    for attempt in range(3):
        live = _live_dir(Path(path))
        try:
            return _read_version(Path(path), live)
        except _RETRYABLE:
            if attempt == 2 or _live_dir(Path(path)) == live:
                raise
    raise AssertionError  # pragma: no cover


_RETRYABLE: tuple[type[BaseException], ...] = (OSError, *POLARS_ERRORS)


def _read_version(
    path: Path, live: Path
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    meta = _manifest(path, live)
    files = _event_files(live)
    if files:
        events = pl.read_parquet(files, hive_partitioning=False).select(EVENT_COLUMNS)
    else:
        events = pl.DataFrame(schema=EVENTS_SCHEMA)
    if events.height != meta["events"]:
        msg = (
            f"{path}: manifest says {meta['events']} events, files hold {events.height}"
        )
        raise StoreError(msg)
    events = events.unique("id", keep="first", maintain_order=True).sort(
        "created_at", "id"
    )
    lazy = events.lazy()
    types = list(meta["columns"])
    collected = pl.collect_all(
        [_typed_frame(lazy, live, t, meta["columns"][t]) for t in types]
    )
    frames = dict(zip(types, collected, strict=True))
    return events, {t: f for t, f in frames.items() if f.height}
