"""The portable analyses on PySpark ``local[2]``: the same rows as the local Polars
path, unit by unit.

A Spark query costs seconds whatever its size, so the checks are few and grouped in
two test functions (one Spark session per xdist worker): every funnel mode and rule
on the edge events in Berlin time, the summary with its quantiles, the recorded
retentioneering funnels, the sample, and both campaign analyses. In CI these run and
fail when Java or pyspark is missing (see ``conftest.spark``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from activity_toolkit.analysis import (
    campaign_summary,
    coupon_funnel,
    funnel,
    funnel_units,
)
from activity_toolkit.analysis._engine import with_epoch_ms, wrap
from tests.analysis.test_campaigns import EVENTS
from tests.scale._cases import FUNNEL_CASES, SPARK_CASES
from tests.scale._data import CAMPAIGN_COLUMNS, edge_events, sample_campaign_rows
from tests.scale.conftest import Engine, canonical, to_polars

pytestmark = pytest.mark.slow


def _compare(failures: list[str], what: str, local: pl.DataFrame, result) -> None:
    try:
        assert_frame_equal(canonical(to_polars(result)), canonical(local))
    except AssertionError as exc:
        failures.append(f"{what}: {exc}")


def test_funnels_on_spark(spark_engine: Engine):
    failures: list[str] = []
    events = edge_events(40, seed=3, tz="Europe/Berlin")
    frame = spark_engine(events)
    for case in SPARK_CASES:
        steps, options = FUNNEL_CASES[case]
        out = funnel_units(frame, steps, **options)
        assert isinstance(out, spark_engine.native_type)
        _compare(
            failures,
            f"funnel_units {case}",
            funnel_units(events, steps, **options),
            out,
        )
    for case in ("ordered-7d-furthest", "reached-by"):
        steps, options = FUNNEL_CASES[case]
        _compare(
            failures,
            f"funnel {case}",
            funnel(events, steps, **options),
            funnel(frame, steps, **options),
        )
    times = pl.DataFrame(
        {
            "t": [
                datetime(2024, 3, 31, 0, 59, 59, 999_500, tzinfo=UTC),
                datetime(1969, 12, 31, 23, 59, 59, 999_500, tzinfo=UTC),
            ]
        }
    )
    ms = to_polars(with_epoch_ms(wrap(spark_engine(times)), "t", "ms"))["ms"].to_list()
    if ms != [1711846799999, -1]:
        failures.append(f"epoch ms: {ms}")
    assert failures == []


def test_campaigns_on_spark(spark_engine: Engine):
    failures: list[str] = []
    journeys = EVENTS.select([c for c in CAMPAIGN_COLUMNS if c in EVENTS.columns])
    rows = sample_campaign_rows(customers=30)
    for name, data in (("journeys", journeys), ("sample", rows)):
        frame = spark_engine(data)
        _compare(
            failures, f"coupon_funnel {name}", coupon_funnel(data), coupon_funnel(frame)
        )
        _compare(
            failures,
            f"campaign_summary {name}",
            campaign_summary(data),
            campaign_summary(frame),
        )
    assert failures == []
