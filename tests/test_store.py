"""The Parquet store: exact round-trip, lazy scan, atomic replacement, format versions."""

from __future__ import annotations

import polars as pl
import pytest
from conftest import make_event

from activity_toolkit import read_events, read_parquet, scan_events, scan_frame
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
        log = read_events(
            [
                make_event("a", "customer.future.thing", x=1),
                make_event(
                    "b",
                    order={"id": "o", "items": [{"product_id": "p", "quantity": 2}]},
                ),
            ]
        )
    back = read_parquet(log.write_parquet(tmp_path / "s"))
    assert back.equals(log)
    assert back["customer.order.paid"]["order_items"][0][0]["quantity"] == 2


def test_store_is_hive_partitioned_by_month_and_scans_lazily(small_log, tmp_path):
    store = small_log.write_parquet(tmp_path / "store")
    months = sorted(p.name for p in store.glob("v-*/payload/month=*"))
    assert months[0].startswith("month=2024-")
    assert len(months) > 6
    order_months = sorted(p.name for p in store.glob("v-*/families/order/month=*"))
    assert set(order_months) <= set(months)
    assert len(order_months) > 6
    lf = scan_events(store)
    assert isinstance(lf, pl.LazyFrame)
    paid = lf.filter(pl.col("type") == "customer.order.paid").select("id").collect()
    assert paid.height == small_log["customer.order.paid"].height


def test_rewrite_replaces_atomically_and_cleans_old_versions(tmp_path):
    log1 = read_events([make_event("a")])
    log2 = read_events(
        [make_event("a"), make_event("b", created_at="2024-06-01T00:00:00Z")]
    )
    store = tmp_path / "s"
    write_store(log1, store, state={"cursor": 1})
    write_store(log2, store, state={"cursor": 2})
    assert len(read_parquet(store)) == 2
    assert read_state(store) == {"cursor": 2}
    # superseded versions stay a while for readers that resolved CURRENT before
    assert len(list(store.glob("v-*"))) == 2
    write_store(log1, store)
    assert len(list(store.glob("v-*"))) == 3  # every one of them (a lazy scan's too)


def test_old_versions_go_after_the_grace_period(tmp_path, monkeypatch):
    from activity_toolkit import _store

    monkeypatch.setattr(_store, "KEEP_OLD_VERSIONS_SECONDS", 0.0)
    store = tmp_path / "s"
    for _ in range(3):
        write_store(read_events([make_event("a")]), store)
    assert len(list(store.glob("v-*"))) == 1


def test_unknown_type_names_cannot_escape_or_break_the_store(tmp_path):
    import warnings

    odd = ["../../../escape", "customer/custom.thing", "..", "ä b%c"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log = read_events([make_event(f"e{i}", t) for i, t in enumerate(odd)])
    store = log.write_parquet(tmp_path / "inner" / "s")
    assert read_parquet(store).equals(log)
    assert sorted(p.name for p in (tmp_path / "inner").iterdir()) == ["s"]
    assert not list(tmp_path.glob("*.parquet"))


def test_a_second_writer_is_refused_while_one_writes(tmp_path):
    from activity_toolkit.io import StoreWriter

    store = tmp_path / "s"
    with StoreWriter(store) as first:
        with pytest.raises(StoreError, match="another process is writing"):
            StoreWriter(store)
        first.add(read_events([make_event("a")]))
        first.commit()
    with StoreWriter(store) as again:  # free again once the first is done
        again.abort()


def test_reading_while_a_writer_replaces_the_store(tmp_path):
    """Readers that resolved the old version still finish while writes go on."""
    import threading

    store = tmp_path / "s"
    logs = [
        read_events(
            [
                make_event(f"e{i}", created_at=f"2024-0{1 + i % 9}-01T00:00:00Z")
                for i in range(n + 1)
            ]
        )
        for n in range(6)
    ]
    write_store(logs[0], store)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                assert len(read_parquet(store)) >= 1
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for log in logs[1:] * 3:
        write_store(log, store)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []


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


def test_store_written_in_parts_reads_as_one_log(tmp_path):
    from activity_toolkit.io import StoreWriter

    first = read_events(
        [make_event("a"), make_event("b", created_at="2024-07-01T00:00:00Z")]
    )
    second = read_events(
        [
            make_event(
                "b", created_at="2024-07-01T00:00:00Z", customer="LATER"
            ),  # overlap
            make_event(
                "c",
                "customer.segment.left",
                "2024-08-01T00:00:00Z",
                segment={"id": "s"},
            ),
        ]
    )
    with StoreWriter(tmp_path / "s") as writer:
        writer.add(first)
        writer.add(second)
        writer.commit(state={"parts": 2})
    back = read_parquet(tmp_path / "s")
    assert back.events["id"].to_list() == ["a", "b", "c"]
    assert back.filter(customers="LATER").events.height == 0  # the first part wins
    assert back.equals(first | second)
    assert read_state(tmp_path / "s") == {"parts": 2}
    with pytest.raises(StoreError, match="already committed"):
        writer.add(first)


def test_store_writer_left_without_commit_keeps_the_previous_version(tmp_path):
    from activity_toolkit.io import StoreWriter

    store = tmp_path / "s"
    write_store(read_events([make_event("a")]), store)
    late = read_events([make_event("z")])

    def interrupted_write():
        with StoreWriter(store) as writer:
            writer.add(late)
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        interrupted_write()
    assert read_parquet(store).events["id"].to_list() == ["a"]
    assert not list(store.glob(".tmp-*"))


def test_extending_writer_links_the_live_parts_and_adds_its_own(tmp_path):
    import json

    from activity_toolkit.io import StoreWriter

    store = tmp_path / "s"
    first = read_events(
        [make_event("a"), make_event("b", created_at="2024-07-01T00:00:00Z")]
    )
    second = read_events(
        [
            make_event(
                "b", created_at="2024-07-01T00:00:00Z", customer="LATER"
            ),  # overlap
            make_event(
                "c",
                "customer.segment.left",
                "2024-08-01T00:00:00Z",
                segment={"id": "s"},
            ),
        ]
    )
    write_store(first, store, state={"n": 1})
    old = store / (store / "CURRENT").read_text()
    with StoreWriter(store, extend=True) as writer:
        writer.add(second)
        writer.commit(state={"n": 2})
    new = store / (store / "CURRENT").read_text()
    assert new != old
    back = read_parquet(store)
    assert back.equals(first | second)  # the live version's events win on overlap
    assert read_state(store) == {"n": 2}
    manifest = json.loads((new / "manifest.json").read_text())
    assert (manifest["parts"], manifest["events"]) == (2, 4)
    scanned = scan_events(store).collect()  # scans keep an event once too
    assert sorted(scanned["id"]) == ["a", "b", "c"]
    assert scanned.filter(pl.col("id") == "b")["customer_id"].to_list() == ["cust_1"]
    assert scan_frame(store, "customer.order.paid").collect()[
        "id"
    ].sort().to_list() == ["a", "b"]
    linked = sorted(p.relative_to(old) for p in old.rglob("part-0.parquet"))
    assert linked  # every part of the old version is in the new one, as the same file
    for rel in linked:
        assert (new / rel).stat().st_ino == (old / rel).stat().st_ino
    assert list(new.rglob("part-1.parquet"))


def test_extending_writer_without_commit_leaves_the_live_version_whole(tmp_path):
    from activity_toolkit.io import StoreWriter

    store = tmp_path / "s"
    first = read_events([make_event("a")])
    write_store(first, store)
    with StoreWriter(store, extend=True) as writer:
        writer.add(read_events([make_event("z")]))
    assert read_parquet(store).equals(first)
    assert not list(store.glob(".tmp-*"))


def test_extending_writer_keeps_the_state_unless_given_one(tmp_path):
    from activity_toolkit.io import StoreWriter

    store = tmp_path / "s"
    write_store(read_events([make_event("a")]), store, state={"n": 1})
    with StoreWriter(store, extend=True) as writer:
        writer.add(read_events([make_event("b")]))
        writer.commit()
    assert read_state(store) == {"n": 1}
    with StoreWriter(store, extend=True) as writer:
        writer.add(read_events([make_event("c")]))
        writer.commit(state={"n": 3})
    assert read_state(store) == {"n": 3}
    assert len(read_parquet(store)) == 3


def test_extending_writer_on_a_new_store_starts_it(tmp_path):
    from activity_toolkit.io import StoreWriter

    log = read_events([make_event("a")])
    with StoreWriter(tmp_path / "s", extend=True) as writer:
        writer.add(log)
        writer.commit()
    assert read_parquet(tmp_path / "s").equals(log)


def test_extending_writer_refuses_another_store_format(tmp_path):
    import json

    from activity_toolkit.io import StoreWriter

    store = tmp_path / "s"
    write_store(read_events([make_event("a")]), store)
    manifest = store / (store / "CURRENT").read_text() / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "version": 99}))
    with pytest.raises(StoreError, match="format version 99") as caught:
        StoreWriter(store, extend=True)
    assert str(store) in str(caught.value)
    assert "newer activity_toolkit" in str(caught.value)
    assert not list(store.glob(".tmp-*"))
    StoreWriter(store).abort()  # the lock was let go


def test_scan_frame_is_the_typed_frame_lazily(small_log, tmp_path):
    from activity_toolkit import scan_frame

    store = small_log.write_parquet(tmp_path / "s")
    for t in (
        "customer.order.paid",
        "customer.loyalty.tier.upgraded",
        "customer.wallet.topped_up",
    ):
        lf = scan_frame(store, t)
        assert isinstance(lf, pl.LazyFrame)
        assert lf.collect().sort("created_at", "id").equals(small_log[t])
    assert (
        scan_frame(store, "customer.segment_entered")
        .collect()
        .equals(small_log["customer.segment.entered"])
    )
    assert scan_frame(store, "customer.consents.revoked").collect().height == 0


def test_sample_world_written_block_by_block(tmp_path):
    import warnings

    from activity_toolkit.exceptions import UnknownEventTypeWarning
    from activity_toolkit.sample import sample_world

    world = sample_world(customers=25, seed=8)
    world.write_parquet(tmp_path / "s", block_customers=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownEventTypeWarning)
        assert read_parquet(tmp_path / "s").equals(world.to_log())
    parts = {
        p.name
        for p in (tmp_path / "s").glob("v-*/families/order/month=*/part-*.parquet")
    }
    assert parts == {f"part-{k}.parquet" for k in range(4)}  # one part per block


# -- format versions ---------------------------------------------------------------------
def _live(store):
    return store / (store / "CURRENT").read_text()


def _as_version(store, version):
    """Mark a store's live version as written in another format version (readers
    refuse a version they do not read before they look at its files)."""
    import json

    manifest = _live(store) / "manifest.json"
    meta = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**meta, "version": version}))


def _as_version_1(store):
    _as_version(store, 1)


def test_store_layout_is_the_documented_one(tmp_path):
    """The layout ``activity_toolkit._store`` describes, with the current format
    version in the manifest; the module names every version."""
    import json

    import activity_toolkit
    from activity_toolkit import _store
    from activity_toolkit.io import FORMAT_VERSION

    log = read_events(
        [make_event("a"), make_event("b", "customer.segment.left", segment={"id": "s"})]
    )
    store = log.write_parquet(tmp_path / "s")
    live = _live(store)
    assert sorted(p.name for p in store.iterdir()) == [
        ".lock",
        "CURRENT",
        "store.json",
        live.name,
    ]
    assert sorted(p.name for p in live.iterdir()) == [
        "families",
        "manifest.json",
        "payload",
    ]
    assert sorted(p.name for p in (live / "families").iterdir()) == ["order", "segment"]
    assert [p.name for p in (live / "families" / "order").iterdir()] == [
        "month=2024-05"
    ]
    assert [
        p.name for p in (live / "families" / "order" / "month=2024-05").iterdir()
    ] == ["part-0.parquet"]
    assert [p.name for p in (live / "payload").iterdir()] == ["month=2024-05"]
    meta = json.loads((live / "manifest.json").read_text())
    assert (meta["format"], meta["version"]) == ("activity_toolkit.store", 4)
    assert meta["family_of"] == {
        "customer.order.paid": "order",
        "customer.segment.left": "segment",
    }
    assert meta["families"] == {
        f: list(_store.family_schema(f)) for f in ("order", "segment")
    }
    assert meta["columns"]["customer.order.paid"] == log["customer.order.paid"].columns
    assert FORMAT_VERSION == 4
    assert _store.READABLE_VERSIONS == (3, 4)
    # the docs: every version listed in the module, the current one's layout
    doc = _store.__doc__ or ""
    for version in range(1, FORMAT_VERSION + 1):
        assert f"\n{version}. ``" in doc, version
    assert f"Layout (format version {FORMAT_VERSION})" in doc
    assert "families/<family>/month=YYYY-MM/part-<k>.parquet" in doc
    assert "payload/month=YYYY-MM/part-<k>.parquet" in doc
    assert "store_paths" in activity_toolkit.__all__
    assert "store_paths" in activity_toolkit.io.__all__


@pytest.mark.parametrize(
    "read",
    [
        read_parquet,
        scan_events,
        lambda store: scan_frame(store, "customer.order.paid"),
        read_state,
    ],
    ids=["read_parquet", "scan_events", "scan_frame", "read_state"],
)
def test_an_older_store_version_is_refused_clearly(tmp_path, read):
    store = read_events([make_event("a")]).write_parquet(tmp_path / "s")
    _as_version_1(store)
    with pytest.raises(StoreError) as caught:
        read(store)
    message = str(caught.value)
    assert message.startswith(f"{store}: store format version 1,")
    assert "reads format version 4 (and 3)" in message
    assert "older activity_toolkit" in message
    assert "write the data again" in message


@pytest.mark.parametrize(
    "read",
    [
        read_parquet,
        scan_events,
        lambda store: scan_frame(store, "customer.order.paid"),
        read_state,
    ],
    ids=["read_parquet", "scan_events", "scan_frame", "read_state"],
)
def test_a_newer_store_version_is_refused_clearly(tmp_path, read):
    store = read_events([make_event("a")]).write_parquet(tmp_path / "s")
    _as_version(store, 5)
    with pytest.raises(StoreError) as caught:
        read(store)
    message = str(caught.value)
    assert message.startswith(f"{store}: store format version 5,")
    assert "newer activity_toolkit" in message


def test_an_older_store_version_is_not_extended_but_can_be_replaced(tmp_path):
    from activity_toolkit.io import StoreWriter

    log = read_events([make_event("a")])
    store = log.write_parquet(tmp_path / "s")
    _as_version_1(store)
    with pytest.raises(StoreError, match=r"store format version 1, .* version 4"):
        StoreWriter(store, extend=True)
    assert not list(store.glob(".tmp-*"))
    # writing the log again (not extending) makes a current store in its place
    assert read_parquet(log.write_parquet(store)).equals(log)


def test_the_cli_reports_an_older_store_version(tmp_path, capsys):
    from activity_toolkit.cli import main

    store = read_events([make_event("a")]).write_parquet(tmp_path / "s")
    _as_version_1(store)
    assert main(["summary", str(store)]) == 4
    err = capsys.readouterr().err
    assert f"error: {store}: store format version 1," in err
    assert "Traceback" not in err


def test_fetch_into_an_older_store_version_is_refused(tmp_path):
    from activity_toolkit import fetch
    from activity_toolkit.sandbox import Sandbox, World

    store = read_events([make_event("a")]).write_parquet(tmp_path / "s")
    _as_version_1(store)
    box = Sandbox(World.generate(customers=2, events=2))
    with pytest.raises(StoreError, match="store format version 1"):
        fetch(box.client(), store=store, progress=False)
