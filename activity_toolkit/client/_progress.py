"""A progress bar for fetches (``tqdm.auto``: a widget in notebooks, text in terminals).

It shows customers done of those known, and as a postfix the events received, the
requests sent, the retries made, the 429s received and the seconds spent waiting on
the rate limit.
Nothing in it comes from the request headers, so no credential can show.
"""

from __future__ import annotations

import time
from typing import IO, Any

from activity_toolkit.client._limits import RateLimiter

__all__ = ["FetchProgress"]


class FetchProgress:
    """Customers / events / requests / rate-limit wait, for one fetch.

    Parameters
    ----------
    enabled
        ``True`` shows it, ``False`` hides it, ``None`` shows it on a terminal or in a
        notebook and hides it when output is redirected.
    limiter
        The client's limiter, whose counters give requests, 429s and waits.
    """

    def __init__(
        self,
        *,
        enabled: bool | None,
        limiter: RateLimiter,
        desc: str = "fetch",
        file: IO[str] | None = None,
    ) -> None:
        self._limiter = limiter
        start = limiter.counters.snapshot()
        self._requests0 = start.requests
        self._limited0 = start.rate_limited
        self._retries0 = start.retries
        self._wait0 = start.rate_limit_wait
        self.events = 0
        self.customers = 0
        self._last = 0.0
        self._bar: Any = None
        if enabled is False:
            return
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=None,
            unit="customer",
            desc=desc,
            disable=None if enabled is None else False,
            dynamic_ncols=True,
            file=file,
            leave=True,
        )

    @property
    def requests(self) -> int:
        """Requests sent during this fetch."""
        return self._limiter.counters.requests - self._requests0

    @property
    def rate_limited(self) -> int:
        """429s received during this fetch."""
        return self._limiter.counters.rate_limited - self._limited0

    @property
    def retries(self) -> int:
        """Retries made during this fetch (429s, 5xx, timeouts, dropped connections)."""
        return self._limiter.counters.retries - self._retries0

    @property
    def waited(self) -> float:
        """Seconds spent waiting on the rate limit during this fetch."""
        return self._limiter.counters.rate_limit_wait - self._wait0

    def postfix(self) -> str:
        """``events=… requests=… retries=… 429s=… waited=…s``."""
        return (
            f"events={self.events:,} requests={self.requests:,} "
            f"retries={self.retries:,} 429s={self.rate_limited:,} "
            f"waited={self.waited:.1f}s"
        )

    def refresh(self) -> None:
        """Redraw the postfix (retries and waits show while no event arrives)."""
        self._tick(0)

    def add_total(self, n: int) -> None:
        """``n`` more customers to fetch are known."""
        if self._bar is not None and n:
            self._bar.total = (self._bar.total or 0) + n
            self._bar.refresh()

    def add_events(self, n: int) -> None:
        """``n`` new events arrived."""
        self.events += n
        self._tick(0)

    def customer_done(self) -> None:
        """One more customer is complete."""
        self.customers += 1
        self._tick(1)

    def _tick(self, n: int) -> None:
        if self._bar is None:
            return
        now = time.monotonic()
        if n or now - self._last > 0.25:
            self._last = now
            self._bar.set_postfix_str(self.postfix(), refresh=False)
            self._bar.update(n)
            if not n:
                self._bar.refresh()

    def close(self) -> None:
        """Final refresh and close (again: nothing)."""
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix(), refresh=False)
            self._bar.close()
            self._bar = None
