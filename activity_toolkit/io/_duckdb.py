"""Fast path for event files: DuckDB's JSON reader takes the envelope and payload text.

DuckDB (multi-threaded, yyjson) reads NDJSON or JSON-array files, plain or gzipped, and
hands the envelope columns and each payload's JSON text to Polars through the Arrow
C stream interface (no pyarrow); :mod:`activity_toolkit._duck` opens it offline.
Files of list-endpoint envelopes are parsed once (``data`` read as a struct whose
``data`` member stays JSON text); a file with any webhook-style (flat) event is read
again with ``data`` as JSON, unwrapped per row. DuckDB re-serialises each payload with
correct escaping, about three times faster than Polars' JSON path matching.

The fast path never reports errors itself: on any DuckDB error, or when some record
lacks ``id``/``type``/``created_at``, has an ``id`` or ``type`` that is not a
non-blank JSON string (read as JSON, so ``12345`` is not taken as ``"12345"``), a
timestamp that does not parse or is out of range, or a ``data`` that is not a JSON
object, the caller reads the file again through the
chunked Polars path, which names the exact line of every bad record (and skips them
under ``on_error="skip"``).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from activity_toolkit._duck import connect
from activity_toolkit.events import blank_text, in_time_range, parse_timestamps

__all__ = ["read_envelopes"]

_READ = """read_json(?, format = ?, columns = {columns}, compression = 'auto_detect',
                     maximum_object_size = 268435456)"""

#: The envelope columns, given how to take the channel and the payload. The API's own
#: timestamp forms (exactly: strptime alone would also take surrounding whitespace) are
#: parsed here, in DuckDB's parallel scan; any other text is left to Polars
#: (``_created_at_text`` holds only those).
_SELECT = (
    r"""
SELECT CASE WHEN json_type(id) = 'VARCHAR' THEN id ->> '$' END AS id,
       CASE WHEN json_type(type) = 'VARCHAR' THEN type ->> '$' END AS type_raw,
       group_id, {channel} AS channel, {payload} AS payload,
       CASE WHEN regexp_full_match(created_at,
                                   '\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{{1,3}})?Z')
            THEN try_strptime(created_at, ['%Y-%m-%dT%H:%M:%S.%gZ', '%Y-%m-%dT%H:%M:%SZ'])
       END AS _created_at,
       CASE WHEN _created_at IS NULL THEN created_at END AS _created_at_text,
       {check}
FROM """
    + _READ
)

#: The usual case, list-endpoint envelopes: ``data`` is read as a struct whose ``data``
#: member is kept as JSON text, so each line is parsed once.
_NESTED = _SELECT.format(
    channel="data.event_source.channel",
    payload="data.data",
    check="data IS NOT NULL AND (data.data IS NULL OR NOT starts_with(data.data, '{'))"
    " AS _not_nested",
    columns="{'id': 'JSON', 'type': 'JSON', 'created_at': 'VARCHAR', "
    "'group_id': 'VARCHAR', "
    "'data': 'STRUCT(data JSON, event_source STRUCT(channel VARCHAR))'}",
)

#: Webhook-style (flat) or mixed files: ``data`` as JSON text, unwrapped per row.
_ANY_SHAPE = _SELECT.format(
    channel="json_extract_string(data, '$.event_source.channel')",
    payload="CASE WHEN json_type(data, '$.data') = 'OBJECT' "
    "THEN json_extract(data, '$.data') ELSE data END",
    check="NOT coalesce(json_type(data), 'NULL') IN ('OBJECT', 'NULL') AS _not_object",
    columns="{'id': 'JSON', 'type': 'JSON', 'created_at': 'VARCHAR', "
    "'group_id': 'VARCHAR', 'data': 'JSON'}",
)


def read_envelopes(path: Path, *, array: bool) -> pl.DataFrame | None:
    """Validated envelopes of one event file, or ``None`` when the fast path cannot
    vouch for the file (DuckDB missing or refusing it, or some record invalid)."""
    try:
        import duckdb
    except ImportError:  # pragma: no cover - duckdb is a dependency
        return None
    params = [str(path), "array" if array else "newline_delimited"]
    try:
        with connect() as con:
            try:
                frame = pl.DataFrame(con.sql(_NESTED, params=params))
                nested = not frame["_not_nested"].any()
            except duckdb.Error:  # some data is not an object: let the next query say
                nested = False
            if not nested:
                frame = pl.DataFrame(con.sql(_ANY_SHAPE, params=params))
                if frame["_not_object"].any():
                    return None
    except duckdb.Error:
        return None
    created_at = (
        frame["_created_at"].dt.cast_time_unit("ms").dt.replace_time_zone("UTC")
    )
    created_at = pl.select(in_time_range(pl.lit(created_at))).to_series()  # year 0
    if frame["_created_at_text"].null_count() < frame.height:  # other ISO 8601 forms
        created_at = created_at.fill_null(parse_timestamps(frame["_created_at_text"]))
    frame = frame.with_columns(created_at.alias("created_at"))
    invalid = frame.select(
        (
            pl.col("id").is_null()
            | pl.col("type_raw").is_null()
            | pl.col("created_at").is_null()
            | blank_text("id")
            | blank_text("type_raw")
        ).any()
    ).item()
    if invalid:
        return None
    return frame.select(
        "id", "type_raw", "created_at", "group_id", "channel", "payload"
    )
