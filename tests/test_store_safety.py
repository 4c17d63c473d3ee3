"""The store's safety: it removes only what it wrote, keeps any type name, never loses
a live reader's version or a fetch's sync state, and reports damage as StoreError."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import warnings

import orjson
import pytest
from conftest import make_event

from activity_toolkit import read_events, read_parquet, scan_events, scan_frame
from activity_toolkit.exceptions import StoreError
from activity_toolkit.io import StoreWriter, read_state, write_store


def _live(store):
    return store / (store / "CURRENT").read_text()


def _quiet_read_events(events):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_events(events)


def _age(path, seconds=3600):
    t = time.time() - seconds
    os.utime(path, (t, t))


# -- 1. a writer removes only the versions it wrote ------------------------------------
def test_a_write_keeps_folders_the_store_did_not_write(tmp_path):
    store = write_store(read_events([make_event("a")]), tmp_path / "s")
    (store / "v-notes").mkdir()
    (store / "v-notes" / "todo.txt").write_text("mine")
    _age(store / "v-notes")
    for _ in range(3):
        write_store(read_events([make_event("b")]), store)
    assert (store / "v-notes" / "todo.txt").read_text() == "mine"


def test_a_writer_refuses_a_non_empty_folder_that_is_not_a_store(tmp_path):
    d = tmp_path / "d"
    (d / "v-notes").mkdir(parents=True)
    _age(d / "v-notes")
    log = read_events([make_event("a")])
    with pytest.raises(StoreError, match="not an activity_toolkit store") as caught:
        log.write_parquet(d)
    assert str(d) in str(caught.value)
    assert sorted(p.name for p in d.iterdir()) == ["v-notes"]
    # an empty folder (or a new one) becomes a store
    (tmp_path / "empty").mkdir()
    assert read_parquet(log.write_parquet(tmp_path / "empty")).equals(log)


def test_load_and_fetch_keep_folders_they_did_not_write(tmp_path):
    from activity_toolkit import fetch
    from activity_toolkit.cli import main
    from activity_toolkit.sandbox import Sandbox, World

    src = tmp_path / "1.ndjson"
    src.write_bytes(orjson.dumps(make_event("a")))
    store = tmp_path / "s"
    assert main(["load", str(src), "--store", str(store)]) == 0
    (store / "v-notes").mkdir()
    _age(store / "v-notes")
    assert main(["load", str(src), "--store", str(store), "--replace"]) == 0
    assert (store / "v-notes").is_dir()

    box = Sandbox(World.generate(customers=2, events=2))
    fetched = tmp_path / "f"
    fetch(box.client(), store=fetched, progress=False)
    (fetched / "v-notes").mkdir()
    _age(fetched / "v-notes")
    fetch(box.client(), store=fetched, progress=False)
    assert (fetched / "v-notes").is_dir()
    other = tmp_path / "other"
    (other / "v-notes").mkdir(parents=True)
    with pytest.raises(StoreError, match="not an activity_toolkit store"):
        fetch(box.client(), store=other, progress=False)
    assert [p.name for p in other.iterdir()] == ["v-notes"]


# -- 2. any unknown type name is kept ----------------------------------------------------
LONG_TYPES = [
    "customer." + "ü" * 60,
    "customer." + "\N{GRINNING FACE}" * 30,
    "customer." + "x" * 300,
    "customer." + "x" * 300 + "y",  # the same long prefix: still two types
    "../" * 100,
]


def test_unknown_types_of_any_length_are_kept(tmp_path):
    log = _quiet_read_events(
        [make_event(f"e{i}", t) for i, t in enumerate(LONG_TYPES)] + [make_event("p")]
    )
    store = log.write_parquet(tmp_path / "s")
    assert read_parquet(store).equals(log)
    for t in LONG_TYPES:
        assert scan_frame(store, t).collect()["id"].to_list() == [
            f"e{LONG_TYPES.index(t)}"
        ]
    # type names are values in the tables, never path components
    names = sorted(p.name for p in (_live(store) / "families").iterdir())
    assert names == ["order", "unknown"]
    meta = json.loads((_live(store) / "manifest.json").read_text())
    assert meta["family_of"] == {
        **dict.fromkeys(LONG_TYPES, "unknown"),
        "customer.order.paid": "order",
    }
    # extending keeps them in the same table
    with StoreWriter(store, extend=True) as writer:
        writer.add(_quiet_read_events([make_event("z", LONG_TYPES[0])]))
        writer.commit()
    assert scan_frame(store, LONG_TYPES[0]).collect().height == 2
    names = sorted(p.name for p in (_live(store) / "families").iterdir())
    assert names == ["order", "unknown"]


def test_fetch_stores_a_long_unknown_type_with_the_rest(tmp_path):
    import copy

    from activity_toolkit import fetch
    from activity_toolkit.sandbox import Sandbox, World

    world = World.generate(customers=2, events=3)
    odd = copy.deepcopy(world.events[0])
    odd["id"] = "evt_long_type"
    odd["type"] = "customer." + "ü" * 60
    world.events.append(odd)
    box = Sandbox(world)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fetch(box.client(), store=tmp_path / "s", progress=False)
        back = read_parquet(tmp_path / "s")
    assert len(back) == len(world.events)
    assert odd["type"] in back.types


# -- 3. load adds to a store unless asked to replace it ---------------------------------
def _ndjson(path, *events):
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events))
    return str(path)


def test_load_into_a_store_adds_and_keeps_the_sync_state(tmp_path, capsys):
    from activity_toolkit.cli import main

    store = tmp_path / "s"
    write_store(
        read_events([make_event("a"), make_event("b")]), store, state={"cursor": 7}
    )
    src = _ndjson(
        tmp_path / "1.ndjson", make_event("b", customer="LATER"), make_event("c")
    )
    assert main(["load", src, "--store", str(store)]) == 0
    back = read_parquet(store)
    assert back.events["id"].to_list() == ["a", "b", "c"]
    assert back.filter(customers="LATER").events.height == 0  # the store's copy wins
    assert read_state(store) == {"cursor": 7}
    assert "1 new" in capsys.readouterr().out
    # --append is kept as an alias of the default
    src2 = _ndjson(tmp_path / "2.ndjson", make_event("d"))
    assert main(["load", src2, "--store", str(store), "--append"]) == 0
    assert len(read_parquet(store)) == 4
    assert read_state(store) == {"cursor": 7}
    live = (store / "CURRENT").read_text()
    assert main(["load", src2, "--store", str(store)]) == 0  # nothing new: no version
    assert (store / "CURRENT").read_text() == live


def test_load_replace_replaces_the_store(tmp_path):
    from activity_toolkit.cli import main

    store = tmp_path / "s"
    write_store(read_events([make_event("a"), make_event("b")]), store, state={"n": 1})
    src = _ndjson(tmp_path / "1.ndjson", make_event("c"))
    assert main(["load", src, "--store", str(store), "--replace"]) == 0
    assert read_parquet(store).events["id"].to_list() == ["c"]
    assert main(["load", src, "--store", str(store), "--replace", "--append"]) == 2


# -- 4. superseded versions stay for the grace period -----------------------------------
def test_a_lazy_scan_survives_later_commits(tmp_path):
    store = write_store(read_events([make_event("a")]), tmp_path / "s")
    events = scan_events(store)
    frame = scan_frame(store, "customer.order.paid")
    for i in range(3):
        write_store(read_events([make_event(f"n{i}")]), store)
    assert events.collect()["id"].to_list() == ["a"]
    assert frame.collect()["id"].to_list() == ["a"]


def test_superseded_versions_go_after_the_grace_period(tmp_path, monkeypatch):
    from activity_toolkit import _store

    store = tmp_path / "s"
    for _ in range(3):
        write_store(read_events([make_event("a")]), store)
    assert len(list(store.glob("v-*"))) == 3
    monkeypatch.setattr(_store, "KEEP_OLD_VERSIONS_SECONDS", 0.0)
    write_store(read_events([make_event("a")]), store)
    assert [p.name for p in store.glob("v-*")] == [(store / "CURRENT").read_text()]


def test_a_version_written_long_ago_stays_for_its_readers_once_superseded(tmp_path):
    store = write_store(read_events([make_event("a")]), tmp_path / "s")
    old = _live(store)
    for p in [old, *old.rglob("*")]:
        _age(p, 7200)
    events = scan_events(store)
    write_store(read_events([make_event("b")]), store)
    assert old.is_dir()
    assert events.collect()["id"].to_list() == ["a"]


def test_stress_readers_never_see_a_missing_version(tmp_path):
    """200 reads in threads while 20 commits go on: eager reads, and lazy scans
    collected only after a few more commits (held across them)."""
    store = tmp_path / "s"
    logs = [
        read_events(
            [
                make_event(f"e{i}", created_at=f"2024-0{1 + i % 9}-01T00:00:00Z")
                for i in range(n + 1)
            ]
        )
        for n in range(5)
    ]
    write_store(logs[0], store)
    errors: list[BaseException] = []
    done = threading.Event()
    reads = [0]
    lock = threading.Lock()

    def reader():
        held = []
        while True:
            with lock:
                if reads[0] >= 200 and done.is_set():
                    break
                reads[0] += 1
            try:
                assert len(read_parquet(store)) >= 1
                held.append(scan_frame(store, "customer.order.paid"))
                if len(held) > 10:
                    assert held.pop(0).collect().height >= 1
            except BaseException as exc:
                errors.append(exc)
        try:
            for lf in held:
                assert lf.collect().height >= 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(20):
        log = logs[i % len(logs)]
        if i % 2:
            write_store(log, store)
        else:
            with StoreWriter(store, extend=True) as writer:
                writer.add(log)
                writer.commit()
        time.sleep(0.01)
    done.set()
    for t in threads:
        t.join()
    assert reads[0] >= 200
    assert errors == [], errors[:3]


# -- 5. a killed writer's temporary folder goes at the next write ------------------------
def test_a_killed_writers_temporary_folder_goes_at_the_next_write(tmp_path):
    store = write_store(read_events([make_event("a")]), tmp_path / "s")
    code = (
        "import os, sys\n"
        "from activity_toolkit import read_events\n"
        "from activity_toolkit.io import StoreWriter\n"
        "w = StoreWriter(sys.argv[1])\n"
        "w.add(read_events([{'id': 'z', 'type': 'customer.order.paid',"
        " 'created_at': '2024-05-01T00:00:00Z', 'data': {}}]))\n"
        "os._exit(9)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(store)], check=False)
    assert done.returncode == 9
    assert len(list(store.glob(".tmp-*"))) == 1
    write_store(read_events([make_event("b")]), store)
    assert not list(store.glob(".tmp-*"))
    assert read_parquet(store).events["id"].to_list() == ["b"]


def test_a_live_writers_temporary_folder_is_not_touched(tmp_path):
    store = write_store(read_events([make_event("a")]), tmp_path / "s")
    with StoreWriter(store) as writer:
        writer.add(read_events([make_event("b")]))
        with pytest.raises(StoreError, match="another process is writing"):
            write_store(read_events([make_event("c")]), store)
        assert len(list(store.glob(".tmp-*"))) == 1
        writer.commit()
    assert read_parquet(store).events["id"].to_list() == ["b"]


# -- 6. a damaged store is a StoreError ---------------------------------------------------
def _first_part(store, sub):
    return sorted((_live(store) / sub).rglob("part-*.parquet"))[0]


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _manifest_with(**changes):
    def damage(store):
        manifest = _live(store) / "manifest.json"
        manifest.write_text(json.dumps({**json.loads(manifest.read_text()), **changes}))

    return damage


DAMAGES = {
    # the order family holds the order.paid event scan_frame reads, the segment
    # family only the other event
    "family part truncated": lambda s: _truncate(_first_part(s, "families/order")),
    "family part garbage": lambda s: _first_part(s, "families/order").write_bytes(
        b"x" * 999
    ),
    "other family part garbage": lambda s: _first_part(
        s, "families/segment"
    ).write_bytes(b"PAR1xx"),
    "payload part truncated": lambda s: _truncate(_first_part(s, "payload")),
    "payload part garbage": lambda s: _first_part(s, "payload").write_bytes(b"PAR1xx"),
    "manifest empty": lambda s: (_live(s) / "manifest.json").write_text(""),
    "manifest truncated": lambda s: _truncate(_live(s) / "manifest.json"),
    "manifest a list": lambda s: (_live(s) / "manifest.json").write_text("[1, 2]"),
    "manifest lacks a key": lambda s: (_live(s) / "manifest.json").write_text(
        json.dumps(
            {
                k: v
                for k, v in json.loads((_live(s) / "manifest.json").read_text()).items()
                if k != "columns"
            }
        )
    ),
    "manifest bad columns": lambda s: (_live(s) / "manifest.json").write_text(
        json.dumps(
            {**json.loads((_live(s) / "manifest.json").read_text()), "columns": [1]}
        )
    ),
    "manifest bad family_of": _manifest_with(
        family_of={"customer.order.paid": "order", "customer.segment.left": "nope"}
    ),
    "manifest bad families": _manifest_with(families={"order": ["id"]}),
    "manifest more events": _manifest_with(events=3),
    "CURRENT not utf-8": lambda s: (s / "CURRENT").write_bytes(b"\xff\xfe\x00v"),
    "CURRENT a directory": lambda s: (
        (s / "CURRENT").unlink(),
        (s / "CURRENT").mkdir(),
    ),
    "CURRENT huge": lambda s: (s / "CURRENT").write_bytes(b"v" * 5_000_000),
    "CURRENT empty": lambda s: (s / "CURRENT").write_text(""),
    "CURRENT parent": lambda s: (s / "CURRENT").write_text("../x"),
    "CURRENT absolute": lambda s: (s / "CURRENT").write_text(str(_live(s))),
    "CURRENT missing version": lambda s: (s / "CURRENT").write_text("v-1-00000000"),
    "state.json truncated": lambda s: (_live(s) / "state.json").write_text('{"a": '),
    "state.json a list": lambda s: (_live(s) / "state.json").write_text("[]"),
    "state.json not utf-8": lambda s: (_live(s) / "state.json").write_bytes(b"\xff"),
}
#: the damages a reader of the data does not touch (it never opens state.json)
STATE_ONLY = {d for d in DAMAGES if d.startswith("state.json")}


def _cli_summary(store):
    from activity_toolkit.cli import main

    code = main(["summary", str(store)])
    if code != 0:
        raise StoreError(f"exit {code}")


READERS = {
    "read_parquet": read_parquet,
    "scan_events": lambda s: scan_events(s).collect(),
    "scan_frame": lambda s: scan_frame(s, "customer.order.paid").collect(),
    "read_state": read_state,
    "extend": lambda s: StoreWriter(s, extend=True).abort(),
    "cli summary": _cli_summary,
}


@pytest.fixture
def damaged_store(tmp_path):
    def make(damage):
        store = write_store(
            read_events(
                [
                    make_event("a", "customer.segment.left", segment={"id": "s"}),
                    make_event("b", created_at="2024-06-01T00:00:00Z"),
                ]
            ),
            tmp_path / "s",
            state={"cursor": 1},
        )
        DAMAGES[damage](store)
        return store

    return make


def _notices(damage: str, reader: str) -> bool:
    """Whether ``reader`` opens the file ``damage`` damaged (then it must raise)."""
    kind = damage.split()[0]
    if kind == "state.json":  # only the sync state's readers open it
        return reader in {"read_state", "extend"}
    if kind in {"family", "payload"}:  # read_state does not open part files
        return reader != "read_state"
    if kind == "other":  # nor does a scan of one type open other family tables
        return reader not in {"read_state", "scan_frame"}
    if damage == "manifest more events":  # only a whole read counts the events
        return reader in {"read_parquet", "cli summary"}
    return True


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_store_damage_is_a_store_error(damaged_store, damage, reader, capsys):
    store = damaged_store(damage)
    read = READERS[reader]
    touched = _notices(damage, reader)
    if not touched:
        read(store)
        return
    with pytest.raises(StoreError) as caught:
        read(store)
    if reader == "cli summary":
        err = capsys.readouterr().err
        assert str(caught.value) == "exit 4", err
        assert err.startswith(f"error: {store}")
        assert "Traceback" not in err
        return
    message = str(caught.value)
    assert message.startswith(f"{store}"), message
    if damage.split()[0] in {"manifest", "CURRENT", "state.json"}:
        assert damage.split()[0] in message, message
    if "part" in damage:
        assert "part-0.parquet" in message, message


def test_a_store_path_that_is_a_file_is_a_store_error(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    log = read_events([make_event("a")])
    for act in (
        lambda: log.write_parquet(path),
        lambda: read_parquet(path),
        lambda: scan_events(path),
        lambda: read_state(path),
    ):
        with pytest.raises(StoreError, match="not a directory") as caught:
            act()
        assert str(path) in str(caught.value)


def test_a_damaged_store_is_exit_code_4_in_fetch(tmp_path, capsys):
    from activity_toolkit import fetch
    from activity_toolkit.sandbox import Sandbox, World

    store = write_store(read_events([make_event("a")]), tmp_path / "s", state={})
    (_live(store) / "state.json").write_text("{")
    box = Sandbox(World.generate(customers=2, events=2))
    with pytest.raises(StoreError, match=r"state\.json"):
        fetch(box.client(), store=store, progress=False)


def test_a_store_without_a_record_adopts_only_its_own_versions(tmp_path, monkeypatch):
    """A store written before ``store.json`` existed: its versions (their manifests
    say so) are adopted and removed in time; a look-alike folder is not."""
    from activity_toolkit import _store

    store = write_store(read_events([make_event("a")]), tmp_path / "s")
    old = _live(store)
    (store / "store.json").unlink()
    (store / "v-1-0000abcd").mkdir()  # the name of a version, but not one
    (store / "v-notes").mkdir()
    monkeypatch.setattr(_store, "KEEP_OLD_VERSIONS_SECONDS", 0.0)
    write_store(read_events([make_event("b")]), store)
    assert not old.exists()
    assert (store / "v-1-0000abcd").is_dir()
    assert (store / "v-notes").is_dir()
    assert read_parquet(store).events["id"].to_list() == ["b"]


def test_a_damaged_record_is_a_store_error_for_writers(tmp_path):
    store = write_store(read_events([make_event("a")]), tmp_path / "s")
    (store / "store.json").write_text("[")
    with pytest.raises(StoreError, match=r"store\.json: is not valid JSON"):
        write_store(read_events([make_event("b")]), store)
    assert read_parquet(store).events["id"].to_list() == ["a"]


def test_fetch_refuses_a_folder_that_is_not_a_store_before_any_request(tmp_path):
    import activity_toolkit as at

    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "todo.txt").write_text("keep me")
    box = at.Sandbox.from_sample(customers=3, seed=1)
    box.reset_stats()
    with pytest.raises(StoreError, match="not an activity_toolkit store"):
        at.fetch(box.client(), store=folder, progress=False)
    assert box.stats()["requests"] == 0
    assert (folder / "todo.txt").read_text() == "keep me"
