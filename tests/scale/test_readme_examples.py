"""The README's "Running at scale" recipes run as written, on a small store, and give
the numbers of the local Polars path.

Each test executes the ``python`` blocks of one README section (only the store path is
pointed at a temporary store) and then compares what the recipe built with the local
results. A README edit that breaks a recipe, or a recipe that reads the store in a way
that changes the numbers, fails here.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from activity_toolkit.analysis import (
    campaign_summary,
    coupon_funnel,
    funnel,
    funnel_units,
    points_flows,
    retention,
    time_in_tier,
)
from activity_toolkit.model import ActivityLog
from tests.scale.conftest import canonical, to_polars

README = Path(__file__).resolve().parents[2] / "README.md"
STEPS = [
    "customer.publication.succeeded",
    "customer.validation.succeeded",
    "customer.redemption.succeeded",
    "customer.order.paid",
]


def blocks(section: str) -> list[str]:
    """The ``python`` code blocks of the README section headed ``### <section>``."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n### {section}\n") + len(section) + 5
    nxt = re.search(r"^#{2,3} ", text[start:], flags=re.MULTILINE)
    body = text[start : start + nxt.start()] if nxt else text[start:]
    found = re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)
    assert found, f"no python block under {section!r}"
    return found


def equal(engine_result: Any, local: pl.DataFrame, by: list[str]) -> None:
    got = canonical(to_polars(engine_result)).sort(by, nulls_last=True)
    want = canonical(local).sort(by, nulls_last=True)
    assert got.columns == want.columns
    assert got.equals(want), (got, want)


def same(
    analysis: Callable[..., Any],
    built: Any,
    log: ActivityLog,
    keys: list[str],
    /,
    **options: Any,
) -> None:
    """``analysis`` of what the recipe built equals that of the log, by row (sorted
    by ``keys``)."""
    equal(analysis(built, **options), analysis(log, **options), keys)


@pytest.fixture
def store(small_log: ActivityLog, tmp_path: Path) -> Path:
    return small_log.write_parquet(tmp_path / "store")


def test_duckdb_and_ibis_recipes(
    small_log: ActivityLog, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(store.parent)  # the recipe opens store_paths("store")
    ns: dict[str, Any] = {
        "steps": STEPS,
        "funnel": funnel,
        "coupon_funnel": coupon_funnel,
    }
    for code in blocks("DuckDB"):
        exec(code, ns)
    same(funnel, ns["events"], small_log, ["step"], steps=STEPS, within="7d")
    same(coupon_funnel, ns["rows"], small_log, ["step"])
    for code in blocks("A warehouse through Ibis"):
        exec(code, ns)
    same(funnel, ns["events"], small_log, ["step"], steps=STEPS, within="7d")
    units = ["customer_id"]
    same(funnel_units, ns["events"], small_log, units, steps=STEPS, within="7d")


@pytest.mark.slow
def test_spark_recipe(
    small_log: ActivityLog, store: Path, spark: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    first, existing_table = blocks("Spark (Databricks, EMR)")
    # the second block reads the user's own lake table: it needs a metastore table
    # this test does not have, so only its column contract is checked
    assert 'F.col("event_id").alias("id")' in existing_table
    ns: dict[str, Any] = {"spark": spark}
    # PySpark hands back naive datetimes in the driver's local zone: run the recipe
    # with a driver that is not in UTC, as on most laptops
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    try:
        exec(first.replace("/mnt/voucherify/store", str(store)), ns)
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()
    assert "customer.order.paid" in capsys.readouterr().out  # the shown funnel
    same(funnel, ns["events"], small_log, ["step"], steps=STEPS, within="7d")
    same(coupon_funnel, ns["rows"], small_log, ["step"])
    same(campaign_summary, ns["rows"], small_log, ["campaign_name"])
    same(retention, ns["events"], small_log, ["cohort", "period"], period="month")
    flows = ["campaign_id", "period"]
    same(points_flows, ns["ledger"], small_log, flows, by="campaign_id")
    tiers = spark.read.parquet(ns["paths"].tables["tier"])
    # the log's default end, given to the tier table as the recipe does
    equal(
        time_in_tier(tiers, end=ns["end"]),
        time_in_tier(small_log),
        ["campaign_id", "tier_id", "tier_name"],
    )
