"""Chart benchmark: analysis time, chart build time and spec size of every chart.

Usage::

    .venv/bin/python benchmarks/charts.py                    # ~1M and ~20k events
    .venv/bin/python benchmarks/charts.py --events 2000000 --repeat 1

Data: :func:`activity_toolkit.sample` with enough customers for about ``--events``
events (and ``--small-events`` for the comparison column), written once as a Parquet
store under ``benchmarks/_data/`` (git-ignored) and read back on later runs.

Every analysis with a chart (:data:`activity_toolkit.charts.CHARTS`) runs with the
arguments the HTML report uses (``reporting._sections``, ``period="month"``), and
each result is drawn with its default chart (``at.chart(result)``) plus the report's
other views (``retention_curves``, ``tier_migration``, ``liability_waterfall``).
For each chart, at both sizes: the analysis time, the chart build time
(``at.chart(...)`` or the view function, then ``chart.to_dict()`` under
``charts.theme()``), the spec size (``len(json.dumps(spec))``, KB = 1,000 bytes)
and the number of data rows embedded in it (summed over every inline dataset, so a
dataset embedded in three layers counts three times). Times are the best of
``--repeat`` runs; the small size is the baseline measured in the same run.

Checked (the script exits non-zero otherwise): every spec is under ``--limit-kb``
(300 KB, from the issue: "a chart's spec stays under 300 KB whatever the number of
events"), at both sizes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
DEFAULT_DATA = ROOT / "_data"
from _sample_cache import load_log  # noqa: E402  (benchmarks/ is on sys.path)

STEPS = [  # reporting.FUNNEL_STEPS
    "customer.publication.succeeded",
    "customer.redemption.succeeded",
    "customer.order.paid",
]
PERIOD = "month"  # the report's default period


@dataclass(frozen=True)
class Case:
    """One chart: the analysis (as the report calls it) and how it is drawn."""

    analysis: str
    chart: str
    compute: Callable[[Any], Any]
    draw: Callable[..., Any] | None = None  # None: at.chart(result)
    options: tuple[tuple[str, Any], ...] = ()
    shares: str | None = None  # reuses the result of this analysis (as the report)


def cases() -> list[Case]:
    from activity_toolkit import analysis as an
    from activity_toolkit import charts as ch

    p = PERIOD
    out = [
        Case(
            "kpis",
            "",
            lambda log: an.kpis(log, period=p),
            options=(("currency", None),),
        ),
        Case(
            "activity_timeline",
            "",
            lambda log: an.activity_timeline(log, period="week"),
        ),
        Case("coupon_funnel", "", an.coupon_funnel),
        Case("coupon_funnels", "", lambda log: an.coupon_funnels(log, top=5)),
        Case("funnel", "", lambda log: an.funnel(log, STEPS, within="14d")),
        Case("funnel_units", "", lambda log: an.funnel_units(log, STEPS, within="14d")),
        Case(
            "funnel_trend",
            "",
            lambda log: an.funnel_trend(log, STEPS, within="14d", period=p),
        ),
        Case("retention", "", lambda log: an.retention(log, period=p)),
        Case(
            "retention",
            "retention_curves",
            lambda log: an.retention(log, period=p),
            ch.retention_curves,
            shares="retention",
        ),
        # not in the report; charted by default, so measured with the report's period
        Case("retention_matrix", "", lambda log: an.retention_matrix(log, period=p)),
        Case("tier_distribution", "", lambda log: an.tier_distribution(log, period=p)),
        Case("tier_transitions", "", an.tier_transitions),
        Case(
            "tier_transitions",
            "tier_migration",
            an.tier_transitions,
            ch.tier_migration,
            shares="tier_transitions",
        ),
        Case("time_in_tier", "", lambda log: an.time_in_tier(log, output="curve")),
        Case("points_flows", "", lambda log: an.points_flows(log, period=p)),
        Case(
            "points_flows",
            "liability_waterfall",
            lambda log: an.points_flows(log, period=p),
            ch.liability_waterfall,
            shares="points_flows",
        ),
        Case("breakage", "", lambda log: an.breakage(log, period=p)),
        Case(
            "campaign_summary",
            "",
            an.campaign_summary,
            options=(("currency", None),),
        ),
    ]
    named = []
    for c in out:
        name = c.chart or ch.CHARTS[c.analysis].__name__
        named.append(Case(c.analysis, name, c.compute, c.draw, c.options, c.shares))
    missing = set(ch.CHARTS) - {c.analysis for c in named}
    if missing:  # a new charted analysis: add it above
        print(f"  note: charted analyses not measured: {sorted(missing)}")
    return named


def inline_datasets(spec: Any) -> list[list[Any]]:
    """Every inline dataset of a spec (top-level ``datasets`` and ``data.values``)."""
    found: list[list[Any]] = []
    stack = [spec]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "datasets" and isinstance(value, dict):
                    found.extend(d for d in value.values() if isinstance(d, list))
                elif key == "data" and isinstance(value, dict):
                    values = value.get("values")
                    if isinstance(values, list):
                        found.append(values)
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return found


def describe_datasets(found: list[list[Any]]) -> str:
    """The datasets by size: ``rows x copies (KB each)``, largest first."""
    copies: dict[str, int] = {}
    for values in found:
        text = json.dumps(values)
        copies[text] = copies.get(text, 0) + 1
    parts = sorted(copies.items(), key=lambda kv: -len(kv[0]) * kv[1])
    return ", ".join(
        f"{len(json.loads(t)):,} rows x {n} ({len(t) / 1000:,.1f} KB each)"
        for t, n in parts
    )


def measure(log: Any, repeat: int) -> dict[str, dict[str, Any]]:
    """Run every case on ``log``; returns chart name → figures."""
    import activity_toolkit as at
    from activity_toolkit import charts as ch

    ev = log.events
    lo, hi = ev["created_at"].min(), ev["created_at"].max()
    assert isinstance(lo, datetime)
    assert isinstance(hi, datetime)
    data_range = (lo, hi)
    results: dict[str, tuple[Any, float]] = {}
    out: dict[str, dict[str, Any]] = {}
    for case in cases():
        if case.shares is not None and case.shares in results:
            result, analysis_s = results[case.shares]
        else:
            analysis_s = math.inf
            for _ in range(repeat):
                t0 = time.perf_counter()
                result = case.compute(log)
                analysis_s = min(analysis_s, time.perf_counter() - t0)
            results[case.analysis] = (result, analysis_s)
        chart_s = math.inf
        options = dict(case.options)
        for _ in range(repeat):
            t0 = time.perf_counter()
            if case.draw is None:
                chart = at.chart(result, data_range=data_range, **options)
            else:
                chart = case.draw(result, data_range=data_range, **options)
            with ch.theme():
                spec = chart.to_dict()
            chart_s = min(chart_s, time.perf_counter() - t0)
        text = json.dumps(spec)
        found = inline_datasets(spec)
        out[f"{case.analysis}/{case.chart}"] = {
            "analysis": case.analysis,
            "chart": case.chart,
            "shared": case.shares is not None,
            "analysis_s": analysis_s,
            "chart_s": chart_s,
            "bytes": len(text),
            "rows": sum(len(v) for v in found),
            "datasets": len(found),
            "detail": describe_datasets(found),
            "result_rows": result.height,
        }
        print(
            f"  {len(log):>9,} events  {case.chart:<24} analysis {analysis_s:6.2f} s  "
            f"chart {chart_s:5.2f} s  {len(text) / 1000:7.1f} KB",
            flush=True,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--events", type=int, default=1_000_000, help="approximate number of events"
    )
    ap.add_argument(
        "--small-events",
        type=int,
        default=20_000,
        help="the comparison size (approximate events)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs per analysis and chart (best kept)"
    )
    ap.add_argument("--limit-kb", type=float, default=300.0)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument(
        "--workers", type=int, default=1, help="processes generating a new sample"
    )
    args, unknown = ap.parse_known_args(argv)
    if unknown:
        print(f"charts.py: ignoring arguments {unknown}", file=sys.stderr)
    repeat = max(1, args.repeat)

    print(
        f"cpus: {os.cpu_count()} (shared with other work: times are indicative), "
        f"repeat: {repeat} (best kept)",
        flush=True,
    )
    sizes = {"big": args.events, "small": args.small_events}
    runs: dict[str, dict[str, dict[str, Any]]] = {}
    counts: dict[str, int] = {}
    for label, events in sizes.items():
        print(f"preparing ~{events:,} events (cached under {args.data_dir}) ...")
        t0 = time.perf_counter()
        log = load_log(events, args.seed, args.data_dir, args.workers)
        counts[label] = len(log)
        print(
            f"  {len(log):,} events, {log.events['customer_id'].n_unique():,} "
            f"customers, loaded in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        runs[label] = measure(log, repeat)
        del log

    big, small = runs["big"], runs["small"]
    nb, ns = counts["big"], counts["small"]
    print(
        f"\nbig: {nb:,} events; small (baseline): {ns:,} events ({nb / ns:,.0f}x fewer)."
        "\nanalysis s / chart s: best of the runs; 'shared' = the result of the row "
        "above, reused as the report does;\nKB = len(json.dumps(spec)) / 1000; rows = "
        "data rows embedded in the spec (datasets = inline datasets holding them)\n"
    )
    head1 = f"{'':<18} {'':<24} | {f'{nb:,} events':^38} | {f'{ns:,} events':^38} |"
    head2 = (
        f"{'analysis':<18} {'chart':<24} | {'analysis s':>10} {'chart s':>8} "
        f"{'KB':>7} {'rows':>5} {'ds':>3} | {'analysis s':>10} {'chart s':>8} "
        f"{'KB':>7} {'rows':>5} {'ds':>3} | {'KB big/small':>12}"
    )
    print(head1)
    print(head2)
    print("-" * len(head2))
    over = []
    for key, b in big.items():
        s, name = small[key], b["chart"]
        cells = []
        for r in (b, s):
            a = "shared" if r["shared"] else f"{r['analysis_s']:.3f}"
            cells.append(
                f"{a:>10} {r['chart_s']:>8.3f} {r['bytes'] / 1000:>7.1f} "
                f"{r['rows']:>5,} {r['datasets']:>3}"
            )
        print(
            f"{b['analysis']:<18} {name:<24} | {cells[0]} | {cells[1]} | "
            f"{b['bytes'] / s['bytes']:>11.2f}x"
        )
        for label, r in (("big", b), ("small", s)):
            if r["bytes"] >= args.limit_kb * 1000:
                over.append((name, counts[label], r["bytes"], r["detail"]))
    print("-" * len(head2))
    tot = {
        k: (
            sum(r["analysis_s"] for r in v.values() if not r["shared"]),
            sum(r["chart_s"] for r in v.values()),
            max(r["bytes"] for r in v.values()),
        )
        for k, v in runs.items()
    }
    print(
        f"{'total / max KB':<43} | {tot['big'][0]:>10.3f} {tot['big'][1]:>8.3f} "
        f"{tot['big'][2] / 1000:>7.1f} {'':>9} | {tot['small'][0]:>10.3f} "
        f"{tot['small'][1]:>8.3f} {tot['small'][2] / 1000:>7.1f} {'':>9} |"
    )
    print()
    if over:
        for name, n, size, detail in over:
            print(
                f"FAIL: {name} spec is {size / 1000:,.1f} KB on {n:,} events "
                f"(limit {args.limit_kb:,.0f} KB); inline data: {detail}"
            )
        return 1
    print(f"OK: every spec is under {args.limit_kb:,.0f} KB at both sizes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
