"""Resolving what a user passes as a source: paths, directories, globs, file objects."""

from __future__ import annotations

import glob
import gzip
from collections.abc import Iterable
from pathlib import Path
from typing import IO, cast

from activity_toolkit.exceptions import InputError

__all__ = ["PathLike", "expand_paths", "is_path_source", "open_bytes"]

PathLike = str | Path

_DATA_SUFFIXES = (
    ".json",
    ".ndjson",
    ".jsonl",
    ".json.gz",
    ".ndjson.gz",
    ".jsonl.gz",
    ".gz",
)


def is_path_source(source: object) -> bool:
    return isinstance(source, str | Path)


def expand_paths(source: PathLike | Iterable[PathLike]) -> list[Path]:
    """Files named by a path, a directory (its JSON/NDJSON files, sorted), a glob, or a
    list of those. Raises ``InputError`` when nothing matches."""
    items: list[PathLike] = [source] if is_path_source(source) else list(source)  # type: ignore[list-item,arg-type]
    out: list[Path] = []
    for item in items:
        text = str(item)
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.name.endswith(_DATA_SUFFIXES)
            )
            if not found:
                msg = f"no .json/.ndjson/.jsonl(.gz) files in directory {text}"
                raise InputError(msg, source=text)
            out.extend(found)
        elif path.is_file():
            out.append(path)
        elif glob.has_magic(text):
            found = sorted(
                Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file()
            )
            if not found:
                msg = f"the pattern {text!r} matches no files"
                raise InputError(msg, source=text)
            out.extend(found)
        else:
            msg = "no such file or directory"
            raise InputError(msg, source=text)
    return out


def open_bytes(path: Path) -> IO[bytes]:
    """Open a file for binary reading, transparently un-gzipping it."""
    raw = path.open("rb")
    if raw.peek(2)[:2] == b"\x1f\x8b":
        raw.close()
        return cast("IO[bytes]", gzip.open(path, "rb"))
    return raw
