"""The portable tier analyses (:mod:`activity_toolkit.analysis._portable_tiers`) give
the local Polars rows — every spell, path and period of every member — on Polars
(narwhals over a LazyFrame), DuckDB, Ibis and PySpark ``local[2]``: random journeys
with same-millisecond ties, open spells, month ends and daylight-saving nights
(:mod:`tests.scale._loyalty_cases`), the sample, a store's ``tier`` family table, and
the calendar periods of several time zones instant by instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import narwhals as nw
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activity_toolkit import analysis
from activity_toolkit.analysis import params_of, tier_distribution, tier_spells
from activity_toolkit.analysis._engine import (
    period_key,
    period_starts,
    wrap,
    zone_offsets,
)
from activity_toolkit.analysis._periods import bucket, weekday
from activity_toolkit.exceptions import AnalysisInputError, MissingColumnsError
from tests.scale._loyalty_cases import (
    TIER_CASES,
    TIER_COVERING,
    TIER_SCHEMA,
    TIER_SPARK,
    T,
    check_same,
    engine_cases,
    run_case,
    spark_failures,
    tier_events,
)
from tests.scale.conftest import Engine, to_polars


def run(case: str, data: Any) -> Any:
    return run_case(TIER_CASES, case, data)


@pytest.fixture(scope="module")
def tiers() -> pl.DataFrame:
    return tier_events(60, seed=1)


@pytest.mark.parametrize(
    ("engine", "case"), engine_cases(TIER_CASES, TIER_COVERING), indirect=["engine"]
)
def test_every_function_and_option(engine: Engine, tiers: pl.DataFrame, case: str):
    out = run(case, engine(tiers))
    assert isinstance(out, engine.native_type)
    check_same(run(case, tiers), out)


@pytest.mark.parametrize("tz", ["Europe/Berlin", None])
def test_time_zones_and_naive_times(engine: Engine, tz: str | None):
    """Times in another zone are instants, naive times are UTC."""
    events = tier_events(40, seed=2, tz=tz)
    for case in ("spells", "distribution-day-berlin", "time-summary"):
        check_same(run(case, events), run(case, engine(events)))


@pytest.mark.parametrize("engine", ["polars"], indirect=True)
@pytest.mark.parametrize("seed", [3, 4])
def test_more_journeys(engine: Engine, seed: int):
    events = tier_events(80, seed=seed)
    frame = engine(events)
    for case in TIER_CASES:
        check_same(run(case, events), run(case, frame))


def test_sample(engine: Engine):
    from activity_toolkit import sample

    rows = analysis.typed_events(
        sample(customers=40, seed=5), families="tier", columns=list(TIER_SCHEMA)
    )
    frame = engine(rows)
    for case in ("spells", "path", "transitions-period", "distribution-month"):
        check_same(run(case, rows), run(case, frame))


def test_store_family_table(tmp_path):
    """DuckDB over the ``tier`` table of a store (as :func:`store_paths` documents
    it) gives the local rows of the same events."""
    import duckdb

    from activity_toolkit import sample, store_paths

    log = sample(customers=30, seed=7)
    store = log.write_parquet(tmp_path / "store")
    table = duckdb.read_parquet(store_paths(store).glob("tier"), hive_partitioning=True)
    rows = analysis.typed_events(log, families="tier")
    for case in ("spells", "path", "distribution-day-berlin", "time-curve"):
        check_same(run(case, rows), run(case, table))


def test_result_records_params_and_engine(engine: Engine, tiers: pl.DataFrame):
    out = tier_distribution(engine(tiers), period="week", tz="Europe/Berlin")
    params = params_of(out)
    assert params is not None
    assert params["tz"] == "Europe/Berlin"
    assert any(n.startswith(f"computed by {engine.name}") for n in params.notes)


def test_engine_input_errors(engine: Engine, tiers: pl.DataFrame):
    with pytest.raises(MissingColumnsError, match="'id'"):
        tier_spells(engine(tiers.drop("id")))
    with pytest.raises(MissingColumnsError, match="'campaign_id'"):
        tier_spells(engine(tiers.drop("campaign_id")))
    with pytest.raises(MissingColumnsError, match="typed columns"):
        tier_spells(
            engine(
                tiers.select("id", "type", "customer_id", "campaign_id", "created_at")
            )
        )
    dates = tiers.with_columns(pl.col("created_at").dt.date())
    with pytest.raises(AnalysisInputError, match="must be a Datetime"):
        tier_spells(engine(dates))
    with pytest.raises(AnalysisInputError, match="level"):
        analysis.tier_transitions(engine(tiers), level="monthly")  # type: ignore[arg-type]


def test_deprecated_every_on_an_engine(engine: Engine, tiers: pl.DataFrame):
    with pytest.warns(DeprecationWarning, match="every"):
        out = tier_distribution(engine(tiers), every="1mo")
    check_same(tier_distribution(tiers), out)


def test_missing_tier_columns_are_nulls(engine: Engine):
    """Only ``tier_id`` (no names, no from/to): the ids stand in for the names and
    upgrades keep the state, as locally."""
    events = tier_events(30, seed=5).select(
        "id", "type", "customer_id", "campaign_id", "created_at", "tier_id"
    )
    for case in ("spells", "path", "transitions-event"):
        check_same(run(case, events), run(case, engine(events)))


def test_empty_input(engine: Engine, tiers: pl.DataFrame):
    empty = tiers.clear()
    for case in ("spells", "path", "distribution-day-berlin", "time-summary"):
        check_same(run(case, empty), run(case, engine(empty)))


# -- calendar periods on an engine --------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",  # +05:30, no DST
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "America/St_Johns",  # -03:30 with DST
    "Pacific/Apia",  # skipped 30 December 2011
]


def _instants() -> pl.DataFrame:
    """Instants every 15 minutes around the DST nights and year ends of a few
    years, and a millisecond either side of each UTC midnight of 2011-2012."""
    starts = [
        datetime(2011, 12, 28, tzinfo=UTC),
        datetime(2024, 3, 29, tzinfo=UTC),
        datetime(2024, 10, 25, tzinfo=UTC),
        datetime(2024, 3, 30, tzinfo=UTC),
        datetime(2024, 4, 5, tzinfo=UTC),
        datetime(1969, 12, 30, tzinfo=UTC),
    ]
    ms: list[int] = []
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for s in starts:
        first = (s - epoch) // timedelta(milliseconds=1)
        ms += [first + k * 900_000 for k in range(4 * 24 * 5)]
    day = 86_400_000
    for d in range(15_000, 15_500, 7):
        ms += [d * day - 1, d * day, d * day + 1]
    return pl.DataFrame({"_ms": ms}, schema={"_ms": pl.Int64}).with_columns(
        pl.col("_ms").cast(pl.Datetime("ms", "UTC")).alias("t")
    )


@pytest.mark.parametrize(
    ("engine", "tz"),
    [
        *[("polars", tz) for tz in ZONES],
        # a query costs a DuckDB or Ibis plan: two zones with DST there
        *[
            (e, tz)
            for e in ("duckdb", "ibis")
            for tz in ("Europe/Berlin", "America/St_Johns")
        ],
    ],
    indirect=["engine"],
)
def test_period_keys_are_polars_buckets(engine: Engine, tz: str):
    """Every instant's period key, turned back into a period start, is the local
    path's bucket, and each period has its own key."""
    instants = _instants()
    if engine.name != "polars":
        # 2024 only: a few offset changes, so a plan of a few nodes (Polars runs
        # the decades, with their hundred changes, and the days before 1970)
        instants = instants.filter(pl.col("t").dt.year() == 2024)
    lo, hi = instants["_ms"].min(), instants["_ms"].max()
    offsets = zone_offsets(tz, lo, hi)  # type: ignore[arg-type]
    for period, week_start in [
        ("day", "monday"),
        ("week", "monday"),
        ("week", "sunday"),
        ("month", "monday"),
        ("quarter", "monday"),
        ("year", "monday"),
    ]:
        ws = weekday(week_start)
        keyed = period_key(
            wrap(engine(instants.select("_ms"))),
            "_ms",
            "_key",
            period=period,
            week_start=ws,
            offsets=offsets,
        )
        got = period_starts(
            to_polars(keyed).sort("_ms"),
            "_ms",
            "start",
            period=period,
            tz=tz,
            week_start=ws,
        )
        want = instants.sort("_ms").select(bucket("t", period, tz, ws).alias("start"))
        assert got["start"].to_list() == want["start"].to_list(), (period, week_start)
        # one key per period, growing with the period
        pairs = got.select("_key", "start").unique().sort("start")
        assert pairs["_key"].n_unique() == pairs["start"].n_unique() == pairs.height
        assert (pairs["_key"].diff().drop_nulls() > 0).all()


def test_zone_offsets_find_each_change_to_the_millisecond():
    spring = int(datetime(2024, 3, 31, 1, tzinfo=UTC).timestamp() * 1000)
    autumn = int(datetime(2024, 10, 27, 1, tzinfo=UTC).timestamp() * 1000)
    offsets = zone_offsets("Europe/Berlin", spring - 5 * 86_400_000, autumn + 1)
    assert offsets == [(None, 3_600_000), (spring, 7_200_000), (autumn, 3_600_000)]
    assert zone_offsets("UTC", 0, 10**12) == [(None, 0)]
    assert zone_offsets("Europe/Berlin", None, None) == [(None, 0)]


# -- random journeys ----------------------------------------------------------------------

KINDS = ["joined", "upgraded", "downgraded", "left", "prolonged"]


@st.composite
def journeys(draw: st.DrawFn) -> pl.DataFrame:
    rows = []
    for i in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(KINDS))
        tier = draw(st.sampled_from(["b", "s", None]))
        rows.append(
            {
                "id": f"e{i:02d}",
                "type": T + kind,
                "customer_id": draw(st.sampled_from(["u1", "u2"])),
                "campaign_id": draw(st.sampled_from(["k", None])),
                "created_at": draw(st.sampled_from([0, 1, 86_400_000])),
                "tier_id": tier if kind not in ("upgraded", "downgraded") else None,
                "tier_to_id": tier if kind in ("upgraded", "downgraded") else None,
            }
        )
    ids = draw(st.permutations([r["id"] for r in rows]))  # ties broken either way
    for r, i in zip(rows, ids, strict=True):
        r["id"] = i
    schema = {c: TIER_SCHEMA[c] for c in ("id", "type", "customer_id", "campaign_id")}
    return pl.DataFrame(
        rows,
        schema={
            **schema,
            "created_at": pl.Int64,
            "tier_id": pl.String,
            "tier_to_id": pl.String,
        },
    ).with_columns(pl.col("created_at").cast(pl.Datetime("ms", "UTC")))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=journeys())
def test_random_journeys_on_polars(events: pl.DataFrame):
    frame = nw.from_native(events.lazy())
    for case in (
        "spells",
        "path",
        "transitions-period",
        "time-curve",
        "distribution-day-berlin",
    ):
        check_same(run(case, events), run(case, frame))


# -- PySpark ------------------------------------------------------------------------------


@pytest.mark.slow
def test_on_spark(spark_engine: Engine):
    """The Spark cases in one function (one query costs seconds): the journeys in
    Berlin time, each function once."""
    events = tier_events(40, seed=6, tz="Europe/Berlin")
    assert spark_failures(spark_engine, TIER_CASES, TIER_SPARK, events) == []


def test_distribution_end_hides_later_events(engine: Engine):
    from tests.analysis.test_tiers import B, ev, frame

    events = frame(
        ev("c1", "2024-05-10T00:00:00Z", "joined", B),
        ev("c2", "2024-06-01T00:00:00Z", "joined", B),
        ev("c1", "2024-06-20T00:00:00Z", "left", B),
    )
    out = to_polars(tier_distribution(engine(events), end="2024-06-15"))
    assert out.select("members", "complete").rows() == [(1, True), (2, False)]
    early = tier_distribution(engine(events), end="2024-05-01")
    assert to_polars(early).is_empty()
