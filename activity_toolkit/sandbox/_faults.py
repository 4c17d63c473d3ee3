"""Fault injection: which accepted request fails, and how its answer misbehaves.

:func:`draw_fault` picks the fault of a request (a 429 storm first, then a random
kind with probability ``Faults.rate``). An error fault (``"429"``, 5xx) replaces the
answer (:func:`fault_error`); the others spoil a successful one
(:func:`spoil_success`): sent late, dropped, cut short or cut into invalid JSON.
The transports carry out ``delay`` and ``fault`` of the response.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from activity_toolkit.sandbox._errors import Headers, error_response
from activity_toolkit.sandbox._messages import SandboxResponse
from activity_toolkit.sandbox._stats import Counters

__all__ = [
    "DEFAULT_FAULT_KINDS",
    "FaultKind",
    "Faults",
    "draw_fault",
    "fault_error",
    "spoil_success",
]

FaultKind = Literal["500", "502", "503", "slow", "drop", "truncate", "malformed", "429"]
"""Injected faults: a 5xx answer; a slow answer (``slow_seconds``, past a client's read
timeout); a dropped connection (no answer); a body cut short (``truncate``: the
connection closes before ``Content-Length`` bytes; ``malformed``: a complete but cut
JSON text); a spurious 429 (``"429"``, for 429 storms)."""

DEFAULT_FAULT_KINDS: tuple[str, ...] = (
    "500",
    "503",
    "slow",
    "drop",
    "truncate",
    "malformed",
)
_ALL_FAULTS = frozenset(
    ("500", "502", "503", "slow", "drop", "truncate", "malformed", "429")
)
_SERVER_ERRORS = {
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
}


@dataclass(frozen=True, slots=True)
class Faults:
    """Fault injection: each accepted request fails with probability ``rate``, with a
    kind drawn uniformly from ``kinds``.

    ``storm`` adds 429 storms: ``(every, length)`` makes requests number
    ``k*every`` … ``k*every + length - 1`` (counting accepted requests) answer 429.
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = DEFAULT_FAULT_KINDS
    slow_seconds: float = 2.0
    storm: tuple[int, int] | None = None
    storm_retry_after: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            msg = f"fault rate must be between 0 and 1, got {self.rate}"
            raise ValueError(msg)
        unknown = set(self.kinds) - _ALL_FAULTS
        if unknown or not self.kinds:
            msg = f"unknown fault kinds {sorted(unknown)}; choose from {sorted(_ALL_FAULTS)}"
            raise ValueError(msg)


def draw_fault(faults: Faults, rng: random.Random, counters: Counters) -> str | None:
    """The fault of the request just accepted (``counters.accepted`` counts it), or
    ``None``; counts it in ``counters`` (``storm`` or ``faults``). The caller holds
    the lock of ``rng`` and ``counters``."""
    if faults.storm is not None:
        every, length = faults.storm
        if ((counters.accepted - 1) % every) < length:
            counters.storm += 1
            return "429"
    if faults.rate and rng.random() < faults.rate:
        kind = faults.kinds[rng.randrange(len(faults.kinds))]
        counters.faults[kind] += 1
        return kind
    return None


def fault_error(
    fault: str | None,
    faults: Faults,
    request_id: str,
    limit_headers: Headers,
    latency: float,
) -> SandboxResponse | None:
    """The answer replacing the real one for an error fault (``"429"``, 5xx), or
    ``None`` when ``fault`` is not one."""
    if fault == "429":
        wait = faults.storm_retry_after
        return error_response(
            429,
            "too_many_requests",
            "Too many requests hit the API too quickly.",
            "Rate limit reached (injected)",
            request_id,
            extra_headers=(*limit_headers, ("Retry-After", str(wait))),
        )
    if fault in ("500", "502", "503"):
        status = int(fault)
        return error_response(
            status,
            _SERVER_ERRORS[status],
            "Internal error (injected)",
            "",
            request_id,
            extra_headers=limit_headers,
            delay=latency,
        )
    return None


def spoil_success(
    fault: str | None,
    faults: Faults,
    headers: Headers,
    payload: bytes,
    latency: float,
) -> SandboxResponse:
    """The 200 answer with ``payload``, spoilt as ``fault`` says (``"slow"``,
    ``"drop"``, ``"truncate"``, ``"malformed"``; anything else: sent as is)."""
    if fault == "slow":
        return SandboxResponse(
            200, headers, payload, delay=latency + faults.slow_seconds
        )
    if fault == "drop":
        return SandboxResponse(200, headers, payload, delay=latency, fault="drop")
    if fault == "truncate":
        return SandboxResponse(200, headers, payload, delay=latency, fault="truncate")
    if fault == "malformed":
        return SandboxResponse(
            200, headers, payload[: max(1, len(payload) // 2)], delay=latency
        )
    return SandboxResponse(200, headers, payload, delay=latency)
