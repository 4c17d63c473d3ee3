"""normalize(): the per-type decoding that every reader ends in."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import polars as pl
import pytest

from activity_toolkit.events import _normalize
from activity_toolkit.events._registry import REGISTRY, Field


def envelopes(counts: dict[str, int]) -> pl.DataFrame:
    rows = [
        {"id": f"{t}-{i}", "type_raw": t, "group_id": None, "channel": None,
         "payload": '{"customer": {"id": "c"}}'}
        for t, n in counts.items() for i in range(n)
    ]
    return pl.DataFrame(rows).with_columns(
        pl.lit(0).cast(pl.Datetime("ms", "UTC")).alias("created_at")
    ).select("id", "type_raw", "created_at", "group_id", "channel", "payload")


def test_an_error_in_one_type_is_raised_while_another_type_is_decoding(monkeypatch):
    """The shared DuckDB connection must not be closed under a query still running on
    another thread: that close fails as "busy" and would hide the real error."""
    started = threading.Event()
    real = _normalize._normalize_type

    def normalize_type(event_type, group, con):
        if event_type == "customer.order.paid":  # the largest: its result is read first
            assert started.wait(10)
            time.sleep(0.1)
            raise RuntimeError("boom")
        started.set()
        # a query of about a second on one thread: busy while the other type fails
        con.sql("SELECT sum(hash(range)) FROM range(200000000)").fetchall()
        return real(event_type, group, con)

    monkeypatch.setattr(_normalize, "_normalize_type", normalize_type)
    with ThreadPoolExecutor(2) as pool, pytest.raises(RuntimeError, match="boom"):
        _normalize.normalize(
            envelopes({"customer.order.paid": 3, "customer.created": 1}), map_=pool.map
        )


def test_every_registry_field_has_plain_paths_and_bad_ones_are_refused():
    for spec in REGISTRY.values():
        for f in spec.fields:
            assert all(key for path in f.paths for key in path.split("."))
    for bad in ("a..b", "", 'a"b', "a\\b", "a."):
        with pytest.raises(ValueError, match="plain keys"):
            Field("x", (bad,))
    with pytest.raises(ValueError, match="no payload path"):
        Field("x", ())
