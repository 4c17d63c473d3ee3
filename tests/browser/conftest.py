"""Real-browser fixtures: Debian's Chromium driven by Playwright, offline.

Chromium comes from Debian (``apt-get install -y chromium``; ``.ci/run`` installs it);
Playwright's own browser download cannot work without internet, so it is never used.
In CI (``CI`` set) a missing browser fails the tests; elsewhere they skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL = ("file:", "data:", "blob:", "about:")


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser tests)")
    pytest.skip(reason)


@pytest.fixture
def browser() -> Iterator[Any]:
    """A fresh Chromium per test. Playwright's sync API keeps an asyncio loop running
    while it is open, so it must never outlive the test: a longer-lived browser
    would make asyncio.run() fail in the next tests of the same worker."""
    if not Path(CHROMIUM).exists():
        _missing(f"Chromium not found at {CHROMIUM}; apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e .[test])")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@dataclass
class BrowserPage:
    page: Any
    external_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@pytest.fixture
def page(browser: Any) -> Iterator[BrowserPage]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    out = BrowserPage(pg)

    def route(r: Any) -> None:
        url = r.request.url
        if url.startswith(LOCAL):
            r.continue_()
        else:
            out.external_requests.append(url)
            r.abort()

    pg.route("**/*", route)
    pg.on(
        "console",
        lambda m: out.console_errors.append(m.text) if m.type == "error" else None,
    )
    pg.on("pageerror", lambda e: out.console_errors.append(str(e)))
    yield out
    context.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    root = Path(__file__).resolve().parents[2]
    path = Path(
        os.environ.get("ACTIVITY_TOOLKIT_ARTIFACTS", root / "out" / "test-artifacts")
    )
    path.mkdir(parents=True, exist_ok=True)
    return path
