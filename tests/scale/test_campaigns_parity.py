"""The portable campaign analyses (:mod:`activity_toolkit.analysis._portable_campaigns`)
give the local results on Polars, DuckDB and Ibis: the hand-built journeys of
``tests/analysis/test_campaigns.py`` (validation, redemption and payment in one
millisecond) and the sample."""

from __future__ import annotations

import narwhals as nw
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from activity_toolkit.analysis import (
    _portable_campaigns,
    campaign_summary,
    coupon_funnel,
    params_of,
)
from activity_toolkit.exceptions import AnalysisInputError, MissingColumnsError
from tests.analysis.test_campaigns import EVENTS
from tests.scale._data import CAMPAIGN_COLUMNS, sample_campaign_rows
from tests.scale.conftest import Engine, canonical, to_polars


def check_same(local: pl.DataFrame, engine_result) -> None:
    assert_frame_equal(canonical(to_polars(engine_result)), canonical(local))


@pytest.fixture(scope="module")
def journeys() -> pl.DataFrame:
    return EVENTS.select([c for c in CAMPAIGN_COLUMNS if c in EVENTS.columns])


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    return sample_campaign_rows(customers=40)


def test_coupon_funnel_journeys(engine: Engine, journeys: pl.DataFrame):
    out = coupon_funnel(engine(journeys))
    assert isinstance(out, engine.native_type)
    check_same(coupon_funnel(journeys), out)
    assert any(n.startswith("computed by") for n in params_of(out).notes)


def test_campaign_summary_journeys(engine: Engine, journeys: pl.DataFrame):
    check_same(campaign_summary(journeys), campaign_summary(engine(journeys)))


@pytest.mark.parametrize("engine", ["polars", "duckdb"], indirect=True)
def test_sample(engine: Engine, rows: pl.DataFrame):
    frame = engine(rows)
    name = rows["campaign_name"].drop_nulls().sort()[0]
    check_same(coupon_funnel(rows), coupon_funnel(frame))
    check_same(coupon_funnel(rows, campaign=name), coupon_funnel(frame, campaign=name))
    check_same(campaign_summary(rows, top=2), campaign_summary(frame, top=2))


def test_no_rows(engine: Engine, journeys: pl.DataFrame):
    nothing = journeys.clear()
    check_same(coupon_funnel(nothing), coupon_funnel(engine(nothing)))
    check_same(campaign_summary(nothing), campaign_summary(engine(nothing)))


def test_coupon_funnel_reads_its_units_once_on_duckdb(duck_connection, journeys):
    """DuckDB computes a frame again for every branch of a query that reads it: the
    coupon query has the joins of its units and no more (the step counts and the
    durations were two queries, each computing the units)."""
    lf = _portable_campaigns.typed_frame(
        nw.from_native(duck_connection.from_arrow(journeys.to_arrow())),
        families=["publication", "validation", "redemption", "order"],
        typed=[c for c in CAMPAIGN_COLUMNS if c in journeys.columns],
        what="campaign events",
    )
    for campaign in (None, "Welcome"):
        units = _portable_campaigns.coupon_units(lf, campaign).to_native().explain()
        query = _portable_campaigns.coupon_parts(lf, campaign).to_native().explain()
        joins = units.count("─ Hash Join ─")
        assert joins >= 7
        assert query.count("─ Hash Join ─") == joins


def test_engine_input_errors(engine: Engine, journeys: pl.DataFrame):
    with pytest.raises(AnalysisInputError, match="neither a campaign id nor a name"):
        coupon_funnel(engine(journeys), campaign="Welcom")
    with pytest.raises(MissingColumnsError, match="'id'"):
        campaign_summary(engine(journeys.drop("id")))
