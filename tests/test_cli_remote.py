"""The fetch and sandbox subcommands (``cli/_remote.py``: register, handlers, exit
codes)."""

from __future__ import annotations

import argparse

from activity_toolkit import read_parquet
from activity_toolkit.cli import main
from activity_toolkit.cli._remote import (
    _sandbox_config,
    cmd_fetch,
    cmd_sandbox,
    register,
)
from activity_toolkit.sandbox import Sandbox, SandboxConfig, World

SECRET = "sk_cli_SECRET_0a1b2c"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("--debug", action="store_true")
    register(p.add_subparsers(dest="command", required=True))
    return p


def test_register_adds_both_commands() -> None:
    args = parser().parse_args(
        [
            "fetch",
            "--store",
            "s",
            "--customer",
            "a",
            "--customer",
            "src-2",
            "--since",
            "2024-01-01",
            "--until",
            "2024-02-01",
            "--api-url",
            "us",
            "--endpoint",
            "activities",
            "--rate-limit",
            "100/min",
            "--no-progress",
        ]
    )
    assert args.func is cmd_fetch
    assert args.customers == ["a", "src-2"]
    assert (args.since, args.until, args.api_url, args.endpoint) == (
        "2024-01-01",
        "2024-02-01",
        "us",
        "activities",
    )
    assert args.progress is False
    args = parser().parse_args(
        [
            "sandbox",
            "--port",
            "0",
            "--rate-limit",
            "600/10s",
            "--faults",
            "0.1",
            "--storm",
            "50:5",
        ]
    )
    assert args.func is cmd_sandbox
    config = _sandbox_config(args)
    assert config.rate_limit.requests == 600
    assert config.rate_limit.per == 10
    assert config.faults.rate == 0.1
    assert config.faults.storm == (50, 5)


def test_sandbox_rejects_bad_options(capsys) -> None:
    args = parser().parse_args(["sandbox", "--storm", "x"])
    assert cmd_sandbox(args) == 2
    assert "EVERY:LENGTH" in capsys.readouterr().err


def test_fetch_without_credentials_explains(monkeypatch, capsys, tmp_path) -> None:
    for name in ("VOUCHERIFY_APP_ID", "VOUCHERIFY_SECRET_KEY", "VOUCHERIFY_API_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["fetch", "--store", str(tmp_path / "s")]) == 5
    err = capsys.readouterr().err
    assert "VOUCHERIFY_APP_ID and VOUCHERIFY_SECRET_KEY not set" in err
    assert "Traceback" not in err


def test_fetch_command_fills_the_store(monkeypatch, capsys, tmp_path) -> None:
    world = World.generate(customers=5, events=12, seed=1)
    box = Sandbox(world, SandboxConfig(secret_key=SECRET))
    with box.serve() as server:
        for name, value in box.env(server.url).items():
            monkeypatch.setenv(name, value)
        code = main(
            [
                "fetch",
                "--store",
                str(tmp_path / "s"),
                "--no-progress",
                "--page-size",
                "5",
            ]
        )
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "60 events of 5 customers" in out
        assert len(read_parquet(tmp_path / "s")) == 60
        # one customer by source id, unknown customer: exit 5, the rest is kept
        code = main(
            [
                "fetch",
                "--store",
                str(tmp_path / "t"),
                "--customer",
                "src-00001",
                "--customer",
                "nobody",
                "--no-progress",
            ]
        )
        out, err = capsys.readouterr()
    assert code == 5
    assert "nobody" in err
    assert "404" in err
    assert SECRET not in out + err
    assert len(read_parquet(tmp_path / "t")) == 12


def test_bad_time_is_a_usage_error(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setenv("VOUCHERIFY_APP_ID", "a")
    monkeypatch.setenv("VOUCHERIFY_SECRET_KEY", "b")
    assert (
        main(["fetch", "--store", str(tmp_path / "s"), "--since", "last tuesday"]) == 2
    )
    assert "since" in capsys.readouterr().err


def test_debug_shows_the_traceback(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.delenv("VOUCHERIFY_APP_ID", raising=False)
    assert main(["--debug", "fetch", "--store", str(tmp_path / "s")]) == 5
    assert "AuthenticationError" in capsys.readouterr().err
