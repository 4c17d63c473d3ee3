"""Typed inputs for the loyalty and campaign analyses.

Those analyses need the typed columns of some event families (``tier_id``, ``points``,
``redemption_result``…). They take an :class:`~activity_toolkit.ActivityLog`, whose
typed frames are stacked with :func:`typed_events`, or a DataFrame / LazyFrame that
already holds the stacked rows (for example the same stack written to Parquet and
scanned lazily). Typed columns missing from a frame are added as nulls of the
registry's type, so a frame with only ``joined`` events still works.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import polars as pl

from activity_toolkit.analysis._common import Kind, as_lazy, require_columns, utc_ms
from activity_toolkit.events import (
    EVENT_COLUMNS,
    FAMILIES,
    REGISTRY,
    canonical_type,
    frame_schema,
)
from activity_toolkit.exceptions import AnalysisInputError, MissingColumnsError
from activity_toolkit.model import ActivityLog

__all__ = ["family_types", "typed_events", "typed_input"]


def family_types(families: Iterable[str]) -> list[str]:
    """Canonical event types of the given families, in registry order."""
    out: list[str] = []
    for fam in families:
        if fam not in FAMILIES:
            msg = f"unknown event family {fam!r}; known: {sorted(FAMILIES)}"
            raise AnalysisInputError(msg)
        out.extend(FAMILIES[fam])
    return out


def _schema_for(types: Sequence[str]) -> dict[str, pl.DataType]:
    schema: dict[str, pl.DataType] = {}
    for t in types:
        for name, dtype in frame_schema(t).items():
            schema.setdefault(name, dtype)
    return schema


def typed_events(
    log: ActivityLog,
    *,
    families: str | Sequence[str] | None = None,
    types: str | Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    """The typed frames of some families or types stacked into one frame.

    Every column of every selected type is present (null where a type does not have
    it); rows are sorted by (``created_at``, ``id``).

    Parameters
    ----------
    log
        The activity log.
    families
        Event families, e.g. ``"tier"`` or ``["points", "pending_points"]``.
    types
        Event types (aliases accepted). Combined with ``families`` as a union.
    columns
        Keep only these columns (those the types have); default: all. Stacking
        fewer columns is much cheaper (list and struct fields are the costly ones).

    Examples
    --------
    >>> from activity_toolkit import sample
    >>> tiers = typed_events(sample(customers=30, seed=1), families="tier")
    >>> {"tier_id", "tier_to_name"} <= set(tiers.columns)
    True
    """
    wanted: list[str] = []
    if families is not None:
        wanted += family_types([families] if isinstance(families, str) else families)
    if types is not None:
        wanted += [
            canonical_type(t) for t in ([types] if isinstance(types, str) else types)
        ]
    wanted = list(dict.fromkeys(wanted))
    if not wanted:
        msg = "give families= or types= to choose what to stack"
        raise AnalysisInputError(msg)
    unknown = [t for t in wanted if t not in REGISTRY]
    if unknown:
        msg = f"unknown event type(s) {unknown}"
        raise AnalysisInputError(msg)
    schema = _schema_for(wanted)
    if columns is not None:
        keep = set(columns) | {"created_at", "id"}
        schema = {c: d for c, d in schema.items() if c in keep}
    frames = [
        log[t].select([c for c in log[t].columns if c in schema])
        for t in wanted
        if t in log.frames
    ]
    if not frames:
        return pl.DataFrame(schema=schema)
    stacked = pl.concat(frames, how="diagonal_relaxed")
    missing = [
        pl.lit(None, dtype=d).alias(c)
        for c, d in schema.items()
        if c not in stacked.columns
    ]
    return stacked.with_columns(missing).select(list(schema)).sort("created_at", "id")


def typed_input(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame,
    *,
    families: Sequence[str],
    required: Sequence[str],
    typed: Sequence[str],
    what: str,
) -> tuple[pl.LazyFrame, Kind]:
    """Input of a typed analysis as a LazyFrame restricted to ``families``.

    ``required`` columns must be present; of the ``typed`` columns at least one must
    be present (the others are added as nulls). ``created_at`` is normalised to
    ``Datetime("ms", "UTC")`` and an ``id`` column is added from the row order when
    there is none.
    """
    types = family_types(families)
    schema = _schema_for(types)
    if isinstance(data, ActivityLog):
        # the common columns (not the raw payload text) and the typed ones this
        # analysis reads, nothing else
        common = [c for c in EVENT_COLUMNS if c != "payload"]
        lf: pl.LazyFrame = typed_events(
            data, families=list(families), columns=[*common, *typed]
        ).lazy()
        kind: Kind = "eager"
    else:
        lf, kind = as_lazy(data, what=what)
    have = lf.collect_schema()
    require_columns(have, required, what=what)
    if typed and not any(c in have for c in typed):
        raise MissingColumnsError(typed, list(have), what=f"{what} (typed columns)")
    add = [pl.lit(None, dtype=schema[c]).alias(c) for c in typed if c not in have]
    if "id" not in have:
        lf = lf.with_row_index("id").with_columns(
            pl.col("id").cast(pl.String).str.zfill(12)
        )
    lf = lf.with_columns(*add, utc_ms("created_at", have).alias("created_at")).filter(
        pl.col("type").is_in(types)
    )
    return lf, kind


def typed_schema(families: Sequence[str]) -> Mapping[str, pl.DataType]:
    """The stacked schema of some families (for empty results)."""
    return _schema_for(family_types(families))
