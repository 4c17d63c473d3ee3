"""Credentials that cannot be sent, exit codes, retry budget, warnings once, and
which customer a fetched event belongs to (items 6, 7, 12, 13, 14, 15)."""

from __future__ import annotations

import copy
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest

from activity_toolkit import fetch, read_parquet
from activity_toolkit.cli import main
from activity_toolkit.client import FetchProgress, RateLimiter, VoucherifyClient
from activity_toolkit.client._secret import Secret, redact
from activity_toolkit.exceptions import (
    CredentialsError,
    FetchError,
    TransportError,
    UnknownEventTypeWarning,
)
from activity_toolkit.sandbox import Faults, Sandbox, SandboxConfig, World

CORE = "sk_SECRET_9f8e7d6c"
BAD_KEYS = [
    pytest.param(CORE + "\r", id="cr"),
    pytest.param(CORE + "\n", id="lf"),
    pytest.param(CORE + "\r\n", id="crlf"),
    pytest.param(CORE + "\t", id="tab"),
    pytest.param(CORE + " ", id="space"),
    pytest.param(" " + CORE, id="leading-space"),
    pytest.param(CORE + "é", id="non-ascii"),
    pytest.param(CORE[:5] + "\x00" + CORE[5:], id="nul"),
]


def _chain_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error)) + repr(error)


def _assert_no_key(*texts: str) -> None:
    for text in texts:
        assert CORE not in text
        assert CORE[5:] not in text  # no part of it either


def _store_text(path: Path) -> str:
    if not path.exists():
        return ""
    return "".join(
        p.read_bytes().decode("latin-1") for p in path.rglob("*") if p.is_file()
    )


# -- 6: keys with whitespace, control or non-ASCII characters ---------------------------
@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_key_is_refused_when_the_client_is_made(key: str) -> None:
    with pytest.raises(CredentialsError) as info:
        VoucherifyClient("app-id", key, base_url="http://127.0.0.1:9")
    error = info.value
    assert isinstance(error, ValueError)
    assert error.__cause__ is None
    assert error.__suppress_context__
    assert "secret_key" in str(error)
    _assert_no_key(_chain_text(error))
    with pytest.raises(CredentialsError) as info:
        VoucherifyClient.from_env(
            {"VOUCHERIFY_APP_ID": "app-id", "VOUCHERIFY_SECRET_KEY": key}
        )
    assert "VOUCHERIFY_SECRET_KEY" in str(info.value)
    _assert_no_key(_chain_text(info.value))


def test_bad_bearer_and_app_id_are_refused() -> None:
    with pytest.raises(CredentialsError, match="bearer_token"):
        VoucherifyClient(bearer_token=CORE + "\r\n")
    with pytest.raises(CredentialsError, match="app_id"):
        VoucherifyClient("app-id\r", CORE)


@pytest.mark.parametrize("key", [k for k in BAD_KEYS if k.id != "nul"])
def test_cli_bad_key_never_shows_it(monkeypatch, capsys, caplog, tmp_path, key) -> None:
    monkeypatch.setenv("VOUCHERIFY_APP_ID", "app-id")
    monkeypatch.setenv("VOUCHERIFY_SECRET_KEY", key)
    monkeypatch.setenv("VOUCHERIFY_API_URL", "http://127.0.0.1:9")
    caplog.set_level(logging.DEBUG)
    store = tmp_path / "s"
    started = time.monotonic()
    code = main(["fetch", "--store", str(store), "--no-progress"])
    assert code == 2
    assert time.monotonic() - started < 5  # no retries
    out, err = capsys.readouterr()
    assert "VOUCHERIFY_SECRET_KEY" in err
    assert err.count("error:") == 1
    _assert_no_key(out, err, caplog.text, _store_text(store))


def test_redact_catches_escaped_forms() -> None:
    text = f"Illegal header value b'{CORE}\\r' and {CORE}"
    assert redact(text, [Secret(CORE + "\r")]) == (
        "Illegal header value b'********' and ********"
    )


def test_unbuildable_request_is_not_retried_nor_chained() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.LocalProtocolError(f"Illegal header value b'{CORE}\\r'")

    client = VoucherifyClient(
        "app-id",
        CORE,
        base_url="http://x.invalid",
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(TransportError) as info:
        client.get_customer("cust_1")
    assert calls == 1
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    _assert_no_key(_chain_text(info.value))


# -- 7: credentials in the URL -----------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [f"http://user:{CORE}@127.0.0.1:9", f"https://{CORE}@api.voucherify.io"],
)
def test_userinfo_in_the_url_is_refused(url: str) -> None:
    with pytest.raises(CredentialsError) as info:
        VoucherifyClient("app-id", "good-key", base_url=url)
    _assert_no_key(_chain_text(info.value))
    with pytest.raises(CredentialsError, match="VOUCHERIFY_API_URL") as info:
        VoucherifyClient.from_env(
            {
                "VOUCHERIFY_APP_ID": "a",
                "VOUCHERIFY_SECRET_KEY": "good-key",
                "VOUCHERIFY_API_URL": url,
            }
        )
    _assert_no_key(_chain_text(info.value))


def test_cli_userinfo_url_refused_and_not_stored(
    monkeypatch, capsys, caplog, tmp_path
) -> None:
    box = Sandbox(World.generate(customers=2, events=3))
    store = tmp_path / "s"
    caplog.set_level(logging.DEBUG)
    with box.serve() as server:
        for name, value in box.env(server.url).items():
            monkeypatch.setenv(name, value)
        url = server.url.replace("http://", f"http://user:{CORE}@")
        code = main(["fetch", "--store", str(store), "--api-url", url, "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert "credentials" in err
    _assert_no_key(out, err, caplog.text, _store_text(store))


# -- 12: exit codes, --debug, signals, clear errors --------------------------------------
def test_debug_keeps_the_exit_code(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.delenv("VOUCHERIFY_APP_ID", raising=False)
    assert main(["--debug", "fetch", "--store", str(tmp_path / "s")]) == 5
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert "AuthenticationError" in err
    assert err.strip().splitlines()[-1].startswith("error:")
    assert main(["--debug", "summary", str(tmp_path / "none")]) == 4


def test_bogus_option_says_so(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--bogus"])
    assert info.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    assert main([]) == 2
    assert "give a COMMAND" in capsys.readouterr().err


def test_sample_into_an_impossible_path_is_one_clear_line(capsys, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(
        ["sample", "--customers", "2", "--workers", "1", "--format", "ndjson",
         "--out", str(blocker / "out.ndjson")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert "Errno" not in err
    assert len(err.strip().splitlines()) == 1
    assert "a file is in the way" in err or "not a directory" in err


def _env(url: str, box: Sandbox) -> dict[str, str]:
    env = dict(os.environ)
    env.update(box.env(url))
    return env


def test_sigterm_stops_fetch_like_ctrl_c(tmp_path) -> None:
    box = Sandbox(World.generate(customers=40, events=3), SandboxConfig(latency=0.05))
    store = tmp_path / "s"
    with box.serve() as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "activity_toolkit", "fetch", "--store", str(store),
             "--concurrency", "1", "--checkpoint-every", "0.2", "--no-progress"],
            env=_env(server.url, box), stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not (store / "CURRENT").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert "terminated" in err
    assert "run the same command again" in err
    assert (store / "CURRENT").exists()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sandbox_stops_with_the_documented_code(sig, code) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "activity_toolkit", "sandbox", "--port", "0",
         "--customers", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    assert "listening" in proc.stdout.readline()
    proc.send_signal(sig)
    proc.communicate(timeout=30)
    assert proc.returncode == code


# -- 13: the retry budget ------------------------------------------------------------------
def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_dead_server_gives_up_within_retry_for_and_says_it_once(
    monkeypatch, capsys, caplog, tmp_path
) -> None:
    monkeypatch.setenv("VOUCHERIFY_APP_ID", "a")
    monkeypatch.setenv("VOUCHERIFY_SECRET_KEY", "b-key")
    monkeypatch.setenv("VOUCHERIFY_API_URL", _dead_url())
    started = time.monotonic()
    code = main(
        ["fetch", "--store", str(tmp_path / "s"), "--retry-for", "2", "--no-progress"]
    )
    assert code == 5
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert err.count("connection failed") == 1
    assert "retry_for=2" in err
    assert not [
        r for r in caplog.records
        if r.levelno >= logging.WARNING and "connection failed" in r.getMessage()
    ]  # fmt: skip


def test_max_retries_is_the_fetch_budget() -> None:
    box = Sandbox(
        World.generate(customers=1, events=3),
        SandboxConfig(faults=Faults(rate=1.0, kinds=("500",))),
    )
    cid = box.customer_ids[0]
    with pytest.raises(FetchError):
        fetch(box.client(), customers=[cid], max_retries=0, progress=False)
    assert box.stats()["requests"] == 1
    before = box.stats()["requests"]
    with pytest.raises(FetchError):
        fetch(box.client(seed=1), customers=[cid], max_retries=2, progress=False)
    assert box.stats()["requests"] - before == 3


def test_progress_shows_retries() -> None:
    limiter = RateLimiter()
    bar = FetchProgress(enabled=False, limiter=limiter)
    limiter.record_failure("transport", retry=True)
    assert "retries=1" in bar.postfix()


def test_cli_retry_options_parse(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["fetch", "--store", "s", "--retries", "-1"])
    assert "--retries" in capsys.readouterr().err


# -- 14: unknown types once per fetch ------------------------------------------------------
def test_unknown_type_warned_once_with_the_final_count(tmp_path) -> None:
    world = World.generate(customers=8, events=4)
    for i, e in enumerate(world.events):
        if i % 4 == 0:
            e["type"] = "customer.future.thing"
    box = Sandbox(world, SandboxConfig(latency=0.03))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        log = fetch(
            box.client(concurrency=1),
            store=tmp_path / "s",
            checkpoint_every=0.05,
            progress=False,
        )
    unknown = [w for w in caught if issubclass(w.category, UnknownEventTypeWarning)]
    assert len(unknown) == 1, [str(w.message) for w in unknown]
    assert "(8 events" in str(unknown[0].message)
    assert log.report is not None
    assert dict(log.report.unknown_types) == {"customer.future.thing": 8}


# -- 15: which customer an event belongs to ------------------------------------------------
class _Misattributed:
    """Customer A's events name B in their payload; C's name no customer."""

    def __init__(self) -> None:
        base = World.generate(customers=3, events=4)
        self.customers = base.customers
        self._by = base.events_by_customer()
        a, b, c = (x["id"] for x in self.customers)
        self.ids = (a, b, c)
        b_customer = self._by[b][0]["data"]["data"]["customer"]
        for e in self._by[a]:
            e["data"]["data"]["customer"] = copy.deepcopy(b_customer)
        for e in self._by[c]:
            del e["data"]["data"]["customer"]

    def events_by_customer(self) -> dict[str, list[dict[str, Any]]]:
        return self._by


def test_events_keep_the_customer_they_were_fetched_for(tmp_path) -> None:
    world = _Misattributed()
    a, b, c = world.ids
    box = Sandbox(world)  # type: ignore[arg-type]
    store = tmp_path / "s"
    with box.serve() as server, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = VoucherifyClient(
            box.config.app_id, box.config.secret_key, base_url=server.url
        )
        log = fetch(client, store=store, progress=False)
    per = dict(log.events.group_by("customer_id").len().iter_rows())
    assert per == {a: 4, b: 4, c: 4}
    for t, frame in log.frames.items():
        assert frame["customer_id"].null_count() == 0, t
    stored = read_parquet(store)
    assert dict(stored.events.group_by("customer_id").len().iter_rows()) == per
    texts = [str(w.message) for w in caught]
    assert any("8 fetched event(s) of 2 customer(s)" in t for t in texts), texts
    assert log.report is not None
    assert set(log.report.attribution) == {(a, b, 4), (c, None, 4)}
