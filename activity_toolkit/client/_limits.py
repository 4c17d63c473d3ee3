"""Rate-limit discipline and retries.

:class:`RateLimiter` decides when the next request may leave. It combines three
sources, and a request waits until all of them allow it:

1. **A 429's wait.** ``Retry-After`` (or ``X-Rate-Limit-Retry``) pauses *every*
   request of the client, plus a little jitter, not just the one that was refused.
2. **The server's own count.** Each answer's ``X-Rate-Limit-Remaining`` says how many
   calls the server still allowed when it handled that request. The limiter
   subtracts every request still in flight when the answer arrives (the server may
   handle them after it, in any order) and every request sent since, and, at zero,
   waits until ``X-Rate-Limit-Retry``. When it does not know (before the first answer, or after
   the reset time passed), it sends a single probe and waits for its headers.
3. **The plan, if you state it** (:class:`RateLimit`, e.g. ``RateLimit(100, per=60)``):
   a sliding window of the client's own send times keeps every window of ``per``
   seconds at or under ``requests``, even before the server says anything.

:class:`RetryPolicy` bounds the retries: attempts per request and a budget of retries
shared by a whole session, with exponential backoff and jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from activity_toolkit.client._errors import retry_after_seconds

__all__ = ["ClientStats", "RateLimit", "RateLimiter", "RetryPolicy"]

_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*\.?\d*)\s*([a-z]+)\s*$")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A plan's limit: at most ``requests`` in any ``per`` seconds.

    >>> RateLimit.parse("100/min")
    RateLimit(requests=100, per=60.0)
    >>> RateLimit.parse("600/10s")
    RateLimit(requests=600, per=10.0)
    >>> RateLimit.parse("100/hour").per
    3600.0
    """

    requests: int
    per: float = 60.0

    def __post_init__(self) -> None:
        if self.requests < 1 or not self.per > 0:
            msg = f"a rate limit needs requests >= 1 and per > 0, got {self.requests}/{self.per}s"
            raise ValueError(msg)

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"R/min"``, ``"R/hour"``, ``"R/s"`` or ``"R/<n>s"`` (e.g. ``"600/10s"``)."""
        m = _RATE.match(text.lower())
        unit = _UNITS.get(m.group(3)) if m else None
        if m is None or unit is None:
            msg = f"rate limit {text!r}: expected R/min, R/hour, R/s or R/<n>s (e.g. 100/min)"
            raise ValueError(msg)
        scale = float(m.group(2)) if m.group(2) else 1.0
        return cls(int(m.group(1)), unit * scale)

    @property
    def per_minute(self) -> float:
        """The same limit expressed per minute."""
        return self.requests * 60.0 / self.per

    def __str__(self) -> str:
        return f"{self.requests}/{self.per:g}s"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry 429, 5xx, timeouts and dropped connections.

    Parameters
    ----------
    attempts
        Tries per request, the first one included.
    budget
        Retries allowed across one session (one ``fetch``), ``None`` for no cap. When
        it is spent, the next failure is final, so a dead API fails fast.
    backoff
        First backoff in seconds; it doubles per attempt (with jitter) up to
        ``max_backoff``.
    max_wait
        The longest wait a 429 may ask for that is honoured; a longer one ends the
        request with :class:`~activity_toolkit.exceptions.RateLimitError`.
    retry_for
        Seconds one request may keep retrying, counted from its first attempt
        (``None``: no limit but ``attempts``). A retry whose backoff would end later
        is not made, so a dead API fails within about this time.
    """

    attempts: int = 8
    budget: int | None = 2000
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_wait: float = 3900.0
    retry_for: float | None = None

    def __post_init__(self) -> None:
        if self.attempts < 1:
            msg = f"attempts must be at least 1, got {self.attempts}"
            raise ValueError(msg)
        if self.budget is not None and self.budget < 0:
            msg = f"budget must be 0 or more (or None), got {self.budget}"
            raise ValueError(msg)
        if self.retry_for is not None and not self.retry_for >= 0:
            msg = f"retry_for must be 0 or more seconds (or None), got {self.retry_for}"
            raise ValueError(msg)

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Backoff before retry number ``attempt`` (1-based): "equal jitter", between
        half and all of ``backoff * 2**(attempt-1)``, capped at ``max_backoff``."""
        ceiling = min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))
        return float(ceiling / 2 + rng.uniform(0, ceiling / 2))


@dataclass(frozen=True, slots=True)
class ClientStats:
    """Counters of everything a client sent (a snapshot; see ``VoucherifyClient.stats``).

    Attributes
    ----------
    requests
        Requests sent, retries included.
    retries
        Requests that were retries of an earlier failure.
    rate_limited
        429 answers received.
    failures
        Failed attempts by kind (``"429"``, ``"5xx"``, ``"transport"``…).
    rate_limit_wait
        Seconds requests spent waiting for the rate limit (pacing and 429 waits).
    backoff_wait
        Seconds spent backing off after 5xx answers and transport failures.
    """

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    failures: Mapping[str, int] = field(default_factory=dict)
    rate_limit_wait: float = 0.0
    backoff_wait: float = 0.0


class _Counters:
    def __init__(self) -> None:
        self.requests = 0
        self.retries = 0
        self.rate_limited = 0
        self.failures: dict[str, int] = {}
        self.rate_limit_wait = 0.0
        self.backoff_wait = 0.0

    def snapshot(self) -> ClientStats:
        return ClientStats(
            requests=self.requests,
            retries=self.retries,
            rate_limited=self.rate_limited,
            failures=dict(self.failures),
            rate_limit_wait=self.rate_limit_wait,
            backoff_wait=self.backoff_wait,
        )


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    try:
        return int(float(raw)) if raw is not None else None
    except ValueError:
        return None


def _header_float(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


class _Wait:
    """Sentinel: wait until an answer (a probe's headers) arrives."""


_AWAIT_ANSWER = _Wait()


class RateLimiter:
    """Decides when each request may leave (see the module docstring).

    One limiter belongs to one client and keeps what it learned across sessions and
    event loops. ``acquire()`` waits for a slot and returns a ticket; ``release()``
    hands back the answer's headers (or ``None`` when there was no answer).

    Parameters
    ----------
    limit
        The plan's limit, if known. Without it the limiter relies on the server's
        headers alone.
    reserve
        Calls to leave unused in the server's count (for other clients of the same
        project).
    margin
        Seconds added to every computed wait, to absorb clock and network jitter.

    Attributes
    ----------
    server_limit
        The last ``X-Rate-Limit-Limit`` the server sent (the plan's calls per
        period), ``None`` before any.
    counters
        Live counters behind :class:`ClientStats`.
    """

    def __init__(
        self,
        limit: RateLimit | None = None,
        *,
        reserve: int = 0,
        margin: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.limit = limit
        self.reserve = reserve
        self.margin = margin
        self._clock = clock
        self._wall = wall
        self._rng = rng or random.Random()
        self._mutex = threading.Lock()
        self._sent: deque[float] = deque()
        self._seq = 0
        self._known_remaining: int | None = None
        self._known_seq = -1  # ticket of the answer the estimate comes from
        self._known_base = 0  # tickets issued when it was learned
        self._inflight: set[int] = set()
        self._reset_at: float | None = None
        self._header_mode: bool | None = None
        self._probe: int | None = None
        self._blocked_until = 0.0
        self.server_limit: int | None = None
        self.counters = _Counters()
        self._prims: (
            tuple[asyncio.AbstractEventLoop, asyncio.Lock, asyncio.Event] | None
        ) = None

    # -- state -------------------------------------------------------------------------
    def _primitives(self) -> tuple[asyncio.Lock, asyncio.Event]:
        loop = asyncio.get_running_loop()
        if self._prims is None or self._prims[0] is not loop:
            self._prims = (loop, asyncio.Lock(), asyncio.Event())
        return self._prims[1], self._prims[2]

    def _estimate(self) -> float | None:
        """Calls the server still allows, as far as we know; ``None`` when unknown."""
        if self._header_mode is False:
            return math.inf
        if self._known_remaining is None:
            return None
        return self._known_remaining - (self._seq - self._known_base)

    def _delay(self) -> float | _Wait:
        now_w = self._wall()
        if self._blocked_until > now_w:
            return self._blocked_until - now_w
        if self.limit is not None:
            now_m = self._clock()
            horizon = now_m - self.limit.per - self.margin
            while self._sent and self._sent[0] <= horizon:
                self._sent.popleft()
            if len(self._sent) >= self.limit.requests:
                return self._sent[-self.limit.requests] - horizon
        est = self._estimate()
        if est is not None and est <= self.reserve:
            if self._reset_at is not None and self._reset_at + self.margin > now_w:
                return self._reset_at + self.margin - now_w
            if self._inflight:  # their answers will say how much the reset freed
                return _AWAIT_ANSWER
            self._known_remaining = None  # the reset has passed: what we knew is stale
            est = None
        if est is None:
            return _AWAIT_ANSWER if self._probe is not None else 0.0
        return 0.0

    def _take(self) -> int:
        seq = self._seq
        self._seq += 1
        self._inflight.add(seq)
        if self.limit is not None:
            self._sent.append(self._clock())
        if self._estimate() is None:
            self._probe = seq
        self.counters.requests += 1
        return seq

    # -- API ---------------------------------------------------------------------------
    async def acquire(self) -> int:
        """Wait until a request may leave; returns its ticket for :meth:`release`."""
        lock, answered = self._primitives()
        async with lock:
            while True:
                with self._mutex:
                    delay = self._delay()
                    if delay == 0.0:
                        return self._take()
                started = self._clock()
                if isinstance(delay, _Wait):
                    answered.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(answered.wait(), timeout=1.0)
                else:
                    await asyncio.sleep(delay)
                with self._mutex:
                    self.counters.rate_limit_wait += self._clock() - started

    def release(
        self,
        ticket: int,
        headers: Mapping[str, str] | None,
        *,
        status: int | None = None,
    ) -> None:
        """Learn from the answer to request ``ticket`` (``headers=None``: no answer)."""
        with self._mutex:
            if self._probe == ticket:
                self._probe = None
            self._inflight.discard(ticket)
            if headers is not None:
                self._learn(ticket, {k.lower(): v for k, v in headers.items()}, status)
        if self._prims is not None:
            loop, _, answered = self._prims
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                answered.set()

    def _learn(
        self, ticket: int, headers: Mapping[str, str], status: int | None
    ) -> None:
        limit = _header_int(headers, "x-rate-limit-limit")
        remaining = _header_int(headers, "x-rate-limit-remaining")
        retry_at = _header_float(headers, "x-rate-limit-retry")
        if limit is not None:
            self.server_limit = limit
        if remaining is not None:
            self._header_mode = True
            # requests still in flight may be counted after this one: assume they are
            candidate = remaining - len(self._inflight)
            current = self._estimate()
            newer = ticket >= self._known_seq
            if newer or current is None or candidate < current:
                self._known_remaining = candidate
                self._known_base = self._seq
                self._known_seq = max(ticket, self._known_seq)
                if newer or self._reset_at is None:
                    self._reset_at = retry_at
                elif retry_at is not None:  # never earlier than the newest answer says
                    self._reset_at = max(self._reset_at, retry_at)
        elif self._header_mode is None and status is not None and status < 400:
            self._header_mode = False
        if status == 429:
            wait = retry_after_seconds(headers, now=self._wall())
            if wait is None:
                wait = 1.0
            jitter = self._rng.uniform(0.0, min(1.0, 0.1 * wait + 0.05))
            self._blocked_until = max(self._blocked_until, self._wall() + wait + jitter)
            self._known_remaining = 0
            self._known_base = self._seq
            self._known_seq = max(self._known_seq, ticket)
            self._reset_at = self._blocked_until
            self.counters.rate_limited += 1

    def record_backoff(self, seconds: float) -> None:
        """Count time spent backing off after a failure (for the statistics)."""
        with self._mutex:
            self.counters.backoff_wait += seconds

    def record_failure(self, kind: str, *, retry: bool) -> None:
        """Count one failed attempt of ``kind``; ``retry`` when it will be retried."""
        with self._mutex:
            self.counters.failures[kind] = self.counters.failures.get(kind, 0) + 1
            if retry:
                self.counters.retries += 1

    def blocked_for(self) -> float:
        """Seconds until a 429's pause ends (0 when there is none)."""
        return max(0.0, self._blocked_until - self._wall())
