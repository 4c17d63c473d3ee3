"""``ActivityLog``: the immutable value every reader returns and every analysis takes."""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import polars as pl

from activity_toolkit._store import write_store
from activity_toolkit._time import as_utc
from activity_toolkit.events import (
    EVENT_COLUMNS,
    EVENTS_SCHEMA,
    FAMILIES,
    REGISTRY,
    UNKNOWN_FAMILY,
    canonical_type,
    did_you_mean,
    empty_frame,
    frame_schema,
)
from activity_toolkit.exceptions import AnalysisInputError

if TYPE_CHECKING:  # a type only; at run time io imports the model, not the reverse
    from activity_toolkit.io import LoadReport

__all__ = ["ActivityLog"]

_SORT = ["created_at", "id"]


def _when(value: Any) -> str:
    """A timestamp for display; never raises (a display must not crash)."""
    try:
        # not strftime: on glibc ``%Y`` writes year 1 as ``1``, not ``0001``
        return str(value.isoformat(sep=" ", timespec="seconds"))[:19]
    except (AttributeError, OverflowError, TypeError, ValueError):
        return str(value)


def _str_set(values: str | Iterable[str]) -> list[str]:
    return [values] if isinstance(values, str) else list(values)


def _check_families(names: Iterable[str]) -> None:
    for name in names:
        if name not in FAMILIES and name != UNKNOWN_FAMILY:
            hint = did_you_mean(name, [*FAMILIES, UNKNOWN_FAMILY])
            msg = f"family {name!r} is not an event family{hint}"
            raise AnalysisInputError(msg)


def _check_campaign_names(
    names: Iterable[str], known: Sequence[str], *, where: str
) -> None:
    """Refuse a campaign id or name that matches no campaign in ``known`` (the ids
    and names in the data), with the closest ones: a typo would select nothing."""
    present = set(known)
    for name in names:
        if name not in present:
            hint = did_you_mean(name, known)
            if not known:
                hint = f"; {where} has no campaigns"
            msg = f"campaign {name!r} is neither a campaign id nor a name in {where}{hint}"
            raise AnalysisInputError(msg)


@dataclass(frozen=True, slots=True)
class _Parts:
    events: pl.DataFrame
    frames: Mapping[str, pl.DataFrame]
    report: LoadReport | None = field(default=None)


class ActivityLog:
    """Customer activity as one events frame plus one typed frame per event type.

    An ``ActivityLog`` is immutable: :meth:`filter` and :meth:`combine` return new
    logs. Readers (:func:`~activity_toolkit.read_events`,
    :func:`~activity_toolkit.read_pages`, :func:`~activity_toolkit.read_parquet`) and
    :func:`~activity_toolkit.sample` build it; you rarely call the constructor.

    Parameters
    ----------
    events
        One row per event with the columns of
        :data:`~activity_toolkit.events.EVENT_COLUMNS`, unique by ``id``.
    frames
        Canonical event type → typed frame (the common columns, then that type's
        fields). Each event is in exactly one frame.
    report
        What the reader did (records read, duplicates dropped, records skipped).

    Examples
    --------
    >>> from activity_toolkit import sample
    >>> log = sample(customers=20, seed=1)
    >>> len(log) == log.events.height
    True
    >>> log["customer.order.paid"].columns[:3]
    ['id', 'type', 'type_raw']
    """

    __slots__ = ("_parts",)
    _parts: _Parts

    def __init__(
        self,
        events: pl.DataFrame,
        frames: Mapping[str, pl.DataFrame],
        *,
        report: LoadReport | None = None,
    ) -> None:
        object.__setattr__(
            self, "_parts", _Parts(events, MappingProxyType(dict(frames)), report)
        )

    def __setattr__(self, name: str, value: Any) -> None:
        msg = "ActivityLog is immutable; filter() and combine() return new logs"
        raise AttributeError(msg)

    # -- construction ----------------------------------------------------------------
    @classmethod
    def empty(cls) -> ActivityLog:
        """A log with no events."""
        return cls(pl.DataFrame(schema=EVENTS_SCHEMA), {})

    @classmethod
    def _from_parts(
        cls,
        events: pl.DataFrame,
        frames: Mapping[str, pl.DataFrame],
        *,
        report: LoadReport | None = None,
    ) -> ActivityLog:
        """Dedupe by ``id`` (first seen wins), sort by (created_at, id), keep the
        frames consistent with the events."""
        before = events.height
        events = events.unique("id", keep="first", maintain_order=True)
        deduped = before != events.height
        events = events.sort(_SORT)
        clean: dict[str, pl.DataFrame] = {}
        for t in sorted(frames):
            f = frames[t]
            if f.height == 0:
                continue
            if deduped:
                f = f.unique("id", keep="first", maintain_order=True)
            clean[t] = f.sort(_SORT)
        total = sum(f.height for f in clean.values())
        if total != events.height:  # one id under two types: keep what events kept
            kept = events.select("id", "type")
            clean = {
                t: f.join(kept, on=["id", "type"], how="semi", maintain_order="left")
                for t, f in clean.items()
            }
            clean = {t: f for t, f in clean.items() if f.height}
        return cls(events.rechunk(), clean, report=report)

    # -- accessors ---------------------------------------------------------------------
    @property
    def events(self) -> pl.DataFrame:
        """All events, one row each, sorted by (``created_at``, ``id``)."""
        return self._parts.events

    @property
    def frames(self) -> Mapping[str, pl.DataFrame]:
        """Canonical type → typed frame, for the types present."""
        return self._parts.frames

    @property
    def report(self) -> LoadReport | None:
        """What the reader that built this log did (``None`` for derived logs)."""
        return self._parts.report

    @property
    def types(self) -> tuple[str, ...]:
        """Sorted canonical types present."""
        return tuple(sorted(self.frames))

    @property
    def customers(self) -> pl.Series:
        """Distinct customer ids, sorted (nulls left out)."""
        return self.events["customer_id"].drop_nulls().unique().sort()

    def __len__(self) -> int:
        return self.events.height

    def __iter__(self) -> Iterator[str]:
        return iter(self.types)

    def __contains__(self, event_type: object) -> bool:
        return isinstance(event_type, str) and canonical_type(event_type) in self.frames

    def __getitem__(self, event_type: str) -> pl.DataFrame:
        """The typed frame of one event type (aliases accepted).

        A registered type with no events gives an empty frame with its full schema;
        a string that is neither registered nor present raises ``KeyError``.
        """
        t = canonical_type(event_type)
        if t in self.frames:
            return self.frames[t]
        if t in REGISTRY:
            return empty_frame(t)
        msg = f"no events of type {event_type!r}; present types: {list(self.types)}"
        raise KeyError(msg)

    def frame_schema(self, event_type: str) -> pl.Schema:
        """Schema of the frame of ``event_type``, present or not."""
        t = canonical_type(event_type)
        return self.frames[t].schema if t in self.frames else frame_schema(t)

    # -- summaries ---------------------------------------------------------------------
    def counts(self) -> pl.DataFrame:
        """Events per (family, type), most frequent first."""
        return (
            self.events.group_by("family", "type")
            .agg(
                pl.len().alias("events"),
                pl.col("customer_id").n_unique().alias("customers"),
            )
            .sort(["events", "type"], descending=[True, False])
        )

    def summary(self) -> dict[str, Any]:
        """Headline numbers: events, customers, time range, types and counts by family."""
        ev = self.events
        by_family = (
            ev.group_by("family")
            .len()
            .sort(["len", "family"], descending=[True, False])
        )
        return {
            "events": ev.height,
            "customers": ev["customer_id"].n_unique()
            - (1 if ev["customer_id"].null_count() else 0),
            "types": len(self.frames),
            "start": ev["created_at"].min() if ev.height else None,
            "end": ev["created_at"].max() if ev.height else None,
            "families": dict(zip(by_family["family"], by_family["len"], strict=True)),
        }

    def __repr__(self) -> str:
        s = self.summary()
        if not s["events"]:
            return "ActivityLog(0 events)"
        fams = ", ".join(f"{k} {v:,}" for k, v in s["families"].items())
        return (
            f"ActivityLog({s['events']:,} events, {s['customers']:,} customers, "
            f"{s['types']} types, {_when(s['start'])} → {_when(s['end'])} UTC)\n"
            f"  by family: {fams}"
        )

    def _repr_html_(self) -> str:
        """A compact card for notebooks: headline numbers, events by family as bars,
        the most frequent types and what the reader reported. Every string is
        escaped; nothing is loaded from the network."""
        s = self.summary()
        esc = html.escape
        if not s["events"]:
            return "<div><b>ActivityLog</b>: 0 events</div>"
        span = f"{_when(s['start'])} → {_when(s['end'])} UTC"
        top = max(s["families"].values())
        bars = "".join(
            "<tr>"
            f"<td style='padding:1px 8px 1px 0'>{esc(str(fam))}</td>"
            "<td style='padding:1px 0;width:220px'><div style='background:#0072B2;"
            f"height:10px;width:{max(1, round(200 * n / top))}px'></div></td>"
            f"<td style='padding:1px 0 1px 8px;text-align:right'>{n:,}</td></tr>"
            for fam, n in s["families"].items()
        )
        counts = self.counts().head(8)
        types = "".join(
            f"<tr><td style='padding:1px 8px 1px 0'>{esc(t)}</td>"
            f"<td style='text-align:right'>{e:,}</td>"
            f"<td style='text-align:right;padding-left:8px'>{c:,}</td></tr>"
            for t, e, c in counts.select("type", "events", "customers").iter_rows()
        )
        rep = self.report
        notes = ""
        if rep is not None:
            notes = (
                f"<div style='color:#59636e;margin-top:6px'>read {rep.records:,} records; "
                f"{rep.duplicates:,} duplicates dropped; {len(rep.skipped):,} skipped"
                + (
                    "; unknown types kept: "
                    + esc(", ".join(f"{t} ({n:,})" for t, n in rep.unknown_types))
                    if rep.unknown_types
                    else ""
                )
                + "</div>"
            )
        return (
            "<div style='font:13px/1.4 sans-serif'>"
            f"<div><b>ActivityLog</b>: {s['events']:,} events, {s['customers']:,} "
            f"customers, {s['types']} types, {esc(span)}</div>"
            "<div style='display:flex;gap:32px;margin-top:6px;align-items:flex-start'>"
            f"<table><thead><tr><th style='text-align:left'>family</th><th></th>"
            f"<th style='text-align:right'>events</th></tr></thead><tbody>{bars}"
            "</tbody></table>"
            "<table><thead><tr><th style='text-align:left'>most frequent types</th>"
            "<th style='text-align:right'>events</th>"
            "<th style='text-align:right'>customers</th></tr></thead>"
            f"<tbody>{types}</tbody></table></div>{notes}</div>"
        )

    # -- derivation --------------------------------------------------------------------
    def _where(self, predicate: pl.Expr) -> ActivityLog:
        frames = {t: f.filter(predicate) for t, f in self.frames.items()}
        return ActivityLog(
            self.events.filter(predicate), {t: f for t, f in frames.items() if f.height}
        )

    def filter(
        self,
        *,
        start: datetime | date | str | None = None,
        end: datetime | date | str | None = None,
        customers: str | Iterable[str] | None = None,
        campaigns: str | Iterable[str] | None = None,
        types: str | Iterable[str] | None = None,
        families: str | Iterable[str] | None = None,
        campaign_types: str | Iterable[str] | None = None,
        channels: str | Iterable[str] | None = None,
    ) -> ActivityLog:
        """A new log with only the events that match every given condition.

        Parameters
        ----------
        start, end
            Half-open time range ``start <= created_at < end``. Naive values and
            dates are taken as UTC; strings are ISO 8601.
        customers
            Voucherify customer ids or source ids.
        campaigns
            Campaign ids or campaign names.
        types
            Event types (aliases accepted).
        families
            Event families such as ``"redemption"`` or ``"tier"``.
        campaign_types
            Campaign types such as ``"DISCOUNT_COUPONS"`` or ``"LOYALTY_PROGRAM"``.
        channels
            ``event_source.channel`` values such as ``"API"``.

        Events without a campaign (or channel) are left out by a campaign (or
        channel) condition.

        A name that would select nothing because of a typo is refused with
        :class:`~activity_toolkit.exceptions.AnalysisInputError` naming the closest
        ones: a type neither registered nor in the log, a family that does not
        exist, a campaign that is neither an id nor a name in the log. A registered
        type the log lacks gives an empty log.

        Examples
        --------
        >>> from activity_toolkit import sample
        >>> log = sample(customers=20, seed=1)
        >>> paid = log.filter(types="customer.order.paid")
        >>> paid.types
        ('customer.order.paid',)
        """
        conds: list[pl.Expr] = []
        if start is not None:
            conds.append(pl.col("created_at") >= as_utc(start))
        if end is not None:
            conds.append(pl.col("created_at") < as_utc(end))
        if customers is not None:
            ids = _str_set(customers)
            conds.append(
                pl.col("customer_id").is_in(ids)
                | pl.col("customer_source_id").is_in(ids)
            )
        if campaigns is not None:
            names = _str_set(campaigns)
            self._check_campaigns(names)
            conds.append(
                pl.col("campaign_id").is_in(names)
                | pl.col("campaign_name").is_in(names)
            )
        if types is not None:
            canonical = [canonical_type(t) for t in _str_set(types)]
            self._check_types(canonical)
            conds.append(pl.col("type").is_in(canonical))
        if families is not None:
            names = _str_set(families)
            _check_families(names)
            conds.append(pl.col("family").is_in(names))
        if campaign_types is not None:
            conds.append(pl.col("campaign_type").is_in(_str_set(campaign_types)))
        if channels is not None:
            conds.append(pl.col("channel").is_in(_str_set(channels)))
        if not conds:
            return self
        return self._where(pl.all_horizontal(conds))

    def _check_types(self, types: Iterable[str]) -> None:
        """Refuse a type that is neither registered nor in this log (a typo would
        otherwise select nothing), with the closest names."""
        for t in types:
            if t not in REGISTRY and t not in self.frames:
                hint = did_you_mean(t, [*REGISTRY, *self.types])
                msg = (
                    f"type {t!r} is neither a Voucherify event type nor a type in "
                    f"the log{hint}"
                )
                raise AnalysisInputError(msg)

    def _check_campaigns(self, names: Iterable[str]) -> None:
        """Refuse a campaign that is neither an id nor a name in this log."""
        names = list(names)
        known = (
            pl.concat(
                [
                    self.events["campaign_id"].drop_nulls(),
                    self.events["campaign_name"].drop_nulls(),
                ]
            )
            .unique()
            .sort()
            .to_list()
        )
        _check_campaign_names(names, known, where="the log")

    def combine(self, *others: ActivityLog) -> ActivityLog:
        """Union of this log and ``others``, deduplicated by ``id`` (first wins).

        ``log_a | log_b`` is the same as ``log_a.combine(log_b)``.
        """
        return ActivityLog.concat([self, *others])

    def __or__(self, other: ActivityLog) -> ActivityLog:
        if not isinstance(other, ActivityLog):
            return NotImplemented
        return self.combine(other)

    @classmethod
    def concat(cls, logs: Sequence[ActivityLog]) -> ActivityLog:
        """Union of several logs, deduplicated by ``id`` (the first log wins)."""
        logs = [log for log in logs if len(log)]
        if not logs:
            return cls.empty()
        if len(logs) == 1:
            return logs[0]
        events = pl.concat([log.events for log in logs], how="vertical")
        parts: dict[str, list[pl.DataFrame]] = {}
        for log in logs:
            for t, f in log.frames.items():
                parts.setdefault(t, []).append(f)
        frames = {t: pl.concat(fs, how="vertical_relaxed") for t, fs in parts.items()}
        return cls._from_parts(events, frames)

    def equals(self, other: ActivityLog) -> bool:
        """Same events and the same frames, value for value."""
        return (
            self.types == other.types
            and self.events.equals(other.events)
            and all(self.frames[t].equals(other.frames[t]) for t in self.types)
        )

    def write_parquet(self, path: str | Path) -> Path:
        """Write this log as a Parquet store (see :func:`activity_toolkit.read_parquet`).

        The store is written to a temporary directory beside ``path`` and swapped in
        with a rename, so a reader never sees it half-written.
        """
        return write_store(self, path)


assert tuple(EVENTS_SCHEMA) == EVENT_COLUMNS
