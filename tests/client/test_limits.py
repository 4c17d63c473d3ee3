"""RateLimit, RetryPolicy and RateLimiter as values and small state machines."""

from __future__ import annotations

import asyncio
import random

import pytest

from activity_toolkit.client import RateLimit, RateLimiter, RetryPolicy


@pytest.mark.parametrize(
    ("text", "requests", "per"),
    [
        ("100/min", 100, 60.0),
        ("2000/minute", 2000, 60.0),
        ("100/hour", 100, 3600.0),
        ("5/s", 5, 1.0),
        ("600/10s", 600, 10.0),
        ("15/0.5s", 15, 0.5),
        (" 7 / 2 min ", 7, 120.0),
    ],
)
def test_rate_limit_parse(text, requests, per) -> None:
    assert RateLimit.parse(text) == RateLimit(requests, per)


@pytest.mark.parametrize("text", ["100", "100/fortnight", "/min", "0/min", "abc/s"])
def test_rate_limit_parse_refuses(text) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        RateLimit.parse(text)


def test_retry_delay_is_jittered_and_capped() -> None:
    policy = RetryPolicy(backoff=1.0, max_backoff=8.0)
    rng = random.Random(0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [policy.delay(attempt, rng) for _ in range(50)]
        assert min(delays) >= ceiling / 2
        assert max(delays) <= ceiling
        assert len(set(delays)) > 1
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)


def test_limiter_probes_first_then_follows_remaining() -> None:
    now = [1000.0]
    limiter = RateLimiter(wall=lambda: now[0])

    async def run() -> list[int]:
        first = await limiter.acquire()
        # no answer yet: a second request waits for the probe's headers
        second = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0.01)
        assert not second.done()
        limiter.release(
            first,
            {"X-Rate-Limit-Remaining": "2", "X-Rate-Limit-Retry": "1005"},
            status=200,
        )
        t2 = await second
        t3 = await limiter.acquire()
        # remaining 2, two sent since: the next one waits for the reset
        third = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0.01)
        assert not third.done()
        third.cancel()
        return [first, t2, t3]

    assert asyncio.run(run()) == [0, 1, 2]


def test_limiter_without_headers_does_not_hold_requests() -> None:
    limiter = RateLimiter()

    async def run() -> int:
        t = await limiter.acquire()
        limiter.release(t, {}, status=200)
        for _ in range(20):
            limiter.release(await limiter.acquire(), {}, status=200)
        return limiter.counters.requests

    assert asyncio.run(run()) == 21


def test_a_429_pauses_everyone() -> None:
    limiter = RateLimiter(rng=random.Random(1))

    async def run() -> float:
        t = await limiter.acquire()
        limiter.release(t, {"Retry-After": "30"}, status=429)
        return limiter.blocked_for()

    assert 30 <= asyncio.run(run()) <= 31.1
    assert limiter.counters.rate_limited == 1
