"""Retention charts: the cohort triangle and the retention curves."""

from __future__ import annotations

from datetime import datetime

import altair as alt
import polars as pl

from activity_toolkit.charts._base import (
    GREY,
    PALETTE,
    SEQUENTIAL,
    frame_data,
    params_for,
    pct,
    period_label,
    require,
    title,
)
from activity_toolkit.exceptions import ChartError

__all__ = ["retention_curves", "retention_heatmap", "retention_long"]

_SKIP = {
    "start": None,
    "returning": None,
    "cohort": "first",
    "mode": "on",
    "rolling": False,
    "min_events": 1,
    "key": "customer_id",
}
_AVERAGE = "weighted average"


def retention_long(result: pl.DataFrame) -> pl.DataFrame:
    """A retention result as cells: ``cohort``, ``cohort_label``, ``cohort_size``,
    ``period``, ``active``, ``rate``, ``state`` (``"observed"``, ``"incomplete"``:
    the period ends after the data, so the count is a lower bound) plus one
    weighted-average row per period over the observed cells.

    Takes the long frame of :func:`~activity_toolkit.retention` or the pivot of
    :func:`~activity_toolkit.retention_matrix` (whose unobservable cells are null).
    """
    params = params_for(result)
    period = params.get("period") if params is not None else None
    if isinstance(result, pl.DataFrame) and "row" in result.columns:
        df = require(result, ["row", "cohort", "cohort_size"], chart="retention")
        cols = [c for c in df.columns if c.isdigit()]
        cells = (
            df.filter(pl.col("cohort").is_not_null())
            .unpivot(
                index=["cohort", "cohort_size"],
                on=cols,
                variable_name="period",
                value_name="rate",
            )
            .with_columns(
                pl.col("period").cast(pl.Int64),
                (pl.col("rate") * pl.col("cohort_size"))
                .round(0)
                .cast(pl.Int64)
                .alias("active"),
                pl.when(pl.col("rate").is_null())
                .then(pl.lit("incomplete"))
                .otherwise(pl.lit("observed"))
                .alias("state"),
            )
        )
    else:
        df = require(
            result,
            ["cohort", "period", "cohort_size", "active", "rate", "observable"],
            chart="retention",
        )
        cells = df.with_columns(
            pl.when(pl.col("observable"))
            .then(pl.lit("observed"))
            .otherwise(pl.lit("incomplete"))
            .alias("state")
        ).select("cohort", "cohort_size", "period", "rate", "active", "state")
    if cells.height == 0:
        msg = "retention: the result has no cohort; nothing to draw"
        raise ChartError(msg)
    cells = cells.with_columns(period_label("cohort", period).alias("cohort_label"))
    observed = cells.filter(pl.col("state") == "observed")
    average = (
        observed.group_by("period")
        .agg(
            pl.col("active").sum(),
            pl.col("cohort_size").sum(),
        )
        .with_columns(
            (pl.col("active") / pl.col("cohort_size")).alias("rate"),
            pl.lit(_AVERAGE).alias("cohort_label"),
            pl.lit("average").alias("state"),
            pl.lit(None, dtype=cells.schema["cohort"]).alias("cohort"),
        )
    )
    return pl.concat(
        [
            cells.select(
                "cohort",
                "cohort_label",
                "cohort_size",
                "period",
                "active",
                "rate",
                "state",
            ),
            average.select(
                "cohort",
                "cohort_label",
                "cohort_size",
                "period",
                "active",
                "rate",
                "state",
            ),
        ],
        how="vertical_relaxed",
    ).sort("state", "cohort", "period", nulls_last=True)


def retention_heatmap(
    result: pl.DataFrame,
    *,
    data_range: tuple[datetime, datetime] | None = None,
) -> alt.TopLevelMixin:
    """The cohort triangle: one row per cohort with its size, one column per period,
    the share of the cohort active there, and the weighted average as the last row.

    A true zero is a white cell reading ``0%``; a cell whose period ends after the
    data (the count can still grow) is hatched grey and marked ``*``; a period a
    cohort has not reached yet is left empty.
    """
    cells = retention_long(result)
    params = params_for(result)
    period = params.get("period", "period") if params is not None else "period"
    cells = cells.with_columns(
        pl.when(pl.col("rate").is_null())
        .then(pl.lit("*"))
        .when(pl.col("state") == "incomplete")
        .then(
            pl.concat_str(
                [
                    (pl.col("rate") * 100).round(0).cast(pl.Int64).cast(pl.String),
                    pl.lit("%*"),
                ]
            )
        )
        .otherwise(
            pl.concat_str(
                [
                    (pl.col("rate") * 100).round(0).cast(pl.Int64).cast(pl.String),
                    pl.lit("%"),
                ]
            )
        )
        .alias("text"),
        ((pl.col("rate") > 0.55) & (pl.col("state") != "incomplete"))
        .fill_null(value=False)
        .alias("dark"),
    )
    order = (
        cells.filter(pl.col("state") != "average")["cohort_label"]
        .unique(maintain_order=True)
        .to_list()
    )
    order.append(_AVERAGE)
    data = frame_data(cells, chart="retention_heatmap")
    rows = len(order)
    height = max(120, min(22 * rows, 620))
    y = alt.Y(
        "cohort_label:N", sort=order, title="cohort", axis=alt.Axis(labelLimit=160)
    )
    base = alt.Chart(data)
    tooltip = [
        alt.Tooltip("cohort_label:N", title="cohort"),
        alt.Tooltip("period:O", title=f"{period} after"),
        alt.Tooltip("cohort_size:Q", title="cohort size", format=","),
        alt.Tooltip("active:Q", title="active", format=","),
        pct("rate", "retained"),
        alt.Tooltip("state:N", title="cell"),
    ]
    x = alt.X(
        "period:O",
        title=f"{period}s since the cohort's {period}",
        axis=alt.Axis(labelAngle=0),
    )
    observed = alt.FieldOneOfPredicate(field="state", oneOf=["observed", "average"])
    cells_mark = (
        base.transform_filter(observed)
        .mark_rect(stroke="white", strokeWidth=1)
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "rate:Q",
                title="retained",
                scale=alt.Scale(scheme=SEQUENTIAL, domain=[0, 1]),
                legend=alt.Legend(format="%", orient="bottom", gradientLength=200),
            ),
            tooltip=tooltip,
        )
    )
    incomplete = (
        base.transform_filter(
            alt.FieldEqualPredicate(field="state", equal="incomplete")
        )
        .mark_rect(fill=GREY, opacity=0.35, stroke="white", strokeWidth=1)
        .encode(x=x, y=y, tooltip=tooltip)
    )
    text = base.mark_text(fontSize=10).encode(
        x=x,
        y=y,
        text="text:N",
        color=alt.condition(
            alt.FieldEqualPredicate(field="dark", equal=True),
            alt.value("white"),
            alt.value("#222222"),
        ),
        tooltip=tooltip,
    )
    average_outline = (
        base.transform_filter(alt.FieldEqualPredicate(field="state", equal="average"))
        .mark_rect(fill=None, stroke="#222222", strokeWidth=1.5)
        .encode(x=x, y=y)
    )
    columns = cells["period"].n_unique()
    heat = alt.layer(cells_mark, incomplete, text, average_outline).properties(
        width=max(200, min(38 * columns, 720)), height=height
    )
    sizes = (
        base.transform_filter(alt.FieldEqualPredicate(field="period", equal=0))
        .mark_text(align="right", fontSize=10)
        .encode(
            y=alt.Y("cohort_label:N", sort=order, axis=None),
            text=alt.Text("cohort_size:Q", format=","),
        )
        .properties(
            width=50,
            height=height,
            title=alt.TitleParams("size", fontSize=11, anchor="end"),
        )
    )
    return alt.hconcat(heat, sizes, spacing=4).properties(
        title=title(
            "Retention by cohort",
            result,
            data_range=data_range,
            skip=_SKIP,
            extra=[
                "0% = nobody came back; * = period not over when the data ends (lower bound); empty = not reached yet"
            ],
        )
    )


def retention_curves(
    result: pl.DataFrame,
    *,
    data_range: tuple[datetime, datetime] | None = None,
) -> alt.TopLevelMixin:
    """One thin line per cohort (observed periods) and the weighted average in bold."""
    cells = retention_long(result).filter(pl.col("state") != "incomplete")
    params = params_for(result)
    period = params.get("period", "period") if params is not None else "period"
    base = alt.Chart(frame_data(cells, chart="retention_curves"))
    x = alt.X(
        "period:Q",
        title=f"{period}s since the cohort's {period}",
        axis=alt.Axis(tickMinStep=1),
    )
    y = alt.Y(
        "rate:Q",
        title="retained",
        axis=alt.Axis(format="%"),
        scale=alt.Scale(domain=[0, 1]),
    )
    tooltip = [
        alt.Tooltip("cohort_label:N", title="cohort"),
        alt.Tooltip("period:Q", title=f"{period} after"),
        pct("rate", "retained"),
        alt.Tooltip("active:Q", format=","),
        alt.Tooltip("cohort_size:Q", title="cohort size", format=","),
    ]
    cohorts = (
        base.transform_filter(alt.FieldEqualPredicate(field="state", equal="observed"))
        .mark_line(strokeWidth=1, opacity=0.45, color=PALETTE[5])
        .encode(x=x, y=y, detail="cohort_label:N", tooltip=tooltip)
    )
    average = (
        base.transform_filter(alt.FieldEqualPredicate(field="state", equal="average"))
        .mark_line(
            strokeWidth=3.5,
            color="#111111",
            point=alt.OverlayMarkDef(color="#111111", size=30),
        )
        .encode(x=x, y=y, tooltip=tooltip)
    )
    return alt.layer(cohorts, average).properties(
        width=560,
        height=280,
        title=title(
            "Retention curves",
            result,
            data_range=data_range,
            skip=_SKIP,
            extra=["thin: one cohort each; bold: weighted average of observed cells"],
        ),
    )
