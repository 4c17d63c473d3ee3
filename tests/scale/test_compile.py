"""The portable analyses compile to warehouse SQL through Ibis.

Each analysis is built over an *unbound* Ibis table (``ibis.table(schema,
name=...)``: no backend, no data) with the columns the README documents, and every
query the engine would run is compiled by ``ibis.to_sql`` for the dialects in
``DIALECTS``. Those are **compiled, not run**: the test checks that compiling
succeeds and that the SQL reads the table and has the window clauses the
per-unit definition needs, nothing about its results there. For DuckDB the
compiled text itself is run (by ``duckdb``, on a connection in another time zone)
and must give the local Polars path's rows, which proves the compiled text right
for one dialect.

``funnel`` and ``funnel_units`` are one lazy query each. ``funnel_trend``,
``coupon_funnel`` and ``campaign_summary`` run their small queries when called and
finish the rows locally, so they cannot take an unbound table: their queries are
built with the same functions their engine path calls, and the DuckDB rows are
finished by the same local code.

To add an analysis, add an :class:`Analysis` to ``ANALYSES`` (and a table to
``TABLES`` if it reads another one).

Seen in the compiled text and not checked by any run: Ibis writes the epoch of a
time-zone-aware timestamp for Postgres as the difference of two casts to
``TIMESTAMP`` (wall times in the session's time zone), which is off by the DST
change between the two instants unless the session time zone is UTC.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import narwhals as nw
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from activity_toolkit.analysis import (
    Exclusion,
    activity_timeline,
    campaign_summary,
    coupon_funnel,
    funnel,
    funnel_trend,
    funnel_units,
    kpis,
)
from activity_toolkit.analysis import (
    _portable_campaigns as portable_campaigns,
)
from activity_toolkit.analysis import (
    _portable_funnel as portable_funnel,
)
from activity_toolkit.analysis import (
    _portable_overview as portable_overview,
)
from tests.analysis.test_campaigns import EVENTS as JOURNEYS
from tests.scale._data import CAMPAIGN_COLUMNS, edge_events
from tests.scale.conftest import LOCAL_TZ, canonical

ibis = pytest.importorskip("ibis")
# the modules (the package exports functions of the same names)
funnel_module = importlib.import_module("activity_toolkit.analysis.funnel")
campaigns_module = importlib.import_module("activity_toolkit.analysis.campaigns")
overview_module = importlib.import_module("activity_toolkit.analysis.overview")

#: Warehouse dialects the queries are compiled for (compiled, not run). Ibis'
#: ``pyspark`` compiler needs a live session; ``databricks`` is Spark SQL.
DIALECTS = ["snowflake", "bigquery", "trino", "postgres", "databricks"]

#: The tables, with the columns and types the README documents.
TABLES: dict[str, dict[str, str]] = {
    "events": {
        "id": "string",
        "type": "string",
        "customer_id": "string",
        "created_at": "timestamp('UTC')",
        "channel": "string",  # a by= column
    },
    "campaign_rows": {
        "id": "string",
        "type": "string",
        "customer_id": "string",
        "created_at": "timestamp('UTC')",
        "voucher_code": "string",
        "campaign_id": "string",
        "campaign_name": "string",
        "campaign_type": "string",
        "failure_code": "string",
        "order_id": "string",
        "redemption_id": "string",
        "order_total_amount": "int64",
        "order_total_discount_amount": "int64",
    },
}

Queries = Callable[[Any], list[Any]]


@dataclass(frozen=True)
class Analysis:
    """One portable analysis: the queries its engine path sends for a table, how
    their collected rows become its result, and its local path on the same rows."""

    table: str
    #: an Ibis table -> the Ibis expressions the engine runs, in order
    queries: Queries
    #: their rows (Polars, same order) -> the analysis' rows
    result: Callable[[list[pl.DataFrame]], pl.DataFrame]
    #: the local Polars path on the table's rows
    local: Callable[[pl.DataFrame], pl.DataFrame]
    #: SQL fragments every compiled query of it must contain
    expect: tuple[str, ...] = ("OVER (", "PARTITION BY")


def _lazy(
    analysis: Callable[..., Any], table: str, *args: Any, **options: Any
) -> Analysis:
    """An analysis that returns the engine's lazy frame: one query, its rows are
    the result."""
    return Analysis(
        table,
        lambda t: [analysis(t, *args, **options)],
        lambda rows: rows[0],
        lambda df: analysis(df, *args, **options),
    )


STEPS = ["A", "B", "C"]

# -- funnel_trend, built as its engine path builds it ------------------------------------

TREND = {"within": "1d", "entry": "furthest", "tz": "Europe/Berlin"}
#: the data's time range (the edge events), for the zone's offsets; the engine
#: path reads it with the first query
SPAN = (
    int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000),
    int(datetime(2025, 2, 1, tzinfo=UTC).timestamp() * 1000),
)


def _trend_spec() -> Any:
    return funnel_module._spec(
        STEPS,
        within=TREND["within"],
        mode="ordered",
        entry=TREND["entry"],
        key="customer_id",
        by=None,
        exclude=None,
        time_col="created_at",
        type_col="type",
        id_col="id",
    )


def _trend_queries(table: Any) -> list[Any]:
    lf, spec = nw.from_native(table), _trend_spec()
    parts = portable_funnel.trend_parts(
        lf,
        spec,
        [],
        [],
        period="week",
        week_start=0,
        offsets=funnel_module._zone_offsets(TREND["tz"], *SPAN),
        until_ms=None,
    )
    return [portable_funnel.trend_span(lf, spec, None).to_native(), parts.to_native()]


def _trend_result(rows: list[pl.DataFrame]) -> pl.DataFrame:
    span, parts = rows
    calendar = funnel_module._Calendar("week", TREND["tz"], 0, None)
    return funnel_module._trend_from_parts(
        parts, span["hi"][0], _trend_spec(), calendar
    )


# -- the campaign analyses -------------------------------------------------------------


def _campaign_rows(table: Any) -> Any:
    return campaigns_module._engine_frame(table)


# -- the overview, built as its engine path builds it -----------------------------------

#: weeks from Wednesday in Berlin; the month before November 2024 in Berlin (an
#: ``end`` given, so the bounds need no query of the data)
TIMELINE = {"period": "week", "tz": "Europe/Berlin", "week_start": "wednesday"}
KPIS = {
    "period": "month",
    "tz": "Europe/Berlin",
    "end": datetime(2024, 10, 31, 23, tzinfo=UTC),
}


def _overview_rows(table: Any) -> Any:
    return portable_overview.event_rows(nw.from_native(table))


def _timeline_queries(table: Any) -> list[Any]:
    offsets = funnel_module._zone_offsets(TIMELINE["tz"], *SPAN)
    parts = portable_overview.timeline_parts(
        _overview_rows(table), period="week", week_start=2, offsets=offsets
    )
    return [parts.to_native()]


def _timeline_result(rows: list[pl.DataFrame]) -> pl.DataFrame:
    return overview_module._timeline_from_parts(
        rows[0], period="week", tz=TIMELINE["tz"], week_start=2
    )


def _kpis_bounds() -> pl.DataFrame:
    return overview_module._engine_bounds(
        KPIS["end"], None, period="month", tz=KPIS["tz"], week_start=0
    )


def _kpis_queries(table: Any) -> list[Any]:
    edges = overview_module._edges(_kpis_bounds())
    return [portable_overview.kpi_parts(_overview_rows(table), edges).to_native()]


ANALYSES: dict[str, Analysis] = {
    "funnel_units ordered 1d furthest": _lazy(
        funnel_units, "events", STEPS, within="1d", entry="furthest"
    ),
    "funnel_units strict exclusion": _lazy(
        funnel_units,
        "events",
        STEPS,
        mode="strict",
        within="1d",
        exclude=Exclusion("X", from_step=2),
    ),
    "funnel_units unordered 1d": _lazy(
        funnel_units, "events", STEPS, mode="unordered", within="1d"
    ),
    "funnel ordered 7d by": _lazy(funnel, "events", STEPS, within="7d", by="channel"),
    "funnel strict": _lazy(funnel, "events", STEPS, mode="strict"),
    "funnel unordered 1d furthest": _lazy(
        funnel, "events", STEPS, mode="unordered", within="1d", entry="furthest"
    ),
    "funnel reached exclusion": _lazy(
        funnel, "events", STEPS, mode="reached", exclude="Y"
    ),
    "funnel_trend weekly, Berlin": Analysis(
        "events",
        _trend_queries,
        _trend_result,
        lambda df: funnel_trend(df, STEPS, **TREND),
        expect=(),  # the span query has no window; the parts query is checked below
    ),
    "coupon_funnel": Analysis(
        "campaign_rows",
        lambda t: [
            portable_campaigns.coupon_parts(_campaign_rows(t), None).to_native()
        ],
        lambda rows: campaigns_module._coupon_from_parts(rows[0]),
        coupon_funnel,
    ),
    "coupon_funnel campaign": Analysis(
        "campaign_rows",
        lambda t: [
            portable_campaigns.coupon_parts(_campaign_rows(t), "Welcome").to_native()
        ],
        lambda rows: campaigns_module._coupon_from_parts(rows[0]),
        lambda df: coupon_funnel(df, campaign="Welcome"),
    ),
    "campaign_summary": Analysis(
        "campaign_rows",
        lambda t: [
            q.to_native()
            for q in portable_campaigns.campaign_parts(_campaign_rows(t), top=2)
        ],
        lambda rows: campaigns_module._summary_from_parts(*rows),
        lambda df: campaign_summary(df, top=2),
    ),
    "activity_timeline weekly from Wednesday, Berlin": Analysis(
        "events",
        _timeline_queries,
        _timeline_result,
        lambda df: activity_timeline(df, **TIMELINE),
        expect=("GROUP BY",),
    ),
    "kpis monthly, Berlin": Analysis(
        "events",
        _kpis_queries,
        lambda rows: overview_module._kpis_from_parts(rows, _kpis_bounds()),
        lambda df: kpis(df, **KPIS),
        expect=("SUM(", "DISTINCT"),
    ),
}


def unbound(table: str) -> Any:
    return ibis.table(TABLES[table], name=table)


def rows_of(table: str) -> pl.DataFrame:
    """The rows the DuckDB run reads, in the documented types."""
    if table == "events":
        df = edge_events(40, seed=6, tz="UTC")
    else:
        df = JOURNEYS.select([c for c in CAMPAIGN_COLUMNS if c in JOURNEYS.columns])
    schema = ibis.schema(TABLES[table]).to_polars()
    return df.select(
        pl.col(c).cast(schema[c])
        if c in df.columns
        else pl.lit(None, schema[c]).alias(c)
        for c in schema
    )


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("name", list(ANALYSES))
def test_compiles_for_warehouses(name: str, dialect: str):
    analysis = ANALYSES[name]
    queries = analysis.queries(unbound(analysis.table))
    assert queries
    for query in queries:
        sql = ibis.to_sql(query, dialect=dialect)
        assert analysis.table in sql
        for fragment in analysis.expect:
            assert fragment in sql, (name, dialect, fragment)
    if name.startswith("funnel_trend"):
        parts = ibis.to_sql(queries[-1], dialect=dialect)
        assert "OVER (" in parts
        assert "PARTITION BY" in parts


@pytest.fixture(scope="module")
def duckdb_tables() -> Any:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET TimeZone='{LOCAL_TZ}'")  # results must not depend on it
    for table in TABLES:
        con.from_arrow(rows_of(table).to_arrow()).create(table)
    yield con
    con.close()


@pytest.mark.parametrize("name", list(ANALYSES))
def test_duckdb_runs_the_compiled_sql(duckdb_tables: Any, name: str):
    """The DuckDB SQL text, run by duckdb, gives the local path's rows.

    Its rows are cast to the query's Ibis schema, as an Ibis backend does when it
    fetches a result: Ibis drops a cast that its own types make a no-op
    (``sum`` of an ``int64`` is an ``int64`` to Ibis), while DuckDB sums integers
    to a 128-bit integer."""
    analysis = ANALYSES[name]
    rows = [
        duckdb_tables.sql(ibis.to_sql(query, dialect="duckdb"))
        .pl()
        .cast(dict(query.schema().to_polars()))
        for query in analysis.queries(unbound(analysis.table))
    ]
    local = analysis.local(rows_of(analysis.table))
    assert local.height > 0
    assert_frame_equal(canonical(analysis.result(rows)), canonical(local))
