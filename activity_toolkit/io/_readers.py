"""``read_events`` (webhook-style event files) and ``read_pages`` (saved API pages)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from activity_toolkit.exceptions import (
    InvalidEventError,
    InvalidJSONError,
    InvalidPageError,
)
from activity_toolkit.io._builder import (
    DEFAULT_CHUNK_BYTES,
    Builder,
    add_problem,
    dump_event,
    iter_line_chunks,
    ndjson_locator,
)
from activity_toolkit.io._duckdb import read_envelopes
from activity_toolkit.io._report import OnError
from activity_toolkit.io._sources import (
    PathLike,
    expand_paths,
    first_significant_byte,
    is_path_source,
    open_bytes,
)
from activity_toolkit.model import ActivityLog

__all__ = [
    "EventSource",
    "PageSource",
    "read_events",
    "read_ndjson_chunks",
    "read_pages",
]

EventSource = PathLike | Iterable[PathLike] | Iterable[Mapping[str, Any]] | bytes
PageSource = (
    PathLike | Iterable[PathLike] | Mapping[str, Any] | Iterable[Mapping[str, Any]]
)


def _is_dict_iterable(source: object) -> bool:
    return not isinstance(source, str | bytes | Path | Mapping)


def read_events(
    source: EventSource,
    *,
    on_error: OnError = "raise",
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> ActivityLog:
    """Read standalone event objects (webhook style) into an :class:`ActivityLog`.

    Parameters
    ----------
    source
        An NDJSON file, a JSON array file, either gzipped; a directory or glob of such
        files; a list of paths; NDJSON ``bytes``; or an iterable of event dicts. Both
        payload shapes are accepted: nested ``{"data": {"data": …, "event_source": …}}``
        (list endpoints) and flat ``{"data": {…}}`` (webhooks).
    on_error
        ``"raise"`` (default) stops at the first bad record with an
        :class:`~activity_toolkit.exceptions.InputError` naming the file and line.
        ``"skip"`` keeps every good record, leaves the bad ones out, warns with
        :class:`~activity_toolkit.exceptions.SkippedRecordsWarning` and lists them
        in ``log.report.skipped``.
    chunk_bytes
        Size of the chunks the Polars reader takes NDJSON in (bytes, and files the
        DuckDB fast path hands back).

    Returns
    -------
    ActivityLog
        Deduplicated by ``id`` (the first occurrence wins), sorted by
        (``created_at``, ``id``). Files are read with DuckDB first; bytes, dicts and
        files DuckDB refuses take the chunked Polars path, where a payload integer
        beyond 64 bits comes back as a float in ``payload`` (files keep its digits).
        In typed columns such an integer is null (integer columns) or the text of
        the float (string columns), whatever the path.

    Raises
    ------
    InvalidJSONError
        A line or file that is not JSON.
    InvalidEventError
        An invalid event: without ``id``/``type``/``created_at``; an ``id`` or
        ``type`` that is not a JSON string with a non-whitespace character
        (``12345``, ``[1, 2]`` and ``""`` are refused, never turned into text); or a
        ``created_at`` that is not an ISO 8601 timestamp between
        ``0001-01-01T00:00:00.000Z`` and ``9999-12-31T23:59:59.999Z`` (UTC, four-digit
        year; ``+10000-…``, ``0000-…`` and ``-0001-…`` are invalid). The same rule
        holds on every path (DuckDB, chunked, bytes, dicts, pages).

    Examples
    --------
    >>> from activity_toolkit import read_events
    >>> log = read_events([{
    ...     "id": "evcus_1", "type": "customer.order.paid",
    ...     "created_at": "2024-05-01T10:00:00.000Z",
    ...     "data": {"customer": {"id": "cust_1"}, "order": {"id": "ord_1", "amount": 1250}},
    ... }])
    >>> log["customer.order.paid"].select("customer_id", "order_id", "order_amount").row(0)
    ('cust_1', 'ord_1', 1250)
    """
    with Builder(on_error) as builder:
        if isinstance(source, bytes):
            builder.collector.sources.append("<bytes>")
            for chunk, first in iter_line_chunks(_BytesReader(source), chunk_bytes):
                builder.add_ndjson(chunk, ndjson_locator(chunk, "<bytes>", first))
        elif is_path_source(source) or (
            _is_dict_iterable(source) and _looks_like_paths(source)
        ):
            for path in expand_paths(source):  # type: ignore[arg-type]
                _read_event_file(builder, path, chunk_bytes)
        else:
            builder.collector.sources.append("<events>")
            builder.add_dicts(source, source="<events>")  # type: ignore[arg-type]
        return builder.build()


def read_ndjson_chunks(
    chunks: Iterable[bytes], *, source: str = "<ndjson>", on_error: OnError = "raise"
) -> ActivityLog:
    """Read NDJSON events handed over in chunks of whole lines, as
    :func:`read_events` reads NDJSON ``bytes``, without joining the chunks first
    (a generator of any size streams through).

    ``source`` names the stream in error messages, with the line number counted
    across chunks. Each chunk must end at a line end (the last one may not).

    Examples
    --------
    >>> chunks = [
    ...     b'{"id": "e1", "type": "customer.created", "created_at": "2024-05-01T10:00:00Z"}\\n',
    ...     b'{"id": "e2", "type": "customer.created", "created_at": "2024-05-02T10:00:00Z"}\\n',
    ... ]
    >>> read_ndjson_chunks(chunks, source="<demo>").events["id"].to_list()
    ['e1', 'e2']
    """
    with Builder(on_error) as builder:
        builder.collector.sources.append(source)
        line = 1
        for chunk in chunks:
            builder.add_ndjson(chunk, ndjson_locator(chunk, source, line))
            line += chunk.count(b"\n")
        return builder.build()


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def read(self, n: int) -> bytes:
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out


def _looks_like_paths(source: Any) -> bool:
    if isinstance(source, list | tuple):
        return bool(source) and all(isinstance(s, str | Path) for s in source)
    return False


#: Event files go through DuckDB first (see ``_duckdb.py``); tests switch it off to
#: exercise the chunked Polars path on files too.
use_fast_path = True


def _read_event_file(builder: Builder, path: Path, chunk_bytes: int) -> None:
    label = str(path)
    builder.collector.sources.append(label)
    with open_bytes(path) as stream:
        array = first_significant_byte(stream) == b"["
    if use_fast_path:
        raw = read_envelopes(path, array=array)
        if raw is not None:
            builder.add_raw(raw)
            return
    with open_bytes(path) as stream:
        if array:
            try:
                records = orjson.loads(stream.read())
            except orjson.JSONDecodeError as exc:
                add_problem(
                    builder.collector,
                    InvalidJSONError(f"invalid JSON array: {exc}", source=label),
                )
                return
            builder.add_dicts(records, source=label)
            return
        for chunk, first in iter_line_chunks(stream, chunk_bytes):
            builder.add_ndjson(chunk, ndjson_locator(chunk, label, first))


def read_pages(source: PageSource, *, on_error: OnError = "raise") -> ActivityLog:
    """Read saved responses of the customer-activity list endpoints.

    Both generations are understood: the deprecated
    ``GET /v1/customers/{id}/activities`` (``total``, date cursor) and the current
    ``GET /v1/customers/{id}/activity`` (``has_more``, ``more_starting_after``).
    Events that appear on more than one page (overlapping date-cursor pages) are
    kept once.

    Parameters
    ----------
    source
        A page file (one JSON page, a JSON array of pages, or NDJSON with one page per
        line, optionally gzipped), a directory or glob of them, a list of paths, or
        already-parsed page dicts.
    on_error
        ``"raise"`` or ``"skip"``, as in :func:`read_events`.

    Raises
    ------
    InvalidPageError
        A page that is not a JSON object with a ``data`` list.
    InvalidJSONError, InvalidEventError
        As in :func:`read_events` (the same rule for ``id``, ``type`` and
        ``created_at``); the location names the page and ``data[i]``.

    Examples
    --------
    >>> from activity_toolkit import read_pages
    >>> page = {"object": "list", "data_ref": "data", "has_more": False, "data": [{
    ...     "id": "evcus_1", "type": "customer.segment_entered",
    ...     "created_at": "2024-05-01T10:00:00Z", "group_id": "v-1",
    ...     "data": {"data": {"customer": {"id": "cust_1"},
    ...                       "segment": {"id": "seg_1", "name": "VIP"}},
    ...              "event_source": {"channel": "API"}}}]}
    >>> log = read_pages([page])
    >>> log.events.select("type", "type_raw", "channel").row(0)
    ('customer.segment.entered', 'customer.segment_entered', 'API')
    """
    with Builder(on_error) as builder:
        batcher = _PageBatcher(builder)
        if isinstance(source, Mapping):
            builder.collector.sources.append("<page>")
            batcher.add([source], "<page>")
        elif is_path_source(source) or _looks_like_paths(source):
            for path in expand_paths(source):  # type: ignore[arg-type]
                label = str(path)
                builder.collector.sources.append(label)
                with open_bytes(path) as stream:
                    raw = stream.read()
                batcher.add(_parse_pages(builder, raw, label), label)
        else:
            builder.collector.sources.append("<pages>")
            batcher.add(list(source), "<pages>")  # type: ignore[arg-type]
        batcher.flush()
        return builder.build()


def _parse_pages(builder: Builder, raw: bytes, label: str) -> list[Any]:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        lines = [ln for ln in raw.split(b"\n") if ln.strip()]
        if len(lines) < 2:
            add_problem(
                builder.collector,
                InvalidJSONError(f"invalid JSON: {exc}", source=label),
            )
            return []
        pages: list[Any] = []
        for n, line in enumerate(raw.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                pages.append(orjson.loads(line))
            except orjson.JSONDecodeError as line_exc:
                add_problem(
                    builder.collector,
                    InvalidJSONError(f"invalid JSON: {line_exc}", source=label, line=n),
                )
        return pages
    return obj if isinstance(obj, list) else [obj]


class _PageBatcher:
    """Collects the events of many small pages into chunks of bounded size."""

    def __init__(
        self, builder: Builder, chunk_bytes: int = DEFAULT_CHUNK_BYTES
    ) -> None:
        self.builder = builder
        self.chunk_bytes = chunk_bytes
        self.lines: list[bytes] = []
        self.locs: list[tuple[str, int | None, int | None]] = []
        self.size = 0

    def add(self, pages: list[Any], label: str) -> None:
        collector = self.builder.collector
        for p, page in enumerate(pages):
            page_label = label if len(pages) == 1 else f"{label} page {p}"
            data = page.get("data") if isinstance(page, Mapping) else None
            if not isinstance(data, list):
                what = (
                    f"keys {sorted(page)}"
                    if isinstance(page, Mapping)
                    else type(page).__name__
                )
                add_problem(
                    collector,
                    InvalidPageError(
                        "not an API list page: expected an object with a 'data' list, "
                        f"got {what}",
                        source=page_label,
                    ),
                )
                continue
            for i, event in enumerate(data):
                if not isinstance(event, Mapping):
                    add_problem(
                        collector,
                        InvalidEventError(
                            f"expected an event object, got {type(event).__name__}",
                            source=page_label,
                            item=i,
                        ),
                    )
                    continue
                line = dump_event(event, source=page_label, item=i, collector=collector)
                if line is None:
                    continue
                self.lines.append(line)
                self.locs.append((page_label, None, i))
                self.size += len(line)
            if self.size >= self.chunk_bytes:
                self.flush()

    def flush(self) -> None:
        if self.lines:
            locs = self.locs
            self.builder.add_ndjson(b"\n".join(self.lines), locs.__getitem__)
        self.lines, self.locs, self.size = [], [], 0
