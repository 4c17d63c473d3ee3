"""Query parameters of the endpoints: parsing, validation, event filters.

Each helper raises :class:`BadQuery` for a value the API would refuse; the sandbox
answers it with a 400 ``invalid_query_params``.
"""

from __future__ import annotations

from collections.abc import Sequence

from activity_toolkit._time import to_ms
from activity_toolkit.sandbox._messages import SandboxRequest
from activity_toolkit.sandbox._world import EventRow

__all__ = [
    "BadQuery",
    "after_id",
    "date_arg",
    "filter_events",
    "int_arg",
    "order_arg",
]


class BadQuery(Exception):
    """An invalid query parameter; ``details`` goes into the 400 body."""

    def __init__(self, details: str) -> None:
        super().__init__(details)
        self.details = details


def int_arg(request: SandboxRequest, name: str, default: int, lo: int, hi: int) -> int:
    """Integer parameter ``name`` in ``[lo, hi]`` (``default`` when absent or empty)."""
    raw = request.arg(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        msg = f"{name} must be an integer, got {raw!r}"
        raise BadQuery(msg) from None
    if not lo <= value <= hi:
        msg = f"{name} must be between {lo} and {hi}, got {value}"
        raise BadQuery(msg)
    return value


def date_arg(request: SandboxRequest, name: str) -> int | None:
    """ISO 8601 date-time parameter ``name`` in epoch milliseconds, or ``None``."""
    raw = request.arg(name)
    if raw is None or raw == "":
        return None
    try:
        return to_ms(raw)
    except ValueError:
        msg = f"{name} must be an ISO 8601 date-time, got {raw!r}"
        raise BadQuery(msg) from None


def order_arg(request: SandboxRequest, allowed: Sequence[str], default: str) -> bool:
    """The ``order`` parameter, one of ``allowed``: ``True`` for ascending."""
    order = request.arg("order") or default
    if order not in allowed:
        msg = f"order must be one of {list(allowed)}, got {order!r}"
        raise BadQuery(msg)
    return not order.startswith("-")


def filter_events(
    request: SandboxRequest, rows: list[EventRow], names: Sequence[str]
) -> list[EventRow]:
    """``rows`` within ``start_date`` … ``end_date`` and matching the filters
    ``names`` (of ``campaign_id``, ``campaign_type``, ``type``, ``category``,
    ``product_id``) given in the query."""
    start = date_arg(request, "start_date")
    end = date_arg(request, "end_date")
    if start is not None:
        rows = [r for r in rows if r.ms >= start]
    if end is not None:
        rows = [r for r in rows if r.ms <= end]
    for name in names:
        value = request.arg(name)
        if not value:
            continue
        if name == "campaign_id":
            rows = [r for r in rows if r.campaign_id == value]
        elif name == "campaign_type":
            rows = [r for r in rows if r.campaign_type == value]
        elif name == "type":
            rows = [r for r in rows if r.type == value]
        elif name == "category":
            if value not in ("ACTION", "EFFECT"):
                msg = f"category must be ACTION or EFFECT, got {value!r}"
                raise BadQuery(msg)
            rows = [r for r in rows if r.category == value]
        elif name == "product_id":
            rows = [r for r in rows if value in r.product_ids]
    return rows


def after_id(
    rows: list[EventRow],
    all_rows: list[EventRow],
    event_id: str,
    *,
    ascending: bool,
) -> list[EventRow]:
    """``rows`` after the event ``event_id`` (one of ``all_rows``) in the page order:
    the ``starting_after_id`` cursor."""
    ref = next((r for r in all_rows if r.id == event_id), None)
    if ref is None:
        msg = f"starting_after_id {event_id!r} is not an event of this customer"
        raise BadQuery(msg)
    if ascending:
        return [r for r in rows if r.key > ref.key]
    return [r for r in rows if r.key < ref.key]
