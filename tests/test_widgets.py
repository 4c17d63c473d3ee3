"""Widgets driven without a browser: set a control, assert the charts changed."""

from __future__ import annotations

import ipywidgets as w
import polars as pl
import pytest

import activity_toolkit as at
from activity_toolkit.widgets import Dashboard, FunnelExplorer

LOG = at.sample(customers=120, seed=8)


def _rows(node):
    """Every data row embedded anywhere in a spec."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "values" and isinstance(v, list):
                yield from (r for r in v if isinstance(r, dict))
            elif k == "datasets" and isinstance(v, dict):
                for rows in v.values():
                    yield from rows
            else:
                yield from _rows(v)
    elif isinstance(node, list):
        for v in node:
            yield from _rows(v)


def _spec(widget):
    return widget.chart.to_dict()


def test_dashboard_tabs_build_on_first_open_and_filters_redraw_in_place():
    board = at.dashboard(LOG)
    assert isinstance(board, Dashboard)
    assert board.tabs.titles == (
        "Overview",
        "Funnel",
        "Cohorts",
        "Loyalty",
        "Points",
        "Campaigns",
    )
    # only the visible tab was drawn
    assert board._panels["Overview"].charts is not None
    assert board._panels["Points"].charts is None
    overview = board.charts("Overview")
    first = overview[0]
    before = _spec(first)
    board.filters["channel"].value = "API"
    assert board.filtered.events["channel"].unique().to_list() == ["API"]
    assert board.charts("Overview")[0] is first  # the same widget, redrawn
    assert _spec(first) != before
    assert "events of" in board.status.value
    # a hidden tab is not recomputed on a filter change, only when it is opened
    assert board._panels["Points"].charts is None
    board.tabs.selected_index = 4
    assert board._panels["Points"].charts is not None
    assert board.status.value.startswith("<b>Points</b>")


def test_dashboard_month_range_and_campaign_filters():
    board = at.dashboard(LOG)
    months = board.filters["months"]
    months.index = (2, 4)
    lo, hi = (
        board.filtered.events["created_at"].min(),
        board.filtered.events["created_at"].max(),
    )
    assert lo >= months.value[0]
    assert (hi.year, hi.month) == (months.value[1].year, months.value[1].month)
    name = board.filters["campaign"].options[1]
    board.filters["campaign"].value = name
    assert board.filtered.events["campaign_name"].unique().to_list() == [name]


def test_dashboard_shows_errors_instead_of_raising():
    tiny = LOG.filter(types="customer.order.paid")
    board = at.dashboard(tiny)
    board.tabs.selected_index = 3  # Loyalty: no tier events in this log
    problems = [c for c in board.charts("Loyalty") if isinstance(c, w.HTML)]
    assert problems
    assert "Loyalty" in board.status.value
    assert "color:#D55E00" in board.status.value


def test_funnel_explorer_controls_rerun_the_funnel():
    ex = at.funnel_explorer(LOG)
    assert isinstance(ex, FunnelExplorer)
    first = ex.chart.chart.to_dict()
    assert ex.result is not None
    ex.mode.value = "reached"
    assert ex.chart.chart.to_dict() != first
    ex.by.value = "campaign_type"
    assert "campaign_type" in ex.result.columns
    ex.within.value = "nonsense"
    assert "not a fixed duration" in ex.status.value
    ex.within.value = "7d"
    assert "within=7d" in ex.status.value


def test_funnel_explorer_lists_and_exports_the_customers_at_a_step():
    ex = at.funnel_explorer(LOG)
    ex.step.value = 2
    ex.outcome.value = "reached"
    reached = ex.customers()
    ex.outcome.value = "dropped"
    dropped = ex.customers()
    counts = dict(zip(ex.result["step"], ex.result["count"], strict=True))
    assert reached.height == counts[2]
    assert dropped.height == counts[1] - counts[2]
    assert set(reached["customer_id"]).isdisjoint(dropped["customer_id"])
    csv = ex.csv()
    assert csv.splitlines()[0].startswith("customer_id,")
    assert len(csv.splitlines()) == dropped.height + 1
    assert f"{dropped.height:,} units dropped before step 2" in ex.table.value


def test_widgets_refuse_what_is_not_a_log():
    with pytest.raises(TypeError, match="ActivityLog"):
        at.dashboard(LOG.events)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ActivityLog"):
        at.funnel_explorer(pl.DataFrame())  # type: ignore[arg-type]


def test_balances_and_tiers_ignore_the_channel_and_the_window_start():
    board = at.dashboard(LOG)
    whole = at.kpis(LOG).filter(pl.col("metric") == "outstanding_points")["value"][0]
    board.filters["channel"].value = "API"
    scope = board.scope
    assert scope.events.events["channel"].unique().to_list() == ["API"]
    assert len(scope.ledger) == len(LOG)  # no window, no campaign: the whole ledger
    cards = board.charts("Overview")[0].chart.to_dict()
    rows = [r for r in _rows(cards) if r.get("metric") == "outstanding_points"]
    assert rows
    assert rows[0]["value"] == whole  # not a partial (even negative) sum
    board.tabs.selected_index = 4
    assert "use every channel" in board.status.value
    board.filters["months"].index = (3, 6)
    lo, end = board.scope.window
    assert board.scope.ledger.events["created_at"].max() < end
    assert board.scope.ledger.events["created_at"].min() < lo  # history kept
    flows = board.charts("Points")[0].chart.to_dict()
    assert flows  # drawn


def test_kpis_take_the_balance_from_the_ledger():
    api = LOG.filter(channels="API")
    partial = at.kpis(api).filter(pl.col("metric") == "outstanding_points")["value"][0]
    given = at.kpis(api, ledger=LOG).filter(pl.col("metric") == "outstanding_points")
    whole = at.kpis(LOG).filter(pl.col("metric") == "outstanding_points")["value"][0]
    assert given["value"][0] == whole
    assert partial != whole


def test_clicking_a_bar_picks_the_step_whose_customers_are_listed():
    ex = at.funnel_explorer(LOG)
    assert ex.step.value == 1
    # what the browser sends when a bar of step 3 is clicked (Vega's point signal)
    ex.chart._vl_selections = {
        "step_pick": {"value": {"vlPoint": {"or": [{"step": 3}]}}, "store": []}
    }
    assert ex.step.value == 3
    assert "step 3" in ex.table.value
    # after the funnel is recomputed the new chart's clicks are heard too
    ex.mode.value = "reached"
    ex.chart._vl_selections = {
        "step_pick": {"value": {"vlPoint": {"or": [{"step": 2}]}}, "store": []}
    }
    assert ex.step.value == 2
    spec = ex.chart.chart.to_dict()
    assert "step_pick" in str(spec)


def test_a_channel_change_leaves_the_ledger_tabs_alone():
    board = at.dashboard(LOG)
    board.tabs.selected_index = 4  # Points
    flows = board.charts("Points")[0]
    spec = flows.chart
    board.filters["channel"].value = "API"
    assert board.charts("Points")[0].chart is spec  # not recomputed
    board.filters["campaign_type"].value = "LOYALTY_PROGRAM"
    assert board.charts("Points")[0].chart is not spec  # the ledger changed


def test_presets_set_the_steps_and_the_coupon_funnel_comes_first():
    ex = at.funnel_explorer(LOG)
    assert ex.preset.value.startswith("coupon funnel")
    assert list(ex.steps.value) == [
        "customer.publication.succeeded",
        "customer.validation.succeeded",
        "customer.redemption.succeeded",
        "customer.order.paid",
    ]
    ex.preset.value = "validation → redemption"
    assert ex.result["label"].to_list() == [
        "customer.validation.succeeded",
        "customer.redemption.succeeded",
    ]


def test_going_back_to_a_filter_state_reuses_its_charts():
    board = at.dashboard(LOG)
    first = board.charts("Overview")[0].chart
    board.filters["channel"].value = "API"
    api = board.charts("Overview")[0].chart
    assert api is not first
    board.filters["channel"].value = "(all)"
    assert board.charts("Overview")[0].chart is first  # from the memo, not recomputed
    board.filters["channel"].value = "API"
    assert board.charts("Overview")[0].chart is api


def test_two_charts_of_one_analysis_share_one_run(monkeypatch):
    from activity_toolkit.widgets import _TABS, Scope

    calls = []
    real = at.analysis.retention
    monkeypatch.setattr(
        at.analysis, "retention", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    scope = Scope(LOG, LOG, None)
    for _, view in _TABS["Cohorts"]:
        view(scope)
    assert len(calls) == 1
