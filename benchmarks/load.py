"""Loading benchmark: every input shape, on data the readers were not tuned for.

The data comes from ``benchmarks/_gen.py``, a generator independent of
``activity_toolkit.sample``: large nested campaign and customer objects, free-form
``metadata`` with keys that vary by campaign and customer and values of mixed types,
nullable sub-objects, keys that first appear after 90% of the events, unicode and
escaped characters, two unknown types and a legacy alias. It is written once per
size and seed under ``benchmarks/_data/`` (ignored by git).

Shapes (``--shapes``, default all):

  nested   NDJSON events, nested ``data.data`` (list endpoints)
  flat     NDJSON events, flat ``data`` (webhooks)
  mixed    NDJSON, both event shapes interleaved in one file
  pages    NDJSON of list pages (both endpoint generations), one page per line
  pagedir  a folder per customer, one pretty-printed page per file
  gzip     gzip of the ``nested`` file

For each shape three tasks read the same file(s), each in a fresh subprocess so that
its peak RSS (``ru_maxrss``) is its own:

  (a) bare parse: read the lines (or files) and ``orjson.loads`` each, nothing built;
  (b) DuckDB ``read_json`` with explicit columns, projecting the common columns
      (id, type, created_at, group_id, channel, customer, campaign, voucher code)
      into a DuckDB table;
  (c) our reader: ``read_events`` (event shapes) or ``read_pages`` (page shapes),
      building the full ``ActivityLog`` with every per-type frame.

Targets (issue 11), for (c) on every shape:

  time       within 1.5x of (a) on the same file (goal: at or under 1.0x);
  peak RSS   under 2x the input size (goal: 1.5x); for gzip, the uncompressed size.

Tasks run interleaved (a, b, c, a, b, c, ...) over ``--repeat`` rounds so that machine
noise hits every task alike; the best time and the highest peak RSS of each are
reported. A task that fails is reported with its error, and the others still run.

``--store`` measures ``activity-toolkit load FILE --store DIR --kind events`` instead:
a nested NDJSON file of at least ``--gb`` GB (default 3) and one of a quarter of that
size, wall time and peak RSS of the CLI process (its subprocess's ``ru_maxrss``), so
that the growth of memory with the input is visible (target: it does not grow).

Usage:
  python benchmarks/load.py [--events N] [--repeat R] [--shapes nested,pages,...]
  python benchmarks/load.py --store [--gb G] [--repeat R]

Figures are kept in the README's Performance section.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _gen  # benchmarks/ is on sys.path: the script's folder

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
TIME_TARGET, TIME_GOAL = 1.5, 1.0
RSS_TARGET, RSS_GOAL = 2.0, 1.5

SHAPES: dict[str, tuple[str, str, str]] = {  # label, reader, file name
    "nested": ("NDJSON events, nested data.data", "events", "nested.ndjson"),
    "flat": ("NDJSON events, flat data (webhooks)", "events", "flat.ndjson"),
    "mixed": ("NDJSON events, nested and flat mixed", "events", "mixed.ndjson"),
    "pages": ("NDJSON of list pages, one per line", "pages", "pages.ndjson"),
    "pagedir": ("folder per customer, a page per file", "pages", "pagedir"),
    "gzip": ("gzip of the nested NDJSON", "events", "nested.ndjson.gz"),
}
TASKS = {
    "a": "bare parse: orjson.loads each",
    "b": "DuckDB read_json, common columns",
    "c": "our reader → ActivityLog",
}

# --------------------------------------------------------------------- the tasks

_PAYLOAD = (
    "customer STRUCT(id VARCHAR, source_id VARCHAR), "
    "campaign STRUCT(id VARCHAR, name VARCHAR, campaign_type VARCHAR), "
    "voucher STRUCT(code VARCHAR)"
)
_SOURCE = "event_source STRUCT(channel VARCHAR)"
_ENVELOPE = {
    "id": "VARCHAR",
    "type": "VARCHAR",
    "created_at": "VARCHAR",
    "group_id": "VARCHAR",
}
_NESTED = f"STRUCT(data STRUCT({_PAYLOAD}), {_SOURCE})"
_COMMON = """{e}id AS id, {e}type AS type, {e}created_at AS created_at,
    {e}group_id AS group_id, {channel} AS channel,
    {p}customer.id AS customer_id, {p}customer.source_id AS customer_source_id,
    {p}campaign.id AS campaign_id, {p}campaign.name AS campaign_name,
    {p}campaign.campaign_type AS campaign_type, {p}voucher.code AS voucher_code"""


def _columns(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}"


def duckdb_sql(shape: str, path: Path) -> str:
    """DuckDB's projection of the common columns of ``shape``, as a query."""
    src = str(path).replace("'", "''")
    if shape in ("nested", "gzip"):
        cols = _columns(_ENVELOPE | {"data": _NESTED})
        select = _COMMON.format(
            e="", channel="data.event_source.channel", p="data.data."
        )
        return f"SELECT {select} FROM read_json('{src}', format='newline_delimited', columns={cols})"
    if shape == "flat":
        cols = _columns(_ENVELOPE | {"data": f"STRUCT({_PAYLOAD})"})
        select = _COMMON.format(e="", channel="NULL", p="data.")
        return f"SELECT {select} FROM read_json('{src}', format='newline_delimited', columns={cols})"
    if shape == "mixed":  # a flat payload has no "data" key; a nested one has it
        both = f"STRUCT({_PAYLOAD}, data STRUCT({_PAYLOAD}), {_SOURCE})"
        cols = _columns(_ENVELOPE | {"data": both})
        select = ", ".join(
            f"coalesce(data.data.{f}, data.{f}) AS {name}"
            if "." in f
            else f"{f} AS {name}"
            for f, name in (
                ("id", "id"),
                ("type", "type"),
                ("created_at", "created_at"),
                ("group_id", "group_id"),
                ("customer.id", "customer_id"),
                ("customer.source_id", "customer_source_id"),
                ("campaign.id", "campaign_id"),
                ("campaign.name", "campaign_name"),
                ("campaign.campaign_type", "campaign_type"),
                ("voucher.code", "voucher_code"),
            )
        )
        return (
            f"SELECT {select}, data.event_source.channel AS channel FROM read_json("
            f"'{src}', format='newline_delimited', columns={cols})"
        )
    event = "STRUCT(" + ", ".join(f"{k} {v}" for k, v in _ENVELOPE.items())
    cols = _columns({"data": f"{event}, data {_NESTED})[]"})
    fmt = "newline_delimited"
    if shape == "pagedir":  # one pretty-printed object per file
        src, fmt = f"{src}/*/*.json", "unstructured"
    select = _COMMON.format(
        e="e.", channel="e.data.event_source.channel", p="e.data.data."
    )
    return (
        f"SELECT {select} FROM (SELECT unnest(data) AS e FROM read_json('{src}', "
        f"format='{fmt}', columns={cols}))"
    )


def _bare(shape: str, path: Path) -> int:
    import gzip

    import orjson

    loads = orjson.loads
    n = 0
    if shape == "pagedir":
        for file in sorted(path.rglob("*.json")):
            n += len(loads(file.read_bytes())["data"])
        return n
    opener: Any = gzip.open if shape == "gzip" else open
    with opener(path, "rb") as fh:
        if SHAPES[shape][1] == "pages":
            for line in fh:
                if line.strip():
                    n += len(loads(line)["data"])
        else:
            for line in fh:
                if line.strip():
                    loads(line)
                    n += 1
    return n


def _duckdb(shape: str, path: Path) -> int:
    import duckdb

    # as activity_toolkit._duck.connect() (not imported: the baseline stays
    # independent of the package): offline, no progress bar
    con = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
    )
    con.execute("SET enable_progress_bar = false")
    con.execute(f"CREATE TABLE events AS {duckdb_sql(shape, path)}")
    row = con.execute("SELECT count(*) FROM events").fetchone()
    assert row is not None
    return int(row[0])


def _reader(shape: str, path: Path) -> int:
    import warnings

    from activity_toolkit import read_events, read_pages

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown types, by design
        log = (read_pages if SHAPES[shape][1] == "pages" else read_events)(path)
    n = len(log)
    assert sum(f.height for f in log.frames.values()) == n
    return n


_MODULES = {
    "a": ["gzip", "orjson"],
    "b": ["duckdb"],
    "c": ["activity_toolkit"],
    "i": ["activity_toolkit"],
}


def run_task(task: str, shape: str, path: Path) -> dict[str, Any]:
    """Run one task in this process (called in a subprocess); returns its figures.

    The task's modules are imported before the clock starts (their memory counts in
    the peak RSS); task ``i`` times the import of ``activity_toolkit`` alone.
    """
    t0 = time.perf_counter()
    for module in _MODULES[task]:
        importlib.import_module(module)
    n = 0
    if task != "i":
        t0 = time.perf_counter()
        n = {"a": _bare, "b": _duckdb, "c": _reader}[task](shape, path)
    seconds = time.perf_counter() - t0
    return {
        "events": n,
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _child(argv: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, *argv], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return {"error": lines[-1] if lines else f"exit code {proc.returncode}"}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def measure(task: str, shape: str, path: Path) -> dict[str, Any]:
    return _child(["--_task", task, "--_shape", shape, "--_path", str(path)])


# ---------------------------------------------------------------------- the data


def build(shape: str, events: int, seed: int, data: Path, workers: int) -> Path:
    """The file (or folder) of ``shape``, written once and cached."""
    folder = data / f"gen{_gen.VERSION}-s{seed}-{events}e"
    path = folder / SHAPES[shape][2]
    if _gen.read_meta(path) is not None:
        return path
    folder.mkdir(parents=True, exist_ok=True)
    source = None
    if shape == "gzip":
        source = build("nested", events, seed, data, workers)
    t0 = time.perf_counter()
    meta = _gen.write(shape, path, events, seed=seed, workers=workers, source=source)
    print(
        f"  generated {shape}: {meta['bytes'] / 1e6:,.0f} MB, {meta['files']:,} "
        f"file(s), {meta['records']:,} records in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    return path


# ------------------------------------------------------------------------ output


def _verdict(value: float, target: float, goal: float) -> str:
    if value <= goal:
        return "goal met"
    return "ok" if value <= target else "MISSED"


def bench_shape(shape: str, path: Path, repeat: int) -> dict[str, Any]:
    """Run the three tasks on one shape and print its table; returns (c)'s ratios."""
    meta = _gen.read_meta(path)
    assert meta is not None
    size_mb = meta["raw_bytes"] / 1e6
    runs: dict[str, list[dict[str, Any]]] = {task: [] for task in TASKS}
    for _ in range(repeat):
        for task in TASKS:
            runs[task].append(measure(task, shape, path))
    results: dict[str, dict[str, Any]] = {}
    for task, done in runs.items():
        ok = [r for r in done if "error" not in r]
        if not ok:
            results[task] = done[-1]
            continue
        best = dict(min(ok, key=lambda r: r["seconds"]))
        best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in ok)
        best["all"] = [r["seconds"] for r in ok]
        results[task] = best

    label = SHAPES[shape][0]
    where = f"{path.name}, {meta['files']:,} files" if meta["files"] > 1 else path.name
    disk = (
        f"{meta['bytes'] / 1e6:,.0f} MB gzip, {size_mb:,.0f} MB uncompressed"
        if shape == "gzip"
        else f"{size_mb:,.0f} MB"
    )
    print(f"\n== {shape}: {label} ({where}; {disk}; {meta['unique']:,} events) ==")
    print(
        f"{'task':<38} {'time s':>7} {'x bare':>7} {'MB/s':>6} {'events':>10} "
        f"{'peak RSS MB':>12} {'RSS/size':>9}"
    )
    bare = results["a"].get("seconds")
    for task, name in TASKS.items():
        r = results[task]
        title = f"({task}) {name}"
        if "error" in r:
            print(f"{title:<38} FAILED: {r['error'][:160]}")
            continue
        ratio = f"{r['seconds'] / bare:>7.2f}" if bare else f"{'-':>7}"
        print(
            f"{title:<38} {r['seconds']:>7.2f} {ratio} {size_mb / r['seconds']:>6.0f} "
            f"{r['events']:>10,} {r['peak_rss_mb']:>12,.0f} "
            f"{r['peak_rss_mb'] / size_mb:>9.2f}"
        )
    if repeat > 1:
        for task in TASKS:
            if "all" in results[task]:
                runs_s = ", ".join(f"{s:.2f}" for s in results[task]["all"])
                print(f"    ({task}) runs: {runs_s} s")
    c = results["c"]
    summary: dict[str, Any] = {"shape": shape}
    if "error" in c:
        summary["error"] = c["error"]
        return summary
    if c["events"] != meta["unique"]:
        print(
            f"  (c) kept {c['events']:,} events; the input holds {meta['unique']:,} "
            f"distinct ({meta['records']:,} records): MISMATCH"
        )
        summary["mismatch"] = True
    summary["rss"] = c["peak_rss_mb"] / size_mb
    if bare:
        summary["time"] = c["seconds"] / bare
        print(
            f"  (c) time / (a) time: {summary['time']:.2f}x "
            f"({_verdict(summary['time'], TIME_TARGET, TIME_GOAL)}; target <= "
            f"{TIME_TARGET}x, goal <= {TIME_GOAL}x)"
        )
    print(
        f"  (c) peak RSS / size: {summary['rss']:.2f}x "
        f"({_verdict(summary['rss'], RSS_TARGET, RSS_GOAL)}; target < {RSS_TARGET}x, "
        f"goal <= {RSS_GOAL}x)"
    )
    return summary


def print_summary(summaries: list[dict[str, Any]]) -> bool:
    """One line per shape for (c); returns whether every target was met."""
    print("\n== summary: our reader against the targets ==")
    print(f"{'shape':<9} {'reader':<12} {'time x bare':>12} {'':<9} {'RSS/size':>9}")
    ok = True
    for s in summaries:
        reader = "read_" + SHAPES[s["shape"]][1]
        if "error" in s:
            print(f"{s['shape']:<9} {reader:<12} FAILED")
            ok = False
            continue
        t = s.get("time")
        tv = _verdict(t, TIME_TARGET, TIME_GOAL) if t is not None else "-"
        rv = _verdict(s["rss"], RSS_TARGET, RSS_GOAL)
        ok = ok and "MISSED" not in (tv, rv) and not s.get("mismatch") and t is not None
        ts = f"{t:.2f}x" if t is not None else "-"
        print(f"{s['shape']:<9} {reader:<12} {ts:>12} {tv:<9} {s['rss']:>8.2f}x {rv}")
    return ok


# -------------------------------------------------------------------- store mode


def run_store_child(path: Path) -> dict[str, Any]:
    """``activity-toolkit load`` into a new store (called in a subprocess, so that
    RUSAGE_CHILDREN holds only that command)."""
    exe = Path(sys.executable).parent / "activity-toolkit"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "activity_toolkit"]
    tmp = Path(tempfile.mkdtemp(prefix="load-store-"))
    try:
        store = tmp / "store"
        t0 = time.perf_counter()
        proc = subprocess.run(
            [*cmd, "load", str(path), "--store", str(store), "--kind", "events"],
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            msg = lines[-1] if lines else ""
            return {"error": f"exit code {proc.returncode}: {msg}"}
        store_bytes = sum(p.stat().st_size for p in store.rglob("*") if p.is_file())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "peak_rss_mb": peak, "store_mb": store_bytes / 1e6}


def build_gb(gb: float, seed: int, data: Path, workers: int) -> Path:
    """A nested NDJSON file of at least ``gb`` GB (written once and cached)."""
    path = data / f"gen{_gen.VERSION}-s{seed}-{gb:g}gb-nested.ndjson"
    if _gen.read_meta(path) is not None:
        return path
    data.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    events = _gen.events_for_bytes(gb * 1e9, seed)
    while True:
        meta = _gen.write("nested", path, events, seed=seed, workers=workers)
        if meta["bytes"] >= gb * 1e9:
            break
        events = int(events * gb * 1e9 / meta["bytes"] * 1.01) + 1
    print(
        f"  generated {path.name}: {meta['bytes'] / 1e9:.2f} GB, {events:,} events "
        f"in {time.perf_counter() - t0:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return path


def store_mode(gb: float, repeat: int, seed: int, data: Path, workers: int) -> None:
    sizes = [gb / 4, gb]
    paths = [build_gb(g, seed, data, workers) for g in sizes]
    results = []
    for path in paths:
        done = [_child(["--_store", str(path)]) for _ in range(repeat)]
        ok = [r for r in done if "error" not in r]
        if not ok:
            results.append(done[-1])
            continue
        best = dict(min(ok, key=lambda r: r["seconds"]))
        best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in ok)
        results.append(best)
    print("\n== activity-toolkit load FILE --store DIR --kind events ==")
    print(
        f"{'input':<34} {'GB':>6} {'events':>11} {'time s':>8} {'MB/s':>6} "
        f"{'peak RSS MB':>12} {'RSS/size':>9} {'store MB':>9}"
    )
    for path, r in zip(paths, results, strict=True):
        meta = _gen.read_meta(path)
        assert meta is not None
        size_mb = meta["bytes"] / 1e6
        head = f"{path.name:<34} {size_mb / 1e3:>6.2f} {meta['unique']:>11,}"
        if "error" in r:
            print(f"{head} FAILED: {r['error'][:160]}")
            continue
        print(
            f"{head} {r['seconds']:>8.1f} {size_mb / r['seconds']:>6.0f} "
            f"{r['peak_rss_mb']:>12,.0f} {r['peak_rss_mb'] / size_mb:>9.2f} "
            f"{r['store_mb']:>9,.0f}"
        )
    small, large = results
    if "error" not in small and "error" not in large:
        print(
            f"\n4x the input: peak RSS x{large['peak_rss_mb'] / small['peak_rss_mb']:.2f}, "
            f"time x{large['seconds'] / small['seconds']:.2f} "
            "(target: peak RSS does not grow with the input)"
        )


# -------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--events", type=int, default=500_000, help="events per shape (500,000)"
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="rounds (3; 1 with --store)"
    )
    parser.add_argument(
        "--shapes",
        default=",".join(SHAPES),
        help=f"comma-separated, of: {', '.join(SHAPES)} (default: all)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data", type=Path, default=DATA, help="cache folder (benchmarks/_data)"
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="generator processes"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a target is missed"
    )
    parser.add_argument(
        "--store", action="store_true", help="measure `activity-toolkit load --store`"
    )
    parser.add_argument(
        "--gb", type=float, default=3.0, help="--store input size in GB (3)"
    )
    parser.add_argument("--_task", help=argparse.SUPPRESS)
    parser.add_argument("--_shape", help=argparse.SUPPRESS)
    parser.add_argument("--_path", help=argparse.SUPPRESS)
    parser.add_argument("--_store", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if args._task:
        print(json.dumps(run_task(args._task, args._shape, Path(args._path))))
        return 0
    if args._store:
        print(json.dumps(run_store_child(Path(args._store))))
        return 0

    if args.store:
        store_mode(args.gb, args.repeat or 1, args.seed, args.data, args.workers)
        return 0
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        parser.error(f"unknown shape(s) {', '.join(unknown)}; of {', '.join(SHAPES)}")
    paths = {
        s: build(s, args.events, args.seed, args.data, args.workers) for s in shapes
    }
    summaries = [bench_shape(s, paths[s], args.repeat or 3) for s in shapes]
    ok = print_summary(summaries)
    imp = measure("i", shapes[0], paths[shapes[0]])
    if "error" in imp:
        print(f"\nimport activity_toolkit FAILED: {imp['error'][:160]}")
    else:
        print(
            f"\nimporting activity_toolkit alone: {imp['seconds']:.2f} s, peak RSS "
            f"{imp['peak_rss_mb']:,.0f} MB (in (c)'s peak RSS; not in its time)"
        )
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
