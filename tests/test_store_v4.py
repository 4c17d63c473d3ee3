"""Store format 4: one table per family that engines read directly, the payload
apart, ``store_paths`` for engines, and format-3 stores read and upgraded."""

from __future__ import annotations

import json
import secrets
import time
import warnings
from pathlib import Path
from urllib.parse import quote

import polars as pl
import pytest
from conftest import make_event

from activity_toolkit import (
    ActivityLog,
    read_events,
    read_parquet,
    scan_events,
    scan_frame,
    store_paths,
)
from activity_toolkit import _store as store_format
from activity_toolkit.events import (
    EVENT_COLUMNS,
    FAMILIES,
    REGISTRY,
    UNKNOWN_FAMILY,
    frame_schema,
)
from activity_toolkit.exceptions import StoreError
from activity_toolkit.io import StoreWriter, read_state, write_store

COMMON = [c for c in EVENT_COLUMNS if c != "payload"]


def _live(store: Path) -> Path:
    return store / (store / "CURRENT").read_text()


def _manifest(store: Path) -> dict:
    return json.loads((_live(store) / "manifest.json").read_text())


def _quiet_read_events(events):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_events(events)


def _stacked(log: ActivityLog, family: str) -> pl.DataFrame:
    """The rows of one family table as read_parquet gives them: the family's
    frames stacked on the table's columns, without the payload."""
    schema = store_format.family_schema(family)
    frames = [f for t, f in log.frames.items() if store_format.family_of(t) == family]
    return pl.concat(
        [
            f.select(
                pl.col(c) if c in f.columns else pl.lit(None, dtype=d).alias(c)
                for c, d in schema.items()
            )
            for f in frames
        ]
    )


def _ms_utc(frame: pl.DataFrame) -> pl.DataFrame:
    """Timestamps as the store holds them (DuckDB gives microseconds, Etc/UTC)."""
    return frame.with_columns(
        pl.col(pl.Datetime).dt.cast_time_unit("ms").dt.convert_time_zone("UTC")
    )


# -- the registry gives each family one schema -------------------------------------------
def test_the_types_of_a_family_agree_on_every_column_they_share():
    """A stacked family table needs one type per column name: two types of a family
    that disagree would fail here, naming both."""
    conflicts = []
    for family, types in FAMILIES.items():
        seen: dict[str, tuple[str, pl.DataType]] = {}
        for t in types:
            for column, dtype in frame_schema(t).items():
                first = seen.setdefault(column, (t, dtype))
                if first[1] != dtype:
                    conflicts.append(
                        f"{family}: {column!r} is {first[1]} in {first[0]!r} and "
                        f"{dtype} in {t!r}"
                    )
    assert conflicts == []
    for family, types in FAMILIES.items():
        schema = store_format.family_schema(family)
        assert list(schema)[: len(COMMON)] == COMMON
        assert "payload" not in schema
        for t in types:
            for column, dtype in frame_schema(t).items():
                if column != "payload":
                    assert schema[column] == dtype, (family, t, column)
    assert list(store_format.family_schema(UNKNOWN_FAMILY)) == COMMON


def test_family_schema_refuses_a_family_whose_types_disagree(monkeypatch):
    def fake_frame_schema(event_type):
        base = dict(frame_schema("customer.order.paid"))
        if event_type.endswith("paid"):
            base["order_amount"] = pl.String()
        return pl.Schema(base)

    monkeypatch.setattr(store_format, "frame_schema", fake_frame_schema)
    store_format.family_schema.cache_clear()
    try:
        with pytest.raises(ValueError, match="'order_amount'"):
            store_format.family_schema("order")
    finally:
        monkeypatch.undo()
        store_format.family_schema.cache_clear()


# -- the layout --------------------------------------------------------------------------
def test_every_file_of_a_table_has_its_schema_and_sorted_rows(small_log, tmp_path):
    with StoreWriter(tmp_path / "s") as writer:  # in parts: part files of each table
        writer.add(small_log.filter(end="2024-09-01"))
        writer.add(small_log.filter(start="2024-09-01"))
        writer.commit()
    store = tmp_path / "s"
    live = _live(store)
    meta = _manifest(store)
    assert meta["parts"] == 2
    assert not (live / "events").exists()
    assert not (live / "frames").exists()
    present = {store_format.family_of(t) for t in small_log.types}
    assert set(meta["families"]) == present
    assert "unknown" in present  # the sample has a few unknown types
    for family in present:
        files = sorted((live / "families" / family).rglob("*.parquet"))
        assert files
        for f in files:
            assert f.parent.name.startswith("month=")
            assert f.name in {"part-0.parquet", "part-1.parquet"}
            assert pl.read_parquet_schema(f) == dict(
                store_format.family_schema(family)
            ), f
            rows = pl.read_parquet(f)
            month = rows["created_at"].dt.strftime("%Y-%m").unique().to_list()
            assert month == [f.parent.name.removeprefix("month=")]
            assert rows.equals(rows.sort("customer_id", "created_at", "id")), f
            assert rows["family"].unique().to_list() == [family]
    payload = pl.read_parquet(live / "payload", hive_partitioning=False)
    assert payload.columns == ["id", "payload"]
    assert payload.sort("id").equals(
        small_log.events.select("id", "payload").sort("id")
    )
    assert read_parquet(store).equals(small_log)


def test_the_types_of_a_family_share_one_table(small_log, tmp_path):
    store = small_log.write_parquet(tmp_path / "s")
    meta = _manifest(store)
    assert meta["family_of"] == {t: store_format.family_of(t) for t in small_log.types}
    tier = pl.read_parquet(_live(store) / "families" / "tier", hive_partitioning=False)
    assert sorted(tier["type"].unique()) == sorted(
        t for t in small_log.types if REGISTRY.get(t) and REGISTRY[t].family == "tier"
    )
    assert tier.sort("id").equals(_stacked(small_log, "tier").sort("id"))


def test_an_id_in_two_parts_under_two_types_is_kept_from_the_first(tmp_path):
    first = read_events([make_event("a"), make_event("b")])
    second = read_events(
        [
            make_event("b", "customer.segment.left", segment={"id": "s"}),
            make_event("c", "customer.segment.left", segment={"id": "s"}),
        ]
    )
    with StoreWriter(tmp_path / "s") as writer:
        writer.add(first)
        writer.add(second)
        writer.commit()
    store = tmp_path / "s"
    back = read_parquet(store)
    assert back.equals(first | second)
    assert back.events.filter(pl.col("id") == "b")["type"].to_list() == [
        "customer.order.paid"
    ]
    assert scan_frame(store, "customer.segment.left").collect()["id"].to_list() == ["c"]
    assert scan_frame(store, "customer.order.paid").collect()["id"].to_list() == [
        "a",
        "b",
    ]
    events = scan_events(store).collect()
    assert events.equals(back.events)


def test_scans_are_in_event_order(small_log, tmp_path):
    store = small_log.write_parquet(tmp_path / "s")
    assert scan_events(store).collect().equals(small_log.events)
    assert scan_events(store).select(pl.len()).collect().item() == len(small_log)
    paid = scan_frame(store, "customer.order.paid")
    assert paid.collect().equals(small_log["customer.order.paid"])
    amounts = paid.select("order_amount").collect()["order_amount"]
    assert amounts.equals(small_log["customer.order.paid"]["order_amount"])


def test_scans_without_the_payload_leave_its_table_out(small_log, tmp_path):
    store = small_log.write_parquet(tmp_path / "s")
    events = scan_events(store, payload=False)
    plan = events.explain()
    assert "JOIN" not in plan
    assert "/payload/" not in plan
    assert events.collect().equals(small_log.events.drop("payload"))
    tier = scan_frame(store, "customer.loyalty.tier.upgraded", payload=False)
    assert tier.collect().equals(
        small_log["customer.loyalty.tier.upgraded"].drop("payload")
    )
    assert scan_frame(
        store, "customer.consents.revoked", payload=False
    ).collect_schema()
    v3 = write_v3(tmp_path / "v3", small_log)
    assert (
        scan_events(v3, payload=False)
        .collect()
        .sort("created_at", "id")
        .equals(small_log.events.drop("payload"))
    )
    got = scan_frame(v3, "customer.order.paid", payload=False).collect()
    assert got.sort("created_at", "id").equals(
        small_log["customer.order.paid"].drop("payload")
    )


# -- what a writer accepts ---------------------------------------------------------------
def test_a_custom_column_widens_its_family_table(tmp_path):
    """A frame bringing a column its table lacks: every file of the table gets it
    (null in the others), the live version's files are left as they are."""
    store = tmp_path / "s"
    base = read_events([make_event("a"), make_event("b", "customer.order.created")])
    write_store(base, store)
    old = _live(store)
    before = {p: p.read_bytes() for p in old.rglob("*.parquet")}
    extra = read_events([make_event("c", "customer.order.canceled")])
    frames = {
        t: f.with_columns(pl.lit("x").alias("note")) for t, f in extra.frames.items()
    }
    custom = ActivityLog(extra.events, frames)
    with StoreWriter(store, extend=True) as writer:
        writer.add(custom)
        writer.commit()
    assert {p: p.read_bytes() for p in old.rglob("*.parquet")} == before
    live = _live(store)
    schemas = {
        str(f.relative_to(live)): list(pl.read_parquet_schema(f))
        for f in (live / "families" / "order").rglob("*.parquet")
    }
    assert len(schemas) == 2
    assert all(cols[-1] == "note" for cols in schemas.values()), schemas
    back = read_parquet(store)
    assert back["customer.order.canceled"]["note"].to_list() == ["x"]
    assert "note" not in back["customer.order.paid"].columns
    assert back.equals(ActivityLog.concat([base, custom]))
    assert _manifest(store)["families"]["order"][-1] == "note"


def test_a_column_of_another_type_than_its_table_is_refused(tmp_path):
    log = read_events([make_event("a"), make_event("b", "customer.order.created")])
    frames = dict(log.frames)
    frames["customer.order.created"] = frames["customer.order.created"].with_columns(
        pl.col("order_amount").cast(pl.String)
    )
    with pytest.raises(StoreError, match="'order_amount'"):
        write_store(ActivityLog(log.events, frames), tmp_path / "s")
    assert not (tmp_path / "s" / "CURRENT").exists()


def test_a_log_whose_frames_miss_events_is_refused(tmp_path):
    log = read_events([make_event("a"), make_event("b", "customer.order.created")])
    frames = {"customer.order.paid": log["customer.order.paid"]}
    with pytest.raises(StoreError, match="exactly one frame"):
        write_store(ActivityLog(log.events, frames), tmp_path / "s")


def test_a_type_stays_in_the_table_it_was_first_written_to(tmp_path, monkeypatch):
    """A type an older registry did not know went to ``unknown``; extending with a
    registry that knows it keeps it there (one table per type per version)."""
    store = tmp_path / "s"
    first = read_events([make_event("a"), make_event("b", "customer.order.created")])

    def older_registry(event_type):
        if event_type == "customer.order.created":
            return UNKNOWN_FAMILY
        return store_format.family_of.__wrapped__(event_type)  # type: ignore[attr-defined]

    real = store_format.family_of
    older_registry.__wrapped__ = real  # type: ignore[attr-defined]
    monkeypatch.setattr(store_format, "family_of", older_registry)
    write_store(first, store)
    monkeypatch.undo()
    assert _manifest(store)["family_of"]["customer.order.created"] == "unknown"
    second = read_events([make_event("c", "customer.order.created")])
    with StoreWriter(store, extend=True) as writer:
        writer.add(second)
        writer.commit()
    meta = _manifest(store)
    assert meta["family_of"]["customer.order.created"] == "unknown"
    assert "order_amount" in meta["families"]["unknown"]  # widened for its columns
    assert read_parquet(store).equals(first | second)


# -- engines -----------------------------------------------------------------------------
def test_store_paths_names_the_live_tables(small_log, tmp_path):
    store = small_log.write_parquet(tmp_path / "s")
    paths = store_paths(store)
    live = _live(store).resolve()
    assert paths.root == str(live)
    assert paths.parts == 1
    assert paths.families == tuple(sorted(_manifest(store)["families"]))
    assert set(paths.tables) == {*paths.families, "payload"}
    assert paths.tables["tier"] == str(live / "families" / "tier")
    assert paths.tables["payload"] == str(live / "payload")
    assert paths.glob("tier") == f"{live}/families/tier/month=*/part-*.parquet"
    assert paths.events == [paths.glob(f) for f in paths.families]
    assert list(paths.columns) == COMMON
    # a later write makes another version live: the paths are resolved again
    write_store(small_log, store)
    assert store_paths(store).root != paths.root
    assert Path(paths.root).is_dir()  # the old one stays for its readers a while
    empty = ActivityLog.empty().write_parquet(tmp_path / "e")
    assert store_paths(empty).tables == {}
    assert store_paths(empty).events == []


def test_store_paths_refuses_what_it_cannot_name(tmp_path):
    with pytest.raises(StoreError, match="no such store"):
        store_paths(tmp_path / "missing")
    store = read_events([make_event("a")]).write_parquet(tmp_path / "s")
    manifest = _live(store) / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "version": 9}))
    with pytest.raises(StoreError, match="format version 9"):
        store_paths(store)


def test_duckdb_reads_a_family_table_as_read_parquet_gives_it(small_log, tmp_path):
    import duckdb

    store = small_log.write_parquet(tmp_path / "s")
    paths = store_paths(store)
    con = duckdb.connect()
    for family in ("tier", "points", "order", "unknown"):
        table = _ms_utc(
            con.read_parquet(paths.glob(family), hive_partitioning=True).pl()
        )
        assert table.columns == [*store_format.family_schema(family), "month"]
        assert table["month"].equals(
            table["created_at"].dt.strftime("%Y-%m").alias("month")
        )
        expected = _stacked(read_parquet(store), family)
        assert table.drop("month").sort("id").equals(expected.sort("id")), family
    events = _ms_utc(
        con.read_parquet(paths.events, hive_partitioning=True, union_by_name=True)
        .select(*paths.columns)
        .pl()
    )
    assert events.sort("id").equals(small_log.events.drop("payload").sort("id"))
    payload = con.read_parquet(paths.glob("payload"), hive_partitioning=True).pl()
    assert payload.columns == ["id", "payload", "month"]
    assert (
        payload.drop("month")
        .sort("id")
        .equals(small_log.events.select("id", "payload").sort("id"))
    )


def test_duckdb_keeps_the_first_part_of_an_id_as_documented(tmp_path):
    """The recipe in ``store_paths``' docstring for a store written in parts."""
    import duckdb

    first = read_events([make_event("a"), make_event("b")])
    second = read_events(
        [
            make_event("b", customer="LATER"),
            make_event("c", "customer.segment.left", segment={"id": "s"}),
        ]
    )
    with StoreWriter(tmp_path / "s") as writer:
        writer.add(first)
        writer.add(second)
        writer.commit()
    paths = store_paths(tmp_path / "s")
    assert paths.parts == 2
    events = duckdb.read_parquet(
        paths.events, hive_partitioning=True, union_by_name=True, filename=True
    )
    kept = events.query(
        "events",
        f"SELECT {', '.join(paths.columns)} FROM events QUALIFY row_number() OVER "
        "(PARTITION BY id ORDER BY regexp_extract(filename, 'part-([0-9]+)', 1)::INT)"
        " = 1",
    ).pl()
    kept = _ms_utc(kept)
    back = read_parquet(tmp_path / "s")
    assert kept.sort("id").equals(back.events.drop("payload").sort("id"))
    assert kept.filter(pl.col("id") == "b")["customer_id"].to_list() == ["cust_1"]


# -- format 3: read, and upgraded by an extending writer ----------------------------------
def _v3_dir_name(event_type: str) -> str:
    import hashlib

    encoded = quote(event_type, safe="", errors="surrogatepass")
    if len(encoded) <= 100:
        return f"t={encoded}"
    digest = hashlib.sha256(event_type.encode("utf-8", "surrogatepass")).hexdigest()
    prefix = ""
    for ch in event_type:
        q = quote(ch, safe="", errors="surrogatepass")
        if len(prefix) + len(q) > 60:
            break
        prefix += q
    return f"h={prefix}-{digest[:16]}"


def write_v3(store: Path, *parts: ActivityLog, state: dict | None = None) -> Path:
    """A store as format version 3 wrote it: ``events/month=…/part-k.parquet`` with
    every event column, ``frames/<dir>/part-k.parquet`` with ``id`` and the typed
    columns, and a manifest mapping each type to its directory."""
    name = f"v-{time.time_ns()}-{secrets.token_hex(4)}"
    live = store / name
    (live / "events").mkdir(parents=True)
    (live / "frames").mkdir()
    columns: dict[str, list[str]] = {}
    dirs: dict[str, str] = {}
    events = 0
    for k, log in enumerate(parts):
        events += len(log)
        month = pl.col("created_at").dt.strftime("%Y-%m").alias("month")
        for (m,), rows in log.events.group_by(month, maintain_order=True):
            d = live / "events" / f"month={m}"
            d.mkdir(exist_ok=True)
            rows.write_parquet(d / f"part-{k}.parquet")
        for t, frame in log.frames.items():
            columns.setdefault(t, frame.columns)
            d = live / "frames" / dirs.setdefault(t, _v3_dir_name(t))
            d.mkdir(exist_ok=True)
            typed = [c for c in frame.columns if c not in EVENT_COLUMNS]
            frame.select("id", *typed).write_parquet(d / f"part-{k}.parquet")
    manifest = {
        "format": "activity_toolkit.store",
        "version": 3,
        "events": events,
        "parts": len(parts),
        "columns": columns,
        "dirs": dirs,
        "written_at": "2025-01-01T00:00:00Z",
    }
    (live / "manifest.json").write_text(json.dumps(manifest))
    if state is not None:
        (live / "state.json").write_text(json.dumps(state))
    record = {
        "format": "activity_toolkit.store.record",
        "versions": {name: {"superseded_at": None}},
    }
    (store / "store.json").write_text(json.dumps(record))
    (store / "CURRENT").write_text(name)
    return store


LONG = "customer." + "ü" * 60


def _v3_parts():
    first = _quiet_read_events(
        [
            make_event("a"),
            make_event("b", created_at="2024-07-01T00:00:00Z"),
            make_event("u", LONG, x=1),
            make_event(
                "t",
                "customer.loyalty.tier.upgraded",
                loyalty_tier={"id": "lt", "name": "Gold"},
            ),
        ]
    )
    second = _quiet_read_events(
        [
            make_event("b", created_at="2024-07-01T00:00:00Z", customer="LATER"),
            make_event(
                "c",
                "customer.segment.left",
                "2024-08-01T00:00:00Z",
                segment={"id": "s"},
            ),
        ]
    )
    return first, second


def test_a_format_3_store_is_read(small_log, tmp_path):
    store = write_v3(tmp_path / "s", small_log, state={"cursor": 3})
    assert _manifest(store)["version"] == 3
    assert read_parquet(store).equals(small_log)
    assert read_state(store) == {"cursor": 3}
    assert (
        scan_events(store).collect().sort("created_at", "id").equals(small_log.events)
    )
    for t in ("customer.order.paid", "customer.loyalty.tier.upgraded"):
        got = scan_frame(store, t).collect().sort("created_at", "id")
        assert got.equals(small_log[t]), t


def test_a_format_3_store_in_parts_keeps_the_first_part(tmp_path):
    first, second = _v3_parts()
    store = write_v3(tmp_path / "s", first, second)
    back = read_parquet(store)
    assert back.equals(first | second)
    assert back.filter(customers="LATER").events.height == 0
    assert sorted(scan_events(store).collect()["id"]) == ["a", "b", "c", "t", "u"]
    assert scan_frame(store, LONG).collect()["id"].to_list() == ["u"]


def test_store_paths_asks_to_upgrade_a_format_3_store(tmp_path):
    store = write_v3(tmp_path / "s", read_events([make_event("a")]))
    with pytest.raises(StoreError, match="format version 3") as caught:
        store_paths(store)
    assert "extend=True" in str(caught.value)


def test_extending_a_format_3_store_upgrades_it(tmp_path):
    first, second = _v3_parts()
    store = write_v3(tmp_path / "s", first, second, state={"cursor": 1})
    old = _live(store)
    before = read_parquet(store)
    third = read_events([make_event("d", created_at="2024-09-01T00:00:00Z")])
    with StoreWriter(store, extend=True) as writer:
        writer.add(third)
        writer.commit()
    meta = _manifest(store)
    assert (meta["version"], meta["parts"], meta["events"]) == (4, 3, 7)
    back = read_parquet(store)
    assert back.equals(before | third)
    assert back.filter(customers="LATER").events.height == 0  # first part still wins
    assert read_state(store) == {"cursor": 1}
    assert scan_frame(store, LONG).collect()["id"].to_list() == ["u"]
    assert store_paths(store).parts == 3
    # the format-3 version stays for its readers, whole
    assert (old / "manifest.json").is_file()
    assert json.loads((old / "manifest.json").read_text())["version"] == 3
    # and the next extension links the upgraded files
    upgraded = _live(store)
    with StoreWriter(store, extend=True) as writer:
        writer.commit()
    for f in upgraded.rglob("part-*.parquet"):
        linked = _live(store) / f.relative_to(upgraded)
        assert linked.stat().st_ino == f.stat().st_ino


def test_upgrading_an_empty_format_3_store(tmp_path):
    store = write_v3(tmp_path / "s", ActivityLog.empty())
    with StoreWriter(store, extend=True) as writer:
        writer.add(read_events([make_event("a")]))
        writer.commit()
    assert read_parquet(store).events["id"].to_list() == ["a"]
    assert _manifest(store)["parts"] == 2


def test_an_interrupted_upgrade_leaves_the_format_3_store_live(tmp_path):
    first, second = _v3_parts()
    store = write_v3(tmp_path / "s", first, second)
    with StoreWriter(store, extend=True) as writer:
        writer.add(read_events([make_event("z")]))
        # no commit
    assert _manifest(store)["version"] == 3
    assert read_parquet(store).equals(first | second)
    assert not list(store.glob(".tmp-*"))


def test_a_damaged_format_3_store_is_not_upgraded(tmp_path):
    first, second = _v3_parts()
    store = write_v3(tmp_path / "s", first, second)
    part = sorted((_live(store) / "frames").rglob("part-1.parquet"))[0]
    part.write_bytes(b"PAR1xx")
    with pytest.raises(StoreError, match=r"part-1\.parquet") as caught:
        StoreWriter(store, extend=True)
    assert str(store) in str(caught.value)
    assert not list(store.glob(".tmp-*"))
    assert _manifest(store)["version"] == 3
