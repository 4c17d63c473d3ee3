"""Loyalty tier charts: members per tier over time, migrations, flows, time in tier."""

from __future__ import annotations

from datetime import datetime

import altair as alt
import polars as pl

from activity_toolkit.charts._base import (
    HEIGHT,
    MUTED,
    PALETTE,
    SEQUENTIAL,
    WIDTH,
    duration_unit,
    frame_data,
    params_for,
    pct,
    period_label,
    require,
    title,
    utc_time,
)
from activity_toolkit.exceptions import ChartError

__all__ = [
    "tier_distribution_chart",
    "tier_flow",
    "tier_migration",
    "time_in_tier_chart",
]


def _tier_order(names: list[str]) -> list[str]:
    return sorted(dict.fromkeys(n for n in names if n is not None))


def tier_distribution_chart(
    result: pl.DataFrame,
    *,
    data_range: tuple[datetime, datetime] | None = None,
) -> alt.TopLevelMixin:
    """Members per tier at the end of each period, stacked; the last period is
    marked when it is not complete."""
    df = require(
        result,
        ["tier_name", "period", "members", "complete"],
        chart="tier_distribution_chart",
    )
    params = params_for(result)
    period = params.get("period") if params is not None else None
    data = (
        df.group_by("tier_name", "period")
        .agg(pl.col("members").sum(), pl.col("complete").all())
        .with_columns(
            period_label("period", period).alias("period_label"),
            pl.col("tier_name").fill_null("(unnamed)"),
        )
        .sort("period", "tier_name")
    )
    tiers = _tier_order(data["tier_name"].to_list())
    base = alt.Chart(frame_data(data, chart="tier_distribution_chart"))
    area = base.mark_area(opacity=0.85, interpolate="step-after").encode(
        x=utc_time("period", "period"),
        y=alt.Y("members:Q", stack="zero", title="members at period end"),
        color=alt.Color("tier_name:N", title="tier", sort=tiers),
        order=alt.Order("tier_name:N"),
        tooltip=[
            alt.Tooltip("period_label:N", title="period"),
            alt.Tooltip("tier_name:N", title="tier"),
            alt.Tooltip("members:Q", format=","),
            alt.Tooltip("complete:N"),
        ],
    )
    open_period = (
        base.transform_filter(alt.FieldEqualPredicate(field="complete", equal=False))
        .mark_rule(color=MUTED, strokeDash=[4, 3])
        .encode(
            x="period:T",
            tooltip=[alt.Tooltip("period_label:N", title="period not complete")],
        )
    )
    return alt.layer(area, open_period).properties(
        width=WIDTH,
        height=HEIGHT,
        title=title(
            "Members per tier",
            result,
            data_range=data_range,
            extra=["dashed line: the period still running when the data ends"],
        ),
    )


def _transitions(result: pl.DataFrame, chart: str) -> pl.DataFrame:
    df = require(result, ["from_tier", "to_tier", "count"], chart=chart)
    return (
        df.group_by(
            pl.col("from_tier").fill_null("(none)"),
            pl.col("to_tier").fill_null("(none)"),
        )
        .agg(pl.col("count").sum())
        .filter(pl.col("count") > 0)
        .with_columns(
            (pl.col("count") / pl.col("count").sum().over("from_tier")).alias("share")
        )
        .sort("from_tier", "to_tier")
    )


def tier_migration(
    result: pl.DataFrame,
    *,
    data_range: tuple[datetime, datetime] | None = None,
) -> alt.TopLevelMixin:
    """The from → to matrix of tier transitions: count and share of the row."""
    data = _transitions(result, "tier_migration")
    if data.height == 0:
        msg = "tier_migration: no transition in the result; nothing to draw"
        raise ChartError(msg)
    data = data.with_columns((pl.col("share") > 0.55).alias("dark"))
    base = alt.Chart(frame_data(data, chart="tier_migration")).encode(
        x=alt.X("to_tier:N", title="to", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("from_tier:N", title="from"),
    )
    tooltip = [
        alt.Tooltip("from_tier:N", title="from"),
        alt.Tooltip("to_tier:N", title="to"),
        alt.Tooltip("count:Q", format=","),
        pct("share", "share of the row"),
    ]
    rect = base.mark_rect(stroke="white").encode(
        color=alt.Color(
            "share:Q",
            title="share of row",
            scale=alt.Scale(scheme=SEQUENTIAL, domain=[0, 1]),
            legend=alt.Legend(format="%"),
        ),
        tooltip=tooltip,
    )
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text("count:Q", format=","),
        color=alt.condition(
            alt.FieldEqualPredicate(field="dark", equal=True),
            alt.value("white"),
            alt.value("#222222"),
        ),
        tooltip=tooltip,
    )
    rows = data["from_tier"].n_unique()
    cols = data["to_tier"].n_unique()
    return alt.layer(rect, text).properties(
        width=min(90 * cols, 640),
        height=min(40 * rows, 400),
        title=title(
            "Tier migrations",
            result,
            data_range=data_range,
            extra=["cells: transitions; colour: share of the from-tier's transitions"],
        ),
    )


def _bands(data: pl.DataFrame, steps: int = 24) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Alluvial geometry computed in Polars: node boxes on both sides and one smooth
    band per (from, to) pair, as (x, y0, y1) samples for an area mark."""
    total = float(data["count"].sum())
    gap = total * 0.02
    left = data.group_by("from_tier").agg(pl.col("count").sum()).sort("from_tier")
    right = data.group_by("to_tier").agg(pl.col("count").sum()).sort("to_tier")

    def stack(nodes: pl.DataFrame, name: str) -> pl.DataFrame:
        return (
            nodes.with_columns(
                (
                    pl.col("count").cum_sum()
                    - pl.col("count")
                    + pl.int_range(pl.len()) * gap
                ).alias("y0")
            )
            .with_columns((pl.col("y0") + pl.col("count")).alias("y1"))
            .rename({name: "node"})
        )

    lnodes = stack(left, "from_tier").with_columns(
        pl.lit("from").alias("side"), pl.lit(0.0).alias("x")
    )
    rnodes = stack(right, "to_tier").with_columns(
        pl.lit("to").alias("side"), pl.lit(1.0).alias("x")
    )
    # each band's slice of its source node (ordered by target) and of its target node
    flows = (
        data.sort("from_tier", "to_tier")
        .with_columns(
            (pl.col("count").cum_sum().over("from_tier") - pl.col("count")).alias("_lo")
        )
        .join(
            lnodes.select(pl.col("node").alias("from_tier"), pl.col("y0").alias("_ly")),
            on="from_tier",
        )
        .sort("to_tier", "from_tier")
        .with_columns(
            (pl.col("count").cum_sum().over("to_tier") - pl.col("count")).alias("_ro")
        )
        .join(
            rnodes.select(pl.col("node").alias("to_tier"), pl.col("y0").alias("_ry")),
            on="to_tier",
        )
        .with_columns(
            (pl.col("_ly") + pl.col("_lo")).alias("ly0"),
            (pl.col("_ry") + pl.col("_ro")).alias("ry0"),
            pl.concat_str(
                [pl.col("from_tier"), pl.lit(" → "), pl.col("to_tier")]
            ).alias("band"),
        )
    )
    t = pl.DataFrame({"t": [i / (steps - 1) for i in range(steps)]})
    smooth = pl.col("t") * pl.col("t") * (3 - 2 * pl.col("t"))  # smoothstep
    bands = (
        flows.join(t, how="cross")
        .with_columns(
            (pl.col("t") * 0.9 + 0.05).alias("x"),
            (pl.col("ly0") + (pl.col("ry0") - pl.col("ly0")) * smooth).alias("y0"),
        )
        .with_columns((pl.col("y0") + pl.col("count")).alias("y1"))
        .select("band", "from_tier", "to_tier", "count", "share", "x", "y0", "y1")
    )
    nodes = pl.concat(
        [
            lnodes.with_columns(pl.lit(0.0).alias("x0"), pl.lit(0.05).alias("x1")),
            rnodes.with_columns(pl.lit(0.95).alias("x0"), pl.lit(1.0).alias("x1")),
        ]
    ).select("side", "node", "count", "y0", "y1", "x0", "x1")
    return bands, nodes


def tier_flow(
    result: pl.DataFrame,
    *,
    data_range: tuple[datetime, datetime] | None = None,
) -> alt.TopLevelMixin:
    """An alluvial view of tier transitions: members flow from the tier they left
    (left) to the tier they entered (right); band width = transitions. Vega-Lite has
    no Sankey, so the bands are computed here and drawn as areas."""
    data = _transitions(result, "tier_flow")
    if data.height == 0:
        msg = "tier_flow: no transition in the result; nothing to draw"
        raise ChartError(msg)
    bands, nodes = _bands(data)
    tiers = _tier_order([*data["from_tier"].to_list(), *data["to_tier"].to_list()])
    colour = alt.Scale(
        domain=tiers, range=[PALETTE[i % len(PALETTE)] for i in range(len(tiers))]
    )
    y = alt.Y("y0:Q", axis=None, scale=alt.Scale(reverse=True))
    area = (
        alt.Chart(frame_data(bands, chart="tier_flow"))
        .mark_area(opacity=0.45, interpolate="monotone")
        .encode(
            x=alt.X("x:Q", axis=None, scale=alt.Scale(domain=[0, 1])),
            y=y,
            y2="y1:Q",
            detail="band:N",
            color=alt.Color("from_tier:N", scale=colour, title="from tier"),
            tooltip=[
                alt.Tooltip("from_tier:N", title="from"),
                alt.Tooltip("to_tier:N", title="to"),
                alt.Tooltip("count:Q", title="transitions", format=","),
                pct("share", "share of the from-tier"),
            ],
        )
    )
    node_base = alt.Chart(frame_data(nodes, chart="tier_flow"))
    boxes = node_base.mark_rect(stroke="white").encode(
        x="x0:Q",
        x2="x1:Q",
        y=alt.Y("y0:Q", axis=None, scale=alt.Scale(reverse=True)),
        y2="y1:Q",
        color=alt.Color("node:N", scale=colour, legend=None),
        tooltip=[
            alt.Tooltip("side:N"),
            alt.Tooltip("node:N", title="tier"),
            alt.Tooltip("count:Q", format=","),
        ],
    )
    mid = node_base.transform_calculate(ym="(datum.y0 + datum.y1) / 2")
    left_labels = (
        mid.transform_filter(alt.FieldEqualPredicate(field="side", equal="from"))
        .mark_text(align="right", dx=-6, fontSize=11)
        .encode(
            x="x0:Q",
            y=alt.Y("ym:Q", axis=None, scale=alt.Scale(reverse=True)),
            text="node:N",
        )
    )
    right_labels = (
        mid.transform_filter(alt.FieldEqualPredicate(field="side", equal="to"))
        .mark_text(align="left", dx=6, fontSize=11)
        .encode(
            x="x1:Q",
            y=alt.Y("ym:Q", axis=None, scale=alt.Scale(reverse=True)),
            text="node:N",
        )
    )
    return alt.layer(area, boxes, left_labels, right_labels).properties(
        width=WIDTH,
        height=HEIGHT + 60,
        title=title(
            "Tier flows",
            result,
            data_range=data_range,
            extra=[
                "left: tier before the transition ('none': joined); right: tier after it ('left': left the programme)"
            ],
        ),
    )


#: Points per tier a survival curve keeps (steps finer than 1/150 are merged).
_CURVE_POINTS = 150


def _thin(curve: pl.DataFrame, group: str, points: int) -> pl.DataFrame:
    """At most about ``points`` rows per group: rows with censoring or a survival
    change of at least 1/points are kept, the rest merged into the next kept row."""
    n = curve.group_by(group).len()
    if n["len"].max() <= points:  # type: ignore[operator]
        return curve
    step = 1.0 / points
    return (
        curve.with_columns((pl.col("survival") / step).floor().alias("_b"))
        .group_by(group, "_b", maintain_order=True)
        .agg(
            pl.all().exclude("left", "censored").last(),
            pl.col("left").sum(),
            pl.col("censored").sum(),
        )
        .drop("_b")
    )


def time_in_tier_chart(
    curve: pl.DataFrame,
    *,
    data_range: tuple[datetime, datetime] | None = None,
    at_risk_every: int | None = None,
) -> alt.TopLevelMixin:
    """Kaplan-Meier step curves of time in tier, one per tier, with the confidence
    band (when the curve has ``lower``/``upper``), ticks where spells were censored,
    the median marked, and the number at risk below."""
    df = require(
        curve,
        ["tier_name", "duration", "at_risk", "survival", "censored"],
        chart="time_in_tier_chart",
    )
    if df.height == 0:
        msg = "time_in_tier_chart: the curve is empty; nothing to draw"
        raise ChartError(msg)
    unit, per = duration_unit(df["duration"].dt.total_milliseconds().max())  # type: ignore[arg-type]
    has_ci = "lower" in df.columns and "upper" in df.columns
    cols = [
        "tier_name",
        "duration",
        "at_risk",
        "survival",
        "left",
        "censored",
        *(["lower", "upper"] if has_ci else []),
    ]
    work = df.select(pl.col("tier_name").fill_null("(unnamed)"), *cols[1:]).sort(
        "tier_name", "duration"
    )
    # every curve starts at (0, 1)
    starts = (
        work.group_by("tier_name")
        .agg(pl.col("at_risk").max())
        .with_columns(
            pl.duration(milliseconds=0).cast(pl.Duration("ms")).alias("duration"),
            pl.lit(1.0).alias("survival"),
            pl.lit(0, dtype=pl.Int64).alias("left"),
            pl.lit(0, dtype=pl.Int64).alias("censored"),
            *(
                [pl.lit(1.0).alias("lower"), pl.lit(1.0).alias("upper")]
                if has_ci
                else []
            ),
        )
        .select(cols)
    )
    work = pl.concat([starts, work.select(cols)], how="vertical_relaxed").sort(
        "tier_name", "duration"
    )
    full = work.with_columns(
        (pl.col("duration").dt.total_milliseconds() / per).alias("t")
    )
    work = _thin(work, "tier_name", _CURVE_POINTS).with_columns(
        (pl.col("duration").dt.total_milliseconds() / per).round(3).alias("t"),
        *(
            pl.col(c).round(4)
            for c in ("survival", "lower", "upper")
            if c in work.columns
        ),
    )
    tiers = _tier_order(work["tier_name"].to_list())
    colour = alt.Color("tier_name:N", title="tier", sort=tiers)
    plot = work.drop("duration", "left")
    base = alt.Chart(frame_data(plot, chart="time_in_tier_chart"))
    x = alt.X("t:Q", title=f"time in tier ({unit})")
    tooltip = [
        alt.Tooltip("tier_name:N", title="tier"),
        alt.Tooltip("t:Q", title=unit, format=".1f"),
        pct("survival", "still in tier"),
        alt.Tooltip("at_risk:Q", title="at risk", format=","),
    ]
    layers: list[alt.Chart] = []
    if has_ci:
        layers.append(
            base.mark_area(opacity=0.15, interpolate="step-after").encode(
                x=x, y="lower:Q", y2="upper:Q", color=colour
            )
        )
    layers.append(
        base.mark_line(interpolate="step-after").encode(
            x=x,
            y=alt.Y(
                "survival:Q",
                title="share still in tier",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            color=colour,
            tooltip=tooltip,
        )
    )
    layers.append(
        base.transform_filter(alt.FieldGTPredicate(field="censored", gt=0))
        .mark_tick(thickness=1, size=8, opacity=0.7)
        .encode(
            x=x,
            y="survival:Q",
            color=colour,
            tooltip=[*tooltip, alt.Tooltip("censored:Q", title="censored here")],
        )
    )
    # medians by R survival's rule (as time_in_tier's summary): the first time the
    # curve is at or below 0.5, or the midpoint of a stretch where it sits on 0.5
    eps = 1.5e-8
    at_or_below = full.filter(pl.col("survival") <= 0.5 + eps)  # before thinning
    first = at_or_below.group_by("tier_name").agg(
        pl.col("t").min().alias("t0"), pl.col("survival").first().alias("s0")
    )
    after = at_or_below.join(first, on="tier_name").filter(
        (pl.col("t") > pl.col("t0")) & (pl.col("survival") < 0.5 - eps)
    )
    next_drop = after.group_by("tier_name").agg(pl.col("t").min().alias("t1"))
    medians = first.join(next_drop, on="tier_name", how="left").select(
        "tier_name",
        pl.when(((pl.col("s0") - 0.5).abs() <= eps) & pl.col("t1").is_not_null())
        .then((pl.col("t0") + pl.col("t1")) / 2)
        .otherwise(pl.col("t0"))
        .alias("median"),
    )
    if medians.height:
        labelled = medians.sort("tier_name").with_columns(
            pl.concat_str(
                [
                    pl.col("tier_name"),
                    pl.lit(": median "),
                    pl.col("median").round(1).cast(pl.String),
                    pl.lit(f" {unit}"),
                ]
            ).alias("label"),
            (0.97 - 0.06 * pl.int_range(pl.len())).alias("label_y"),
        )
        layers.append(
            alt.Chart(frame_data(labelled, chart="time_in_tier_chart"))
            .mark_text(align="left", dx=4, fontSize=11)
            .encode(x="median:Q", y="label_y:Q", text="label:N", color=colour)
        )
        layers.append(
            alt.Chart(frame_data(medians, chart="time_in_tier_chart"))
            .mark_rule(strokeDash=[3, 3])
            .encode(
                x="median:Q",
                color=colour,
                tooltip=[
                    alt.Tooltip("tier_name:N", title="tier"),
                    alt.Tooltip("median:Q", title=f"median ({unit})", format=".1f"),
                ],
            )
        )
    layers.append(
        alt.Chart(frame_data(pl.DataFrame({"y": [0.5]}), chart="time_in_tier_chart"))
        .mark_rule(color=MUTED, strokeDash=[2, 4])
        .encode(y="y:Q")
    )
    curves = alt.layer(*layers).properties(width=WIDTH, height=HEIGHT)
    # number at risk at round times
    t_max = float(work["t"].max())  # type: ignore[arg-type]
    every = at_risk_every or max(1, round(t_max / 6))
    grid = pl.DataFrame(
        {"t": [float(i * every) for i in range(int(t_max // every) + 1)]}
    )
    at_risk = (
        grid.join(work.select("tier_name").unique(), how="cross")
        .sort("t")
        .join_asof(
            work.select("tier_name", "t", "at_risk", "left", "censored").sort("t"),
            on="t",
            by="tier_name",
            strategy="forward",
            check_sortedness=False,
        )
        .with_columns(pl.col("at_risk").fill_null(0))
    )
    risk = (
        alt.Chart(frame_data(at_risk, chart="time_in_tier_chart"))
        .mark_text(fontSize=10, align="left", dx=2)
        .encode(
            x=alt.X("t:Q", title=None, scale=alt.Scale(domain=[0, t_max])),
            y=alt.Y(
                "tier_name:N",
                sort=tiers,
                title="at risk",
                axis=alt.Axis(labelPadding=16),
            ),
            text=alt.Text("at_risk:Q", format=","),
            color=alt.Color("tier_name:N", sort=tiers, legend=None),
        )
        .properties(width=WIDTH, height=16 * len(tiers) + 10)
    )
    extra = [
        "closed spell = left the tier; open spells censored at the end of observation (ticks)",
        "dashed: median (first time at or below 50%; the middle of a stretch exactly on 50%)",
        *(
            ["band: pointwise confidence interval (Greenwood, log-log)"]
            if has_ci
            else []
        ),
    ]
    return alt.vconcat(curves, risk, spacing=6).properties(
        title=title(
            "Time in tier (Kaplan-Meier)",
            curve,
            data_range=data_range,
            extra=extra,
            skip={"output": "curve"},
        )
    )
