"""Turn raw event envelopes into the unified events frame and typed per-type frames.

JSON is never parsed with an inferred schema: an inferred type depends on which
records come first, so a field absent or null early would change type with the data.
The readers hand over envelopes whose payload is already JSON text (kept verbatim in
``payload``); here each type's payloads are parsed once, in one batch, by DuckDB,
which takes the paths its family declares as text (``json_extract_string``), and
Polars types that text.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import polars as pl

from activity_toolkit._duck import connect
from activity_toolkit.events._registry import (
    ALIASES,
    COMMON_FIELDS,
    EVENT_COLUMNS,
    REGISTRY,
    UNKNOWN_FAMILY,
    Field,
    FieldKind,
)

if TYPE_CHECKING:
    import duckdb
    from polars._typing import PolarsDataType

POLARS_ERRORS: tuple[type[BaseException], ...] = (
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,  # a BaseException: `except Exception` misses it
)

__all__ = [
    "ENVELOPE_SCHEMA",
    "EVENTS_SCHEMA",
    "POLARS_ERRORS",
    "TIME_RANGE",
    "blank_text",
    "empty_frame",
    "frame_schema",
    "in_time_range",
    "normalize",
    "parse_timestamp",
    "parse_timestamps",
    "timestamp_problem",
]

_ORDER_ITEM = pl.Struct(
    {
        "product_id": pl.String,
        "sku_id": pl.String,
        "quantity": pl.Int64,
        "price": pl.Int64,
        "amount": pl.Int64,
    }
)

#: Declared schema of one NDJSON envelope line (the payload is taken separately).
ENVELOPE_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "type": pl.String(),
    "created_at": pl.String(),
    "group_id": pl.String(),
    "data": pl.Struct({"event_source": pl.Struct({"channel": pl.String})}),
}

UTC_MS = pl.Datetime("ms", "UTC")

EVENTS_SCHEMA = pl.Schema(
    {
        "id": pl.String(),
        "type": pl.String(),
        "type_raw": pl.String(),
        "family": pl.String(),
        "customer_id": pl.String(),
        "customer_source_id": pl.String(),
        "created_at": UTC_MS,
        "group_id": pl.String(),
        "channel": pl.String(),
        "campaign_id": pl.String(),
        "campaign_name": pl.String(),
        "campaign_type": pl.String(),
        "voucher_code": pl.String(),
        "payload": pl.String(),
    }
)
assert tuple(EVENTS_SCHEMA) == EVENT_COLUMNS

_REDEEMABLE = pl.Struct(
    {
        "id": pl.String,
        "object": pl.String,
        "type": pl.String,
        "status": pl.String,
        "result": pl.Struct(
            {"error": pl.Struct({"key": pl.String, "message": pl.String})}
        ),
    }
)

_OUTPUT_DTYPE: dict[FieldKind, pl.DataType] = {
    "str": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "datetime": UTC_MS,
    "json": pl.String(),
    "items": pl.List(_ORDER_ITEM),
    "redeemables": pl.List(_REDEEMABLE),
}


#: The timestamps kept: ``0001-01-01T00:00:00.000Z`` to ``9999-12-31T23:59:59.999Z``
#: (UTC, after any offset is applied; what a Python ``datetime`` can hold), the year
#: written with four digits as the API writes it (no sign, no expanded years such as
#: ``+10000`` or ``-0001``). A ``created_at`` outside it makes the event invalid; a
#: payload timestamp outside it is null, like one that does not parse.
_MIN_MS = -62_135_596_800_000
_MAX_MS = 253_402_300_799_999
TIME_RANGE = (
    "0001-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z (UTC, four-digit years)"
)


def in_time_range(ts: pl.Expr) -> pl.Expr:
    """``ts`` (a UTC datetime), null outside :data:`TIME_RANGE`."""
    return pl.when(ts.dt.epoch("ms").is_between(_MIN_MS, _MAX_MS)).then(ts)


def blank_text(column: str) -> pl.Expr:
    """Text that is empty or only whitespace (Polars' reading of whitespace, used by
    every reader path so that they agree on what an empty ``id`` or ``type`` is)."""
    return pl.col(column).str.strip_chars().str.len_bytes() == 0


def _parse_any(expr: pl.Expr) -> pl.Expr:
    zulu = expr.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.fZ", time_unit="ms", time_zone="UTC", strict=False
    )
    offset = expr.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="ms", strict=False
    ).dt.convert_time_zone("UTC")
    naive = expr.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f", time_unit="ms", strict=False
    ).dt.replace_time_zone("UTC")
    date = (
        expr.str.to_date("%Y-%m-%d", strict=False)
        .cast(pl.Datetime("ms"))
        .dt.replace_time_zone("UTC")
    )
    return pl.coalesce(zulu, offset, naive, date)


def parse_timestamp(expr: pl.Expr) -> pl.Expr:
    """ISO 8601 text → ``Datetime("ms", "UTC")``; null where it does not parse or
    falls outside :data:`TIME_RANGE` (years 1 to 9999, UTC).

    Accepts ``…Z`` with or without fractional seconds, explicit offsets (converted to
    UTC) and bare dates (midnight UTC).
    """
    return pl.when(expr.str.contains(r"^\d{4}-")).then(in_time_range(_parse_any(expr)))


def parse_timestamps(text: pl.Series) -> pl.Series:
    """:func:`parse_timestamp` on a whole column, with a fast path: when every value
    is the API's own ``…T…Z`` form (the usual case) one format is tried, not four."""
    zulu = text.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.fZ", time_unit="ms", time_zone="UTC", strict=False
    )
    if zulu.null_count() == text.null_count():
        four_digits = text.str.contains(r"^\d{4}-")
        return (
            pl.select(pl.when(four_digits).then(in_time_range(pl.lit(zulu))))
            .to_series()
            .alias(text.name)
        )
    return pl.select(parse_timestamp(pl.lit(text))).to_series().alias(text.name)


def timestamp_problem(text: str) -> str:
    """Why ``text`` is not a timestamp :func:`parse_timestamp` keeps (for messages)."""
    if pl.select(_parse_any(pl.lit(text, dtype=pl.String)).is_null()).item():
        return "is not an ISO 8601 timestamp"
    return f"is outside the supported range {TIME_RANGE}"


def _as_text(dtype: PolarsDataType) -> Any:
    """The ``json_transform`` structure that reads every scalar of ``dtype`` as text."""
    if isinstance(dtype, pl.Struct):
        return {f.name: _as_text(f.dtype) for f in dtype.fields}
    if isinstance(dtype, pl.List):
        return [_as_text(dtype.inner)]
    return "VARCHAR"


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _json_path(path: str) -> str:
    """``customer.id`` → ``$."customer"."id"`` (keys quoted; :class:`Field` allows
    only plain keys, since DuckDB's JSON paths have no escapes)."""
    return "$" + "".join(f'."{key}"' for key in path.split("."))


_TEXT_KINDS = ("str", "json")


def _path_column(f: Field, i: int) -> str:
    """The name of the raw column of ``f``'s ``i``-th path (fields typed afterwards)."""
    return f"{f.column}#{i}"


def _fields_sql(fields: tuple[Field, ...]) -> tuple[str, str]:
    """DuckDB: the projection that takes every path of ``fields`` from ``payload`` in
    one parse (as list ``v``, by ``json_extract_string``: a string unquoted, any other
    value as its JSON text), and the one that names the values. A text field is the
    first non-null of its paths; any other field gets one column per path, typed and
    coalesced by :func:`_field_values`, so that a value which does not fit its type
    lets the next path's value through. ``items``/``redeemables`` become lists of
    structs (of text); a string that holds a JSON array is read as that array."""
    paths = [path for f in fields for path in f.paths]
    values = ", ".join(_sql_text(_json_path(path)) for path in paths)
    columns = []
    index = 1
    for f in fields:
        found = [f"v[{index + i}]" for i in range(len(f.paths))]
        index += len(f.paths)
        if f.kind in _TEXT_KINDS:
            value = found[0] if len(found) == 1 else f"coalesce({', '.join(found)})"
            columns.append(f"{value} AS {_sql_name(f.column)}")
            continue
        for i, value in enumerate(found):
            if f.kind in ("items", "redeemables"):  # the array's JSON text → structs
                structure = _sql_text(json.dumps(_as_text(_OUTPUT_DTYPE[f.kind])))
                value = f"CASE WHEN json_valid({value}) THEN json_transform({value}, {structure}) END"
            columns.append(f"{value} AS {_sql_name(_path_column(f, i))}")
    return f"json_extract_string(payload, [{values}]) AS v", ", ".join(columns)


def _sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _field_values(decoded: pl.DataFrame, fields: tuple[Field, ...]) -> list[pl.Series]:
    """Each field's typed column from the columns :func:`_fields_sql` made."""
    out = []
    for f in fields:
        if f.kind in _TEXT_KINDS:
            out.append(decoded[f.column])
            continue
        typed = [
            _typed(decoded[_path_column(f, i)], f.kind) for i in range(len(f.paths))
        ]
        value = (
            typed[0] if len(typed) == 1 else pl.select(pl.coalesce(typed)).to_series()
        )
        out.append(value.alias(f.column))
    return out


def _typed(text: pl.Series, kind: FieldKind) -> pl.Series:
    """A decoded value (text) as its column type, or null where it does not fit:
    integer columns take integral numbers (``100``, ``100.0``, ``1e2``, ``"100"``) but
    never round ``1.5``; float columns take finite numbers."""
    if kind in _TEXT_KINDS:
        return text
    if kind == "datetime":
        return parse_timestamps(text)
    if kind == "bool":
        return text.replace_strict(
            {"true": True, "false": False}, default=None, return_dtype=pl.Boolean
        )
    if kind in ("items", "redeemables"):
        return text.cast(_OUTPUT_DTYPE[kind], strict=False)
    if kind == "int":
        whole = text.cast(pl.Int64, strict=False)
        if whole.null_count() == text.null_count():  # the usual case: plain integers
            return whole
    raw = pl.col("text")
    number = raw.cast(pl.Float64, strict=False)
    typed: pl.Expr
    if kind == "float":
        typed = pl.when(number.is_finite()).then(number)
    else:  # integers written as floats: 100.0 exactly, 1e2 where a float is exact
        dotted = raw.str.contains(r"^[+-]?\d+\.0*$")
        zero = raw.str.contains(r"^[+-]?0*\.?0*[eE][+-]?\d+$")
        exponent = (
            raw.str.contains("[eE]")
            & (number.abs() <= 2.0**53)
            & (number == number.floor())
            & ((number != 0) | zero)
        )
        typed = pl.coalesce(
            raw.cast(pl.Int64, strict=False),
            pl.when(dotted).then(
                raw.str.replace(r"\.0*$", "").cast(pl.Int64, strict=False)
            ),
            pl.when(exponent).then(number.cast(pl.Int64)),
        )
    return text.to_frame("text").select(typed).to_series().alias(text.name)


def _fields_for(event_type: str) -> tuple[Field, ...]:
    spec = REGISTRY.get(event_type)
    return COMMON_FIELDS + (spec.fields if spec else ())


def frame_schema(event_type: str) -> pl.Schema:
    """The schema of the typed frame for ``event_type`` (common columns first)."""
    spec = REGISTRY.get(event_type)
    schema = dict(EVENTS_SCHEMA)
    if spec:
        for f in spec.fields:
            schema.setdefault(f.column, _OUTPUT_DTYPE[f.kind])
        if spec.family == "points":
            schema["points_change"] = pl.Int64()
        if spec.family == "validation":
            schema["failure_code"] = pl.String()
    return pl.Schema(schema)


def empty_frame(event_type: str) -> pl.DataFrame:
    """An empty typed frame for ``event_type``."""
    return pl.DataFrame(schema=frame_schema(event_type))


def _points_change(event_type: str) -> pl.Expr:
    """The signed change in a loyalty card's points for a points-family event."""
    if event_type.endswith("points_expired"):
        return -pl.col("expired_points")
    if event_type.endswith("points_transferred"):
        out = pl.col("transaction_type").str.contains("OUT")
        return (
            pl.when(out).then(-pl.col("points").abs()).otherwise(pl.col("points").abs())
        )
    return pl.col("points")


def _decode_fields(
    payloads: pl.Series, fields: tuple[Field, ...], con: duckdb.DuckDBPyConnection
) -> pl.DataFrame:
    """One type group's payload texts → the columns :func:`_fields_sql` names.

    DuckDB reads the texts straight from Polars' memory through the Arrow C stream
    interface and takes every declared path from one parse of each payload (yyjson):
    about three times faster per core than decoding into a struct with Polars'
    ``str.json_decode``. ``con`` is a cursor of its own, so several types can be
    decoded at once from threads.
    """
    values, columns = _fields_sql(fields)
    texts = con.from_arrow(payloads.to_frame("payload").__arrow_c_stream__())
    return pl.DataFrame(texts.project(values).project(columns))


def _normalize_type(
    event_type: str, group: pl.DataFrame, con: duckdb.DuckDBPyConnection
) -> pl.DataFrame:
    spec = REGISTRY.get(event_type)
    fields = _fields_for(event_type)
    values = _field_values(_decode_fields(group["payload"], fields, con), fields)
    frame = group.hstack(values).with_columns(
        pl.lit(spec.family if spec else UNKNOWN_FAMILY).alias("family")
    )
    if spec and spec.family == "points":
        frame = frame.with_columns(_points_change(event_type).alias("points_change"))
    if spec and spec.family == "validation":
        first_ok = pl.col("redeemables").list.first().struct.field("id")
        first_bad = pl.col("inapplicable_redeemables").list.first()
        frame = frame.with_columns(
            pl.coalesce("voucher_code", first_ok, first_bad.struct.field("id")),
            first_bad.struct.field("result")
            .struct.field("error")
            .struct.field("key")
            .alias("failure_code"),
        )
    return frame.select("_row", *frame_schema(event_type).names())


def normalize(
    raw: pl.DataFrame, *, map_: Callable[..., Iterable[pl.DataFrame]] = map
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """Build the events frame and the per-type frames from validated envelopes.

    ``raw`` has ``id, type_raw, created_at, group_id, channel, payload`` and should be
    unique by ``id`` and sorted by (``created_at``, ``id``); the outputs keep that
    order. Each type's payloads are decoded once, as one batch; ``map_`` may be a
    thread pool's ``map`` to decode several types at once.

    Memory: the events frame is ``raw``'s own columns beside the ones decoded per type
    (put back in ``raw``'s order by row number), so only those are copied; each type's
    part of ``raw`` is released as soon as its frame is built.
    """
    raw = raw.with_columns(pl.col("type_raw").replace(dict(ALIASES)).alias("type"))
    parts = {
        str(t): g
        for (t,), g in raw.with_row_index("_row")
        .partition_by("type", as_dict=True, maintain_order=True)
        .items()
    }
    types = sorted(parts, key=lambda t: -parts[t].height)  # largest first: even threads

    import duckdb

    con = connect(threads=1)  # one thread per query: types run side by side

    def build(event_type: str) -> pl.DataFrame:
        with con.cursor() as cursor:
            return _normalize_type(event_type, parts.pop(event_type), cursor)

    try:
        frames = dict(zip(types, map_(build, types), strict=True))
    except BaseException:
        # another thread may still be decoding: closing would fail as busy and hide
        # this error (or the user's Ctrl-C); the connection goes when that finishes
        with contextlib.suppress(duckdb.Error):
            con.close()
        raise
    con.close()
    if not frames:
        return pl.DataFrame(schema=EVENTS_SCHEMA), {}
    decoded = [c for c in EVENT_COLUMNS if c not in raw.columns]
    in_order = pl.concat([f.select("_row", *decoded) for f in frames.values()]).sort(
        "_row"
    )
    events = raw.hstack(in_order.drop("_row")).select(EVENT_COLUMNS)
    return events, {t: frames[t].drop("_row") for t in sorted(frames)}
