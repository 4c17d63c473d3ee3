"""The shareable report: one self-contained, offline, safe HTML file.

:func:`report` runs the standard analyses on a log, draws their charts and writes
one HTML file that opens anywhere with no network:

* Vega, Vega-Lite and vega-embed are inlined once (vl-convert's bundle);
* each chart spec travels as JSON in ``<script type="application/json">`` with
  ``<``, ``>``, ``&`` and ``'`` escaped, is parsed with ``JSON.parse`` and drawn
  by vega-embed without its "open in editor" action (which would post the data to
  the web);
* every string from the data reaches the page through an autoescaping template
  (Jinja2), so a campaign named ``<script>…</script>`` is text;
* a Content-Security-Policy meta tag blocks every network request
  (``default-src 'none'``; Vega needs ``'unsafe-eval'``);
* ``redact=True`` replaces customer ids with keyed hashes and drops customer
  source ids, names, emails, phones, metadata and the raw payloads before any
  analysis, so nothing personal reaches the charts, tables or embedded data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import polars as pl

from activity_toolkit import analysis as an
from activity_toolkit import charts as ch
from activity_toolkit._version import __version__
from activity_toolkit.exceptions import (
    ActivityToolkitError,
    ChartError,
    ReportError,
)
from activity_toolkit.model import ActivityLog

__all__ = ["CSP", "redact_log", "report"]

#: The page may run its own inline scripts (Vega needs eval) and nothing else: no
#: request of any kind leaves it.
CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
    "connect-src 'none'; base-uri 'none'; form-action 'none'"
)
#: Columns that can name or reach a person; dropped (set to null) by ``redact``.
PERSONAL = (
    "customer_source_id",
    "customer_name",
    "customer_email",
    "customer_phone",
    "customer_metadata",
    "unconfirmed_customer_id",
    "payload",
)
FUNNEL_STEPS = (
    "customer.publication.succeeded",
    "customer.redemption.succeeded",
    "customer.order.paid",
)


def _version() -> str:
    return __version__


def redact_log(log: ActivityLog, *, key: bytes | None = None) -> ActivityLog:
    """A copy of ``log`` with customer ids replaced by keyed hashes and personal
    columns (:data:`PERSONAL`) set to null, in the events and every typed frame.

    The same id gets the same hash within one call (and across calls with the same
    ``key``), so counts of distinct customers do not change. Without ``key`` a
    random one is used, so hashes cannot be linked across reports.
    """
    secret = key if key is not None else secrets.token_bytes(32)
    ids = pl.concat(
        [log.events.select("customer_id")]
        + [
            f.select("customer_id")
            for f in log.frames.values()
            if "customer_id" in f.columns
        ],
        how="vertical_relaxed",
    )["customer_id"].unique()
    mapping = {
        cid: "cust_" + hmac.new(secret, cid.encode(), hashlib.sha256).hexdigest()[:16]
        for cid in ids.drop_nulls().to_list()
    }

    def clean(frame: pl.DataFrame) -> pl.DataFrame:
        exprs = []
        if "customer_id" in frame.columns:
            exprs.append(
                pl.col("customer_id").replace_strict(
                    mapping, default=None, return_dtype=pl.String
                )
            )
        exprs += [
            pl.lit(None, dtype=frame.schema[c]).alias(c)
            for c in PERSONAL
            if c in frame.columns
        ]
        return frame.with_columns(exprs) if exprs else frame

    return ActivityLog(
        clean(log.events),
        {t: clean(f) for t, f in log.frames.items()},
        report=log.report,
    )


@dataclass
class _Section:
    id: str
    title: str
    lead: str
    charts: list[dict[str, Any]] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Builder:
    """Collects chart specs and parameters; a failing analysis or chart becomes a
    visible note in its section instead of failing the whole report."""

    data_range: tuple[datetime, datetime] | None
    currency: str | None
    specs: list[dict[str, Any]] = field(default_factory=list)
    parameters: list[dict[str, Any]] = field(default_factory=list)
    _seen: set[int] = field(default_factory=set)

    def run(self, compute: Callable[[], pl.DataFrame]) -> pl.DataFrame | str:
        try:
            return compute()
        except ActivityToolkitError as exc:
            return str(exc)

    def add(
        self,
        section: _Section,
        title: str,
        result: pl.DataFrame | str,
        draw: Callable[..., Any],
        **options: Any,
    ) -> None:
        if isinstance(result, str):
            section.charts.append({"title": title, "reason": result})
            return
        try:
            chart = draw(result, data_range=self.data_range, **options)
            with ch.theme():
                spec = chart.to_dict()
            json.dumps(spec, allow_nan=False)
        except (ChartError, ValueError) as exc:
            section.charts.append({"title": title, "reason": str(exc)})
            return
        spec_id = f"chart-{len(self.specs)}"
        self.specs.append({"spec_id": spec_id, "spec": spec})
        section.charts.append({"title": title, "spec_id": spec_id})
        params = an.params_of(result)
        if params is not None and id(params) not in self._seen:
            self._seen.add(id(params))
            self.parameters.append(
                {
                    "analysis": params.analysis,
                    "options": params.describe().partition(": ")[2] or "(defaults)",
                    "notes": list(params.notes),
                }
            )


def _cell(value: Any) -> dict[str, Any]:
    if isinstance(value, float):
        # rates keep three significant digits, everything else one decimal
        return {
            "text": f"{value:.3g}" if abs(value) < 1 else f"{value:,.1f}",
            "num": True,
        }
    if isinstance(value, int) and not isinstance(value, bool):
        return {"text": f"{value:,}", "num": True}
    return {"text": "" if value is None else str(value), "num": False}


def _table(title: str, frame: pl.DataFrame, columns: Sequence[str]) -> dict[str, Any]:
    cols = [c for c in columns if c in frame.columns]
    return {
        "title": title,
        "header": cols,
        "rows": [[_cell(v) for v in row] for row in frame.select(cols).iter_rows()],
    }


def _content_hash(log: ActivityLog) -> str:
    """SHA-256 of the sorted event ids and timestamps: two reports with the same
    hash were made from the same events."""
    h = hashlib.sha256()
    ev = log.events.select(
        pl.col("id"), pl.col("created_at").dt.epoch("ms").cast(pl.String)
    ).sort("id")
    for chunk in ev.iter_slices(200_000):
        h.update("\n".join(chunk["id"] + "\t" + chunk["created_at"]).encode())
    return h.hexdigest()


def _sections(log: ActivityLog, b: _Builder, period: an.Period) -> list[_Section]:
    overview = _Section(
        "overview",
        "Overview",
        f"Headline numbers of the last complete {period} against the one before, "
        "and all activity over time.",
    )
    b.add(
        overview,
        "Key numbers",
        b.run(lambda: an.kpis(log, period=period)),
        ch.kpi_cards,
        currency=b.currency,
    )
    b.add(
        overview,
        "Activity",
        b.run(lambda: an.activity_timeline(log, period="week")),
        ch.activity_timeline_chart,
    )

    funnels = _Section(
        "funnels",
        "Funnels",
        "Which published codes turn into redemptions and paid orders, how long it "
        "takes, and why customers stop.",
    )
    coupon = b.run(lambda: an.coupon_funnel(log))
    b.add(funnels, "Coupon funnel", coupon, ch.coupon_funnel_chart)
    b.add(
        funnels,
        "Coupon funnel by campaign",
        b.run(lambda: an.coupon_funnels(log, top=5)),
        ch.coupon_funnels_chart,
    )
    steps = list(FUNNEL_STEPS)
    b.add(
        funnels,
        "Funnel",
        b.run(lambda: an.funnel(log, steps, within="14d")),
        ch.funnel_chart,
    )
    b.add(
        funnels,
        "Time to convert",
        b.run(lambda: an.funnel_units(log, steps, within="14d")),
        ch.time_to_convert,
    )
    b.add(
        funnels,
        "Conversion over time",
        b.run(lambda: an.funnel_trend(log, steps, within="14d", period=period)),
        ch.funnel_trend_chart,
    )
    if not isinstance(coupon, str):
        reasons = ch.failure_reasons(coupon, top=5)
        funnels.tables.append(
            _table(
                "Top failure reasons per step",
                reasons,
                ["step_name", "reason", "units"],
            )
        )

    cohorts = _Section(
        "cohorts",
        "Cohorts",
        f"Customers grouped by the {period} of their first event; the share active "
        f"in each later {period}.",
    )
    ret = b.run(lambda: an.retention(log, period=period))
    b.add(cohorts, "Retention by cohort", ret, ch.retention_heatmap)
    b.add(cohorts, "Retention curves", ret, ch.retention_curves)

    loyalty = _Section(
        "loyalty",
        "Loyalty",
        "Members per tier, how they move between tiers and how long they stay.",
    )
    b.add(
        loyalty,
        "Members per tier",
        b.run(lambda: an.tier_distribution(log, period=period)),
        ch.tier_distribution_chart,
    )
    moves = b.run(lambda: an.tier_transitions(log))
    b.add(loyalty, "Tier flows", moves, ch.tier_flow)
    b.add(loyalty, "Tier migrations", moves, ch.tier_migration)
    b.add(
        loyalty,
        "Time in tier",
        b.run(lambda: an.time_in_tier(log, output="curve")),
        ch.time_in_tier_chart,
    )
    summary = b.run(lambda: an.time_in_tier(log))
    if not isinstance(summary, str):
        table = summary.with_columns(
            (pl.col(c).dt.total_milliseconds() / 86_400_000)
            .round(1)
            .alias(f"{c} (days)")
            for c in ("q25", "median", "q75")
            if c in summary.columns
        )
        loyalty.tables.append(
            _table(
                "Time in tier (Kaplan-Meier quartiles)",
                table,
                [
                    "tier_name",
                    "spells",
                    "closed",
                    "censored",
                    "q25 (days)",
                    "median (days)",
                    "q75 (days)",
                ],
            )
        )

    points = _Section(
        "points",
        "Points",
        "Loyalty points earned, spent, expired and transferred, what is still "
        "outstanding, and how much is never used.",
    )
    flows = b.run(lambda: an.points_flows(log, period=period))
    b.add(points, "Points flows", flows, ch.points_flows_chart)
    b.add(points, "Liability waterfall", flows, ch.liability_waterfall)
    b.add(
        points,
        "Breakage",
        b.run(lambda: an.breakage(log, period=period)),
        ch.breakage_chart,
    )

    campaigns = _Section(
        "campaigns",
        "Campaigns",
        "Publications, redemptions and money per campaign.",
    )
    summary_c = b.run(lambda: an.campaign_summary(log))
    b.add(
        campaigns,
        "Leaderboard",
        summary_c,
        ch.campaign_leaderboard,
        currency=b.currency,
    )
    if not isinstance(summary_c, str):
        campaigns.tables.append(
            _table(
                "Campaigns",
                summary_c.sort("publications", descending=True),
                [
                    "campaign_name",
                    "campaign_id",
                    "publications",
                    "redemptions_succeeded",
                    "redemptions_failed",
                    "redemption_rate",
                    "customers",
                ],
            )
        )
    return [overview, funnels, cohorts, loyalty, points, campaigns]


def _bundle() -> Any:
    """vl-convert's Vega + Vega-Lite + vega-embed bundle, safe inside <script>."""
    import vl_convert as vlc
    from markupsafe import Markup

    js = str(vlc.javascript_bundle())  # type: ignore[call-arg]
    js = js.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
    return Markup(js)  # our own bundle, with its script ends escaped


def report(
    log: ActivityLog,
    path: str | Path,
    *,
    redact: bool = False,
    title: str | None = None,
    source: str | None = None,
    period: an.Period = "month",
    currency: str | None = None,
) -> Path:
    """Write the standard analyses of ``log`` as one offline HTML report.

    Parameters
    ----------
    log
        The activity to report on.
    path
        The HTML file to write (replaced atomically; its folder is created).
    redact
        Replace customer ids with keyed hashes and drop personal columns first
        (see :func:`redact_log`).
    title
        The report's title; default "Customer activity report".
    source
        Where the data came from, shown in the provenance table.
    period
        The calendar period of the KPIs, cohorts, tiers, points and trends.
    currency
        Currency code of the money amounts, when known (labels only).

    Returns
    -------
    Path
        The file written.
    """
    if not isinstance(log, ActivityLog):
        msg = f"report: expected an ActivityLog, got {type(log).__name__}"
        raise ReportError(msg)
    if period not in get_args(an.Period):
        msg = f"report: period={period!r} is not one of {list(get_args(an.Period))}"
        raise ReportError(msg)
    data = redact_log(log) if redact else log
    ev = data.events
    data_range: tuple[datetime, datetime] | None = None
    if ev.height:
        lo, hi = ev["created_at"].min(), ev["created_at"].max()
        assert isinstance(lo, datetime)
        assert isinstance(hi, datetime)
        data_range = (lo, hi)
    builder = _Builder(data_range, currency)
    sections = _sections(data, builder, period)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = log.report
    provenance: list[tuple[str, str]] = [
        (
            "source",
            source
            or (", ".join(load.sources) if load and load.sources else "an ActivityLog"),
        ),
        ("events", f"{ev.height:,}"),
        ("customers", f"{ev['customer_id'].n_unique():,}" if ev.height else "0"),
        ("event types", f"{len(data.types)}"),
        (
            "time range",
            f"{data_range[0]:%Y-%m-%d %H:%M} to {data_range[1]:%Y-%m-%d %H:%M} UTC"
            if data_range
            else "no events",
        ),
        ("content hash", f"sha256:{_content_hash(data)}"),
        ("toolkit version", _version()),
        ("generated", generated),
        (
            "redacted",
            "yes: customer ids hashed, personal fields dropped" if redact else "no",
        ),
    ]
    if load is not None:
        provenance.append(
            (
                "loading",
                f"{load.records:,} records read, {load.duplicates:,} duplicates dropped, "
                f"{len(load.skipped):,} skipped",
            )
        )
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("activity_toolkit.reporting", "."),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    page = env.get_template("template.html.j2").render(
        title=title or "Customer activity report",
        subtitle=(
            f"{ev.height:,} events of "
            + (f"{ev['customer_id'].n_unique():,}" if ev.height else "0")
            + (
                f" customers, {data_range[0]:%Y-%m-%d} to {data_range[1]:%Y-%m-%d}"
                if data_range
                else " customers"
            )
        ),
        csp=CSP,
        version=_version(),
        generated=generated,
        sections=sections,
        specs=builder.specs,
        parameters=builder.parameters,
        provenance=provenance,
        bundle=_bundle(),
    )
    return _write(Path(path), page)


def _write(path: Path, page: str) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(page)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        msg = f"report: cannot write {str(path)!r}: {exc.strerror or exc}"
        raise ReportError(msg) from None
    return path
