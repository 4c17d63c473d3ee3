"""What the sandbox serves: customers and their events, indexed for the endpoints."""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from activity_toolkit._time import from_ms as _iso
from activity_toolkit._time import to_ms

__all__ = ["CustomerIndex", "EventRow", "World", "WorldLike", "WorldView"]


class WorldLike(Protocol):
    """Anything with the customers and events the sandbox serves, such as
    :class:`activity_toolkit.sample.SampleWorld` or :class:`World`."""

    @property
    def customers(self) -> list[dict[str, Any]]: ...

    def events_by_customer(self) -> dict[str, list[dict[str, Any]]]: ...


def _customer_of(event: Mapping[str, Any]) -> str | None:
    data = event.get("data")
    payload = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(payload, Mapping):
        payload = data if isinstance(data, Mapping) else {}
    customer = payload.get("customer")
    cid = customer.get("id") if isinstance(customer, Mapping) else None
    return cid if isinstance(cid, str) else None


@dataclass(frozen=True, slots=True)
class World:
    """A hand-made world: customer objects and events in the nested API shape.

    ``events`` are assigned to customers by ``data.data.customer.id``.

    >>> w = World([{"id": "cust_1", "created_at": "2024-01-01T00:00:00.000Z"}], [])
    >>> w.events_by_customer()
    {'cust_1': []}
    """

    customers: list[dict[str, Any]]
    events: list[dict[str, Any]] = field(default_factory=list)

    def events_by_customer(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {c["id"]: [] for c in self.customers}
        for e in self.events:
            cid = _customer_of(e)
            if cid in out:
                out[cid].append(e)
        for evs in out.values():
            evs.sort(key=lambda e: (e["created_at"], e["id"]))
        return out

    @classmethod
    def from_json(cls, raw: bytes | str) -> World:
        """``{"customers": [...], "events": [...]}`` as JSON."""
        obj = orjson.loads(raw)
        return cls(list(obj.get("customers", [])), list(obj.get("events", [])))

    def to_json(self) -> bytes:
        """The world as JSON (see :meth:`from_json`)."""
        return orjson.dumps({"customers": self.customers, "events": self.events})

    @classmethod
    def generate(
        cls,
        *,
        customers: int = 10,
        events: int | Sequence[int] = 25,
        tie: int = 3,
        bulk: int = 3,
        seed: int = 0,
        start: str = "2024-01-01T00:00:00.000Z",
    ) -> World:
        """A small deterministic world built to exercise loaders.

        Parameters
        ----------
        customers
            Number of customers. Every ``bulk`` consecutive customers share one
            ``created_at`` millisecond (a bulk import).
        events
            Events per customer (one number, or one per customer).
        tie
            Events come in groups of ``tie`` that share one ``created_at``
            millisecond (one API request's effects), with ids in random order, so
            page boundaries fall inside groups.
        seed
            Seeds the ids.

        >>> w = World.generate(customers=4, events=5, tie=2, bulk=2)
        >>> [c["created_at"][11:23] for c in w.customers]
        ['00:00:00.000', '00:00:00.000', '00:00:01.000', '00:00:01.000']
        >>> len(w.events), len({e["created_at"] for e in w.events if
        ...                     e["data"]["data"]["customer"]["id"] == w.customers[0]["id"]})
        (20, 3)
        """
        rng = random.Random(seed)
        base = to_ms(start)
        counts = [events] * customers if isinstance(events, int) else list(events)
        if len(counts) != customers:
            msg = f"events: expected {customers} counts, got {len(counts)}"
            raise ValueError(msg)
        people: list[dict[str, Any]] = []
        evs: list[dict[str, Any]] = []
        types = (
            "customer.order.paid",
            "customer.redemption.succeeded",
            "customer.rewarded.loyalty_points",
            "customer.segment.entered",
        )
        campaigns = (("camp_loyalty", "LOYALTY_PROGRAM"), ("camp_promo", "PROMOTION"))
        for i in range(customers):
            cid = f"cust_{rng.getrandbits(64):016x}"
            created = base + (i // max(bulk, 1)) * 1000
            person = {
                "id": cid,
                "source_id": f"src-{i:05d}",
                "name": f"Customer {i}",
                "email": f"c{i}@example.com",
                "metadata": {},
                "object": "customer",
                "created_at": _iso(created),
            }
            people.append(person)
            simple = {
                k: person[k]
                for k in ("id", "source_id", "name", "email", "metadata", "object")
            }
            t = created + 60_000
            for j in range(counts[i]):
                if j % max(tie, 1) == 0:
                    t += 1000 + rng.randrange(5000)
                    group = f"v-{rng.getrandbits(72):018x}"
                camp_id, camp_type = campaigns[j % len(campaigns)]
                evs.append(
                    {
                        "id": f"evcus_{rng.getrandbits(72):018x}",
                        "type": types[j % len(types)],
                        "created_at": _iso(t),
                        "group_id": group,
                        "data": {
                            "data": {
                                "customer": simple,
                                "campaign": {
                                    "id": camp_id,
                                    "name": camp_id,
                                    "campaign_type": camp_type,
                                },
                            },
                            "event_source": {"channel": "API"},
                        },
                    }
                )
        return cls(people, evs)


# Event types that are effects of another action (the /activity ``category`` filter).
_EFFECT_PREFIXES = (
    "customer.rewarded",
    "customer.voucher.",
    "customer.loyalty.",
    "customer.segment.",
    "customer.segment_",
    "customer.holder.",
)


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event with the keys the endpoints filter and sort on."""

    ms: int
    id: str
    type: str
    campaign_id: str | None
    campaign_type: str | None
    product_ids: tuple[str, ...]
    event: Mapping[str, Any]

    @property
    def key(self) -> tuple[int, str]:
        return (self.ms, self.id)

    @property
    def category(self) -> str:
        return "EFFECT" if self.type.startswith(_EFFECT_PREFIXES) else "ACTION"

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> EventRow:
        data = event.get("data")
        payload = data.get("data") if isinstance(data, Mapping) else None
        if not isinstance(payload, Mapping):
            payload = data if isinstance(data, Mapping) else {}
        campaign = payload.get("campaign")
        campaign = campaign if isinstance(campaign, Mapping) else {}
        voucher = payload.get("voucher")
        voucher = voucher if isinstance(voucher, Mapping) else {}
        order = payload.get("order")
        items = order.get("items") if isinstance(order, Mapping) else None
        products = tuple(
            i["product_id"]
            for i in (items if isinstance(items, list) else [])
            if isinstance(i, Mapping) and isinstance(i.get("product_id"), str)
        )
        return cls(
            ms=to_ms(event["created_at"]),
            id=event["id"],
            type=str(event.get("type", "")),
            campaign_id=campaign.get("id") or voucher.get("campaign_id"),
            campaign_type=campaign.get("campaign_type"),
            product_ids=products,
            event=event,
        )


class CustomerIndex:
    """Customers by (created_at, id), by id and by source id; events per customer."""

    def __init__(self, world: WorldLike) -> None:
        customers = [dict(c) for c in world.customers]
        customers.sort(key=lambda c: (to_ms(c["created_at"]), c["id"]))
        self.customers: Sequence[dict[str, Any]] = customers
        self.created_ms: list[int] = [to_ms(c["created_at"]) for c in customers]
        self.by_key: dict[str, dict[str, Any]] = {}
        for c in customers:
            self.by_key[c["id"]] = c
            source = c.get("source_id")
            if isinstance(source, str) and source not in self.by_key:
                self.by_key[source] = c
        raw = world.events_by_customer()
        self.events: dict[str, list[EventRow]] = {}
        for cid in (c["id"] for c in customers):
            rows = [EventRow.of(e) for e in raw.get(cid, ())]
            rows.sort(key=lambda r: r.key)
            self.events[cid] = rows
        self.event_count = sum(len(r) for r in self.events.values())

    def lookup(self, key: str) -> dict[str, Any] | None:
        """A customer by Voucherify id or source id."""
        return self.by_key.get(key)

    def after(self, ms: int) -> int:
        """Index of the first customer created strictly after ``ms``."""
        return bisect.bisect_right(self.created_ms, ms)

    def before(self, ms: int) -> int:
        """Index one past the last customer created strictly before ``ms``."""
        return bisect.bisect_left(self.created_ms, ms)

    def all_events(self) -> Iterable[EventRow]:
        for rows in self.events.values():
            yield from rows


class WorldView:
    """The index as the API shows it: with ``until`` (epoch ms) set, the events and
    customers created after it are hidden ("new activity since the last sync")."""

    def __init__(self, index: CustomerIndex) -> None:
        self.index = index
        self.until: int | None = None

    def visible(self, rows: Sequence[EventRow]) -> list[EventRow]:
        """The rows created up to ``until``."""
        if self.until is None:
            return list(rows)
        until = self.until
        return [r for r in rows if r.ms <= until]
