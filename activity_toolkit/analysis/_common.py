"""Shared plumbing for the analysis functions: input kinds, column checks, time
normalisation, event matchers (steps) and durations.

Nothing here collects a LazyFrame except :func:`finish`, which is the public boundary
of every analysis function.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import (
    TYPE_CHECKING,
    Concatenate,
    Literal,
    ParamSpec,
    Protocol,
    TypeAlias,
    cast,
    overload,
)

import polars as pl

from activity_toolkit.analysis._params import AnalysisParams, with_params
from activity_toolkit.events import REGISTRY, canonical_type
from activity_toolkit.exceptions import AnalysisInputError, MissingColumnsError

if TYPE_CHECKING:
    from activity_toolkit.model import ActivityLog

__all__ = [
    "UTC_MS",
    "Analysis",
    "Data",
    "Kind",
    "Step",
    "StepLike",
    "absent_note",
    "as_lazy",
    "check_step_types",
    "duration_ms",
    "finish",
    "label_of",
    "match_expr",
    "norm_key",
    "require_columns",
    "same_kind",
    "utc_ms",
]

UTC_MS = pl.Datetime("ms", "UTC")

Data: TypeAlias = "ActivityLog | pl.DataFrame | pl.LazyFrame"
Kind = Literal["eager", "lazy"]

P = ParamSpec("P")


class Analysis(Protocol[P]):
    """The type of every public analysis function: the result is the kind of frame
    it was given. An :class:`~activity_toolkit.ActivityLog` or a ``DataFrame`` gives
    a ``DataFrame``, a ``LazyFrame`` gives a ``LazyFrame`` (as ``polars.concat``
    types it), so ``funnel(log, steps)["count"]`` type-checks."""

    @overload
    def __call__(
        self, data: ActivityLog | pl.DataFrame, /, *args: P.args, **kwargs: P.kwargs
    ) -> pl.DataFrame: ...
    @overload
    def __call__(
        self, data: pl.LazyFrame, /, *args: P.args, **kwargs: P.kwargs
    ) -> pl.LazyFrame: ...
    @overload
    def __call__(
        self,
        data: ActivityLog | pl.DataFrame | pl.LazyFrame,
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> pl.DataFrame | pl.LazyFrame: ...


def same_kind(
    fn: Callable[
        Concatenate[ActivityLog | pl.DataFrame | pl.LazyFrame, P],
        pl.DataFrame | pl.LazyFrame,
    ],
) -> Analysis[P]:
    """Type ``fn`` as an :class:`Analysis`. At run time ``fn`` is returned as it
    is: no wrapper, so its signature, docstring and speed are unchanged."""
    return cast("Analysis[P]", fn)


@dataclass(frozen=True, slots=True)
class Step:
    """One funnel step (or cohort/return event, or exclusion) with a display label.

    Parameters
    ----------
    match
        An event type (aliases accepted), a sequence of event types (any of them
        matches), or a boolean Polars expression evaluated on the input rows, e.g.
        ``pl.col("campaign_name") == "Summer"``.
    label
        Name shown in results and charts. Defaults to the type, the types joined
        with ``" | "``, or the expression's text.

    Examples
    --------
    >>> import polars as pl
    >>> Step("customer.order.paid").label
    'customer.order.paid'
    >>> Step(["a", "b"]).label
    'a | b'
    >>> Step(pl.col("type") == "a", label="A").label
    'A'
    """

    match: str | tuple[str, ...] | pl.Expr
    label: str | None = None

    def __post_init__(self) -> None:
        m = self.match
        if isinstance(m, str | pl.Expr):
            pass
        elif isinstance(m, Iterable):
            types = tuple(m)
            if not types or not all(isinstance(t, str) for t in types):
                msg = f"a step given as a sequence must hold event type strings; got {m!r}"
                raise AnalysisInputError(msg)
            object.__setattr__(self, "match", types)
        else:
            msg = (
                "a step is an event type, a sequence of event types, a Polars "
                f"expression or a Step; got {type(m).__name__}"
            )
            raise AnalysisInputError(msg)
        if self.label is None:
            object.__setattr__(self, "label", _default_label(self.match))

    @property
    def types(self) -> tuple[str, ...] | None:
        """The canonical event types this step matches, ``None`` for an expression."""
        m = self.match
        if isinstance(m, pl.Expr):
            return None
        return tuple(canonical_type(t) for t in ((m,) if isinstance(m, str) else m))

    def same_as(self, other: Step) -> bool:
        """Whether both steps match exactly the same events (same definition)."""
        a, b = self.match, other.match
        if isinstance(a, pl.Expr) or isinstance(b, pl.Expr):
            return isinstance(a, pl.Expr) and isinstance(b, pl.Expr) and a.meta.eq(b)
        return set(self.types or ()) == set(other.types or ())


StepLike: TypeAlias = "str | Sequence[str] | pl.Expr | Step"


def _default_label(match: str | tuple[str, ...] | pl.Expr) -> str:
    if isinstance(match, str):
        return match
    if isinstance(match, pl.Expr):
        text = str(match)
        return text if len(text) <= 60 else text[:57] + "..."
    return " | ".join(match)


def as_step(spec: StepLike) -> Step:
    """Wrap a step-like value in a :class:`Step`."""
    return spec if isinstance(spec, Step) else Step(spec)  # type: ignore[arg-type]


def label_of(spec: StepLike) -> str:
    """The display label of a step-like value."""
    label = as_step(spec).label
    assert label is not None
    return label


def match_expr(spec: StepLike, type_col: str) -> pl.Expr:
    """Boolean expression: the row matches ``spec`` (null counts as no match)."""
    step = as_step(spec)
    if isinstance(step.match, pl.Expr):
        return step.match.fill_null(value=False)
    types = step.types or ()
    if len(types) == 1:
        return (pl.col(type_col) == types[0]).fill_null(value=False)
    return pl.col(type_col).is_in(list(types)).fill_null(value=False)


def check_step_types(
    steps: Sequence[Step],
    data: object,
    lf: pl.LazyFrame,
    type_col: str,
    *,
    what: str = "step",
) -> tuple[str, ...]:
    """Refuse a step type in Voucherify's ``customer.`` namespace that is neither
    registered nor in the data (a typo), with the closest names; return the step
    types the data lacks (their zero counts are honest, and a result's notes say
    so). Names outside the namespace (your own event types) are never refused.

    Aliases were already mapped to canonical names by :class:`Step`. The data's
    types are read for free from an ActivityLog; a DataFrame's type column is
    scanned; a LazyFrame is scanned only when a step names an unregistered type.
    """
    from activity_toolkit.model import ActivityLog

    names = list(dict.fromkeys(t for s in steps for t in (s.types or ())))
    present: set[str] | None = None
    if isinstance(data, ActivityLog):
        present = set(data.types)
    elif isinstance(data, pl.DataFrame) and type_col in data.columns:
        present = set(data[type_col].drop_nulls().unique().to_list())
    unknown = [t for t in names if t.startswith("customer.") and t not in REGISTRY]
    if unknown and present is None and type_col in lf.collect_schema():
        types = lf.select(pl.col(type_col).drop_nulls().unique()).collect()
        present = set(types[type_col].to_list())
    for name in unknown:
        if present is not None and name in present:
            continue
        close = difflib.get_close_matches(
            name,
            list(dict.fromkeys([*REGISTRY, *sorted(present or ())])),
            n=3,
            cutoff=0.6,
        )
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        msg = (
            f"{what} {name!r} is neither a Voucherify event type nor a type in the "
            f"data{hint}"
        )
        raise AnalysisInputError(msg)
    if present is None:
        return ()
    return tuple(t for t in names if t not in present)


def absent_note(absent: Sequence[str]) -> tuple[str, ...]:
    """The result note for registered step types missing from the data."""
    if not absent:
        return ()
    return (f"not in the data (counted as zero): {', '.join(absent)}",)


def as_lazy(data: object, *, what: str = "data") -> tuple[pl.LazyFrame, Kind]:
    """The input as a LazyFrame plus the kind of result to hand back.

    An :class:`~activity_toolkit.ActivityLog` contributes its ``events`` frame and
    gets an eager result.
    """
    from activity_toolkit.model import ActivityLog

    if isinstance(data, ActivityLog):
        return data.events.lazy(), "eager"
    if isinstance(data, pl.DataFrame):
        return data.lazy(), "eager"
    if isinstance(data, pl.LazyFrame):
        return data, "lazy"
    msg = (
        f"{what} must be an ActivityLog, a polars DataFrame or a polars LazyFrame; "
        f"got {type(data).__name__}"
    )
    raise AnalysisInputError(msg)


def require_columns(
    schema: pl.Schema, columns: Iterable[str], *, what: str = "input frame"
) -> None:
    """Raise :class:`MissingColumnsError` unless ``schema`` has every column."""
    missing = [c for c in dict.fromkeys(columns) if c not in schema]
    if missing:
        raise MissingColumnsError(missing, list(schema), what=what)


def utc_ms(column: str, schema: pl.Schema) -> pl.Expr:
    """``column`` as ``Datetime("ms", "UTC")``: naive values are taken as UTC, dates
    as midnight UTC, other zones converted."""
    dtype = schema[column]
    expr = pl.col(column)
    if isinstance(dtype, pl.Date):
        return expr.cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")
    if not isinstance(dtype, pl.Datetime):
        msg = (
            f"column {column!r} must be a Datetime (or Date); got {dtype}. "
            "Parse text with pl.col(...).str.to_datetime() first."
        )
        raise AnalysisInputError(msg)
    if dtype.time_zone is None:
        expr = expr.dt.replace_time_zone("UTC")
    elif dtype.time_zone != "UTC":
        expr = expr.dt.convert_time_zone("UTC")
    return expr.dt.cast_time_unit("ms")


def norm_key(key: str | Sequence[str]) -> tuple[str, ...]:
    """A unit key as a tuple of column names."""
    cols = (key,) if isinstance(key, str) else tuple(key)
    if not cols or not all(isinstance(c, str) for c in cols):
        msg = f"key must be a column name or a non-empty sequence of names; got {key!r}"
        raise AnalysisInputError(msg)
    return cols


def norm_by(by: str | Sequence[str] | None) -> tuple[str, ...]:
    """Breakdown columns as a tuple (empty when ``by`` is None)."""
    if by is None:
        return ()
    return norm_key(by)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|w|d|h|m|s)")
_UNIT_MS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
}


def duration_ms(value: timedelta | str | None, *, name: str = "within") -> int | None:
    """A fixed duration (``timedelta`` or text such as ``"7d"``, ``"1d12h"``,
    ``"90m"``) in milliseconds. Calendar units (``mo``, ``y``) are refused because
    they have no fixed length."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        ms = round(value.total_seconds() * 1000)
    elif isinstance(value, str):
        text = value.replace(" ", "")
        pos, ms_f = 0, 0.0
        for m in _DURATION.finditer(text):
            if m.start() != pos:
                break
            ms_f += float(m.group(1)) * _UNIT_MS[m.group(2)]
            pos = m.end()
        if pos != len(text) or not text:
            msg = (
                f"{name}={value!r} is not a fixed duration; use a timedelta or text like "
                "'7d', '36h', '1d12h', '90m', '30s' (calendar units such as 'mo' have "
                "no fixed length)"
            )
            raise AnalysisInputError(msg)
        ms = round(ms_f)
    else:
        msg = f"{name} must be a timedelta, a duration string or None; got {value!r}"
        raise AnalysisInputError(msg)
    if ms < 0:
        msg = f"{name} must not be negative; got {value!r}"
        raise AnalysisInputError(msg)
    return ms


def to_timedelta(ms: int | None) -> timedelta | None:
    """Milliseconds back to a ``timedelta`` (for result parameters)."""
    return None if ms is None else timedelta(milliseconds=ms)


def conversion_columns(over: Sequence[str] = ()) -> list[pl.Expr]:
    """``conversion`` (÷ step 1), ``step_conversion`` (÷ previous step; step 1 ÷
    itself) and ``dropped`` of a long funnel frame with ``step`` and ``count``, sorted
    by step within each ``over`` group."""
    first = pl.col("count").first()
    prev = pl.col("count").shift(1)
    if over:
        first, prev = first.over(over), prev.over(over)
    prev = pl.when(pl.col("step") == 1).then(pl.col("count")).otherwise(prev)
    return [
        pl.when(first > 0).then(pl.col("count") / first).alias("conversion"),
        pl.when(prev > 0).then(pl.col("count") / prev).alias("step_conversion"),
        (prev - pl.col("count")).alias("dropped"),
    ]


def finish(
    lf: pl.LazyFrame, kind: Kind, params: AnalysisParams
) -> pl.DataFrame | pl.LazyFrame:
    """The public boundary: collect unless the caller gave a LazyFrame, and record
    the parameters on the returned object."""
    if kind == "lazy":
        return with_params(lf, params)
    return with_params(lf.collect(), params)
