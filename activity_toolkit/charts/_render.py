"""Rendering charts offline: in notebooks (live or static) and to SVG/PNG files.

There is no network on the machines this toolkit targets, so nothing here loads
Vega from a CDN (Altair's default ``html`` renderer does, and shows nothing offline):

* ``setup("live")``: interactive charts in JupyterLab. Altair's ``jupyter``
  renderer with ``offline=True`` serves Vega from the local vl-convert bundle
  (``JupyterChart.enable_offline()``). Use it while you explore.
* ``setup("static")``: every chart displays as an SVG rendered by vl-convert in
  the kernel. Use it for notebooks you export (nbconvert, nbviewer, GitHub): the
  SVG is stored in the notebook and shows anywhere, with no JavaScript.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import altair as alt

from activity_toolkit.charts._base import theme
from activity_toolkit.exceptions import ChartError

__all__ = ["save", "setup", "to_png", "to_svg"]

RenderMode = Literal["live", "static"]
_STATIC = "activity_toolkit_static"


def _spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    with theme():
        return chart.to_dict()


def to_svg(chart: alt.TopLevelMixin) -> str:
    """The chart as SVG text, rendered offline by vl-convert (house theme)."""
    import vl_convert as vlc

    return str(vlc.vegalite_to_svg(_spec(chart)))


def to_png(chart: alt.TopLevelMixin, *, scale: float = 2.0) -> bytes:
    """The chart as PNG bytes (``scale`` times its pixel size), rendered offline."""
    import vl_convert as vlc

    return bytes(vlc.vegalite_to_png(_spec(chart), scale=scale))


def save(chart: alt.TopLevelMixin, path: str | Path, *, scale: float = 2.0) -> Path:
    """Write the chart to ``path`` as ``.svg`` or ``.png`` (chosen by the suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        path.write_text(to_svg(chart), encoding="utf-8")
    elif suffix == ".png":
        path.write_bytes(to_png(chart, scale=scale))
    else:
        msg = f"save: {path.name!r} must end in .svg or .png"
        raise ChartError(msg)
    return path


def _static_renderer(spec: dict[str, Any], **_: Any) -> dict[str, Any]:
    import vl_convert as vlc

    return {"image/svg+xml": vlc.vegalite_to_svg(spec), "text/plain": "<chart>"}


def setup(mode: RenderMode = "live") -> None:
    """Choose how charts display in notebooks, offline either way, and enable the
    house theme. See the module docstring for which mode to use where."""
    from activity_toolkit.charts._base import use_theme

    use_theme()
    if mode == "live":
        alt.renderers.enable("jupyter", offline=True)
        alt.JupyterChart.enable_offline()
    elif mode == "static":
        if _STATIC not in alt.renderers.names():
            alt.renderers.register(_STATIC, _static_renderer)
        alt.renderers.enable(_STATIC)
    else:
        msg = f"setup: mode={mode!r} is not 'live' or 'static'"
        raise ChartError(msg)
