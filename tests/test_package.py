"""Package-level contracts: the public surface, layering, no pandas, no network."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import activity_toolkit

PKG = Path(activity_toolkit.__file__).parent


def test_all_is_sorted_and_complete():
    names = activity_toolkit.__all__
    # isort-style, as ruff's RUF022 keeps it: CONSTANTS, then Classes, then functions
    assert list(names) == sorted(
        names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)
    )
    for name in names:  # also loads the lazy names (client, fetch, sandbox)
        assert hasattr(activity_toolkit, name), name
    public = {n for n in vars(activity_toolkit) if not n.startswith("_")}
    public -= {"annotations", "import_module", "TYPE_CHECKING", "Any"}
    modules = {n for n in public if isinstance(getattr(activity_toolkit, n), type(sys))}
    # every public non-module name is exported; of the modules, `analysis` and
    # `exceptions`, and the lazily loaded show layers
    assert set(names) - {"__version__"} == (public - modules) | {
        "analysis",
        "exceptions",
        "charts",
        "reporting",
        "widgets",
    }
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        activity_toolkit.nothing  # noqa: B018


def test_importing_the_package_does_not_load_the_http_stack():
    code = "import sys, activity_toolkit as at; at.sample(customers=3); print('httpx' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_layers_only_import_downwards():
    """events and analysis never touch HTTP or widgets; events and io never import
    analysis, the client or charts."""
    rules = {
        "events": (
            "httpx",
            "altair",
            "ipywidgets",
            "activity_toolkit.analysis",
            "activity_toolkit.client",
            "activity_toolkit.io",
        ),
        "io": (
            "httpx",
            "altair",
            "ipywidgets",
            "activity_toolkit.analysis",
            "activity_toolkit.client",
        ),
        "analysis": (
            "httpx",
            "altair",
            "ipywidgets",
            "activity_toolkit.client",
            "activity_toolkit.io",
        ),
    }
    bad = []
    for layer, banned in rules.items():
        for path in (PKG / layer).rglob("*.py"):
            for mod in _imports(path):
                if any(mod == b or mod.startswith(b + ".") for b in banned):
                    bad.append(f"{path.relative_to(PKG)} imports {mod}")
    assert bad == []


def test_core_path_never_imports_pandas_and_never_opens_a_socket(tmp_path):
    code = textwrap.dedent(
        f"""
        import socket, sys
        def refuse(*a, **k):
            raise AssertionError("network access attempted")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        import activity_toolkit as at
        log = at.sample(customers=15, seed=1)
        store = log.write_parquet({str(tmp_path / "s")!r})
        back = at.read_parquet(store)
        assert back.equals(log)
        log.filter(families="order").counts()
        assert "pandas" not in sys.modules, "pandas was imported"
        print("ok")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
