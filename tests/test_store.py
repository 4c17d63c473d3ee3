"""The Parquet store: exact round-trip, lazy scan, atomic replacement."""

from __future__ import annotations

import polars as pl
import pytest
from conftest import make_event

from activity_toolkit import read_events, read_parquet, scan_events
from activity_toolkit.exceptions import StoreError
from activity_toolkit.io import read_state, write_store


def test_round_trip_is_exact(small_log, tmp_path):
    store = small_log.write_parquet(tmp_path / "store")
    back = read_parquet(store)
    assert back.types == small_log.types
    assert back.events.equals(small_log.events)
    for t in small_log.types:
        assert back[t].schema == small_log[t].schema, t
        assert back[t].equals(small_log[t]), t


def test_round_trip_keeps_unknown_types_and_list_columns(tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log = read_events([
            make_event("a", "customer.future.thing", x=1),
            make_event("b", order={"id": "o", "items": [{"product_id": "p", "quantity": 2}]}),
        ])
    back = read_parquet(log.write_parquet(tmp_path / "s"))
    assert back.equals(log)
    assert back["customer.order.paid"]["order_items"][0][0]["quantity"] == 2


def test_store_is_hive_partitioned_by_month_and_scans_lazily(small_log, tmp_path):
    store = small_log.write_parquet(tmp_path / "store")
    months = sorted(p.name for p in store.glob("v-*/events/month=*"))
    assert months[0].startswith("month=2024-")
    assert len(months) > 6
    lf = scan_events(store)
    assert isinstance(lf, pl.LazyFrame)
    paid = lf.filter(pl.col("type") == "customer.order.paid").select("id").collect()
    assert paid.height == small_log["customer.order.paid"].height


def test_rewrite_replaces_atomically_and_cleans_old_versions(tmp_path):
    log1 = read_events([make_event("a")])
    log2 = read_events([make_event("a"), make_event("b", created_at="2024-06-01T00:00:00Z")])
    store = tmp_path / "s"
    write_store(log1, store, state={"cursor": 1})
    write_store(log2, store, state={"cursor": 2})
    assert len(read_parquet(store)) == 2
    assert read_state(store) == {"cursor": 2}
    assert len(list(store.glob("v-*"))) == 1


def test_a_failed_write_leaves_the_previous_version_live(tmp_path, monkeypatch):
    store = tmp_path / "s"
    write_store(read_events([make_event("a")]), store)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        write_store(read_events([make_event("a"), make_event("b")]), store)
    monkeypatch.undo()
    assert read_parquet(store).events["id"].to_list() == ["a"]
    assert not list(store.glob(".tmp-*"))


def test_not_a_store_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="no such store"):
        read_parquet(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(StoreError, match="no CURRENT file"):
        read_parquet(tmp_path / "plain")
    assert read_state(tmp_path / "plain") is None


def test_empty_log_round_trips(tmp_path):
    from activity_toolkit import ActivityLog

    back = read_parquet(ActivityLog.empty().write_parquet(tmp_path / "e"))
    assert len(back) == 0
    assert back.events.columns == ActivityLog.empty().events.columns
