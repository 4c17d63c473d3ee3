"""The quickstart notebook in a real JupyterLab: the dashboard and its charts render
offline, and changing a filter in the page redraws a chart."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _quickstart(target: Path) -> None:
    nb = nbformat.read(ROOT / "notebooks" / "01_quickstart.ipynb", as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = params.source.replace("CUSTOMERS = 500", "CUSTOMERS = 200")
    assert "CUSTOMERS = 200" in params.source
    nbformat.write(nb, target)


def test_the_dashboard_renders_and_a_filter_redraws_it(
    jupyterlab_server, page, artifacts_dir
):
    from playwright.sync_api import expect

    lab, pg = jupyterlab_server, page.page
    _quickstart(lab.root_dir / "quickstart.ipynb")
    lab.open_notebook(pg, "quickstart.ipynb")
    lab.run_all_cells(pg)
    dashboard = pg.locator(".widget-tab").first
    expect(dashboard).to_be_visible(timeout=120_000)
    status = pg.locator(".widget-html", has_text="events of").last
    expect(status).to_contain_text("Overview", timeout=60_000)
    # the Overview tab's charts are drawn by Vega in the page: SVG with marks
    charts = dashboard.locator(".vega-embed svg")
    expect(charts.first).to_be_visible(timeout=60_000)
    assert charts.count() >= 2
    assert dashboard.locator(".vega-embed svg path, .vega-embed svg rect").count() > 20
    before_status = status.inner_text()
    before_chart = charts.first.inner_html()
    pg.locator(".widget-dropdown", has_text="Channel").scroll_into_view_if_needed()
    pg.screenshot(path=str(artifacts_dir / "jupyterlab-dashboard.png"), full_page=True)

    channel = pg.locator(".widget-dropdown", has_text="Channel").locator("select")
    channel.select_option("API")
    expect(status).not_to_have_text(before_status, timeout=60_000)
    assert "API" in channel.input_value()
    pg.wait_for_function(
        "([sel, old]) => { const s = document.querySelector(sel); return s && s.innerHTML !== old; }",
        arg=[".widget-tab .vega-embed svg", before_chart],
        timeout=60_000,
    )
    assert (
        pg.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        ).count()
        == 0
    )
    pg.screenshot(
        path=str(artifacts_dir / "jupyterlab-dashboard-filtered.png"), full_page=True
    )
    assert page.external_requests == []
    assert page.console_errors == []
