"""The Parquet store's format: layout, versions, the writer and the lazy scans.

Layout (format version 3)::

    STORE/
      CURRENT                      name of the live version directory (atomic pointer)
      store.json                   the store's record: the versions it wrote, and when
                                   each was superseded (only writers read it)
      .lock                        one writer at a time (``flock``)
      v-<timestamp>-<random>/
        manifest.json              format, format version, counts, per-type column
                                   order and per-type directory name
        events/month=YYYY-MM/part-<k>.parquet   Hive-partitioned by created_at month
        frames/t=<type>/part-<k>.parquet        id + the typed columns of that type;
                                                <type> percent-encoded (one path part)
        frames/h=<prefix>-<hash>/part-<k>.parquet   the same, for a type whose encoded
                                                name is longer than 100 characters
        state.json                 optional: sync state written with the data (fetch)

A new version is written in full (in one or several parts, see :class:`StoreWriter`)
in ``.tmp-<version>``, recorded in ``store.json``, renamed to its version name, then
``CURRENT`` is replaced with ``os.replace`` (atomic on POSIX and Windows). A reader
that follows ``CURRENT`` never sees a half-written store, and a writer killed mid-way
leaves the previous version live. Superseded versions stay for
``KEEP_OLD_VERSIONS_SECONDS`` (10 minutes) after the commit that superseded them, so a
read or a lazy scan that resolved ``CURRENT`` before can finish; later writers remove
them. A writer removes only what ``store.json`` records (and the ``.tmp-*`` folders of
writers that are gone: its lock is free), never other files in the directory, and it
refuses to make a store of a non-empty directory that is not one.

Failures: every problem of the store itself (not a directory, not a store, another
format version, a damaged or missing ``CURRENT``, ``manifest.json``, ``state.json``,
``store.json`` or part file) is a :class:`StoreError` whose message names the store,
the file and the problem.

Format versions (``FORMAT_VERSION``, in ``manifest.json``; bump it with every change
of the layout, and add a line here):

1. ``frames/<type>/part-<k>.parquet``, the type's name as the directory name.
2. ``frames/t=<percent-encoded type>/part-<k>.parquet``, so that any type string
   (unknown types are kept as received) is one safe path component.
3. ``frames/t=<percent-encoded type>/`` or, when that is longer than 100 characters,
   ``frames/h=<encoded prefix>-<sha256 prefix>/``, so that a type of any length fits
   the file-name limit; the manifest maps each type to its directory (``dirs``).

A store of another version is refused with a :class:`StoreError` that names the
store, the version found and the version expected; writing the log again
(:meth:`ActivityLog.write_parquet`, ``activity-toolkit load --replace``, or ``fetch``
into a new directory) makes a current one.

This module works on frames, not on :class:`~activity_toolkit.model.ActivityLog`:
it sits below the model (whose ``write_parquet`` calls :func:`write_store`) and below
:mod:`activity_toolkit.io`, which builds the log in ``read_parquet`` and re-exports
the rest, so the import graph has no cycle.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import stat
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
    "prepare_store_dir",
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
FORMAT_VERSION = 3
_MONTH = "month"
_RECORD = "store.json"
_RECORD_FORMAT = "activity_toolkit.store.record"
#: the names a writer gives its versions; ``CURRENT`` may name nothing else
_VERSION_NAME = re.compile(r"v-[0-9]{1,20}-[0-9a-f]{8}")
#: the names a writer gives type directories (see :func:`_type_dir_name`)
_TYPE_DIR = re.compile(r"[th]=[A-Za-z0-9%._~-]{0,120}")
_MAX_TYPE_DIR = 100
_MAX_CURRENT = 256
_MAX_JSON = 256 << 20
#: what reading a damaged part file raises
_READ_ERRORS: tuple[type[BaseException], ...] = (OSError, *POLARS_ERRORS)


def _damaged(store: Path, file: Path, problem: str) -> StoreError:
    """A :class:`StoreError` naming the store, the file (relative to the store) and
    the problem."""
    try:
        label = str(file.relative_to(store))
    except ValueError:
        label = str(file)
    return StoreError(f"{store}: {label}: {problem}")


def _not_a_directory(path: Path) -> StoreError:
    return StoreError(f"{path}: not a directory (a store is a directory)")


def _read_small(store: Path, file: Path, limit: int) -> bytes:
    """The bytes of a small regular file of the store, or a :class:`StoreError`."""
    try:
        st = file.stat()
        if not stat.S_ISREG(st.st_mode):
            raise _damaged(store, file, "is not a regular file")
        if st.st_size > limit:
            raise _damaged(store, file, f"is {st.st_size:,} bytes, more than {limit:,}")
        with file.open("rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise _damaged(store, file, "is missing") from None
    except OSError as error:
        problem = f"cannot be read ({error.strerror or error})"
        raise _damaged(store, file, problem) from None
    if len(data) > limit:
        raise _damaged(store, file, f"is more than {limit:,} bytes")
    return data


def _read_json(store: Path, file: Path) -> dict[str, Any]:
    """A JSON object stored in the store, or a :class:`StoreError`."""
    data = _read_small(store, file, _MAX_JSON)
    try:
        obj = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _damaged(store, file, "is not UTF-8 text (damaged)") from None
    except json.JSONDecodeError as error:
        problem = (
            f"is not valid JSON ({error.msg} at line {error.lineno}, column "
            f"{error.colno}; {len(data):,} bytes): damaged or truncated"
        )
        raise _damaged(store, file, problem) from None
    if not isinstance(obj, dict):
        problem = f"holds a JSON {type(obj).__name__}, not an object (damaged)"
        raise _damaged(store, file, problem)
    return obj


def _check_dir(path: Path) -> None:
    if not path.exists():
        msg = f"{path}: no such store (nothing has been written there yet)"
        raise StoreError(msg)
    if not path.is_dir():
        raise _not_a_directory(path)


def _live_dir(path: Path) -> Path:
    _check_dir(path)
    pointer = path / "CURRENT"
    if not (pointer.exists() or pointer.is_symlink()):
        msg = f"{path}: not an activity_toolkit store (no CURRENT file)"
        raise StoreError(msg)
    raw = _read_small(path, pointer, _MAX_CURRENT)
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise _damaged(path, pointer, "is not UTF-8 text (damaged)") from None
    if not _VERSION_NAME.fullmatch(name):
        problem = f"names {name!r}, not a version of this store (v-<time>-<hex>)"
        raise _damaged(path, pointer, problem)
    live = path / name
    if not (live / "manifest.json").is_file():
        msg = f"{path}: CURRENT points at {name!r}, which has no manifest.json"
        raise StoreError(msg)
    return live


def _manifest(path: Path, live: Path) -> dict[str, Any]:
    """The manifest of the live version ``live`` of the store ``path``, checked: the
    store's format, a format version this code reads, and its keys."""
    file = live / "manifest.json"
    meta = _read_json(path, file)
    if meta.get("format") != FORMAT:
        problem = f"manifest format {meta.get('format')!r}, expected {FORMAT!r}"
        raise _damaged(path, file, problem)
    found = meta.get("version")
    if found != FORMAT_VERSION:
        if isinstance(found, int) and found > FORMAT_VERSION:
            advice = "it was written by a newer activity_toolkit; upgrade to read it"
        else:
            advice = (
                "it was written by an older activity_toolkit with another layout; "
                "write the data again (ActivityLog.write_parquet, activity-toolkit "
                "load --replace, or fetch into a new directory)"
            )
        msg = (
            f"{path}: store format version {found!r}, but activity_toolkit "
            f"{__version__} reads format version {FORMAT_VERSION}; {advice}"
        )
        raise StoreError(msg)
    wrong = _manifest_problem(meta)
    if wrong:
        raise _damaged(path, file, f"{wrong} (damaged)")
    return meta


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _manifest_problem(meta: Mapping[str, Any]) -> str | None:
    """What is wrong with the keys of a manifest of this format version, if anything."""
    for key in ("events", "parts"):
        if not _is_count(meta.get(key)):
            return f"{key!r} is {meta.get(key)!r}, not a count"
    columns, dirs = meta.get("columns"), meta.get("dirs")
    if not isinstance(columns, dict) or not all(
        isinstance(c, list) and c and all(isinstance(x, str) for x in c)
        for c in columns.values()
    ):
        return "'columns' is missing or not a map of type to column names"
    if not isinstance(dirs, dict) or set(dirs) != set(columns):
        return "'dirs' is missing or does not name a directory for every type"
    names = list(dirs.values())
    if not all(isinstance(d, str) and _TYPE_DIR.fullmatch(d) for d in names):
        return "'dirs' holds a name that is not a type directory name"
    if len(set(names)) != len(names):
        return "'dirs' gives two types the same directory"
    return None


def _open(path: Path) -> tuple[Path, dict[str, Any]]:
    """The live version of the store ``path`` and its checked manifest."""
    live = _live_dir(path)
    return live, _manifest(path, live)


def _check_parts(store: Path, files: list[Path], *, footers: bool) -> None:
    """A :class:`StoreError` for the first part file that is not Parquet: its magic
    bytes (cheap), and with ``footers`` its footer too."""
    for f in files:
        try:
            size = f.stat().st_size
            with f.open("rb") as fh:
                head = fh.read(4)
                fh.seek(max(size - 4, 0))
                tail = fh.read(4)
        except OSError as error:
            problem = f"cannot be read ({error.strerror or error})"
            raise _damaged(store, f, problem) from None
        if size < 12 or head != b"PAR1" or tail != b"PAR1":
            problem = (
                f"is not a whole Parquet file ({size:,} bytes): damaged or truncated"
            )
            raise _damaged(store, f, problem)
        if footers:
            try:
                pl.read_parquet_schema(f)
            except _READ_ERRORS as error:
                raise _damaged(store, f, _unreadable(error)) from None


def _unreadable(error: BaseException) -> str:
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return f"is not a readable Parquet file ({first}): damaged"


def _all_parts(live: Path, meta: Mapping[str, Any]) -> list[Path]:
    files = _event_files(live)
    for d in meta["dirs"].values():
        files += _frame_parts(live, d)
    return files


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

    The directory must be new, empty or a store (else :class:`StoreError`; the writer
    never makes a store of a folder holding other things). Only one writer works on
    a store at a time; the next one removes the ``.tmp-*`` folders of writers that
    were killed. :meth:`commit` removes only versions the store records in
    ``store.json``, each ``KEEP_OLD_VERSIONS_SECONDS`` after it was superseded.

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
        self.name = f"v-{time.time_ns()}-{secrets.token_hex(4)}"
        self._tmp = self.path / f".tmp-{self.name}"
        self._lock: _WriterLock | None = None
        self._made_tmp = False
        self._parts = 0
        self._events = 0
        self._columns: dict[str, list[str]] = {}
        self._dirs: dict[str, str] = {}
        self._done = False
        _prepare_store_dir(self.path)
        try:
            self._lock = _WriterLock(self.path)
            self._record = _load_record(self.path)
            if self._lock.exclusive:  # every other writer of this store is gone
                _remove_dead_writers_files(self.path)
            self._made_tmp = True
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
        _check_parts(self.path, _all_parts(live, meta), footers=False)
        state = _read_state_file(self.path, live)  # checked before it is carried on
        self._tmp.mkdir()
        for sub in ("events", "frames"):
            shutil.copytree(live / sub, self._tmp / sub, copy_function=_link_or_copy)
        if state is not None:  # a copy: commit may rewrite it
            shutil.copy2(live / "state.json", self._tmp / "state.json")
        self._parts = int(meta["parts"])
        self._events = int(meta["events"])
        self._columns = {t: list(c) for t, c in meta["columns"].items()}
        self._dirs = dict(meta["dirs"])

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
            d = self._tmp / "frames" / self._dir_of(t)
            d.mkdir(exist_ok=True)
            frame.select("id", *typed).write_parquet(d / f"part-{k}.parquet")

    def _dir_of(self, event_type: str) -> str:
        name = self._dirs.get(event_type)
        if name is None:
            name = _type_dir_name(event_type)
            if name in self._dirs.values():  # pragma: no cover - a 64-bit collision
                msg = f"{self.path}: two event types map to the directory {name!r}"
                raise StoreError(msg)
            self._dirs[event_type] = name
        return name

    def commit(self, *, state: Mapping[str, Any] | None = None) -> Path:
        """Make the new version live (with an optional JSON-able sync ``state``) and
        remove superseded versions whose grace period is over. Returns the store
        path."""
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
                "dirs": {t: self._dirs[t] for t in self._columns},
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
            pointer = self.path / "CURRENT"
            if pointer.is_dir() and not pointer.is_symlink():
                raise _damaged(self.path, pointer, "is a directory, not a file")
            # recorded before it exists under its name: nothing a writer makes can be
            # left unrecorded, whenever it is killed
            self._record["versions"][self.name] = {"superseded_at": None}
            _write_record(self.path, self._record)
            os.replace(self._tmp, self.path / self.name)
            staged = self.path / f".CURRENT-{self.name}"
            staged.write_text(self.name, encoding="utf-8")
            os.replace(staged, pointer)
        except BaseException:
            self.abort()
            raise
        self._done = True
        try:
            _remove_superseded(self.path, self._record, live=self.name)
        finally:
            self._release()
        return self.path

    def abort(self) -> None:
        """Throw the new version away; the previous one stays live."""
        self._done = True
        if self._made_tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()


#: Superseded versions are kept this long after the commit that superseded them, so
#: readers that resolved ``CURRENT`` before it (or hold a lazy scan) can finish.
KEEP_OLD_VERSIONS_SECONDS = 600.0


def _is_store(path: Path) -> bool:
    return any(
        (path / n).exists() or (path / n).is_symlink() for n in ("CURRENT", _RECORD)
    )


def prepare_store_dir(path: str | Path) -> None:
    """Check, before any work, that ``path`` can hold a store (a store, an empty or
    new directory); create it. Raises :class:`StoreError` otherwise."""
    _prepare_store_dir(Path(path))


def _prepare_store_dir(path: Path) -> None:
    """Create the store directory, or check that an existing one is a store or empty
    (a writer never turns a folder holding other things into a store)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise _not_a_directory(path) from None
    except OSError as error:
        msg = f"{path}: cannot create the store directory ({error.strerror or error})"
        raise StoreError(msg) from None
    if not path.is_dir():
        raise _not_a_directory(path)
    if _is_store(path):
        return
    others = sorted(p.name for p in path.iterdir() if p.name != ".lock")
    if others:
        msg = (
            f"{path}: not an activity_toolkit store (no CURRENT or {_RECORD}) and not "
            f"empty ({len(others)} entries, such as {others[0]!r}); a store is written "
            "only into a new or empty directory or an existing store"
        )
        raise StoreError(msg)


def _load_record(path: Path) -> dict[str, Any]:
    """The store's record of the versions it wrote (``store.json``), created on the
    first write. A store from before the record adopts the versions whose manifest
    says this toolkit wrote them. Called with the writer's lock held."""
    file = path / _RECORD
    if file.exists() or file.is_symlink():
        record = _read_json(path, file)
        versions = record.get("versions")
        if (
            record.get("format") != _RECORD_FORMAT
            or not isinstance(versions, dict)
            or not all(
                _VERSION_NAME.fullmatch(n)
                and isinstance(v, dict)
                and isinstance(v.get("superseded_at"), int | float | None)
                for n, v in versions.items()
            )
        ):
            raise _damaged(path, file, "is not a store record (damaged)")
        return record
    adopted: dict[str, Any] = {}
    if (path / "CURRENT").exists():
        for p in path.iterdir():
            if _VERSION_NAME.fullmatch(p.name) and _written_here(path, p):
                adopted[p.name] = {"superseded_at": None}
    record = {"format": _RECORD_FORMAT, "versions": adopted}
    _write_record(path, record)
    return record


def _written_here(path: Path, version: Path) -> bool:
    try:
        meta = _read_json(path, version / "manifest.json")
    except StoreError:
        return False
    return meta.get("format") == FORMAT


def _write_record(path: Path, record: Mapping[str, Any]) -> None:
    staged = path / f".{_RECORD}-{secrets.token_hex(4)}"
    with staged.open("w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(staged, path / _RECORD)


def _remove_superseded(path: Path, record: dict[str, Any], *, live: str) -> None:
    """Mark the versions the commit of ``live`` superseded, and remove the recorded
    versions superseded longer than ``KEEP_OLD_VERSIONS_SECONDS`` ago."""
    now = time.time()
    versions: dict[str, Any] = record["versions"]
    for name, info in list(versions.items()):
        if name == live:
            continue
        if info.get("superseded_at") is None:
            info["superseded_at"] = now
        if now - info["superseded_at"] >= KEEP_OLD_VERSIONS_SECONDS:
            shutil.rmtree(path / name, ignore_errors=True)
            if not (path / name).exists():
                del versions[name]
    _write_record(path, record)


_DEAD_WRITER_FILE = re.compile(
    rf"\.tmp-{_VERSION_NAME.pattern}|\.CURRENT-{_VERSION_NAME.pattern}"
    rf"|\.{re.escape(_RECORD)}-[0-9a-f]{{8}}"
)


def _remove_dead_writers_files(path: Path) -> None:
    """Remove what killed writers left (``.tmp-<version>`` folders, staged pointers
    and records). Called with the lock held, so no writer of them is alive."""
    for p in path.iterdir():
        if not _DEAD_WRITER_FILE.fullmatch(p.name):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # no hard links here (another device, some network shares)
        shutil.copy2(src, dst)


class _WriterLock:
    """One writer per store at a time (an advisory ``flock`` on ``STORE/.lock``).
    ``exclusive`` is false where there is no ``flock`` (not POSIX)."""

    def __init__(self, path: Path) -> None:
        self.exclusive = False
        try:
            self._fh = (path / ".lock").open("a+b")
        except OSError as error:
            msg = f"{path}: .lock: cannot be opened ({error.strerror or error})"
            raise StoreError(msg) from None
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
        self.exclusive = True

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

    The scan is of the version live now; it can be collected for
    ``KEEP_OLD_VERSIONS_SECONDS`` (10 minutes) after a later write supersedes it.
    Damaged or truncated part files are a :class:`StoreError` here (their footers
    are checked); damage inside a file with an intact footer shows at ``collect``.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> from activity_toolkit import sample, scan_events
    >>> store = sample(customers=10, seed=3).write_parquet(tempfile.mkdtemp())
    >>> scan_events(store).filter(pl.col("type") == "customer.order.paid").collect().height > 0
    True
    """
    path = Path(path)
    live, meta = _open(path)
    _check_parts(path, _event_files(live), footers=True)
    return _scan_version(live, meta)


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
    files = (live / "events").glob(f"{_MONTH}=*/part-*.parquet")
    return sorted(files, key=lambda p: (_part_no(p), p.parent.name))


def read_state(path: str | Path) -> dict[str, Any] | None:
    """The sync state stored with the live version, or ``None`` when there is none
    (or no store yet).

    Raises
    ------
    StoreError
        ``path`` is not a directory, or the store or its ``state.json`` is damaged.
    """
    path = Path(path)
    if not path.exists():
        return None
    if not path.is_dir():
        raise _not_a_directory(path)
    pointer = path / "CURRENT"
    if not (pointer.exists() or pointer.is_symlink()):
        return None
    return _read_state_file(path, _open(path)[0])


def _read_state_file(path: Path, live: Path) -> dict[str, Any] | None:
    state = live / "state.json"
    if not (state.exists() or state.is_symlink()):
        return None
    return _read_json(path, state)


def _type_dir_name(event_type: str) -> str:
    """The directory name of one type's frame parts. Type strings come from the data
    (unknown types are kept as received), so they are percent-encoded into a single
    path component (``..`` or ``a/b`` can neither escape the store nor fail): ``t=``
    and the encoded type, or, when that is longer than 100 characters, ``h=``, an
    encoded prefix and 16 hex digits of the type's SHA-256, so that any type fits the
    file-name limit. The manifest maps each type to its directory."""
    encoded = quote(event_type, safe="", errors="surrogatepass")
    if len(encoded) <= _MAX_TYPE_DIR:
        return f"t={encoded}"
    digest = hashlib.sha256(event_type.encode("utf-8", "surrogatepass")).hexdigest()
    prefix = ""
    for ch in event_type:
        q = quote(ch, safe="", errors="surrogatepass")
        if len(prefix) + len(q) > 60:
            break
        prefix += q
    return f"h={prefix}-{digest[:16]}"


def _frame_parts(live: Path, directory: str) -> list[Path]:
    return sorted((live / "frames" / directory).glob("part-*.parquet"), key=_part_no)


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
    path = Path(path)
    live, meta = _open(path)
    t = canonical_type(event_type)
    if t not in meta["columns"]:
        return pl.LazyFrame(schema=frame_schema(t))
    parts = _frame_parts(live, meta["dirs"][t])
    _check_parts(path, _event_files(live) + parts, footers=True)
    return _typed_frame(_scan_version(live, meta), live, t, meta)


def _typed_frame(
    events: pl.LazyFrame, live: Path, event_type: str, meta: Mapping[str, Any]
) -> pl.LazyFrame:
    """One type's frame: its events joined to its typed part files (first part wins
    on a duplicate id), in the column order it was written with."""
    parts = _frame_parts(live, meta["dirs"][event_type])
    if not parts:
        msg = f"{live.parent}: the frame files of {event_type!r} are missing"
        raise StoreError(msg)
    base = events.filter(pl.col("type") == event_type)
    typed = pl.scan_parquet(parts, hive_partitioning=False).unique(
        "id", keep="first", maintain_order=True
    )
    if len(typed.collect_schema()) > 1:
        base = base.join(typed, on="id", how="left", maintain_order="left")
    return base.select(meta["columns"][event_type])


def read_frames(path: str | Path) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """The events and the typed frames of the live version of a store (what
    :func:`activity_toolkit.read_parquet` makes its log of).

    Events written in several parts are kept once (first part wins). The read is of
    the version live when it starts; a writer that replaces the store meanwhile keeps
    that version for ``KEEP_OLD_VERSIONS_SECONDS``.

    Raises
    ------
    StoreError
        ``path`` is not a store, its format version is not :data:`FORMAT_VERSION`,
        or its live version is damaged (the message names the file).
    """
    path = Path(path)
    live, meta = _open(path)
    try:
        return _read_version(path, live, meta)
    except _READ_ERRORS as error:
        raise _diagnose(path, live, meta, error) from error


def _diagnose(
    path: Path, live: Path, meta: Mapping[str, Any], error: BaseException
) -> StoreError:
    """The :class:`StoreError` for a read of ``live`` that failed with ``error``:
    the first part file that cannot be read, by itself, is named."""
    for f in _all_parts(live, meta):
        try:
            pl.read_parquet(f, hive_partitioning=False)
        except FileNotFoundError:
            return _damaged(path, f, "is missing")
        except _READ_ERRORS as part_error:
            return _damaged(path, f, _unreadable(part_error))
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return _damaged(path, live, f"cannot be read ({first})")


def _read_version(
    path: Path, live: Path, meta: Mapping[str, Any]
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    files = _event_files(live)
    if files:
        events = pl.read_parquet(files, hive_partitioning=False).select(EVENT_COLUMNS)
    else:
        events = pl.DataFrame(schema=EVENTS_SCHEMA)
    if events.height != meta["events"]:
        problem = (
            f"says {meta['events']} events, but the part files hold {events.height} "
            "(damaged)"
        )
        raise _damaged(path, live / "manifest.json", problem)
    events = events.unique("id", keep="first", maintain_order=True).sort(
        "created_at", "id"
    )
    lazy = events.lazy()
    types = list(meta["columns"])
    collected = pl.collect_all([_typed_frame(lazy, live, t, meta) for t in types])
    frames = dict(zip(types, collected, strict=True))
    return events, {t: f for t, f in frames.items() if f.height}
