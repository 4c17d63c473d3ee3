"""What makes an event invalid, the same on every reader path: ``id`` and ``type``
must be non-empty strings, ``created_at`` a timestamp in years 1-9999 (UTC).

Each case runs over every container: an NDJSON file and a JSON-array file (the DuckDB
fast path, which hands the file to the chunked path), an NDJSON file on the chunked
path, NDJSON bytes, event dicts and API pages.
"""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime

import orjson
import polars as pl
import pytest
from conftest import make_event

from activity_toolkit import read_events, read_pages
from activity_toolkit.exceptions import InvalidEventError, SkippedRecordsWarning
from activity_toolkit.io import _builder

CONTAINERS = ["ndjson-file", "array-file", "chunked-file", "bytes", "dicts", "pages"]


def _read(container, events, tmp_path, monkeypatch, on_error="raise"):
    """Read ``events`` through ``container``; returns (log, where the 2nd event is)."""
    if container in ("ndjson-file", "chunked-file"):
        path = tmp_path / "e.ndjson"
        path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
        if container == "chunked-file":  # the other query, and one line per chunk
            monkeypatch.setattr(_builder, "looks_flat", lambda texts: True)
            return read_events(path, on_error=on_error, chunk_bytes=1), {"line": 2}
        return read_events(path, on_error=on_error), {"line": 2}
    if container == "array-file":
        path = tmp_path / "e.json"
        path.write_bytes(orjson.dumps(events))
        return read_events(path, on_error=on_error), {"item": 1}
    if container == "bytes":
        data = b"\n".join(orjson.dumps(e) for e in events) + b"\n"
        return read_events(data, on_error=on_error), {"line": 2}
    if container == "dicts":
        return read_events(events, on_error=on_error), {"item": 1}
    page = {"object": "list", "has_more": False, "data": events}
    return read_pages([page], on_error=on_error), {"item": 1}


def _check(container, bad, reason, tmp_path, monkeypatch):
    events = [
        make_event("ok1"),
        bad,
        make_event("ok2", created_at="2024-05-02T00:00:00Z"),
    ]
    with pytest.raises(InvalidEventError, match=reason) as info:
        _read(container, events, tmp_path, monkeypatch)
    _, where = _read(container, events[:1], tmp_path, monkeypatch)  # location kind
    for key, value in where.items():
        if container != "array-file":  # an array file names the item or the line
            assert getattr(info.value, key) == value

    with pytest.warns(SkippedRecordsWarning):
        log, _ = _read(container, events, tmp_path, monkeypatch, on_error="skip")
    assert log.events["id"].to_list() == ["ok1", "ok2"]
    report = log.report
    assert len(report.skipped) == 1
    assert re.search(reason, report.skipped[0].reason)
    assert len(log) + len(report.skipped) + report.duplicates == report.records == 3
    repr(log)  # displays
    log.summary()


# -- item 9: timestamps out of range ---------------------------------------------------
OUT_OF_RANGE = [
    "+10000-01-01T00:00:00.000Z",
    "0000-01-01T00:00:00.000Z",
    "-0001-01-01T00:00:00.000Z",
    "+002024-05-01T00:00:00Z",
    "9999-12-31T23:30:00-01:00",  # in range as written, past 9999 in UTC
    "0001-01-01T00:30:00+01:00",  # before year 1 in UTC
]


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("stamp", OUT_OF_RANGE)
def test_timestamps_out_of_range_are_invalid_events(
    tmp_path, monkeypatch, container, stamp
):
    bad = make_event("bad", created_at=stamp)
    _check(
        container,
        bad,
        "created_at .* is outside the supported range",
        tmp_path,
        monkeypatch,
    )


def test_out_of_range_reason_says_so():
    bad = make_event("bad", created_at="+10000-01-01T00:00:00.000Z")
    with pytest.raises(InvalidEventError, match=r"outside the supported range 0001"):
        read_events([bad])
    bad = make_event("bad", created_at="0000-01-01T00:00:00.000Z")
    with pytest.raises(InvalidEventError, match=r"outside the supported range"):
        read_events([bad])


@pytest.mark.parametrize("container", CONTAINERS)
def test_the_bounds_of_the_range_load_and_display(tmp_path, monkeypatch, container):
    events = [
        make_event("first", created_at="0001-01-01T00:00:00.000Z"),
        make_event("last", created_at="9999-12-31T23:59:59.999Z"),
    ]
    log, _ = _read(container, events, tmp_path, monkeypatch)
    assert log.events["created_at"].to_list() == [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    ]
    assert "0001-01-01" in repr(log)
    log.summary()


def test_payload_timestamps_out_of_range_are_null():
    event = make_event(
        "a",
        type="customer.confirmed",
        customer="c1",
    )
    event["data"]["data"]["customer"]["created_at"] = "+10000-01-01T00:00:00Z"
    log = read_events([event])
    frame = log["customer.confirmed"]
    assert frame["customer_created_at"].to_list() == [None]
    frame.to_dicts()  # no OverflowError


# -- item 10: id and type must be non-empty strings ------------------------------------
NOT_STRINGS = [
    ("id", 12345, r"id must be a non-empty string, got JSON number 12345"),
    ("id", 1.5, r"id must be a non-empty string, got JSON number"),
    ("id", [1, 2], r"id must be a non-empty string, got JSON array \[1,2\]"),
    ("id", {"a": 1}, r"id must be a non-empty string, got JSON object"),
    ("id", True, r"id must be a non-empty string, got JSON boolean"),
    ("id", "", r"id must be a non-empty string, got ''"),
    ("id", " \t", r"id must be a non-empty string, got ' \\t'"),
    ("type", 7, r"type must be a non-empty string, got JSON number 7 \(id 'bad'\)"),
    ("type", ["a"], r"type must be a non-empty string, got JSON array"),
    ("type", "", r"type must be a non-empty string, got '' \(id 'bad'\)"),
]


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize(("key", "value", "reason"), NOT_STRINGS)
def test_id_and_type_must_be_non_empty_strings(
    tmp_path, monkeypatch, container, key, value, reason
):
    bad = make_event("bad")
    bad[key] = value
    _check(container, bad, reason, tmp_path, monkeypatch)


@pytest.mark.parametrize("container", CONTAINERS)
def test_string_ids_that_look_like_numbers_are_kept(tmp_path, monkeypatch, container):
    events = [
        make_event("12345"),
        make_event("[1, 2]", created_at="2024-05-02T00:00:00Z"),
        make_event("true", type="customer.created", created_at="2024-05-03T00:00:00Z"),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkippedRecordsWarning)
        log, _ = _read(container, events, tmp_path, monkeypatch)
    assert log.events["id"].to_list() == ["12345", "[1, 2]", "true"]
    assert log.events["id"].dtype == pl.String
