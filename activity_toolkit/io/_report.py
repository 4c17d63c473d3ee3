"""What a reader did: records read, duplicates dropped, records skipped and why."""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from activity_toolkit.exceptions import (
    InputError,
    SkippedRecordsWarning,
    UnknownEventTypeWarning,
)

__all__ = ["LoadReport", "OnError", "Skipped"]

OnError = Literal["raise", "skip"]


@dataclass(frozen=True, slots=True)
class Skipped:
    """One record left out by ``on_error="skip"``."""

    location: str
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"


@dataclass(frozen=True, slots=True)
class LoadReport:
    """Counts from one read.

    Attributes
    ----------
    records
        Records (events) read, before deduplication and skipping.
    duplicates
        Records dropped because an event with the same ``id`` came first.
    skipped
        Records left out under ``on_error="skip"``, each with its location and reason.
    unknown_types
        Type strings not in the registry, with their event counts (kept, family
        ``unknown``).
    attribution
        From :func:`~activity_toolkit.fetch`: ``(fetched for, customer the payload
        names or None, events)`` for events whose payload names another customer
        or none; they are attributed to the customer they were fetched for.
    """

    records: int = 0
    duplicates: int = 0
    skipped: tuple[Skipped, ...] = ()
    unknown_types: tuple[tuple[str, int], ...] = ()
    sources: tuple[str, ...] = field(default=())
    attribution: tuple[tuple[str, str | None, int], ...] = field(default=())

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        """How many records were skipped for each kind of problem."""
        return dict(Counter(s.reason.split(":")[0] for s in self.skipped))


class _Collector:
    """Mutable helper the readers use while they run; frozen into a LoadReport."""

    def __init__(self, on_error: OnError) -> None:
        if on_error not in ("raise", "skip"):
            msg = f"on_error must be 'raise' or 'skip', got {on_error!r}"
            raise ValueError(msg)
        self.on_error = on_error
        self.records = 0
        self.skipped: list[Skipped] = []
        self.unknown: Counter[str] = Counter()
        self.sources: list[str] = []

    def problem(self, error: InputError) -> None:
        """Raise ``error`` or record it as skipped, by ``on_error``."""
        if self.on_error == "raise":
            raise error
        self.skipped.append(Skipped(error.location or "<input>", error.reason))

    def finish(self, *, duplicates: int) -> LoadReport:
        for t, n in sorted(self.unknown.items()):
            warnings.warn(
                f"unknown event type {t!r} ({n:,} events): kept with the common columns "
                "and the raw payload under family 'unknown'",
                UnknownEventTypeWarning,
                stacklevel=3,
            )
        if self.skipped:
            reasons = Counter(s.reason.split(":")[0] for s in self.skipped)
            first = self.skipped[0]
            warnings.warn(
                f"skipped {len(self.skipped):,} bad record(s) "
                f"({', '.join(f'{r}: {n}' for r, n in reasons.most_common())}); "
                f"first: {first}. See log.report.skipped for all of them.",
                SkippedRecordsWarning,
                stacklevel=3,
            )
        return LoadReport(
            records=self.records,
            duplicates=duplicates,
            skipped=tuple(self.skipped),
            unknown_types=tuple(sorted(self.unknown.items())),
            sources=tuple(self.sources),
        )
