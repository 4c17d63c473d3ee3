"""Result parameters: what produced a result frame, in a form a chart can print.

Every public analysis function returns a plain Polars frame (the same kind it was
given) and records an :class:`AnalysisParams` for that frame object. Read it back with
:func:`params_of`. The record is kept in a registry keyed on the identity of the
returned object and held through a weak reference, so it disappears with the frame and
never keeps a frame alive.

A derived frame (``result.filter(...)``, ``lazy_result.collect()``) is a new object
and has no record. Two helpers carry the record over:

* :func:`collect` collects a lazy result and gives the collected frame the same record
  (it returns a DataFrame unchanged);
* :func:`with_params` attaches a record to any frame you derived yourself.

Why a registry and not a wrapper object: a wrapper would break the rule that an
analysis returns the kind of frame it was given (a LazyFrame stays a LazyFrame that any
Polars code can consume), and Polars frames have no metadata slot of their own.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import polars as pl

__all__ = ["AnalysisParams", "collect", "params_of", "with_params"]

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


def _fmt(value: Any) -> str:
    if isinstance(value, timedelta):
        return _fmt_timedelta(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, str):
        return value
    return repr(value)


def _fmt_timedelta(value: timedelta) -> str:
    """``7d``, ``36h``, ``90m``, ``1d 2h``: a compact, exact rendering."""
    ms = round(value.total_seconds() * 1000)
    if ms == 0:
        return "0s"
    parts = []
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        n, ms = divmod(ms, size)
        if n:
            parts.append(f"{n}{unit}")
    if ms:
        parts.append(f"{ms}ms")
    return sign + " ".join(parts)


@dataclass(frozen=True, slots=True)
class AnalysisParams:
    """The parameters and semantic rules behind one analysis result.

    Parameters
    ----------
    analysis
        Name of the function that produced the result, e.g. ``"funnel"``.
    options
        ``(name, value)`` pairs in signature order. Values are plain, printable
        Python values (strings, numbers, ``timedelta``, tuples of labels); Polars
        expressions are stored as their labels.
    notes
        Short sentences stating the rules that the options do not show (tie order,
        what counts as a conversion, metric definitions).

    Examples
    --------
    >>> from datetime import timedelta
    >>> p = AnalysisParams("funnel", (("mode", "ordered"), ("within", timedelta(days=7))))
    >>> p["within"]
    datetime.timedelta(days=7)
    >>> p.describe()
    'funnel: mode=ordered, within=7d'
    """

    analysis: str
    options: tuple[tuple[str, Any], ...] = ()
    notes: tuple[str, ...] = field(default=())

    def __getitem__(self, name: str) -> Any:
        for key, value in self.options:
            if key == name:
                return value
        msg = f"{self.analysis} has no option {name!r}; options: {[k for k, _ in self.options]}"
        raise KeyError(msg)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self.options)

    def get(self, name: str, default: Any = None) -> Any:
        """The value of option ``name``, or ``default`` when there is none."""
        try:
            return self[name]
        except KeyError:
            return default

    def as_dict(self) -> dict[str, Any]:
        """The options as a plain ``dict`` (signature order)."""
        return dict(self.options)

    def describe(self, *, skip_defaults: Mapping[str, Any] | None = None) -> str:
        """One line for a chart subtitle: ``"funnel: mode=ordered, within=7d"``.

        Options whose value equals ``skip_defaults[name]`` are left out, and so are
        options set to ``None``.
        """
        skip = skip_defaults or {}
        shown = [
            f"{k}={_fmt(v)}"
            for k, v in self.options
            if v is not None and not (k in skip and skip[k] == v)
        ]
        return f"{self.analysis}: " + ", ".join(shown) if shown else self.analysis

    def __str__(self) -> str:
        return self.describe()


_LOCK = threading.Lock()
_REGISTRY: dict[int, tuple[weakref.ref[Any], AnalysisParams]] = {}


def _forget(key: int, ref: weakref.ref[Any]) -> None:
    with _LOCK:
        entry = _REGISTRY.get(key)
        if entry is not None and entry[0] is ref:
            del _REGISTRY[key]


def with_params(frame: FrameT, params: AnalysisParams) -> FrameT:
    """Record ``params`` for ``frame`` and return ``frame`` itself (not a copy).

    Examples
    --------
    >>> import polars as pl
    >>> df = with_params(pl.DataFrame({"a": [1]}), AnalysisParams("custom"))
    >>> params_of(df).analysis
    'custom'
    """
    key = id(frame)

    def forget(r: weakref.ref[Any]) -> None:
        _forget(key, r)

    ref = weakref.ref(frame, forget)
    with _LOCK:
        _REGISTRY[key] = (ref, params)
    return frame


def params_of(frame: pl.DataFrame | pl.LazyFrame) -> AnalysisParams | None:
    """The :class:`AnalysisParams` recorded for ``frame``, or ``None``.

    Only the exact object an analysis function returned (or that went through
    :func:`collect` / :func:`with_params`) has a record; frames derived from it do not.

    Examples
    --------
    >>> import polars as pl
    >>> from activity_toolkit.analysis import funnel
    >>> events = pl.DataFrame(
    ...     {
    ...         "customer_id": ["c1", "c1"],
    ...         "type": ["a", "b"],
    ...         "created_at": pl.Series(["2024-01-01", "2024-01-02"]).str.to_datetime(),
    ...     }
    ... )
    >>> result = funnel(events, ["a", "b"])
    >>> params_of(result)["mode"]
    'ordered'
    >>> params_of(result.head()) is None
    True
    """
    with _LOCK:
        entry = _REGISTRY.get(id(frame))
    if entry is None or entry[0]() is not frame:
        return None
    return entry[1]


def collect(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Collect a (lazy) analysis result, keeping its :class:`AnalysisParams`.

    A DataFrame is returned unchanged.

    Examples
    --------
    >>> import polars as pl
    >>> from activity_toolkit.analysis import funnel
    >>> lazy = pl.LazyFrame(
    ...     {
    ...         "customer_id": ["c1"],
    ...         "type": ["a"],
    ...         "created_at": pl.Series(["2024-01-01"]).str.to_datetime(),
    ...     }
    ... )
    >>> result = funnel(lazy, ["a"])
    >>> params_of(collect(result))["mode"]
    'ordered'
    """
    if isinstance(frame, pl.DataFrame):
        return frame
    params = params_of(frame)
    out = frame.collect()
    return with_params(out, params) if params is not None else out
