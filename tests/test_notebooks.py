"""The example notebooks run top to bottom in a real kernel, offline, through
papermill (the way a scheduled notebook runs), and write nothing in the repository."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

papermill = pytest.importorskip("papermill", reason="papermill is a test dependency")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = [
    "01_quickstart.ipynb",
    "02_fetch_from_api.ipynb",
    "03_funnels.ipynb",
    "04_cohorts.ipynb",
    "05_loyalty_and_points.ipynb",
    "06_shared_report.ipynb",
]

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


def test_the_example_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs_and_with_a_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert nb.cells.index(tagged[0]) <= 2, "the parameters come first"
    assert nb.cells[0].cell_type == "markdown"  # it opens like a tutorial
    assert "RENDER" in tagged[0].source
    assert "OUT" in tagged[0].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_clean_offline_and_stays_small(path, tmp_path):
    before = sorted(p.name for p in (ROOT / "notebooks").iterdir())
    out = tmp_path / path.name
    papermill.execute_notebook(
        str(path),
        str(out),
        parameters={
            "RENDER": "static",
            "CUSTOMERS": 150,
            "OUT": str(tmp_path / "files"),
        },
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
        store_widget_state=False,
        execution_timeout=600,
    )
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    assert "Warning" not in stderr, stderr
    # static mode: every chart is an SVG in the notebook (exports show it without JS),
    # and no per-chart Vega bundle is stored
    svgs = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert svgs, "charts are stored as SVG"
    assert out.stat().st_size < 1_500_000
    assert "vega-embed" not in out.read_text()
    # nothing written inside the repository
    assert sorted(p.name for p in (ROOT / "notebooks").iterdir()) == before
    text = json.dumps(outputs)
    from activity_toolkit.sandbox import SandboxConfig

    assert (
        SandboxConfig().secret_key not in text
    )  # the sandbox's secret is in no output
    if path.name == "01_quickstart.ipynb":
        assert "<b>ActivityLog</b>" in text  # the log's card
        assert "application/vnd.jupyter.widget-view+json" in text  # the dashboard
    if path.name == "06_shared_report.ipynb":
        files = sorted(p.name for p in (tmp_path / "files").iterdir())
        assert files == ["kpis.png", "kpis.svg", "report.html"]
