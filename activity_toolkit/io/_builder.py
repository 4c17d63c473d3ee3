"""The one pipeline every reader feeds: NDJSON envelope chunks → ``ActivityLog``.

Readers hand over complete NDJSON lines in chunks of bounded size; the builder parses
each chunk with Polars against a declared envelope schema, validates it, normalises it
into typed frames and drops the raw bytes before the next chunk comes. Memory is the
result plus one chunk.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
import polars as pl

from activity_toolkit.events._normalize import (
    ENVELOPE_SCHEMA,
    FLAT_SCHEMA,
    RawChunk,
    normalize,
    parse_timestamp,
)
from activity_toolkit.events._registry import ALIASES, REGISTRY
from activity_toolkit.exceptions import InputError, InvalidEventError, InvalidJSONError
from activity_toolkit.io._report import OnError, _Collector
from activity_toolkit.model import ActivityLog

__all__ = ["Builder", "Locator", "iter_line_chunks"]

#: Index of a non-blank line within a chunk → (source, line, item) for error messages.
Locator = Callable[[int], tuple[str, int | None, int | None]]

DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024
_POLARS_ERRORS: tuple[type[BaseException], ...] = (
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,  # derives from BaseException, see STACK.md
)


def iter_line_chunks(
    stream: io.BufferedIOBase | Any, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> Iterator[tuple[bytes, int]]:
    """Yield ``(complete lines, 1-based number of the first line)`` from a byte stream."""
    rest = b""
    line_no = 1
    while True:
        block = stream.read(chunk_bytes)
        if not block:
            break
        data = rest + block
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        chunk, rest = data[: cut + 1], data[cut + 1 :]
        yield chunk, line_no
        line_no += chunk.count(b"\n")
    if rest.strip():
        yield rest, line_no


def ndjson_locator(data: bytes, source: str, first_line: int) -> Locator:
    """Locate the i-th non-blank line of ``data`` (computed only when asked)."""
    cache: list[int] = []

    def locate(i: int) -> tuple[str, int | None, int | None]:
        if not cache:
            cache.extend(
                first_line + n for n, line in enumerate(data.split(b"\n")) if line.strip()
            )
        return source, cache[i], None

    return locate


class Builder:
    """Accumulates normalised chunks and builds the ``ActivityLog`` at the end."""

    def __init__(self, on_error: OnError = "raise") -> None:
        self.collector = _Collector(on_error)
        self._events: list[pl.DataFrame] = []
        self._frames: dict[str, list[pl.DataFrame]] = {}

    # -- feeding ---------------------------------------------------------------------
    def add_dicts(self, records: Iterable[Any], *, source: str, batch: int = 20_000) -> None:
        """Feed already-parsed event objects (serialised once with orjson)."""
        lines: list[bytes] = []
        locs: list[tuple[str, int | None, int | None]] = []
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                self.collector.records += 1
                self.collector.problem(
                    InvalidEventError(
                        f"expected an event object, got {type(record).__name__}",
                        source=source,
                        item=i,
                    )
                )
                continue
            lines.append(orjson.dumps(record))
            locs.append((source, None, i))
            if len(lines) >= batch:
                self.add_ndjson(b"\n".join(lines), locs.__getitem__)
                lines, locs = [], []
        if lines:
            self.add_ndjson(b"\n".join(lines), locs.__getitem__)

    def add_ndjson(self, data: bytes, locate: Locator) -> None:
        """Feed complete NDJSON lines (one event envelope each)."""
        try:
            env = pl.read_ndjson(io.BytesIO(data), schema=ENVELOPE_SCHEMA)
        except _POLARS_ERRORS:
            data, locate = self._drop_bad_lines(data, locate)
            if not data.strip():
                return
            env = pl.read_ndjson(io.BytesIO(data), schema=ENVELOPE_SCHEMA)
        self.collector.records += env.height
        if env.height == 0:
            return
        nested = pl.col("data").struct.field("data")
        flat_rows = env.select((nested.is_null() & pl.col("data").is_not_null()).any()).item()
        if flat_rows:
            flat = pl.read_ndjson(io.BytesIO(data), schema=FLAT_SCHEMA)["data"]
            env = env.with_columns(flat.alias("_flat"))
            payload = pl.coalesce(nested, pl.col("_flat"))
        else:
            payload = nested
        raw = env.select(
            pl.col("id"),
            pl.col("type").alias("type_raw"),
            pl.col("created_at").alias("_created_at_text"),
            parse_timestamp(pl.col("created_at")).alias("created_at"),
            pl.col("group_id"),
            pl.col("data").struct.field("event_source").struct.field("channel").alias("channel"),
            payload.alias("payload"),
        )
        raw = self._drop_invalid(raw, locate).drop("_created_at_text")
        if raw.height == 0:
            return
        for t, n in raw.group_by("type_raw").len().iter_rows():
            if ALIASES.get(t, t) not in REGISTRY:
                self.collector.unknown[t] += n
        events, frames = normalize(RawChunk(raw))
        self._events.append(events)
        for t, f in frames.items():
            self._frames.setdefault(t, []).append(f)

    def _drop_bad_lines(self, data: bytes, locate: Locator) -> tuple[bytes, Locator]:
        """Slow path after Polars refused a chunk: find the lines that are not JSON
        objects, raise (or skip) them with their location, keep the rest."""
        good: list[bytes] = []
        kept: list[int] = []
        i = -1
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            i += 1
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                source, line_no, item = locate(i)
                self.collector.records += 1
                self.collector.problem(
                    InvalidJSONError(f"invalid JSON: {exc}", source=source, line=line_no, item=item)
                )
                continue
            if not isinstance(obj, dict):
                source, line_no, item = locate(i)
                self.collector.records += 1
                self.collector.problem(
                    InvalidEventError(
                        f"expected an event object, got JSON {type(obj).__name__}",
                        source=source,
                        line=line_no,
                        item=item,
                    )
                )
                continue
            good.append(line)
            kept.append(i)
        return b"\n".join(good), (lambda j: locate(kept[j]))

    def _drop_invalid(self, raw: pl.DataFrame, locate: Locator) -> pl.DataFrame:
        """Raise (or skip) events without id/type/created_at or with a bad timestamp."""
        problems = raw.with_row_index("_row").filter(
            pl.col("id").is_null()
            | pl.col("type_raw").is_null()
            | pl.col("created_at").is_null()
        )
        if problems.height == 0:
            return raw
        for row in problems.iter_rows(named=True):
            missing = [k for k, c in (("id", "id"), ("type", "type_raw")) if row[c] is None]
            if row["_created_at_text"] is None:
                missing.append("created_at")
            if missing:
                reason = f"event without {', '.join(missing)}"
            else:
                reason = f"created_at {row['_created_at_text']!r} is not an ISO 8601 timestamp"
            if row["id"] is not None:
                reason += f" (id {row['id']!r})"
            source, line_no, item = locate(row["_row"])
            self.collector.problem(
                InvalidEventError(reason, source=source, line=line_no, item=item)
            )
        bad = problems["_row"]
        return raw.with_row_index("_row").filter(~pl.col("_row").is_in(bad)).drop("_row")

    # -- result ------------------------------------------------------------------------
    def build(self) -> ActivityLog:
        """Concatenate, deduplicate by id, sort, and attach the load report."""
        if self._events:
            events = pl.concat(self._events, how="vertical", rechunk=False)
        else:
            return ActivityLog(
                ActivityLog.empty().events, {}, report=self.collector.finish(duplicates=0)
            )
        frames = {
            t: pl.concat(parts, how="vertical", rechunk=False) for t, parts in self._frames.items()
        }
        self._events, self._frames = [], {}
        log = ActivityLog._from_parts(events, frames)
        report = self.collector.finish(duplicates=events.height - len(log))
        return ActivityLog(log.events, log.frames, report=report)


def add_problem(collector: _Collector, error: InputError) -> None:
    """Count one bad record and raise or record it."""
    collector.records += 1
    collector.problem(error)
