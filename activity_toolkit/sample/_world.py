"""The world: its customers, who referred whom, and each customer's events."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from activity_toolkit.sample._catalog import CITIES, FIRST_NAMES, LAST_NAMES, iso, token
from activity_toolkit.sample._journey import Customer, Journey
from activity_toolkit.sample._writers import WorldOutputs


class SampleWorld(WorldOutputs):
    """A synthetic project: its customers and every customer's activity.

    Build it with :func:`~activity_toolkit.sample.sample_world`. Events are produced customer by customer, so a
    world of any size can be streamed to NDJSON, API pages or a log without holding
    all events at once.
    """

    def __init__(
        self, *, customers: int, seed: int, start: datetime, end: datetime
    ) -> None:
        if customers < 0:
            msg = f"customers must be >= 0, got {customers}"
            raise ValueError(msg)
        if end <= start:
            msg = f"end ({end}) must be after start ({start})"
            raise ValueError(msg)
        self.n_customers = customers
        self.seed = seed
        self.start_ms = int(start.timestamp() * 1000)
        self.end_ms = int(end.timestamp() * 1000)
        self._customers = self._make_customers()
        self._by_index = sorted(self._customers, key=lambda c: c.index)
        self.referrer_of: dict[int, Customer] = {}
        self.referees_of: dict[int, list[Customer]] = {}
        rng = random.Random(self.seed + 99)
        referrers: list[Customer] = []
        for c in self._customers:  # in created_at order: referrers signed up earlier
            if referrers and rng.random() < 0.12:
                ref = referrers[rng.randrange(len(referrers))]
                if ref.created_ms < c.created_ms:
                    self.referrer_of[c.index] = ref
                    self.referees_of.setdefault(ref.index, []).append(c)
            if c.index % 5 == 1:
                referrers.append(c)

    def _make_customers(self) -> list[Customer]:
        rng = random.Random(self.seed)
        span = self.end_ms - self.start_ms
        out: list[Customer] = []
        ms = self.start_ms
        bulk = 0
        for i in range(self.n_customers):
            if bulk:
                bulk -= 1  # bulk import: the same millisecond as the previous customer
            else:
                # sign-ups spread over the first 90% of the range, denser in Nov/Dec
                u = rng.random() ** 1.15
                ms = self.start_ms + int(u * span * 0.9)
                month = datetime.fromtimestamp(ms / 1000, UTC).month
                if month not in (11, 12) and rng.random() < 0.15:
                    ms = self.start_ms + int(rng.random() * span * 0.9)
                if rng.random() < 0.02:
                    bulk = rng.randrange(2, 6)
            first, last = (
                FIRST_NAMES[rng.randrange(len(FIRST_NAMES))],
                LAST_NAMES[rng.randrange(len(LAST_NAMES))],
            )
            out.append(
                Customer(
                    index=i,
                    id="cust_" + token(rng, 24),
                    source_id=f"crm-{i:07d}",
                    name=f"{first} {last}",
                    email=f"{first.lower()}.{i}@example.com",
                    created_ms=ms,
                    city=CITIES[rng.randrange(len(CITIES))],
                )
            )
        out.sort(key=lambda c: (c.created_ms, c.index))
        return out

    # -- customers ---------------------------------------------------------------------
    @property
    def customers(self) -> list[dict[str, Any]]:
        """Customer objects as ``GET /v1/customers`` returns them, by ``created_at``."""
        return [
            {
                "id": c.id,
                "source_id": c.source_id,
                "name": c.name,
                "email": c.email,
                "metadata": {"city": c.city},
                "created_at": iso(c.created_ms),
                "object": "customer",
            }
            for c in self._customers
        ]

    # -- events ------------------------------------------------------------------------
    def iter_customer_events(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Yield ``(customer id, events sorted by (created_at, id))`` per customer, for
        the customers with index ``start`` to ``stop`` (default: all)."""
        end = iso(self.end_ms)
        for c in self._by_index[start:stop]:
            evs = [e for e in Journey(self, c).run() if e["created_at"] < end]
            evs.sort(key=lambda e: (e["created_at"], e["id"]))
            yield c.id, evs

    def iter_events(self) -> Iterator[dict[str, Any]]:
        """Every event in the nested API shape, customer by customer."""
        for _, evs in self.iter_customer_events():
            yield from evs

    @property
    def events(self) -> list[dict[str, Any]]:
        """All events sorted by (``created_at``, ``id``) (materialised: small worlds)."""
        evs = list(self.iter_events())
        evs.sort(key=lambda e: (e["created_at"], e["id"]))
        return evs

    def events_by_customer(self) -> dict[str, list[dict[str, Any]]]:
        """Customer id → that customer's events, sorted."""
        return dict(self.iter_customer_events())
