"""Integration over real HTTP on 127.0.0.1: the sandbox runs as a subprocess
(``activity-toolkit sandbox``) and the client fetches from it."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from activity_toolkit import read_parquet
from activity_toolkit.client import RetryPolicy, VoucherifyClient
from activity_toolkit.exceptions import UnknownEventTypeWarning
from activity_toolkit.io import read_state
from activity_toolkit.load import fetch
from activity_toolkit.sandbox import World

pytestmark = pytest.mark.network

SECRET = "sk_net_SECRET_4c1d99e0"
APP_ID = "net-app"
RETRY = RetryPolicy(attempts=10, budget=None, backoff=0.01, max_backoff=0.2)


class Server:
    def __init__(self, proc: subprocess.Popen[str], url: str, banner: str) -> None:
        self.proc, self.url, self.banner = proc, url, banner

    def stats(self) -> dict:
        return httpx.get(f"{self.url}/_sandbox/stats", timeout=10).json()

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "VOUCHERIFY_API_URL": self.url,
            "VOUCHERIFY_APP_ID": APP_ID,
            "VOUCHERIFY_SECRET_KEY": SECRET,
        }

    def client(self, **options) -> VoucherifyClient:
        options.setdefault("retry", RETRY)
        options.setdefault("seed", 1)
        return VoucherifyClient(APP_ID, SECRET, base_url=self.url, **options)


@contextlib.contextmanager
def sandbox(
    *args: str, world: World | None = None, tmp: Path | None = None
) -> Iterator[Server]:
    cmd = [
        sys.executable,
        "-m",
        "activity_toolkit",
        "sandbox",
        "--port",
        "0",
        "--app-id",
        APP_ID,
        "--secret-key",
        SECRET,
        *args,
    ]
    if world is not None:
        assert tmp is not None
        path = tmp / "world.json"
        path.write_bytes(world.to_json())
        cmd += ["--world", str(path)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        url = None
        while time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith("then:"):
                break
            m = re.search(r"http://127\.0\.0\.1:\d+", line)
            if m and url is None:
                url = m.group(0)
        if url is None:
            raise RuntimeError(
                "sandbox did not start: " + "".join(lines) + proc.stderr.read()
            )  # type: ignore[union-attr]
        yield Server(proc, url, "".join(lines))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def world() -> World:
    counts = [(i * 7) % 31 for i in range(40)]  # 0..30 events, pages of 10
    return World.generate(customers=40, events=counts, tie=3, bulk=4, seed=11)


def all_ids(world: World) -> list[str]:
    return sorted(e["id"] for e in world.events)


def events_of(world: World, customer: str) -> list[dict]:
    return [e for e in world.events if e["data"]["data"]["customer"]["id"] == customer]


def ids(log) -> list[str]:
    return sorted(log.events["id"].to_list())


@pytest.mark.filterwarnings(
    "ignore::activity_toolkit.exceptions.UnknownEventTypeWarning"
)
def test_cli_sandbox_serves_the_sample_and_prints_credentials(tmp_path) -> None:
    from activity_toolkit.sample import sample_world

    with sandbox("--customers", "6", "--seed", "3") as srv:
        assert f"export VOUCHERIFY_API_URL={srv.url}" in srv.banner
        assert f"export VOUCHERIFY_APP_ID={APP_ID}" in srv.banner
        assert f"export VOUCHERIFY_SECRET_KEY={SECRET}" in srv.banner
        log = fetch(srv.client(), store=tmp_path / "s", progress=False)
    expected = sorted(e["id"] for e in sample_world(customers=6, seed=3).events)
    assert ids(log) == expected


def test_faults_every_event_exactly_once(world, tmp_path) -> None:
    with sandbox(
        "--faults",
        "0.2",
        "--slow-seconds",
        "0.6",
        "--seed",
        "5",
        world=world,
        tmp=tmp_path,
    ) as srv:
        client = srv.client(page_size=10, timeout=0.3, concurrency=4)
        log = fetch(client, store=tmp_path / "s", progress=False)
        stats = srv.stats()
    assert ids(log) == all_ids(world)
    assert log.events["id"].is_unique().all()
    assert ids(read_parquet(tmp_path / "s")) == all_ids(world)
    assert sum(stats["faults"].values()) >= 10
    assert len(stats["faults"]) >= 4  # 5xx, slow, drop, truncate, malformed all met
    assert client.stats.retries >= 10


def test_rate_limit_never_exceeded_in_any_window(world, tmp_path) -> None:
    wanted = [c["id"] for c in world.customers[:20]]
    with sandbox(
        "--rate-limit", "15/0.5s", "--latency", "0.005", world=world, tmp=tmp_path
    ) as srv:
        client = srv.client(page_size=10, concurrency=6)
        started = time.monotonic()
        log = fetch(client, customers=wanted, progress=False)
        elapsed = time.monotonic() - started
        stats = srv.stats()
    assert ids(log) == sorted(e["id"] for c in wanted for e in events_of(world, c))
    assert stats["rate_limited"] == 0  # the limit was never hit
    assert stats["max_in_window"] <= 15
    assert client.stats.rate_limit_wait > 0
    # the pace is the limit's, not much slower: the rate over complete windows
    arrivals = stats["arrivals"]
    k = (len(arrivals) - 1) // 15
    assert k >= 2
    assert elapsed >= k * 0.5
    assert k * 15 / (arrivals[k * 15] - arrivals[0]) >= 0.6 * 30


def test_429_storm_survived(world, tmp_path) -> None:
    with sandbox(
        "--storm", "15:5", "--storm-retry-after", "0", world=world, tmp=tmp_path
    ) as srv:
        client = srv.client(page_size=10, concurrency=4)
        log = fetch(client, store=tmp_path / "s", progress=False)
        stats = srv.stats()
    assert ids(log) == all_ids(world)
    assert stats["storm_429"] >= 20
    assert client.stats.rate_limited == stats["storm_429"]


def test_two_clients_sharing_one_quota_stay_within_it(world, tmp_path) -> None:
    wanted = [c["id"] for c in world.customers[:24]]
    with sandbox("--rate-limit", "20/1s", world=world, tmp=tmp_path) as srv:
        results: dict[int, list[str]] = {}

        def run(n: int) -> None:
            c = srv.client(page_size=10, concurrency=4, seed=n)
            results[n] = ids(fetch(c, customers=wanted[n::2], progress=False))

        threads = [threading.Thread(target=run, args=(n,)) for n in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        stats = srv.stats()
    assert sorted(results[0] + results[1]) == sorted(
        e["id"] for c in wanted for e in events_of(world, c)
    )
    assert stats["max_in_window"] <= 20


def test_deprecated_endpoint_boundary_ties_over_http(world, tmp_path) -> None:
    with sandbox("--activities-ignore-id-cursor", world=world, tmp=tmp_path) as srv:
        log = fetch(srv.client(page_size=10), endpoint="activities", progress=False)
    assert ids(log) == all_ids(world)
    assert log.events["id"].is_unique().all()


def test_customers_beyond_page_99_over_http(tmp_path) -> None:
    world = World.generate(customers=1013, events=0, bulk=6, seed=9)
    with sandbox(world=world, tmp=tmp_path) as srv:
        customers = srv.client(page_size=10).list_customers()
        stats = srv.stats()
    assert sorted(c["id"] for c in customers) == sorted(
        c["id"] for c in world.customers
    )
    assert stats["by_status"] == {"200": stats["accepted"]}


def test_kill_mid_fetch_then_resume_exactly_once(world, tmp_path) -> None:
    store = tmp_path / "store"
    with sandbox("--latency", "0.03", world=world, tmp=tmp_path) as srv:
        cmd = [
            sys.executable,
            "-m",
            "activity_toolkit",
            "fetch",
            "--store",
            str(store),
            "--page-size",
            "10",
            "--concurrency",
            "2",
            "--checkpoint-every",
            "0.1",
            "--no-progress",
        ]
        proc = subprocess.Popen(
            cmd,
            env=srv.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                state = read_state(store) if (store / "CURRENT").exists() else None
                done = sum(
                    e["complete"] for e in (state or {}).get("customers", {}).values()
                )
                if done >= 8:
                    break
                time.sleep(0.02)
        finally:
            proc.kill()  # SIGKILL: no cleanup at all
            proc.wait(10)
            proc.stderr.close()  # type: ignore[union-attr]
        assert proc.returncode == -signal.SIGKILL
        partial = read_parquet(store)
        assert 0 < len(partial) < len(world.events), "killed mid-way"
        assert partial.events["id"].is_unique().all()

        resumed = subprocess.run(
            [*cmd], env=srv.env(), capture_output=True, text=True, timeout=120
        )
        assert resumed.returncode == 0, resumed.stderr
        log = read_parquet(store)
        assert ids(log) == all_ids(world)
        assert log.events["id"].is_unique().all()

        # a third run: one list request and one request per customer, nothing new
        before = srv.stats()["by_route"]
        again = subprocess.run(
            [*cmd], env=srv.env(), capture_output=True, text=True, timeout=120
        )
        assert again.returncode == 0, again.stderr
        after = srv.stats()["by_route"]
    assert after["activity"] - before["activity"] == 40
    assert after["customers"] - before["customers"] == 1
    assert ids(read_parquet(store)) == all_ids(world)


def test_secret_absent_from_logs_errors_progress_and_store(
    world, tmp_path, caplog, capsys
) -> None:
    caplog.set_level(logging.DEBUG)
    store = tmp_path / "s"
    with sandbox(
        "--faults",
        "0.2",
        "--slow-seconds",
        "0.5",
        "--seed",
        "2",
        world=world,
        tmp=tmp_path,
    ) as srv:
        fetch(
            srv.client(page_size=10, timeout=0.25),
            store=store,
            progress=True,
            customers=[c["id"] for c in world.customers[:15]],
        )
        bad = subprocess.run(
            [
                sys.executable,
                "-m",
                "activity_toolkit",
                "fetch",
                "--store",
                str(tmp_path / "x"),
            ],
            env={**srv.env(), "VOUCHERIFY_SECRET_KEY": SECRET + "-wrong"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert bad.returncode == 5
    assert "401" in bad.stderr
    assert SECRET not in bad.stderr + bad.stdout
    assert "Traceback" not in bad.stderr
    assert any("retry" in r.getMessage() for r in caplog.records)
    assert SECRET not in caplog.text
    out = capsys.readouterr()
    assert "events=" in out.err
    assert SECRET not in out.err + out.out
    for path in store.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_unknown_event_type_from_the_api_is_reported_not_fatal(tmp_path) -> None:
    events = World.generate(customers=1, events=2, seed=4).events
    events[1] = {**events[1], "type": "customer.brand_new.thing"}
    world = World(World.generate(customers=1, events=2, seed=4).customers, events)
    with (
        sandbox(world=world, tmp=tmp_path) as srv,
        pytest.warns(UnknownEventTypeWarning),
    ):
        log = fetch(srv.client(), progress=False)
    assert len(log) == 2
