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
        {
            "id": f"{t}-{i}",
            "type_raw": t,
            "group_id": None,
            "channel": None,
            "payload": '{"customer": {"id": "c"}}',
        }
        for t, n in counts.items()
        for i in range(n)
    ]
    return (
        pl.DataFrame(rows)
        .with_columns(pl.lit(0).cast(pl.Datetime("ms", "UTC")).alias("created_at"))
        .select("id", "type_raw", "created_at", "group_id", "channel", "payload")
    )


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
    for bad in ("a..b", "", 'a"b', "a\\b", "a.", "a.*"):
        with pytest.raises(ValueError, match="plain keys"):
            Field("x", (bad,))
    for paths in ((), "customer.id"):
        with pytest.raises(ValueError, match="non-empty tuple"):
            Field("x", paths)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100", 100),
        ("+7", 7),
        ("100.0", 100),
        ("100.", 100),
        ("9007199254740993.0", 9007199254740993),  # beyond 2**53: the text, not a float
        ("-9223372036854775808.0", -(2**63)),
        ("1e2", 100),
        ("1.5e3", 1500),
        ("0e5", 0),
        ("1.5", None),
        ("4503599627370497.5", None),  # a float would round it to an integer
        ("1e-400", None),  # a float would underflow it to 0
        ("1e400", None),
        ("NaN", None),
        (" 7", None),
        ("", None),
        ("true", None),
        (None, None),
    ],
)
def test_integer_columns_take_exactly_the_integral_values(text, expected):
    """Payload texts reach typing as DuckDB renders them (a JSON number read as a
    double on the way: 2**53 + 1 written in a file arrives as 2**53 already)."""
    typed = _normalize._typed(pl.Series([text, "5"], dtype=pl.String), "int")
    assert typed.to_list() == [expected, 5]
