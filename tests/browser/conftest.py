"""Real-browser fixtures: Debian's Chromium driven by Playwright, offline.

* ``browser`` (function): a headless Chromium at ``/usr/bin/chromium``. Skips when
  Chromium or Playwright is missing, but fails when ``CI`` is set (``.ci/run`` sets it).
* ``page`` (function): a :class:`BrowserPage` - a fresh context and page (1280x900)
  where every request leaving the machine is aborted and recorded in
  ``external_requests``; console errors and uncaught page errors are recorded in
  ``console_errors``.
* ``artifacts_dir``: where screenshots go (``$ACTIVITY_TOOLKIT_ARTIFACTS`` or
  ``<repo>/out/test-artifacts``, which git ignores).
* ``jupyterlab_server`` (session): a :class:`JupyterLab` on 127.0.0.1 with a random
  port and token, isolated Jupyter dirs, the venv's ``python3`` kernel, notebook
  ``windowingMode`` "none", ``window.jupyterapp`` exposed, and no news/update checks.

Session fixtures are per pytest-xdist worker; nothing is shared between workers.
Chromium comes from Debian (``apt-get install -y chromium``): Playwright's own browser
download cannot work offline, so it is never used.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}
LOCAL_SCHEMES = {"file", "data", "blob", "about"}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
#: Settings JupyterLab reads as the user's own (JUPYTERLAB_SETTINGS_DIR): every
#: notebook cell is attached to the DOM (no virtual scrolling, so locators see all
#: cells and outputs), and no news or update check is fetched or asked about.
LAB_USER_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}
SERVER_START_TIMEOUT = 120.0
SERVER_STOP_TIMEOUT = 20.0


def is_local_url(url: str) -> bool:
    """Whether a request to ``url`` stays on this machine."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return parts.scheme in {"http", "https", "ws", "wss"} and (
        parts.hostname in LOCAL_HOSTS
    )


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so browser tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium (``playwright.sync_api.Browser``) for one test.

    Not session-scoped on purpose: while Playwright's sync API is started, an asyncio
    loop counts as running in the main thread, so ``asyncio.run()`` raises in every
    later test of the same xdist worker (the client and fetch tests use it). A launch
    costs about a second.
    """
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"Chromium not found at {CHROMIUM}; apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"playwright is not importable ({exc}); pip install -e .[test]")
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class BrowserPage:
    """A Playwright page plus what it tried to do that a test should know about."""

    page: Any  # playwright.sync_api.Page
    #: URLs of requests (and WebSockets) that would have left the machine; aborted.
    external_requests: list[str] = field(default_factory=list)
    #: ``console.error`` texts and uncaught exceptions (prefixed ``pageerror: ``).
    console_errors: list[str] = field(default_factory=list)


@pytest.fixture
def page(browser: Any) -> Iterator[BrowserPage]:
    """A fresh context and page; external requests are aborted and recorded."""
    context = browser.new_context(viewport=VIEWPORT, service_workers="block")
    result = BrowserPage(page=None)

    def is_external(url: str) -> bool:
        return not is_local_url(url)

    def abort(route: Any) -> None:
        result.external_requests.append(route.request.url)
        route.abort("blockedbyclient")

    def close_socket(ws: Any) -> None:
        result.external_requests.append(ws.url)
        ws.close()

    def on_console(message: Any) -> None:
        if message.type == "error":
            result.console_errors.append(message.text)

    def on_page_error(error: Any) -> None:
        result.console_errors.append(f"pageerror: {error.name}: {error.message}")

    context.route(is_external, abort)
    context.route_web_socket(is_external, close_socket)
    result.page = context.new_page()
    result.page.on("console", on_console)
    result.page.on("pageerror", on_page_error)
    try:
        yield result
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """A folder for screenshots and other artifacts (git ignores ``/out/``)."""
    env = os.environ.get("ACTIVITY_TOOLKIT_ARTIFACTS")
    path = Path(env) if env else REPO / "out" / "test-artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class JupyterLab:
    """A running JupyterLab server: ``url`` has no trailing slash."""

    url: str
    token: str
    root_dir: Path
    log_file: Path

    def lab_url(self, path: str = "") -> str:
        """``{url}/lab[/tree/<path>]?token=...`` for a file under ``root_dir``."""
        tree = f"/tree/{path}" if path else ""
        return f"{self.url}/lab{tree}?token={self.token}"

    def api(self, path: str, method: str = "GET") -> Any:
        """A JSON answer of the server's REST API, e.g. ``api("/api/status")``."""
        request = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def open_notebook(self, page: Any, path: str, timeout: float = 60_000) -> None:
        """Open ``path`` in ``page`` and wait until its kernel answered kernel_info.

        Uses ``window.jupyterapp`` (``expose_app_in_browser``); afterwards the
        notebook is the active widget, so ``notebook:*`` commands act on it.
        """
        page.goto(self.lab_url(path))
        page.wait_for_function(
            """path => {
                const app = window.jupyterapp;
                if (!app || !app.shell) return false;
                return Array.from(app.shell.widgets('main')).some(
                    w => w.context && w.context.path === path && w.sessionContext
                );
            }""",
            arg=path,
            timeout=timeout,
        )
        page.evaluate(
            """async ([path, timeout]) => {
                const app = window.jupyterapp;
                const panel = Array.from(app.shell.widgets('main')).find(
                    w => w.context && w.context.path === path
                );
                const ready = (async () => {
                    await panel.context.ready;
                    await panel.sessionContext.ready;
                    const kernel = panel.sessionContext.session?.kernel;
                    if (!kernel) throw new Error(`no kernel for ${path}`);
                    await kernel.info;  // the kernel answered kernel_info_request
                })();
                let timer;
                const late = new Promise((_, reject) => {
                    timer = setTimeout(
                        () => reject(new Error(`kernel of ${path} not ready`)), timeout
                    );
                });
                try { await Promise.race([ready, late]); } finally { clearTimeout(timer); }
                app.shell.activateById(panel.id);
            }""",
            [path, timeout],
        )

    def run_all_cells(self, page: Any) -> None:
        """Run every cell of the active notebook (returns once queued)."""
        page.evaluate(
            "() => window.jupyterapp.commands.execute('notebook:run-all-cells')"
        )


def _free_of_jupyter_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in list(env):
        if name.startswith(("JUPYTER", "JPY_")) or name == "IPYTHONDIR":
            del env[name]
    return env


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def _stop(process: subprocess.Popen[bytes], lab: JupyterLab | None) -> None:
    """Stop the server and everything it started (kernels run in own sessions)."""
    try:
        import psutil

        children = psutil.Process(process.pid).children(recursive=True)
    except Exception:  # psutil missing or the server already gone
        children = []
    if lab is not None and process.poll() is None:
        # A clean shutdown: the server stops its kernels and terminals first.
        with contextlib.suppress(OSError, urllib.error.URLError):
            lab.api("/api/shutdown", method="POST")
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=SERVER_STOP_TIMEOUT)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=SERVER_STOP_TIMEOUT)
    for child in children:
        with contextlib.suppress(Exception):
            child.kill()
            child.wait(timeout=SERVER_STOP_TIMEOUT)


@pytest.fixture(scope="session")
def jupyterlab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    """JupyterLab on 127.0.0.1 (random port and token), isolated and offline."""
    pytest.importorskip("jupyterlab")
    base = tmp_path_factory.mktemp("jupyterlab")
    root_dir = base / "root"
    dirs = {
        name: base / name
        for name in ("config", "data", "runtime", "path", "settings", "workspaces")
    }
    for path in (root_dir, *dirs.values()):
        path.mkdir()
    for plugin, settings in LAB_USER_SETTINGS.items():
        _write_json(dirs["settings"] / f"{plugin}.jupyterlab-settings", settings)
    # The venv's interpreter as the python3 kernel, first on JUPYTER_PATH so that no
    # user-level or system-level kernelspec can shadow it.
    _write_json(
        dirs["path"] / "kernels" / "python3" / "kernel.json",
        {
            "argv": [
                sys.executable,
                "-m",
                "ipykernel_launcher",
                "-f",
                "{connection_file}",
            ],
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "metadata": {"debugger": True},
        },
    )
    token = secrets.token_hex(24)
    env = _free_of_jupyter_env()
    env.update(
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTER_PATH=str(dirs["path"]),
        JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
        JUPYTER_TOKEN=token,  # not on the command line, so not in `ps`
        IPYTHONDIR=str(base / "ipython"),
        PYTHONUNBUFFERED="1",
    )
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=0",  # the OS picks a free port; read back from the runtime dir
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root_dir}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",  # no PyPI look-ups
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root
    log_file = base / "jupyterlab.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=root_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole
        )
    lab: JupyterLab | None = None
    try:
        lab = _wait_until_up(process, dirs["runtime"], token, root_dir, log_file)
        specs = lab.api("/api/kernelspecs")
        argv = specs["kernelspecs"]["python3"]["spec"]["argv"]
        assert argv[0] == sys.executable, f"python3 kernel is not the venv's: {argv}"
        yield lab
    finally:
        _stop(process, lab)


def _wait_until_up(
    process: subprocess.Popen[bytes],
    runtime_dir: Path,
    token: str,
    root_dir: Path,
    log_file: Path,
) -> JupyterLab:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    lab: JupyterLab | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"JupyterLab exited with {process.returncode}:\n"
                + log_file.read_text(errors="replace")[-4000:],
                pytrace=False,
            )
        if lab is None:
            info_file = runtime_dir / f"jpserver-{process.pid}.json"
            with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
                info = json.loads(info_file.read_text(encoding="utf-8"))
                lab = JupyterLab(
                    url=f"http://127.0.0.1:{info['port']}",
                    token=token,
                    root_dir=root_dir,
                    log_file=log_file,
                )
        if lab is not None:
            with contextlib.suppress(OSError, urllib.error.URLError):
                lab.api(f"/api/status?token={token}")
                return lab
        time.sleep(0.1)  # polling a subprocess; there is no event to wait on
    pytest.fail(
        f"JupyterLab did not answer within {SERVER_START_TIMEOUT}s:\n"
        + log_file.read_text(errors="replace")[-4000:],
        pytrace=False,
    )
