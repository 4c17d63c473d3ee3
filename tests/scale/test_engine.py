"""The shared core of the portable analyses (:mod:`activity_toolkit.analysis._engine`):
detecting and wrapping engine frames, the epoch-millisecond column, Polars'
quantiles, the unpivot that works on any DuckDB connection, and input errors."""

from __future__ import annotations

from datetime import UTC, datetime

import narwhals as nw
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from activity_toolkit.analysis import Step, funnel, funnel_units
from activity_toolkit.analysis._engine import (
    engine_name,
    is_local,
    polars_quantiles,
    unpivot,
    with_epoch_ms,
    wrap,
)
from activity_toolkit.exceptions import AnalysisInputError, MissingColumnsError
from tests.scale.conftest import Engine, to_polars

INSTANTS = [
    datetime(2024, 3, 31, 0, 59, 59, 999_500, tzinfo=UTC),  # sub-millisecond
    datetime(2024, 3, 31, 1, 0, tzinfo=UTC),  # Berlin's clocks jump
    datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
    datetime(2024, 2, 29, 23, 59, 59, 999_000, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 999_500, tzinfo=UTC),  # before the epoch
]


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", None])
def test_epoch_ms_is_the_floored_instant(engine: Engine, tz: str | None):
    times = pl.Series("t", INSTANTS, dtype=pl.Datetime("us", "UTC"))
    df = pl.DataFrame(
        {
            "t": times.dt.convert_time_zone(tz)
            if tz
            else times.dt.replace_time_zone(None)
        }
    )
    out = to_polars(with_epoch_ms(wrap(engine(df)), "t", "ms").select("ms"))
    expected = [(int(t.timestamp() * 1_000_000)) // 1000 for t in INSTANTS]
    assert out["ms"].to_list() == expected


def test_wrap_and_dispatch(engine: Engine):
    frame = engine(pl.DataFrame({"a": [1]}))
    assert not is_local(frame)
    assert engine_name(wrap(frame)) == engine.name
    assert is_local(pl.DataFrame())
    assert is_local(pl.LazyFrame())
    with pytest.raises(AnalysisInputError, match="lazy frame of another engine"):
        wrap({"a": [1]})
    with pytest.raises(AnalysisInputError, match=r"got builtins\.dict"):
        funnel_units({"customer_id": ["c"]}, ["A"])


def test_engine_input_errors(engine: Engine):
    events = pl.DataFrame(
        {
            "customer_id": ["c1"],
            "created_at": [datetime(2024, 1, 1, tzinfo=UTC)],
            "id": ["e1"],
            "type": ["A"],
        }
    )
    with pytest.raises(AnalysisInputError, match="Polars expression"):
        funnel(engine(events), ["A", Step(pl.col("type") == "B", label="B")])
    with pytest.raises(AnalysisInputError, match="needs an event id column"):
        funnel(engine(events.drop("id")), ["A"])
    with pytest.raises(AnalysisInputError, match="needs an event id column"):
        funnel(engine(events), ["A"], id_col=None)
    with pytest.raises(MissingColumnsError, match="'channel'"):
        funnel(engine(events), ["A"], by="channel")
    with pytest.raises(AnalysisInputError, match="must be a Datetime"):
        funnel(engine(events.with_columns(pl.col("created_at").dt.date())), ["A"])
    with pytest.raises(AnalysisInputError, match="did you mean"):
        funnel(engine(events), ["customer.order.payed"])


def test_unregistered_types_are_looked_up_on_the_engine(engine: Engine):
    events = pl.DataFrame(
        {
            "customer_id": ["c1", "c1"],
            "created_at": [datetime(2024, 1, 1, tzinfo=UTC)] * 2,
            "id": ["e1", "e2"],
            "type": ["customer.custom_event.x", "A"],
        }
    )
    out = to_polars(funnel(engine(events), ["customer.custom_event.x", "A"]))
    assert out["count"].to_list() == [1, 1]


def test_unpivot_on_any_duckdb_connection(duck_connection):
    rel = duck_connection.sql("select 'g' as k, 1.0 as a, 2.0 as b")
    out = to_polars(
        unpivot(
            nw.from_native(rel),
            ["a", "b"],
            index=["k"],
            variable_name="v",
            value_name="x",
        )
    )
    assert sorted(out.rows()) == [("g", "a", 1.0), ("g", "b", 2.0)]


@st.composite
def groups_of_ints(draw: st.DrawFn) -> pl.DataFrame:
    values = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["a", "b", None]),
                st.one_of(st.none(), st.integers(0, 10**9)),
            ),
            min_size=1,
            max_size=30,
        )
    )
    return pl.DataFrame(values, schema={"g": pl.String, "v": pl.Int64}, orient="row")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(df=groups_of_ints(), q=st.sampled_from([0.5, 0.9, 0.25, 0.1]))
def test_polars_quantiles_match_polars(duck_connection, df: pl.DataFrame, q: float):
    expected = (
        df.group_by("g")
        .agg(
            pl.col("v")
            .cast(pl.Duration("ms"))
            .quantile(q, "linear")
            .cast(pl.Duration("ms"))
            .dt.total_milliseconds()
            .alias("q")
        )
        .drop_nulls("q")  # a group without values has no row
        .sort("g", nulls_last=True)
    )
    for native in (df.lazy(), duck_connection.from_arrow(df.to_arrow())):
        got = to_polars(polars_quantiles(nw.from_native(native), ["g"], "v", {"q": q}))
        assert_frame_equal(got.sort("g", nulls_last=True), expected, check_dtypes=False)


def test_duckdb_nanosecond_times_name_their_type(duck_connection):
    # narwhals cannot read DuckDB's TIMESTAMPTZ_NS: the error names it and the cast
    df = pl.DataFrame(
        {
            "id": ["e1"],
            "type": ["customer.order.paid"],
            "customer_id": ["c1"],
            "created_at": [datetime(2024, 1, 1, tzinfo=UTC)],
        }
    ).with_columns(pl.col("created_at").dt.cast_time_unit("ns"))
    rel = duck_connection.from_arrow(df.to_arrow())
    with pytest.raises(AnalysisInputError, match=r"got TIMESTAMPTZ_NS.*TIMESTAMPTZ"):
        funnel(rel, ["customer.order.paid"])
    cast = rel.select("id, type, customer_id, created_at::TIMESTAMPTZ AS created_at")
    assert to_polars(funnel(cast, ["customer.order.paid"]))["count"].to_list() == [1]
