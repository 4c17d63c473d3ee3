"""The Parquet store's format: layout, versions, the writer and the lazy scans.

Layout (format version 4)::

    STORE/
      CURRENT                      name of the live version directory (atomic pointer)
      store.json                   the store's record: the versions it wrote, and when
                                   each was superseded (only writers read it)
      .lock                        one writer at a time (``flock``)
      v-<timestamp>-<random>/
        manifest.json              format, format version, counts, each type's column
                                   order and family table, each table's columns
        families/<family>/month=YYYY-MM/part-<k>.parquet
                                   one table per event family (``tier``, ``points``…,
                                   ``unknown`` for types the registry does not know):
                                   the common event columns (all of ``EVENT_COLUMNS``
                                   but ``payload``) then the union of the typed columns
                                   of the family's types, one schema for every file of
                                   the table; Hive-partitioned by ``created_at`` month
                                   (UTC); rows sorted by (``customer_id``,
                                   ``created_at``, ``id``) within a file, nulls first
        payload/month=YYYY-MM/part-<k>.parquet
                                   ``id`` and ``payload`` (the raw JSON text) of every
                                   event, by month, in the same order (it compresses
                                   best so: a customer's payloads are alike)
        state.json                 optional: sync state written with the data (fetch)

The events table is a view, not a copy: the events are the union of the family
tables' common columns, with ``payload`` joined by ``id``. Parquet is columnar, so an
engine reading the common columns of every family table reads the same bytes as it
would from an events table; a copy would store those columns twice (a fifth more
bytes on the sample) and two copies could disagree. The price: a
reader of all events unions the family tables (DuckDB ``union_by_name``, Spark
``unionByName``; :func:`store_paths` gives the paths and both recipes), and
:func:`scan_events` joins the payload table unless asked not to (``payload=False``).

A version written in several parts (``StoreWriter.add`` called more than once, or
``extend=True``) has files ``part-0`` … ``part-<parts-1>``; an event ``id`` in several
parts is kept once, from the lowest part (first part wins), by every reader here.

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
   the file-name limit; the manifest maps each type to its directory (``dirs``);
   beside ``events/month=YYYY-MM/part-<k>.parquet`` (all event columns).
4. ``families/<family>/month=YYYY-MM/part-<k>.parquet`` (common and typed columns of
   a whole family in one table) and ``payload/month=YYYY-MM/part-<k>.parquet``; no
   per-type directories and no events table; the manifest maps each type to its
   family table (``family_of``) and lists each table's columns (``families``).

Readers read versions 3 and 4; a store of another version is refused with a
:class:`StoreError` that names the store, the version found and the version
expected. Writers write version 4; ``StoreWriter(store, extend=True)`` over a
version-3 store rewrites it as version 4 (part by part, so memory stays that of its
largest part) and links again from then on. Writing the log again
(:meth:`ActivityLog.write_parquet`, ``activity-toolkit load --replace``, or ``fetch``
into a new directory) makes a current store of any older one.

This module works on frames, not on :class:`~activity_toolkit.model.ActivityLog`:
it sits below the model (whose ``write_parquet`` calls :func:`write_store`) and below
:mod:`activity_toolkit.io`, which builds the log in ``read_parquet`` and re-exports
the rest, so the import graph has no cycle.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import polars as pl

from activity_toolkit._version import __version__
from activity_toolkit.events import (
    EVENT_COLUMNS,
    EVENTS_SCHEMA,
    FAMILIES,
    POLARS_ERRORS,
    canonical_type,
    family_of,
    frame_schema,
)
from activity_toolkit.exceptions import StoreError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "READABLE_VERSIONS",
    "Frames",
    "StorePaths",
    "StoreWriter",
    "family_schema",
    "prepare_store_dir",
    "read_frames",
    "read_state",
    "scan_events",
    "scan_frame",
    "store_paths",
    "write_store",
]


class Frames(Protocol):
    """What the store writes: an events frame and one typed frame per type (an
    :class:`~activity_toolkit.model.ActivityLog` is one)."""

    @property
    def events(self) -> pl.DataFrame: ...

    @property
    def frames(self) -> Mapping[str, pl.DataFrame]: ...


@dataclass(frozen=True, slots=True)
class _Log:
    """A :class:`Frames` made of plain frames (a version-3 part being upgraded)."""

    events: pl.DataFrame
    frames: Mapping[str, pl.DataFrame]


FORMAT = "activity_toolkit.store"
FORMAT_VERSION = 4
#: the format versions the readers read (writers write ``FORMAT_VERSION``)
READABLE_VERSIONS = (3, 4)
_MONTH = "month"
_RECORD = "store.json"
_RECORD_FORMAT = "activity_toolkit.store.record"
#: the names a writer gives its versions; ``CURRENT`` may name nothing else
_VERSION_NAME = re.compile(r"v-[0-9]{1,20}-[0-9a-f]{8}")
#: the names a writer gives type directories (format 3, see :func:`_type_dir_name`)
_TYPE_DIR = re.compile(r"[th]=[A-Za-z0-9%._~-]{0,120}")
#: the names of family tables (the registry's families and ``unknown``)
_TABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_PART_FILE = re.compile(r"part-([0-9]{1,9})\.parquet")
_MAX_TYPE_DIR = 100
_MAX_CURRENT = 256
_MAX_JSON = 256 << 20
#: what reading a damaged part file raises
_READ_ERRORS: tuple[type[BaseException], ...] = (OSError, *POLARS_ERRORS)
#: the columns every family table starts with: the events' columns but the payload
COMMON_COLUMNS: tuple[str, ...] = tuple(c for c in EVENT_COLUMNS if c != "payload")
_COMMON_SCHEMA = pl.Schema({c: EVENTS_SCHEMA[c] for c in COMMON_COLUMNS})
#: rows of a family table file are in this order
SORT_KEYS: tuple[str, ...] = ("customer_id", "created_at", "id")
#: the part number of a row while a store written in parts is deduplicated
_PART = "__activity_toolkit_part"
_MONTH_COL = "__activity_toolkit_month"


@functools.cache
def family_schema(family: str) -> pl.Schema:
    """The schema of one family table: the common event columns (all of
    ``EVENT_COLUMNS`` but ``payload``), then every typed column of the family's
    registered types, in registry order (``unknown``: the common columns only).

    Two types of a family that give one column two types are a registry error,
    raised here (a ``ValueError``), so a stacked table can never need a cast.

    >>> list(family_schema("tier"))[13:16]
    ['tier_id', 'tier_name', 'tier_points_from']
    """
    schema: dict[str, pl.DataType] = dict(_COMMON_SCHEMA)
    for t in FAMILIES.get(family, ()):
        for column, dtype in frame_schema(t).items():
            if column == "payload":
                continue
            have = schema.setdefault(column, dtype)
            if have != dtype:
                msg = (
                    f"family {family!r}: type {t!r} has column {column!r} as {dtype}, "
                    f"another type of the family has it as {have}"
                )
                raise ValueError(msg)
    return pl.Schema(schema)


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
    if found not in READABLE_VERSIONS or isinstance(found, bool):
        if isinstance(found, int) and found > FORMAT_VERSION:
            advice = "it was written by a newer activity_toolkit; upgrade to read it"
        else:
            advice = (
                "it was written by an older activity_toolkit with another layout; "
                "write the data again (ActivityLog.write_parquet, activity-toolkit "
                "load --replace, or fetch into a new directory)"
            )
        older = ", ".join(str(v) for v in READABLE_VERSIONS if v != FORMAT_VERSION)
        msg = (
            f"{path}: store format version {found!r}, but activity_toolkit "
            f"{__version__} reads format version {FORMAT_VERSION} (and {older}); "
            f"{advice}"
        )
        raise StoreError(msg)
    wrong = _manifest_problem(meta) if found == 3 else _manifest_problem_v4(meta)
    if wrong:
        raise _damaged(path, file, f"{wrong} (damaged)")
    return meta


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_names(value: object) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(x, str) for x in value)
    )


def _counts_and_columns_problem(meta: Mapping[str, Any]) -> str | None:
    for key in ("events", "parts"):
        if not _is_count(meta.get(key)):
            return f"{key!r} is {meta.get(key)!r}, not a count"
    columns = meta.get("columns")
    if not isinstance(columns, dict) or not all(map(_is_names, columns.values())):
        return "'columns' is missing or not a map of type to column names"
    return None


def _manifest_problem(meta: Mapping[str, Any]) -> str | None:
    """What is wrong with the keys of a format-3 manifest, if anything."""
    wrong = _counts_and_columns_problem(meta)
    if wrong:
        return wrong
    columns, dirs = meta["columns"], meta.get("dirs")
    if not isinstance(dirs, dict) or set(dirs) != set(columns):
        return "'dirs' is missing or does not name a directory for every type"
    names = list(dirs.values())
    if not all(isinstance(d, str) and _TYPE_DIR.fullmatch(d) for d in names):
        return "'dirs' holds a name that is not a type directory name"
    if len(set(names)) != len(names):
        return "'dirs' gives two types the same directory"
    return None


def _manifest_problem_v4(meta: Mapping[str, Any]) -> str | None:
    """What is wrong with the keys of a format-4 manifest, if anything."""
    wrong = _counts_and_columns_problem(meta)
    if wrong:
        return wrong
    columns, tables = meta["columns"], meta.get("families")
    if not isinstance(tables, dict) or not all(
        isinstance(name, str)
        and _TABLE_NAME.fullmatch(name)
        and _is_names(cols)
        and set(COMMON_COLUMNS) <= set(cols)
        for name, cols in tables.items()
    ):
        return "'families' is missing or not a map of family table to its columns"
    owner = meta.get("family_of")
    if not isinstance(owner, dict) or set(owner) != set(columns):
        return "'family_of' is missing or does not name a family table for every type"
    for t, family in owner.items():
        if family not in tables:
            return f"'family_of' puts {t!r} in {family!r}, which is not in 'families'"
        if not set(columns[t]) <= {*tables[family], "payload"}:
            return f"'columns' of {t!r} are not all in its family table {family!r}"
    return None


def _open(path: Path) -> tuple[Path, dict[str, Any]]:
    """The live version of the store ``path`` and its checked manifest."""
    live = _live_dir(path)
    return live, _manifest(path, live)


def _check_parts(store: Path, files: Iterable[Path], *, footers: bool) -> None:
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


def _part_no(path: Path) -> int:
    return int(path.stem.removeprefix("part-"))


def _table_files(root: Path) -> list[Path]:
    """The part files of one month-partitioned table (format 3's events, format 4's
    family and payload tables), first part first (it wins on a duplicate id)."""
    files = [
        p
        for p in root.glob(f"{_MONTH}=*/part-*.parquet")
        if _PART_FILE.fullmatch(p.name)
    ]
    return sorted(files, key=lambda p: (_part_no(p), p.parent.name))


def _all_parts(live: Path, meta: Mapping[str, Any]) -> list[Path]:
    """Every part file of a version, events (or family tables) first."""
    if meta["version"] == 3:
        files = _table_files(live / "events")
        for d in meta["dirs"].values():
            files += _v3_frame_parts(live, d)
        return files
    files = [
        f for fam in meta["families"] for f in _table_files(_family_dir(live, fam))
    ]
    return files + _table_files(live / "payload")


# -- format 4: the family tables and the payload table ------------------------------
def _family_dir(live: Path, family: str) -> Path:
    return live / "families" / family


@dataclass(frozen=True, slots=True)
class _Files:
    """The part files of a format-4 version, each list first part first."""

    families: dict[str, list[Path]]
    payload: list[Path]

    def every_family(self) -> list[Path]:
        """Every family table's files, by part, then family, then month: read in
        this order, the first row of an id is the one that wins."""
        files = [f for fs in self.families.values() for f in fs]
        return sorted(
            files, key=lambda p: (_part_no(p), p.parent.parent.name, p.parent.name)
        )


def _v4_files(path: Path, live: Path, meta: Mapping[str, Any]) -> _Files:
    """The part files of the format-4 version ``live``; a family table the manifest
    names without files, or events without payload files, is a :class:`StoreError`."""
    families = {}
    for family in meta["families"]:
        files = _table_files(_family_dir(live, family))
        if not files:
            problem = "the part files of this family table are missing (damaged)"
            raise _damaged(path, _family_dir(live, family), problem)
        families[family] = files
    payload = _table_files(live / "payload")
    if families and not payload:
        problem = "the part files of the payload table are missing (damaged)"
        raise _damaged(path, live / "payload", problem)
    return _Files(families, payload)


def _scan(
    files: list[Path], schema: pl.Schema | None = None, *, part: bool = False
) -> pl.LazyFrame:
    """A lazy scan of part files (``schema``: only these columns of files that may
    hold more), with the part number of each row in ``_PART`` if ``part``."""
    lf = pl.scan_parquet(
        files,
        hive_partitioning=False,
        schema=schema,
        extra_columns="ignore" if schema is not None else "raise",
        include_file_paths=_PART if part else None,
    )
    if part:
        number = pl.col(_PART).str.extract(r"part-([0-9]+)\.parquet$").cast(pl.Int64)
        lf = lf.with_columns(number.alias(_PART))
    return lf


def _first_part_only(lf: pl.LazyFrame) -> pl.LazyFrame:
    """The rows of each id from the lowest part that holds it (first part wins)."""
    return lf.filter(pl.col(_PART) == pl.col(_PART).min().over("id"))


def _v4_scan_events(
    meta: Mapping[str, Any], files: _Files, *, payload: bool
) -> pl.LazyFrame:
    columns = list(EVENT_COLUMNS if payload else COMMON_COLUMNS)
    every = files.every_family()
    if not every:
        return pl.LazyFrame(schema={c: EVENTS_SCHEMA[c] for c in columns})
    multi = meta["parts"] > 1
    events = _scan(every, _COMMON_SCHEMA, part=multi)
    if multi:  # written in parts: an event is kept once
        events = _first_part_only(events).drop(_PART)
    if payload:
        texts = _scan(files.payload, part=multi)
        if multi:
            texts = _first_part_only(texts).drop(_PART)
        events = events.join(texts, on="id", how="left")
    return events.select(columns).sort("created_at", "id")


def _v4_scan_frame(
    meta: Mapping[str, Any], files: _Files, event_type: str, *, payload: bool
) -> pl.LazyFrame:
    table = files.families[meta["family_of"][event_type]]
    multi = meta["parts"] > 1
    rows = _scan(table, part=multi).filter(pl.col("type") == event_type)
    if multi:  # the first part of an id may be in another family table
        firsts = _first_part_only(_scan(files.every_family(), _ID_SCHEMA, part=True))
        rows = rows.join(firsts, on=["id", _PART], how="semi").drop(_PART)
    columns = meta["columns"][event_type]
    if "payload" in columns and payload:
        months = {f.parent.name for f in table}  # its rows' payloads are there
        texts = _scan([f for f in files.payload if f.parent.name in months], part=multi)
        if multi:
            texts = _first_part_only(texts).drop(_PART)
        rows = rows.join(texts, on="id", how="left")
    elif not payload:
        columns = [c for c in columns if c != "payload"]
    return rows.select(columns).sort("created_at", "id")


_ID_SCHEMA = pl.Schema({"id": pl.String()})


def _v4_read(
    path: Path, live: Path, meta: Mapping[str, Any]
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    files = _v4_files(path, live, meta)
    if not files.families:
        if meta["events"]:
            problem = f"says {meta['events']} events, but there are no family tables"
            raise _damaged(path, live / "manifest.json", f"{problem} (damaged)")
        return pl.DataFrame(schema=EVENTS_SCHEMA), {}
    multi = meta["parts"] > 1
    names = list(files.families)
    *read, payload = pl.collect_all(
        [_scan(files.families[f], part=multi) for f in names]
        + [_scan(files.payload, part=multi)]
    )
    tables = dict(zip(names, read, strict=True))
    held = sum(t.height for t in tables.values())
    for what, n in (("the family tables", held), ("the payload table", payload.height)):
        if n != meta["events"]:
            problem = f"says {meta['events']} events, but {what} hold {n} (damaged)"
            raise _damaged(path, live / "manifest.json", problem)
    if multi:  # written in parts: an event is kept once, from its first part
        keys = pl.concat([t.select("id", _PART) for t in tables.values()])
        firsts = keys.group_by("id").agg(pl.col(_PART).min())
        tables = {
            f: t.join(firsts, on=["id", _PART], how="semi", maintain_order="left").drop(
                _PART
            )
            for f, t in tables.items()
        }
        payload = payload.join(firsts, on=["id", _PART], how="semi").drop(_PART)
    common = pl.concat([t.select(COMMON_COLUMNS) for t in tables.values()])
    texts = common.select("id").join(
        payload, on="id", how="left", maintain_order="left"
    )["payload"]
    if texts.len() != common.height:
        problem = "holds an event id twice in one part (damaged)"
        raise _damaged(path, live / "payload", problem)
    events = common.with_columns(texts).select(EVENT_COLUMNS).sort("created_at", "id")
    frames: dict[str, pl.DataFrame] = {}
    offset = 0
    for family, table in tables.items():
        with_text = table.with_columns(texts.slice(offset, table.height))
        offset += table.height
        for (t,), rows in with_text.partition_by("type", as_dict=True).items():
            if meta["family_of"].get(t) != family:
                problem = (
                    f"holds events of type {t!r}, which the manifest puts in another "
                    "table (damaged)"
                )
                raise _damaged(path, _family_dir(live, family), problem)
            frames[str(t)] = rows.select(meta["columns"][t]).sort("created_at", "id")
    return events, {t: frames[t] for t in meta["columns"] if t in frames}


# -- format 3: an events table and one directory of typed columns per type -----------
def _v3_frame_parts(live: Path, directory: str) -> list[Path]:
    parts = (live / "frames" / directory).glob("part-*.parquet")
    return sorted((p for p in parts if _PART_FILE.fullmatch(p.name)), key=_part_no)


def _v3_scan_events(live: Path, meta: Mapping[str, Any]) -> pl.LazyFrame:
    files = _table_files(live / "events")
    if not files:
        return pl.LazyFrame(schema=EVENTS_SCHEMA)
    events = pl.scan_parquet(files, hive_partitioning=False).select(EVENT_COLUMNS)
    if meta["parts"] > 1:  # written in parts: an event is kept once
        events = events.unique("id", keep="first", maintain_order=True)
    return events


def _v3_typed_frame(
    events: pl.LazyFrame,
    live: Path,
    event_type: str,
    meta: Mapping[str, Any],
    parts: list[Path] | None = None,
) -> pl.LazyFrame:
    """One type's frame: its events joined to its typed part files (first part wins
    on a duplicate id), in the column order it was written with."""
    if parts is None:
        parts = _v3_frame_parts(live, meta["dirs"][event_type])
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


def _v3_read(
    path: Path, live: Path, meta: Mapping[str, Any]
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    files = _table_files(live / "events")
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
    collected = pl.collect_all([_v3_typed_frame(lazy, live, t, meta) for t in types])
    frames = dict(zip(types, collected, strict=True))
    return events, {t: f for t, f in frames.items() if f.height}


def _v3_part(live: Path, meta: Mapping[str, Any], k: int) -> _Log:
    """Part ``k`` of a format-3 version as it was written: its events and, per type,
    those events joined to that part's typed columns (to upgrade it part by part)."""
    files = [f for f in _table_files(live / "events") if _part_no(f) == k]
    if not files:
        return _Log(pl.DataFrame(schema=EVENTS_SCHEMA), {})
    events = pl.read_parquet(files, hive_partitioning=False).select(EVENT_COLUMNS)
    lazy = events.lazy()
    types = sorted(set(events["type"].unique()) & set(meta["dirs"]))
    scans = []
    for t in types:
        typed = live / "frames" / meta["dirs"][t] / f"part-{k}.parquet"
        # an event of the part whose typed row is in another part only (a store not
        # written by this toolkit's writer) gets it from there, as a read would
        parts = [typed] if typed.exists() else None
        scans.append(_v3_typed_frame(lazy, live, t, meta, parts))
    frames = dict(zip(types, pl.collect_all(scans), strict=True))
    return _Log(events, frames)


# -- the writer -------------------------------------------------------------------------
def _conform(frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """``frame`` with exactly the columns of a family table (nulls where it has none
    of a column)."""
    return frame.select(
        pl.col(c) if c in frame.columns else pl.lit(None, dtype=d).alias(c)
        for c, d in schema.items()
    )


def _write_by_month(
    table: pl.DataFrame, root: Path, k: int, *, order: Iterable[str], keep: list[str]
) -> None:
    """Write the columns ``keep`` of ``table`` as ``root/month=YYYY-MM/part-k.parquet``
    (``created_at`` month, UTC), each file's rows sorted by ``order``."""
    month = pl.col("created_at").dt.strftime("%Y-%m").alias(_MONTH_COL)
    table = table.sort(*order).with_columns(month)
    by_month = table.partition_by(_MONTH_COL, as_dict=True, maintain_order=True)
    for (m,), rows in by_month.items():
        d = root / f"{_MONTH}={m}"
        d.mkdir(parents=True, exist_ok=True)
        rows.select(keep).write_parquet(d / f"part-{k}.parquet")


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
    log's writing. ``fetch`` checkpoints this way. A live version of format 3 is
    rewritten as format 4 instead (part by part, so memory stays that of its
    largest part); the next extension links again.

    Every file of a family table has the same columns: a type whose frame brings a
    column the table lacks (a custom column, or a field a newer registry added)
    widens the table, and the files it already has in the new version are rewritten
    with that column null (the live version's files are left as they are). A column
    whose type differs from the table's is a :class:`StoreError`.

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
        #: each type's frame columns, and the family table holding its rows
        self._columns: dict[str, list[str]] = {}
        self._family_of: dict[str, str] = {}
        #: the schema of each family table that has files in the new version
        self._tables: dict[str, dict[str, pl.DataType]] = {}
        self._done = False
        _prepare_store_dir(self.path)
        try:
            self._lock = _WriterLock(self.path)
            self._record = _load_record(self.path)
            if self._lock.exclusive:  # every other writer of this store is gone
                _remove_dead_writers_files(self.path)
            self._made_tmp = True
            if extend and (self.path / "CURRENT").exists():
                live, meta = _open(self.path)
                if meta["version"] == FORMAT_VERSION:
                    self._start_from(live, meta)
                else:
                    self._upgrade(live, meta)
            else:
                self._start_empty()
        except BaseException:
            self.abort()
            raise

    def _start_empty(self) -> None:
        self._tmp.mkdir()
        (self._tmp / "families").mkdir()
        (self._tmp / "payload").mkdir()

    def _start_from(self, live: Path, meta: Mapping[str, Any]) -> None:
        """Begin the new version as a copy of ``live`` made of hard links."""
        files = _v4_files(self.path, live, meta)
        _check_parts(self.path, _all_parts(live, meta), footers=False)
        tables = {}
        for family, parts in files.families.items():
            try:
                schema = pl.read_parquet_schema(parts[0])
            except _READ_ERRORS as error:
                raise _damaged(self.path, parts[0], _unreadable(error)) from None
            if list(schema) != meta["families"][family]:
                problem = "does not have the columns the manifest lists (damaged)"
                raise _damaged(self.path, parts[0], problem)
            tables[family] = dict(schema)
        state = _read_state_file(self.path, live)  # checked before it is carried on
        self._tmp.mkdir()
        for sub in ("families", "payload"):
            if (live / sub).is_dir():
                shutil.copytree(
                    live / sub, self._tmp / sub, copy_function=_link_or_copy
                )
            else:
                (self._tmp / sub).mkdir()
        if state is not None:  # a copy: commit may rewrite it
            shutil.copy2(live / "state.json", self._tmp / "state.json")
        self._parts = int(meta["parts"])
        self._events = int(meta["events"])
        self._columns = {t: list(c) for t, c in meta["columns"].items()}
        self._family_of = dict(meta["family_of"])
        self._tables = tables

    def _upgrade(self, live: Path, meta: Mapping[str, Any]) -> None:
        """Begin the new version as the format-3 version ``live`` rewritten as format
        4, one of its parts at a time (so first part still wins)."""
        _check_parts(self.path, _all_parts(live, meta), footers=False)
        state = _read_state_file(self.path, live)
        self._start_empty()
        if state is not None:
            shutil.copy2(live / "state.json", self._tmp / "state.json")
        manifest = live / "manifest.json"
        for k in range(int(meta["parts"])):
            try:
                part = _v3_part(live, meta, k)
            except _READ_ERRORS as error:
                raise _diagnose(self.path, live, meta, error) from error
            if sum(f.height for f in part.frames.values()) != part.events.height:
                problem = (
                    f"part {k} holds events of a type without frame files (damaged); "
                    "write the data again"
                )
                raise _damaged(self.path, manifest, problem)
            self.add(part)
        if self._events != meta["events"]:
            problem = (
                f"says {meta['events']} events, but the part files hold "
                f"{self._events} (damaged)"
            )
            raise _damaged(self.path, manifest, problem)

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
        events = log.events
        frames = {t: f for t, f in log.frames.items() if f.height}
        held = sum(f.height for f in frames.values())
        if held != events.height:
            msg = (
                f"{self.path}: the log's frames hold {held:,} events but its events "
                f"frame {events.height:,}; every event must be in exactly one frame"
            )
            raise StoreError(msg)
        groups: dict[str, list[tuple[str, pl.DataFrame]]] = {}
        for t, frame in frames.items():
            known = self._columns.get(t)
            if known is not None and known != frame.columns:
                msg = f"frame {t!r} has columns {frame.columns}, earlier parts had {known}"
                raise StoreError(msg)
            lacking = [c for c in COMMON_COLUMNS if c not in frame.columns]
            if lacking:
                msg = f"frame {t!r} lacks the common event columns {lacking}"
                raise StoreError(msg)
            family = self._family_of.get(t) or family_of(t)
            groups.setdefault(family, []).append((t, frame))
        fitted = {f: self._fit(f, items) for f, items in groups.items()}
        # every check passed: now write
        for family, (_, added) in fitted.items():
            if added and family in self._tables:
                self._widen(family, added)
        k = self._parts
        self._parts += 1
        self._events += events.height
        for family, items in groups.items():
            schema = fitted[family][0]
            for t, frame in items:
                self._columns.setdefault(t, list(frame.columns))
                self._family_of.setdefault(t, family)
            table = pl.concat([_conform(f, schema) for _, f in items], how="vertical")
            root = _family_dir(self._tmp, family)
            _write_by_month(table, root, k, order=SORT_KEYS, keep=list(schema))
            self._tables[family] = schema
        if events.height:
            keep = ["id", "payload"]
            _write_by_month(
                events.select(*keep, "customer_id", "created_at"),
                self._tmp / "payload",
                k,
                order=SORT_KEYS,
                keep=keep,
            )

    def _fit(
        self, family: str, items: list[tuple[str, pl.DataFrame]]
    ) -> tuple[dict[str, pl.DataType], dict[str, pl.DataType]]:
        """The schema of a family table once ``items`` are in it, and the columns
        that adds to the table the version has (a type's column of another type than
        the table's is a :class:`StoreError`)."""
        have = self._tables.get(family)
        schema = dict(have if have is not None else family_schema(family))
        added: dict[str, pl.DataType] = {}
        for t, frame in items:
            for column, dtype in frame.schema.items():
                if column == "payload":
                    continue
                known = schema.get(column)
                if known is None:
                    schema[column] = added[column] = dtype
                elif known != dtype:
                    msg = (
                        f"{self.path}: frame {t!r} has column {column!r} as {dtype}, "
                        f"but the {family!r} table holds it as {known}"
                    )
                    raise StoreError(msg)
        return schema, added

    def _widen(self, family: str, added: Mapping[str, pl.DataType]) -> None:
        """Rewrite the files the new version has of a family table with the columns
        ``added`` (null). A linked file is replaced, not changed: the live version
        keeps its own."""
        for f in _table_files(_family_dir(self._tmp, family)):
            try:
                table = pl.read_parquet(f, hive_partitioning=False)
            except _READ_ERRORS as error:
                raise _damaged(self.path, f, _unreadable(error)) from None
            table = table.with_columns(
                pl.lit(None, dtype=d).alias(c) for c, d in added.items()
            )
            staged = f.with_name(f".{f.name}.widened")
            table.write_parquet(staged)
            os.replace(staged, f)

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
                "family_of": {t: self._family_of[t] for t in self._columns},
                "families": {f: list(self._tables[f]) for f in sorted(self._tables)},
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


# -- the readers ------------------------------------------------------------------------
def scan_events(path: str | Path, *, payload: bool = True) -> pl.LazyFrame:
    """Lazily scan the events of a store, in (``created_at``, ``id``) order.

    The events are the common columns of the family tables, with ``payload`` joined
    from its own table by ``id``. Polars cannot leave a join out when its column
    is not selected, so ``payload=False`` (no ``payload`` column) is the fast way to
    count, filter or collect ids on a large store. A store written in several parts
    (by :class:`StoreWriter`, or a fetch's checkpoints) keeps an event written twice
    once, first part wins, as :func:`read_parquet` does; that deduplication runs
    before any filter, so compact stores scan fastest.

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
    >>> "payload" in scan_events(store, payload=False).collect_schema()
    False
    """
    path = Path(path)
    live, meta = _open(path)
    if meta["version"] == 3:
        _check_parts(path, _table_files(live / "events"), footers=True)
        events = _v3_scan_events(live, meta)
        return events if payload else events.drop("payload")
    files = _v4_files(path, live, meta)
    texts = files.payload if payload else []
    _check_parts(path, [*files.every_family(), *texts], footers=True)
    return _v4_scan_events(meta, files, payload=payload)


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


def scan_frame(
    path: str | Path, event_type: str, *, payload: bool = True
) -> pl.LazyFrame:
    """Lazily scan the typed frame of one event type in a store (its rows of its
    family table, with ``payload`` joined by ``id`` unless ``payload=False``), in
    (``created_at``, ``id``) order, without reading the whole store.

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
        empty = pl.LazyFrame(schema=frame_schema(t))
        return empty if payload else empty.drop("payload")
    if meta["version"] == 3:
        parts = _v3_frame_parts(live, meta["dirs"][t])
        _check_parts(path, _table_files(live / "events") + parts, footers=True)
        frame = _v3_typed_frame(_v3_scan_events(live, meta), live, t, meta)
        return frame if payload else frame.drop("payload", strict=False)
    files = _v4_files(path, live, meta)
    table = files.families[meta["family_of"][t]]
    if meta["parts"] > 1:  # the first part of an id may be in another table
        table = files.every_family()
    texts = files.payload if payload else []
    _check_parts(path, [*table, *texts], footers=True)
    return _v4_scan_frame(meta, files, t, payload=payload)


def read_frames(path: str | Path) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """The events and the typed frames of the live version of a store (what
    :func:`activity_toolkit.read_parquet` makes its log of).

    Events written in several parts are kept once (first part wins). The read is of
    the version live when it starts; a writer that replaces the store meanwhile keeps
    that version for ``KEEP_OLD_VERSIONS_SECONDS``.

    Raises
    ------
    StoreError
        ``path`` is not a store, its format version is not one of
        :data:`READABLE_VERSIONS`, or its live version is damaged (the message names
        the file).
    """
    path = Path(path)
    live, meta = _open(path)
    read = _v3_read if meta["version"] == 3 else _v4_read
    try:
        return read(path, live, meta)
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


# -- for other engines ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StorePaths:
    """Where the tables of a store's live version are (see :func:`store_paths`).

    Every path is absolute, as a string ready for an engine.

    Attributes
    ----------
    root
        The live version's directory (``STORE/v-…``); it does not change while it
        is live, and stays ``KEEP_OLD_VERSIONS_SECONDS`` after a write replaces it.
    tables
        Table name → its directory (``month=YYYY-MM`` folders below it): one table
        per family that has events (``"tier"``, ``"points"``, …, ``"unknown"``) and
        ``"payload"`` (``id``, ``payload``).
    families
        The family tables, sorted; the events are their union (``columns``).
    columns
        The common event columns every family table starts with (the events' columns
        but ``payload``).
    parts
        How many parts the version was written in. With one, every event ``id`` is
        in the store once. With more, an ``id`` may be in more than one part (and
        family table): :func:`read_parquet` keeps the row of the lowest part ``k``
        (file ``part-<k>.parquet``).
    """

    root: str
    tables: Mapping[str, str]
    families: tuple[str, ...]
    columns: tuple[str, ...]
    parts: int

    def glob(self, table: str) -> str:
        """The glob of a table's part files, for DuckDB's ``read_parquet`` (with
        ``hive_partitioning=true`` it adds the ``month`` column)."""
        return f"{self.tables[table]}/{_MONTH}=*/part-*.parquet"

    @property
    def events(self) -> list[str]:
        """The globs of every family table: the events, read with
        ``union_by_name=true`` and only :attr:`columns` selected."""
        return [self.glob(f) for f in self.families]


def store_paths(path: str | Path) -> StorePaths:
    """The Parquet tables of a store's live version, for engines that read Parquet
    themselves (Spark, DuckDB, Polars, warehouses that load Parquet).

    The layout (format version 4): one table per event family,
    ``families/<family>/month=YYYY-MM/part-<k>.parquet``, holding the common event
    columns (``id``, ``type``, ``type_raw``, ``family``, ``customer_id``,
    ``customer_source_id``, ``created_at`` in ms UTC, ``group_id``, ``channel``,
    ``campaign_*``, ``voucher_code``) and the typed columns of every type of the
    family, each file sorted by (``customer_id``, ``created_at``, ``id``); the raw
    JSON in ``payload/month=YYYY-MM/part-<k>.parquet`` (``id``, ``payload``). Every
    file of a table has the same schema, so no schema merging is needed; the events
    are the union of the family tables' common columns. The store switches versions
    atomically: resolve the paths again to see a later write, and do not write
    under them.

    Raises
    ------
    StoreError
        ``path`` is not a store, it is damaged, or its format version is 3 (whose
        typed data is per type; extending it once, or writing it again, upgrades it).

    Examples
    --------
    DuckDB: one family table, and all events (their common columns).

    >>> import tempfile, duckdb
    >>> from activity_toolkit import read_parquet, sample, store_paths
    >>> store = sample(customers=20, seed=3).write_parquet(tempfile.mkdtemp())
    >>> paths = store_paths(store)
    >>> tiers = duckdb.read_parquet(paths.glob("tier"), hive_partitioning=True)
    >>> tiers.count("*").fetchall() == [(len(read_parquet(store).filter(families="tier")),)]
    True
    >>> events = duckdb.read_parquet(
    ...     paths.events, hive_partitioning=True, union_by_name=True
    ... ).select(*paths.columns, "month")
    >>> events.count("*").fetchall() == [(len(read_parquet(store)),)]
    True

    Spark (session time zone UTC, so ``created_at`` prints as stored)::

        from functools import reduce
        from pyspark.sql import DataFrame, SparkSession

        spark = SparkSession.builder.config(
            "spark.sql.session.timeZone", "UTC"
        ).getOrCreate()
        paths = store_paths("store/")
        tiers = spark.read.parquet(paths.tables["tier"])  # + month, from the folders
        events = reduce(
            DataFrame.unionByName,
            [
                spark.read.parquet(paths.tables[f]).select(*paths.columns, "month")
                for f in paths.families
            ],
        )

    A store written in parts (``paths.parts > 1``) may hold an ``id`` more than
    once; keep the row of the lowest part, as the readers here do: in DuckDB read
    with ``filename=true`` and add ``QUALIFY row_number() OVER (PARTITION BY id
    ORDER BY regexp_extract(filename, 'part-([0-9]+)', 1)::INT) = 1``; in Spark use
    ``input_file_name()`` the same way. ``write_parquet``, ``activity-toolkit load
    --replace`` and a finished ``fetch`` write one part.
    """
    path = Path(path)
    live, meta = _open(path)
    if meta["version"] != FORMAT_VERSION:
        msg = (
            f"{path}: store format version {meta['version']} keeps its typed data per "
            "type, not in the family tables engines read; upgrade it by extending it "
            "once (with StoreWriter(store, extend=True) as w: w.commit(), or "
            "activity-toolkit load into it) or write it again"
        )
        raise StoreError(msg)
    files = _v4_files(path, live, meta)
    root = live.resolve()
    tables = {f: str(_family_dir(root, f)) for f in sorted(files.families)}
    if files.payload:
        tables["payload"] = str(root / "payload")
    return StorePaths(
        root=str(root),
        tables=MappingProxyType(tables),
        families=tuple(sorted(files.families)),
        columns=COMMON_COLUMNS,
        parts=int(meta["parts"]),
    )
