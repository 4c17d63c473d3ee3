"""The browser fixtures themselves: offline pages, recorded errors, a live JupyterLab."""

from __future__ import annotations

import nbformat
import pytest

FETCHING_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>smoke</title></head>
<body>
<p id="status">pending</p>
<script>
fetch("https://example.com")
  .then(r => { document.getElementById("status").textContent = "reached " + r.status; })
  .catch(err => {
    console.error("smoke fetch blocked: " + err);
    document.getElementById("status").textContent = "blocked";
  });
</script>
</body></html>
"""


def test_file_page_cannot_reach_the_network(page, tmp_path):
    html = tmp_path / "fetch.html"
    html.write_text(FETCHING_PAGE, encoding="utf-8")
    responses: list[str] = []
    page.page.on("response", lambda r: responses.append(r.url))
    with page.page.expect_console_message(
        lambda m: m.type == "error" and "smoke fetch blocked" in m.text
    ):
        page.page.goto(html.as_uri())
    assert page.page.inner_text("#status") == "blocked"
    assert page.external_requests == ["https://example.com/"]
    assert not [url for url in responses if "example.com" in url]
    assert any("smoke fetch blocked" in e for e in page.console_errors)


LOCAL_AND_EXTERNAL = """async () => {
  const local = ["http://127.0.0.1:9/x", "http://localhost:9/x", "http://[::1]:9/x",
                 "data:text/plain,hi"];
  const external = ["https://127.0.0.1.example.com/x", "http://cdn.jsdelivr.net/x"];
  await Promise.allSettled([...local, ...external].map(u => fetch(u)));
  await new Promise(done => {
    const ws = new WebSocket("wss://example.com/socket");
    ws.onclose = done;
  });
}"""


def test_only_requests_leaving_the_machine_are_recorded(page, tmp_path):
    html = tmp_path / "blank.html"
    html.write_text("<!doctype html><title>blank</title>", encoding="utf-8")
    page.page.goto(html.as_uri())
    page.page.evaluate(LOCAL_AND_EXTERNAL)
    assert sorted(page.external_requests) == [
        "http://cdn.jsdelivr.net/x",
        "https://127.0.0.1.example.com/x",
        "wss://example.com/socket",
    ]


def test_page_errors_are_recorded(page):
    page.page.set_content("<script>throw new Error('smoke boom')</script>")
    assert page.console_errors == ["pageerror: Error: smoke boom"]


@pytest.mark.slow
def test_jupyterlab_runs_a_notebook(jupyterlab_server, page, artifacts_dir):
    from playwright.sync_api import expect  # the page fixture skipped without it

    lab = jupyterlab_server
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("print(6*7)")],
        metadata={
            "kernelspec": {
                "name": "python3",
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
            }
        },
    )
    nbformat.write(nb, lab.root_dir / "smoke.ipynb")

    lab.open_notebook(page.page, "smoke.ipynb")
    mode = page.page.evaluate(
        "window.jupyterapp.shell.currentWidget.content.notebookConfig.windowingMode"
    )
    assert mode == "none"  # from the isolated user settings
    lab.run_all_cells(page.page)
    output = page.page.locator(".jp-Notebook .jp-OutputArea-output")
    expect(output).to_have_text("42", timeout=60_000)
    expect(page.page.locator(".jp-InputArea-prompt")).to_have_text(
        "[1]:", timeout=30_000
    )
    # The kernel is idle again: the status bar has settled for a stable screenshot.
    kernel_status = page.page.get_by_title("Change kernel for smoke.ipynb")
    expect(kernel_status).to_have_text("Python 3 (ipykernel) | Idle", timeout=30_000)
    page.page.screenshot(path=str(artifacts_dir / "jupyterlab-smoke.png"))
    assert page.external_requests == []
    assert page.console_errors == []
