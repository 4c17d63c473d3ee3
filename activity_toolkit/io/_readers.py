"""``read_events`` (webhook-style event files) and ``read_pages`` (saved API pages)."""

from __future__ import annotations

import functools
import io
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from activity_toolkit.exceptions import InputError, UnreadableFileError
from activity_toolkit.io._builder import (
    DEFAULT_CHUNK_BYTES,
    Builder,
    Docs,
    add_problem,
    dump_event,
    flag_invalid,
    iter_line_chunks,
    looks_flat,
    ndjson_locator,
    texts_of,
)
from activity_toolkit.io._duckdb import Shape, connect, read_file
from activity_toolkit.io._report import OnError
from activity_toolkit.io._sources import (
    PathLike,
    expand_paths,
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
    "read_parts",
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
        for _ in _feed_events(builder, source, chunk_bytes):
            pass
        return builder.build()


def _feed_events(
    builder: Builder, source: EventSource, chunk_bytes: int
) -> Iterator[None]:
    """Feed ``source`` to ``builder``, yielding after each chunk (see
    :func:`read_parts`)."""
    if isinstance(source, bytes):
        builder.collector.sources.append("<bytes>")
        batch = _DocBatcher(builder, "events", chunk_bytes)
        yield from _feed_text(
            builder, batch, "<bytes>", lambda: io.BytesIO(source), chunk_bytes
        )
        batch.flush()
    elif is_path_source(source) or (
        _is_dict_iterable(source) and _looks_like_paths(source)
    ):
        paths = expand_paths(source)  # type: ignore[arg-type]
        yield from _feed_files(builder, paths, "events", chunk_bytes, whole=True)
    else:
        builder.collector.sources.append("<events>")
        builder.add_dicts(source, source="<events>")  # type: ignore[arg-type]
    yield


def _feed_files(
    builder: Builder,
    paths: list[Path],
    kind: str,
    chunk_bytes: int,
    *,
    whole: bool = False,
) -> Iterator[None]:
    """Feed files; event files whole through DuckDB's file reader if ``whole``."""
    batch = _DocBatcher(builder, kind, chunk_bytes)
    for path in paths:
        builder.collector.sources.append(str(path))
        yield from _feed_text(
            builder,
            batch,
            str(path),
            functools.partial(open_bytes, path),
            chunk_bytes,
            path if whole else None,
        )
    batch.flush()
    yield


def read_parts(
    source: PathLike | Iterable[PathLike],
    *,
    kind: Literal["events", "pages"] = "events",
    on_error: OnError = "raise",
    part_bytes: int = 256 * 1024 * 1024,
) -> Iterator[ActivityLog]:
    """Read files of events (or pages) as a sequence of logs, one per about
    ``part_bytes`` of JSON read, so that sources larger than memory stream through
    (``activity-toolkit load --store`` writes each part to the store as it comes).

    Each part is deduplicated and sorted on its own and carries its own
    ``report``; an event repeated in a later part is in both (the store keeps the
    first). Peak memory follows ``part_bytes``, not the size of the input.

    Examples
    --------
    >>> import tempfile, pathlib, orjson
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "events.ndjson"
    >>> _ = path.write_bytes(b"".join(orjson.dumps({
    ...     "id": f"e{i}", "type": "customer.created",
    ...     "created_at": "2024-05-01T10:00:00Z", "data": {"customer": {"id": "c"}},
    ... }) + b"\\n" for i in range(1000)))
    >>> parts = list(read_parts(path, part_bytes=20_000))
    >>> len(parts) > 1, sum(len(p) for p in parts)
    (True, 1000)
    """
    chunk_bytes = max(1, min(DEFAULT_CHUNK_BYTES, part_bytes // 4))
    with Builder(on_error) as builder:
        for _ in _feed_files(builder, expand_paths(source), kind, chunk_bytes):
            if builder.fed >= part_bytes:
                yield builder.flush()
        last = builder.build()
        if len(last) or (last.report is not None and last.report.records):
            yield last


def _file_shape(path: Path) -> Shape:
    """Which event shapes the first lines (up to 1 MiB) of an NDJSON file hold:
    list-endpoint (``"nested"``), webhook-style (``"flat"``) or both (``"mixed"``),
    so that the query that reads them in one pass is tried first."""
    try:
        with open_bytes(path) as stream:
            head = stream.read(1 << 20)
    except (EOFError, OSError, zlib.error):  # damaged: the precise reader says where
        return "nested"
    lines = [line for line in head.split(b"\n")[:-1] if line.strip()] or [head]
    flat = [looks_flat(texts_of([line])) for line in lines]
    if all(flat):
        return "flat"
    return "mixed" if any(flat) else "nested"


def _read_whole(
    builder: Builder, path: Path, layout: Layout, first: bytes, kind: str
) -> bool:
    """Feed a file of events (or pages) read whole by DuckDB; ``False`` if it must
    be read text by text (DuckDB refused it, or some record is invalid)."""
    array = layout == "document" and first.lstrip().startswith(b"[")
    if layout == "document" and not array:
        return False  # one pretty-printed document: nothing to gain
    pages = kind == "pages"
    shape: Shape = "nested" if array or pages else _file_shape(path)
    with connect() as con:
        env = read_file(con, str(path), array=array, shape=shape, pages=pages)
    if env is None:
        return False
    if env.height == 0:
        return True
    env, bad = flag_invalid(env)
    if bad.height:
        return False
    builder.add_raw(env)
    return True


class _DocBatcher:
    """Collects whole documents (small page files, NDJSON lines of pages) of many
    files into jobs of about ``chunk_bytes``."""

    def __init__(self, builder: Builder, kind: str, chunk_bytes: int) -> None:
        self.builder, self.kind, self.chunk_bytes = builder, kind, chunk_bytes
        self.texts: list[bytes] = []
        self.labels: list[tuple[str, int | None, int | None]] = []
        self.size = 0

    def add(self, text: bytes, label: tuple[str, int | None, int | None]) -> None:
        self.texts.append(text)
        self.labels.append(label)
        self.size += len(text)
        if self.size >= self.chunk_bytes:
            self.flush()

    def flush(self) -> None:
        if self.texts:
            self.builder.add_docs(Docs(self.texts, self.labels, self.kind))
        self.texts, self.labels, self.size = [], [], 0


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


def _looks_like_paths(source: Any) -> bool:
    if isinstance(source, list | tuple):
        return bool(source) and all(isinstance(s, str | Path) for s in source)
    return False


Layout = Literal["empty", "ndjson", "document"]


def _layout(first_line: bytes, *, more: bool) -> Layout:
    """How a file (or bytes) holds its records, from its first non-blank line.

    NDJSON when that line is a complete JSON value followed by more lines (so a first
    line ``[]`` is one bad record, not an empty array); one whole JSON document (an
    array, or an object, pretty-printed or not) when the line is all there is, or the
    start of a document: a text that ends before its value does. A line that goes
    wrong before its end is a bad NDJSON record.
    """
    line = first_line.strip()
    if not line:
        return "empty"
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return "document" if exc.pos >= len(line) else "ndjson"
    return "ndjson" if more else "document"


_BOM = b"\xef\xbb\xbf"
#: The longest first line looked at to tell NDJSON from a document.
_SNIFF_BYTES = 16 * 1024 * 1024


def _sniff(stream: IO[bytes]) -> tuple[Layout, bytes]:
    """The layout of a stream, and its first non-blank line."""
    first = b""
    while not first.strip():
        first = stream.readline(_SNIFF_BYTES)
        if not first:
            return "empty", b""
        first = first.removeprefix(_BOM) if first.startswith(_BOM) else first
    rest = stream.readline(_SNIFF_BYTES) if first.endswith(b"\n") else b""
    while rest and not rest.strip():
        rest = stream.readline(_SNIFF_BYTES)
    return _layout(first, more=bool(rest.strip())), first


def _feed_text(
    builder: Builder,
    batch: _DocBatcher,
    label: str,
    open_: Callable[[], IO[bytes]],
    chunk_bytes: int,
    whole_file: Path | None = None,
) -> Iterator[None]:
    """Feed one file (or bytes) of events or pages (``batch.kind``): NDJSON events in
    chunks of whole lines, a document or NDJSON lines of pages to ``batch``. An
    event file given as ``whole_file`` is first read whole by DuckDB's parallel
    reader; only a file with a bad record is read again text by text, which
    locates every one. A file
    that cannot be read to its end (a truncated or corrupt gzip) is reported with the
    line it stopped at; what was read before is kept."""
    line = 1
    try:
        with open_() as stream:
            layout, first_line = _sniff(stream)
        if layout == "empty":
            return
        if whole_file is not None and _read_whole(
            builder, whole_file, layout, first_line, batch.kind
        ):
            yield
            return
        with open_() as stream:
            if layout == "document":
                batch.add(stream.read().removeprefix(_BOM), (label, None, None))
                yield
                return
            for chunk, first in iter_line_chunks(stream, chunk_bytes):
                if first == 1:
                    chunk = chunk.removeprefix(_BOM)
                line = first
                if batch.kind == "events":
                    builder.add_ndjson(chunk, ndjson_locator(chunk, label, first))
                else:
                    for n, text in enumerate(chunk.split(b"\n"), start=first):
                        if text.strip():
                            batch.add(text, (label, n, None))
                line = first + chunk.count(b"\n")
                yield
    except (EOFError, OSError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
            msg = f"cannot open: {exc.strerror}"
            raise InputError(msg, source=label) from None
        reason = (
            "the gzip stream ends early (truncated file)"
            if isinstance(exc, EOFError)
            else f"cannot be read: {exc}"
        )
        add_problem(
            builder.collector, UnreadableFileError(reason, source=label, line=line)
        )


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
        if isinstance(source, Mapping):
            builder.collector.sources.append("<page>")
            _add_page_dicts(builder, [source], "<page>")
        elif is_path_source(source) or _looks_like_paths(source):
            paths = expand_paths(source)  # type: ignore[arg-type]
            for _ in _feed_files(
                builder, paths, "pages", DEFAULT_CHUNK_BYTES, whole=True
            ):
                pass
        else:
            builder.collector.sources.append("<pages>")
            _add_page_dicts(builder, list(source), "<pages>")  # type: ignore[arg-type]
        return builder.build()


def _add_page_dicts(builder: Builder, pages: list[Any], label: str) -> None:
    """Parsed pages (``fetch``'s, or a user's) through the same pipeline as page
    files: serialised once, in batches of bounded size."""
    texts: list[bytes] = []
    labels: list[tuple[str, int | None, int | None]] = []
    size = 0
    for p, page in enumerate(pages):
        page_label = label if len(pages) == 1 else f"{label} page {p}"
        text = dump_event(
            page, source=page_label, item=None, collector=builder.collector
        )
        if text is None:
            continue
        texts.append(text)
        labels.append((page_label, None, None))
        size += len(text)
        if size >= DEFAULT_CHUNK_BYTES:
            builder.add_docs(Docs(texts, labels, "pages"))
            texts, labels, size = [], [], 0
    if texts:
        builder.add_docs(Docs(texts, labels, "pages"))
