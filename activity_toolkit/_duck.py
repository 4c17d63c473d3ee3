"""The one way the package opens DuckDB: in memory and offline.

Extension auto-installing and auto-loading are off, so DuckDB never reaches for the
network (its JSON reader is built into the Python wheel), and the progress bar is off
because it would draw on the user's terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

__all__ = ["connect"]


def connect(*, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection; ``threads`` caps its worker threads."""
    import duckdb

    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    if threads is not None:
        config["threads"] = threads
    con = duckdb.connect(config=config)
    con.execute("SET enable_progress_bar = false")
    return con
