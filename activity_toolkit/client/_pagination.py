"""Pagination strategies: small frozen values that return the next request's params.

A strategy never sends a request and never changes. ``first(params)`` seeds the first
request; ``next(params, page)`` reads one answered :class:`Page` and returns the
params of the following request, or ``None`` when the listing is complete. The one
loop that sends requests lives in :mod:`activity_toolkit.client._session`.

=================  ==================================  =================================
strategy           endpoint                            cursor
=================  ==================================  =================================
``IdCursor``       ``GET /v1/customers/{id}/activity``  ``starting_after_id`` ←
                                                       ``more_starting_after``
``DateCursor``     ``GET /v1/customers/{id}/activities`` ``starting_after`` (date, with a
                   (deprecated)                        1 ms overlap) + ``starting_after_id``
``CustomerCursor`` ``GET /v1/customers``               ``page`` 1…99, then the
                                                       ``starting_after`` date cursor
=================  ==================================  =================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from activity_toolkit._time import before_ms, format_time, parse_time
from activity_toolkit.exceptions import PaginationError

__all__ = [
    "CustomerCursor",
    "DateCursor",
    "IdCursor",
    "Page",
    "Paginator",
]

Params = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Page:
    """One answered page, as a strategy sees it.

    Attributes
    ----------
    items
        The page's records, in the order the API sent them.
    body
        The whole JSON envelope.
    new
        How many of ``items`` had not been seen on earlier pages (by ``id``).
    collected
        Distinct records seen so far, this page included.
    total
        The ``total`` of the *first* page of this listing (``None`` when absent).
        The first page is asked without a cursor, so whatever ``total`` counts, it
        covers the whole listing.
    """

    items: Sequence[Mapping[str, Any]]
    body: Mapping[str, Any]
    new: int
    collected: int
    total: int | None = None


class Paginator(Protocol):
    """What the request loop needs from a strategy."""

    @property
    def items_key(self) -> str:
        """The envelope key that holds the records (``data``, ``customers``)."""
        ...

    def first(self, params: Mapping[str, Any]) -> Params:
        """Params of the first request."""
        ...

    def next(self, params: Mapping[str, Any], page: Page) -> Params | None:
        """Params of the request after ``page``, or ``None`` when done."""
        ...


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= 100:
        msg = f"page size must be between 1 and 100 (the API's bounds), got {limit}"
        raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class IdCursor:
    """``starting_after_id`` ← ``more_starting_after`` while ``has_more`` is true.

    Oldest first (``order=created_at``), so the last event seen is the newest. An
    exactly-full last page may say ``has_more: true``; the empty page after it ends
    the listing.

    >>> s = IdCursor(limit=2)
    >>> p = s.first({"start_date": "2024-01-01T00:00:00.000Z"})
    >>> p["limit"], p["order"]
    (2, 'created_at')
    >>> body = {"data": [{"id": "e1"}, {"id": "e2"}], "has_more": True,
    ...         "more_starting_after": "e2"}
    >>> s.next(p, Page(body["data"], body, new=2, collected=2))["starting_after_id"]
    'e2'
    >>> s.next(p, Page([], {"data": [], "has_more": False}, new=0, collected=2)) is None
    True
    """

    limit: int = 100
    order: str = "created_at"

    def __post_init__(self) -> None:
        _check_limit(self.limit)

    @property
    def items_key(self) -> str:
        return "data"

    def first(self, params: Mapping[str, Any]) -> Params:
        return {**params, "limit": self.limit, "order": self.order}

    def next(self, params: Mapping[str, Any], page: Page) -> Params | None:
        if not page.items:
            return None
        has_more = page.body.get("has_more")
        if has_more is None:  # envelope without has_more: fall back on a full page
            has_more = len(page.items) >= self.limit
        if not has_more:
            return None
        cursor = page.body.get("more_starting_after") or page.items[-1].get("id")
        if not isinstance(cursor, str) or not cursor:
            msg = "has_more is true but neither more_starting_after nor an event id is given"
            raise PaginationError(msg)
        return {**params, "starting_after_id": cursor}


@dataclass(frozen=True, slots=True)
class DateCursor:
    """The deprecated endpoint's date cursor, made safe against ties.

    The next request carries ``starting_after`` = the last event's ``created_at``
    minus 1 ms, so events that share the boundary millisecond come back (as
    duplicates the loop drops by id) instead of being skipped by a server that reads
    the cursor as "strictly after". With ``id_cursor`` (default) it also carries
    ``starting_after_id`` = the last event's id, which a server that honours it
    answers exactly, with no overlap at all.

    The listing ends on a short or empty page, or when the distinct events collected
    reach the first page's ``total``. A full page with nothing new (more events in one
    millisecond than fit on a page, and no id cursor) moves the cursor past that
    millisecond; what that skips shows up as a shortfall against ``total``.

    >>> s = DateCursor(limit=2)
    >>> p = s.first({})
    >>> items = [{"id": "e1", "created_at": "2024-01-01T00:00:00.000Z"},
    ...          {"id": "e2", "created_at": "2024-01-01T00:00:05.000Z"}]
    >>> n = s.next(p, Page(items, {"data": items, "total": 5}, new=2, collected=2, total=5))
    >>> n["starting_after"], n["starting_after_id"]
    ('2024-01-01T00:00:04.999Z', 'e2')
    >>> s.next(p, Page(items, {"data": items, "total": 5}, new=2, collected=5, total=5)) is None
    True
    """

    limit: int = 100
    order: str = "created_at"
    id_cursor: bool = True
    overlap: bool = True

    def __post_init__(self) -> None:
        _check_limit(self.limit)

    @property
    def items_key(self) -> str:
        return "data"

    def first(self, params: Mapping[str, Any]) -> Params:
        return {**params, "limit": self.limit, "order": self.order}

    def next(self, params: Mapping[str, Any], page: Page) -> Params | None:
        if len(page.items) < self.limit:
            return None
        if page.total is not None and page.collected >= page.total:
            return None
        last = page.items[-1]
        created_at = last.get("created_at")
        if not isinstance(created_at, str):
            msg = "the last event of a full page has no created_at to continue from"
            raise PaginationError(msg)
        stalled = page.new == 0
        cursor = (
            before_ms(created_at)
            if self.overlap and not stalled
            else format_time(created_at)
        )
        nxt: Params = {**params, "starting_after": cursor}
        if self.id_cursor and isinstance(last.get("id"), str) and not stalled:
            nxt["starting_after_id"] = last["id"]
        else:
            nxt.pop("starting_after_id", None)
        return nxt


@dataclass(frozen=True, slots=True)
class CustomerCursor:
    """``GET /v1/customers`` oldest first: pages 1…``max_page``, then a date cursor.

    Page numbers stop at 99 (99 pages of 100 = 9,900 customers). After the last page
    number the cursor moves to ``starting_after`` = the newest ``created_at`` seen
    minus 1 ms with ``order=created_at`` (ascending, "after the date") and page
    numbers restart at 1, so customers created in the same millisecond as the
    boundary come back (the loop drops the duplicates by id) instead of being lost.

    >>> s = CustomerCursor(limit=2, max_page=2)
    >>> p = s.first({})
    >>> (p["page"], p["order"])
    (1, 'created_at')
    >>> items = [{"id": "c1", "created_at": "2024-01-01T00:00:00.000Z"},
    ...          {"id": "c2", "created_at": "2024-01-01T00:00:01.000Z"}]
    >>> body = {"customers": items, "has_more": True}
    >>> p = s.next(p, Page(items, body, new=2, collected=2))
    >>> p["page"]
    2
    >>> p = s.next(p, Page(items, body, new=2, collected=4))
    >>> p["page"], p["starting_after"]
    (1, '2024-01-01T00:00:00.999Z')
    """

    limit: int = 100
    max_page: int = 99

    def __post_init__(self) -> None:
        _check_limit(self.limit)
        if self.max_page < 1:
            msg = f"max_page must be at least 1, got {self.max_page}"
            raise ValueError(msg)

    @property
    def items_key(self) -> str:
        return "customers"

    def first(self, params: Mapping[str, Any]) -> Params:
        return {**params, "limit": self.limit, "order": "created_at", "page": 1}

    def next(self, params: Mapping[str, Any], page: Page) -> Params | None:
        if not page.items:
            return None
        has_more = page.body.get("has_more")
        if has_more is False or (has_more is None and len(page.items) < self.limit):
            return None
        number = int(params.get("page", 1))
        if number < self.max_page:
            return {**params, "page": number + 1}
        stamps = [c.get("created_at") for c in page.items]
        newest = max(
            (s for s in stamps if isinstance(s, str)), key=parse_time, default=None
        )
        if newest is None:
            msg = (
                "customers on the last page number have no created_at to continue from"
            )
            raise PaginationError(msg)
        return {**params, "page": 1, "starting_after": before_ms(newest)}
