"""The one JSON parser of every reader: DuckDB's (yyjson), over texts held by Polars.

Every source is cut into texts first (NDJSON lines, page files, JSON-array files,
serialised dicts); DuckDB reads them straight from Polars' memory through the Arrow
C stream interface (no pyarrow) with ``from_json`` against a declared structure, so
each event's envelope is parsed once and its payload comes back as JSON text
(re-serialised by DuckDB with correct escaping). The same queries serve files, bytes,
dicts and fetched pages, so every container follows the same JSON rules:

* **Duplicate keys**: the first occurrence wins (in the envelope and in the payload's
  typed columns; ``payload`` keeps the text as written).
* **NaN, Infinity, -Infinity** are not JSON: such a record is invalid
  (:func:`non_finite` finds them outside strings).
* **Numbers beyond the double range** (``1e999``) and integers beyond 64 bits are JSON:
  kept with their digits in ``payload``.
* **Depth**: any nesting DuckDB parses (thousands of levels) is accepted.
* **Trailing commas** (``[1,]``) are accepted, as DuckDB's JSON reader does.

Queries never raise on bad input: ``try(from_json(...))`` yields NULL for a text that
is not JSON, and the caller finds out why (with its location) only for those rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import polars as pl

from activity_toolkit._duck import connect
from activity_toolkit.events import POLARS_ERRORS

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "connect",
    "envelopes",
    "non_finite",
    "page_envelopes",
    "page_items",
    "read_file",
    "split_arrays",
]

_EVENT = (
    '{"id":"JSON","type":"JSON","created_at":"VARCHAR","group_id":"JSON",'
    '"data":{"data":"JSON","event_source":{"channel":"JSON"}}}'
)
_FLAT = (
    '{"id":"JSON","type":"JSON","created_at":"VARCHAR","group_id":"JSON","data":"JSON"}'
)
#: The same structures as ``read_json`` column types, for whole files.
_EVENT_COLUMNS = (
    "{'id': 'JSON', 'type': 'JSON', 'created_at': 'VARCHAR', 'group_id': 'JSON', "
    "'data': 'STRUCT(data JSON, event_source STRUCT(channel JSON))'}"
)
_FLAT_COLUMNS = (
    "{'id': 'JSON', 'type': 'JSON', 'created_at': 'VARCHAR', 'group_id': 'JSON', "
    "'data': 'JSON'}"
)
_NON_FINITE_TEXT = "('NaN', 'Infinity', '-Infinity')"


def _text(column: str) -> str:
    """A JSON value as text: a string unquoted, anything else as its JSON."""
    return (
        f"CASE WHEN json_type({column}) = 'VARCHAR' THEN {column} ->> '$' "
        f"ELSE CAST({column} AS VARCHAR) END"
    )


#: Common columns of both envelope queries. The API's own timestamp forms are parsed
#: here (exactly: strptime alone would also take surrounding whitespace); any other
#: text is left to Polars (``_created_at_text`` always holds the text).
_COMMON = r"""
       _row,
       r IS NULL OR NOT starts_with(ltrim(text), '{{') AS _unparsed,
       CASE WHEN json_type(r.id) = 'VARCHAR' THEN r.id ->> '$' END AS id,
       CASE WHEN json_type(r.type) = 'VARCHAR' THEN r.type ->> '$' END AS type_raw,
       CASE WHEN json_type(r.id) NOT IN ('VARCHAR', 'NULL') THEN r.id END AS _id_json,
       CASE WHEN json_type(r.type) NOT IN ('VARCHAR', 'NULL') THEN r.type END
         AS _type_json,
       r.created_at AS _created_at_text,
       CASE WHEN regexp_full_match(r.created_at,
                                   '\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{{1,3}})?Z')
            THEN try_strptime(r.created_at,
                              ['%Y-%m-%dT%H:%M:%S.%gZ', '%Y-%m-%dT%H:%M:%SZ'])
       END AS _created_at,
       {group_id} AS group_id,
       coalesce(CAST(r.group_id AS VARCHAR) IN {non_finite}, false) AS _nan_group,
"""

_PARTS = {"group_id": _text("r.group_id"), "channel": _text("_channel")}
_FROM_TEXTS = (
    "FROM (SELECT _row, text, try(from_json(text, '{structure}')) AS r FROM src)"
)

#: List-endpoint envelopes first: ``data`` read as a struct whose ``data`` member is
#: the payload's text, one parse per line. A row whose ``data`` has no object under
#: ``data`` (webhook style, or not an object at all) takes ``data`` itself, read again.
_NESTED = (
    "SELECT"
    + _COMMON
    + """
       {channel} AS channel,
       coalesce(CAST(_channel AS VARCHAR) IN {non_finite}, false) AS _nan_channel,
       CASE WHEN r IS NULL OR r.data IS NULL THEN NULL
            WHEN _wrapped THEN r.data.data
            ELSE json_extract(text, '$.data') END AS payload,
       r.data IS NOT NULL AND NOT _wrapped AS _unwrapped
FROM (SELECT *, r.data.event_source.channel AS _channel,
             coalesce(starts_with(r.data.data, '{{'), false) AS _wrapped
      """
    + _FROM_TEXTS
    + ")"
).format(structure=_EVENT, non_finite=_NON_FINITE_TEXT, **_PARTS)

#: Webhook-style (flat) envelopes first: ``data`` is the payload. The few rows whose
#: ``data`` may hold a channel or wrap an object under ``data`` (list endpoints) are
#: found by :func:`_finish` (Polars' text search is several times faster than
#: DuckDB's) and looked into by :data:`_INNER`.
_FLAT_FIRST = (
    "SELECT"
    + _COMMON
    + """
       NULL::VARCHAR AS channel,
       false AS _nan_channel,
       r.data AS payload,
       false AS _unwrapped
"""
    + _FROM_TEXTS
).format(structure=_FLAT, non_finite=_NON_FINITE_TEXT, **_PARTS)

#: Flat-first for files that mix both shapes: every row's ``data`` is looked into
#: (one more parse of it, streamed: no second copy of the payloads).
_FLAT_UNWRAP = (
    "SELECT"
    + _COMMON
    + """
       {channel} AS channel,
       coalesce(CAST(_channel AS VARCHAR) IN {non_finite}, false) AS _nan_channel,
       CASE WHEN starts_with(_inner[1], '{{') THEN _inner[1] ELSE r.data END
         AS payload,
       false AS _unwrapped
FROM (SELECT *, _inner[2] AS _channel
      FROM (SELECT *, json_extract(r.data, ['$.data', '$.event_source.channel'])
                        AS _inner
            """
    + _FROM_TEXTS
    + "))"
).format(structure=_FLAT, non_finite=_NON_FINITE_TEXT, **_PARTS)

#: What :func:`_finish` needs of the rows ``_look`` marks: the channel and whether
#: ``data`` wraps an object under ``data`` (the payload itself is not copied).
_INNER = (
    """
SELECT CASE WHEN _look THEN starts_with(_inner[1], '{{') END AS _nested,
       {channel} AS channel,
       coalesce(CAST(_channel AS VARCHAR) IN {non_finite}, false) AS _nan_channel
FROM (SELECT *, _inner[2] AS _channel
      FROM (SELECT _look,
                   CASE WHEN _look
                        THEN json_extract(payload, ['$.data', '$.event_source.channel'])
                   END AS _inner
            FROM src))
"""
).format(non_finite=_NON_FINITE_TEXT, **_PARTS)

_UNWRAP = """
SELECT CASE WHEN _nested THEN json_extract(payload, '$.data') ELSE payload END
         AS payload
FROM src
"""


class _Nested(Exception):
    """A flat-first read met rows that wrap their payload (read again unwrapping)."""


def _finish(
    con: duckdb.DuckDBPyConnection,
    env: pl.DataFrame,
    *,
    flat: bool,
    unwrap: bool = True,
) -> pl.DataFrame:
    """The checks of an envelope query's rows (see :func:`envelopes`), and, read by
    :data:`_FLAT_FIRST`, the channel and the unwrapped payload of the rows whose text
    can hold them; :class:`_Nested` if there are rows to unwrap and not ``unwrap``
    (a whole file: read it again with :data:`_FLAT_UNWRAP`, which streams)."""
    payload = pl.col("payload")
    env = env.with_columns(
        (
            payload.is_not_null()
            & ~(payload.str.starts_with("{") | (payload == "null"))
        ).alias("_data_not_object")
    )
    if flat:
        look = (
            payload.str.contains('"data":{', literal=True)
            | payload.str.contains('"event_source"', literal=True)
        ).fill_null(False)
        env = env.with_columns(look.alias("_look"))
        if env["_look"].any():
            _source(con, env.select("payload", "_look"))
            inner = pl.DataFrame(con.sql(_INNER))
            env = env.with_columns(
                inner["channel"], inner["_nan_channel"], inner["_nested"]
            )
            if env["_nested"].any():
                if not unwrap:
                    raise _Nested
                _source(con, env.select("payload", "_nested"))
                env = env.with_columns(pl.DataFrame(con.sql(_UNWRAP))["payload"])
            env = env.drop("_nested")
        env = env.drop("_look")
    return env.with_columns(
        (pl.col("_nan_group") | pl.col("_nan_channel")).alias("_nan_field"),
        (
            payload.str.contains("NaN", literal=True)
            | payload.str.contains("Infinity", literal=True)
        )
        .fill_null(False)
        .alias("_maybe_nan"),
    ).drop("_nan_group", "_nan_channel")


def _errors() -> tuple[type[BaseException], ...]:
    import duckdb

    return (duckdb.Error, *POLARS_ERRORS)


_ERRORS = _errors()
Shape = Literal["nested", "flat", "mixed"]
_FROM_FILE = """FROM (SELECT NULL::BIGINT AS _row, '{{}}' AS text,
             struct_pack(id := id, type := type, created_at := created_at,
                         group_id := group_id, data := data) AS r
      FROM read_json(?, format = ?, columns = {columns}, compression = 'auto_detect',
                     records = true))"""


_EVENT_STRUCT = (
    "STRUCT(id JSON, type JSON, created_at VARCHAR, group_id JSON, "
    "data STRUCT(data JSON, event_source STRUCT(channel JSON)))"
)
#: A file of list pages: each page's ``data`` list unnested; a page without one
#: gives a null event (invalid: the caller reads the file text by text).
_FROM_PAGE_FILE = (
    """FROM (SELECT NULL::BIGINT AS _row, '{{}}' AS text,
             unnest(CASE WHEN data IS NULL THEN [NULL] ELSE data END) AS r
      FROM read_json(?, format = ?, columns = {{'data': '"""
    + _EVENT_STRUCT
    + """[]'}},
                     compression = 'auto_detect', records = true))"""
)


def read_file(
    con: duckdb.DuckDBPyConnection,
    path: str,
    *,
    array: bool,
    shape: Shape = "nested",
    pages: bool = False,
) -> pl.DataFrame | None:
    """The envelopes of a whole event file (NDJSON or a JSON array, plain or gzip)
    read by DuckDB's parallel file reader, as :func:`envelopes` gives them (``_row``
    null), or ``None`` when DuckDB refuses the file (a record that is not JSON, a
    duplicate key in the envelope, a damaged gzip): the caller then reads it text by
    text, which names every bad record. ``shape`` is what the file's first lines
    hold: list-endpoint events (``"nested"``), webhook-style ones (``"flat"``) or
    both (``"mixed"``); a read that meets rows of the other shape is done again by
    the query for both. With ``pages``,
    the file holds list pages (NDJSON or a JSON array of them) and the envelopes are
    their events'; ``None`` also when an event is webhook-style."""
    params = [path, "array" if array else "newline_delimited"]
    if pages:
        query = _NESTED.replace(
            _FROM_TEXTS.format(structure=_EVENT), _FROM_PAGE_FILE.format()
        )
        try:
            frame = _finish(
                con, pl.DataFrame(con.sql(query, params=params)), flat=False
            )
        except _ERRORS:
            return None
        return None if frame["_unwrapped"].any() else frame
    tries = {"nested": (_NESTED, _EVENT, _EVENT_COLUMNS)}
    tries["flat"] = (_FLAT_FIRST, _FLAT, _FLAT_COLUMNS)
    tries["mixed"] = (_FLAT_UNWRAP, _FLAT, _FLAT_COLUMNS)
    for attempt in {"nested": ("nested", "mixed"), "flat": ("flat", "mixed")}.get(
        shape, ("mixed",)
    ):
        query, structure, columns = tries[attempt]
        query = query.replace(
            _FROM_TEXTS.format(structure=structure), _FROM_FILE.format(columns=columns)
        )
        try:
            frame = pl.DataFrame(con.sql(query, params=params))
        except _ERRORS:
            return None
        try:
            frame = _finish(con, frame, flat=attempt == "flat", unwrap=False)
        except _Nested:
            continue
        if not frame["_unwrapped"].any():
            return frame
    return None  # pragma: no cover - the unwrapping query unwraps every row


_FROM_PAGES = """FROM (SELECT (CAST(_doc AS BIGINT) << 32) + coalesce(_item, 4294967295) AS _row,
             '{{}}' AS text, r
      FROM (SELECT _doc,
                   unnest(CASE WHEN ok THEN data ELSE [NULL] END) AS r,
                   unnest(CASE WHEN ok THEN range(len(data)) ELSE [NULL] END) AS _item
            FROM (SELECT _doc, pg.data AS data,
                         coalesce(starts_with(ltrim(doc), '{{')
                                  AND pg.data IS NOT NULL, false) AS ok
                  FROM (SELECT _doc, doc,
                               try(from_json(doc, '{{"data":[{structure}]}}')) AS pg
                        FROM src))))"""


def page_envelopes(con: duckdb.DuckDBPyConnection, pages: pl.Series) -> pl.DataFrame:
    """The envelopes of API list pages' events, each page and its events parsed
    once, as :func:`envelopes` gives them, with ``_row`` = page index * 2**32 + item
    index. A page that is not a JSON object with a ``data`` list has one row, with
    item 2**32 - 1 and ``_unparsed``; an event that needs its ``data`` read again
    (webhook style) has ``_unwrapped``: the caller reads such pages item by item."""
    frame = pages.alias("doc").to_frame().with_row_index("_doc")
    _source(con, frame)
    query = _NESTED.replace(
        _FROM_TEXTS.format(structure=_EVENT), _FROM_PAGES.format(structure=_EVENT)
    )
    return _finish(con, pl.DataFrame(con.sql(query)), flat=False)


def _source(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> None:
    con.register("src", con.from_arrow(frame.__arrow_c_stream__()))


def envelopes(
    con: duckdb.DuckDBPyConnection, texts: pl.Series, *, flat: bool
) -> pl.DataFrame:
    """One row per text: ``_row`` (its index), the envelope columns (``id``,
    ``type_raw``, ``_created_at`` parsed where it has the API's form,
    ``_created_at_text``, ``group_id``, ``channel``, ``payload``) and the checks:
    ``_unparsed`` (not JSON, or not an object), ``_id_json``/``_type_json`` (the
    JSON text of an ``id``/``type`` that is not a string), ``_data_not_object``, ``_nan_field`` (NaN or Infinity as ``group_id`` or
    ``channel``) and ``_maybe_nan`` (a payload to check with :func:`non_finite`). ``flat`` picks the query that reads webhook-style envelopes
    in one parse (the other one reads list-endpoint envelopes in one parse)."""
    frame = texts.alias("text").to_frame().with_row_index("_row")
    _source(con, frame)
    env = pl.DataFrame(con.sql(_FLAT_FIRST if flat else _NESTED))
    return _finish(con, env, flat=flat)


def split_arrays(con: duckdb.DuckDBPyConnection, docs: pl.Series) -> pl.DataFrame:
    """Texts of JSON arrays → their elements' texts: ``_doc`` (index of the text),
    ``_item`` (index in it) and ``text``; a text that is not a JSON array has one row
    with a null ``text``."""
    frame = docs.alias("doc").to_frame().with_row_index("_doc")
    _source(con, frame)
    return pl.DataFrame(
        con.sql(
            """
SELECT _doc,
       unnest(CASE WHEN r IS NULL THEN [NULL] ELSE r END) AS text,
       unnest(CASE WHEN r IS NULL THEN [NULL] ELSE range(len(r)) END) AS _item
FROM (SELECT _doc, try(from_json(doc, '["JSON"]')) AS r FROM src)
"""
        )
    )


def page_items(con: duckdb.DuckDBPyConnection, pages: pl.Series) -> pl.DataFrame:
    """Texts of API list pages → their events' texts: ``_doc``, ``_item``, ``text``;
    a page that is not a JSON object with a ``data`` list has one row with a null
    ``_item`` (an empty ``data`` list has none)."""
    frame = pages.alias("doc").to_frame().with_row_index("_doc")
    _source(con, frame)
    return pl.DataFrame(
        con.sql(
            """
SELECT _doc,
       unnest(CASE WHEN ok THEN data ELSE [NULL] END) AS text,
       unnest(CASE WHEN ok THEN range(len(data)) ELSE [NULL] END) AS _item
FROM (SELECT _doc, r.data AS data,
             coalesce(starts_with(ltrim(doc), '{') AND r.data IS NOT NULL, false) AS ok
      FROM (SELECT _doc, doc, try(from_json(doc, '{"data":["JSON"]}')) AS r FROM src))
"""
        )
    )


#: ``NaN``/``Infinity`` as a value: after any number of whole strings and other
#: characters from the start, a value position (after ``:``, ``[`` or ``,``).
_NON_FINITE = r'^(?:[^"]|"(?:[^"\\]|\\.)*")*?[:\[,]\s*-?(?:NaN|Infinity)'


def non_finite(texts: pl.Series) -> pl.Series:
    """Whether each JSON text holds ``NaN``/``Infinity`` as a value (not in a string)."""
    return texts.str.contains(_NON_FINITE).fill_null(False)
