"""The sandbox's request handler: the documented behaviour of the API, in one place.

:meth:`Sandbox.handle` turns a :class:`SandboxRequest` into a
:class:`SandboxResponse`. It decides *what* to answer (status, headers, body) and
which fault to inject; the transports (in-process httpx transport, real HTTP server)
carry it out: sleeping for slow answers, dropping the connection, cutting the body.
The request and response values live in ``_messages``, below this module and the
transports, so the transports serve any handler and never import this module.
"""

from __future__ import annotations

import math
import random
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qs

import orjson

from activity_toolkit._time import to_ms
from activity_toolkit.client import RateLimit, VoucherifyClient
from activity_toolkit.sandbox._messages import SandboxRequest, SandboxResponse
from activity_toolkit.sandbox._server import SandboxServer
from activity_toolkit.sandbox._transport import SandboxTransport
from activity_toolkit.sandbox._world import CustomerIndex, EventRow, WorldLike

__all__ = [
    "DEFAULT_FAULT_KINDS",
    "FaultKind",
    "Faults",
    "Sandbox",
    "SandboxConfig",
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

Window = Literal["sliding", "fixed"]


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


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """How the sandbox behaves.

    Parameters
    ----------
    app_id, secret_key
        The credentials it accepts (``X-App-Id`` / ``X-App-Token``).
    rate_limit
        Requests allowed per window (``None``: unlimited, headers still sent).
    window
        ``"sliding"``: at most ``requests`` in any ``per`` seconds; ``"fixed"``: per
        clock-aligned window of ``per`` seconds.
    latency
        Seconds added to every answer.
    faults
        Fault injection (:class:`Faults`).
    page_cap
        Highest ``page`` number of ``GET /v1/customers`` (99, as documented).
    activities_id_cursor
        Whether the deprecated ``/activities`` honours ``starting_after_id``. Its
        date cursor is always "strictly after", so events tied at a page boundary
        are lost by a client that follows the date alone.
    exact_has_more
        ``False`` (default): a full ``/activity`` page says ``has_more: true`` even
        when nothing follows, so an empty page comes next (the documented trap).
    """

    app_id: str = "sandbox-app-id"
    secret_key: str = field(default="sandbox-secret-key", repr=False)
    rate_limit: RateLimit | None = None
    window: Window = "sliding"
    latency: float = 0.0
    faults: Faults = field(default_factory=Faults)
    page_cap: int = 99
    activities_id_cursor: bool = True
    exact_has_more: bool = False


class _BadQuery(Exception):
    def __init__(self, details: str) -> None:
        super().__init__(details)
        self.details = details


def _request_id(rng: random.Random) -> str:
    return "v-" + "".join(rng.choice("0123456789abcdef") for _ in range(18))


class Sandbox:
    """A local stand-in for the Voucherify API, serving a (synthetic) world.

    Use it in-process through :meth:`transport` / :meth:`client`, or over real HTTP
    on 127.0.0.1 through :meth:`serve` or ``activity-toolkit sandbox``.

    Parameters
    ----------
    world
        Customers and events (:func:`activity_toolkit.sample.sample_world`, or a
        hand-made :class:`~activity_toolkit.sandbox.World`).
    config
        Credentials, rate limit, faults (:class:`SandboxConfig`).

    Examples
    --------
    >>> box = Sandbox.from_sample(customers=5, seed=2)
    >>> client = box.client()
    >>> len(client.list_customers())
    5
    >>> box.stats()["by_route"]
    {'customers': 1}
    """

    def __init__(
        self,
        world: WorldLike,
        config: SandboxConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or SandboxConfig()
        self.index = CustomerIndex(world)
        self._clock = clock
        self._lock = threading.Lock()
        self._rng = random.Random(self.config.faults.seed)
        self._tokens: dict[str, float] = {}
        self._visible_until: int | None = None
        self.reset_stats()

    @classmethod
    def from_sample(
        cls, *, customers: int = 200, seed: int = 0, config: SandboxConfig | None = None
    ) -> Sandbox:
        """A sandbox serving :func:`activity_toolkit.sample.sample_world`."""
        from activity_toolkit.sample import sample_world

        return cls(sample_world(customers=customers, seed=seed), config)

    # -- the world ---------------------------------------------------------------------
    @property
    def customer_ids(self) -> list[str]:
        """Customer ids, oldest first."""
        return [c["id"] for c in self.index.customers]

    def events_of(self, customer: str) -> list[dict[str, Any]]:
        """The events the API would return for ``customer`` (id or source id)."""
        c = self.index.lookup(customer)
        if c is None:
            return []
        return [dict(r.event) for r in self._visible(self.index.events[c["id"]])]

    def event_ids(self) -> list[str]:
        """Every visible event id."""
        return [r.id for r in self._visible(list(self.index.all_events()))]

    def set_visible_until(self, moment: datetime | str | None) -> None:
        """Hide events (and, from the customers list, customers) created after
        ``moment`` (``None`` shows all), to play "new activity since the last sync"."""
        if moment is None:
            self._visible_until = None
        else:
            text = moment.isoformat() if isinstance(moment, datetime) else moment
            self._visible_until = to_ms(text)

    def _visible(self, rows: Sequence[EventRow]) -> list[EventRow]:
        if self._visible_until is None:
            return list(rows)
        return [r for r in rows if r.ms <= self._visible_until]

    # -- plumbing ----------------------------------------------------------------------
    def transport(self, *, sleep: bool = True) -> SandboxTransport:
        """An httpx transport (sync and async) that calls this sandbox in-process."""
        return SandboxTransport(self, sleep=sleep)

    def client(self, **options: Any) -> VoucherifyClient:
        """A :class:`~activity_toolkit.client.VoucherifyClient` wired to this sandbox
        in-process, with its credentials. ``options`` go to the client."""
        options.setdefault("base_url", "http://sandbox.invalid")
        options.setdefault("transport", self.transport())
        return VoucherifyClient(self.config.app_id, self.config.secret_key, **options)

    def serve(self, *, host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
        """Serve over real HTTP in a background thread (``with box.serve() as srv``)."""
        return SandboxServer(self, host=host, port=port).start()

    def env(self, base_url: str) -> dict[str, str]:
        """The environment variables that point ``VoucherifyClient.from_env`` here."""
        return {
            "VOUCHERIFY_API_URL": base_url,
            "VOUCHERIFY_APP_ID": self.config.app_id,
            "VOUCHERIFY_SECRET_KEY": self.config.secret_key,
        }

    # -- statistics --------------------------------------------------------------------
    def reset_stats(self) -> None:
        """Forget the request counters (not the rate-limit window)."""
        with getattr(self, "_lock", threading.Lock()):
            self._arrivals: list[float] = []
            self._window: deque[float] = deque()
            self._fixed: tuple[int, int] = (-1, 0)
            self._accepted = 0
            self._requests = 0
            self._status: Counter[int] = Counter()
            self._route: Counter[str] = Counter()
            self._customer: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._limited = 0
            self._storm = 0

    def stats(self) -> dict[str, Any]:
        """Counters of what the sandbox saw (also at ``GET /_sandbox/stats``).

        ``max_in_window`` is the largest number of accepted requests in any window of
        the rate limit (any ``per`` seconds for a sliding window, each clock-aligned
        one for a fixed window): it never exceeds the limit.
        """
        with self._lock:
            arrivals = sorted(self._arrivals)
            limit = self.config.rate_limit
            return {
                "requests": self._requests,
                "accepted": self._accepted,
                "rate_limited": self._limited,
                "storm_429": self._storm,
                "by_status": {str(k): v for k, v in sorted(self._status.items())},
                "by_route": dict(sorted(self._route.items())),
                "by_customer": dict(sorted(self._customer.items())),
                "faults": dict(sorted(self._faults.items())),
                "arrivals": arrivals,
                "rate_limit": (
                    {"requests": limit.requests, "per": limit.per} if limit else None
                ),
                "max_in_window": (
                    _max_in_window(
                        arrivals, limit.per, fixed=self.config.window == "fixed"
                    )
                    if limit
                    else None
                ),
            }

    # -- handling ----------------------------------------------------------------------
    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request (thread-safe)."""
        if request.path.startswith("/_sandbox/"):
            return self._meta(request)
        with self._lock:
            self._requests += 1
            rid = _request_id(self._rng)
            if not self._authorised(request):
                self._status[401] += 1
                return self._error(
                    401,
                    "unauthorized",
                    "Unauthorized",
                    "Missing or invalid authorization (X-App-Id / X-App-Token or "
                    "Authorization: Bearer)",
                    rid,
                )
            now = self._clock()
            limit_headers, refused = self._rate(now)
            if refused is not None:
                self._limited += 1
                self._status[429] += 1
                return refused
            self._accepted += 1
            self._arrivals.append(now)
            fault = self._draw_fault()
            route, customer = self._route_of(request)
            self._route[route] += 1
            if customer:
                self._customer[customer] += 1
        latency = self.config.latency
        if fault == "429":
            wait = self.config.faults.storm_retry_after
            with self._lock:
                self._status[429] += 1
            return self._error(
                429,
                "too_many_requests",
                "Too many requests hit the API too quickly.",
                "Rate limit reached (injected)",
                rid,
                extra_headers=(*limit_headers, ("Retry-After", str(wait))),
            )
        if fault in ("500", "502", "503"):
            status = int(fault)
            with self._lock:
                self._status[status] += 1
            key = {
                500: "internal_error",
                502: "bad_gateway",
                503: "service_unavailable",
            }[status]
            return self._error(
                status,
                key,
                "Internal error (injected)",
                "",
                rid,
                extra_headers=limit_headers,
                delay=latency,
            )
        try:
            status, body = self._dispatch(request, route)
        except _BadQuery as exc:
            with self._lock:
                self._status[400] += 1
            return self._error(
                400,
                "invalid_query_params",
                "Invalid query params",
                exc.details,
                rid,
                extra_headers=limit_headers,
                delay=latency,
            )
        if status != 200:
            with self._lock:
                self._status[status] += 1
            return self._error(
                status,
                body.pop("key"),
                body.pop("message"),
                body.pop("details"),
                rid,
                extra_headers=limit_headers,
                delay=latency,
                extra=body,
            )
        payload = orjson.dumps(body)
        headers = (("Content-Type", "application/json; charset=utf-8"), *limit_headers)
        with self._lock:
            self._status[200] += 1
        if fault == "slow":
            return SandboxResponse(
                200, headers, payload, delay=latency + self.config.faults.slow_seconds
            )
        if fault == "drop":
            return SandboxResponse(200, headers, payload, delay=latency, fault="drop")
        if fault == "truncate":
            return SandboxResponse(
                200, headers, payload, delay=latency, fault="truncate"
            )
        if fault == "malformed":
            return SandboxResponse(
                200, headers, payload[: max(1, len(payload) // 2)], delay=latency
            )
        return SandboxResponse(200, headers, payload, delay=latency)

    def _meta(self, request: SandboxRequest) -> SandboxResponse:
        if request.path == "/_sandbox/stats":
            body = orjson.dumps(self.stats())
        elif request.path == "/_sandbox/health":
            body = orjson.dumps(
                {
                    "ok": True,
                    "customers": len(self.index.customers),
                    "events": self.index.event_count,
                }
            )
        else:
            return SandboxResponse(404, (("Content-Type", "application/json"),), b"{}")
        return SandboxResponse(200, (("Content-Type", "application/json"),), body)

    def _authorised(self, request: SandboxRequest) -> bool:
        h = request.headers
        if (
            h.get("x-app-id") == self.config.app_id
            and h.get("x-app-token") == self.config.secret_key
        ):
            return True
        auth = h.get("authorization", "")
        if auth.lower().startswith("bearer "):
            expiry = self._tokens.get(auth[7:].strip())
            return expiry is not None and expiry > self._clock()
        return False

    def _rate(
        self, now: float
    ) -> tuple[tuple[tuple[str, str], ...], SandboxResponse | None]:
        """Count the request against the window; the headers, or a 429 to send."""
        limit = self.config.rate_limit
        if limit is None:
            return (
                ("X-Rate-Limit-Limit", "1000000"),
                ("X-Rate-Limit-Remaining", "999999"),
                ("X-Rate-Limit-Retry", f"{now:.3f}"),
            ), None
        n, per = limit.requests, limit.per
        if self.config.window == "fixed":
            k = math.floor(now / per)
            used = self._fixed[1] if self._fixed[0] == k else 0
            reset = (k + 1) * per
            if used >= n:
                return (), self._too_many(n, reset, now)
            self._fixed = (k, used + 1)
            remaining = n - used - 1
        else:
            window = self._window
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
        return self._error(
            429,
            "too_many_requests",
            "Too many requests hit the API too quickly.",
            f"Rate limit of {n} requests reached; retry in {wait} s.",
            _request_id(self._rng),
            extra_headers=headers,
        )

    def _draw_fault(self) -> str | None:
        faults = self.config.faults
        if faults.storm is not None:
            every, length = faults.storm
            if ((self._accepted - 1) % every) < length:
                self._storm += 1
                return "429"
        if faults.rate and self._rng.random() < faults.rate:
            kind = faults.kinds[self._rng.randrange(len(faults.kinds))]
            self._faults[kind] += 1
            return kind
        return None

    def _error(
        self,
        status: int,
        key: str,
        message: str,
        details: str,
        request_id: str,
        *,
        extra_headers: Sequence[tuple[str, str]] = (),
        delay: float = 0.0,
        extra: Mapping[str, Any] | None = None,
    ) -> SandboxResponse:
        body: dict[str, Any] = {"code": status, "key": key, "message": message}
        if details:
            body["details"] = details
        body["request_id"] = request_id
        body.update(extra or {})
        headers = (("Content-Type", "application/json; charset=utf-8"), *extra_headers)
        return SandboxResponse(status, headers, orjson.dumps(body), delay=delay)

    # -- routes ------------------------------------------------------------------------
    @staticmethod
    def _route_of(request: SandboxRequest) -> tuple[str, str | None]:
        parts = [p for p in request.path.split("/") if p]
        if parts[:2] == ["v1", "customers"]:
            if len(parts) == 2:
                return "customers", None
            if len(parts) == 3:
                return "customer", parts[2]
            if len(parts) == 4 and parts[3] in ("activity", "activities"):
                return parts[3], parts[2]
        if parts == ["v1", "oauth", "token"]:
            return "oauth", None
        return "unknown", None

    def _dispatch(
        self, request: SandboxRequest, route: str
    ) -> tuple[int, dict[str, Any]]:
        if route == "oauth" and request.method == "POST":
            return self._oauth(request)
        if request.method != "GET" or route in ("unknown", "oauth"):
            return 404, {
                "key": "not_found",
                "message": "Resource not found",
                "details": f"Cannot find route {request.method} {request.path}",
            }
        if route == "customers":
            return 200, self._list_customers(request)
        key = [p for p in request.path.split("/") if p][2]
        customer = self.index.lookup(key)
        if customer is None:
            return 404, {
                "key": "not_found",
                "message": "Resource not found",
                "details": f"Cannot find customer with id {key}",
                "resource_id": key,
                "resource_type": "customer",
            }
        if route == "customer":
            return 200, dict(customer)
        rows = self._visible(self.index.events[customer["id"]])
        if route == "activity":
            return 200, self._activity(request, rows)
        return 200, self._activities(request, rows)

    def _oauth(self, request: SandboxRequest) -> tuple[int, dict[str, Any]]:
        form = parse_qs(request.body.decode("utf-8", "replace"))
        if form.get("grant_type", [""])[-1] != "client_credentials":
            msg = "grant_type must be client_credentials"
            raise _BadQuery(msg)
        token = "sandbox_token_" + secrets.token_hex(16)
        now = self._clock()
        with self._lock:
            self._tokens[token] = now + 900
        return 200, {
            "access_token": token,
            "client_id": self.config.app_id,
            "expires_at": int(now + 900),
            "expires_in": 900,
            "scope": form.get("scope", ["api"])[-1],
            "token_type": "bearer",
        }

    # query helpers
    @staticmethod
    def _int(request: SandboxRequest, name: str, default: int, lo: int, hi: int) -> int:
        raw = request.arg(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            msg = f"{name} must be an integer, got {raw!r}"
            raise _BadQuery(msg) from None
        if not lo <= value <= hi:
            msg = f"{name} must be between {lo} and {hi}, got {value}"
            raise _BadQuery(msg)
        return value

    @staticmethod
    def _date(request: SandboxRequest, name: str) -> int | None:
        raw = request.arg(name)
        if raw is None or raw == "":
            return None
        try:
            return to_ms(raw)
        except ValueError:
            msg = f"{name} must be an ISO 8601 date-time, got {raw!r}"
            raise _BadQuery(msg) from None

    @staticmethod
    def _order(request: SandboxRequest, allowed: Sequence[str], default: str) -> bool:
        """``True`` for ascending."""
        order = request.arg("order") or default
        if order not in allowed:
            msg = f"order must be one of {list(allowed)}, got {order!r}"
            raise _BadQuery(msg)
        return not order.startswith("-")

    def _filter_events(
        self, request: SandboxRequest, rows: list[EventRow], names: Sequence[str]
    ) -> list[EventRow]:
        start = self._date(request, "start_date")
        end = self._date(request, "end_date")
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
                    raise _BadQuery(msg)
                rows = [r for r in rows if r.category == value]
            elif name == "product_id":
                rows = [r for r in rows if value in r.product_ids]
        return rows

    @staticmethod
    def _after_id(
        rows: list[EventRow],
        all_rows: list[EventRow],
        event_id: str,
        *,
        ascending: bool,
    ) -> list[EventRow]:
        ref = next((r for r in all_rows if r.id == event_id), None)
        if ref is None:
            msg = f"starting_after_id {event_id!r} is not an event of this customer"
            raise _BadQuery(msg)
        if ascending:
            return [r for r in rows if r.key > ref.key]
        return [r for r in rows if r.key < ref.key]

    def _activity(
        self, request: SandboxRequest, all_rows: list[EventRow]
    ) -> dict[str, Any]:
        limit = self._int(request, "limit", 10, 1, 100)
        ascending = self._order(request, ("created_at", "-created_at"), "-created_at")
        rows = self._filter_events(
            request, all_rows, ("campaign_id", "campaign_type", "type", "category")
        )
        if not ascending:
            rows = rows[::-1]
        cursor = request.arg("starting_after_id")
        if cursor:
            rows = self._after_id(rows, all_rows, cursor, ascending=ascending)
        page = rows[:limit]
        more = len(rows) > limit if self.config.exact_has_more else len(page) == limit
        return {
            "object": "list",
            "data_ref": "data",
            "data": [r.event for r in page],
            "has_more": more,
            "more_starting_after": page[-1].id if more and page else None,
        }

    def _activities(
        self, request: SandboxRequest, all_rows: list[EventRow]
    ) -> dict[str, Any]:
        limit = self._int(request, "limit", 10, 1, 100)
        ascending = self._order(
            request,
            ("created_at", "-created_at", "updated_at", "-updated_at"),
            "-created_at",
        )
        rows = self._filter_events(
            request, all_rows, ("campaign_id", "campaign_type", "product_id")
        )
        total = len(rows)
        if not ascending:
            rows = rows[::-1]
        after = self._date(request, "starting_after")
        if after is not None:  # the date cursor: strictly after (before, descending)
            rows = [r for r in rows if (r.ms > after if ascending else r.ms < after)]
        cursor = request.arg("starting_after_id")
        if cursor and self.config.activities_id_cursor:
            rows = self._after_id(rows, all_rows, cursor, ascending=ascending)
        return {
            "object": "list",
            "data_ref": "data",
            "data": [r.event for r in rows[:limit]],
            "total": total,
        }

    def _list_customers(self, request: SandboxRequest) -> dict[str, Any]:
        limit = self._int(request, "limit", 10, 1, 100)
        page = self._int(request, "page", 1, 1, self.config.page_cap)
        ascending = self._order(
            request,
            ("created_at", "-created_at", "updated_at", "-updated_at"),
            "-created_at",
        )
        index = self.index
        lo, hi = 0, len(index.customers)
        after = self._date(request, "created_at[after]")
        before = self._date(request, "created_at[before]")
        if after is not None:
            lo = max(lo, index.after(after))
        if before is not None:
            hi = min(hi, index.before(before))
        cursor = self._date(request, "starting_after")
        if cursor is not None:
            if ascending:
                lo = max(lo, index.after(cursor))
            else:
                hi = min(hi, index.before(cursor))
        if self._visible_until is not None:
            hi = min(hi, index.after(self._visible_until))
        selected = list(index.customers[lo:hi]) if hi > lo else []
        for name in ("email", "name"):
            value = request.arg(name)
            if value:
                selected = [c for c in selected if c.get(name) == value]
        if not ascending:
            selected.reverse()
        start = (page - 1) * limit
        chunk = selected[start : start + limit]
        return {
            "object": "list",
            "data_ref": "customers",
            "customers": chunk,
            "total": len(selected),
            "has_more": start + limit < len(selected),
        }


def _max_in_window(
    arrivals: Sequence[float], per: float, *, fixed: bool = False
) -> int:
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
