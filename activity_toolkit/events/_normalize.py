"""Turn raw event envelopes into the unified events frame and typed per-type frames.

Everything here is Polars expressions over whole chunks: JSON is parsed by Polars'
NDJSON reader against declared schemas (never inferred, see STACK.md), and the
payload text is kept verbatim in ``payload``.

Parsing happens twice per event, both in Rust: once for the envelope (with ``data``
declared as text, so the payload comes back verbatim) and once per type group for the
typed fields of that type.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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

__all__ = [
    "ENVELOPE_SCHEMA",
    "EVENTS_SCHEMA",
    "RawChunk",
    "empty_frame",
    "frame_schema",
    "normalize",
    "parse_timestamp",
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

#: Declared schema of one NDJSON envelope line. ``data.data`` is read as text: the
#: nested payload, verbatim. Flat (webhook-style) payloads are read separately.
ENVELOPE_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "type": pl.String(),
    "created_at": pl.String(),
    "group_id": pl.String(),
    "data": pl.Struct({"data": pl.String, "event_source": pl.Struct({"channel": pl.String})}),
}
FLAT_SCHEMA: dict[str, pl.DataType] = {"data": pl.String()}

UTC_MS = pl.Datetime("ms", "UTC")

EVENTS_SCHEMA = pl.Schema(
    {
        "id": pl.String,
        "type": pl.String,
        "type_raw": pl.String,
        "family": pl.String,
        "customer_id": pl.String,
        "customer_source_id": pl.String,
        "created_at": UTC_MS,
        "group_id": pl.String,
        "channel": pl.String,
        "campaign_id": pl.String,
        "campaign_name": pl.String,
        "campaign_type": pl.String,
        "voucher_code": pl.String,
        "payload": pl.String,
    }
)
assert tuple(EVENTS_SCHEMA) == EVENT_COLUMNS

_DECODE_DTYPE: dict[FieldKind, pl.DataType] = {
    "str": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "datetime": pl.String(),
    "json": pl.String(),
    "items": pl.List(_ORDER_ITEM),
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


def _decode_tree(fields: Iterable[Field]) -> pl.Struct:
    tree: dict[str, Any] = {}
    for f in fields:
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


def _path_expr(path: str) -> pl.Expr:
    first, *rest = path.split(".")
    expr = pl.col(first)
    for part in rest:
        expr = expr.struct.field(part)
    return expr


def _field_expr(f: Field) -> pl.Expr:
    exprs = [_path_expr(p) for p in f.paths]
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


@dataclass(frozen=True, slots=True)
class RawChunk:
    """Validated envelopes: ``id``, ``type_raw``, ``created_at`` (parsed), ``group_id``,
    ``channel``, ``payload`` (text or null)."""

    frame: pl.DataFrame


def _decode_payloads(payloads: pl.Series, schema: pl.Struct) -> pl.DataFrame:
    """Decode one type group's payload texts against a declared schema.

    Values whose JSON type does not match the schema become null (the raw ``payload``
    keeps them). Payload texts are single-line JSON, so they can be fed as NDJSON.
    """
    text = payloads.fill_null("{}").str.join("\n").item()
    return pl.read_ndjson(
        io.BytesIO(text.encode()), schema=dict(schema.to_schema()), ignore_errors=True
    )


def normalize(chunk: RawChunk) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """Build the events rows and the per-type frames of one chunk of envelopes."""
    base = chunk.frame.with_columns(
        pl.col("type_raw").replace(dict(ALIASES)).alias("type"),
    )
    frames: dict[str, pl.DataFrame] = {}
    common = [f.column for f in COMMON_FIELDS]
    for (event_type,), group in base.group_by("type", maintain_order=True):
        assert isinstance(event_type, str)
        spec = REGISTRY.get(event_type)
        fields = _fields_for(event_type)
        decoded = _decode_payloads(group["payload"], _decode_tree(fields))
        typed = decoded.select(_field_expr(f) for f in fields)
        frame = pl.concat(
            [group.select(pl.exclude(common)) if set(common) & set(group.columns) else group, typed],
            how="horizontal",
        ).with_columns(pl.lit(spec.family if spec else UNKNOWN_FAMILY).alias("family"))
        if spec and spec.family == "points":
            frame = frame.with_columns(_points_change(event_type).alias("points_change"))
        frames[event_type] = frame.select(frame_schema(event_type).names())
    if frames:
        events = pl.concat(
            [f.select(EVENT_COLUMNS) for f in frames.values()], how="vertical"
        )
    else:
        events = pl.DataFrame(schema=EVENTS_SCHEMA)
    return events, frames


def concat_frames(
    parts: Mapping[str, list[pl.DataFrame]],
) -> dict[str, pl.DataFrame]:
    """Concatenate per-chunk frames of each type (no copy of the data buffers)."""
    return {t: pl.concat(dfs, how="vertical", rechunk=False) for t, dfs in parts.items()}
