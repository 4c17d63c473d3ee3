"""The portable funnel (:mod:`activity_toolkit.analysis._portable_funnel`) gives the
local Polars funnel's results, unit by unit, on Polars, DuckDB and Ibis."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from activity_toolkit.analysis import Step, funnel, funnel_units, params_of
from tests.scale._cases import COVERING_CASES, FUNNEL_CASES, STEPS
from tests.scale._data import DAY_MS, edge_events, sample_events
from tests.scale.conftest import Engine, canonical, to_polars

SAMPLE_STEPS = [
    "customer.publication.succeeded",
    "customer.validation.succeeded",
    "customer.redemption.succeeded",
    "customer.order.paid",
]


def check_same(local: pl.DataFrame, engine_result: Any) -> None:
    assert_frame_equal(canonical(to_polars(engine_result)), canonical(local))


@pytest.fixture(scope="module")
def edges() -> pl.DataFrame:
    return edge_events(60, seed=1)


def _params(full: list[str], covering: list[str]) -> list[tuple[str, str]]:
    return [
        *[("polars", c) for c in FUNNEL_CASES],
        *[("duckdb", c) for c in full],
        *[("ibis", c) for c in covering],
    ]


@pytest.mark.parametrize(
    ("engine", "case"), _params(list(FUNNEL_CASES), COVERING_CASES), indirect=["engine"]
)
def test_funnel_units_per_unit(engine: Engine, edges: pl.DataFrame, case: str):
    steps, options = FUNNEL_CASES[case]
    out = funnel_units(engine(edges), steps, **options)
    assert isinstance(out, engine.native_type)
    check_same(funnel_units(edges, steps, **options), out)


@pytest.mark.parametrize(
    ("engine", "case"),
    _params(COVERING_CASES, COVERING_CASES[::3]),
    indirect=["engine"],
)
def test_funnel_counts_and_times(engine: Engine, edges: pl.DataFrame, case: str):
    steps, options = FUNNEL_CASES[case]
    out = funnel(engine(edges), steps, **options)
    assert isinstance(out, engine.native_type)
    check_same(funnel(edges, steps, **options), out)


@pytest.mark.parametrize("tz", ["Europe/Berlin", None])
def test_time_zones_and_naive_times(engine: Engine, tz: str | None):
    """Tz-aware times in another zone are instants, naive times are UTC."""
    events = edge_events(40, seed=2, tz=tz)
    for options in ({"within": "1d"}, {"mode": "unordered", "within": "1d"}):
        local = funnel_units(events, ["A", "B", "C"], **options)
        check_same(local, funnel_units(engine(events), ["A", "B", "C"], **options))


def test_sample_funnel(engine: Engine):
    events = sample_events(customers=25)
    frame = engine(events)
    options = {"within": "3d", "entry": "furthest", "by": "channel"}
    check_same(
        funnel_units(events, SAMPLE_STEPS, **options),
        funnel_units(frame, SAMPLE_STEPS, **options),
    )
    check_same(
        funnel(events, SAMPLE_STEPS, within="7d"),
        funnel(frame, SAMPLE_STEPS, within="7d"),
    )


def test_recorded_retentioneering_counts(engine: Engine):
    """The 150 recorded retentioneering 5 funnels, in one query: each case's types
    are prefixed with its number, so step k is an OR-step over every case's k-th
    step and a unit only ever matches its own case's steps."""
    recorded = json.loads(
        (
            Path(__file__).parents[1] / "analysis" / "data" / "r5_funnel_cases.json"
        ).read_text()
    )
    rows = []
    for c, case in enumerate(recorded["cases"]):
        for user, event, minute, i in case["rows"]:
            rows.append((f"{c}:{user}", minute * 60_000, f"{c:03d}{i}", f"{c}:{event}"))
    events = pl.DataFrame(
        rows, schema=["customer_id", "ms", "id", "type"], orient="row"
    ).with_columns(
        pl.from_epoch("ms", time_unit="ms")
        .dt.replace_time_zone("UTC")
        .alias("created_at")
    )
    width = max(len(case["steps"]) for case in recorded["cases"])
    steps = [
        Step(
            [
                f"{c}:{case['steps'][k]}"
                for c, case in enumerate(recorded["cases"])
                if k < len(case["steps"])
            ],
            label=f"step {k + 1}",
        )
        for k in range(width)
    ]
    units = to_polars(funnel_units(engine(events.drop("ms")), steps))
    got = units.select(
        pl.col("customer_id").str.split(":").list.first().cast(pl.Int64).alias("case"),
        "furthest_step",
    )
    for c, case in enumerate(recorded["cases"]):
        reach = got.filter(pl.col("case") == c)["furthest_step"].to_list()
        counts = [sum(r >= k for r in reach) for k in range(1, len(case["steps"]) + 1)]
        assert counts == case["r5"], (c, case["steps"])


@pytest.mark.parametrize("by", [None, "channel"])
def test_funnel_without_units(engine: Engine, edges: pl.DataFrame, by: str | None):
    """Nobody entered: a row per step with zero counts (none with ``by``)."""
    nobody = edges.filter(pl.col("type").is_in(["X", "Y"]))
    for mode in ("ordered", "reached"):
        local = funnel(nobody, STEPS, within="1d", mode=mode, by=by)
        assert local.height == (0 if by else len(STEPS))
        check_same(local, funnel(engine(nobody), STEPS, within="1d", mode=mode, by=by))


@pytest.mark.parametrize("mode", ["ordered", "strict", "unordered", "reached"])
@pytest.mark.parametrize("by", [None, "channel"])
def test_one_step_funnel(
    engine: Engine, edges: pl.DataFrame, mode: str, by: str | None
):
    """A funnel of one step (DuckDB parsed its lone count column as SQL)."""
    local = funnel(edges, STEPS[:1], within="1d", mode=mode, by=by)
    assert local["count"].sum() > 0
    check_same(local, funnel(engine(edges), STEPS[:1], within="1d", mode=mode, by=by))


def _plan_nodes(relation: Any, name: str) -> int:
    return len(re.findall(rf"─ {name} ─", relation.explain()))


@pytest.mark.parametrize("case", ["ordered-7d-furthest", "strict-1d-furthest", "by"])
def test_funnel_computes_the_units_once_on_duckdb(duck_connection, case: str):
    """DuckDB evaluates a frame again for every branch of a query that reads it: the
    summary reads the units in one chain, so ``funnel``'s plan has the joins of
    ``funnel_units``' plan and no more (it had twice as many: 3.2 GB against
    1.7 GB on 3M events)."""
    steps, options = FUNNEL_CASES[case]
    rel = duck_connection.from_arrow(edge_events(20).to_arrow())
    units = _plan_nodes(funnel_units(rel, steps, **options), "Hash Join")
    assert units >= len(steps) - 1
    assert _plan_nodes(funnel(rel, steps, **options), "Hash Join") == units


def test_result_keeps_params_and_engine_note(engine: Engine, edges: pl.DataFrame):
    out = funnel(engine(edges), ["A", "B"], within="1d")
    params = params_of(out)
    assert params is not None
    assert params["within"].total_seconds() == 86_400
    assert any(n.startswith(f"computed by {engine.name}") for n in params.notes)


# -- random inputs --------------------------------------------------------------------

TIMES_MS = [0, 1, 1000, DAY_MS - 1, DAY_MS, DAY_MS + 1, 2 * DAY_MS]


@st.composite
def random_events(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(0, 14))
    rows = [
        (
            draw(st.sampled_from(["u1", "u2", "u3"])),
            draw(st.sampled_from(TIMES_MS)),
            f"{i:03d}",
            draw(st.sampled_from(["A", "B", "C", "X"])),
        )
        for i in range(n)
    ]
    ids = draw(st.permutations([r[2] for r in rows]))  # ties broken either way
    rows = [(u, t, i, e) for (u, t, _, e), i in zip(rows, ids, strict=True)]
    return pl.DataFrame(
        rows, schema=["customer_id", "ms", "id", "type"], orient="row"
    ).select(
        "customer_id",
        pl.from_epoch(pl.col("ms").cast(pl.Int64), time_unit="ms")
        .dt.replace_time_zone("UTC")
        .alias("created_at"),
        "id",
        "type",
    )


OPTIONS = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(["ordered", "strict", "unordered", "reached"]),
        "entry": st.sampled_from(["first", "furthest"]),
        "within": st.sampled_from([None, "0s", "1d"]),
    }
)
STEP_LISTS = st.sampled_from(
    [["A", "B"], ["A", "B", "C"], ["A", "A", "B"], ["B", ["A", "C"]]]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=random_events(), steps=STEP_LISTS, options=OPTIONS, exclude=st.booleans())
def test_random_inputs_on_polars(events, steps, options, exclude):
    import narwhals as nw

    if exclude and options["mode"] != "unordered":
        options = {**options, "exclude": "X"}
    local = funnel_units(events, steps, **options)
    check_same(local, funnel_units(nw.from_native(events.lazy()), steps, **options))
    check_same(
        funnel(events, steps, **options),
        funnel(nw.from_native(events.lazy()), steps, **options),
    )


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(events=random_events(), steps=STEP_LISTS, options=OPTIONS)
def test_random_inputs_on_duckdb(duck_connection, events, steps, options):
    local = funnel_units(events, steps, **options)
    check_same(
        local,
        funnel_units(duck_connection.from_arrow(events.to_arrow()), steps, **options),
    )
