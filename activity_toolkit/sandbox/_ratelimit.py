"""The sandbox's rate limit: a sliding or fixed window, its headers and the 429.

Every accepted answer carries ``X-Rate-Limit-Limit`` / ``-Remaining`` / ``-Retry``
(generous values when there is no limit); a request past the limit gets a 429 with
``Retry-After`` and ``X-Rate-Limit-Type: api_calls``, as the API sends.
"""

from __future__ import annotations

import math
import random
from collections import Counter, deque
from collections.abc import Sequence
from typing import Literal

from activity_toolkit.client import RateLimit
from activity_toolkit.sandbox._errors import Headers, error_response, request_id
from activity_toolkit.sandbox._messages import SandboxResponse

__all__ = ["RateLimiter", "Window", "max_in_window"]

Window = Literal["sliding", "fixed"]
"""``"sliding"``: at most ``requests`` in any ``per`` seconds; ``"fixed"``: per
clock-aligned window of ``per`` seconds."""


class RateLimiter:
    """Counts requests against ``limit`` (``None``: unlimited). Not thread-safe: the
    caller holds its lock around :meth:`admit` and :meth:`reset`.

    ``rng`` draws the request id of a 429 (shared with the rest of the sandbox, so a
    seeded sandbox stays reproducible).
    """

    def __init__(
        self, limit: RateLimit | None, window: Window, rng: random.Random
    ) -> None:
        self.limit = limit
        self.window = window
        self._rng = rng
        self.reset()

    def reset(self) -> None:
        """Forget every request counted so far."""
        self._sliding: deque[float] = deque()
        self._fixed: tuple[int, int] = (-1, 0)  # (window number, requests in it)

    def admit(self, now: float) -> tuple[Headers, SandboxResponse | None]:
        """Count a request arriving at ``now``: the rate-limit headers of its answer,
        or a 429 to send instead."""
        limit = self.limit
        if limit is None:
            return (
                ("X-Rate-Limit-Limit", "1000000"),
                ("X-Rate-Limit-Remaining", "999999"),
                ("X-Rate-Limit-Retry", f"{now:.3f}"),
            ), None
        n, per = limit.requests, limit.per
        if self.window == "fixed":
            k = math.floor(now / per)
            used = self._fixed[1] if self._fixed[0] == k else 0
            reset = (k + 1) * per
            if used >= n:
                return (), self._too_many(n, reset, now)
            self._fixed = (k, used + 1)
            remaining = n - used - 1
        else:
            window = self._sliding
            while window and window[0] <= now - per:
                window.popleft()
            if len(window) >= n:
                return (), self._too_many(n, window[0] + per, now)
            window.append(now)
            remaining = n - len(window)
            reset = window[0] + per
        headers = (
            ("X-Rate-Limit-Limit", str(n)),
            ("X-Rate-Limit-Remaining", str(remaining)),
            ("X-Rate-Limit-Retry", f"{reset:.3f}"),
        )
        return headers, None

    def _too_many(self, n: int, reset: float, now: float) -> SandboxResponse:
        wait = max(1, math.ceil(reset - now))
        headers = (
            ("X-Rate-Limit-Limit", str(n)),
            ("X-Rate-Limit-Remaining", "0"),
            ("X-Rate-Limit-Retry", f"{reset:.3f}"),
            ("X-Rate-Limit-Type", "api_calls"),
            ("Retry-After", str(wait)),
        )
        return error_response(
            429,
            "too_many_requests",
            "Too many requests hit the API too quickly.",
            f"Rate limit of {n} requests reached; retry in {wait} s.",
            request_id(self._rng),
            extra_headers=headers,
        )


def max_in_window(arrivals: Sequence[float], per: float, *, fixed: bool = False) -> int:
    """Largest number of arrivals in any half-open window ``(t - per, t]``, or in any
    clock-aligned window ``[k * per, (k + 1) * per)`` when ``fixed``."""
    if fixed:
        counts = Counter(math.floor(t / per) for t in arrivals)
        return max(counts.values(), default=0)
    best, lo = 0, 0
    for hi, t in enumerate(arrivals):
        while arrivals[lo] <= t - per:
            lo += 1
        best = max(best, hi - lo + 1)
    return best
