"""The portable points analyses (:mod:`activity_toolkit.analysis._portable_points`)
give the local Polars rows — every period, cohort and ``by`` group, every card
behind a liability — on Polars (narwhals over a LazyFrame), DuckDB, Ibis and PySpark
``local[2]``: random ledgers with every kind of move, same-millisecond ties, month
ends, daylight-saving nights and expiries (:mod:`tests.scale._loyalty_cases`), the
sample, and a store's four points family tables stacked by DuckDB."""

from __future__ import annotations

from typing import Any

import narwhals as nw
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activity_toolkit import analysis
from activity_toolkit.analysis import (
    breakage,
    params_of,
    points_flows,
    points_liability,
)
from activity_toolkit.analysis._portable_points import FAMILIES
from activity_toolkit.exceptions import AnalysisInputError, MissingColumnsError
from tests.scale._loyalty_cases import (
    POINTS_CASES,
    POINTS_COVERING,
    POINTS_SCHEMA,
    POINTS_SPARK,
    P,
    check_same,
    engine_cases,
    points_events,
    run_case,
    spark_failures,
)
from tests.scale.conftest import Engine


def run(case: str, data: Any) -> Any:
    return run_case(POINTS_CASES, case, data)


@pytest.fixture(scope="module")
def ledger() -> pl.DataFrame:
    return points_events(40, seed=1)


@pytest.mark.parametrize(
    ("engine", "case"), engine_cases(POINTS_CASES, POINTS_COVERING), indirect=["engine"]
)
def test_every_function_and_option(engine: Engine, ledger: pl.DataFrame, case: str):
    out = run(case, engine(ledger))
    assert isinstance(out, engine.native_type)
    check_same(run(case, ledger), out)


@pytest.mark.parametrize("tz", ["Europe/Berlin", None])
def test_time_zones_and_naive_times(engine: Engine, tz: str | None):
    """Times in another zone are instants, naive times are UTC."""
    events = points_events(30, seed=2, tz=tz)
    for case in ("flows-day-berlin-by", "breakage-month", "liability-by2-at-mid"):
        check_same(run(case, events), run(case, engine(events)))


@pytest.mark.parametrize("engine", ["polars"], indirect=True)
@pytest.mark.parametrize("seed", [3, 4])
def test_more_ledgers(engine: Engine, seed: int):
    events = points_events(60, seed=seed)
    frame = engine(events)
    for case in POINTS_CASES:
        check_same(run(case, events), run(case, frame))


def test_sample(engine: Engine):
    from activity_toolkit import sample

    rows = analysis.typed_events(
        sample(customers=40, seed=5), families=FAMILIES, columns=list(POINTS_SCHEMA)
    )
    frame = engine(rows)
    for case in ("flows-month", "breakage-month", "liability"):
        check_same(run(case, rows), run(case, frame))


def test_store_family_tables(tmp_path):
    """DuckDB over the four family tables of a store, stacked by column name (as
    the points docs say), gives the local rows of the same events."""
    import duckdb

    from activity_toolkit import sample, store_paths

    log = sample(customers=30, seed=7)
    paths = store_paths(log.write_parquet(tmp_path / "store"))
    globs = [paths.glob(f) for f in FAMILIES if f in paths.tables]
    table = duckdb.read_parquet(globs, union_by_name=True, hive_partitioning=True)
    rows = analysis.typed_events(log, families=FAMILIES)
    for case in ("flows-day-berlin-by", "breakage-day-berlin", "liability-total-at"):
        check_same(run(case, rows), run(case, table))


def test_result_records_params_and_engine(engine: Engine, ledger: pl.DataFrame):
    out = points_liability(
        engine(ledger), value_per_point=0.5, expected_breakage=0.1, by=None
    )
    params = params_of(out)
    assert params is not None
    assert params["value_per_point"] == 0.5
    assert any(n.startswith(f"computed by {engine.name}") for n in params.notes)


def test_engine_input_errors(engine: Engine, ledger: pl.DataFrame):
    with pytest.raises(MissingColumnsError, match="'id'"):
        points_flows(engine(ledger.drop("id")))
    with pytest.raises(MissingColumnsError, match="typed columns"):
        breakage(engine(ledger.select("id", "type", "customer_id", "created_at")))
    with pytest.raises(AnalysisInputError, match="by column"):
        points_flows(engine(ledger), by="segment")
    with pytest.raises(AnalysisInputError, match="by column"):
        points_liability(
            engine(ledger), value_per_point=1, expected_breakage=0, by="segment"
        )
    with pytest.raises(AnalysisInputError, match="expected_breakage"):
        points_liability(engine(ledger), value_per_point=1, expected_breakage=1.0)


def test_deprecated_every_on_an_engine(engine: Engine, ledger: pl.DataFrame):
    with pytest.warns(DeprecationWarning, match="every"):
        out = breakage(engine(ledger), every="1w")
    check_same(breakage(ledger, period="week"), out)


def test_optional_columns_missing(engine: Engine, ledger: pl.DataFrame):
    """Without ``campaign_id``, ``voucher_code`` and ``group_id`` (cards by customer,
    no duplicate activations found) and with one typed column only."""
    bare = ledger.drop("campaign_id", "voucher_code", "group_id")
    for case in ("flows-day-berlin-by", "breakage-month", "liability"):
        check_same(run(case, bare), run(case, engine(bare)))
    earned = ledger.select("id", "type", "customer_id", "created_at", "points_change")
    check_same(run("flows-month", earned), run("flows-month", engine(earned)))


def test_points_held_as_floats(engine: Engine, ledger: pl.DataFrame):
    """Points stored as floats with fractions are cut toward zero as Polars' cast
    cuts them (a SQL CAST rounds: outstanding points differed by a few)."""
    values = [
        c
        for c, dtype in ledger.schema.items()
        if dtype.is_integer() and c not in ("id", "customer_id")
    ]
    assert {"points", "balance", "points_change"} <= set(values)
    floats = ledger.with_columns(
        pl.when(pl.col(c) < 0).then(pl.col(c) - 0.5).otherwise(pl.col(c) + 0.5)
        for c in values
    )
    for fn in (
        points_flows,
        breakage,
        lambda d: points_liability(d, value_per_point=0.01, expected_breakage=0.1),
        lambda d: analysis.kpis(d),
    ):
        check_same(fn(floats), fn(engine(floats)))


def test_empty_input(engine: Engine, ledger: pl.DataFrame):
    empty = ledger.clear()
    for case in ("flows-month", "breakage-month", "liability", "liability-total-at"):
        check_same(run(case, empty), run(case, engine(empty)))


# -- random ledgers -----------------------------------------------------------------------

MOVES = {
    "add": (P + "points_added", "points_change", 1),
    "spend": ("customer.reward_redemptions.completed", "reward_points", 1),
    "expire": (P + "points_expired", "expired_points", 1),
    "out": (P + "points_transferred", "points_change", -1),
    "in": (P + "points_transferred", "points_change", 1),
}


@st.composite
def ledgers(draw: st.DrawFn) -> pl.DataFrame:
    rows = []
    for i in range(draw(st.integers(0, 14))):
        type_, column, sign = MOVES[draw(st.sampled_from(sorted(MOVES)))]
        row = {
            "id": f"e{i:02d}",
            "type": type_,
            "customer_id": "u1",
            "voucher_code": draw(st.sampled_from(["L1", "L2"])),
            "created_at": draw(st.sampled_from([0, 1, 2_678_400_000])),
            column: sign * draw(st.integers(1, 50)),
        }
        if draw(st.booleans()):
            row["balance"] = draw(st.integers(0, 100))
        rows.append(row)
    ids = draw(st.permutations([r["id"] for r in rows]))  # ties broken either way
    for r, i in zip(rows, ids, strict=True):
        r["id"] = i
    schema = {**POINTS_SCHEMA, "created_at": pl.Int64}
    return pl.DataFrame(rows, schema=schema).with_columns(
        pl.col("created_at").cast(pl.Datetime("ms", "UTC"))
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=ledgers())
def test_random_ledgers_on_polars(events: pl.DataFrame):
    frame = nw.from_native(events.lazy())
    for case in ("flows-day-berlin-by", "breakage-month", "liability-total-at"):
        check_same(run(case, events), run(case, frame))


# -- PySpark ------------------------------------------------------------------------------


@pytest.mark.slow
def test_on_spark(spark_engine: Engine):
    """The Spark cases in one function (one query costs seconds): the ledgers in
    Berlin time, each function once."""
    events = points_events(30, seed=6, tz="Europe/Berlin")
    assert spark_failures(spark_engine, POINTS_CASES, POINTS_SPARK, events) == []
