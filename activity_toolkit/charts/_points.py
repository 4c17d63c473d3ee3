"""Points charts: flows per period with the net line, the liability waterfall,
breakage over time."""

from __future__ import annotations

from datetime import datetime

import altair as alt
import polars as pl

from activity_toolkit.charts._base import (
    HEIGHT,
    MUTED,
    PALETTE,
    WIDTH,
    frame_data,
    params_for,
    pct,
    period_label,
    require,
    title,
    utc_time,
)

__all__ = ["breakage_chart", "liability_waterfall", "points_flows_chart"]

_FLOW_SIGNS = (
    ("earned", 1, PALETTE[2]),
    ("transferred_in", 1, PALETTE[5]),
    ("spent", -1, PALETTE[0]),
    ("expired", -1, PALETTE[3]),
    ("transferred_out", -1, PALETTE[4]),
)


#: What the flow charts read of a points_flows result.
_FLOWS_COLUMNS = ("period", *(name for name, _, _ in _FLOW_SIGNS), "net")


def _by_period(df: pl.DataFrame) -> pl.DataFrame:
    """Flows summed over any breakdown columns."""
    flows = [name for name, _, _ in _FLOW_SIGNS] + ["net"]
    return df.group_by("period").agg(pl.col(flows).sum()).sort("period")


def points_flows_chart(
    result: pl.DataFrame,
    *,
    data_range: tuple[datetime, datetime] | None = None,
) -> alt.TopLevelMixin:
    """Points earned and transferred in (up) against spent, expired and transferred
    out (down) per period, with the net change as a line."""
    df = require(
        result,
        _FLOWS_COLUMNS,
        chart="points_flows_chart",
    )
    params = params_for(result)
    period = params.get("period") if params is not None else None
    wide = _by_period(df).with_columns(
        period_label("period", period).alias("period_label")
    )
    long = wide.unpivot(
        index=["period", "period_label"],
        on=[n for n, _, _ in _FLOW_SIGNS],
        variable_name="flow",
        value_name="points",
    ).with_columns(
        (
            pl.col("points")
            * pl.col("flow").replace_strict(
                {n: s for n, s, _ in _FLOW_SIGNS}, return_dtype=pl.Int64
            )
        ).alias("signed")
    )
    colour = alt.Color(
        "flow:N",
        title="flow",
        scale=alt.Scale(
            domain=[n for n, _, _ in _FLOW_SIGNS], range=[c for _, _, c in _FLOW_SIGNS]
        ),
        sort=[n for n, _, _ in _FLOW_SIGNS],
    )
    x = alt.X(
        "period_label:O", title="period", sort=None, axis=alt.Axis(labelAngle=-45)
    )
    bars = (
        alt.Chart(frame_data(long, chart="points_flows_chart"))
        .mark_bar(opacity=0.9)
        .encode(
            x=x,
            y=alt.Y("signed:Q", title="points (credits up, debits down)", stack="zero"),
            color=colour,
            order=alt.Order("flow:N"),
            tooltip=[
                alt.Tooltip("period_label:N", title="period"),
                alt.Tooltip("flow:N"),
                alt.Tooltip("points:Q", format=","),
            ],
        )
    )
    net_data = frame_data(
        wide.select("period", "period_label", "net"), chart="points_flows_chart"
    )
    net = (
        alt.Chart(net_data)
        .mark_line(
            color="#111111",
            strokeWidth=2,
            point=alt.OverlayMarkDef(color="#111111", size=25),
        )
        .encode(
            x=x,
            y="net:Q",
            tooltip=[
                alt.Tooltip("period_label:N", title="period"),
                alt.Tooltip("net:Q", title="net change", format=","),
            ],
        )
    )
    return alt.layer(bars, net).properties(
        width=WIDTH,
        height=HEIGHT,
        title=title(
            "Points flows",
            result,
            data_range=data_range,
            extra=["black line: net change of all balances; spent is net of rollbacks"],
        ),
    )


def liability_waterfall(
    result: pl.DataFrame,
    *,
    data_range: tuple[datetime, datetime] | None = None,
) -> alt.TopLevelMixin:
    """From points earned to points outstanding: earned, + transferred in, - spent,
    - expired, - transferred out = outstanding, over the whole result."""
    df = require(
        result,
        _FLOWS_COLUMNS,
        chart="liability_waterfall",
    )
    totals = _by_period(df).select(pl.exclude("period").sum()).row(0, named=True)
    steps = [
        ("earned", totals["earned"]),
        ("transferred in", totals["transferred_in"]),
        ("spent", -totals["spent"]),
        ("expired", -totals["expired"]),
        ("transferred out", -totals["transferred_out"]),
    ]
    rows = []
    level = 0
    for i, (name, delta) in enumerate(steps):
        rows.append(
            {
                "i": i,
                "step": name,
                "start": level,
                "end": level + delta,
                "points": abs(delta),
                "kind": "credit" if delta >= 0 else "debit",
            }
        )
        level += delta
    rows.append(
        {
            "i": len(steps),
            "step": "outstanding",
            "start": 0,
            "end": level,
            "points": level,
            "kind": "total",
        }
    )
    data = pl.DataFrame(rows)
    order = data["step"].to_list()
    base = alt.Chart(frame_data(data, chart="liability_waterfall"))
    x = alt.X("step:N", sort=order, title=None, axis=alt.Axis(labelAngle=0))
    bars = base.mark_bar(size=48).encode(
        x=x,
        y=alt.Y("start:Q", title="points"),
        y2="end:Q",
        color=alt.Color(
            "kind:N",
            scale=alt.Scale(
                domain=["credit", "debit", "total"],
                range=[PALETTE[2], PALETTE[3], PALETTE[0]],
            ),
            title=None,
        ),
        tooltip=[alt.Tooltip("step:N"), alt.Tooltip("points:Q", format=",")],
    )
    labels = (
        base.mark_text(dy=-6, fontSize=11)
        .encode(x=x, y=alt.Y("top:Q"), text=alt.Text("points:Q", format=","))
        .transform_calculate(top="max(datum.start, datum.end)")
    )
    return alt.layer(bars, labels).properties(
        width=WIDTH,
        height=HEIGHT,
        title=title(
            "Points liability waterfall",
            result,
            data_range=data_range,
            extra=[
                "outstanding = points earned inside the data and not yet spent, expired or transferred out"
            ],
        ),
    )


def breakage_chart(
    result: pl.DataFrame,
    *,
    data_range: tuple[datetime, datetime] | None = None,
) -> alt.TopLevelMixin:
    """Realised and lifetime breakage per earning cohort; hollow points are cohorts
    whose points are not settled yet (the rates can still change)."""
    df = require(
        result,
        ["cohort", "earned", "realised_breakage", "lifetime_breakage", "settled"],
        chart="breakage_chart",
    )
    params = params_for(result)
    period = params.get("period") if params is not None else None
    long = df.with_columns(
        period_label("cohort", period).alias("cohort_label")
    ).unpivot(
        index=["cohort", "cohort_label", "earned", "settled"],
        on=["realised_breakage", "lifetime_breakage"],
        variable_name="rate",
        value_name="breakage",
    )
    colour = alt.Color(
        "rate:N",
        title=None,
        scale=alt.Scale(
            domain=["realised_breakage", "lifetime_breakage"],
            range=[PALETTE[3], PALETTE[0]],
        ),
    )
    base = alt.Chart(frame_data(long, chart="breakage_chart")).encode(
        x=utc_time("cohort", "earning cohort")
    )
    tooltip = [
        alt.Tooltip("cohort_label:N", title="cohort"),
        alt.Tooltip("rate:N"),
        pct("breakage", "breakage"),
        alt.Tooltip("earned:Q", format=","),
        alt.Tooltip("settled:N"),
    ]
    line = base.mark_line().encode(
        y=alt.Y("breakage:Q", title="breakage", axis=alt.Axis(format="%")), color=colour
    )
    hollow = base.mark_point(size=40, filled=False, strokeWidth=2).encode(
        y="breakage:Q", color=colour, tooltip=tooltip
    )
    solid = (
        base.transform_filter(alt.FieldEqualPredicate(field="settled", equal=True))
        .mark_point(size=40, filled=True)
        .encode(y="breakage:Q", color=colour, tooltip=tooltip)
    )
    points = alt.layer(hollow, solid)
    return alt.layer(line, points).properties(
        width=WIDTH,
        height=HEIGHT,
        title=title(
            "Breakage by earning cohort",
            result,
            data_range=data_range,
            extra=[
                "realised = expired ÷ earned; lifetime = (earned - spent) ÷ earned, an upper bound while points are outstanding",
                "hollow: cohort not settled yet",
            ],
        ),
    )


_ = MUTED
