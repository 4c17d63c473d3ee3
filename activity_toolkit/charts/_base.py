"""What every chart shares: the house theme, the data hand-off, subtitles, units.

Rules every chart follows (tested):

* a chart embeds only the aggregated frame it was given (or a display aggregation of
  it: histogram bins, a thinned survival curve), never events, and refuses more
  than :data:`MAX_ROWS` rows rather than hitting Altair's row limit;
* values from the data never become Vega expression strings: filters and
  conditions use field predicates and parameters, so a campaign called
  ``"' || alert(1) || '"`` is just text;
* durations become numbers with their unit in the title, money is shown in major
  units, dates as calendar periods in the analysis' time zone;
* sizes are fixed (``width="container"`` renders at zero width in hidden tabs).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final

import altair as alt
import polars as pl

from activity_toolkit.analysis import AnalysisParams, params_of
from activity_toolkit.exceptions import ChartError

__all__ = [
    "MAX_ROWS",
    "PALETTE",
    "THEME",
    "frame_data",
    "require",
    "subtitle",
    "theme",
    "use_theme",
]

#: The most rows a chart embeds; analysis results are far smaller.
MAX_ROWS = 5000
#: Okabe-Ito: eight colours that colour-blind readers tell apart.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
#: Sequential scheme for heatmaps (readable for colour-blind readers and in grey).
SEQUENTIAL: Final = "blues"
GREY = "#BBBBBB"
MUTED = "#666666"
WIDTH = 560
HEIGHT = 280
THEME = "activity_toolkit"

_FONT = "Helvetica Neue, Helvetica, Arial, sans-serif"


def _theme() -> dict[str, Any]:
    return {
        "config": {
            "font": _FONT,
            "background": "white",
            "view": {
                "stroke": None,
                "continuousWidth": WIDTH,
                "continuousHeight": HEIGHT,
            },
            "range": {"category": list(PALETTE)},
            "title": {
                "anchor": "start",
                "fontSize": 15,
                "fontWeight": 600,
                "subtitleColor": MUTED,
                "subtitleFontSize": 11,
                "offset": 10,
            },
            "axis": {
                "labelFontSize": 11,
                "titleFontSize": 12,
                "titleFontWeight": 500,
                "gridColor": "#EEEEEE",
                "domainColor": "#999999",
                "tickColor": "#999999",
            },
            "legend": {"labelFontSize": 11, "titleFontSize": 12, "orient": "right"},
            "header": {"labelFontSize": 12, "titleFontSize": 12},
            "bar": {"color": PALETTE[0]},
            "line": {"color": PALETTE[0], "strokeWidth": 2},
            "area": {"color": PALETTE[0]},
            "point": {"color": PALETTE[0], "filled": True},
        }
    }


def _register() -> None:
    if THEME not in alt.theme.names():
        alt.theme.register(THEME, enable=False)(_theme)  # type: ignore[arg-type]


def use_theme() -> None:
    """Make the house theme Altair's active theme (until another is enabled).

    Nothing changes Altair's theme at import; call this once in a notebook, or use
    :func:`theme` for a block.
    """
    _register()
    alt.theme.enable(THEME)


@contextmanager
def theme() -> Iterator[None]:
    """The house theme for the duration of a ``with`` block, then the previous one.

    >>> import altair as alt
    >>> with theme():
    ...     alt.theme.active
    'activity_toolkit'
    """
    _register()
    with alt.theme.enable(THEME):
        yield


def require(frame: object, columns: Sequence[str], *, chart: str) -> pl.DataFrame:
    """The frame as an eager DataFrame holding ``columns``, or a :class:`ChartError`."""
    if isinstance(frame, pl.LazyFrame):
        msg = (
            f"{chart}: got a LazyFrame; collect it first with "
            "activity_toolkit.analysis.collect(result), which keeps its parameters"
        )
        raise ChartError(msg)
    if not isinstance(frame, pl.DataFrame):
        msg = f"{chart}: expected a polars DataFrame from an analysis, got {type(frame).__name__}"
        raise ChartError(msg)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        msg = (
            f"{chart}: the frame lacks the columns {missing} (it has {frame.columns}); "
            "pass the result of the matching analysis function"
        )
        raise ChartError(msg)
    return frame


def _json_scalar(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def frame_data(frame: pl.DataFrame, *, chart: str) -> alt.InlineData:
    """The frame as inline Vega data: datetimes as wall-clock text in their own time
    zone (read with the ``utc`` scale, so every viewer sees the same calendar),
    durations must have been converted already; NaN and infinities become null."""
    if frame.height > MAX_ROWS:
        msg = (
            f"{chart}: {frame.height:,} rows is more than a chart embeds ({MAX_ROWS:,}); "
            "chart an aggregated result"
        )
        raise ChartError(msg)
    exprs = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                col = col.dt.replace_time_zone(None)
            exprs.append(col.dt.to_string("%Y-%m-%dT%H:%M:%S%.3fZ").alias(name))
        elif isinstance(dtype, pl.Date):
            exprs.append(col.dt.to_string("%Y-%m-%dT00:00:00Z").alias(name))
        elif isinstance(dtype, pl.Duration):
            msg = (
                f"{chart}: column {name!r} is a Duration; convert it to a number first"
            )
            raise ChartError(msg)
        elif isinstance(dtype, pl.List | pl.Struct | pl.Object):
            continue  # nested values are flattened by the chart that needs them
        else:
            exprs.append(col)
    rows = frame.select(exprs).to_dicts()
    values = [{k: _json_scalar(v) for k, v in r.items()} for r in rows]
    # InlineData (not Data): Altair stores equal datasets once at the top level,
    # so a frame drawn by several layers is embedded once
    return alt.InlineData(values=values)


def params_for(frame: object) -> AnalysisParams | None:
    """The recorded parameters of an analysis result, if any."""
    if isinstance(frame, pl.DataFrame | pl.LazyFrame):
        return params_of(frame)
    return None


def _fmt_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


def subtitle(
    frame: object,
    *,
    extra: Sequence[str] = (),
    data_range: tuple[datetime, datetime] | None = None,
    skip: Mapping[str, Any] | None = None,
) -> list[str]:
    """Subtitle lines stating how the numbers were computed: the result's recorded
    parameters, the data range when known, and any chart-specific rule."""
    lines = []
    params = params_for(frame)
    if params is not None:
        lines.append(params.describe(skip_defaults=skip))
    else:
        lines.append("parameters not recorded for this frame")
    if data_range is not None:
        lines.append(f"data {_fmt_time(data_range[0])} to {_fmt_time(data_range[1])}")
    lines.extend(extra)
    return [_wrap(line) for line in lines]


def _wrap(line: str, width: int = 110) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"


def title(text: str, frame: object, **kw: Any) -> alt.TitleParams:
    """A chart title with the :func:`subtitle` lines."""
    return alt.TitleParams(text=text, subtitle=subtitle(frame, **kw))


def duration_unit(max_ms: float | None) -> tuple[str, float]:
    """A readable unit for durations up to ``max_ms``: (name, milliseconds per unit)."""
    if max_ms is None or max_ms >= 2 * 86_400_000:
        return "days", 86_400_000.0
    if max_ms >= 2 * 3_600_000:
        return "hours", 3_600_000.0
    return "minutes", 60_000.0


def to_unit(column: str, per: float) -> pl.Expr:
    """A Duration column as a float in a unit of ``per`` milliseconds."""
    return pl.col(column).dt.total_milliseconds() / per


def money_title(what: str, currency: str | None) -> str:
    return f"{what} ({currency})" if currency else f"{what} (major units)"


def money(column: str, minor_per_major: int = 100) -> pl.Expr:
    """Minor units (cents) → major units."""
    return pl.col(column) / minor_per_major


def period_label(column: str, period: str | None) -> pl.Expr:
    """A text label of a period start: ``2024-03`` for months, ``2024-Q1``, ``2024``,
    ``2024-03-04`` otherwise (in the period's own time zone)."""
    col = pl.col(column)
    if period == "month":
        return col.dt.to_string("%Y-%m")
    if period == "quarter":
        return pl.concat_str(
            [
                col.dt.year().cast(pl.String),
                pl.lit("-Q"),
                col.dt.quarter().cast(pl.String),
            ]
        )
    if period == "year":
        return col.dt.year().cast(pl.String)
    return col.dt.to_string("%Y-%m-%d")


def utc_time(field: str, title_: str | None = None, **kw: Any) -> alt.X:
    """A temporal x channel read on the UTC scale (so wall-clock text is shown as is)."""
    return alt.X(f"{field}:T", title=title_, scale=alt.Scale(type="utc"), **kw)


def pct(field: str, title_: str) -> alt.Tooltip:
    return alt.Tooltip(f"{field}:Q", title=title_, format=".1%")
