"""The portable retention (:mod:`activity_toolkit.analysis._portable_cohort`) gives the
local Polars results, cohort by cohort and period by period, on Polars (narwhals over a
LazyFrame), DuckDB, Ibis and PySpark, and the recorded retentioneering 3 cohorts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from activity_toolkit.analysis import params_of, retention, retention_matrix
from activity_toolkit.analysis._engine import period_key, zone_offsets
from activity_toolkit.analysis._periods import floor, index
from activity_toolkit.exceptions import AnalysisInputError, MissingColumnsError
from tests.scale._cohort_cases import (
    COVERING_CASES,
    MATRIX_CASES,
    RETENTION_CASES,
    case_id,
    cohort_events,
    grid_cases,
)
from tests.scale.conftest import Engine, canonical, to_polars

R3_CASES = Path(__file__).parents[1] / "analysis" / "data" / "r3_cohort_cases.json"
DAY_MS = 86_400_000


def check_same(local: pl.DataFrame, engine_result: Any) -> None:
    assert_frame_equal(canonical(to_polars(engine_result)), canonical(local))


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    return cohort_events(80, seed=1, tz="Europe/Berlin")


def _params(full: list[str], covering: list[str]) -> list[tuple[str, str]]:
    return [
        *[("polars", c) for c in full],
        *[("duckdb", c) for c in full],
        *[("ibis", c) for c in covering],
    ]


@pytest.mark.parametrize(
    ("engine", "case"),
    _params(list(RETENTION_CASES), COVERING_CASES),
    indirect=["engine"],
)
def test_retention_per_cohort_and_period(
    engine: Engine, events: pl.DataFrame, case: str
):
    options = RETENTION_CASES[case]
    out = retention(engine(events), **options)
    assert isinstance(out, engine.native_type)
    check_same(retention(events, **options), out)


def test_the_cases_hit_the_edges(events: pl.DataFrame):
    """The fixture is what the cases claim: cohorts without returns, zero cells,
    unobservable cells and rolling returns exactly on a period edge."""
    out = retention(events, period="month")
    lone = out.filter(pl.col("cohort") == datetime(2023, 11, 1, tzinfo=UTC))
    assert lone["cohort_size"].to_list()[0] == 1
    assert lone.filter(pl.col("period") > 0)["active"].max() == 0
    assert lone.height > 12
    assert (out["active"] == 0).any()
    assert (~out["observable"]).any()
    assert (
        retention(events, period="month", returning="Z")
        .filter(pl.col("period") > 0)["active"]
        .max()
        == 0
    )
    ms = events.select(
        "customer_id", pl.col("created_at").dt.epoch("ms").alias("ms")
    ).with_columns((pl.col("ms") - pl.col("ms").min().over("customer_id")).alias("d"))
    assert ms.filter(pl.col("d") == 7 * DAY_MS).height > 0
    ties = events.group_by("customer_id", "created_at").len()
    assert (ties["len"] > 1).any()


@pytest.mark.parametrize("options", grid_cases(), ids=case_id)
def test_every_rule_combination_on_polars(events: pl.DataFrame, options: dict):
    check_same(
        retention(events, **options),
        retention(nw.from_native(events.lazy()), **options),
    )


@pytest.mark.parametrize("options", grid_cases()[::4], ids=case_id)
def test_rule_combinations_on_duckdb(
    duck_connection: Any, events: pl.DataFrame, options: dict
):
    frame = duck_connection.from_arrow(events.to_arrow())
    check_same(retention(events, **options), retention(frame, **options))


@pytest.mark.parametrize(("case", "periods"), MATRIX_CASES)
def test_matrix(engine: Engine, events: pl.DataFrame, case: str, periods: int | None):
    options = {**RETENTION_CASES[case], "periods": periods}
    out = retention_matrix(engine(events), **options)
    assert isinstance(out, engine.native_type)
    check_same(retention_matrix(events, **options), out)


@pytest.mark.parametrize("tz", ["America/New_York", None])
def test_input_time_zones_and_precision(engine: Engine, tz: str | None):
    """Tz-aware times in any zone are instants, naive times are UTC; microseconds are
    floored to the millisecond as on Polars; a Date column is midnight UTC."""
    base = cohort_events(30, seed=2, tz=tz)
    micro = base.with_columns(
        pl.col("created_at").dt.cast_time_unit("us")
        + pl.duration(microseconds=pl.int_range(pl.len()) % 1000)
    )
    dated = base.with_columns(pl.col("created_at").dt.date())
    for frame, options in (
        (base, {"period": "month", "tz": "Europe/Berlin"}),
        (micro, {"period": "day", "rolling": True, "end": "2024-03-11T06:30:00.0005"}),
        (dated, {"period": "week", "cohort": "recurring"}),
    ):
        check_same(retention(frame, **options), retention(engine(frame), **options))


def test_columns_named_otherwise(engine: Engine, events: pl.DataFrame):
    renamed = events.rename(
        {"customer_id": "member", "created_at": "t", "type": "kind"}
    )
    options = {
        "key": "member",
        "time_col": "t",
        "type_col": "kind",
        "start": "A",
        "period": "month",
    }
    check_same(retention(renamed, **options), retention(engine(renamed), **options))


def test_recorded_retentioneering_cohorts(engine: Engine):
    """The 60 recorded retentioneering 3.3.0 ``Cohorts`` cases, monthly and weekly,
    in one query per period (see :func:`_recorded_cases`); a case's cells must be
    exactly retentioneering's non-NaN cells, with its rates."""
    recorded = json.loads(R3_CASES.read_text())
    for unit in ("M", "W"):
        events, expected = _recorded_cases(recorded["cases"], recorded["start"], unit)
        got = _nonzero_cells(retention(engine(events), period=PERIOD[unit]), unit)
        assert got.keys() == expected.keys()
        assert all(got[k] == pytest.approx(v) for k, v in expected.items())


PERIOD = {"M": "month", "W": "week"}
#: Monthly case k is moved 4 x YEAR_SHIFTS[k] years (same months, a leap year for a
#: leap year: 1900 is left out), weekly case k by 20k weeks (same weekdays), so cases
#: never share a cohort. Each case spans 2023-12-20 + 120 days.
YEAR_SHIFTS = [j for j in range(-42, 19) if 2024 + 4 * j != 1900]
WEEK_SHIFT = timedelta(weeks=20)
FIRST_WEEK = date(2023, 12, 18)


def _recorded_cases(
    cases: list[dict[str, Any]], start: str, unit: str
) -> tuple[pl.DataFrame, dict[tuple[int, str, int], float]]:
    """One frame of every case's events, and the recorded cells keyed by (case,
    retentioneering's cohort label, period)."""
    t0 = datetime.fromisoformat(start).replace(tzinfo=UTC)
    rows = []
    for k, case in enumerate(cases):
        for i, (user, hour) in enumerate(case["rows"]):
            t = t0 + timedelta(hours=hour)
            if unit == "M":
                t = t.replace(year=t.year + 4 * YEAR_SHIFTS[k])
            else:
                t = t + k * WEEK_SHIFT
            rows.append((f"{k}:{user}", t, f"{k}-{i}", "x"))
    events = pl.DataFrame(
        rows,
        schema={
            "customer_id": pl.String,
            "created_at": pl.Datetime("ms", "UTC"),
            "id": pl.String,
            "type": pl.String,
        },
        orient="row",
    )
    expected = {
        (k, label, p): rate
        for k, case in enumerate(cases)
        for label, p, rate in case[unit]
    }
    return events, expected


def _nonzero_cells(result: Any, unit: str) -> dict[tuple[int, str, int], float]:
    """(case, retentioneering's cohort label, period) -> rate of the non-zero cells,
    the case told by the cohort's date (see :func:`_recorded_cases`)."""
    cells = canonical(to_polars(result)).filter(pl.col("active") > 0)
    out = {}
    for cohort, p, rate in cells.select("cohort", "period", "rate").iter_rows():
        if unit == "M":
            j = (cohort.year - 2023) // 4
            k, label = YEAR_SHIFTS.index(j), f"{cohort.year - 4 * j}-{cohort.month:02d}"
        else:
            k = (cohort.date() - FIRST_WEEK).days // WEEK_SHIFT.days
            label = (cohort.date() - k * WEEK_SHIFT).isoformat()
        out[k, label, p] = rate
    return out


def test_result_kind_params_and_engine_note(engine: Engine, events: pl.DataFrame):
    out = retention(engine(events), period="month", tz="Europe/Berlin", rolling=True)
    params = params_of(out)
    assert params is not None
    assert params.analysis == "retention"
    assert params["tz"] == "Europe/Berlin"
    assert params["rolling"] is True
    assert any(n.startswith(f"computed by {engine.name}") for n in params.notes)
    local = params_of(
        retention(events, period="month", tz="Europe/Berlin", rolling=True)
    )
    assert params.options == local.options
    matrix = params_of(retention_matrix(engine(events), period="month"))
    assert matrix.analysis == "retention_matrix"


def test_engine_input_errors(engine: Engine, events: pl.DataFrame):
    frame = engine(events)
    with pytest.raises(AnalysisInputError, match=r"start: .* Polars expression"):
        retention(frame, start=pl.col("type") == "A")
    with pytest.raises(AnalysisInputError, match=r"returning: .* Polars expression"):
        retention_matrix(frame, returning=pl.col("type") == "A")
    with pytest.raises(MissingColumnsError, match="'customer_id'"):
        retention(engine(events.drop("customer_id")))
    with pytest.raises(MissingColumnsError, match="'type'"):
        retention(engine(events.drop("type")), start="A")
    with pytest.raises(AnalysisInputError, match="did you mean"):
        retention(frame, returning="customer.order.payed")
    text_times = events.with_columns(pl.col("created_at").cast(pl.String))
    with pytest.raises(AnalysisInputError, match="must be a Datetime"):
        retention(engine(text_times))
    for data in (events, frame):
        with pytest.raises(AnalysisInputError, match="tz='Mars/Olympus'"):
            retention(data, tz="Mars/Olympus")


# -- the calendar on its own ----------------------------------------------------------


@pytest.mark.parametrize(
    "tz", ["UTC", "Europe/Berlin", "America/St_Johns", "Australia/Adelaide"]
)
def test_period_keys_are_the_local_period_numbers(engine: Engine, tz: str):
    """Every 5 hours for 20 years (1962-1982: negative epoch times, leap days, DST
    changes of both hemispheres and a half-hour zone), each period's key on the
    engine is the local path's period number (:func:`~._periods.index` of the
    period's start)."""
    start = int(datetime(1962, 1, 1, tzinfo=UTC).timestamp() * 1000)
    ms = pl.DataFrame(
        {"ms": pl.int_range(0, 20 * 1753, eager=True) * 5 * 3_600_000 + start}
    )
    offsets = zone_offsets(tz, ms["ms"].min(), ms["ms"].max())  # type: ignore[arg-type]
    local = pl.col("ms").cast(pl.Datetime("ms", "UTC")).dt.convert_time_zone(tz)
    cases = [("day", 0), ("week", 0), ("week", 6), ("month", 0), ("quarter", 0)]
    cases.append(("year", 0))
    expected = ms.select(
        "ms",
        *[index(floor(local, p, w, tz=tz), p, w).alias(f"{p}{w}") for p, w in cases],
    )
    frame = nw.from_native(engine(ms))
    for p, w in cases:
        frame = period_key(
            frame, "ms", f"{p}{w}", period=p, week_start=w, offsets=offsets
        )
    assert_frame_equal(to_polars(frame).sort("ms"), expected, check_dtypes=False)


# -- random inputs ------------------------------------------------------------------------


@st.composite
def random_events(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(0, 16))
    base = int(datetime(2024, 3, 29, tzinfo=UTC).timestamp() * 1000)
    steps = [0, 1, 3_600_000, DAY_MS - 1, DAY_MS, 7 * DAY_MS, 30 * DAY_MS, 33 * DAY_MS]
    rows = [
        (
            draw(st.sampled_from(["u1", "u2", "u3", "u4"])),
            base + draw(st.sampled_from(steps)) + draw(st.sampled_from([0, 7_200_000])),
            f"{i:03d}",
            draw(st.sampled_from(["x", "y"])),
        )
        for i in range(n)
    ]
    return pl.DataFrame(
        rows, schema=["customer_id", "ms", "id", "type"], orient="row"
    ).select(
        "customer_id",
        pl.col("ms").cast(pl.Int64).cast(pl.Datetime("ms", "UTC")).alias("created_at"),
        "id",
        "type",
    )


OPTIONS = st.fixed_dictionaries(
    {
        "period": st.sampled_from(["day", "week", "month"]),
        "cohort": st.sampled_from(["first", "recurring"]),
        "mode": st.sampled_from(["on", "on_or_after"]),
        "rolling": st.booleans(),
        "tz": st.sampled_from(["UTC", "Europe/Berlin"]),
        "week_start": st.sampled_from(["monday", "sunday"]),
        "start": st.sampled_from([None, "x"]),
        "returning": st.sampled_from([None, "y"]),
        "min_events": st.sampled_from([1, 2]),
        "end": st.sampled_from([None, date(2024, 4, 2)]),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=random_events(), options=OPTIONS)
def test_random_inputs_on_polars(events: pl.DataFrame, options: dict):
    check_same(
        retention(events, **options),
        retention(nw.from_native(events.lazy()), **options),
    )


# -- PySpark ------------------------------------------------------------------------------

SPARK_CASES = [
    "start-returning-recurring-min2-berlin",
    "rolling-month-on-or-after-min2",
]
SPARK_MATRIX = "week-wednesday-new-york-recurring"


@pytest.mark.slow
def test_retention_on_spark(spark_engine: Engine):
    """Few queries (each costs seconds): two option sets and a matrix that between
    them take every rule, and 15 recorded retentioneering cases by month."""
    failures: list[str] = []

    def compare(what: str, local: pl.DataFrame, result: Any) -> None:
        try:
            check_same(local, result)
        except AssertionError as exc:
            failures.append(f"{what}: {exc}")

    events = cohort_events(50, seed=3, tz="Europe/Berlin")
    frame = spark_engine(events)
    for case in SPARK_CASES:
        options = RETENTION_CASES[case]
        out = retention(frame, **options)
        assert isinstance(out, spark_engine.native_type)
        compare(case, retention(events, **options), out)
    options = {**RETENTION_CASES[SPARK_MATRIX], "periods": 3}
    compare(
        "matrix",
        retention_matrix(events, **options),
        retention_matrix(frame, **options),
    )
    recorded = json.loads(R3_CASES.read_text())
    r3, expected = _recorded_cases(recorded["cases"][:15], recorded["start"], "M")
    got = _nonzero_cells(retention(spark_engine(r3), period="month"), "M")
    if got != pytest.approx(expected):
        failures.append(f"retentioneering: {sorted(set(got) ^ set(expected))}")
    assert failures == []
