"""What the sandbox saw: request counters, and the report of ``Sandbox.stats()``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from activity_toolkit.client import RateLimit
from activity_toolkit.sandbox._ratelimit import Window, max_in_window

__all__ = ["Counters"]


@dataclass(slots=True)
class Counters:
    """Mutable request counters; the sandbox updates them under its lock."""

    requests: int = 0
    accepted: int = 0
    limited: int = 0  # refused by the rate limit
    storm: int = 0  # 429s of a storm (``Faults.storm``)
    arrivals: list[float] = field(default_factory=list)  # accepted requests' times
    status: Counter[int] = field(default_factory=Counter)
    route: Counter[str] = field(default_factory=Counter)
    customer: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)  # injected, by kind

    def report(self, limit: RateLimit | None, window: Window) -> dict[str, Any]:
        """The counters as plain JSON-ready values (see ``Sandbox.stats``)."""
        arrivals = sorted(self.arrivals)
        return {
            "requests": self.requests,
            "accepted": self.accepted,
            "rate_limited": self.limited,
            "storm_429": self.storm,
            "by_status": {str(k): v for k, v in sorted(self.status.items())},
            "by_route": dict(sorted(self.route.items())),
            "by_customer": dict(sorted(self.customer.items())),
            "faults": dict(sorted(self.faults.items())),
            "arrivals": arrivals,
            "rate_limit": (
                {"requests": limit.requests, "per": limit.per} if limit else None
            ),
            "max_in_window": (
                max_in_window(arrivals, limit.per, fixed=window == "fixed")
                if limit
                else None
            ),
        }
