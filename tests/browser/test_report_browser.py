"""The report opened from file:// in Chromium: every chart drawn, nothing fetched,
no console error, hostile strings inert."""

from __future__ import annotations

import pytest

import activity_toolkit as at
from tests._hostile import hostile_log

pytestmark = pytest.mark.slow


def _open(page, path):
    page.page.goto(path.resolve().as_uri())
    page.page.wait_for_function(
        "window.__charts && window.__charts.rendered + window.__charts.failed"
        " === window.__charts.total",
        timeout=60_000,
    )
    return page.page.evaluate("window.__charts")


def test_the_report_renders_every_chart_offline(page, tmp_path, artifacts_dir):
    path = at.report(at.sample(customers=150, seed=2), tmp_path / "report.html")
    state = _open(page, path)
    assert state["failed"] == 0
    assert state["rendered"] == state["total"] >= 14
    marks = page.page.evaluate(
        "Array.from(document.querySelectorAll('.chart')).map("
        "c => c.querySelectorAll('svg path, svg rect, svg line').length)"
    )
    assert len(marks) == state["total"]
    assert min(marks) > 5  # every chart drew marks
    assert page.console_errors == []
    assert page.external_requests == []
    page.page.screenshot(path=str(artifacts_dir / "report.png"), full_page=True)


def test_hostile_strings_cannot_run_script(page, tmp_path, artifacts_dir):
    path = at.report(
        hostile_log(), tmp_path / "hostile.html", title="<img src=x onerror=alert(1)>"
    )
    state = _open(page, path)
    assert state["failed"] == 0
    assert page.page.evaluate("typeof window.__pwned") == "undefined"
    assert "<img src=x onerror=alert(1)>" in page.page.title()
    # the hostile campaign names are shown as text inside the charts
    assert "window.__pwned" in page.page.inner_text("body") or page.page.evaluate(
        "document.body.innerHTML.includes('__pwned')"
    )
    assert page.external_requests == []
    page.page.screenshot(path=str(artifacts_dir / "report-hostile.png"))
