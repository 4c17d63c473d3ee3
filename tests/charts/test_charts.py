"""Charts: every analysis result draws, states its parameters, stays small and safe."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import altair as alt
import polars as pl
import pytest

import activity_toolkit as at
from activity_toolkit import charts as ch
from activity_toolkit.analysis import collect, params_of
from activity_toolkit.exceptions import ChartError
from tests._hostile import HOSTILE, hostile_log

STEPS = [
    "customer.publication.succeeded",
    "customer.redemption.succeeded",
    "customer.order.paid",
]
LOG = at.sample(customers=120, seed=5)


def _results(log: at.ActivityLog) -> dict[str, pl.DataFrame]:
    return {
        "funnel": at.funnel(log, STEPS, within="14d"),
        "funnel_by": at.funnel(log, STEPS, within="14d", by="campaign_type"),
        "funnel_units": at.funnel_units(log, STEPS, within="14d"),
        "funnel_trend": at.funnel_trend(log, STEPS, within="14d", period="month"),
        "coupon_funnel": at.coupon_funnel(log),
        "coupon_funnels": at.analysis.coupon_funnels(log, top=3),
        "retention": at.retention(log, period="month"),
        "retention_matrix": at.retention_matrix(log, period="month"),
        "tier_distribution": at.tier_distribution(log),
        "tier_transitions": at.tier_transitions(log),
        "time_in_tier": at.time_in_tier(log, output="curve"),
        "points_flows": at.points_flows(log),
        "breakage": at.breakage(log),
        "campaign_summary": at.campaign_summary(log),
        "activity_timeline": at.activity_timeline(log),
        "kpis": at.kpis(log),
    }


RESULTS = _results(LOG)


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    with ch.theme():
        return chart.to_dict()


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_every_result_draws_with_its_parameters_in_the_subtitle(name):
    result = RESULTS[name]
    spec = _spec(at.chart(result))
    text = json.dumps(spec)
    assert len(text) < 300_000
    params = params_of(result)
    subtitles = [v for k, v in _walk(spec) if k == "subtitle"]
    assert subtitles, "a chart states how its numbers were computed"
    flat = " ".join(s if isinstance(s, str) else " ".join(s) for s in subtitles)
    assert params.analysis in flat
    tooltips = [v for k, v in _walk(spec) if k == "tooltip"]
    assert tooltips, f"{name}: no tooltip anywhere"
    # the spec is valid JSON for a browser (no NaN) and renders offline to SVG marks
    json.dumps(spec, allow_nan=False)
    svg = ch.to_svg(at.chart(result))
    assert svg.startswith("<svg")
    assert svg.count("<path") + svg.count("<rect") > 3


def test_the_data_range_is_stated():
    lo, hi = LOG.events["created_at"].min(), LOG.events["created_at"].max()
    spec = _spec(at.chart(RESULTS["funnel"], data_range=(lo, hi)))
    assert f"data {lo:%Y-%m-%d} to {hi:%Y-%m-%d}" in json.dumps(spec)


def test_the_other_views_draw_too():
    for draw, key in [
        (ch.retention_curves, "retention"),
        (ch.retention_curves, "retention_matrix"),
        (ch.tier_migration, "tier_transitions"),
        (ch.liability_waterfall, "points_flows"),
    ]:
        assert ch.to_svg(draw(RESULTS[key])).startswith("<svg")


def test_a_funnel_breakdown_is_every_column_the_analysis_did_not_name():
    # derived frames carry no recorded ``by``: the chart tells the breakdown from
    # the analyses' own column lists, so a new result column cannot become a group
    grouped = RESULTS["funnel_by"].filter(pl.col("step") > 0)
    assert grouped.columns == ["campaign_type", *at.analysis.FUNNEL_COLUMNS]
    assert RESULTS["coupon_funnel"].columns == list(at.analysis.COUPON_FUNNEL_COLUMNS)

    def colour_fields(frame: pl.DataFrame) -> list[str]:
        spec = _spec(ch.funnel_chart(frame))
        return [
            v["field"]
            for k, v in _walk(spec)
            if k == "color" and isinstance(v, dict) and "field" in v
        ]

    assert colour_fields(grouped) == ["group"]
    assert colour_fields(RESULTS["funnel"].clone()) == []
    assert colour_fields(RESULTS["coupon_funnel"].clone()) == []


def _values(spec: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for k, v in _walk(spec):
        if k == "values" and isinstance(v, list):
            rows += [r for r in v if isinstance(r, dict)]
    for v in spec.get("datasets", {}).values():
        rows += v
    return rows


def test_retention_tells_a_true_zero_from_an_unobservable_cell():
    t0 = "2024-01-0{}T10:00:00"
    events = pl.DataFrame(
        {
            "customer_id": ["a", "b", "a", "c"],
            "type": ["x"] * 4,
            "created_at": pl.Series(
                [
                    t0.format(1),
                    t0.format(2),
                    "2024-02-20T00:00:00",
                    "2024-03-30T00:00:00",
                ]
            ).str.to_datetime(time_zone="UTC"),
        }
    )
    # cohort Jan: period 1 (Feb) has 1 of 2, period 2 (Mar) has 0 of 2 and is observed;
    # cohort Mar: period 0 only; the end (Mar 30) cuts March: it is incomplete
    result = at.retention(events, period="month")
    cells = ch.retention_long(result)
    jan = cells.filter(pl.col("cohort_label") == "2024-01").sort("period")
    assert jan["rate"].to_list() == [1.0, 0.5, 0.0]
    assert jan["state"].to_list() == ["observed", "observed", "incomplete"]
    spec = _spec(ch.retention_heatmap(result))
    texts = {
        (r["cohort_label"], r["period"]): r["text"]
        for r in _values(spec)
        if "text" in r
    }
    assert texts[("2024-01", 1)] == "50%"
    assert texts[("2024-01", 2)] == "0%*"  # lower bound, marked
    states = {r["state"] for r in _values(spec) if "state" in r}
    assert {"observed", "incomplete", "average"} <= states
    # the incomplete cells are drawn by their own grey layer, not the colour scale
    fills = [
        v.get("fill") for k, v in _walk(spec) if k == "mark" and isinstance(v, dict)
    ]
    assert "#BBBBBB" in fills


def test_a_matrix_null_is_incomplete_and_a_zero_stays_zero():
    m = RESULTS["retention_matrix"]
    cells = ch.retention_long(m)
    observed = cells.filter(pl.col("state") == "observed")
    assert observed["rate"].null_count() == 0
    assert (cells.filter(pl.col("state") == "incomplete")["rate"].is_null()).all()


def test_charts_embed_aggregates_only_and_refuse_raw_events():
    with pytest.raises(ChartError, match="more than a chart embeds"):
        ch.funnel_chart(
            pl.DataFrame(
                {
                    "step": range(6000),
                    "label": ["x"] * 6000,
                    "count": [1] * 6000,
                    "conversion": [1.0] * 6000,
                    "step_conversion": [1.0] * 6000,
                    "dropped": [0] * 6000,
                }
            )
        )
    # time to convert bins the units: the spec holds bins, not one row per unit
    spec = _spec(ch.time_to_convert(RESULTS["funnel_units"], bins=20))
    rows = _values(spec)
    assert 0 < len(rows) <= 2 * 20
    assert not any("customer_id" in r for r in rows)


def test_values_from_the_data_never_become_vega_expressions():
    results = _results(hostile_log())
    for name, result in results.items():
        spec = _spec(at.chart(result))
        code = [
            v
            for k, v in _walk(spec)
            if k in ("expr", "calculate", "test", "filter", "labelExpr")
            and isinstance(v, str)
        ]
        for text in code:
            assert not any(h[:12] in text for h in HOSTILE), (name, text)
        # the hostile names do reach the chart, as plain data values
    spec = _spec(at.chart(results["campaign_summary"]))
    assert any(HOSTILE[0] in str(r.get("campaign")) for r in _values(spec))


def test_misuse_raises_the_packages_chart_error():
    with pytest.raises(ChartError, match="no recorded analysis parameters"):
        at.chart(RESULTS["funnel"].head())
    lazy = at.funnel(LOG.events.lazy(), STEPS)
    with pytest.raises(ChartError, match="LazyFrame"):
        ch.funnel_chart(lazy)
    assert isinstance(at.chart(collect(lazy)), alt.TopLevelMixin)
    with pytest.raises(ChartError, match="lacks the columns"):
        ch.funnel_chart(pl.DataFrame({"step": [1]}))
    with pytest.raises(ChartError, match="output='curve'"):
        at.chart(at.time_in_tier(LOG))
    with pytest.raises(ChartError, match="no chart for"):
        at.chart(at.tier_spells(LOG))


def test_durations_become_numbers_with_their_unit_in_the_title():
    spec = _spec(ch.time_to_convert(RESULTS["funnel_units"]))
    titles = [v for k, v in _walk(spec) if k == "title" and isinstance(v, str)]
    assert any("time from previous step (" in t for t in titles)
    curve = _spec(ch.time_in_tier_chart(RESULTS["time_in_tier"]))
    assert any(v == "time in tier (days)" for k, v in _walk(curve) if k == "title")


def test_money_is_shown_in_major_units():
    summary = RESULTS["campaign_summary"]
    spec = _spec(ch.campaign_leaderboard(summary, currency="EUR"))
    rows = {r["campaign_id"]: r for r in _values(spec) if "revenue" in r}
    some = summary.filter(pl.col("order_revenue") > 0).row(0, named=True)
    assert rows[some["campaign_id"]]["revenue"] == pytest.approx(
        some["order_revenue"] / 100
    )
    assert "revenue (EUR)" in json.dumps(spec)


def test_fixed_sizes_never_container_width():
    for result in RESULTS.values():
        assert "container" not in json.dumps(_spec(at.chart(result)))


def test_the_theme_applies_only_inside_its_block():
    before = alt.theme.active
    with ch.theme():
        assert alt.theme.active == "activity_toolkit"
    assert alt.theme.active == before


def test_static_export_to_svg_and_png(tmp_path):
    c = at.chart(RESULTS["points_flows"])
    svg = ch.save(c, tmp_path / "flows.svg")
    png = ch.save(c, tmp_path / "flows.png", scale=1)
    assert svg.read_text().startswith("<svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ChartError, match=r"\.svg or \.png"):
        ch.save(c, tmp_path / "flows.pdf")


def test_static_setup_renders_svg_mimebundles():
    previous = alt.renderers.active
    try:
        ch.setup("static")
        bundle = at.chart(RESULTS["kpis"])._repr_mimebundle_()
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        assert data["image/svg+xml"].startswith("<svg")
        with pytest.raises(ChartError, match="mode="):
            ch.setup("web")  # type: ignore[arg-type]
    finally:
        alt.renderers.enable(previous)
        alt.theme.enable("default")


def test_importing_the_package_loads_neither_altair_nor_ipywidgets():
    code = (
        "import sys, activity_toolkit as at; at.funnel; "
        "print(sorted(m for m in ('altair', 'ipywidgets', 'vl_convert', 'pandas') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
    code = (
        "import sys, activity_toolkit as at; at.chart; print('altair' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "True"


def test_the_survival_chart_marks_the_median_by_the_summarys_rule():
    from datetime import timedelta

    days = [timedelta(days=x) for x in (5, 10, 20, 30)]
    curve = pl.DataFrame(
        {
            "tier_name": ["A"] * 4,
            "duration": pl.Series(days).cast(pl.Duration("ms")),
            "at_risk": [4, 3, 2, 1],
            "left": [1, 1, 1, 1],
            "censored": [0, 0, 0, 0],
            "survival": [0.75, 0.5, 0.25, 0.0],
        }
    )
    rows = [r for r in _values(_spec(ch.time_in_tier_chart(curve))) if "median" in r]
    assert {(r["tier_name"], r["median"]) for r in rows} == {("A", 15.0)}  # mid-flat
    assert any(r.get("label") == "A: median 15.0 days" for r in rows)


def test_the_survival_chart_medians_equal_the_summary_and_the_curve_is_thinned():
    curve = RESULTS["time_in_tier"]
    spec = _spec(ch.time_in_tier_chart(curve))
    drawn = {r["tier_name"]: r["median"] for r in _values(spec) if "median" in r}
    summary = at.time_in_tier(LOG)
    for tier, median in summary.select("tier_name", "median").iter_rows():
        assert drawn[tier] == pytest.approx(median.total_seconds() / 86_400)
    points = [r for r in _values(spec) if "survival" in r and "at_risk" in r]
    per_tier = pl.DataFrame(points).group_by("tier_name").len()["len"]
    assert per_tier.max() <= 2 * 150 + 2
    # a frame drawn by several layers is embedded once
    assert len(spec["datasets"]) == len(
        {json.dumps(v) for v in spec["datasets"].values()}
    )


def test_coupon_funnels_per_campaign_add_up_to_the_whole():
    per = RESULTS["coupon_funnels"]
    assert per["campaign_name"].n_unique() == 3
    for name in per["campaign_name"].unique():
        one = at.coupon_funnel(LOG, campaign=name)
        mine = per.filter(pl.col("campaign_name") == name)
        assert mine["count"].to_list() == one["count"].to_list()
    spec = json.dumps(_spec(at.chart(per)))
    assert "Coupon funnel by campaign" in spec
    assert "units: distinct customer_id + voucher_code" in spec
