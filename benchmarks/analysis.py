"""Benchmark the analysis functions against equivalent DuckDB SQL on the same Parquet.

Usage::

    .venv/bin/python benchmarks/analysis.py                 # 10M events (cached data)
    .venv/bin/python benchmarks/analysis.py --events 1000000 --repeat 1

Data: the synthetic :func:`activity_toolkit.sample` world, generated in chunks of
about 10,000 customers (one seed per chunk, so ids never collide) until the requested
number of events is reached, and written under ``benchmarks/_data/`` (git-ignored)
as three Parquet datasets:

* ``events/``: the unified events frame without the raw ``payload`` JSON (no analysis
  reads it, and leaving it out keeps the memory target demanding);
* ``tiers/``: the stacked typed tier events (``typed_events(log, families="tier")``);
* ``points/``: the stacked typed points, pending-points, reward-redemption and
  redemption events.

Tasks, each run by both engines on the same files:

* ``funnel``: publication → validation → redemption → paid order, ordered, 7-day
  window from step 1, first entry, (created_at, id) order;
* ``retention``: weekly cohorts by first event, any event returns;
* ``tier_spells``: one row per stay in a tier;
* ``points_flows``: monthly earned / spent / expired / transferred / pending / net.

Every engine run happens in its own subprocess; its peak RSS comes from ``os.wait4``
(the child's own ``ru_maxrss``), its time is measured inside the child around the
query only (best of ``--repeat``, default 3: the first run of either engine pays
one-time costs such as thread pools and a cold file cache). ``RSS/input`` divides the peak by the in-memory
size of the dataset the task reads, ``RSS/all`` by that of all three datasets; the
RSS of an idle worker (interpreter plus engine) is printed for reference, since it
dominates on the small tier dataset. Both engines materialise their full result
(Polars collects a DataFrame; DuckDB creates a temporary table), and the results are
compared on a small canonical summary, printed in the ``check`` column.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
DEFAULT_DATA = ROOT / "_data"
EVENTS_PER_CUSTOMER = 103  # measured on sample(); only used to size the chunks
CHUNK_CUSTOMERS = 10_000

STEPS = [
    "customer.publication.succeeded",
    "customer.validation.succeeded",
    "customer.redemption.succeeded",
    "customer.order.paid",
]
POINTS_FAMILIES = ["points", "pending_points", "reward_redemption", "redemption"]
TASKS = ("funnel", "retention", "tier_spells", "points_flows")
DATASET = {
    "funnel": "events",
    "retention": "events",
    "tier_spells": "tiers",
    "points_flows": "points",
}


# -- data ---------------------------------------------------------------------------------


def _chunk(out: Path, index: int, customers: int, seed: int) -> dict[str, Any]:
    """Generate one chunk of the sample and write its three Parquet parts."""
    from activity_toolkit import sample
    from activity_toolkit.analysis import typed_events

    log = sample(customers=customers, seed=seed)
    sizes: dict[str, int] = {}
    parts = {
        "events": log.events.drop("payload"),
        "tiers": typed_events(log, families="tier"),
        "points": typed_events(log, families=POINTS_FAMILIES),
    }
    for name, frame in parts.items():
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        frame.drop("payload", strict=False).write_parquet(
            d / f"part-{index:03d}.parquet"
        )
        sizes[name] = int(frame.drop("payload", strict=False).estimated_size())
    return {"events": len(log), "sizes": sizes}


def ensure_data(root: Path, events: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """The data directory for ``events`` events (generated once, then reused)."""
    out = root / f"events-{events}-seed-{seed}"
    meta_file = out / "meta.json"
    if meta_file.is_file():
        return out, json.loads(meta_file.read_text())
    customers = math.ceil(events / EVENTS_PER_CUSTOMER)
    chunks = math.ceil(customers / CHUNK_CUSTOMERS)
    per_chunk = math.ceil(customers / chunks)
    total = 0
    sizes = {"events": 0, "tiers": 0, "points": 0}
    started = time.perf_counter()
    for k in range(chunks):
        cmd = [
            sys.executable,
            __file__,
            "--chunk",
            str(k),
            "--customers",
            str(per_chunk),
            "--seed",
            str(seed * 1000 + k),
            "--out",
            str(out),
        ]
        res = subprocess.run(cmd, check=True, capture_output=True, text=True)
        info = json.loads(res.stdout.strip().splitlines()[-1])
        total += info["events"]
        for name, size in info["sizes"].items():
            sizes[name] += size
        print(
            f"  generated chunk {k + 1}/{chunks}: {total:,} events so far "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    disk = {
        name: sum(f.stat().st_size for f in (out / name).glob("*.parquet"))
        for name in sizes
    }
    meta = {
        "events": total,
        "customers": per_chunk * chunks,
        "memory_bytes": sizes,
        "disk_bytes": disk,
    }
    meta_file.write_text(json.dumps(meta, indent=1))
    return out, meta


# -- the tasks, Polars ---------------------------------------------------------------------


def polars_task(task: str, data: Path) -> tuple[Any, dict[str, Any]]:
    import polars as pl

    from activity_toolkit.analysis import funnel, points_flows, retention, tier_spells

    def scan(name: str) -> pl.LazyFrame:
        return pl.scan_parquet(data / name / "*.parquet")

    if task == "funnel":
        out = funnel(scan("events"), STEPS, within="7d").collect()
        return out, {"counts": out["count"].to_list()}
    if task == "retention":
        out = retention(scan("events"), period="week").collect()
        nz = out.filter(pl.col("active") > 0)
        return out, {
            "cells": nz.height,
            "active": int(nz["active"].sum()),
            "sizes": int(nz.filter(pl.col("period") == 0)["active"].sum()),
        }
    if task == "tier_spells":
        out = tier_spells(scan("tiers")).collect()
        reasons = out.group_by("end_reason").len().sort("end_reason")
        return out, {"spells": out.height, "end_reasons": dict(reasons.iter_rows())}
    out = points_flows(scan("points")).collect()
    return out, {
        "months": out.filter((pl.col("earned") != 0) | (pl.col("spent") != 0)).height,
        **{
            c: int(out[c].sum())
            for c in ("earned", "spent", "expired", "transferred_out", "net")
        },
    }


# -- the tasks, DuckDB ------------------------------------------------------------------------


def _sql(task: str, data: Path) -> str:
    ev = f"read_parquet('{data / 'events' / '*.parquet'}')"
    if task == "funnel":
        s1, s2, s3, s4 = STEPS
        return f"""
        WITH ev AS (
            SELECT customer_id, type, created_at,
                   row_number() OVER (ORDER BY created_at, id) AS pos
            FROM {ev}
            WHERE type IN ('{s1}', '{s2}', '{s3}', '{s4}') AND customer_id IS NOT NULL
        ),
        f1 AS (SELECT customer_id, min(pos) AS p1, min(created_at) AS t1
               FROM ev WHERE type = '{s1}' GROUP BY customer_id),
        f2 AS (SELECT f.customer_id, f.t1, min(e.pos) AS p2, min(e.created_at) AS t2
               FROM f1 f JOIN ev e ON e.customer_id = f.customer_id
                    AND e.type = '{s2}' AND e.pos > f.p1 GROUP BY ALL),
        f3 AS (SELECT f.customer_id, f.t1, min(e.pos) AS p3, min(e.created_at) AS t3
               FROM f2 f JOIN ev e ON e.customer_id = f.customer_id
                    AND e.type = '{s3}' AND e.pos > f.p2 GROUP BY ALL),
        f4 AS (SELECT f.customer_id, f.t1, min(e.pos) AS p4, min(e.created_at) AS t4
               FROM f3 f JOIN ev e ON e.customer_id = f.customer_id
                    AND e.type = '{s4}' AND e.pos > f.p3 GROUP BY ALL)
        SELECT 1 AS step, count(*) AS n FROM f1
        UNION ALL SELECT 2, count(*) FROM f2 WHERE t2 <= t1 + INTERVAL 7 DAY
        UNION ALL SELECT 3, count(*) FROM f3 WHERE t3 <= t1 + INTERVAL 7 DAY
        UNION ALL SELECT 4, count(*) FROM f4 WHERE t4 <= t1 + INTERVAL 7 DAY
        """
    if task == "retention":
        return f"""
        WITH ev AS (SELECT customer_id, created_at FROM {ev} WHERE customer_id IS NOT NULL),
        f AS (SELECT customer_id, date_trunc('week', min(created_at)) AS cohort
              FROM ev GROUP BY customer_id),
        x AS (SELECT DISTINCT e.customer_id, f.cohort,
                     date_diff('day', f.cohort, date_trunc('week', e.created_at)) // 7 AS period
              FROM ev e JOIN f USING (customer_id))
        SELECT x.cohort, x.period, count(*) AS active FROM x GROUP BY ALL
        """
    if task == "tier_spells":
        tiers = f"read_parquet('{data / 'tiers' / '*.parquet'}')"
        return f"""
        WITH t AS (
            SELECT customer_id, campaign_id, created_at, id, tier_id, tier_name,
                   replace(type, 'customer.loyalty.tier.', '') AS kind,
                   CASE WHEN kind = 'left' THEN '(none)'
                        WHEN kind IN ('upgraded', 'downgraded') AND tier_to_id IS NOT NULL THEN tier_to_id
                        WHEN kind = 'joined' THEN tier_id END AS rid,
                   CASE WHEN kind = 'left' THEN '(none)'
                        WHEN kind IN ('upgraded', 'downgraded') AND tier_to_id IS NOT NULL
                             THEN coalesce(tier_to_name, tier_to_id)
                        WHEN kind = 'joined' THEN coalesce(tier_name, tier_id) END AS rname
            FROM {tiers}
            WHERE customer_id IS NOT NULL AND created_at IS NOT NULL
        ),
        s AS (
            SELECT *, coalesce(last_value(rid IGNORE NULLS) OVER w, tier_id) AS sid,
                      coalesce(last_value(rname IGNORE NULLS) OVER w, tier_name, tier_id) AS sname
            FROM t
            WINDOW w AS (PARTITION BY customer_id, campaign_id ORDER BY created_at, id
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        ),
        c AS (
            SELECT *, sid IS DISTINCT FROM lag(sid) OVER (
                PARTITION BY customer_id, campaign_id ORDER BY created_at, id) AS chg
            FROM s WHERE sid IS NOT NULL
        ),
        ch AS (
            SELECT *, lead(created_at) OVER w2 AS end_t, lead(kind) OVER w2 AS end_kind
            FROM c WHERE chg
            WINDOW w2 AS (PARTITION BY customer_id, campaign_id ORDER BY created_at, id)
        )
        SELECT customer_id, campaign_id, sid AS tier_id, sname AS tier_name,
               created_at AS "start", end_t AS "end", coalesce(end_kind, 'open') AS end_reason,
               end_t IS NULL AS censored
        FROM ch WHERE sid <> '(none)'
        """
    points = f"read_parquet('{data / 'points' / '*.parquet'}')"
    p = "customer.voucher.loyalty_card."
    return f"""
    WITH e AS (
        SELECT *, date_trunc('month', created_at) AS period,
               coalesce(points_change, points) AS chg,
               type = '{p}pending_points.activated' AS pend_act
        FROM {points}
    ),
    g AS (
        SELECT *, CASE WHEN group_id IS NULL THEN false
                       ELSE bool_or(pend_act) OVER (PARTITION BY group_id) END AS dup
        FROM e
    ),
    k AS (
        SELECT period,
          CASE WHEN type = '{p}points_added' THEN 'earned'
               WHEN type = '{p}points_activated' AND NOT dup THEN 'earned'
               WHEN pend_act THEN 'pending_activated'
               WHEN type = '{p}points_transferred' AND chg >= 0 THEN 'transferred_in'
               WHEN type = '{p}points_transferred' THEN 'transferred_out'
               WHEN type = '{p}points_expired' THEN 'expired'
               WHEN type IN ('customer.redemption.succeeded', 'customer.redemption.rollback.succeeded')
                    AND voucher_type = 'LOYALTY_CARD' THEN 'spent_redemptions'
               WHEN type IN ('customer.reward_redemptions.completed',
                             'customer.reward_redemptions.rolledback') THEN 'spent_rewards'
               WHEN type = '{p}pending_points.added' THEN 'pending_added'
               WHEN type = '{p}pending_points.canceled' THEN 'pending_canceled' END AS kind,
          chg, points, pending_points, expired_points, points_change, redemption_amount,
          reward_points, type
        FROM g
    ),
    a AS (
        SELECT period, kind, coalesce(CASE
            WHEN kind IN ('earned', 'transferred_in') THEN chg
            WHEN kind = 'transferred_out' THEN -chg
            WHEN kind = 'pending_activated' THEN coalesce(points, pending_points)
            WHEN kind = 'expired' THEN coalesce(expired_points, -points_change)
            WHEN kind = 'spent_redemptions' THEN redemption_amount
            WHEN kind = 'spent_rewards' THEN CASE WHEN type LIKE '%rolledback' THEN -reward_points
                                                  ELSE reward_points END
            ELSE pending_points END, 0) AS amount
        FROM k WHERE kind IS NOT NULL
    ),
    s AS (
        SELECT period,
          sum(amount) FILTER (WHERE kind IN ('earned', 'pending_activated')) AS earned,
          sum(amount) FILTER (WHERE kind = 'spent_redemptions') AS spent_redemptions,
          sum(amount) FILTER (WHERE kind = 'spent_rewards') AS spent_rewards,
          sum(amount) FILTER (WHERE kind = 'expired') AS expired,
          sum(amount) FILTER (WHERE kind = 'transferred_in') AS transferred_in,
          sum(amount) FILTER (WHERE kind = 'transferred_out') AS transferred_out,
          sum(amount) FILTER (WHERE kind = 'pending_added') AS pending_added,
          sum(amount) FILTER (WHERE kind = 'pending_activated') AS pending_activated,
          sum(amount) FILTER (WHERE kind = 'pending_canceled') AS pending_canceled
        FROM a GROUP BY period
    )
    SELECT period, coalesce(earned, 0) AS earned,
           coalesce(spent_redemptions, 0) + coalesce(spent_rewards, 0) AS spent,
           coalesce(expired, 0) AS expired, coalesce(transferred_out, 0) AS transferred_out,
           coalesce(earned, 0) + coalesce(transferred_in, 0) - coalesce(spent_redemptions, 0)
             - coalesce(spent_rewards, 0) - coalesce(expired, 0) - coalesce(transferred_out, 0) AS net
    FROM s ORDER BY period
    """


def duckdb_task(task: str, data: Path, con: Any) -> dict[str, Any]:
    con.execute("DROP TABLE IF EXISTS result")
    con.execute(f"CREATE TEMP TABLE result AS {_sql(task, data)}")
    if task == "funnel":
        return {
            "counts": [
                n
                for _, n in con.execute("SELECT * FROM result ORDER BY step").fetchall()
            ]
        }
    if task == "retention":
        cells, active, sizes = con.execute(
            "SELECT count(*), sum(active), sum(active) FILTER (WHERE period = 0) FROM result"
        ).fetchone()
        return {"cells": cells, "active": int(active), "sizes": int(sizes)}
    if task == "tier_spells":
        n = con.execute("SELECT count(*) FROM result").fetchone()[0]
        reasons = con.execute(
            "SELECT end_reason, count(*) FROM result GROUP BY 1 ORDER BY 1"
        ).fetchall()
        return {"spells": n, "end_reasons": dict(reasons)}
    months, *sums = con.execute(
        "SELECT count(*) FILTER (WHERE earned <> 0 OR spent <> 0), sum(earned), sum(spent),"
        " sum(expired), sum(transferred_out), sum(net) FROM result"
    ).fetchone()
    keys = ("earned", "spent", "expired", "transferred_out", "net")
    return {"months": months, **{k: int(v) for k, v in zip(keys, sums, strict=True)}}


# -- worker and driver -------------------------------------------------------------------------


def worker(task: str, engine: str, data: Path, repeat: int) -> None:
    if task == "baseline":  # the interpreter with the engine imported, no work
        if engine == "polars":
            import activity_toolkit.analysis  # noqa: F401
        else:
            import duckdb

            duckdb.connect().execute("SELECT 1").fetchall()
        print(json.dumps({"seconds": 0.0, "rows": 0, "check": {}}), flush=True)
        return
    best = math.inf
    check: dict[str, Any] = {}
    rows = 0
    if engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET threads = {os.cpu_count() or 1}")
    for _ in range(repeat):
        t0 = time.perf_counter()
        if engine == "polars":
            out, check = polars_task(task, data)
            rows = out.height
            del out
        else:
            check = duckdb_task(task, data, con)
            rows = con.execute("SELECT count(*) FROM result").fetchone()[0]
        best = min(best, time.perf_counter() - t0)
    print(json.dumps({"seconds": best, "rows": rows, "check": check}), flush=True)


def run_measured(task: str, engine: str, data: Path, repeat: int) -> dict[str, Any]:
    """Run one worker and return its report plus its own peak RSS (from wait4)."""
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        task,
        engine,
        "--data",
        str(data),
        "--repeat",
        str(repeat),
    ]
    out_file = data / f".{task}-{engine}.out"
    with out_file.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    text = out_file.read_text()
    out_file.unlink()
    if proc.returncode != 0:
        msg = f"{task}/{engine} failed:\n{text}"
        raise RuntimeError(msg)
    report = json.loads(text.strip().splitlines()[-1])
    report["peak_rss_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--events", type=int, default=10_000_000, help="approximate number of events"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs per task and engine (best is kept)"
    )
    ap.add_argument("--tasks", nargs="*", default=list(TASKS), choices=TASKS)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument(
        "--worker", nargs=2, metavar=("TASK", "ENGINE"), help=argparse.SUPPRESS
    )
    ap.add_argument("--chunk", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--customers", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.chunk is not None:
        print(json.dumps(_chunk(args.out, args.chunk, args.customers, args.seed)))
        return 0
    if args.worker:
        worker(args.worker[0], args.worker[1], args.data, args.repeat)
        return 0

    print(
        f"preparing ~{args.events:,} events (cached under {args.data_dir}) ...",
        flush=True,
    )
    data, meta = ensure_data(args.data_dir, args.events, args.seed)
    mem = meta["memory_bytes"]
    print(
        f"data: {meta['events']:,} events, {meta['customers']:,} customers; in memory: "
        + ", ".join(f"{k} {v / 2**20:,.0f} MB" for k, v in mem.items())
        + "; on disk: "
        + ", ".join(f"{k} {v / 2**20:,.0f} MB" for k, v in meta["disk_bytes"].items())
    )
    total_mb = sum(mem.values()) / 2**20
    base = {
        e: run_measured("baseline", e, data, 1)["peak_rss_mb"]
        for e in ("polars", "duckdb")
    }
    print(
        f"cpus: {os.cpu_count()}, repeat: {args.repeat}; RSS of an idle worker (interpreter + "
        f"engine): polars {base['polars']:,.0f} MB, duckdb {base['duckdb']:,.0f} MB\n",
        flush=True,
    )
    header = (
        f"{'task':<13} {'engine':<7} {'rows':>8} {'time s':>8} {'peak RSS MB':>12} "
        f"{'RSS/input':>10} {'RSS/all':>8}  check"
    )
    print(header)
    print("-" * len(header))
    summary = []
    for task in args.tasks:
        reports = {}
        for engine in ("polars", "duckdb"):
            reports[engine] = r = run_measured(task, engine, data, args.repeat)
            size_mb = mem[DATASET[task]] / 2**20
            same = (
                ""
                if engine == "polars"
                else (
                    "same result"
                    if r["check"] == reports["polars"]["check"]
                    else f"DIFFERENT {r['check']}"
                )
            )
            print(
                f"{task:<13} {engine:<7} {r['rows']:>8,} {r['seconds']:>8.2f} {r['peak_rss_mb']:>12,.0f}"
                f" {r['peak_rss_mb'] / size_mb:>9.2f}x {r['peak_rss_mb'] / total_mb:>7.2f}x"
                f"  {same or json.dumps(r['check'])[:60]}",
                flush=True,
            )
        summary.append(
            (task, reports["polars"]["seconds"] / reports["duckdb"]["seconds"])
        )
    print()
    for task, ratio in summary:
        verdict = "faster than" if ratio <= 1 else "slower than"
        print(f"{task}: Polars {verdict} DuckDB ({ratio:.2f}x DuckDB's time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
