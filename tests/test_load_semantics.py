"""One set of JSON rules for every container a reader takes.

Files (NDJSON, JSON array, gzip), bytes, NDJSON chunks, dicts, page files (NDJSON of
pages, a JSON array of pages, a folder of pretty-printed pages) and page dicts all go
through DuckDB's parser and the same checks, so the same events load into equal logs,
and the same bad record is refused (or skipped) the same way wherever it comes from.
"""

from __future__ import annotations

import gzip
import json
import tempfile
import warnings
from pathlib import Path

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

from activity_toolkit import read_events, read_pages
from activity_toolkit.exceptions import (
    InputError,
    InvalidEventError,
    InvalidJSONError,
    SkippedRecordsWarning,
    UnreadableFileError,
)
from activity_toolkit.io import read_ndjson_chunks
from tests.test_properties import events as event_lists

BOM = b"\xef\xbb\xbf"


def _event(eid: str, day: int = 1, **payload: object) -> dict[str, object]:
    return {
        "id": eid,
        "type": "customer.order.paid",
        "created_at": f"2024-05-{day:02d}T10:00:00.000Z",
        "group_id": "v-1",
        "data": {
            "data": {"customer": {"id": "c1"}, "order": {"id": f"o-{eid}"}, **payload},
            "event_source": {"channel": "API"},
        },
    }


def _lines(texts: list[bytes]) -> bytes:
    return b"".join(t + b"\n" for t in texts)


def _page(texts: list[bytes]) -> bytes:
    return b'{"object":"list","has_more":false,"data":[' + b",".join(texts) + b"]}"


#: Containers of event JSON texts: name → reader of a list of texts (one per event).
def _containers(tmp: Path) -> dict[str, object]:
    def write(name: str, data: bytes) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path

    def pages_dir(texts: list[bytes]) -> Path:
        folder = tmp / "pages"
        folder.mkdir(exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for i in range(0, max(len(texts), 1), 3):  # three events a page
            write(f"pages/p{i:04d}.json", _page(texts[i : i + 3]))
        return folder

    return {
        "ndjson-file": lambda t, **k: read_events(write("e.ndjson", _lines(t)), **k),
        "gzip-file": lambda t, **k: read_events(
            write("e.ndjson.gz", gzip.compress(_lines(t))), **k
        ),
        "array-file": lambda t, **k: read_events(
            write("e.json", b"[\n" + b",\n".join(t) + b"\n]"), **k
        ),
        "bytes": lambda t, **k: read_events(_lines(t), **k),
        "line-chunks": lambda t, **k: read_ndjson_chunks([x + b"\n" for x in t], **k),
        "pages-ndjson": lambda t, **k: read_pages(
            write(
                "p.ndjson", _lines([_page(t[i : i + 2]) for i in range(0, len(t), 2)])
            ),
            **k,
        ),
        "pages-array": lambda t, **k: read_pages(
            write("p.json", b"[" + _page(t) + b"]"), **k
        ),
        "pages-dir": lambda t, **k: read_pages(pages_dir(t), **k),
    }


TEXT_CONTAINERS = [
    "ndjson-file",
    "gzip-file",
    "array-file",
    "bytes",
    "line-chunks",
    "pages-ndjson",
    "pages-array",
    "pages-dir",
]


def _read(container: str, texts: list[bytes], tmp: Path, **kwargs: object):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _containers(tmp)[container](texts, **kwargs)  # type: ignore[operator]


def _same(a, b) -> None:
    assert a.events.equals(b.events)
    assert sorted(a.frames) == sorted(b.frames)
    for t in a.frames:
        assert a.frames[t].equals(b.frames[t]), t
    assert a.report.records == b.report.records
    assert a.report.duplicates == b.report.duplicates


# -- the property: the same events through every container give equal logs ------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evs=event_lists())
def test_the_same_events_load_equal_through_every_container(evs):
    texts = [orjson.dumps(e) for e in evs]
    with tempfile.TemporaryDirectory() as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = read_events(list(evs))  # dicts
            page_dicts = read_pages(
                [
                    {"object": "list", "data": evs[i : i + 4]}
                    for i in range(0, len(evs), 4)
                ]
            )
        _same(reference, page_dicts)
        for container in TEXT_CONTAINERS:
            _same(reference, _read(container, texts, Path(tmp)))


# -- the rules, each decided once ----------------------------------------------------
@pytest.mark.parametrize("container", TEXT_CONTAINERS)
@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_invalid_json_everywhere(tmp_path, container, token):
    bad = orjson.dumps(_event("b", amount=0)).replace(
        b'"amount":0', b'"amount":' + token
    )
    texts = [orjson.dumps(_event("a")), bad, orjson.dumps(_event("c", 3))]
    with pytest.raises(InvalidJSONError, match="NaN and Infinity are not JSON"):
        _read(container, texts, tmp_path)
    with pytest.warns(SkippedRecordsWarning):
        log = _containers(tmp_path)[container](texts, on_error="skip")  # type: ignore[operator]
    assert log.events["id"].to_list() == ["a", "c"]
    report = log.report
    assert len(log) + len(report.skipped) + report.duplicates == report.records == 3


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_nan_floats_in_dicts_are_refused_too(value):
    with pytest.raises(InvalidJSONError, match="NaN and Infinity"):
        read_events([_event("a", amount=value)])
    with pytest.raises(InvalidJSONError, match="NaN and Infinity"):
        read_pages([{"object": "list", "data": [_event("a", amount=value)]}])


@pytest.mark.parametrize("container", TEXT_CONTAINERS)
def test_nan_inside_a_string_is_text(tmp_path, container):
    texts = [orjson.dumps(_event("a", note='x":NaN, [Infinity', tag="NaN"))]
    log = _read(container, texts, tmp_path)
    assert json.loads(log.events["payload"][0])["note"] == 'x":NaN, [Infinity'


@pytest.mark.parametrize("container", TEXT_CONTAINERS)
def test_numbers_beyond_double_and_int64_keep_their_digits(tmp_path, container):
    text = orjson.dumps(_event("a", amount=0)).replace(
        b'"amount":0', b'"amount":1e999,"big":123456789012345678901234567890'
    )
    log = _read(container, [text], tmp_path)
    payload = log.events["payload"][0]
    assert "1e999" in payload
    assert "123456789012345678901234567890" in payload


@pytest.mark.parametrize("container", TEXT_CONTAINERS)
def test_deep_nesting_is_accepted(tmp_path, container):
    deep = b"[" * 5000 + b"]" * 5000
    text = orjson.dumps(_event("a", extra=0)).replace(b'"extra":0', b'"extra":' + deep)
    log = _read(container, [text], tmp_path)
    assert log.events["payload"][0].count("[") == 5000


@pytest.mark.parametrize("container", TEXT_CONTAINERS)
def test_duplicate_keys_the_first_wins(tmp_path, container):
    text = orjson.dumps(_event("first")).replace(
        b'{"id":"first"', b'{"id":"first","id":"second"'
    )
    log = _read(container, [text], tmp_path)
    assert log.events["id"].to_list() == ["first"]


@pytest.mark.parametrize(
    "container", ["ndjson-file", "gzip-file", "array-file", "bytes", "pages-ndjson"]
)
def test_a_bom_at_the_start_is_ignored(tmp_path, container):
    texts = [orjson.dumps(_event("a")), orjson.dumps(_event("b", 2))]
    plain = _read(container, texts, tmp_path)
    if container == "bytes":
        with_bom = read_events(BOM + _lines(texts))
    else:
        path = {
            "ndjson-file": "e.ndjson",
            "gzip-file": "e.ndjson.gz",
            "array-file": "e.json",
            "pages-ndjson": "p.ndjson",
        }[container]
        data = (tmp_path / path).read_bytes()
        if container == "gzip-file":
            data = gzip.compress(BOM + gzip.decompress(data))
        else:
            data = BOM + data
        (tmp_path / path).write_bytes(data)
        reader = read_pages if container.startswith("pages") else read_events
        with_bom = reader(tmp_path / path)
    _same(plain, with_bom)


def test_a_bom_does_not_cost_the_first_event_when_another_line_is_bad(tmp_path):
    path = tmp_path / "e.ndjson"
    path.write_bytes(BOM + _lines([orjson.dumps(_event("a")), b"{broken"]))
    with pytest.warns(SkippedRecordsWarning):
        log = read_events(path, on_error="skip")
    assert log.events["id"].to_list() == ["a"]
    assert log.report.skipped[0].location.endswith("line 2")


@pytest.mark.parametrize("text", [b"", b"   \n\n\t\n", BOM + b"\n"])
def test_empty_and_whitespace_only_files_are_empty_logs(tmp_path, text):
    (tmp_path / "e.ndjson").write_bytes(text)
    (tmp_path / "p.json").write_bytes(text)
    for log in (
        read_events(tmp_path / "e.ndjson"),
        read_pages(tmp_path / "p.json"),
        read_events(text),
    ):
        assert len(log) == 0
        assert log.report.records == 0


def test_an_ndjson_file_whose_first_line_is_an_empty_array(tmp_path):
    path = tmp_path / "e.ndjson"
    path.write_bytes(
        _lines([b"[]", orjson.dumps(_event("a")), orjson.dumps(_event("b"))])
    )
    with pytest.raises(InvalidEventError, match="line 1: expected an event object"):
        read_events(path)
    with pytest.warns(SkippedRecordsWarning):
        log = read_events(path, on_error="skip")
    assert log.events["id"].to_list() == ["a", "b"]
    assert (log.report.records, len(log.report.skipped)) == (3, 1)


@pytest.mark.parametrize("on_error", ["raise", "skip"])
def test_a_bad_record_deep_in_a_large_file_is_located(tmp_path, on_error):
    good = [orjson.dumps(_event(f"e{i}", 1 + i % 28)) for i in range(20_000)]
    texts = [*good[:15_000], b'{"id": "x", broken', *good[15_000:]]
    path = tmp_path / "big.ndjson"
    path.write_bytes(_lines(texts))
    if on_error == "raise":
        with pytest.raises(InvalidJSONError) as info:
            read_events(path, chunk_bytes=1 << 20)
        assert (info.value.source, info.value.line) == (str(path), 15_001)
        return
    with pytest.warns(SkippedRecordsWarning):
        log = read_events(path, on_error="skip", chunk_bytes=1 << 20)
    assert len(log) == 20_000
    assert log.report.skipped[0].location == f"{path}, line 15001"


def test_a_truncated_json_array_file_names_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"[\n" + orjson.dumps(_event("a")) + b",\n" + b'{"id": "b", "ty')
    good = tmp_path / "good.ndjson"
    good.write_bytes(_lines([orjson.dumps(_event("c"))]))
    with pytest.raises(InvalidJSONError) as info:
        read_events([good, bad])
    assert (info.value.source, info.value.line) == (str(bad), 3)
    with pytest.warns(SkippedRecordsWarning):
        log = read_events([good, bad], on_error="skip")
    assert log.events["id"].to_list() == ["c"]  # the other file is kept
    report = log.report
    assert (report.records, len(report.skipped)) == (2, 1)  # the broken file is one


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_gzip_names_the_file_and_keeps_what_came_before(tmp_path, damage):
    texts = [orjson.dumps(_event(f"e{i}", 1 + i % 28)) for i in range(5000)]
    data = gzip.compress(_lines(texts))
    path = tmp_path / "e.ndjson.gz"
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(data[:20] + bytes(b ^ 0x55 for b in data[20:60]) + data[60:])
    with pytest.raises(UnreadableFileError) as info:
        read_events(path, chunk_bytes=64 * 1024)
    assert info.value.source == str(path)
    assert isinstance(info.value, InputError)
    with pytest.warns(SkippedRecordsWarning):
        log = read_events(path, on_error="skip", chunk_bytes=64 * 1024)
    report = log.report
    assert len(report.skipped) == 1
    assert len(log) + len(report.skipped) + report.duplicates == report.records
    if damage == "truncated":
        assert 0 < len(log) < 5000
        ids = log.events.sort("id")["id"]
        assert set(ids) <= {f"e{i}" for i in range(5000)}


@pytest.mark.parametrize("container", TEXT_CONTAINERS)
def test_counts_add_up_with_every_kind_of_bad_record(tmp_path, container):
    texts = [
        orjson.dumps(_event("a")),
        b"{broken",
        b"[1, 2]",
        orjson.dumps({**_event("x"), "id": 7}),
        orjson.dumps({**_event("y"), "created_at": "yesterday"}),
        orjson.dumps({**_event("z"), "data": [1]}),
        orjson.dumps(_event("a")),  # a duplicate
        orjson.dumps(_event("b", 2)),
    ]
    if container.startswith("pages") or container == "array-file":
        texts.remove(b"{broken")  # inside a document it breaks the whole document
    with pytest.warns(SkippedRecordsWarning):
        log = _containers(tmp_path)[container](texts, on_error="skip")  # type: ignore[operator]
    report = log.report
    assert log.events["id"].to_list() == ["a", "b"]
    assert report.duplicates == 1
    assert len(log) + len(report.skipped) + report.duplicates == report.records
    assert report.records == len(texts)
    assert isinstance(log.events, pl.DataFrame)
