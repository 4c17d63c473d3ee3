"""Helpers for the analysis tests: tiny hand-built event frames, eager and lazy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def ts(value: str | int | datetime) -> datetime:
    """Integer → T0 + that many minutes; ISO text → UTC datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int):
        return T0 + timedelta(minutes=value)
    d = datetime.fromisoformat(value)
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def events(
    rows: Sequence[tuple],
    columns: Sequence[str] = ("customer_id", "created_at", "id", "type"),
) -> pl.DataFrame:
    """Rows → an events frame; ``created_at`` values go through :func:`ts`.

    Ids default to the row number (zero-padded so they sort in row order) when the
    column list has no ``id``.
    """
    data: dict[str, list] = {c: [] for c in columns}
    for r in rows:
        for c, v in zip(columns, r, strict=True):
            data[c].append(ts(v) if c == "created_at" else v)
    schema = {
        c: (pl.Datetime("ms", "UTC") if c == "created_at" else None) for c in columns
    }
    df = pl.DataFrame(
        data, schema_overrides={c: t for c, t in schema.items() if t is not None}
    )
    if "id" not in df.columns:
        df = df.with_row_index("id").with_columns(
            pl.col("id").cast(pl.String).str.zfill(6)
        )
    return df


@pytest.fixture(params=["eager", "lazy"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def run(kind: str) -> Callable:
    """run(fn, frame, *args, **kw): call fn on the frame as DataFrame or LazyFrame and
    return a DataFrame, checking that the result kind matches the input kind."""

    def _run(fn: Callable, frame: pl.DataFrame, *args, **kw) -> pl.DataFrame:
        if kind == "lazy":
            out = fn(frame.lazy(), *args, **kw)
            assert isinstance(out, pl.LazyFrame)
            return out.collect()
        out = fn(frame, *args, **kw)
        assert isinstance(out, pl.DataFrame)
        return out

    return _run


def typed(families: Sequence[str], rows: Sequence[dict]) -> pl.DataFrame:
    """Stacked typed rows of some families; ``created_at`` values go through
    :func:`ts`, ``type`` may be given without its family prefix via ``t``, ids default
    to the row number."""
    from activity_toolkit import ActivityLog
    from activity_toolkit.analysis import typed_events

    schema = typed_events(ActivityLog.empty(), families=list(families)).schema
    data = []
    for i, r in enumerate(rows):
        r = dict(r)
        r["created_at"] = ts(r["created_at"])
        r.setdefault("id", f"ev{i:04d}")
        data.append(r)
    return pl.DataFrame(data, schema=schema)


def as_log(frame: pl.DataFrame):
    """An ActivityLog holding the rows of a stacked typed frame."""
    from activity_toolkit import ActivityLog
    from activity_toolkit.events import EVENTS_SCHEMA, family_of, frame_schema

    frame = frame.with_columns(
        pl.col("type").map_elements(family_of, return_dtype=pl.String).alias("family"),
        pl.col("type").alias("type_raw"),
    )
    events = frame.select(list(EVENTS_SCHEMA)).sort("created_at", "id")
    frames = {
        t: frame.filter(pl.col("type") == t)
        .select(list(frame_schema(t)))
        .sort("created_at", "id")
        for t in frame["type"].unique().to_list()
    }
    return ActivityLog(events, frames)
