"""Campaign and overview charts: the leaderboard, activity by family, KPI cards."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import altair as alt
import polars as pl

from activity_toolkit.charts._base import (
    HEIGHT,
    MUTED,
    PALETTE,
    WIDTH,
    frame_data,
    money,
    money_title,
    params_for,
    pct,
    period_label,
    require,
    title,
    utc_time,
)

__all__ = ["activity_timeline_chart", "campaign_leaderboard", "kpi_cards"]


def campaign_leaderboard(
    result: pl.DataFrame,
    *,
    top: int = 12,
    currency: str | None = None,
    data_range: tuple[datetime, datetime] | None = None,
) -> alt.TopLevelMixin:
    """Campaigns ranked by publications, side by side with their redemption rate,
    discount given and paid-order revenue (money in major units)."""
    df = require(
        result,
        [
            "campaign_id",
            "campaign_name",
            "publications",
            "redemption_rate",
            "discount_given",
            "order_revenue",
        ],
        chart="campaign_leaderboard",
    )
    data = (
        df.with_columns(
            pl.coalesce("campaign_name", "campaign_id")
            .fill_null("(no campaign)")
            .alias("campaign"),
            money("discount_given").alias("discount"),
            money("order_revenue").alias("revenue"),
        )
        .sort("publications", descending=True, nulls_last=True)
        .head(top)
        .select(
            "campaign",
            "campaign_id",
            "publications",
            "redemption_rate",
            "discount",
            "revenue",
            "redemptions_succeeded",
            "customers",
        )
    )
    order = data["campaign"].to_list()
    base = alt.Chart(frame_data(data, chart="campaign_leaderboard"))
    y = alt.Y("campaign:N", sort=order, title=None, axis=alt.Axis(labelLimit=180))
    tooltip = [
        alt.Tooltip("campaign:N"),
        alt.Tooltip("campaign_id:N", title="id"),
        alt.Tooltip("publications:Q", format=","),
        alt.Tooltip("redemptions_succeeded:Q", title="redemptions", format=","),
        pct("redemption_rate", "redemption rate"),
        alt.Tooltip(
            "discount:Q", title=money_title("discount given", currency), format=",.2f"
        ),
        alt.Tooltip("revenue:Q", title=money_title("revenue", currency), format=",.2f"),
        alt.Tooltip("customers:Q", format=","),
    ]
    height = max(120, 24 * len(order))

    def column(
        field: str,
        heading: str,
        colour: str,
        fmt: str,
        *,
        axis_format: str | None = None,
    ) -> Any:
        bar = base.mark_bar(color=colour).encode(
            y=y,
            x=alt.X(
                f"{field}:Q",
                title=None,
                axis=alt.Axis(format=axis_format or fmt, tickCount=3),
            ),
            tooltip=tooltip,
        )
        text = base.mark_text(align="left", dx=3, fontSize=10, color=MUTED).encode(
            y=y, x=f"{field}:Q", text=alt.Text(f"{field}:Q", format=fmt)
        )
        return alt.layer(bar, text).properties(
            width=150, height=height, title=alt.TitleParams(heading, fontSize=12)
        )

    cols = [
        column("publications", "publications", PALETTE[0], ","),
        column("redemption_rate", "redemption rate", PALETTE[2], ".0%"),
        column(
            "discount",
            money_title("discount given", currency),
            PALETTE[1],
            ",.0f",
            axis_format="~s",
        ),
        column(
            "revenue",
            money_title("revenue", currency),
            PALETTE[4],
            ",.0f",
            axis_format="~s",
        ),
    ]
    first, *rest = cols
    rest = [c.encode(y=alt.Y("campaign:N", sort=order, axis=None)) for c in rest]
    return alt.hconcat(first, *rest, spacing=14).properties(
        title=title(
            "Campaign leaderboard",
            result,
            data_range=data_range,
            extra=[
                f"top {top} campaigns by publications; redemption rate = succeeded redemptions ÷ publications"
            ],
        )
    )


def activity_timeline_chart(
    result: pl.DataFrame,
    *,
    data_range: tuple[datetime, datetime] | None = None,
) -> alt.TopLevelMixin:
    """Events per period, stacked by event family."""
    df = require(
        result, ["period", "family", "events"], chart="activity_timeline_chart"
    )
    params = params_for(result)
    period = params.get("period") if params is not None else None
    totals = (
        df.group_by("family")
        .agg(pl.col("events").sum())
        .sort("events", descending=True)
    )
    keep = totals.head(8)["family"].to_list()
    data = (
        df.with_columns(
            pl.when(pl.col("family").is_in(keep))
            .then(pl.col("family"))
            .otherwise(pl.lit("other"))
            .alias("family")
        )
        .group_by("period", "family")
        .agg(pl.col("events").sum())
        .with_columns(period_label("period", period).alias("period_label"))
        .sort("period", "family")
    )
    order = [*keep, "other"]
    return (
        alt.Chart(frame_data(data, chart="activity_timeline_chart"))
        .mark_bar()
        .encode(
            x=utc_time("period", "period"),
            y=alt.Y("events:Q", title="events", stack="zero"),
            color=alt.Color(
                "family:N",
                sort=order,
                scale=alt.Scale(domain=order, range=[*PALETTE[: len(keep)], "#CCCCCC"]),
                title="family",
            ),
            order=alt.Order("family:N"),
            tooltip=[
                alt.Tooltip("period_label:N", title="period"),
                alt.Tooltip("family:N"),
                alt.Tooltip("events:Q", format=","),
            ],
        )
        .properties(
            width=WIDTH,
            height=HEIGHT,
            title=title(
                "Activity by event family",
                result,
                data_range=data_range,
                extra=["the eight largest families; the rest as 'other'"],
            ),
        )
    )


def _shown(value: float | None, unit: str, currency: str | None) -> str:
    if value is None:
        return "n/a"
    if unit == "ratio":
        return f"{value:.1%}"
    if unit == "money":
        return f"{value / 100:,.0f}" + (f" {currency}" if currency else "")
    return f"{value:,.0f}"


def _delta(change: float | None) -> tuple[str, str]:
    if change is None:
        return "no earlier period to compare", "none"
    arrow = "▲" if change >= 0 else "▼"
    return f"{arrow} {abs(change):.1%} vs previous", "up" if change >= 0 else "down"


def _kpi_text(df: pl.DataFrame, currency: str | None) -> pl.DataFrame:
    """Display text of the (five) headline numbers."""
    shown, delta, direction = [], [], []
    for row in df.iter_rows(named=True):
        shown.append(_shown(row["value"], row["unit"], currency))
        d, how = _delta(row["change"])
        delta.append(d)
        direction.append(how)
    return df.with_columns(
        pl.Series("shown", shown, dtype=pl.String),
        pl.Series("delta", delta, dtype=pl.String),
        pl.Series("direction", direction, dtype=pl.String),
    )


def kpi_cards(
    result: pl.DataFrame,
    *,
    currency: str | None = None,
    data_range: tuple[datetime, datetime] | None = None,
) -> alt.TopLevelMixin:
    """One card per headline number with its change from the previous period (the
    frame :func:`~activity_toolkit.analysis.kpis` returned)."""
    df = require(
        result,
        ["metric", "label", "unit", "value", "change", "period"],
        chart="kpi_cards",
    )
    params = params_for(result)
    period = params.get("period") if params is not None else None
    data = _kpi_text(df, currency).with_columns(
        period_label("period", period).alias("period_label")
    )
    cards = []
    for i in range(data.height):
        one = frame_data(data.slice(i, 1), chart="kpi_cards")
        base = alt.Chart(one)
        unit_scale = alt.Scale(domain=[0, 1])
        box = base.mark_rect(fill="#F6F8FA", stroke="#DDDDDD", cornerRadius=6).encode(
            x=alt.XDatum(0, axis=None, scale=unit_scale),
            x2=alt.X2Datum(1),
            y=alt.YDatum(0, axis=None, scale=unit_scale),
            y2=alt.Y2Datum(1),
        )
        label = base.mark_text(
            align="left", baseline="top", x=12, y=12, fontSize=12, color=MUTED
        ).encode(text="label:N")
        value = base.mark_text(
            align="left", baseline="middle", x=12, y=48, fontSize=22, fontWeight=600
        ).encode(text="shown:N")
        delta = base.mark_text(
            align="left", baseline="bottom", x=12, y=86, fontSize=11
        ).encode(
            text="delta:N",
            color=alt.condition(
                alt.FieldEqualPredicate(field="direction", equal="down"),
                alt.value(PALETTE[3]),
                alt.value(PALETTE[2]),
            ),
        )
        cards.append(
            alt.layer(box, label, value, delta)
            .encode(
                tooltip=[
                    alt.Tooltip("label:N"),
                    alt.Tooltip("period_label:N", title="period"),
                    alt.Tooltip("value:Q", format=",.4~f"),
                    alt.Tooltip("previous:Q", format=",.4~f"),
                ]
            )
            .properties(width=150, height=96)
        )
    subtitle_period = data["period_label"][0] if data.height else ""
    return alt.hconcat(*cards, spacing=10).properties(
        title=title(
            f"Key numbers, {subtitle_period}",
            result,
            data_range=data_range,
            extra=["change: against the period before; money in major units"],
        )
    )
