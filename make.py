#!/usr/bin/env python3
"""Set-up and tasks with nothing but Python 3.11+ and pip.

    python3 make.py demo    # set up, then run the main job on the built-in sample
    python3 make.py test    # set up, then check format, lint, types, and run the tests
    python3 make.py check   # set up, then lint (ruff) and type-check (mypy)
    python3 make.py bench   # set up, then run the benchmark scripts

Set-up creates ``.venv`` beside this file and installs the package (editable) with its
test extras; it is skipped while ``pyproject.toml`` is unchanged since the last install.
Extra arguments after the task go to the underlying command, for example
``python3 make.py test -k store`` or ``python3 make.py demo --customers 500``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".activity_toolkit-installed"
#: What each task installs: tests and the demo need the test extras only; lint and
#: type checks add the dev tools (ruff, mypy, JupyterLab for working on notebooks).
EXTRAS = {"demo": "test", "test": "test", "bench": "test", "check": "test"}


def run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True)


def setup(extras: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - make.py may run under an older python3
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + extras.encode()
    ).hexdigest()
    done = STAMP.read_text().split() if STAMP.is_file() else []
    if wanted in done and PY.exists():
        return
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    run(
        PY,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "-q",
        "-e",
        f".[{extras}]",
    )
    STAMP.write_text(" ".join([*done, wanted]))


def check() -> None:
    """Formatting, lint and strict types: the same gate for developers and CI."""
    run(PY, "-m", "ruff", "format", "--check", "activity_toolkit", "tests", "benchmarks")
    run(PY, "-m", "ruff", "check", "activity_toolkit", "tests", "benchmarks")
    run(PY, "-m", "mypy", "activity_toolkit")


def main(argv: list[str]) -> int:
    tasks = ("demo", "test", "check", "bench")
    if not argv or argv[0] not in tasks:
        print(__doc__)
        return 2
    task, extra = argv[0], argv[1:]
    setup(EXTRAS[task])
    try:
        if task == "demo":
            run(PY, "-m", "activity_toolkit", "demo", *extra)
        elif task == "test":
            check()
            run(PY, "-m", "pytest", *extra)
        elif task == "check":
            check()
        else:
            for script in sorted((ROOT / "benchmarks").glob("[!_]*.py")):
                run(PY, script, *extra)
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
