"""The command line: sample, load, summary, demo; exit codes and error output."""

from __future__ import annotations

import subprocess
import sys
import warnings

import orjson
import pytest
from conftest import make_event

from activity_toolkit import read_parquet
from activity_toolkit.cli import main


def test_sample_load_summary_round_trip(tmp_path, capsys):
    nd = tmp_path / "events.ndjson"
    assert (
        main(
            [
                "sample",
                "--customers",
                "8",
                "--seed",
                "2",
                "--format",
                "ndjson",
                "--out",
                str(nd),
            ]
        )
        == 0
    )
    pages = tmp_path / "pages"
    assert (
        main(
            [
                "sample",
                "--customers",
                "8",
                "--seed",
                "2",
                "--format",
                "pages",
                "--endpoint",
                "activities",
                "--limit",
                "10",
                "--out",
                str(pages),
            ]
        )
        == 0
    )
    assert main(["load", str(nd), "--store", str(tmp_path / "a")]) == 0
    assert main(["load", str(pages), "--store", str(tmp_path / "b")]) == 0
    a, b = read_parquet(tmp_path / "a"), read_parquet(tmp_path / "b")
    assert a.equals(b)
    capsys.readouterr()
    assert main(["summary", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert f"events     {len(a):>12,}" in out
    assert "customer.order.paid" in out
    assert "by family" in out


def test_sample_parquet_format(tmp_path):
    assert (
        main(
            [
                "sample",
                "--customers",
                "5",
                "--format",
                "parquet",
                "--out",
                str(tmp_path / "s"),
            ]
        )
        == 0
    )
    assert len(read_parquet(tmp_path / "s")) > 0


def test_load_append_combines(tmp_path):
    one, two = tmp_path / "1.ndjson", tmp_path / "2.ndjson"
    one.write_bytes(orjson.dumps(make_event("a")))
    two.write_bytes(orjson.dumps(make_event("b", created_at="2024-06-01T00:00:00Z")))
    store = str(tmp_path / "s")
    assert main(["load", str(one), "--store", store]) == 0
    assert main(["load", str(two), "--store", store, "--append"]) == 0
    assert read_parquet(store).events["id"].to_list() == ["a", "b"]


def test_bad_input_exit_code_and_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"id": "a"\n')
    assert (
        main(["load", str(bad), "--kind", "events", "--store", str(tmp_path / "s")])
        == 3
    )
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}, line 1: invalid JSON")
    assert "Traceback" not in err
    assert not (tmp_path / "s" / "CURRENT").exists()


def test_skip_mode_reports_on_stderr(tmp_path, capsys):
    f = tmp_path / "mixed.ndjson"
    f.write_text(orjson.dumps(make_event("a")).decode() + "\nnot json\n")
    assert (
        main(
            [
                "load",
                str(f),
                "--kind",
                "events",
                "--on-error",
                "skip",
                "--store",
                str(tmp_path / "s"),
            ]
        )
        == 0
    )
    assert "skipped 1 bad record" in capsys.readouterr().err


def test_missing_store_exit_code(tmp_path, capsys):
    assert main(["summary", str(tmp_path / "nothing")]) == 4
    assert "no such store" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path, capsys):
    assert main(["--debug", "summary", str(tmp_path / "nothing")]) == 4
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert "StoreError" in err


def test_usage_error_exit_code():
    with pytest.raises(SystemExit) as info:
        main(["sample"])  # --out is required
    assert info.value.code == 2


@pytest.mark.slow
def test_demo_as_a_module_in_a_subprocess(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "activity_toolkit",
            "demo",
            "--customers",
            "30",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "activity_toolkit demo" in proc.stdout
    assert f"report: {(tmp_path / 'report.html').resolve()}" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    assert proc.stderr == ""
    assert "events" in proc.stdout  # the summary table


@pytest.mark.parametrize("layout", ["ndjson-pages", "big-array", "pretty-page"])
def test_load_auto_recognises_page_files(tmp_path, layout):
    from activity_toolkit.sample import sample_world

    world = sample_world(customers=40, seed=3)
    pages = [p for _, _, p in world.iter_pages(limit=100)]
    path = tmp_path / "pages.json"
    if layout == "ndjson-pages":
        path.write_bytes(b"\n".join(orjson.dumps(p) for p in pages))
    elif layout == "big-array":
        path.write_bytes(orjson.dumps(pages))
        assert path.stat().st_size > 1 << 20  # more than the MiB the guess reads
    else:
        path.write_bytes(orjson.dumps(pages[0], option=orjson.OPT_INDENT_2))
    assert main(["load", str(path), "--store", str(tmp_path / "s")]) == 0
    assert len(read_parquet(tmp_path / "s")) == sum(
        len(p["data"]) for p in (pages if layout != "pretty-page" else pages[:1])
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--customers", "-5"], "customers must be >= 0"),
        (["--start", "notadate"], "Invalid isoformat string"),
    ],
)
def test_sample_bad_arguments_are_usage_errors(tmp_path, capsys, argv, message):
    assert main(["sample", *argv, "--out", str(tmp_path / "x.ndjson")]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_sample_page_limit_is_checked(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(
            [
                "sample",
                "--format",
                "pages",
                "--limit",
                "0",
                "--out",
                str(tmp_path / "p"),
            ]
        )
    assert info.value.code == 2
    assert "must be from 1 to 100" in capsys.readouterr().err


def test_load_streams_parts_into_the_store_and_keeps_each_event_once(tmp_path, capsys):
    """``load --part-mb`` writes the input part by part; an event repeated in a later
    part (or already in the store) is stored once, and the store equals reading the
    whole input at once."""
    from activity_toolkit import read_events
    from activity_toolkit.io import read_parts
    from activity_toolkit.sample import sample_world

    world = sample_world(customers=60, seed=4)
    first = world.write_ndjson(tmp_path / "a.ndjson")
    again = tmp_path / "b.ndjson"  # the first 200 events again, then a new one
    head = first.read_bytes().splitlines(keepends=True)[:200]
    again.write_bytes(b"".join(head) + orjson.dumps(make_event("new-1")) + b"\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = read_events([first, again])
        parts = list(read_parts([first, again], part_bytes=1 << 20))
    assert len(parts) > 2  # the input really went through in parts
    store = tmp_path / "s"
    args = ["load", str(first), str(again), "--store", str(store), "--part-mb", "1"]
    assert main(args) == 0
    stored = read_parquet(store)
    assert stored.events.sort("id").equals(whole.events.sort("id"))
    out = capsys.readouterr().out
    assert f"loaded {len(whole):,} events" in out
    assert "200 duplicate(s) kept once" in out  # the repeats of the second file
    # loading the same input again adds nothing
    assert main(args) == 0
    assert "0 new added" in capsys.readouterr().out
    assert len(read_parquet(store)) == len(whole)


def test_load_part_mb_must_be_positive(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["load", "x.ndjson", "--store", str(tmp_path / "s"), "--part-mb", "0"])
    assert "must be at least 1" in capsys.readouterr().err
