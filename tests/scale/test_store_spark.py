"""Engines read the store's tables directly, as ``store_paths`` documents."""

from __future__ import annotations

from functools import reduce

import polars as pl
import pytest

from activity_toolkit import _store as store_format
from activity_toolkit import store_paths
from tests.test_store_v4 import _stacked


@pytest.mark.slow
def test_spark_reads_the_tables_as_documented(small_log, tmp_path, spark):
    """The Spark example of ``store_paths``' docstring, on the shared ``local[2]``
    session (which fails in CI when PySpark or Java is missing)."""
    from pyspark.sql import DataFrame

    store = small_log.write_parquet(tmp_path / "s")

    paths = store_paths(store)
    tiers = spark.read.parquet(paths.tables["tier"])
    assert tiers.columns == [*store_format.family_schema("tier"), "month"]
    events = reduce(
        DataFrame.unionByName,
        [
            spark.read.parquet(paths.tables[f]).select(*paths.columns, "month")
            for f in paths.families
        ],
    )
    got = pl.from_arrow(events.drop("month").toArrow())
    assert isinstance(got, pl.DataFrame)
    got = got.with_columns(pl.col("created_at").dt.cast_time_unit("ms"))
    expected = small_log.events.drop("payload")
    assert got.sort("id").equals(expected.sort("id"))
    tier = pl.from_arrow(tiers.select("id", "tier_to_name").toArrow())
    assert isinstance(tier, pl.DataFrame)
    assert tier.sort("id").equals(
        _stacked(small_log, "tier").select("id", "tier_to_name").sort("id")
    )
