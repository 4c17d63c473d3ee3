"""fetch() in-process against the sandbox: every event once, the store, increments,
failures, resume after an interruption, secrets."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import polars as pl
import pytest

from activity_toolkit import read_parquet
from activity_toolkit.client import ActivityQuery, RetryPolicy
from activity_toolkit.exceptions import (
    AuthenticationError,
    FetchError,
    IncompleteFetchWarning,
    NotFoundError,
    ServerError,
    StoreError,
)
from activity_toolkit.io import read_state
from activity_toolkit.load import STATE_FORMAT, afetch, fetch
from activity_toolkit.sandbox import Sandbox, SandboxConfig, World

SECRET = "sk_sandbox_SECRET_91b2e7"
FAST = RetryPolicy(attempts=5, budget=None, backoff=0.001, max_backoff=0.01)


@pytest.fixture(scope="module")
def world() -> World:
    # event counts around the page size (10): 0, short, exactly full, full+1, several
    counts = [0, 3, 10, 11, 20, 27, 9, 10, 1, 14]
    return World.generate(customers=10, events=counts, tie=3, bulk=3, seed=7)


def sandbox(world: World, **config) -> Sandbox:
    config.setdefault("secret_key", SECRET)
    return Sandbox(world, SandboxConfig(**config))


def client_of(box: Sandbox, **options):
    options.setdefault("page_size", 10)
    options.setdefault("retry", FAST)
    options.setdefault("seed", 0)
    options.setdefault("concurrency", 3)
    return box.client(**options)


def ids(log) -> list[str]:
    return log.events["id"].to_list()


def test_fetch_all_customers_every_event_once(world) -> None:
    box = sandbox(world)
    log = fetch(client_of(box), progress=False)
    assert sorted(ids(log)) == sorted(box.event_ids())
    assert log.events["id"].is_unique().all()
    assert set(log.customers) == {
        c["id"] for c in world.customers if box.events_of(c["id"])
    }


def test_fetch_some_customers_by_id_or_source_id(world) -> None:
    box = sandbox(world)
    a, b = box.index.customers[2], box.index.customers[5]
    log = fetch(client_of(box), customers=[a["id"], b["source_id"]], progress=False)
    expected = {e["id"] for c in (a, b) for e in box.events_of(c["id"])}
    assert set(ids(log)) == expected
    assert box.stats()["by_route"].get("customers") is None  # no listing


def test_since_until_is_half_open(world) -> None:
    box = sandbox(world)
    stamps = sorted(e["created_at"] for e in world.events)
    since, until = stamps[20], stamps[60]
    log = fetch(client_of(box), since=since, until=until, progress=False)
    expected = {e["id"] for e in world.events if since <= e["created_at"] < until}
    assert set(ids(log)) == expected


def test_filters_go_to_the_api(world) -> None:
    box = sandbox(world)
    log = fetch(
        client_of(box), query=ActivityQuery(type="customer.order.paid"), progress=False
    )
    assert set(log.events["type"]) == {"customer.order.paid"}
    assert len(log) == sum(e["type"] == "customer.order.paid" for e in world.events)


def test_store_then_incremental_one_request_per_unchanged_customer(
    world, tmp_path
) -> None:
    box = sandbox(world)
    store = tmp_path / "store"
    log = fetch(client_of(box), store=store, progress=False)
    assert read_parquet(store).equals(log)
    state = read_state(store)
    assert state["format"] == STATE_FORMAT
    assert len(state["customers"]) == 10
    before = box.stats()
    again = fetch(client_of(box), store=store, progress=False)
    after = box.stats()
    assert again.equals(log)
    assert after["by_route"]["activity"] - before["by_route"]["activity"] == 10
    assert after["by_route"]["customers"] - before["by_route"]["customers"] == 1
    # explicit customers: exactly one request each, nothing else
    before = box.stats()["requests"]
    fetch(client_of(box), store=store, customers=box.customer_ids[:4], progress=False)
    assert box.stats()["requests"] - before == 4


def test_incremental_run_gets_exactly_the_new_events(world, tmp_path) -> None:
    box = sandbox(world)
    stamps = sorted({e["created_at"] for e in world.events})
    box.set_visible_until(stamps[len(stamps) // 2])
    store = tmp_path / "s"
    first = fetch(client_of(box), store=store, progress=False)
    assert 0 < len(first) < len(world.events)
    box.set_visible_until(None)
    second = fetch(client_of(box), store=store, progress=False)
    assert sorted(ids(second)) == sorted(e["id"] for e in world.events)
    assert second.events["id"].is_unique().all()


def test_new_customers_are_listed_incrementally(tmp_path) -> None:
    world = World.generate(customers=30, events=2, bulk=5, seed=2)
    box = sandbox(world)
    cut = box.index.customers[14]["created_at"]
    box.set_visible_until(cut)
    store = tmp_path / "s"
    fetch(client_of(box), store=store, progress=False)
    assert len(read_state(store)["customers"]) == 15
    box.set_visible_until(None)
    log = fetch(client_of(box), store=store, progress=False)
    assert len(read_state(store)["customers"]) == 30
    assert sorted(ids(log)) == sorted(e["id"] for e in world.events)


@pytest.mark.parametrize("honour_id_cursor", [True, False])
def test_deprecated_endpoint_recovers_boundary_ties(world, honour_id_cursor) -> None:
    box = sandbox(world, activities_id_cursor=honour_id_cursor)
    log = fetch(client_of(box), endpoint="activities", progress=False)
    assert sorted(ids(log)) == sorted(box.event_ids())
    assert log.events["id"].is_unique().all()


def test_deprecated_endpoint_request_economy(world) -> None:
    """With the id cursor honoured, the minimum: one request per started page, and
    the total spares the empty page after an exactly-full one."""
    box = sandbox(world)
    fetch(client_of(box), endpoint="activities", progress=False)
    counts = [len(box.events_of(c)) for c in box.customer_ids]
    assert box.stats()["by_route"]["activities"] == sum(
        max(1, -(-n // 10)) for n in counts
    )


def test_deprecated_endpoint_warns_when_ties_cannot_be_recovered(tmp_path) -> None:
    # 12 events in one millisecond, pages of 5, no id cursor: some are unreachable
    world = World.generate(customers=1, events=12, tie=12, seed=1)
    box = sandbox(world, activities_id_cursor=False)
    with pytest.warns(
        IncompleteFetchWarning, match=r"collected \d+ distinct events .* total says 12"
    ):
        fetch(client_of(box, page_size=5), endpoint="activities", progress=False)


def test_customers_beyond_page_99() -> None:
    world = World.generate(customers=1015, events=0, bulk=7, seed=5)
    box = sandbox(world)
    customers = client_of(box).list_customers()
    assert sorted(c["id"] for c in customers) == sorted(box.customer_ids)
    assert box.stats()["by_status"] == {
        "200": len(box.stats()["arrivals"])
    }  # no 400 for page 100


def test_unknown_customer_fails_alone_and_the_rest_is_kept(world, tmp_path) -> None:
    box = sandbox(world)
    store = tmp_path / "s"
    wanted = [*box.customer_ids[:3], "cust_missing"]
    with pytest.raises(FetchError) as info:
        fetch(client_of(box), customers=wanted, store=store, progress=False)
    err = info.value
    assert list(err.failures) == ["cust_missing"]
    assert isinstance(err.failures["cust_missing"], NotFoundError)
    assert "cust_missing" in str(err)
    assert "run the same fetch again" in str(err)
    kept = {e["id"] for c in box.customer_ids[:3] for e in box.events_of(c)}
    assert set(ids(err.log)) == kept
    assert set(ids(read_parquet(store))) == kept


class FailFor(httpx.AsyncBaseTransport):
    """The sandbox, except that one customer's requests always get a 503."""

    def __init__(self, box: Sandbox, customer: str) -> None:
        self.inner = box.transport(sleep=False)
        self.customer = customer
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.customer in request.url.path:
            self.calls += 1
            return httpx.Response(503, json={"code": 503, "key": "service_unavailable"})
        return await self.inner.handle_async_request(request)


def test_retry_budget_spent_names_what_failed(world, tmp_path) -> None:
    box = sandbox(world)
    bad = box.customer_ids[4]
    transport = FailFor(box, bad)
    client = client_of(
        box, transport=transport, retry=RetryPolicy(attempts=3, backoff=0.001)
    )
    with pytest.raises(FetchError, match="gave up after 3 attempts") as info:
        fetch(client, store=tmp_path / "s", progress=False)
    assert set(info.value.failures) == {bad}
    assert isinstance(info.value.failures[bad], ServerError)
    assert transport.calls == 3
    expected = {e["id"] for c in box.customer_ids if c != bad for e in box.events_of(c)}
    assert set(ids(read_parquet(tmp_path / "s"))) == expected
    # the API recovers: the same fetch completes the store
    log = fetch(client_of(box), store=tmp_path / "s", progress=False)
    assert sorted(ids(log)) == sorted(box.event_ids())


def test_bad_credentials(world, tmp_path) -> None:
    box = sandbox(world)
    client = box.client(base_url="http://s")
    client._secret_key = type(client._secret_key)("wrong-secret")
    with pytest.raises(AuthenticationError) as info:
        fetch(client, store=tmp_path / "s", progress=False)
    assert info.value.status_code == 401


def test_store_of_another_application_is_refused(world, tmp_path) -> None:
    box = sandbox(world)
    fetch(
        client_of(box),
        store=tmp_path / "s",
        customers=box.customer_ids[:1],
        progress=False,
    )
    other = Sandbox(world, SandboxConfig(app_id="other-app", secret_key=SECRET))
    with pytest.raises(StoreError, match="other-app"):
        fetch(client_of(other), store=tmp_path / "s", progress=False)


def test_interrupted_fetch_resumes_with_nothing_lost_or_doubled(
    world, tmp_path
) -> None:
    box = sandbox(world, latency=0.02)
    store = tmp_path / "s"

    async def interrupted() -> None:
        task = asyncio.create_task(
            afetch(
                client_of(box, concurrency=1),
                store=store,
                progress=False,
                checkpoint_every=0.05,
            )
        )
        await asyncio.sleep(0.35)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())
    partial = read_parquet(store)
    assert 0 < len(partial) < len(world.events)
    state = read_state(store)
    done = [c for c, entry in state["customers"].items() if entry["complete"]]
    assert 0 < len(done) < 10
    before = box.stats()["by_route"]["activity"]
    log = fetch(client_of(box), store=store, progress=False)
    assert sorted(ids(log)) == sorted(box.event_ids())
    assert log.events["id"].is_unique().all()
    # completed customers cost one request each on the second run
    assert box.stats()["by_route"]["activity"] - before < 10 + 9


def test_checkpoints_append_parts_and_the_last_commit_compacts(
    world, tmp_path, monkeypatch
) -> None:
    import json

    from activity_toolkit import load

    box = sandbox(world, latency=0.02)
    store = tmp_path / "s"
    commits: list[tuple[bool, int]] = []
    real = load._merge_and_write

    def spy(log, new, store_, state, *, compact):
        merged = real(log, new, store_, state, compact=compact)
        live = store_ / (store_ / "CURRENT").read_text()
        commits.append(
            (compact, json.loads((live / "manifest.json").read_text())["parts"])
        )
        return merged

    monkeypatch.setattr(load, "_merge_and_write", spy)
    log = fetch(
        client_of(box, concurrency=1),
        store=store,
        progress=False,
        checkpoint_every=0.05,
    )
    *checkpoints, last = commits
    assert len(checkpoints) >= 2
    assert checkpoints == [(False, n) for n in range(1, len(checkpoints) + 1)]
    assert last == (True, 1)
    assert read_parquet(store).equals(log)
    assert sorted(ids(log)) == sorted(box.event_ids())


def test_a_refetch_checkpoints_only_the_events_the_store_lacks(
    world, tmp_path, monkeypatch
) -> None:
    """A wider ``since`` sends stored events again; the parts a checkpoint appends
    must not hold them twice."""
    import json

    from activity_toolkit import load

    box = sandbox(world, latency=0.02)
    store = tmp_path / "s"
    stamps = sorted(e["created_at"] for e in world.events)
    fetch(client_of(box), store=store, since=stamps[40], progress=False)
    scans: list[tuple[int, int]] = []
    real = load._merge_and_write

    def spy(log, new, store_, state, *, compact):
        merged = real(log, new, store_, state, compact=compact)
        live = store_ / (store_ / "CURRENT").read_text()
        on_disk = json.loads((live / "manifest.json").read_text())["events"]
        scans.append((on_disk, len(read_parquet(store_))))
        return merged

    monkeypatch.setattr(load, "_merge_and_write", spy)
    log = fetch(
        client_of(box, concurrency=1),
        store=store,
        progress=False,
        checkpoint_every=0.05,
    )
    assert len(scans) >= 2
    assert all(rows == kept for rows, kept in scans)  # no event written twice
    assert sorted(ids(log)) == sorted(box.event_ids())
    assert sorted(ids(read_parquet(store))) == sorted(box.event_ids())


def test_a_failed_checkpoint_is_retried_at_the_next(
    world, tmp_path, monkeypatch, caplog
) -> None:
    from activity_toolkit import load

    box = sandbox(world, latency=0.02)
    store = tmp_path / "s"
    calls: list[bool] = []
    real = load._merge_and_write

    def flaky(log, new, store_, state, *, compact):
        calls.append(compact)
        if len(calls) == 1:
            raise OSError("disk hiccup")
        return real(log, new, store_, state, compact=compact)

    monkeypatch.setattr(load, "_merge_and_write", flaky)
    with caplog.at_level("WARNING", logger="activity_toolkit"):
        log = fetch(
            client_of(box, concurrency=1),
            store=store,
            progress=False,
            checkpoint_every=0.05,
        )
    assert calls.count(False) >= 2  # checkpoints went on after the failure
    assert "checkpoint" in caplog.text
    assert "disk hiccup" in caplog.text
    assert (
        sorted(ids(read_parquet(store))) == sorted(ids(log)) == sorted(box.event_ids())
    )


def test_secret_is_nowhere_in_the_store(world, tmp_path) -> None:
    box = sandbox(world)
    store = tmp_path / "s"
    fetch(client_of(box), store=store, progress=False)
    files = [p for p in Path(store).rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path


def test_progress_bar_shows_counts_but_no_secret(world, capsys) -> None:
    box = sandbox(world)
    fetch(client_of(box), progress=True)
    err = capsys.readouterr().err
    assert "events=" in err
    assert "requests=" in err
    assert "waited=" in err
    assert SECRET not in err


def test_fetch_inside_a_running_event_loop(world) -> None:
    box = sandbox(world)

    async def notebook_cell():
        return fetch(client_of(box), customers=box.customer_ids[:2], progress=False)

    log = asyncio.run(notebook_cell())
    assert len(log) == sum(len(box.events_of(c)) for c in box.customer_ids[:2])


def test_fetch_reads_credentials_from_the_environment(world, monkeypatch) -> None:
    box = sandbox(world)
    with box.serve() as server:
        for name, value in box.env(server.url).items():
            monkeypatch.setenv(name, value)
        log = fetch(customers=box.customer_ids[:2], progress=False)
    assert len(log) == sum(len(box.events_of(c)) for c in box.customer_ids[:2])


def test_bad_arguments(world) -> None:
    client = client_of(sandbox(world))
    with pytest.raises(ValueError, match="since"):
        fetch(client, since="2024-02-01", until="2024-01-01")
    with pytest.raises(ValueError, match="endpoint"):
        fetch(client, endpoint="events")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no 'type' filter"):
        fetch(client, endpoint="activities", query=ActivityQuery(type="x"))
    with pytest.raises(ValueError, match="non-empty"):
        fetch(client, customers=[""])


def test_without_a_store_nothing_is_written(world, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    log = fetch(client_of(sandbox(world)), progress=False)
    assert isinstance(log.events, pl.DataFrame)
    assert list(tmp_path.iterdir()) == []
