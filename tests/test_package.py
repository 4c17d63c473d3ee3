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


# -- the import graph ------------------------------------------------------------------
#
# Every module of the package is parsed with ``ast``; every ``import`` and
# ``from … import`` counts, at module level and inside functions alike (a lazy import
# is still an arrow). An import inside ``if TYPE_CHECKING:`` is marked type-only: it
# counts for the layer rules and the private-import rule (a type annotation is still
# a dependency on the other package's API) but not for the cycle rule, because it is
# never executed. ``import_module("…")`` strings are not seen; only the package
# facade (``activity_toolkit/__init__.py``), which sits above everything, uses them.

ROOT = "activity_toolkit"

#: Each component and the components it sits directly on. A module may import its
#: own component and anything reachable downward from these; nothing else. The order:
#: base → events → store → io/model → analysis → charts → widgets/reporting;
#: client → load; sample, sandbox and the CLI on top; the facade above all.
ON_TOP_OF: dict[str, tuple[str, ...]] = {
    "base": (),  # _time, _version, exceptions, _duck, _exit
    "events": ("base",),
    "store": ("events",),  # _store: the Parquet store format, below io and model
    "model": ("store",),
    "io": ("store",),
    "analysis": ("model",),
    "charts": ("analysis",),
    "widgets": ("charts",),
    "reporting": ("charts",),
    "client": ("base",),
    "load": ("client", "io", "model"),
    "sample": ("io", "model"),
    "sandbox": ("client", "sample"),
    "cli": ("load", "sandbox", "sample", "reporting", "widgets"),
    "__main__": ("cli",),
}
#: One layer, two components: io builds the model; the model names io's LoadReport,
#: as a type only (the cycle rule keeps it so).
PEERS: dict[str, set[str]] = {"io": {"model"}, "model": {"io"}}

BASE = {"_time", "_version", "exceptions", "_duck", "_exit"}

#: Third-party libraries that belong to one part of the package only.
EXTERNAL_HOMES: dict[str, set[str]] = {
    "httpx": {"client", "sandbox"},
    "uvicorn": {"sandbox"},
    "altair": {"charts", "widgets", "reporting"},
    "vl_convert": {"charts", "widgets", "reporting"},
    "ipywidgets": {"widgets"},
    "anywidget": {"widgets"},
    "jinja2": {"reporting"},
    # the portable analyses and the engines they run on (analysis/_engine.py)
    "narwhals": {"analysis"},
    "ibis": {"analysis"},
    "pyspark": {"analysis"},
    "pandas": set(),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _component(module: str) -> str:
    """The component a module belongs to (``sample`` may be a module or a package)."""
    if module == ROOT:
        return "facade"
    top = module.split(".")[1]
    if top in BASE:
        return "base"
    if top == "_store":
        return "store"
    if top in ON_TOP_OF:
        return top
    msg = f"{module} is in no layer: add it to ON_TOP_OF (or BASE) in {__file__}"
    raise AssertionError(msg)


def _allowed(component: str) -> set[str]:
    if component == "facade":
        return set(ON_TOP_OF) | {"facade"}
    seen = {component}
    todo = list(ON_TOP_OF[component])
    while todo:
        c = todo.pop()
        if c not in seen:
            seen.add(c)
            todo.extend(ON_TOP_OF[c])
    return seen | PEERS.get(component, set())


class _Import:
    __slots__ = ("line", "name", "private_name", "type_only")

    def __init__(self, name: str, line: int, *, type_only: bool, private_name: str):
        self.name, self.line, self.type_only = name, line, type_only
        self.private_name = private_name  # ``from pkg import _x`` of a non-module


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports_of(module: str) -> list[_Import]:
    """Every import in ``module``: absolute module names, resolved relative imports,
    ``from pkg import submodule`` as the submodule."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[_Import] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_only)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(
                    _Import(
                        alias.name, node.lineno, type_only=type_only, private_name=""
                    )
                )
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in MODULES:
                    found.append(
                        _Import(full, node.lineno, type_only=type_only, private_name="")
                    )
                else:
                    private = alias.name if alias.name.startswith("_") else ""
                    found.append(
                        _Import(
                            base, node.lineno, type_only=type_only, private_name=private
                        )
                    )
        for child in ast.iter_child_nodes(node):
            visit(child, type_only)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def _internal(name: str) -> str | None:
    """The package module an import resolves to (the nearest existing parent for
    ``import a.b.c`` of a name), or ``None`` for other libraries."""
    if name != ROOT and not name.startswith(ROOT + "."):
        return None
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    return name


def _owner_of_private(target: str) -> str | None:
    """The package whose private part ``target`` is (``activity_toolkit.io`` for
    ``activity_toolkit.io._sources``), or ``None`` for a public module."""
    parts = target.split(".")
    for i, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and part != "__main__":
            return ".".join(parts[:i])
    return None


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_every_module_is_in_a_layer():
    for module in MODULES:
        _component(module)
    assert {"activity_toolkit.cli", "activity_toolkit._store"} <= set(MODULES)
    assert any(_component(m) == "sample" for m in MODULES)  # module or package


def test_layers_only_import_downwards():
    """Every import (lazy and type-only ones included) goes to the module's own
    component or to one below it (see ON_TOP_OF); third-party libraries only where
    they belong (EXTERNAL_HOMES): no HTTP below the client, no Altair or widgets
    below the show layer, pandas nowhere."""
    bad = []
    for module in MODULES:
        component = _component(module)
        allowed = _allowed(component)
        for imp in _imports_of(module):
            target = _internal(imp.name)
            if target is None:
                lib = imp.name.partition(".")[0]
                homes = EXTERNAL_HOMES.get(lib)
                if homes is not None and component not in homes | {"facade"}:
                    bad.append(f"{module}:{imp.line} imports {imp.name}")
                continue
            if target != ROOT and _component(target) not in allowed:
                bad.append(
                    f"{module}:{imp.line} ({component}) imports {target} "
                    f"({_component(target)})"
                )
            elif target == ROOT and component != "facade":
                bad.append(f"{module}:{imp.line} imports the package facade")
    assert sorted(set(bad)) == []


def test_no_private_imports_across_packages():
    """A package's underscore modules (``io._sources``) and underscore names are its
    own: other packages import what its ``__init__`` exports. The top-level private
    modules (``_time``, ``_store``…) belong to the root package, so every module may
    use them."""
    bad = []
    for module in MODULES:
        for imp in _imports_of(module):
            target = _internal(imp.name)
            if target is None:
                continue
            owner = _owner_of_private(target)
            if (
                imp.private_name and owner is None
            ):  # `from activity_toolkit.io import _x`
                is_package = MODULES[target].name == "__init__.py"
                owner = target if is_package else target.rpartition(".")[0]
            if owner is None or _inside(module, owner):
                continue
            name = f"{target}.{imp.private_name}" if imp.private_name else target
            bad.append(f"{module}:{imp.line} imports {name}")
    assert sorted(set(bad)) == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def test_import_graph_has_no_cycles():
    """No module reaches itself through the imports that run (lazy imports inside
    functions included; ``TYPE_CHECKING`` imports left out, they never run)."""
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        graph[module] = set()
        for imp in _imports_of(module):
            target = _internal(imp.name)
            if target is not None and target != module and not imp.type_only:
                graph[module].add(target)
    assert _cycles(graph) == []
    # the checker itself finds a cycle
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [
        ["a", "b", "c"]
    ]


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
