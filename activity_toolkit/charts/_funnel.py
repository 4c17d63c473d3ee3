"""Funnel charts: steps with conversion and drop-off, time to convert, conversion
over time, and the coupon funnel with its failure reasons."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import altair as alt
import polars as pl

from activity_toolkit.analysis import COUPON_FUNNEL_COLUMNS, FUNNEL_COLUMNS
from activity_toolkit.charts._base import (
    HEIGHT,
    MUTED,
    PALETTE,
    WIDTH,
    duration_unit,
    frame_data,
    params_for,
    pct,
    period_label,
    require,
    title,
    to_unit,
)
from activity_toolkit.exceptions import ChartError

__all__ = [
    "PICK",
    "coupon_funnel_chart",
    "coupon_funnels_chart",
    "failure_reasons",
    "funnel_chart",
    "funnel_trend_chart",
    "time_to_convert",
]

#: Every column of a funnel or coupon funnel result but its breakdown.
_FUNNEL_COLUMNS = frozenset(FUNNEL_COLUMNS) | frozenset(COUPON_FUNNEL_COLUMNS)
_SKIP = {"mode": "ordered", "entry": "first", "key": "customer_id"}


#: Name of the step selection of ``funnel_chart(pick=True)``.
PICK = "step_pick"


def _pick() -> alt.Parameter:
    return alt.selection_point(name=PICK, fields=["step"], on="click", clear="dblclick")


def _steps_frame(df: pl.DataFrame, by: list[str]) -> tuple[pl.DataFrame, str]:
    """The columns the bar chart shows, with the median step time in one unit."""
    has_time = "median_time_from_previous" in df.columns
    unit, per = duration_unit(
        df["median_time_from_previous"].dt.total_milliseconds().max()  # type: ignore[arg-type]
        if has_time
        else None
    )
    cols = [
        *[pl.col(c).cast(pl.String).fill_null("(none)") for c in by],
        "step",
        pl.concat_str(
            [pl.col("step").cast(pl.String), pl.lit(". "), pl.col("label")]
        ).alias("step_name"),
        "count",
        "conversion",
        "step_conversion",
        pl.col("dropped").fill_null(0),
        (
            to_unit("median_time_from_previous", per)
            if has_time
            else pl.lit(None, dtype=pl.Float64)
        ).alias("median_prev"),
    ]
    out = df.select(cols)
    if by:
        out = out.with_columns(pl.concat_str(by, separator=" / ").alias("group"))
    return out, unit


def funnel_chart(
    result: pl.DataFrame,
    *,
    relative: bool = False,
    data_range: tuple[datetime, datetime] | None = None,
    title_text: str = "Funnel",
    pick: bool = False,
) -> alt.TopLevelMixin:
    """Bars per step with count, overall and step-to-step conversion and drop-off.

    A radio button under the chart switches between conversion from step 1
    (overall) and from the previous step (relative); ``relative`` sets where it
    starts. With ``by=`` the steps are grouped bars, one colour per group.

    Parameters
    ----------
    result
        The frame :func:`~activity_toolkit.funnel` (or
        :func:`~activity_toolkit.coupon_funnel`) returned.
    relative
        Start on step-to-step conversion instead of overall conversion.
    data_range
        First and last event time of the data, shown in the subtitle.
    title_text
        The chart title.
    pick
        Make a click on a bar select its step: a point selection named
        :data:`PICK` over the ``step`` field (the funnel explorer listens to it).
    """
    df = require(
        result,
        ["step", "label", "count", "conversion", "step_conversion", "dropped"],
        chart="funnel_chart",
    )
    by = [c for c in df.columns if c not in _FUNNEL_COLUMNS]
    data, unit = _steps_frame(df, by)
    view = alt.param(
        name="conversion_view",
        value="relative" if relative else "overall",
        bind=alt.binding_radio(
            options=["overall", "relative"],
            labels=["from step 1", "from the previous step"],
            name="Conversion ",
        ),
    )
    base = alt.Chart(frame_data(data, chart="funnel_chart")).transform_calculate(
        shown="conversion_view == 'relative' ? datum.step_conversion : datum.conversion"
    )
    x = alt.X(
        "step_name:N",
        sort=alt.EncodingSortField("step"),
        title=None,
        axis=alt.Axis(
            labelAngle=0, labelLimit=max(120, WIDTH // max(1, df["step"].n_unique()))
        ),
    )
    tooltip = [
        alt.Tooltip("step_name:N", title="step"),
        *[alt.Tooltip(f"{c}:N") for c in by],
        alt.Tooltip("count:Q", title="units", format=","),
        pct("conversion", "conversion from step 1"),
        pct("step_conversion", "conversion from previous step"),
        alt.Tooltip("dropped:Q", title="dropped since previous step", format=","),
        alt.Tooltip(
            "median_prev:Q", title=f"median time from previous ({unit})", format=".1f"
        ),
    ]
    y = alt.Y(
        "shown:Q",
        title="conversion",
        axis=alt.Axis(format="%"),
        scale=alt.Scale(domain=[0, 1]),
    )
    if by:
        bars = base.mark_bar().encode(
            x=x,
            xOffset=alt.XOffset("group:N"),
            y=y,
            color=alt.Color("group:N", title=" / ".join(by)),
            tooltip=tooltip,
        )
        if pick:
            bars = bars.add_params(_pick())
        layers = [bars]
    else:
        ghost = base.mark_bar(color="#EEEEEE").encode(
            x=x, y=alt.datum(1), tooltip=tooltip
        )
        bars = base.mark_bar(color=PALETTE[0]).encode(x=x, y=y, tooltip=tooltip)
        label = base.mark_text(dy=-8, fontSize=12, fontWeight=600).encode(
            x=x,
            y="shown:Q",
            text=alt.Text("shown:Q", format=".1%"),
        )
        count = base.mark_text(dy=8, fontSize=11, color="white", baseline="top").encode(
            x=x, y="shown:Q", text=alt.Text("count:Q", format=",")
        )
        drop = (
            base.transform_filter(alt.FieldGTPredicate(field="dropped", gt=0))
            .mark_text(y=6, baseline="top", fontSize=11, color=PALETTE[3])
            .encode(x=x, text=alt.Text("dropped:Q", format=","))
            .transform_calculate(
                dropped_label="'-' + format(datum.dropped, ',') + ' dropped'"
            )
            .encode(text="dropped_label:N")
        )
        if pick:
            bars = bars.add_params(_pick())
        layers = [ghost, bars, label, count, drop]
    params = params_for(result)
    key = params.get("key", "customer_id") if params is not None else "customer_id"
    key_text = key if isinstance(key, str) else " + ".join(key)
    extra = [f"units: distinct {key_text}"]
    return (
        alt.layer(*layers)
        .add_params(view)
        .properties(
            width=WIDTH,
            height=HEIGHT,
            title=title(
                title_text,
                result,
                data_range=data_range,
                skip=_SKIP,
                extra=extra,
            ),
        )
    )


def time_to_convert(
    units: pl.DataFrame,
    *,
    bins: int = 30,
    data_range: tuple[datetime, datetime] | None = None,
) -> alt.TopLevelMixin:
    """Histogram of the time from each step to the next, with median and p90.

    Parameters
    ----------
    units
        The frame :func:`~activity_toolkit.funnel_units` returned (``step_k_at``
        columns). Only these per-step durations are binned: the chart embeds bins,
        never units.
    bins
        Bins per step, equal width from 0 to the 99th percentile (longer times go
        in the last bin).
    """
    df = require(units, ["furthest_step", "step_1_at"], chart="time_to_convert")
    steps = sorted(
        int(c[5:-3]) for c in df.columns if c.startswith("step_") and c.endswith("_at")
    )
    if len(steps) < 2:
        msg = "time_to_convert: the funnel has one step; there is no time to convert"
        raise ChartError(msg)
    params = params_for(units)
    labels = (
        [str(s) for s in params["steps"]]
        if params is not None
        else [str(s) for s in steps]
    )
    long = pl.concat(
        [
            df.select(
                pl.lit(
                    f"{k - 1} → {k}: {labels[k - 1] if k - 1 < len(labels) else k}"
                ).alias("transition"),
                pl.lit(k).alias("k"),
                (pl.col(f"step_{k}_at") - pl.col(f"step_{k - 1}_at"))
                .dt.total_milliseconds()
                .alias("ms"),
            ).drop_nulls("ms")
            for k in steps[1:]
        ]
    )
    if long.height == 0:
        msg = "time_to_convert: no unit reached step 2; nothing to draw"
        raise ChartError(msg)
    unit, per = duration_unit(long["ms"].quantile(0.9))
    long = long.with_columns((pl.col("ms") / per).alias("t"))
    stats = long.group_by("transition", "k").agg(
        pl.col("t").median().alias("median"),
        pl.col("t").quantile(0.9, "linear").alias("p90"),
        pl.col("t").quantile(0.99, "linear").alias("_hi"),
        pl.len().alias("converted"),
    )
    long = long.join(stats, on=["transition", "k"]).with_columns(
        (pl.col("_hi") / bins).alias("_w")
    )
    hist = (
        long.with_columns(
            pl.when(pl.col("_w") > 0)
            .then((pl.col("t") / pl.col("_w")).floor().clip(0, bins - 1))
            .otherwise(0)
            .cast(pl.Int64)
            .alias("bin")
        )
        .group_by("transition", "k", "bin")
        .agg(
            pl.len().alias("units"),
            pl.col("_w").first(),
            pl.col("median", "p90", "converted").first(),
        )
        .with_columns(
            (pl.col("bin") * pl.col("_w")).alias("bin_start"),
            ((pl.col("bin") + 1) * pl.col("_w")).alias("bin_end"),
        )
        .drop("_w")
        .sort("k", "bin")
    )
    base = alt.Chart(frame_data(hist, chart="time_to_convert"))
    bars = base.mark_bar(color=PALETTE[0], opacity=0.85).encode(
        x=alt.X("bin_start:Q", title=f"time from previous step ({unit})"),
        x2="bin_end:Q",
        y=alt.Y("units:Q", title="units"),
        y2=alt.datum(0),
        tooltip=[
            alt.Tooltip("transition:N"),
            alt.Tooltip("bin_start:Q", title=f"from ({unit})", format=".1f"),
            alt.Tooltip("bin_end:Q", title=f"to ({unit})", format=".1f"),
            alt.Tooltip("units:Q", format=","),
        ],
    )
    first = base.transform_filter(alt.FieldEqualPredicate(field="bin", equal=0))
    median = first.mark_rule(color=PALETTE[3], strokeWidth=2).encode(
        x="median:Q",
        tooltip=[
            alt.Tooltip("median:Q", title=f"median ({unit})", format=".2f"),
            alt.Tooltip("converted:Q", format=","),
        ],
    )
    p90 = first.mark_rule(color=PALETTE[1], strokeDash=[4, 3], strokeWidth=2).encode(
        x="p90:Q", tooltip=[alt.Tooltip("p90:Q", title=f"p90 ({unit})", format=".2f")]
    )
    median_text = first.mark_text(align="left", dx=4, y=8, color=PALETTE[3]).encode(
        x="median:Q", text=alt.Text("median:Q", format=".1f")
    )
    return (
        alt.layer(bars, median, p90, median_text)
        .properties(width=WIDTH, height=140)
        .facet(
            row=alt.Row(
                "transition:N",
                title=None,
                sort=alt.EncodingSortField("k"),
                header=alt.Header(
                    labelAngle=0,
                    labelAlign="left",
                    labelAnchor="start",
                    labelOrient="top",
                ),
            )
        )
        .resolve_scale(x="independent", y="independent")
        .properties(
            title=title(
                "Time to convert",
                units,
                data_range=data_range,
                skip=_SKIP,
                extra=[
                    f"red line: median, dashed: p90; longest 1% in the last bin; unit: {unit}"
                ],
            )
        )
    )


def funnel_trend_chart(
    result: pl.DataFrame,
    *,
    data_range: tuple[datetime, datetime] | None = None,
) -> alt.TopLevelMixin:
    """Conversion by the period units entered the funnel; hollow points mark
    periods whose entrants may still convert."""
    df = require(
        result,
        ["period", "entered", "converted", "conversion", "complete"],
        chart="funnel_trend_chart",
    )
    params = params_for(result)
    period = params.get("period") if params is not None else None
    data = df.select(
        "period",
        period_label("period", period).alias("period_label"),
        "entered",
        "converted",
        "conversion",
        pl.col("complete").fill_null(value=False),
    )
    base = alt.Chart(frame_data(data, chart="funnel_trend_chart")).encode(
        x=alt.X(
            "period_label:O",
            title="entry period",
            sort=None,
            axis=alt.Axis(labelAngle=-45),
        )
    )
    tooltip = [
        alt.Tooltip("period_label:N", title="entry period"),
        alt.Tooltip("entered:Q", format=","),
        alt.Tooltip("converted:Q", format=","),
        pct("conversion", "conversion"),
        alt.Tooltip("complete:N", title="complete"),
    ]
    bars = base.mark_bar(color="#E8E8E8").encode(
        y=alt.Y("entered:Q", title="units entered", axis=alt.Axis(titleColor=MUTED)),
        tooltip=tooltip,
    )
    line = base.mark_line(color=PALETTE[0]).encode(
        y=alt.Y("conversion:Q", title="conversion", axis=alt.Axis(format="%")),
    )
    hollow = base.mark_point(
        size=50, color=PALETTE[0], filled=False, strokeWidth=2
    ).encode(y="conversion:Q", tooltip=tooltip)
    solid = (
        base.transform_filter(alt.FieldEqualPredicate(field="complete", equal=True))
        .mark_point(size=50, color=PALETTE[0], filled=True)
        .encode(y="conversion:Q", tooltip=tooltip)
    )
    points = alt.layer(hollow, solid)
    return (
        alt.layer(bars, alt.layer(line, points))
        .resolve_scale(y="independent")
        .properties(
            width=WIDTH,
            height=HEIGHT,
            title=title(
                "Conversion over time",
                result,
                data_range=data_range,
                skip=_SKIP,
                extra=[
                    "grey bars: units entered; hollow points: entrants may still convert"
                ],
            ),
        )
    )


def failure_reasons(result: pl.DataFrame, *, top: int = 5) -> pl.DataFrame:
    """The coupon funnel's ``failure_reasons`` lists as a flat frame: ``step``,
    ``step_name``, ``reason``, ``units``, the ``top`` reasons per step."""
    df = require(result, ["step", "label", "failure_reasons"], chart="failure_reasons")
    return (
        df.select(
            "step",
            pl.concat_str(
                [pl.col("step").cast(pl.String), pl.lit(". "), pl.col("label")]
            ).alias("step_name"),
            "failure_reasons",
        )
        .explode("failure_reasons")
        .drop_nulls("failure_reasons")
        .unnest("failure_reasons")
        .sort(["step", "units"], descending=[False, True])
        .group_by("step", maintain_order=True)
        .head(top)
    )


def coupon_funnel_chart(
    result: pl.DataFrame,
    *,
    top: int = 5,
    data_range: tuple[datetime, datetime] | None = None,
) -> alt.TopLevelMixin:
    """Publication → validation → redemption → paid order, beside the top reasons
    units stopped at each step."""
    df = require(
        result,
        ["step", "label", "count", "failure_reasons"],
        chart="coupon_funnel_chart",
    )
    bars: Any = funnel_chart(df, data_range=data_range, title_text="Coupon funnel")
    reasons = failure_reasons(df, top=top)
    if reasons.height == 0:
        reasons = pl.DataFrame(
            {
                "step": [0],
                "step_name": ["(none)"],
                "reason": ["no failures"],
                "units": [0],
            }
        )
    why = (
        alt.Chart(frame_data(reasons, chart="coupon_funnel_chart"))
        .mark_bar()
        .encode(
            y=alt.Y("reason:N", sort="-x", title=None, axis=alt.Axis(labelLimit=200)),
            x=alt.X("units:Q", title="units that stopped here"),
            color=alt.Color(
                "step_name:N",
                title="stopped before",
                scale=alt.Scale(range=list(PALETTE[1:])),
            ),
            tooltip=[
                alt.Tooltip("step_name:N", title="stopped before"),
                alt.Tooltip("reason:N"),
                alt.Tooltip("units:Q", format=","),
            ],
        )
        .properties(
            width=300,
            height=HEIGHT,
            title=alt.TitleParams(
                "Why units stopped",
                subtitle=[
                    f"top {top} reasons per step; (no attempt): no event of the step at all"
                ],
            ),
        )
    )
    return alt.hconcat(bars, why, spacing=40)


def coupon_funnels_chart(
    result: pl.DataFrame,
    *,
    data_range: tuple[datetime, datetime] | None = None,
) -> alt.TopLevelMixin:
    """The coupon funnel of several campaigns side by side (the frame
    :func:`~activity_toolkit.analysis.coupon_funnels` returned)."""
    require(
        result,
        ["campaign_name", "step", "label", "count"],
        chart="coupon_funnels_chart",
    )
    return funnel_chart(
        result, data_range=data_range, title_text="Coupon funnel by campaign"
    )
