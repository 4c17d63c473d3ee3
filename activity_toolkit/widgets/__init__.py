"""Notebook widgets: the dashboard and the funnel explorer (ipywidgets + Altair).

Charts are ``alt.JupyterChart`` widgets rendered offline (the Vega bundle comes
from vl-convert, never a CDN). A filter change re-runs only the analyses of the
visible tab and assigns the new chart to the existing chart widgets, so nothing
is appended below the cell. Errors are shown in the widget's status line.

>>> import activity_toolkit as at
>>> board = at.widgets.dashboard(at.sample(customers=30, seed=1))
>>> board.tabs.titles[:3]
('Overview', 'Funnel', 'Cohorts')
"""

from __future__ import annotations

import html
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import altair as alt
import ipywidgets as w
import polars as pl

from activity_toolkit import analysis as an
from activity_toolkit import charts as ch
from activity_toolkit.charts import PICK
from activity_toolkit.exceptions import ActivityToolkitError
from activity_toolkit.model import ActivityLog

__all__ = ["Dashboard", "FunnelExplorer", "Scope", "dashboard", "funnel_explorer"]

_ALL = "(all)"
_PRESETS: dict[str, tuple[str, ...]] = {
    "coupon funnel: publication → validation → redemption → paid order": (
        "customer.publication.succeeded",
        "customer.validation.succeeded",
        "customer.redemption.succeeded",
        "customer.order.paid",
    ),
    "publication → redemption → paid order": (
        "customer.publication.succeeded",
        "customer.redemption.succeeded",
        "customer.order.paid",
    ),
    "validation → redemption": (
        "customer.validation.succeeded",
        "customer.redemption.succeeded",
    ),
    "order created → paid": ("customer.order.created", "customer.order.paid"),
}


@dataclass(frozen=True)
class Scope:
    """What the dashboard's filters select.

    ``events``: every filter applied (dates, campaign type, campaign, channel,
    segment). ``ledger``: the campaign, campaign type and segment filters only, cut
    at the end of the date window: loyalty balances and tiers are replays of every
    points and tier event since a card was issued, so a channel or a window start
    would break them (a balance summed from a subset can be negative).
    ``window``: the months range as ``(start, end)``, or None.
    """

    events: ActivityLog
    ledger: ActivityLog
    window: tuple[datetime, datetime] | None
    _results: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def once(self, name: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` the first time ``name`` is asked for in this scope, then the
        same result: two charts of one analysis (retention heatmap and curves)
        share one run."""
        if name not in self._results:
            self._results[name] = compute()
        return self._results[name]

    @property
    def data_range(self) -> tuple[datetime, datetime] | None:
        return _range(self.events)

    def crop(self, frame: pl.DataFrame, column: str = "period") -> pl.DataFrame:
        """Rows of a per-period result inside the window (all without one)."""
        if self.window is None or frame.height == 0:
            return frame
        start = pl.lit(self.window[0]).cast(frame.schema[column])
        kept = frame.filter(pl.col(column) >= start)
        params = an.params_of(frame)
        return an.with_params(kept, params) if params is not None else kept


#: A chart view: the analyses and chart calls one chart widget shows.
View = Callable[[Scope], Any]


def _offline() -> None:
    ch.use_theme()
    alt.JupyterChart.enable_offline()


def _options(log: ActivityLog, column: str) -> list[str]:
    values = log.events[column].drop_nulls().unique().sort().to_list()
    return [_ALL, *values]


def _range(log: ActivityLog) -> tuple[datetime, datetime] | None:
    if not len(log):
        return None
    lo, hi = log.events["created_at"].min(), log.events["created_at"].max()
    assert isinstance(lo, datetime)
    assert isinstance(hi, datetime)
    return lo, hi


def _message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _kpis(sc: Scope) -> Any:
    end = sc.window[1] if sc.window else None
    return ch.kpi_cards(
        an.kpis(sc.events, end=end, ledger=sc.ledger), data_range=sc.data_range
    )


def _retention(sc: Scope) -> Any:
    return sc.once("retention", lambda: an.retention(sc.events, period="month"))


def _points_flows(sc: Scope) -> Any:
    return sc.once("points_flows", lambda: an.points_flows(sc.ledger))


def _flows(sc: Scope) -> Any:
    flows = sc.crop(_points_flows(sc))
    return ch.points_flows_chart(flows, data_range=sc.data_range)


_COUPON_STEPS = list(_PRESETS["publication → redemption → paid order"])
_TABS: dict[str, list[tuple[str, View]]] = {
    "Overview": [
        ("Key numbers", _kpis),
        (
            "Activity",
            lambda sc: ch.activity_timeline_chart(
                an.activity_timeline(sc.events), data_range=sc.data_range
            ),
        ),
    ],
    "Funnel": [
        (
            "Coupon funnel",
            lambda sc: ch.coupon_funnel_chart(
                an.coupon_funnel(sc.events), data_range=sc.data_range
            ),
        ),
        (
            "Conversion over time",
            lambda sc: ch.funnel_trend_chart(
                an.funnel_trend(sc.events, _COUPON_STEPS, within="14d", period="month"),
                data_range=sc.data_range,
            ),
        ),
    ],
    "Cohorts": [
        (
            "Retention",
            lambda sc: ch.retention_heatmap(_retention(sc), data_range=sc.data_range),
        ),
        (
            "Curves",
            lambda sc: ch.retention_curves(_retention(sc), data_range=sc.data_range),
        ),
    ],
    "Loyalty": [
        (
            "Members per tier",
            lambda sc: ch.tier_distribution_chart(
                sc.crop(an.tier_distribution(sc.ledger)), data_range=sc.data_range
            ),
        ),
        (
            "Tier flows",
            lambda sc: ch.tier_flow(
                an.tier_transitions(
                    sc.ledger, start=sc.window[0] if sc.window else None
                ),
                data_range=sc.data_range,
            ),
        ),
        (
            "Time in tier",
            lambda sc: ch.time_in_tier_chart(
                an.time_in_tier(sc.ledger, output="curve"), data_range=sc.data_range
            ),
        ),
    ],
    "Points": [
        ("Points flows", _flows),
        (
            "Liability",
            lambda sc: ch.liability_waterfall(
                _points_flows(sc), data_range=sc.data_range
            ),
        ),
        (
            "Breakage",
            lambda sc: ch.breakage_chart(
                sc.crop(an.breakage(sc.ledger), "cohort"), data_range=sc.data_range
            ),
        ),
    ],
    "Campaigns": [
        (
            "Leaderboard",
            lambda sc: ch.campaign_leaderboard(
                an.campaign_summary(sc.events), data_range=sc.data_range
            ),
        ),
    ],
}


@dataclass
class _Panel:
    """One tab: its chart widgets (built on first open) and their views."""

    views: list[tuple[str, View]]
    box: w.VBox
    charts: list[alt.JupyterChart | w.HTML] | None = None
    shown_for: tuple[Any, ...] | None = None  # the filter values the charts show
    #: the charts (or problems) of the last filter states, newest last: going back
    #: to a state (a filter reset to "(all)") costs nothing
    memo: OrderedDict[tuple[Any, ...], list[tuple[Any, str | None]]] = field(
        default_factory=OrderedDict
    )
    errors: tuple[str, ...] = ()


#: Filter states whose charts a tab keeps.
_MEMO = 8

#: Tabs whose views read only ``Scope.ledger`` and the window: a channel change
#: leaves them as they are.
_LEDGER_TABS = frozenset({"Loyalty", "Points"})


class Dashboard(w.VBox):  # type: ignore[misc]
    """Tabs Overview, Funnel, Cohorts, Loyalty, Points and Campaigns over one log,
    with shared filters (dates, campaign type, campaign, channel, segment).

    Attributes (for scripts and tests): ``activity`` (the log), ``tabs``,
    ``filters`` (name → widget),
    ``status`` (an HTML line), ``filtered`` (the log the charts show) and
    ``charts(tab)`` (the chart widgets of a tab, built on first use).
    """

    def __init__(self, log: ActivityLog) -> None:
        _offline()
        self.activity = log
        self.filtered = log
        self.scope = Scope(log, log, None)
        months = (
            log.events.select(pl.col("created_at").dt.truncate("1mo").unique().sort())[
                "created_at"
            ].to_list()
            if len(log)
            else []
        )
        self.filters: dict[str, w.Widget] = {
            "campaign_type": w.Dropdown(
                options=_options(log, "campaign_type"), description="Campaign type"
            ),
            "campaign": w.Dropdown(
                options=_options(log, "campaign_name"), description="Campaign"
            ),
            "channel": w.Dropdown(
                options=_options(log, "channel"), description="Channel"
            ),
        }
        if len(months) >= 2:
            labels = [(m.strftime("%Y-%m"), m) for m in months]
            self.filters["months"] = w.SelectionRangeSlider(
                options=labels,
                index=(0, len(labels) - 1),
                description="Months",
                continuous_update=False,
                layout=w.Layout(width="480px"),
            )
        if "customer.segment.entered" in log:
            segs = log["customer.segment.entered"]
            if "segment_name" in segs.columns:
                self.filters["segment"] = w.Dropdown(
                    options=[
                        _ALL,
                        *segs["segment_name"].drop_nulls().unique().sort().to_list(),
                    ],
                    description="Segment",
                )
        for widget in self.filters.values():
            widget.style.description_width = "initial"
        self.status = w.HTML()
        self._panels: dict[str, _Panel] = {
            name: _Panel(views, w.VBox([w.HTML("<i>opening…</i>")]))
            for name, views in _TABS.items()
        }
        self.tabs = w.Tab(
            children=[p.box for p in self._panels.values()], titles=list(self._panels)
        )
        for widget in self.filters.values():
            widget.observe(self._on_filter, names="value")
        self.tabs.observe(self._on_tab, names="selected_index")
        controls = w.HBox(
            list(self.filters.values()), layout=w.Layout(flex_flow="row wrap")
        )
        super().__init__([controls, self.status, self.tabs])
        self._refresh()

    # -- filtering -------------------------------------------------------------------
    def _apply(self) -> Scope:
        f = self.filters
        scope: dict[str, Any] = {}
        if f["campaign_type"].value != _ALL:
            scope["campaign_types"] = f["campaign_type"].value
        if f["campaign"].value != _ALL:
            scope["campaigns"] = f["campaign"].value
        if "segment" in f and f["segment"].value != _ALL:
            seg = self.activity.frames.get("customer.segment.entered")
            ids = (
                []
                if seg is None
                else (
                    seg.filter(pl.col("segment_name") == f["segment"].value)[
                        "customer_id"
                    ]
                    .drop_nulls()
                    .unique()
                    .to_list()
                )
            )
            scope["customers"] = ids
        window = None
        if "months" in f:
            lo, hi = f["months"].value
            end = pl.Series([hi]).dt.offset_by("1mo")[0]
            first, last = f["months"].options[0][1], f["months"].options[-1][1]
            if (lo, hi) != (first, last):
                window = (lo, end)
        ledger = self.activity.filter(**scope) if scope else self.activity
        if window is not None:
            ledger = ledger.filter(end=window[1])
        events = ledger.filter(start=window[0]) if window is not None else ledger
        if f["channel"].value != _ALL:
            events = events.filter(channels=f["channel"].value)
        return Scope(events, ledger, window)

    def _on_filter(self, _change: dict[str, Any]) -> None:
        self._refresh()

    def _on_tab(self, _change: dict[str, Any]) -> None:
        self._refresh()

    def _refresh(self) -> None:
        """Re-filter, then redraw only the visible tab (others redraw when opened)."""
        try:
            self.scope = self._apply()
            self.filtered = self.scope.events
        except (ActivityToolkitError, ValueError) as exc:
            self.status.value = (
                f"<span style='color:#D55E00'>{html.escape(_message(exc))}</span>"
            )
            return
        name = list(self._panels)[self.tabs.selected_index or 0]
        self._draw(name)

    def charts(self, tab: str) -> list[alt.JupyterChart | w.HTML]:
        """The chart widgets of ``tab`` (drawn now if the tab was never opened)."""
        self._draw(tab)
        charts = self._panels[tab].charts
        assert charts is not None
        return charts

    def _key(self, tab: str) -> tuple[Any, ...]:
        """The filter values a tab's charts depend on."""
        values = {name: widget.value for name, widget in self.filters.items()}
        if tab in _LEDGER_TABS:
            values.pop("channel", None)
        return tuple(sorted(values.items(), key=lambda kv: kv[0]))

    def _draw(self, tab: str) -> None:
        panel = self._panels[tab]
        scope, log = self.scope, self.scope.events
        key = self._key(tab)
        if panel.shown_for == key and panel.charts is not None:
            self._status(tab, log, panel.errors)
            return
        fresh = panel.charts is None
        widgets: list[alt.JupyterChart | w.HTML] = panel.charts or []
        drawn = panel.memo.pop(key, None)
        if drawn is None:
            drawn = []
            for title, view in panel.views:
                try:
                    drawn.append((view(scope), None))
                except (ActivityToolkitError, ValueError) as exc:
                    drawn.append((None, f"{title}: {_message(exc)}"))
        panel.memo[key] = drawn
        while len(panel.memo) > _MEMO:
            panel.memo.popitem(last=False)
        errors = [problem for _, problem in drawn if problem is not None]
        for i, (chart, problem) in enumerate(drawn):
            if fresh:
                widgets.append(
                    alt.JupyterChart(chart)
                    if chart is not None
                    else w.HTML(html.escape(problem or ""))
                )
            elif isinstance(widgets[i], alt.JupyterChart) and chart is not None:
                widgets[i].chart = chart  # redraw in place
            else:
                widgets[i] = (
                    alt.JupyterChart(chart)
                    if chart is not None
                    else w.HTML(html.escape(problem or ""))
                )
                fresh = True
        panel.charts = widgets
        panel.shown_for = key
        panel.errors = tuple(errors)
        if fresh:
            panel.box.children = widgets
        self._status(tab, log, panel.errors)

    def _status(self, tab: str, log: ActivityLog, errors: Sequence[str]) -> None:
        n = len(log)
        text = (
            f"{n:,} events of {log.events['customer_id'].n_unique():,} customers"
            if n
            else "no events match"
        )
        if tab in ("Loyalty", "Points") and self.filters["channel"].value != _ALL:
            text += (
                " · tiers and points use every channel: a balance needs every "
                "points event of a card"
            )
        if errors:
            text += (
                " · <span style='color:#D55E00'>"
                + html.escape("; ".join(errors))
                + "</span>"
            )
        self.status.value = f"<b>{html.escape(tab)}</b> · {text}"


def dashboard(log: ActivityLog) -> Dashboard:
    """The dashboard widget over ``log`` (display it as the last line of a cell)."""
    if not isinstance(log, ActivityLog):
        msg = f"dashboard: expected an ActivityLog, got {type(log).__name__}"
        raise TypeError(msg)
    return Dashboard(log)


class FunnelExplorer(w.VBox):  # type: ignore[misc]
    """Pick funnel steps, mode, window, entry rule and breakdown; see the funnel;
    list the customers who reached or dropped at a step, and export them as CSV.

    Attributes: ``activity`` (the log), ``steps`` (a TagsInput of the event types present), ``preset``,
    ``mode``, ``within``, ``entry``, ``by``, ``chart`` (the JupyterChart),
    ``step``/``outcome`` (which customers to list), ``table`` and ``csv()``.
    """

    def __init__(self, log: ActivityLog) -> None:
        _offline()
        self.activity = log
        types = list(log.types)
        presets = [
            name for name, steps in _PRESETS.items() if all(s in types for s in steps)
        ]
        first = _PRESETS[presets[0]] if presets else tuple(types[:2])
        self.preset = w.Dropdown(
            options=["(custom)", *presets],
            value=presets[0] if presets else "(custom)",
            description="Preset",
        )
        self.steps = w.TagsInput(
            value=list(first),
            allowed_tags=types,
            allow_duplicates=False,
            description="Steps",
        )
        self.mode = w.Dropdown(
            options=["ordered", "strict", "unordered", "reached"],
            value="ordered",
            description="Mode",
        )
        self.within = w.Text(
            value="14d",
            description="Within",
            placeholder="e.g. 7d, 36h; empty = no limit",
        )
        self.entry = w.Dropdown(
            options=["first", "furthest"], value="first", description="Entry"
        )
        by_cols = [
            c
            for c in ("campaign_name", "campaign_type", "channel")
            if log.events[c].null_count() < len(log)
        ]
        self.by = w.Dropdown(
            options=["(none)", *by_cols], value="(none)", description="Breakdown"
        )
        self.step = w.Dropdown(options=[], description="Step")
        self.outcome = w.ToggleButtons(options=["reached", "dropped"], value="reached")
        self.status = w.HTML()
        self.table = w.HTML()
        self.result: pl.DataFrame | None = None
        self.units: pl.DataFrame | None = None
        self.chart = alt.JupyterChart(
            alt.Chart().mark_text().encode(text=alt.datum("…"))
        )
        self.preset.observe(self._on_preset, names="value")
        for widget in (self.steps, self.mode, self.within, self.entry, self.by):
            widget.observe(self._on_change, names="value")
        for widget in (self.step, self.outcome):
            widget.observe(self._on_pick, names="value")
        controls = w.VBox(
            [
                w.HBox([self.preset, self.steps]),
                w.HBox([self.mode, self.within, self.entry, self.by]),
            ]
        )
        picker = w.HBox([self.step, self.outcome])
        super().__init__([controls, self.status, self.chart, picker, self.table])
        self._run()

    def _on_preset(self, change: dict[str, Any]) -> None:
        if change["new"] in _PRESETS:
            self.steps.value = list(_PRESETS[change["new"]])

    def _on_change(self, _change: dict[str, Any]) -> None:
        self._run()

    def _on_click(self, change: dict[str, Any]) -> None:
        """A click on a bar picks its step (a double click clears it)."""
        points = getattr(change["new"], "value", None) or []
        steps = [p.get("step") for p in points if isinstance(p, dict)]
        if steps and steps[0] in {v for _, v in self.step.options}:
            self.step.value = steps[0]

    def _on_pick(self, _change: dict[str, Any]) -> None:
        self._show_units()

    def _run(self) -> None:
        steps = list(self.steps.value)
        if not steps:
            self.status.value = "<i>pick at least one step</i>"
            return
        within = self.within.value.strip() or None
        by = None if self.by.value == "(none)" else self.by.value
        try:
            self.result = an.funnel(
                self.activity,
                steps,
                within=within,
                mode=self.mode.value,
                entry=self.entry.value,
                by=by,
            )
            self.units = an.funnel_units(
                self.activity,
                steps,
                within=within,
                mode=self.mode.value,
                entry=self.entry.value,
            )
            drawn: Any = ch.funnel_chart(
                self.result, data_range=_range(self.activity), pick=True
            )
            self.chart.chart = drawn
            # a new chart brings a new selections object: listen to its clicks
            self.chart.selections.observe(self._on_click, names=[PICK])
        except (ActivityToolkitError, ValueError) as exc:
            self.status.value = (
                f"<span style='color:#D55E00'>{html.escape(_message(exc))}</span>"
            )
            return
        params = an.params_of(self.result)
        self.status.value = html.escape(params.describe() if params is not None else "")
        labels = [(f"{i}. {s}", i) for i, s in enumerate(steps, start=1)]
        current = (
            self.step.value if self.step.value and self.step.value <= len(steps) else 1
        )
        self.step.options = labels
        self.step.value = current
        self._show_units()

    def customers(self) -> pl.DataFrame:
        """The units that reached (or dropped at) the picked step."""
        if self.units is None or not self.step.value:
            return pl.DataFrame()
        k = self.step.value
        units = self.units.filter(~pl.col("excluded"))
        if self.outcome.value == "reached":
            chosen = units.filter(pl.col("furthest_step") >= k)
        else:  # reached step k-1 and not step k
            chosen = units.filter(pl.col("furthest_step") == k - 1)
        return chosen.select(pl.exclude("excluded")).sort("entered_at")

    def csv(self) -> str:
        """:meth:`customers` as CSV text (Datetime columns in ISO 8601)."""
        return self.customers().write_csv()

    def _show_units(self) -> None:
        rows = self.customers()
        head = rows.head(20)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>"
            for r in head.iter_rows()
        )
        header = "".join(f"<th>{html.escape(c)}</th>" for c in head.columns)
        what = "reached" if self.outcome.value == "reached" else "dropped before"
        self.table.value = (
            f"<p>{rows.height:,} units {what} step {self.step.value}"
            + (
                " (first 20 shown; <code>explorer.csv()</code> exports all)"
                if rows.height > 20
                else ""
            )
            + f"</p><table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
        )


def funnel_explorer(log: ActivityLog) -> FunnelExplorer:
    """The funnel explorer widget over ``log``."""
    if not isinstance(log, ActivityLog):
        msg = f"funnel_explorer: expected an ActivityLog, got {type(log).__name__}"
        raise TypeError(msg)
    return FunnelExplorer(log)
