"""Benchmark: fetch against the sandbox under a rate limit and per-request latency.

The sandbox runs as its own process on 127.0.0.1 (``activity-toolkit sandbox``),
serving the synthetic sample; ``fetch`` fills a Parquet store from it, then runs a
second, incremental time. Printed:

- the achieved request rate as a share of the allowed rate (target >= 90 %), over
  the complete rate-limit windows of the run (a client that bursts the first window
  and then keeps pace scores 100 %), and the plain requests / elapsed;
- 429s received (target 0) and the densest window the server saw;
- requests per customer against the minimum possible;
- events lost and duplicated (target 0 and 0);
- the incremental run's requests per customer (target 1).

Every run is bounded: ``--max-seconds`` ends it.

    python benchmarks/fetch.py                      # 300 customers, 100/10s, 50 ms
    python benchmarks/fetch.py --rate-limit 100/min --customers 600 --latency 0.2
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import httpx

from activity_toolkit.client import RateLimit, VoucherifyClient
from activity_toolkit.exceptions import UnknownEventTypeWarning
from activity_toolkit.io import read_parquet
from activity_toolkit.load import fetch
from activity_toolkit.sample import sample_world

APP_ID = "bench-app"
SECRET = "bench-secret-key"


def start_sandbox(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    cmd = [
        sys.executable,
        "-m",
        "activity_toolkit",
        "sandbox",
        "--port",
        "0",
        "--customers",
        str(args.customers),
        "--seed",
        str(args.seed),
        "--rate-limit",
        args.rate_limit,
        "--window",
        args.window,
        "--latency",
        str(args.latency),
        "--faults",
        str(args.faults),
        "--app-id",
        APP_ID,
        "--secret-key",
        SECRET,
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        m = re.search(r"http://127\.0\.0\.1:\d+", line)
        if m:
            return proc, m.group(0)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    msg = "the sandbox did not start"
    raise SystemExit(msg)


def stats(url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{url}/_sandbox/stats", timeout=30).json()
    return body


def window_share(arrivals: list[float], limit: RateLimit) -> tuple[float | None, int]:
    """Rate over the complete windows of the run, as a share of the allowed rate."""
    n = limit.requests
    k = (len(arrivals) - 1) // n
    if k < 1:
        return None, 0
    span = arrivals[k * n] - arrivals[0]
    return (k * n / span) / (n / limit.per), k


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rate-limit", default="100/10s", help="R/min, R/<n>s (100/10s)")
    p.add_argument("--window", choices=("sliding", "fixed"), default="sliding")
    p.add_argument(
        "--latency", type=float, default=0.05, help="seconds per answer (0.05)"
    )
    p.add_argument("--faults", type=float, default=0.0, help="share of faulty answers")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--endpoint", choices=("activity", "activities"), default="activity")
    p.add_argument(
        "--plan",
        action="store_true",
        help="tell the client the plan's limit (default: headers only)",
    )
    p.add_argument(
        "--max-seconds", type=float, default=600.0, help="give up after this long (600)"
    )
    args = p.parse_args()
    limit = RateLimit.parse(args.rate_limit)

    t0 = time.perf_counter()
    world = sample_world(customers=args.customers, seed=args.seed)
    per_customer = {cid: len(evs) for cid, evs in world.events_by_customer().items()}
    expected = {e["id"] for e in world.iter_events()}
    print(
        f"world: {args.customers:,} customers, {len(expected):,} events "
        f"(built in {time.perf_counter() - t0:.1f} s)"
    )
    print(
        f"sandbox: rate limit {limit.requests}/{limit.per:g}s ({args.window}), "
        f"latency {args.latency * 1000:.0f} ms, faults {args.faults:.0%}; client: "
        f"concurrency {args.concurrency}, {'plan stated' if args.plan else 'headers only'}, "
        f"endpoint /{args.endpoint}"
    )

    proc, url = start_sandbox(args)

    def bounded(signum: int, frame: object) -> None:
        raise TimeoutError

    signal.signal(signal.SIGALRM, bounded)
    signal.alarm(max(1, int(args.max_seconds)))
    store = Path(tempfile.mkdtemp(prefix="bench-fetch-")) / "store"
    try:
        client = VoucherifyClient(
            APP_ID,
            SECRET,
            base_url=url,
            concurrency=args.concurrency,
            rate_limit=limit if args.plan else None,
            timeout=max(5.0, 10 * args.latency),
        )
        warnings.simplefilter("ignore", UnknownEventTypeWarning)  # one on purpose
        start = time.monotonic()
        log = fetch(client, store=store, endpoint=args.endpoint, progress=False)
        elapsed = time.monotonic() - start
        first = stats(url)
        client_first = client.stats
        start2 = time.monotonic()
        fetch(client, store=store, endpoint=args.endpoint, progress=False)
        elapsed2 = time.monotonic() - start2
        second = stats(url)
    except TimeoutError:
        print(f"stopped after {args.max_seconds:g} s (--max-seconds)")
        return 2
    finally:
        signal.alarm(0)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()

    stored = read_parquet(store).events["id"]
    got = set(log.events["id"])
    lost = len(expected - got)
    extra = len(got - expected)
    duplicated = stored.len() - stored.n_unique()
    route = first["by_route"]
    activity_requests = route.get(args.endpoint, 0)
    page = 100
    minimum = sum(max(1, math.ceil(n / page)) for n in per_customer.values())
    exactly_full = sum(1 for n in per_customer.values() if n and n % page == 0)
    list_min = max(1, math.ceil(args.customers / page))
    share, windows = window_share(first["arrivals"], limit)
    plain = first["accepted"] / elapsed / (limit.requests / limit.per)
    incr = {
        k: second["by_route"].get(k, 0) - route.get(k, 0) for k in second["by_route"]
    }

    def verdict(ok: object) -> str:
        return "ok" if ok else "MISSED"

    retried = "" if not args.faults else " (retries of injected faults included)"

    print()
    print(
        f"first run: {first['accepted']:,} requests in {elapsed:.1f} s "
        f"({first['accepted'] / elapsed:.2f}/s; allowed {limit.requests / limit.per:.2f}/s)"
    )
    if share is None:
        print("  rate share: n/a (the run fits in one window; use more customers)")
    else:
        print(
            f"  rate share over {windows} complete windows: {share:.1%}   "
            f"[target >= 90%: {verdict(share >= 0.9)}]"
        )
    print(
        f"  plain requests/elapsed share: {plain:.1%} (counts the first window's burst)"
    )
    print(
        f"  429s received: {first['rate_limited'] + first['storm_429']}   "
        f"[target 0: {verdict(first['rate_limited'] == 0)}]; densest {args.window} window "
        f"at the server: {first['max_in_window']} of {limit.requests} allowed"
    )
    print(
        f"  client: {client_first.retries} retries, {client_first.rate_limit_wait:.1f} s "
        "waiting on the rate limit"
    )
    print(
        f"  activity requests per customer{retried}: "
        f"{activity_requests / args.customers:.3f} "
        f"(minimum possible {minimum / args.customers:.3f}; {exactly_full} customer(s) "
        f"with an exactly-full last page cost one empty page more on /activity)"
    )
    print(f"  customer-list requests: {route.get('customers', 0)} (minimum {list_min})")
    print(
        f"  events: {len(expected):,} in the world, {len(got):,} fetched; "
        f"lost {lost}, duplicated {duplicated}, unexpected {extra}   "
        f"[target 0 and 0: {verdict(lost == 0 and duplicated == 0 and extra == 0)}]"
    )
    target = (
        f"[target 1: {verdict(incr.get(args.endpoint, 0) == args.customers)}]"
        if not args.faults
        else "[target 1 without faults]"
    )
    print(
        f"second run (incremental): {sum(incr.values()):,} requests in {elapsed2:.1f} s: "
        f"{incr.get(args.endpoint, 0) / args.customers:.3f} activity request(s) per customer"
        f"{retried} {target}, {incr.get('customers', 0)} list request(s)"
    )
    ok = (
        (share is None or share >= 0.9)
        and first["rate_limited"] == 0
        and lost == 0
        and duplicated == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
