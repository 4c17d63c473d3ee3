"""The parser, ``main`` and the local commands (demo, report, sample, load, summary).

Exit codes: 0 success; 2 usage error; 3 bad input data; 4 store problem; 5 API or
network problem; 1 any other toolkit error; 130 interrupted (Ctrl-C); 143 terminated
(SIGTERM; ``fetch`` and ``sandbox`` stop as on Ctrl-C). Errors go to stderr as one
line; ``--debug`` prints the traceback before it, and the exit code stays the same.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from activity_toolkit._exit import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    exit_code,
)
from activity_toolkit.cli._remote import register
from activity_toolkit.exceptions import (
    ActivityToolkitError,
    SkippedRecordsWarning,
    StoreError,
    UnknownEventTypeWarning,
)
from activity_toolkit.io import (
    Skipped,
    StoreWriter,
    expand_paths,
    open_bytes,
    read_events,
    read_pages,
    read_parquet,
    read_parts,
    read_state,
    scan_events,
)
from activity_toolkit.sample import expected_unknown_type, sample, sample_world

__all__ = ["build_parser", "format_summary", "main"]

Handler = Callable[[argparse.Namespace], int]


def format_summary(log: Any, *, title: str | None = None) -> str:
    """A plain-text summary of an ``ActivityLog``: totals, then counts by family and
    by type."""
    s = log.summary()
    lines = [title] if title else []
    if not s["events"]:
        lines.append("no events")
        return "\n".join(lines)
    fmt = "%Y-%m-%d %H:%M:%S"
    lines += [
        f"events     {s['events']:>12,}",
        f"customers  {s['customers']:>12,}",
        f"types      {s['types']:>12,}",
        f"from       {s['start'].strftime(fmt)} UTC",
        f"to         {s['end'].strftime(fmt)} UTC",
        "",
        "by family",
    ]
    lines += [f"  {fam:<20} {n:>12,}" for fam, n in s["families"].items()]
    lines += ["", "by type"]
    counts = log.counts()
    width = max(len(t) for t in counts["type"])
    lines += [
        f"  {t:<{width}} {n:>12,}  ({c:,} customers)"
        for t, n, c in counts.select("type", "events", "customers").iter_rows()
    ]
    report = log.report
    if report is not None and (report.duplicates or report.skipped):
        lines += [
            "",
            f"read {report.records:,} records: {report.duplicates:,} duplicates dropped, "
            f"{len(report.skipped):,} bad records skipped",
        ]
    return "\n".join(lines)


# -- commands ---------------------------------------------------------------------------
def _cmd_sample(args: argparse.Namespace) -> int:
    world = sample_world(
        customers=args.customers, seed=args.seed, start=args.start, end=args.end
    )
    out = Path(args.out)
    t0 = time.perf_counter()
    if args.format == "ndjson":
        world.write_ndjson(out, shape=args.shape, workers=args.workers)
    elif args.format == "pages":
        world.write_pages(out, endpoint=args.endpoint, limit=args.limit)
    else:
        world.write_parquet(out, workers=args.workers)
    print(
        f"wrote the sample ({args.customers:,} customers, seed {args.seed}) as "
        f"{args.format} to {out} in {time.perf_counter() - t0:.1f} s"
    )
    return EXIT_OK


def _read_sources(sources: Sequence[str], kind: str, on_error: str) -> Any:
    if kind == "pages":
        return read_pages(list(sources), on_error=on_error)  # type: ignore[arg-type]
    return read_events(list(sources), on_error=on_error)  # type: ignore[arg-type]


def _cmd_load(args: argparse.Namespace) -> int:
    """Stream the sources into the store part by part (``read_parts``): each part is
    written as it comes, so memory follows the part size, not the input's."""
    if args.replace and args.append:
        msg = "give --replace or --append, not both (--append is the default)"
        raise ValueError(msg)
    kind = args.kind
    if kind == "auto":
        kind = _guess_kind(expand_paths(args.sources))
    store = Path(args.store)
    extend = not args.replace and (store / "CURRENT").exists()
    had_state = args.replace and _has_sync_state(store)
    read = new = 0
    counts = {"records": 0, "duplicates": 0}
    skipped: list[Skipped] = []
    unknown: Counter[str] = Counter()
    with (
        warnings.catch_warnings(record=True) as caught,
        StoreWriter(store, extend=extend) as writer,
    ):
        warnings.simplefilter("always")
        # each part warns of its own unknown types and skipped records: said once
        # below, for the whole input
        warnings.simplefilter("ignore", UnknownEventTypeWarning)
        warnings.simplefilter("ignore", SkippedRecordsWarning)
        seen = (
            scan_events(store, payload=False).select("id").collect()["id"]
            if extend
            else pl.Series("id", [], dtype=pl.String)
        )
        for part in read_parts(
            args.sources,
            kind=kind,
            on_error=args.on_error,
            part_bytes=args.part_mb << 20,
        ):
            report = part.report
            if report is not None:
                counts["records"] += report.records
                counts["duplicates"] += report.duplicates
                skipped.extend(report.skipped)
                unknown.update(dict(report.unknown_types))
            fresh = part._where(~pl.col("id").is_in(seen.implode()))
            read += len(part)
            if len(fresh):
                writer.add(fresh)
                # a copy: a slice of the part's column would keep its buffers (the
                # whole part) alive, and memory would grow with the input
                ids = pl.Series("id", fresh.events["id"].to_list(), dtype=pl.String)
                seen = pl.concat([seen, ids])
                new += len(fresh)
            del part, fresh
        if new or not extend:  # else nothing changes: no new version
            writer.commit()
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    for t, n in sorted(unknown.items()):
        print(
            f"warning: unknown event type {t!r} ({n:,} events): kept with the common "
            "columns and the raw payload under family 'unknown'",
            file=sys.stderr,
        )
    if skipped:
        print(
            f"warning: skipped {len(skipped):,} bad record(s); first: {skipped[0]}",
            file=sys.stderr,
        )
    duplicates = (
        counts["duplicates"] + read - new if not extend else counts["duplicates"]
    )
    if not extend:
        done = "replaced the store with" if args.replace else "loaded"
        print(
            f"{done} {new:,} events ({kind}) into {store}"
            + (f"; {duplicates:,} duplicate(s) kept once" if duplicates else "")
        )
        if had_state:
            print("the store's fetch sync state was dropped with its data")
        return EXIT_OK
    total = scan_events(store, payload=False).select(pl.len()).collect().item()
    print(
        f"loaded {read:,} events ({kind}): {new:,} new added to {store}, "
        f"{read - new:,} already there; the store holds {total:,}"
    )
    return EXIT_OK


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        msg = f"must be at least 1, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _has_sync_state(store: Path) -> bool:
    try:
        return read_state(store) is not None
    except StoreError:  # a damaged store: --replace is how it is written again
        return False


def _guess_kind(paths: Sequence[Path]) -> str:
    """``"pages"`` when the first record of the first file is an API list page (an
    object with a ``data`` list), else ``"events"``. The first record is the first
    line (NDJSON), the whole object, or the first element of a JSON array; only the
    file's first MiB is read."""
    with open_bytes(paths[0]) as fh:
        head = fh.read(1 << 20)
    first = _first_object(head)
    try:
        record = orjson.loads(first) if first is not None else None
    except orjson.JSONDecodeError:
        record = None
    if isinstance(record, dict) and isinstance(record.get("data"), list):
        return "pages"
    return "events"


def _first_object(text: bytes) -> bytes | None:
    """The text of the first complete JSON object in ``text`` (skipping an opening
    ``[``), found by matching braces outside strings; ``None`` if it does not end
    within ``text``."""
    start = text.find(b"{")
    if start < 0:
        return None
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        c = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:  # backslash
                escaped = True
            elif c == 0x22:  # quote
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c == 0x7B:  # {
            depth += 1
        elif c == 0x7D:  # }
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return None


def _cmd_summary(args: argparse.Namespace) -> int:
    log = read_parquet(args.store)
    print(format_summary(log, title=f"store {args.store}"))
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    """The main job on the built-in sample: generate, analyse, write the report."""
    from activity_toolkit.reporting import report  # Altair: loaded when used

    out = Path(args.out)
    t0 = time.perf_counter()
    with expected_unknown_type():  # the sample's one unknown type is there on purpose
        log = sample(customers=args.customers, seed=args.seed)
    t1 = time.perf_counter()
    path = report(
        log,
        out / "report.html",
        title=f"Customer activity: synthetic sample, seed {args.seed}",
        source=f"built-in synthetic sample ({args.customers:,} customers, seed {args.seed})",
    )
    t2 = time.perf_counter()
    print(
        format_summary(
            log, title=f"activity_toolkit demo: synthetic sample, seed {args.seed}"
        )
    )
    print()
    print(
        f"generated the sample in {t1 - t0:.1f} s; analysed and charted it in {t2 - t1:.1f} s"
    )
    print(
        f"report: {path.resolve()} ({path.stat().st_size / 1e6:.1f} MB, opens offline)"
    )
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    """Analyse a store, the sample or files and write the offline HTML report."""
    from activity_toolkit.reporting import report  # Altair: loaded when used

    given = [bool(args.store), bool(args.sample), bool(args.sources)]
    if sum(given) != 1:
        msg = "give exactly one of --store DIR, --sample or SOURCE files"
        raise ValueError(msg)
    if args.store:
        log = read_parquet(args.store)
        source = f"Parquet store {args.store}"
    elif args.sample:
        with expected_unknown_type():
            log = sample(customers=args.customers, seed=args.seed)
        source = f"built-in synthetic sample ({args.customers:,} customers, seed {args.seed})"
    else:
        kind = (
            args.kind
            if args.kind != "auto"
            else _guess_kind(expand_paths(args.sources))
        )
        log = _read_sources(args.sources, kind, "raise")
        source = ", ".join(args.sources)
    path = report(
        log,
        args.out,
        redact=args.redact,
        title=args.title,
        source=source,
        period=args.period,
        currency=args.currency,
    )
    print(f"report: {Path(path).resolve()} ({len(log):,} events)")
    return EXIT_OK


def _page_limit(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 100:
        msg = f"must be from 1 to 100 (the API's page limit), got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _add_workers(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes generating the sample (default: one per core)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="activity-toolkit",
        description="Load, store and summarise Voucherify customer activity.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks on errors"
    )
    # not required=True: "--bogus" alone must say "unrecognized arguments", not
    # "COMMAND is required"; main() asks for the missing command itself
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "demo", help="the main job on the built-in sample: analyses and the HTML report"
    )
    p.add_argument("--customers", type=int, default=2_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out", help="output directory (default: out)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "report", help="write the offline HTML report of a store, the sample or files"
    )
    p.add_argument(
        "sources", nargs="*", help="event or page files (or use --store/--sample)"
    )
    p.add_argument("--store", default=None, help="a Parquet store directory")
    p.add_argument("--sample", action="store_true", help="use the built-in sample")
    p.add_argument(
        "--customers", type=int, default=2_000, help="sample size (--sample)"
    )
    p.add_argument("--seed", type=int, default=0, help="sample seed (--sample)")
    p.add_argument("--kind", choices=("auto", "pages", "events"), default="auto")
    p.add_argument("--out", default="report.html", help="the HTML file to write")
    p.add_argument(
        "--redact",
        action="store_true",
        help="hash customer ids and drop names, emails, phones and payloads",
    )
    p.add_argument("--title", default=None, help="the report's title")
    p.add_argument(
        "--period",
        choices=("day", "week", "month", "quarter", "year"),
        default="month",
        help="calendar period of KPIs, cohorts and trends (default: month)",
    )
    p.add_argument("--currency", default=None, help="currency of money amounts (label)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser(
        "sample", help="write the synthetic sample as NDJSON, API pages or Parquet"
    )
    p.add_argument("--customers", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--start",
        default=None,
        help="ISO date the activity starts (default 2024-01-01)",
    )
    p.add_argument(
        "--end", default=None, help="ISO date the activity ends (default 2025-07-01)"
    )
    p.add_argument("--format", choices=("ndjson", "pages", "parquet"), default="ndjson")
    p.add_argument(
        "--shape",
        choices=("nested", "flat"),
        default="nested",
        help="ndjson: nested API envelopes or flat webhook-style events",
    )
    p.add_argument(
        "--endpoint",
        choices=("activity", "activities"),
        default="activity",
        help="pages: current (has_more) or deprecated (total) envelope",
    )
    p.add_argument(
        "--limit",
        type=_page_limit,
        default=100,
        help="pages: events per page (1 to 100)",
    )
    p.add_argument(
        "--out", required=True, help="file (ndjson) or directory (pages, parquet)"
    )
    _add_workers(p)
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser(
        "load",
        help="read pages or event files into a Parquet store (added to an existing "
        "one unless --replace)",
    )
    p.add_argument("sources", nargs="+", help="files, directories or globs")
    p.add_argument("--store", required=True, help="store directory")
    p.add_argument("--kind", choices=("auto", "pages", "events"), default="auto")
    p.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="stop at the first bad record (raise) or skip and report them",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="replace what an existing store holds (and its fetch sync state) "
        "instead of adding to it",
    )
    p.add_argument(
        "--part-mb",
        type=_positive_int,
        default=256,
        metavar="MB",
        help="read and write the sources in parts of about this many MB of JSON, so "
        "memory stays bounded whatever the input size (default: 256)",
    )
    p.add_argument(
        "--append",
        action="store_true",
        help="deprecated, the default: add to an existing store (events it already "
        "holds, by id, are not added again)",
    )
    p.set_defaults(func=_cmd_load)

    p = sub.add_parser(
        "summary", help="counts by type and family, customers, time range"
    )
    p.add_argument("store", help="store directory")
    p.set_defaults(func=_cmd_summary)

    register(sub)  # fetch and sandbox (cli/_remote.py)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the same with ``--debug``, which only adds
    the traceback)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_usage(sys.stderr)
        print(
            "activity-toolkit: error: give a COMMAND (demo, report, sample, load, "
            "summary, fetch, sandbox); --help lists them",
            file=sys.stderr,
        )
        return EXIT_USAGE
    handler: Handler = args.func
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ActivityToolkitError as error:
        return _report_error(error, args, exit_code(error))
    except ValueError as error:  # a parameter the command could not use
        return _report_error(error, args, EXIT_USAGE)
    except OSError as error:
        return _report_error(error, args, EXIT_ERROR, _describe_os_error(error))


def _report_error(
    error: BaseException, args: argparse.Namespace, code: int, text: str | None = None
) -> int:
    """One line on stderr (after the traceback with ``--debug``); returns ``code``."""
    if getattr(args, "debug", False):
        import traceback

        traceback.print_exception(error, file=sys.stderr)
    print(f"error: {text if text is not None else error}", file=sys.stderr)
    return code


_OS_HINTS = {
    errno.ENOENT: "no such file or directory",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.EEXIST: "a file is in the way where a directory is needed",
    errno.EISDIR: "it is a directory, a file is needed",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOSPC: "no space left on the device",
    errno.EROFS: "the file system is read-only",
}


def _describe_os_error(error: OSError) -> str:
    """``PATH: what is wrong`` in words, not ``[Errno 20] …``."""
    reason = _OS_HINTS.get(error.errno or 0) or error.strerror or str(error)
    name = error.filename
    if name is None:
        return reason
    if error.filename2 is not None:
        return f"{name} -> {error.filename2}: {reason}"
    return f"{name}: {reason}"
