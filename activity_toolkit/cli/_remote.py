"""The ``fetch`` and ``sandbox`` subcommands of ``activity-toolkit``.

:func:`register` adds them to the main parser's subparsers; each sets ``func`` to a
handler ``(args) -> exit code``. Credentials come from the environment
(``VOUCHERIFY_APP_ID``, ``VOUCHERIFY_SECRET_KEY``, ``VOUCHERIFY_API_URL``), read by
``VoucherifyClient.from_env``. Errors of the toolkit's tree are printed as one line
on stderr (no traceback unless ``--debug``); the secret key is never printed.

The handlers import :mod:`activity_toolkit.client`, :mod:`activity_toolkit.load` and
:mod:`activity_toolkit.sandbox` (the HTTP stack) when they run, so the other commands
start without loading it.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import warnings
from typing import Any

from activity_toolkit._exit import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    exit_code,
)
from activity_toolkit.exceptions import ActivityToolkitError

__all__ = ["cmd_fetch", "cmd_sandbox", "register"]


def register(subparsers: Any) -> None:
    """Add ``fetch`` and ``sandbox`` to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "fetch",
        help="fetch customer activity from the Voucherify API into a Parquet store",
        description=(
            "Fetch customer activity into a Parquet store; a later run only asks for "
            "newer events, and an interrupted run resumes. Credentials come from "
            "VOUCHERIFY_APP_ID and VOUCHERIFY_SECRET_KEY (and VOUCHERIFY_API_URL)."
        ),
    )
    p.add_argument("--store", required=True, help="store directory")
    p.add_argument(
        "--customer",
        action="append",
        dest="customers",
        metavar="ID",
        help="a customer id or source id (repeat it; none: all customers)",
    )
    p.add_argument("--since", help="ISO date-time: events created at or after it")
    p.add_argument("--until", help="ISO date-time: events created before it")
    p.add_argument(
        "--api-url",
        help="base URL or cluster (eu, us, as); overrides VOUCHERIFY_API_URL",
    )
    p.add_argument(
        "--endpoint",
        choices=("activity", "activities"),
        default="activity",
        help="current /activity (default) or deprecated /activities",
    )
    p.add_argument(
        "--rate-limit",
        metavar="R/min",
        help="the plan's limit if known, e.g. 100/min (default: follow headers)",
    )
    p.add_argument("--concurrency", type=int, default=8, help="customers at once (8)")
    p.add_argument("--page-size", type=int, default=100, help="records per page (100)")
    p.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per request (30)"
    )
    p.add_argument(
        "--checkpoint-every",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="seconds between store checkpoints (30)",
    )
    p.add_argument(
        "--retries",
        type=_count,
        default=None,
        metavar="N",
        help="retries allowed in the whole fetch (429, 5xx, timeouts, dropped "
        "connections; default 2000, 0: fail at the first error)",
    )
    p.add_argument(
        "--retry-for",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="seconds one request may keep retrying before it fails "
        "(default: up to 8 attempts, about a minute)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: on a terminal)",
    )
    p.set_defaults(func=cmd_fetch)

    p = subparsers.add_parser(
        "sandbox",
        help="serve a synthetic project as a local Voucherify API (127.0.0.1)",
        description=(
            "A local stand-in for the Voucherify API on 127.0.0.1, serving the synthetic "
            "sample: both activity endpoints, the customers list, auth, rate limits and "
            "optional faults. It prints the base URL and credentials it accepts."
        ),
    )
    p.add_argument("--port", type=int, default=8765, help="port (0: any free port)")
    p.add_argument("--customers", type=int, default=200, help="customers in the sample")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the sample and the faults"
    )
    p.add_argument(
        "--world",
        metavar="FILE",
        help='serve this JSON {"customers": [...], "events": [...]} instead',
    )
    p.add_argument(
        "--rate-limit",
        metavar="R/min",
        help="requests allowed per window, e.g. 100/min, 600/10s (default: none)",
    )
    p.add_argument(
        "--window",
        choices=("sliding", "fixed"),
        default="sliding",
        help="rate-limit window kind (sliding)",
    )
    p.add_argument(
        "--faults",
        type=float,
        default=0.0,
        metavar="RATE",
        help="share of requests that fail (0 to 1)",
    )
    p.add_argument(
        "--fault-kinds",
        default=None,
        metavar="KINDS",
        help="comma-separated: 500,502,503,slow,drop,truncate,malformed,429",
    )
    p.add_argument(
        "--slow-seconds",
        type=float,
        default=2.0,
        help="how slow a 'slow' fault is (2 s)",
    )
    p.add_argument(
        "--storm",
        metavar="EVERY:LENGTH",
        help="429 storms: LENGTH requests out of every EVERY answer 429",
    )
    p.add_argument(
        "--storm-retry-after",
        type=int,
        default=1,
        metavar="SECONDS",
        help="Retry-After of a storm's 429s (1)",
    )
    p.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to every answer"
    )
    p.add_argument("--app-id", default="sandbox-app-id")
    p.add_argument("--secret-key", default="sandbox-secret-key")
    p.add_argument(
        "--activities-ignore-id-cursor",
        action="store_true",
        help="make /activities ignore starting_after_id (date cursor only)",
    )
    p.set_defaults(func=cmd_sandbox)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        msg = f"expected a whole number, 0 or more, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        msg = f"expected seconds, 0 or more, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _fail(error: BaseException, args: argparse.Namespace) -> int:
    if getattr(args, "debug", False):
        import traceback

        traceback.print_exception(error, file=sys.stderr)
    print(f"error: {error}", file=sys.stderr)
    if isinstance(error, ActivityToolkitError):
        return exit_code(error)
    if isinstance(error, ValueError):
        return EXIT_USAGE
    return EXIT_ERROR


class _Terminated:
    """SIGTERM handled like Ctrl-C: the SIGINT handler in place runs (asyncio's
    cancels the fetch, which commits a checkpoint), and ``hit`` remembers it."""

    def __init__(self) -> None:
        self.hit = False
        self.previous: Any = None

    def __enter__(self) -> _Terminated:
        try:
            self.previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread
            self.previous = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)

    def _handle(self, signum: int, frame: Any) -> None:
        self.hit = True
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt


def cmd_fetch(args: argparse.Namespace) -> int:
    """``activity-toolkit fetch``: fill or update a store from the API."""
    from activity_toolkit.client import VoucherifyClient
    from activity_toolkit.load import fetch

    try:
        options: dict[str, Any] = {
            "concurrency": args.concurrency,
            "page_size": args.page_size,
            "timeout": args.timeout,
            "rate_limit": args.rate_limit,
        }
        if args.api_url:
            options["base_url"] = args.api_url
        client = VoucherifyClient.from_env(**options)
    except (ActivityToolkitError, ValueError) as error:
        return _fail(error, args)
    before = client.stats
    terminated = _Terminated()
    try:
        with terminated, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            log = fetch(
                client,
                customers=args.customers,
                since=args.since,
                until=args.until,
                store=args.store,
                endpoint=args.endpoint,
                progress=args.progress,
                checkpoint_every=args.checkpoint_every,
                max_retries=args.retries,
                retry_for=args.retry_for,
            )
    except ActivityToolkitError as error:
        return _fail(error, args)
    except ValueError as error:
        return _fail(error, args)
    except (KeyboardInterrupt, asyncio.CancelledError):
        what = "terminated (SIGTERM)" if terminated.hit else "interrupted"
        print(
            f"{what}: {args.store} keeps everything up to the last checkpoint; "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return EXIT_TERMINATED if terminated.hit else EXIT_INTERRUPTED
    finally:
        for w in locals().get("caught") or ():
            print(f"warning: {w.message}", file=sys.stderr)
    after = client.stats
    print(
        f"{args.store}: {len(log):,} events of {log.customers.len():,} customers; this run: "
        f"{after.requests - before.requests:,} requests, "
        f"{after.rate_limited - before.rate_limited:,} 429s, "
        f"{after.rate_limit_wait - before.rate_limit_wait:.1f} s waiting on the rate limit"
    )
    return EXIT_OK


def _sandbox_config(args: argparse.Namespace) -> Any:
    from activity_toolkit.client import RateLimit
    from activity_toolkit.sandbox import DEFAULT_FAULT_KINDS, Faults, SandboxConfig

    storm = None
    if args.storm:
        m = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", args.storm)
        if not m or int(m.group(1)) < 1:
            msg = f"--storm {args.storm!r}: expected EVERY:LENGTH, e.g. 50:10"
            raise ValueError(msg)
        storm = (int(m.group(1)), int(m.group(2)))
    kinds = (
        tuple(k.strip() for k in args.fault_kinds.split(",") if k.strip())
        if args.fault_kinds
        else DEFAULT_FAULT_KINDS
    )
    faults = Faults(
        rate=args.faults,
        kinds=kinds,
        slow_seconds=args.slow_seconds,
        storm=storm,
        storm_retry_after=args.storm_retry_after,
        seed=args.seed,
    )
    return SandboxConfig(
        app_id=args.app_id,
        secret_key=args.secret_key,
        rate_limit=RateLimit.parse(args.rate_limit) if args.rate_limit else None,
        window=args.window,
        latency=args.latency,
        faults=faults,
        activities_id_cursor=not args.activities_ignore_id_cursor,
    )


def cmd_sandbox(args: argparse.Namespace) -> int:
    """``activity-toolkit sandbox``: serve the synthetic project on 127.0.0.1."""
    from pathlib import Path

    from activity_toolkit.sandbox import Sandbox, SandboxServer, World

    try:
        config = _sandbox_config(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.world:
        box = Sandbox(World.from_json(Path(args.world).read_bytes()), config)
        what = f"world {args.world}"
    else:
        box = Sandbox.from_sample(
            customers=args.customers, seed=args.seed, config=config
        )
        what = f"synthetic sample, seed {args.seed}"
    try:
        server = SandboxServer(box, port=args.port)  # served in this thread, below
    except OSError as error:
        print(
            f"error: cannot listen on 127.0.0.1:{args.port}: {error}", file=sys.stderr
        )
        return EXIT_ERROR
    terminated = _Terminated()
    try:
        with terminated:  # from before the URL is printed: a SIGTERM may follow it
            _announce(server, box, config, what)
            server.serve_forever()
    except KeyboardInterrupt:
        print(
            "sandbox stopped" + (" (SIGTERM)" if terminated.hit else ""),
            file=sys.stderr,
        )
        return EXIT_TERMINATED if terminated.hit else EXIT_INTERRUPTED
    finally:
        server.close()
    return EXIT_OK


def _announce(server: Any, box: Any, config: Any, what: str) -> None:
    limit = config.rate_limit
    faults = config.faults
    print(
        f"Voucherify sandbox listening on {server.url} "
        f"({len(box.index.customers):,} customers, {box.index.event_count:,} events, {what})",
        flush=True,
    )
    print(
        f"rate limit: {f'{limit.requests}/{limit.per:g}s ({config.window})' if limit else 'none'}; "
        f"faults: {faults.rate:.0%} of {', '.join(faults.kinds)}"
        f"{f'; 429 storms {faults.storm[1]}/{faults.storm[0]}' if faults.storm else ''}; "
        f"latency {config.latency:g} s",
        flush=True,
    )
    print("credentials it accepts (X-App-Id / X-App-Token):", flush=True)
    for name, value in box.env(server.url).items():
        print(f"  export {name}={value}", flush=True)
    print(
        "then: activity-toolkit fetch --store out/store    (Ctrl-C stops the sandbox)",
        flush=True,
    )
