"""The ``activity-toolkit`` command line (also ``python -m activity_toolkit``).

``_main`` holds the parser, :func:`main` and the local commands; ``_remote`` the
``fetch`` and ``sandbox`` commands, which talk to the API or serve it. The CLI sits on
top of every other package and imports their public names only.
"""

from __future__ import annotations

from activity_toolkit.cli._main import build_parser, format_summary, main

__all__ = ["build_parser", "format_summary", "main"]
