"""The shareable HTML report: self-contained, escaped, redactable (the browser
checks are in tests/browser/test_report_browser.py)."""

from __future__ import annotations

import json
import re

import pytest
from markupsafe import escape

import activity_toolkit as at
from activity_toolkit.cli import main
from activity_toolkit.exceptions import ReportError
from activity_toolkit.reporting import CSP, redact_log
from tests._hostile import HOSTILE, hostile_log

LOG = at.sample(customers=80, seed=6)
JSON_BLOCK = re.compile(
    r'<script type="application/json" data-chart="([^"]+)">(.*?)</script>', re.S
)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    path = at.report(LOG, tmp_path_factory.mktemp("r") / "report.html", source="sample")
    return path.read_text(encoding="utf-8")


def test_one_self_contained_file_with_every_chart(page):
    blocks = JSON_BLOCK.findall(page)
    assert len(blocks) >= 14
    for _, body in blocks:
        spec = json.loads(body)  # valid JSON, parsed as the page parses it
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    # Vega, Vega-Lite and vega-embed inlined once; no external script or stylesheet
    assert page.count("vegaEmbed") >= 1
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=", page)
    assert f'content="{escape(CSP)}"' in page  # entities decode in the attribute
    assert "connect-src 'none'" in CSP
    assert "default-src 'none'" in CSP
    assert '"editor": false' in page or "editor: false" in page


def test_provenance_and_parameters_are_in_the_report(page):
    assert "content hash" in page
    assert at.__version__ in page
    assert f"{len(LOG):,}" in page
    for analysis in ("funnel", "retention", "points_flows", "coupon_funnel", "kpis"):
        assert f"<td>{analysis}</td>" in page


def test_the_content_hash_depends_on_the_events_only(tmp_path):
    a = at.report(LOG, tmp_path / "a.html", title="A").read_text()
    b = at.report(LOG, tmp_path / "b.html", title="B").read_text()
    other = at.report(at.sample(customers=20, seed=1), tmp_path / "c.html").read_text()
    digest = re.compile(r"sha256:[0-9a-f]{64}")
    assert digest.findall(a) == digest.findall(b)
    assert digest.findall(a) != digest.findall(other)


def test_hostile_strings_are_escaped_everywhere(tmp_path):
    log = hostile_log()
    page = at.report(log, tmp_path / "r.html", title=HOSTILE[0]).read_text()
    # outside the JSON blocks, < and > of data strings are entities
    html_part = JSON_BLOCK.sub("", page)
    script_part = html_part[html_part.rindex("<script>") :]  # the bundle and loader
    html_part = html_part[: html_part.rindex("<script>")]
    for hostile in HOSTILE[:2]:
        assert hostile not in html_part
    assert "&lt;script&gt;window.__pwned" in html_part
    assert "__pwned" not in script_part
    # inside them, < > & ' are \u escapes, so no data string can end the script
    for _, body in JSON_BLOCK.findall(page):
        assert "<" not in body
        assert ">" not in body
        assert "'" not in body
    assert "\\u003cscript\\u003ewindow.__pwned" in page


def test_redact_hashes_customers_and_drops_personal_fields(tmp_path):
    log = at.sample(customers=40, seed=2)
    red = redact_log(log, key=b"k")
    assert red.events["customer_id"].n_unique() == log.events["customer_id"].n_unique()
    assert set(red.events["customer_id"]).isdisjoint(set(log.events["customer_id"]))
    assert red.events["payload"].null_count() == red.events.height
    assert red.events["customer_source_id"].null_count() == red.events.height
    assert (
        redact_log(log, key=b"k")
        .events["customer_id"]
        .equals(red.events["customer_id"])
    )
    page = at.report(log, tmp_path / "r.html", redact=True).read_text()
    secrets = set(log.events["customer_id"].drop_nulls()) | set(
        log.events["customer_source_id"].drop_nulls()
    )
    for frame in log.frames.values():
        for col in ("customer_email", "customer_name"):
            if col in frame.columns:
                secrets |= set(frame[col].drop_nulls())
    assert secrets
    leaked = [s for s in secrets if s in page]
    assert leaked == []
    assert "customer ids hashed" in page


def test_a_report_of_an_empty_log_still_opens(tmp_path):
    page = at.report(at.ActivityLog.empty(), tmp_path / "e.html").read_text()
    assert "Customer activity report" in page
    assert "no events" in page


def test_write_errors_are_report_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReportError, match="cannot write"):
        at.report(LOG, tmp_path / "file" / "r.html")
    with pytest.raises(ReportError, match="period"):
        at.report(LOG, tmp_path / "r.html", period="fortnight")  # type: ignore[arg-type]
    with pytest.raises(ReportError, match="ActivityLog"):
        at.report(LOG.events, tmp_path / "r.html")  # type: ignore[arg-type]


def test_cli_report_from_the_sample_and_from_a_store(tmp_path, capsys):
    out = tmp_path / "r.html"
    assert (
        main(["report", "--sample", "--customers", "30", "--out", str(out), "--redact"])
        == 0
    )
    assert out.is_file()
    assert "report:" in capsys.readouterr().out
    store = at.sample(customers=20, seed=3).write_parquet(tmp_path / "store")
    out2 = tmp_path / "s.html"
    assert (
        main(["report", "--store", str(store), "--out", str(out2), "--title", "T"]) == 0
    )
    assert "<title>T</title>" in out2.read_text()
    assert main(["report", "--out", str(out2)]) == 2  # no source given
    assert "exactly one of" in capsys.readouterr().err


def test_demo_writes_the_report_and_nothing_large(tmp_path, capsys):
    assert main(["demo", "--customers", "60", "--out", str(tmp_path)]) == 0
    files = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["report.html"]
    printed = capsys.readouterr().out
    assert "report: " in printed
    assert str((tmp_path / "report.html").resolve()) in printed
