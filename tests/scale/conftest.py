"""Engines for the parity suite: the same Polars frame handed to each engine.

* ``engine`` (parametrised): ``"polars"`` (narwhals over a Polars LazyFrame: the
  portable definition on Polars), ``"duckdb"`` and ``"ibis"`` (DuckDB backend). Each
  test gets a :class:`Engine` that turns a Polars DataFrame into that engine's frame
  and an engine result back into a Polars DataFrame.
* ``spark`` (session): a PySpark ``local[2]`` session in UTC. Skips when pyspark or
  Java is missing, but **fails** when ``CI`` is set (``.ci/run`` sets it): CI must
  run the Spark parity tests. One session per xdist worker; the Spark tests live in
  one module with few test functions so that normally one worker starts it.

The DuckDB and Ibis connections use a non-UTC session time zone on purpose: results
must not depend on it.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest

LOCAL_TZ = "America/New_York"
HERE = Path(__file__).parent
#: Ibis 12 still calls DuckDB 2's deprecated ``fetch_arrow_table``/``fetch_*`` (not
#: ours to fix; the project turns warnings into errors).
ENGINE_WARNINGS = pytest.mark.filterwarnings(
    r"ignore:fetch_\w+\(\) is deprecated:DeprecationWarning"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(ENGINE_WARNINGS)


_names = itertools.count()


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the Spark tests must run)", pytrace=False)
    pytest.skip(reason)


def canonical(df: pl.DataFrame) -> pl.DataFrame:
    """A result in one comparable form: times as ``Datetime("ms", "UTC")``,
    durations as ``Int64`` milliseconds, integers as ``Int64``, floats as
    ``Float64``."""
    out = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                col = col.dt.replace_time_zone("UTC")
            col = col.dt.convert_time_zone("UTC").dt.cast_time_unit("ms")
        elif isinstance(dtype, pl.Duration):
            col = col.dt.total_milliseconds().cast(pl.Int64)
        elif dtype.is_integer():
            col = col.cast(pl.Int64)
        elif dtype.is_float():
            col = col.cast(pl.Float64)
        out.append(col.alias(name))
    return df.select(out)


def to_polars(result: Any) -> pl.DataFrame:
    """An engine result (or a narwhals / Polars frame) as a Polars DataFrame."""
    if isinstance(result, pl.LazyFrame):
        return result.collect()
    if isinstance(result, pl.DataFrame):
        return result
    frame = result if isinstance(result, nw.LazyFrame) else nw.from_native(result)
    out = frame.collect("polars").to_native()
    assert isinstance(out, pl.DataFrame)
    return out


@dataclass
class Engine:
    name: str
    make: Callable[[pl.DataFrame], Any]
    native_type: type

    def __call__(self, df: pl.DataFrame) -> Any:
        return self.make(df)


@pytest.fixture(scope="session")
def duck_connection() -> Iterator[Any]:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET TimeZone='{LOCAL_TZ}'")
    yield con
    con.close()


@pytest.fixture(scope="session")
def ibis_connection() -> Any:
    import ibis

    con = ibis.duckdb.connect()
    con.raw_sql(f"SET TimeZone='{LOCAL_TZ}'")
    return con


def _engine(name: str, request: pytest.FixtureRequest) -> Engine:
    if name == "polars":
        return Engine(name, lambda df: nw.from_native(df.lazy()), nw.LazyFrame)
    if name == "duckdb":
        import duckdb

        con = request.getfixturevalue("duck_connection")
        return Engine(
            name, lambda df: con.from_arrow(df.to_arrow()), duckdb.DuckDBPyRelation
        )
    if name == "ibis":
        import ibis.expr.types as ir

        con = request.getfixturevalue("ibis_connection")

        def make(df: pl.DataFrame) -> Any:
            return con.create_table(f"t{next(_names)}", df.to_arrow(), temp=True)

        return Engine(name, make, ir.Table)
    if name == "pyspark":
        from pyspark.sql import DataFrame

        spark = request.getfixturevalue("spark")
        return Engine(name, lambda df: spark.createDataFrame(df.to_arrow()), DataFrame)
    raise AssertionError(name)


@pytest.fixture(params=["polars", "duckdb", "ibis"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each engine of the normal suite."""
    return _engine(request.param, request)


@pytest.fixture
def spark_engine(request: pytest.FixtureRequest) -> Engine:
    return _engine("pyspark", request)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A PySpark ``local[2]`` session (UTC, no UI, two shuffle partitions)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        _unavailable(f"pyspark is not importable ({exc}); pip install -e .[test]")
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and Path(java_home).is_dir()):
        _unavailable("Java is missing; apt-get install -y default-jre-headless")
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("activity_toolkit-parity")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
