"""Turn raw event envelopes into the unified events frame and typed per-type frames.

Everything here is Polars expressions over whole chunks: JSON is parsed by Polars'
NDJSON reader against declared schemas (never inferred, see STACK.md), and the
payload text is kept verbatim in ``payload``.

Parsing happens three times per event, all in Rust: the envelope scalars, the payload
text (by JSON path, which re-serialises it faithfully), and the typed fields of its
type (once per type, in one batch).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

import polars as pl

from activity_toolkit.events._registry import (
    ALIASES,
    COMMON_FIELDS,
    EVENT_COLUMNS,
    REGISTRY,
    UNKNOWN_FAMILY,
    Field,
    FieldKind,
)

POLARS_ERRORS: tuple[type[BaseException], ...] = (
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,  # derives from BaseException, see STACK.md
)

__all__ = [
    "ENVELOPE_SCHEMA",
    "EVENTS_SCHEMA",
    "empty_frame",
    "frame_schema",
    "normalize",
    "parse_timestamp",
    "parse_timestamps",
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
        "result": pl.Struct({"error": pl.Struct({"key": pl.String, "message": pl.String})}),
    }
)

_DECODE_DTYPE: dict[FieldKind, pl.DataType] = {
    "str": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "datetime": pl.String(),
    "json": pl.String(),
    "items": pl.List(_ORDER_ITEM),
    "redeemables": pl.List(_REDEEMABLE),
}
_OUTPUT_DTYPE: dict[FieldKind, pl.DataType] = {**_DECODE_DTYPE, "datetime": UTC_MS}


def parse_timestamp(expr: pl.Expr) -> pl.Expr:
    """ISO 8601 text → ``Datetime("ms", "UTC")``; null where it does not parse.

    Accepts ``…Z`` with or without fractional seconds, explicit offsets (converted to
    UTC) and bare dates (midnight UTC).
    """
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


def parse_timestamps(text: pl.Series) -> pl.Series:
    """:func:`parse_timestamp` on a whole column, with a fast path: when every value
    is the API's own ``…T…Z`` form (the usual case) one format is tried, not four."""
    zulu = text.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.fZ", time_unit="ms", time_zone="UTC", strict=False
    )
    if zulu.null_count() == text.null_count():
        return zulu
    return pl.select(parse_timestamp(pl.lit(text))).to_series().alias(text.name)


def _decode_tree(fields: Iterable[Field]) -> pl.Struct:
    """The declared schema that decodes ``fields`` (``json`` fields excluded: they are
    taken as text by JSON path, since a typed decode cannot keep raw JSON)."""
    tree: dict[str, Any] = {}
    for f in fields:
        if f.kind == "json":
            continue
        for path in f.paths:
            *parents, leaf = path.split(".")
            node = tree
            for p in parents:
                child = node.setdefault(p, {})
                if not isinstance(child, dict):  # leaf and parent at once: keep parent
                    child = node[p] = {}
                node = child
            node.setdefault(leaf, _DECODE_DTYPE[f.kind])

    def build(node: dict[str, Any]) -> pl.Struct:
        return pl.Struct(
            {k: build(v) if isinstance(v, dict) else v for k, v in node.items()}
        )

    return build(tree)


def _path_expr_from(expr: pl.Expr, path: str) -> pl.Expr:
    for part in path.split(".")[1:]:
        expr = expr.struct.field(part)
    return expr


def _field_expr(f: Field) -> pl.Expr:
    if f.kind == "json":
        exprs = [pl.col("payload").str.json_path_match(f"$.{p}") for p in f.paths]
    else:
        exprs = [pl.col("_decoded").struct.field(p.split(".")[0]) for p in f.paths]
        exprs = [_path_expr_from(e, p) for e, p in zip(exprs, f.paths, strict=True)]
    expr = exprs[0] if len(exprs) == 1 else pl.coalesce(exprs)
    if f.kind == "datetime":
        expr = parse_timestamp(expr)
    return expr.alias(f.column)


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
        return pl.when(out).then(-pl.col("points").abs()).otherwise(pl.col("points").abs())
    return pl.col("points")


#: Payload text decoded per call: Polars builds a whole JSON tree per call before the
#: columns (about four times the text), so large types are decoded in slices.
DECODE_BATCH_BYTES = 8 * 1024 * 1024


def _decode_payloads(payloads: pl.Series, schema: pl.Struct) -> pl.Series:
    """Decode one type group's payload texts against a declared schema.

    The fast path is ``str.json_decode``, in slices of about ``DECODE_BATCH_BYTES``
    of text to bound memory. When some value's JSON type does not fit the schema
    (schema drift: an object where a string was declared, ``"7"`` for an integer),
    that slice is decoded again with the NDJSON reader in lenient mode, where such
    values become null; the raw ``payload`` keeps them either way.
    """
    filled = payloads.fill_null("{}")
    total = filled.str.len_bytes().sum() or 0
    rows = max(1, int(filled.len() * DECODE_BATCH_BYTES / total)) if total else filled.len()
    parts = [
        _decode_slice(filled.slice(start, rows), schema)
        for start in range(0, max(filled.len(), 1), rows)
    ]
    return parts[0] if len(parts) == 1 else pl.concat(parts, rechunk=False)


def _decode_slice(texts: pl.Series, schema: pl.Struct) -> pl.Series:
    try:
        return texts.str.json_decode(schema).alias("_decoded")
    except POLARS_ERRORS:
        text = texts.str.join("\n").item()
        frame = pl.read_ndjson(
            io.BytesIO(text.encode()), schema=dict(schema.to_schema()), ignore_errors=True
        )
        return frame.to_struct("_decoded")


def _normalize_type(event_type: str, group: pl.DataFrame) -> pl.DataFrame:
    spec = REGISTRY.get(event_type)
    fields = _fields_for(event_type)
    decoded = _decode_payloads(group["payload"], _decode_tree(fields))
    frame = group.with_columns(decoded).select(
        pl.exclude("_decoded"),
        *(_field_expr(f) for f in fields),
        pl.lit(spec.family if spec else UNKNOWN_FAMILY).alias("family"),
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
    return frame.select(frame_schema(event_type).names())


def normalize(
    raw: pl.DataFrame, *, map_: Callable[..., Iterable[pl.DataFrame]] = map
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """Build the events frame and the per-type frames from validated envelopes.

    ``raw`` has ``id, type_raw, created_at, group_id, channel, payload`` and should be
    unique by ``id`` and sorted by (``created_at``, ``id``); the outputs keep that
    order. Each type's payloads are decoded once, as one batch; ``map_`` may be a
    thread pool's ``map`` to decode several types at once.

    Memory: pass ``raw`` without keeping another reference to it; it is released as
    soon as it is split by type, and each type's part as soon as its frame is built.
    """
    parts = {
        str(t): g
        for (t,), g in raw.with_columns(
            pl.col("type_raw").replace(dict(ALIASES)).alias("type")
        ).partition_by("type", as_dict=True, maintain_order=True).items()
    }
    del raw
    types = list(parts)

    def build(event_type: str) -> pl.DataFrame:
        return _normalize_type(event_type, parts.pop(event_type))

    frames = dict(zip(types, map_(build, types), strict=True))
    if not frames:
        return pl.DataFrame(schema=EVENTS_SCHEMA), {}
    events = pl.concat([f.select(EVENT_COLUMNS) for f in frames.values()], how="vertical")
    return events.sort("created_at", "id"), {t: frames[t] for t in sorted(frames)}
