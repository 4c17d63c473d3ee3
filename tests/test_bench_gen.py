"""The benchmark generator (``benchmarks/_gen.py``): deterministic, every shape holds
the same events, the traits the loading benchmark relies on are there, and today's
readers load what it writes."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
import warnings
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
N = 3000  # events: ~30 customers, one per chunk, so the last tenth has late chunks


def _load_gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_bench_gen", ROOT / "benchmarks" / "_gen.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # so that worker processes find _render
    spec.loader.exec_module(module)
    return module


gen = _load_gen()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("gen")
    paths = {}
    for shape in ("nested", "flat", "mixed", "pages", "pagedir"):
        paths[shape] = out / shape
        gen.write(shape, paths[shape], N, seed=7, workers=1)
    paths["gzip"] = out / "nested.gz"
    gen.write("gzip", paths["gzip"], N, seed=7, workers=1, source=paths["nested"])
    return paths


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines() if line]


def _page_events(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for page in pages for e in page["data"]]


def _payload(event: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = event["data"]
    return data["data"] if "event_source" in data else data


def test_deterministic_whatever_the_workers(tmp_path: Path) -> None:
    gen.write("nested", tmp_path / "one", N, seed=7, workers=1)
    gen.write("nested", tmp_path / "two", N, seed=7, workers=2)
    gen.write("nested", tmp_path / "other", N, seed=8, workers=1)
    one = (tmp_path / "one").read_bytes()
    assert one == (tmp_path / "two").read_bytes()
    assert one != (tmp_path / "other").read_bytes()
    meta = gen.read_meta(tmp_path / "one")
    assert meta["events"] == meta["unique"] == N
    assert meta["bytes"] == len(one)


def test_every_shape_holds_the_same_events(files: dict[str, Path]) -> None:
    nested = _lines(files["nested"])
    assert len(nested) == N
    assert all("event_source" in e["data"] for e in nested)
    flat = _lines(files["flat"])
    assert all("event_source" not in e["data"] for e in flat)
    mixed = _lines(files["mixed"])
    kinds = {"event_source" in e["data"] for e in mixed}
    assert kinds == {True, False}
    pages = _lines(files["pages"])
    in_dir = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(files["pagedir"].rglob("*.json"))
    ]
    with gzip.open(files["gzip"], "rb") as fh:
        assert fh.read() == files["nested"].read_bytes()

    ids = [e["id"] for e in nested]
    assert len(set(ids)) == N
    by_id = {e["id"]: e for e in nested}
    for other in (flat, mixed):
        assert [e["id"] for e in other] == ids
        assert all(_payload(e) == _payload(by_id[e["id"]]) for e in other)
    for paged in (pages, in_dir):
        events = _page_events(paged)
        assert len(events) >= N  # date-cursor pages may repeat a boundary event
        assert {e["id"] for e in events} == set(ids)
        assert all(e == by_id[e["id"]] for e in events)
    assert gen.read_meta(files["pages"])["records"] == len(_page_events(pages))

    generations: defaultdict[str, int] = defaultdict(int)
    for page in pages + in_dir:
        assert page["object"] == "list"
        assert page["data_ref"] == "data"
        assert len(page["data"]) <= gen.PAGE_SIZE
        generations["total" if "total" in page else "has_more"] += 1
        if "has_more" in page:
            assert (page["more_starting_after"] is not None) == page["has_more"]
    assert set(generations) == {"total", "has_more"}
    folders = {p.parent.name for p in files["pagedir"].rglob("*.json")}
    assert all(f.startswith("cust_") for f in folders)
    assert b"\\u" in b"".join(p.read_bytes() for p in files["pagedir"].rglob("*.json"))


def test_traits(files: dict[str, Path]) -> None:
    from activity_toolkit.events import REGISTRY, canonical_type

    text = files["nested"].read_text(encoding="utf-8")
    events = _lines(files["nested"])
    types = {e["type"] for e in events}
    assert len(types) >= 20
    assert {canonical_type(t) for t in types} - set(REGISTRY) == set(gen.UNKNOWN_TYPES)
    assert set(gen.KNOWN_TYPES) <= set(REGISTRY) | {"customer.segment_entered"}
    assert all(e["id"].startswith("evcus_") for e in events)
    stamps = [e["created_at"] for e in events]
    assert any(len(s) == 24 for s in stamps)  # YYYY-MM-DDTHH:MM:SS.mmmZ
    assert any(len(s) == 20 for s in stamps)  # without milliseconds
    assert "\u2028" in text
    assert "Łódź" in text or "Łukasz" in text
    assert '\\"' in text
    assert "\\\\" in text

    # metadata: one key, many value types
    kinds: dict[str, set[str]] = defaultdict(set)
    for e in events:
        customer = _payload(e).get("customer") or {}
        for key, value in (customer.get("metadata") or {}).items():
            kinds[key].add(type(value).__name__)
    assert max(len(k) for k in kinds.values()) >= 5
    # nullable sub-objects are sometimes null, sometimes objects
    addresses = {
        _payload(e)["customer"]["address"] is None
        for e in events
        if "customer" in _payload(e)
    }
    assert addresses == {True, False}

    # rare keys first appear after 90% of the events, in every line shape
    for shape in ("nested", "flat", "mixed"):
        lines = files[shape].read_text(encoding="utf-8").splitlines()
        for needle in (
            '"attribution":',
            '"ab_test":',
            '"late_vip_since":',
            f'"{gen.LATE_TYPE}"',
        ):
            first = next(i for i, line in enumerate(lines) if needle in line)
            assert first >= gen.LATE_FRACTION * N, (shape, needle, first)


@pytest.mark.slow
def test_todays_readers_load_it(files: dict[str, Path]) -> None:
    from activity_toolkit import read_events, read_pages

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown event types, by design
        logs = {
            shape: (read_pages if shape.startswith("page") else read_events)(path)
            for shape, path in files.items()
        }
    for shape, log in logs.items():
        assert len(log) == N, shape
        assert log.report is not None
        assert not log.report.skipped, shape
    ids = logs["nested"].events["id"].to_list()
    for log in logs.values():
        assert log.events["id"].to_list() == ids
