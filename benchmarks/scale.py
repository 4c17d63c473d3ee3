"""Benchmark the analyses that run on engines, at growing sizes: Polars, DuckDB, Spark.

Usage::

    .venv/bin/python benchmarks/scale.py                        # 1M, 3M and 10M events
    .venv/bin/python benchmarks/scale.py --events 1M 3M --repeat 1
    .venv/bin/python benchmarks/scale.py --events 1M --engines polars duckdb

Analyses (one of each kind that has a portable definition,
:mod:`activity_toolkit.analysis`; ``--analyses`` picks some):

* ``funnel``, ``funnel_units`` and ``funnel_trend`` (monthly): publication →
  validation → redemption → paid order, ordered mode, 7-day window from step 1,
  first entry, over the events;
* ``retention``: weekly cohorts of the first event, any event returns, over the
  events;
* ``coupon_funnel`` and ``campaign_summary``: over the stacked typed rows of the
  publication, validation, redemption and order families;
* ``time_in_tier``: Kaplan-Meier over the ``tier`` family table (the engine computes
  the spells, the curve is finished locally);
* ``points_flows`` (monthly, by campaign): over the ``points``, ``pending_points``,
  ``reward_redemption`` and ``redemption`` tables stacked by column name.

Engines, each reading the same Parquet files itself:

* ``polars``: the local path (hand-tuned Polars code) on a DataFrame read with
  ``pl.scan_parquet(...).collect()`` (in the time), as an ActivityLog user runs it;
  the campaign rows are sorted by (``created_at``, ``id``), the order the local
  campaign code takes "first" and "last" in (an ActivityLog's order). Eager input
  is still the faster local path here (``coupon_funnel`` over the LazyFrame scan
  took 1.2-1.5 s on 1M events against about 1 s collected first);
* ``duckdb``: the portable definition over a DuckDB relation (``read_parquet`` with
  ``union_by_name``), on a fresh connection with the default threads;
* ``spark``: the portable definition over a PySpark DataFrame (``spark.read.parquet``
  of each family table, ``unionByName``), ``local[2]``, session time zone UTC,
  ``--spark-memory`` of driver memory (default 3g), 16 shuffle partitions with
  adaptive execution (Spark's default) coalescing them.

Data: ``sample_world(customers=N)`` (about 106 events per customer, so N is the
number of events / 106), written once as a Parquet store with ``world.write_parquet``
(bounded memory, ``--workers`` processes) under ``benchmarks/_data/scale-<N>c-seed<S>``
(git-ignored) and reused by later runs. Engines read the store's family tables, found
with :func:`activity_toolkit.store_paths`: the events are the union of the family
tables' common columns (``id``, ``type``, ``customer_id``, ``created_at`` are read),
the campaign rows the union of four family tables.

Each (size, engine, analysis) runs in its own subprocess. Its time is measured inside
it, from building the lazy input over the Parquet files to the result collected as a
Polars DataFrame (best of ``--repeat``, default 2: a first run pays one-time costs,
for Spark the JIT and class loading). Spark's session start is not in the time; it is
printed per size. ``peak RSS MB`` is the worker's own peak resident set (for Spark:
the Python driver process), read from ``VmHWM`` in ``/proc/self/status`` at its end:
``ru_maxrss`` is not used because Linux carries the parent's peak over ``fork`` and
``exec`` into it, so it can never be below the driver's. ``JVM MB`` is the Spark JVM's
peak resident set (``VmHWM`` of the ``java`` process the driver launched), read just
before the session stops. The data is generated in a subprocess too, so that the
driver stays small.

Results are checked equal: each engine's collected result is written to Parquet and
compared with Polars' after converting to one form (times as UTC milliseconds,
durations as ``Int64`` milliseconds, integers ``Int64``) and sorting by every
non-list column; ``check`` says ``same rows`` or where they differ. Nothing is
asserted on time. At the end, one line per engine gives how time grows from the
smallest to the largest size.

Default sizes: 1M, 3M and 10M events. Each store is generated once (3M took 4.5
minutes on two shared cores; 10M takes about three times that) and a cold Spark run
of one analysis took 1-2 minutes at 1M-3M there, so the default run is long;
``--events 1M 3M --repeat 1`` is the quicker one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
DEFAULT_DATA = ROOT / "_data"
EVENTS_PER_CUSTOMER = 106  # sample_world() gives 106-108; sizes the world
ENGINES = ("polars", "duckdb", "spark")
ANALYSES = (
    "funnel",
    "funnel_units",
    "funnel_trend",
    "retention",
    "coupon_funnel",
    "campaign_summary",
    "time_in_tier",
    "points_flows",
)
DATASET = {
    "funnel": "events",
    "funnel_units": "events",
    "funnel_trend": "events",
    "retention": "events",
    "coupon_funnel": "campaign",
    "campaign_summary": "campaign",
    "time_in_tier": "tier",
    "points_flows": "points",
}
STEPS = [
    "customer.publication.succeeded",
    "customer.validation.succeeded",
    "customer.redemption.succeeded",
    "customer.order.paid",
]
WITHIN = "7d"
EVENT_COLUMNS = ["id", "type", "customer_id", "created_at"]
CAMPAIGN_FAMILIES = ["publication", "validation", "redemption", "order"]
#: The family tables each dataset but ``events`` stacks (by column name).
FAMILIES = {
    "campaign": CAMPAIGN_FAMILIES,
    "tier": ["tier"],
    "points": ["points", "pending_points", "reward_redemption", "redemption"],
}
#: The columns the campaign analyses read (the stacked typed rows).
CAMPAIGN_COLUMNS = [
    "id",
    "type",
    "customer_id",
    "created_at",
    "voucher_code",
    "campaign_id",
    "campaign_name",
    "campaign_type",
    "failure_code",
    "order_id",
    "redemption_id",
    "order_total_amount",
    "order_total_discount_amount",
]


# -- data ---------------------------------------------------------------------------------


def parse_size(text: str) -> int:
    """``"3M"``, ``"500k"`` or ``"1000000"`` as a number of events."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmM]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a number of events: {text!r}")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]
    return round(float(m.group(1)) * scale)


def short(events: float) -> str:
    return f"{events / 1e6:.1f}M" if events >= 1e6 else f"{events / 1e3:.0f}k"


def ensure_store(root: Path, events: int, seed: int, workers: int) -> Path:
    """The store of about ``events`` events (generated once, then reused)."""
    from activity_toolkit import store_paths
    from activity_toolkit.exceptions import StoreError

    customers = max(1, round(events / EVENTS_PER_CUSTOMER))
    path = root / f"scale-{customers}c-seed{seed}"
    if (path / "CURRENT").exists():  # a store switches versions atomically
        try:
            store_paths(path)
        except StoreError as exc:
            print(f"  {path.name}: {exc}; writing it again", flush=True)
        else:
            return path
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cmd = [sys.executable, __file__, "--generate", str(customers), str(seed), str(path)]
    subprocess.run([*cmd, "--workers", str(workers)], check=True)
    print(
        f"  generated {path.name} in {time.perf_counter() - t0:.0f} s "
        "(kept for later runs)",
        flush=True,
    )
    return path


def generate(customers: int, seed: int, path: Path, workers: int) -> None:
    """Write ``sample_world(customers=…)`` as a store (in a subprocess of the driver:
    its peak memory would otherwise be inherited by every worker's ``ru_maxrss``)."""
    from activity_toolkit.sample import sample_world

    sample_world(customers=customers, seed=seed).write_parquet(path, workers=workers)


def describe(store: Path) -> dict[str, Any]:
    """Rows and bytes of the two inputs (read from the Parquet footers)."""
    import duckdb

    from activity_toolkit import store_paths

    paths = store_paths(store)
    con = duckdb.connect()

    def count(globs: list[str]) -> int:
        rel = con.read_parquet(globs, union_by_name=True)
        return int(rel.aggregate("count(*)").fetchall()[0][0])

    def disk(tables: list[str]) -> int:
        return sum(
            f.stat().st_size for t in tables for f in Path(paths.tables[t]).rglob("*")
        )

    campaign = [f for f in CAMPAIGN_FAMILIES if f in paths.families]
    info = {
        "events": count(paths.events),
        "campaign_rows": count([paths.glob(f) for f in campaign]),
        "customers": int(
            con.read_parquet(paths.events, union_by_name=True)
            .aggregate("count(DISTINCT customer_id)")
            .fetchall()[0][0]
        ),
        "families_mb": disk(list(paths.families)) / 2**20,
        "payload_mb": disk(["payload"]) / 2**20 if "payload" in paths.tables else 0.0,
    }
    con.close()
    return info


# -- the inputs, per engine -------------------------------------------------------------------


def polars_input(store: Path, dataset: str) -> Any:
    import polars as pl

    from activity_toolkit import store_paths

    paths = store_paths(store)

    def scan(family: str) -> pl.LazyFrame:
        return pl.scan_parquet(paths.glob(family), hive_partitioning=False)

    if dataset == "events":
        return pl.concat([scan(f).select(EVENT_COLUMNS) for f in paths.families])
    parts = []
    for f in FAMILIES[dataset]:
        if f in paths.families:
            lf = scan(f)
            have = lf.collect_schema()
            parts.append(lf.select(columns(dataset, have)))
    # the local code takes "first"/"last" in frame order: (created_at, id)
    return pl.concat(parts, how="diagonal_relaxed").sort("created_at", "id")


def columns(dataset: str, have: Any) -> list[str]:
    """The columns of a family table that ``dataset`` reads (all but the tier and
    points tables' are the campaign analyses' own list)."""
    if dataset == "campaign":
        return [c for c in CAMPAIGN_COLUMNS if c in have]
    return list(have)


def duckdb_input(store: Path, dataset: str, con: Any) -> Any:
    from activity_toolkit import store_paths

    paths = store_paths(store)
    if dataset == "events":
        rel = con.read_parquet(paths.events, union_by_name=True)
        return rel.select(*EVENT_COLUMNS)
    globs = [paths.glob(f) for f in FAMILIES[dataset] if f in paths.families]
    rel = con.read_parquet(globs, union_by_name=True, hive_partitioning=False)
    return rel.select(*columns(dataset, rel.columns))


def spark_input(store: Path, dataset: str, spark: Any) -> Any:
    from activity_toolkit import store_paths

    paths = store_paths(store)
    if dataset == "events":
        frames = [
            spark.read.parquet(paths.tables[f]).select(*EVENT_COLUMNS)
            for f in paths.families
        ]
    else:
        frames = []
        for f in FAMILIES[dataset]:
            if f in paths.families:
                df = spark.read.parquet(paths.tables[f])
                frames.append(df.select(*columns(dataset, df.columns)))
    out = frames[0]
    for df in frames[1:]:
        out = out.unionByName(df, allowMissingColumns=True)
    return out


def run_analysis(name: str, data: Any) -> Any:
    from activity_toolkit.analysis import (
        campaign_summary,
        coupon_funnel,
        funnel,
        funnel_trend,
        funnel_units,
        points_flows,
        retention,
        time_in_tier,
    )

    if name == "funnel":
        return funnel(data, STEPS, within=WITHIN, mode="ordered")
    if name == "funnel_units":
        return funnel_units(data, STEPS, within=WITHIN, mode="ordered")
    if name == "funnel_trend":
        return funnel_trend(data, STEPS, within=WITHIN, period="month")
    if name == "retention":
        return retention(data, period="week")
    if name == "coupon_funnel":
        return coupon_funnel(data)
    if name == "time_in_tier":
        return time_in_tier(data)
    if name == "points_flows":
        return points_flows(data, period="month", by="campaign_id")
    return campaign_summary(data)


def collected(result: Any) -> Any:
    """Any analysis result as a Polars DataFrame (running the engine's query)."""
    import narwhals as nw
    import polars as pl

    if isinstance(result, pl.LazyFrame):
        return result.collect()
    if isinstance(result, pl.DataFrame):
        return result
    return nw.from_native(result).collect("polars").to_native()


# -- worker -----------------------------------------------------------------------------------


def _vm_hwm_mb(pid: int) -> float | None:
    """Peak resident set of a process (``VmHWM``), or None when unreadable."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    m = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
    return int(m.group(1)) / 1024 if m else None


def _spark_session(memory: str) -> tuple[Any, float, int | None]:
    from pyspark.sql import SparkSession

    t0 = time.perf_counter()
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("activity_toolkit-scale")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "16")
        .config("spark.driver.memory", memory)
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    started = time.perf_counter() - t0
    proc = getattr(spark.sparkContext._gateway, "proc", None)  # the launched JVM
    pid = proc.pid if proc is not None else None
    if pid is not None:
        exe = Path(f"/proc/{pid}/exe")
        if not (exe.exists() and exe.resolve().name.startswith("java")):
            pid = None  # a wrapper, not the JVM: not measured
    return spark, started, pid


def worker(
    engine: str, analysis: str, store: Path, out: Path, repeat: int, memory: str
) -> None:
    report: dict[str, Any] = {}
    con = spark = None
    jvm = None
    if engine == "duckdb":
        import duckdb

        con = duckdb.connect()
    elif engine == "spark":
        spark, report["spark_start_s"], jvm = _spark_session(memory)
        if jvm is not None:
            report["jvm_start_mb"] = _vm_hwm_mb(jvm)
    times = []
    result = None
    for _ in range(repeat):
        result = None
        t0 = time.perf_counter()
        if engine == "polars":
            data = polars_input(store, DATASET[analysis]).collect()
        elif engine == "duckdb":
            data = duckdb_input(store, DATASET[analysis], con)
        else:
            data = spark_input(store, DATASET[analysis], spark)
        result = collected(run_analysis(analysis, data))
        times.append(time.perf_counter() - t0)
    assert result is not None
    result.write_parquet(out)
    report.update(
        seconds=min(times),
        times=times,
        rows=result.height,
        rss_mb=_vm_hwm_mb(os.getpid())
        or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    if jvm is not None:
        report["jvm_mb"] = _vm_hwm_mb(jvm)
    if spark is not None:
        spark.stop()
    print(json.dumps(report), flush=True)


def run_measured(
    engine: str, analysis: str, store: Path, out: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Run one worker; its report, or ``{"error": …}`` when it failed."""
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        engine,
        analysis,
        "--store",
        str(store),
        "--out",
        str(out),
        "--repeat",
        str(args.repeat),
        "--spark-memory",
        args.spark_memory,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = res.stdout.strip().splitlines()
    if res.returncode != 0 or not lines:
        tail = (res.stderr or res.stdout).strip().splitlines()
        return {"error": tail[-1][:100] if tail else f"exit {res.returncode}"}
    report: dict[str, Any] = json.loads(lines[-1])
    return report


# -- comparing results ------------------------------------------------------------------------


def comparable(df: Any) -> Any:
    """One form for every engine's result: times as ``Datetime("ms", "UTC")``,
    durations as ``Int64`` milliseconds, integers ``Int64``, floats ``Float64``,
    rows sorted by every non-list column."""
    import polars as pl

    cols = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                col = col.dt.replace_time_zone("UTC")
            col = col.dt.convert_time_zone("UTC").dt.cast_time_unit("ms")
        elif isinstance(dtype, pl.Duration):
            col = col.dt.total_milliseconds().cast(pl.Int64)
        elif dtype.is_integer():
            col = col.cast(pl.Int64)
        elif dtype.is_float():
            col = col.cast(pl.Float64)
        cols.append(col.alias(name))
    out = df.select(cols)
    keys = [c for c, t in out.schema.items() if not t.is_nested()]
    return out.sort(keys, nulls_last=True)


def check(reference: Path, other: Path) -> str:
    import polars as pl
    from polars.testing import assert_frame_equal

    try:
        assert_frame_equal(
            comparable(pl.read_parquet(other)), comparable(pl.read_parquet(reference))
        )
    except AssertionError as exc:
        first = " ".join(str(exc).split())
        return f"DIFFERENT: {first[:70]}"
    return "same rows"


# -- driver -----------------------------------------------------------------------------------


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def run_size(
    events: int, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[tuple[str, str], dict[str, Any]]]:
    print(f"\n== ~{short(events)} events ==", flush=True)
    store = ensure_store(args.data_dir, events, args.seed, args.workers)
    info = describe(store)
    print(
        f"data: {info['events']:,} events, {info['customers']:,} customers, "
        f"{info['campaign_rows']:,} campaign rows; family tables "
        f"{info['families_mb']:,.0f} MB on disk (payload {info['payload_mb']:,.0f} MB, "
        f"not read); {store}",
        flush=True,
    )
    results = args.data_dir / f"scale-results-{store.name}"
    results.mkdir(parents=True, exist_ok=True)
    header = (
        f"{'analysis':<17} {'engine':<7} {'rows':>7} {'time s':>8} "
        f"{'peak RSS MB':>12} {'JVM MB':>7}  check"
    )
    print(header)
    print("-" * len(header), flush=True)
    reports: dict[tuple[str, str], dict[str, Any]] = {}
    spark_starts: list[float] = []
    jvm_starts: list[float] = []
    for analysis in args.analyses:
        for engine in args.engines:
            out = results / f"{analysis}-{engine}.parquet"
            out.unlink(missing_ok=True)
            r = run_measured(engine, analysis, store, out, args)
            reports[engine, analysis] = r
            if "error" in r:
                print(f"{analysis:<17} {engine:<7} FAILED: {r['error']}", flush=True)
                continue
            if "spark_start_s" in r:
                spark_starts.append(r["spark_start_s"])
            if r.get("jvm_start_mb") is not None:
                jvm_starts.append(r["jvm_start_mb"])
            ref = results / f"{analysis}-polars.parquet"
            if engine == "polars":
                verdict = "reference"
            elif "polars" in args.engines and ref.exists():
                verdict = check(ref, out)
            else:
                verdict = "(no polars result to compare)"
            print(
                f"{analysis:<17} {engine:<7} {r['rows']:>7,} {r['seconds']:>8.2f} "
                f"{r['rss_mb']:>12,.0f} {_mb(r.get('jvm_mb')):>7}  {verdict}",
                flush=True,
            )
    if spark_starts:
        jvm = f"{min(jvm_starts):,.0f}-{max(jvm_starts):,.0f} MB" if jvm_starts else "-"
        print(
            f"spark: session start {min(spark_starts):.1f}-{max(spark_starts):.1f} s "
            f"per worker (not in the times); JVM resident after start {jvm}"
        )
    return info, reports


def growth(
    sizes: list[tuple[dict[str, Any], dict[tuple[str, str], dict[str, Any]]]],
    args: argparse.Namespace,
) -> None:
    (first, r0), (last, r1) = sizes[0], sizes[-1]
    ratio = last["events"] / first["events"]
    print(
        f"\ntime from {short(first['events'])} to {short(last['events'])} events "
        f"({ratio:.1f}x the events):"
    )
    for engine in args.engines:
        parts = []
        t0 = t1 = 0.0
        ok = True
        for analysis in args.analyses:
            a, b = r0.get((engine, analysis), {}), r1.get((engine, analysis), {})
            if "seconds" not in a or "seconds" not in b:
                parts.append(f"{analysis} n/a")
                ok = False
                continue
            t0 += a["seconds"]
            t1 += b["seconds"]
            parts.append(
                f"{analysis} {a['seconds']:.2f}→{b['seconds']:.2f} s "
                f"({b['seconds'] / a['seconds']:.1f}x)"
            )
        total = (
            f"; all {len(args.analyses)} {t0:.1f}→{t1:.1f} s ({t1 / t0:.1f}x)"
            if ok and t0
            else ""
        )
        print(f"  {engine:<7} " + ", ".join(parts) + total)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument(
        "--events",
        nargs="+",
        type=parse_size,
        default=[1_000_000, 3_000_000, 10_000_000],
        help="approximate numbers of events (1M, 3M, 10000000, …)",
    )
    ap.add_argument(
        "--repeat", type=int, default=2, help="runs per worker (best is kept)"
    )
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    ap.add_argument("--analyses", nargs="+", default=list(ANALYSES), choices=ANALYSES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes that generate the data",
    )
    ap.add_argument("--spark-memory", default="3g", help="spark.driver.memory")
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument(
        "--worker", nargs=2, metavar=("ENGINE", "ANALYSIS"), help=argparse.SUPPRESS
    )
    ap.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--generate", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.generate:
        customers, seed, path = args.generate
        generate(int(customers), int(seed), Path(path), args.workers)
        return 0
    if args.worker:
        engine, analysis = args.worker
        worker(engine, analysis, args.store, args.out, args.repeat, args.spark_memory)
        return 0
    print(
        f"cpus: {os.cpu_count()}, repeat: {args.repeat}, engines: "
        f"{', '.join(args.engines)}; funnels: {len(STEPS)} steps, ordered, "
        f"within {WITHIN}",
        flush=True,
    )
    sizes = [run_size(n, args) for n in sorted(set(args.events))]
    if len(sizes) > 1:
        growth(sizes, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
