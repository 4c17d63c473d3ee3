"""The one pipeline every reader feeds: NDJSON envelope chunks → ``ActivityLog``.

Readers hand over complete NDJSON lines in chunks of bounded size (or, for event files,
envelopes already read by DuckDB); the builder parses each chunk with Polars against a
declared envelope schema, validates it and keeps only the envelope columns and payload
text, dropping the raw bytes before the next chunk comes. Each type's payloads are
then decoded once, in one batch per type (:func:`~activity_toolkit.events._normalize.normalize`).
Peak memory stays under twice the size of the data read.
"""

from __future__ import annotations

import io
import json
import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
import polars as pl

from activity_toolkit.events import (
    ALIASES,
    ENVELOPE_SCHEMA,
    POLARS_ERRORS,
    REGISTRY,
    blank_text,
    normalize,
    parse_timestamps,
    timestamp_problem,
)
from activity_toolkit.exceptions import InputError, InvalidEventError, InvalidJSONError
from activity_toolkit.io._report import OnError, _Collector
from activity_toolkit.model import ActivityLog

__all__ = ["Builder", "Locator", "iter_line_chunks"]

#: Index of a non-blank line within a chunk → (source, line, item) for error messages.
Locator = Callable[[int], tuple[str, int | None, int | None]]

DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024


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
                first_line + n
                for n, line in enumerate(data.split(b"\n"))
                if line.strip()
            )
        return source, cache[i], None

    return locate


@dataclass
class _ChunkResult:
    records: int = 0
    skipped: list[InputError] = field(default_factory=list)
    unknown: Counter[str] = field(default_factory=Counter)
    raw: pl.DataFrame | None = None


def _process_chunk(data: bytes, locate: Locator, on_error: OnError) -> _ChunkResult:
    """Parse and validate one chunk of NDJSON envelopes.

    Runs in a worker thread (Polars releases the GIL), so it touches no shared state:
    problems are raised (``on_error="raise"``) or returned in the result.
    """
    out = _ChunkResult()

    def problem(error: InputError) -> None:
        if on_error == "raise":
            raise error
        out.skipped.append(error)

    try:
        env = pl.read_ndjson(io.BytesIO(data), schema=ENVELOPE_SCHEMA)
    except POLARS_ERRORS:
        data, locate = _drop_bad_lines(data, locate, out, problem)
        if not data.strip():
            return out
        # every line is a JSON object now; what still fails is a field of an odd JSON
        # type (``"data": [..]``, ``"event_source": "API"``): read leniently, such
        # fields become null, and validation below reports what is then missing
        env = pl.read_ndjson(
            io.BytesIO(data), schema=ENVELOPE_SCHEMA, ignore_errors=True
        )
    out.records += env.height
    if env.height == 0:
        return out
    lines = _lines(data)
    if lines.len() != env.height:  # pragma: no cover - both skip the same blank lines
        msg = f"line split found {lines.len()} records, the JSON reader {env.height}"
        raise AssertionError(msg)
    raw = env.select(
        pl.col("id"),
        pl.col("type").alias("type_raw"),
        pl.col("created_at").alias("_created_at_text"),
        parse_timestamps(env["created_at"]).alias("created_at"),
        pl.col("group_id"),
        pl.col("data")
        .struct.field("event_source")
        .struct.field("channel")
        .alias("channel"),
        _payloads(lines).alias("payload"),
    )
    odd = _odd_kinds(raw, lines)
    del env, lines
    raw = _drop_invalid(raw, locate, problem, odd).drop("_created_at_text")
    if raw.height == 0:
        return out
    _count_unknown(raw, out.unknown)
    out.raw = raw
    return out


def _lines(data: bytes) -> pl.Series:
    """The non-blank lines of an NDJSON chunk as a String column.

    Split by Polars' CSV reader with the unit separator (0x1F) as delimiter and no
    quoting: valid JSON never holds a raw control character, so each line is one field.
    """
    frame = pl.read_csv(
        io.BytesIO(data),
        has_header=False,
        separator="\x1f",
        quote_char=None,
        schema={"line": pl.String},
    )
    line = frame["line"]
    return line.filter(line.str.strip_chars().str.len_bytes() > 0)


def _payloads(lines: pl.Series) -> pl.Series:
    """Each event's payload as JSON text: ``data.data`` when ``data`` wraps an object
    under ``data`` (list endpoints), else ``data`` itself (webhook style).

    JSON path matching re-serialises the value with correct escaping (Polars' NDJSON
    reader, asked for an object as text, does not escape backslashes or control
    characters, so it cannot be used for this).
    """
    nested = lines.str.json_path_match("$.data.data")
    is_object = nested.str.starts_with("{").fill_null(False)
    if is_object.all():
        return nested
    flat = pl.select(
        pl.when(is_object).then(nested).otherwise(lines.str.json_path_match("$.data"))
    ).to_series()
    return flat


def _count_unknown(raw: pl.DataFrame, counter: Counter[str]) -> None:
    """Count the events of type strings the registry does not know (for the warning)."""
    for t, n in raw.group_by("type_raw").len().iter_rows():
        if ALIASES.get(t, t) not in REGISTRY:
            counter[t] += n


def _json_kind(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, int | float) else "null"
    )


def _drop_bad_lines(
    data: bytes,
    locate: Locator,
    out: _ChunkResult,
    problem: Callable[[InputError], None],
) -> tuple[bytes, Locator]:
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
            out.records += 1
            problem(
                InvalidJSONError(
                    f"invalid JSON: {exc}", source=source, line=line_no, item=item
                )
            )
            continue
        reason = None
        if not isinstance(obj, dict):
            reason = f"expected an event object, got JSON {_json_kind(obj)}"
        elif not isinstance(obj.get("data"), dict | None):
            reason = f"data must be a JSON object, got {_json_kind(obj['data'])}"
            if isinstance(obj.get("id"), str):
                reason += f" (id {obj['id']!r})"
        else:
            reason = _kind_problem(obj)
        if reason is not None:
            source, line_no, item = locate(i)
            out.records += 1
            problem(InvalidEventError(reason, source=source, line=line_no, item=item))
            continue
        good.append(line)
        kept.append(i)
    return b"\n".join(good), (lambda j: locate(kept[j]))


#: ``id`` and ``type`` must be JSON strings with a character other than whitespace
#: (:func:`~activity_toolkit.events.blank_text`). The envelope readers (Polars, DuckDB) turn any JSON value
#: into text, so a value whose text could come from a number, boolean, array or
#: object is checked again on its line.
_MAYBE_NOT_STRING = r"^(?:[-+0-9.\[{]|true$|false$)"


def _kind_problem(obj: Any) -> str | None:
    """Why a parsed envelope's ``id`` or ``type`` is not a string, or ``None`` (an
    absent one is reported as missing; a blank one by :func:`_odd_kinds`)."""
    for key in ("id", "type"):
        value = obj.get(key) if isinstance(obj, dict) else None
        if value is not None and not isinstance(value, str):
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            text = text if len(text) <= 40 else text[:39] + "…"
            return (
                f"{key} must be a non-empty string, got JSON {_json_kind(value)} {text}"
            )
    return None


def _odd_kinds(raw: pl.DataFrame, lines: pl.Series) -> dict[int, str]:
    """Row → reason, for the rows whose ``id`` or ``type`` is not a non-empty string."""
    checks = raw.select(
        blank_text("id").fill_null(False).alias("id"),
        blank_text("type_raw").fill_null(False).alias("type"),
        pl.any_horizontal(
            pl.col(c).str.contains(_MAYBE_NOT_STRING) for c in ("id", "type_raw")
        )
        .fill_null(False)
        .alias("suspect"),
    ).with_row_index("_row")
    out: dict[int, str] = {}
    for row, blank_id, blank_type, suspect in checks.filter(
        pl.any_horizontal("id", "type", "suspect")
    ).iter_rows():
        reason = _kind_problem(orjson.loads(lines[row])) if suspect else None
        if reason is None and (blank_id or blank_type):
            key, column = ("id", "id") if blank_id else ("type", "type_raw")
            reason = f"{key} must be a non-empty string, got {raw[column][row]!r}"
        if reason is not None:
            out[row] = reason
    return out


def _drop_invalid(
    raw: pl.DataFrame,
    locate: Locator,
    problem: Callable[[InputError], None],
    odd: dict[int, str] | None = None,
) -> pl.DataFrame:
    """Raise (or skip) events without id/type/created_at, with an id or type that is
    not a non-empty string (``odd``), or with a timestamp that does not parse or is
    out of range."""
    odd = odd or {}
    indexed = raw.with_row_index("_row")
    problems = indexed.filter(
        pl.col("id").is_null()
        | pl.col("type_raw").is_null()
        | pl.col("created_at").is_null()
        | pl.col("_row").is_in(list(odd))
    )
    if problems.height == 0:
        return raw
    for row in problems.select(
        "_row", "id", "type_raw", "_created_at_text", pl.col("created_at").is_null()
    ).iter_rows(named=True):
        missing = [k for k, c in (("id", "id"), ("type", "type_raw")) if row[c] is None]
        if row["_created_at_text"] is None:
            missing.append("created_at")
        if row["_row"] in odd:
            reason = odd[row["_row"]]
        elif missing:
            reason = f"event without {', '.join(missing)}"
        else:
            text = row["_created_at_text"]
            reason = f"created_at {text!r} {timestamp_problem(text)}"
        if row["id"] is not None and not reason.startswith("id "):
            reason += f" (id {row['id']!r})"
        source, line_no, item = locate(row["_row"])
        problem(InvalidEventError(reason, source=source, line=line_no, item=item))
    return indexed.filter(~pl.col("_row").is_in(problems["_row"].implode())).drop(
        "_row"
    )


class Builder:
    """Accumulates normalised chunks and builds the ``ActivityLog`` at the end.

    Chunks are processed by a small thread pool (Polars releases the GIL) with at most
    ``workers + 1`` chunks in flight, and merged in submission order, so results and
    error reports are deterministic.
    """

    def __init__(
        self, on_error: OnError = "raise", *, workers: int | None = None
    ) -> None:
        self.collector = _Collector(on_error)
        self._raw: list[pl.DataFrame] = []
        self._workers = workers or min(4, max(1, os.cpu_count() or 1))
        self._pool = ThreadPoolExecutor(
            self._workers, thread_name_prefix="activity-load"
        )
        self._pending: deque[Future[_ChunkResult]] = deque()

    # -- feeding ---------------------------------------------------------------------
    def add_dicts(
        self, records: Iterable[Any], *, source: str, batch: int = 20_000
    ) -> None:
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
            line = dump_event(record, source=source, item=i, collector=self.collector)
            if line is None:
                continue
            lines.append(line)
            locs.append((source, None, i))
            if len(lines) >= batch:
                self.add_ndjson(b"\n".join(lines), locs.__getitem__)
                lines, locs = [], []
        if lines:
            self.add_ndjson(b"\n".join(lines), locs.__getitem__)

    def add_ndjson(self, data: bytes, locate: Locator) -> None:
        """Feed complete NDJSON lines (one event envelope each)."""
        self._pending.append(
            self._pool.submit(_process_chunk, data, locate, self.collector.on_error)
        )
        while len(self._pending) > self._workers:
            self._merge(self._pending.popleft())

    def close(self) -> None:
        """Stop the worker threads (``build`` does it too); safe to call twice."""
        for f in self._pending:
            f.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Builder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_raw(self, raw: pl.DataFrame) -> None:
        """Feed envelopes that are already validated (``id, type_raw, created_at,
        group_id, channel, payload``), e.g. from the DuckDB fast path."""
        result = _ChunkResult(records=raw.height, raw=raw)
        _count_unknown(raw, result.unknown)
        done: Future[_ChunkResult] = Future()
        done.set_result(result)
        self._pending.append(done)

    def _merge(self, future: Future[_ChunkResult]) -> None:
        try:
            result = future.result()
        except BaseException:
            for f in self._pending:
                f.cancel()
            self._pending.clear()
            self._pool.shutdown(wait=True, cancel_futures=True)
            raise
        self.collector.records += result.records
        for error in result.skipped:
            self.collector.problem(error)
        self.collector.unknown.update(result.unknown)
        if result.raw is not None:
            self._raw.append(result.raw)

    # -- result ------------------------------------------------------------------------
    def _take_raw(self) -> pl.DataFrame:
        """All envelopes, first occurrence of each id, sorted; the builder lets go of
        them so that ``normalize`` can free them early."""
        raw = pl.concat(self._raw, how="vertical", rechunk=False)
        self._raw = []
        if raw["id"].hash().n_unique() < raw.height:  # cheap test; most logs pass it
            raw = raw.unique("id", keep="first", maintain_order=True)
        return raw.sort("created_at", "id")

    def build(self) -> ActivityLog:
        """Deduplicate by id (first seen wins), sort, decode each type's payloads once,
        and attach the load report."""
        while self._pending:
            self._merge(self._pending.popleft())
        try:
            if not self._raw:
                return ActivityLog(
                    ActivityLog.empty().events,
                    {},
                    report=self.collector.finish(duplicates=0),
                )
            total = sum(r.height for r in self._raw)
            events, frames = normalize(self._take_raw(), map_=self._pool.map)
        finally:
            self._pool.shutdown(wait=True)
        report = self.collector.finish(duplicates=total - events.height)
        return ActivityLog(events, frames, report=report)


def dump_event(
    record: Any, *, source: str, item: int, collector: _Collector
) -> bytes | None:
    """One parsed event as a JSON line. orjson first; the standard library for what it
    refuses but JSON allows (integers beyond 64 bits); anything that is not JSON at
    all is a bad record (raised, or skipped and counted)."""
    try:
        return orjson.dumps(record)
    except TypeError:
        pass
    try:
        return json.dumps(
            record, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode()
    except (TypeError, ValueError) as exc:
        add_problem(
            collector,
            InvalidEventError(
                f"not JSON-serialisable: {exc}", source=source, item=item
            ),
        )
        return None


def add_problem(collector: _Collector, error: InputError) -> None:
    """Count one bad record and raise or record it."""
    collector.records += 1
    collector.problem(error)
