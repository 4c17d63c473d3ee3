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
    POLARS_ERRORS,
    REGISTRY,
    blank_text,
    in_time_range,
    normalize,
    parse_timestamps,
    timestamp_problem,
)
from activity_toolkit.exceptions import (
    InputError,
    InvalidEventError,
    InvalidJSONError,
    InvalidPageError,
)
from activity_toolkit.io._duckdb import (
    connect,
    envelopes,
    non_finite,
    page_envelopes,
    page_items,
    split_arrays,
)
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


#: A location: (source, line, item), as :class:`~activity_toolkit.exceptions.InputError` takes.
Location = tuple[str, int | None, int | None]


@dataclass(frozen=True)
class Docs:
    """Whole JSON texts (files, or NDJSON lines of pages) to read as ``kind``: each
    is an event, a page, or a JSON array of those (``labels[i]`` locates text i)."""

    texts: list[bytes]
    labels: list[Location]
    kind: str  # "events" or "pages"


def _process_chunk(
    job: bytes | Docs, locate: Locator | None, on_error: OnError
) -> _ChunkResult:
    """Parse and validate one chunk: NDJSON event lines (``job`` bytes, located by
    ``locate``) or whole documents (:class:`Docs`).

    Runs in a worker thread (DuckDB and Polars release the GIL) with a DuckDB
    connection of its own, so it touches no shared state: problems are raised
    (``on_error="raise"``) or returned in the result.
    """
    out = _ChunkResult()

    def problem(error: InputError) -> None:
        out.records += 1
        if on_error == "raise":
            raise error
        out.skipped.append(error)

    with connect(threads=1) as con:
        if isinstance(job, Docs):
            texts, locs = _doc_items(con, job, problem)
            if job.kind == "pages":
                raw = _page_events(con, texts, locs, problem)
            else:
                raw = _event_envelopes(con, texts, locs.__getitem__, problem)
        else:
            raw = _event_envelopes(con, _lines(job), locate, problem)  # type: ignore[arg-type]
    out.records += raw.height
    if raw.height:
        _count_unknown(raw, out.unknown)
        out.raw = raw
    return out


def _event_envelopes(
    con: Any, texts: pl.Series, locate: Locator, problem: Callable[[InputError], None]
) -> pl.DataFrame:
    """The valid envelopes of event texts; the others are reported."""
    if texts.len() == 0:
        return pl.DataFrame(schema=_RAW_SCHEMA)
    env = envelopes(con, texts, flat=looks_flat(texts))
    return _validate(env, texts, locate, problem)


def looks_flat(texts: pl.Series) -> bool:
    """Whether the chunk's first event is webhook-style (no object under ``data.data``),
    to pick the query that reads that shape in one parse."""
    try:
        first = orjson.loads(texts[0])
    except orjson.JSONDecodeError:
        return False
    data = first.get("data") if isinstance(first, dict) else None
    return isinstance(data, dict) and not isinstance(data.get("data"), dict)


def _doc_items(
    con: Any, docs: Docs, problem: Callable[[InputError], None]
) -> tuple[pl.Series, list[Location]]:
    """The items of whole documents, in order: a document that is an object is its
    own item, a JSON array gives its elements; with their locations. A document that
    is not JSON is reported."""
    texts = texts_of(docs.texts)
    arrays = (texts.str.strip_chars_start().str.slice(0, 1) == "[").fill_null(False)
    parts = [
        pl.DataFrame({"text": texts, "_doc": pl.int_range(texts.len(), eager=True)})
        .filter(~arrays)
        .with_columns(pl.lit(None, pl.Int64).alias("_item"))
    ]
    if arrays.any():
        index = arrays.arg_true().cast(pl.Int64)
        split = split_arrays(con, texts.gather(index)).with_columns(
            pl.col("_doc").replace_strict(
                pl.int_range(index.len(), eager=True), index, return_dtype=pl.Int64
            )
        )
        for d in split.filter(pl.col("text").is_null())["_doc"]:
            source, line, _ = docs.labels[d]
            problem(_json_problem(docs.texts[d], source, line, None))
        parts.append(split.filter(pl.col("text").is_not_null()))
    items = pl.concat(
        [
            p.select(
                "text", pl.col("_doc").cast(pl.Int64), pl.col("_item").cast(pl.Int64)
            )
            for p in parts
        ]
    ).sort("_doc", "_item", nulls_last=False)
    locs = [
        docs.labels[d] if i is None else _element(docs.labels[d], i, docs.kind)
        for d, i in zip(items["_doc"], items["_item"], strict=True)
    ]
    return items["text"], locs


def _page_events(
    con: Any,
    pages: pl.Series,
    locs: list[Location],
    problem: Callable[[InputError], None],
) -> pl.DataFrame:
    """The valid envelopes of API list pages, in order. Each page's events are read
    in the same parse as the page; a page that is not a list page, or holds a record
    that is not a valid event, is read again event by event, which locates every bad
    record."""
    env = page_envelopes(con, pages)
    if env.height == 0:
        return pl.DataFrame(schema=_RAW_SCHEMA)
    env, bad = flag_invalid(env)
    env = env.with_columns(
        (pl.col("_row") // _PAGE_SPAN).alias("_page"),
        (pl.col("_row") % _PAGE_SPAN).alias("_item"),
    )
    slow = pl.concat(
        [
            bad["_row"] // _PAGE_SPAN,
            env.filter(pl.col("_unwrapped") | (pl.col("_item") == _PAGE_SPAN - 1))[
                "_page"
            ],
        ]
    ).unique()
    fast = env.filter(~pl.col("_page").is_in(slow.implode())).select(
        "_page", "_item", *_RAW_COLUMNS
    )
    if slow.len() == 0:
        return fast.drop("_page", "_item")
    slow = slow.sort()
    items = page_items(con, pages.gather(slow))
    for d in items.filter(pl.col("_item").is_null())["_doc"]:
        problem(_page_problem(pages[slow[d]], locs[slow[d]]))
    items = items.filter(pl.col("_item").is_not_null()).with_columns(
        pl.col("_doc")
        .replace_strict(
            pl.int_range(slow.len(), eager=True), slow, return_dtype=pl.Int64
        )
        .alias("_page")
    )
    item_locs = [
        (locs[p][0], locs[p][1], i)
        for p, i in zip(items["_page"], items["_item"], strict=True)
    ]
    texts = items["text"]
    if texts.len():
        checked = envelopes(con, texts, flat=looks_flat(texts))
        kept = _validate(checked, texts, item_locs.__getitem__, problem, keep_row=True)
        keys = items.select("_page", "_item").with_row_index("_row")
        kept = keys.join(kept, on="_row").drop("_row")
        fast = pl.concat([fast, kept.select(fast.columns)])
    return fast.sort("_page", "_item").drop("_page", "_item")


#: Pages' events are numbered ``page * _PAGE_SPAN + item``; the last number of a
#: page marks a page that is not a list page.
_PAGE_SPAN = 1 << 32


def _element(label: Location, index: int, kind: str) -> Location:
    """Where element ``index`` of a JSON array document is: ``item`` for an event,
    ``page p`` for a page (whose events then have the item)."""
    source, line, _ = label
    if kind == "pages":
        return f"{source} page {index}", line, None
    return source, line, index


def _json_problem(
    text: bytes | str, source: str, line: int | None, item: int | None
) -> InputError:
    """Why a document DuckDB refused is not JSON, in orjson's words (with the line
    it went wrong on, for a whole file)."""
    try:
        orjson.loads(text.rstrip())
    except orjson.JSONDecodeError as exc:
        reason = _not_json(text, f"{exc.msg} at column {exc.colno}")
        return InvalidJSONError(
            reason, source=source, line=exc.lineno if line is None else line, item=item
        )
    obj = orjson.loads(text)
    if isinstance(obj, dict):  # pragma: no cover - DuckDB and orjson agree
        return InvalidJSONError("invalid JSON", source=source, line=line, item=item)
    return InvalidEventError(
        f"expected an event object, got JSON {_json_kind(obj)}",
        source=source,
        line=line,
        item=item,
    )


def _page_problem(text: str, loc: Location) -> InputError:
    """Why a page text is not an API list page."""
    source, line, _ = loc
    try:
        page = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return InvalidJSONError(_not_json(text, exc), source=source, line=line)
    what = f"keys {sorted(page)}" if isinstance(page, dict) else _json_kind(page)
    return InvalidPageError(
        f"not an API list page: expected an object with a 'data' list, got {what}",
        source=source,
        line=line,
    )


_NAN = "invalid JSON: NaN and Infinity are not JSON numbers"


def _not_json(text: str | bytes, detail: object) -> str:
    """Why orjson refused ``text``: NaN or Infinity as a value, else its ``detail``."""
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return _NAN if non_finite(pl.Series([raw]))[0] else f"invalid JSON: {detail}"


def _lines(data: bytes) -> pl.Series:
    """The non-blank lines of an NDJSON chunk as a String column.

    Split by Polars' CSV reader with the unit separator (0x1F) as delimiter and no
    quoting: valid JSON never holds a raw control character, so each line is one field.
    """
    try:
        frame = pl.read_csv(
            io.BytesIO(data),
            has_header=False,
            separator="\x1f",
            quote_char=None,
            schema={"line": pl.String},
        )
    except POLARS_ERRORS:  # some line is not UTF-8: it becomes null (a bad record)
        return texts_of([ln for ln in data.split(b"\n") if ln.strip()])
    line = frame["line"]
    return line.filter(line.str.strip_chars().str.len_bytes() > 0)


def texts_of(values: list[bytes]) -> pl.Series:
    """UTF-8 texts as a String column; a text that is not UTF-8 becomes null."""
    return pl.Series("text", values, dtype=pl.Binary).cast(pl.String, strict=False)


def _count_unknown(raw: pl.DataFrame, counter: Counter[str]) -> None:
    """Count the events of type strings the registry does not know (for the warning)."""
    for t, n in raw.group_by("type_raw").len().iter_rows():
        if ALIASES.get(t, t) not in REGISTRY:
            counter[t] += n


def _json_kind(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, int | float) else "null"
    )


def _text_kind(text: str) -> str:
    """The JSON kind of a (valid, compact) JSON text, from its first character."""
    c = text[:1]
    if c == "{":
        return "object"
    if c == "[":
        return "array"
    if c == '"':
        return "string"
    if c in ("t", "f"):
        return "boolean"
    return "null" if c == "n" else "number"


def _validate(
    env: pl.DataFrame,
    texts: pl.Series,
    locate: Locator,
    problem: Callable[[InputError], None],
    *,
    keep_row: bool = False,
) -> pl.DataFrame:
    """Raise (or skip) the records that are not valid events, in their order, and
    return the envelopes of the others (``id, type_raw, created_at, group_id,
    channel, payload``)."""
    env, bad = flag_invalid(env)
    columns = ["_row", *_RAW_COLUMNS] if keep_row else _RAW_COLUMNS
    if bad.height == 0:
        return env.select(columns)
    shown = ["_row", "_unparsed", "_nan", "_data_not_object", "_id_json"]
    shown += ["_type_json", "id", "type_raw", "_created_at_text"]
    for row in bad.select(shown).iter_rows(named=True):
        source, line, item = locate(row["_row"])
        text = texts[row["_row"]]
        if row["_unparsed"] and text is not None and line is None and item is None:
            problem(_json_problem(text, source, None, None))  # a whole document
            continue
        cls, reason = _event_problem(row, text)
        problem(cls(reason, source=source, line=line, item=item))
    return env.filter(~pl.col("_row").is_in(bad["_row"].implode())).select(columns)


def flag_invalid(env: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``env`` with ``created_at`` parsed (and ``_nan`` found), and its rows that are
    not valid events."""
    created_at = env["_created_at"].dt.cast_time_unit("ms").dt.replace_time_zone("UTC")
    created_at = pl.select(in_time_range(pl.lit(created_at))).to_series()  # year 0
    if created_at.null_count() > env["_created_at_text"].null_count():
        created_at = created_at.fill_null(parse_timestamps(env["_created_at_text"]))
    env = env.with_columns(created_at.alias("created_at"), _nan_rows(env).alias("_nan"))
    bad = env.filter(
        pl.col("_unparsed")
        | pl.col("_nan")
        | pl.col("_data_not_object")
        | pl.col("_id_json").is_not_null()
        | pl.col("_type_json").is_not_null()
        | pl.col("id").is_null()
        | pl.col("type_raw").is_null()
        | pl.col("created_at").is_null()
        | blank_text("id")
        | blank_text("type_raw")
    )
    return env, bad


_RAW_COLUMNS = ["id", "type_raw", "created_at", "group_id", "channel", "payload"]
_RAW_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "type_raw": pl.String(),
    "created_at": pl.Datetime("ms", "UTC"),
    "group_id": pl.String(),
    "channel": pl.String(),
    "payload": pl.String(),
}


def _nan_rows(env: pl.DataFrame) -> pl.Series:
    """Rows with NaN/Infinity in a value the log keeps: ``group_id``, ``channel``
    (flagged by the query) or the payload (whose strings are told apart here)."""
    suspect = env["_maybe_nan"] & ~env["_unparsed"]
    in_payload = pl.Series([False] * env.height)
    if suspect.any():
        in_payload = suspect & non_finite(env["payload"])
    return env["_nan_field"] | in_payload


def _event_problem(
    row: dict[str, Any], text: str | None
) -> tuple[type[InputError], str]:
    """The error class and reason for one record that is not a valid event."""
    if text is None:
        return InvalidJSONError, "invalid JSON: not UTF-8 text"
    if row["_unparsed"]:
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return InvalidJSONError, _not_json(text, exc)
        if isinstance(obj, dict):  # pragma: no cover - DuckDB and orjson agree
            return InvalidJSONError, "invalid JSON"
        return (
            InvalidEventError,
            f"expected an event object, got JSON {_json_kind(obj)}",
        )
    if row["_nan"]:
        return InvalidJSONError, _NAN
    reason = _envelope_problem(row, text)
    if row["id"] is not None and not reason.startswith("id "):
        reason += f" (id {row['id']!r})"
    return InvalidEventError, reason


def _envelope_problem(row: dict[str, Any], text: str) -> str:
    if row["_data_not_object"]:
        return f"data must be a JSON object, got {_data_kind(text)}"
    for key in ("id", "type"):
        value = row[f"_{key}_json"]
        if value is not None:
            shown = value if len(value) <= 40 else value[:39] + "…"
            kind = _text_kind(value)
            return f"{key} must be a non-empty string, got JSON {kind} {shown}"
    for key, column in (("id", "id"), ("type", "type_raw")):
        value = row[column]
        if value is not None and not value.strip():
            return f"{key} must be a non-empty string, got {value!r}"
    missing = [k for k, c in (("id", "id"), ("type", "type_raw")) if row[c] is None]
    if row["_created_at_text"] is None:
        missing.append("created_at")
    if missing:
        return f"event without {', '.join(missing)}"
    text_ts = row["_created_at_text"]
    return f"created_at {text_ts!r} {timestamp_problem(text_ts)}"


def _data_kind(text: str) -> str:
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:  # pragma: no cover - accepted by DuckDB only
        return "value"
    return _json_kind(obj.get("data") if isinstance(obj, dict) else None)


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
        #: Bytes of text fed since the last flush.
        self.fed = 0
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
        self._submit(data, locate)

    def add_docs(self, docs: Docs) -> None:
        """Feed whole JSON documents (events, pages, or arrays of them)."""
        self._submit(docs, None)

    def _submit(self, job: bytes | Docs, locate: Locator | None) -> None:
        self.fed += len(job) if isinstance(job, bytes) else sum(map(len, job.texts))
        self._pending.append(
            self._pool.submit(_process_chunk, job, locate, self.collector.on_error)
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

    def add_raw(self, env: pl.DataFrame) -> None:
        """Feed envelopes a whole-file read found valid (see :func:`flag_invalid`)."""
        raw = env.select(_RAW_COLUMNS)
        result = _ChunkResult(records=raw.height, raw=raw)
        _count_unknown(raw, result.unknown)
        done: Future[_ChunkResult] = Future()
        done.set_result(result)
        self._pending.append(done)
        self.fed += int(raw["payload"].str.len_bytes().sum() or 0)

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
        try:
            return self.flush()
        finally:
            self._pool.shutdown(wait=True)

    def flush(self) -> ActivityLog:
        """The log of everything fed since the last flush (as :meth:`build`), after
        which the builder starts afresh: a source larger than memory is read part by
        part (:func:`~activity_toolkit.io.read_parts`)."""
        while self._pending:
            self._merge(self._pending.popleft())
        collector, self.collector = self.collector, _Collector(self.collector.on_error)
        self.fed = 0
        if not self._raw:
            return ActivityLog(
                ActivityLog.empty().events,
                {},
                report=collector.finish(duplicates=0),
            )
        total = sum(r.height for r in self._raw)
        events, frames = normalize(self._take_raw(), map_=self._pool.map)
        report = collector.finish(duplicates=total - events.height)
        return ActivityLog(events, frames, report=report)


def dump_event(
    record: Any, *, source: str, item: int | None, collector: _Collector
) -> bytes | None:
    """One parsed event (or page) as a JSON text. orjson first; the standard library
    for what it refuses but JSON allows (integers beyond 64 bits); anything that is
    not JSON at all (a set, a NaN or infinite float) is a bad record (raised, or
    skipped and counted)."""
    if _non_finite_float(record):
        add_problem(
            collector,
            InvalidJSONError(_NAN, source=source, item=item),
        )
        return None
    try:
        return orjson.dumps(record)
    except TypeError:
        pass
    try:
        return json.dumps(
            record, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        add_problem(
            collector,
            InvalidEventError(
                f"not JSON-serialisable: {exc}", source=source, item=item
            ),
        )
        return None


def _non_finite_float(obj: Any) -> bool:
    """Whether a NaN or infinite float is anywhere in ``obj`` (orjson would write it
    as ``null``; JSON has no such number)."""
    stack = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, float):
            if value != value or value in (_INF, -_INF):
                return True
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
    return False


_INF = float("inf")


def add_problem(collector: _Collector, error: InputError) -> None:
    """Count one bad record and raise or record it."""
    collector.records += 1
    collector.problem(error)
