"""The sandbox's request handler: :class:`Sandbox`, composing the API's behaviour.

:meth:`Sandbox.handle` turns a :class:`SandboxRequest` into a
:class:`SandboxResponse`: authentication (``_auth``), then the rate limit
(``_ratelimit``), then fault injection (``_faults``), then the endpoint
(``_endpoints``, with its query parameters parsed by ``_query``). It decides *what* to
answer (status, headers, body) and which fault to inject; the transports (in-process
httpx transport, real HTTP server) carry it out: sleeping for slow answers, dropping
the connection, cutting the body. The request and response values live in
``_messages``, below this module and the transports, so the transports serve any
handler and never import this module.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from activity_toolkit._time import to_ms
from activity_toolkit.client import VoucherifyClient
from activity_toolkit.sandbox._auth import Auth, unauthorised
from activity_toolkit.sandbox._config import SandboxConfig
from activity_toolkit.sandbox._endpoints import dispatch, route_of
from activity_toolkit.sandbox._errors import (
    JSON_CONTENT_TYPE,
    Headers,
    error_response,
    request_id,
)
from activity_toolkit.sandbox._faults import draw_fault, fault_error, spoil_success
from activity_toolkit.sandbox._messages import SandboxRequest, SandboxResponse
from activity_toolkit.sandbox._query import BadQuery
from activity_toolkit.sandbox._ratelimit import RateLimiter
from activity_toolkit.sandbox._server import SandboxServer
from activity_toolkit.sandbox._stats import Counters
from activity_toolkit.sandbox._transport import SandboxTransport
from activity_toolkit.sandbox._world import CustomerIndex, WorldLike, WorldView

__all__ = ["Sandbox"]


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
        self.config = config = config or SandboxConfig()
        self.index = CustomerIndex(world)
        self._view = WorldView(self.index)
        self._clock = clock
        self._lock = threading.Lock()
        # one generator for request ids and faults: a seeded sandbox is reproducible
        self._rng = random.Random(config.faults.seed)
        self._auth = Auth(config.app_id, config.secret_key, clock)
        self._limiter = RateLimiter(config.rate_limit, config.window, self._rng)
        self._counters = Counters()

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
        return [dict(r.event) for r in self._view.visible(self.index.events[c["id"]])]

    def event_ids(self) -> list[str]:
        """Every visible event id."""
        return [r.id for r in self._view.visible(list(self.index.all_events()))]

    def set_visible_until(self, moment: datetime | str | None) -> None:
        """Hide events (and, from the customers list, customers) created after
        ``moment`` (``None`` shows all), to play "new activity since the last sync"."""
        if moment is None:
            self._view.until = None
        else:
            text = moment.isoformat() if isinstance(moment, datetime) else moment
            self._view.until = to_ms(text)

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
        """Forget the request counters, and the requests counted by the rate limit."""
        with self._lock:
            self._counters = Counters()
            self._limiter.reset()

    def stats(self) -> dict[str, Any]:
        """Counters of what the sandbox saw (also at ``GET /_sandbox/stats``).

        ``max_in_window`` is the largest number of accepted requests in any window of
        the rate limit (any ``per`` seconds for a sliding window, each clock-aligned
        one for a fixed window): it never exceeds the limit.
        """
        with self._lock:
            return self._counters.report(self.config.rate_limit, self.config.window)

    # -- handling ----------------------------------------------------------------------
    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request (thread-safe): auth, rate limit, fault, endpoint."""
        if request.path.startswith("/_sandbox/"):
            return self._meta(request)
        with self._lock:
            counters = self._counters
            counters.requests += 1
            rid = request_id(self._rng)
            if not self._auth.authorised(request):
                counters.status[401] += 1
                return unauthorised(rid)
            now = self._clock()
            limit_headers, refused = self._limiter.admit(now)
            if refused is not None:
                counters.limited += 1
                counters.status[429] += 1
                return refused
            counters.accepted += 1
            counters.arrivals.append(now)
            fault = draw_fault(self.config.faults, self._rng, counters)
            route, customer = route_of(request)
            counters.route[route] += 1
            if customer:
                counters.customer[customer] += 1
        response = self._answer(request, route, fault, rid, limit_headers)
        with self._lock:
            self._counters.status[response.status] += 1
        return response

    def _answer(
        self,
        request: SandboxRequest,
        route: str,
        fault: str | None,
        rid: str,
        limit_headers: Headers,
    ) -> SandboxResponse:
        """The answer to an accepted request: an injected error, the endpoint's
        error, or its body (spoilt by ``fault``)."""
        latency = self.config.latency
        faults = self.config.faults
        injected = fault_error(fault, faults, rid, limit_headers, latency)
        if injected is not None:
            return injected
        try:
            status, body = dispatch(request, route, self._view, self.config, self._auth)
        except BadQuery as exc:
            return error_response(
                400,
                "invalid_query_params",
                "Invalid query params",
                exc.details,
                rid,
                extra_headers=limit_headers,
                delay=latency,
            )
        if status != 200:
            return error_response(
                status,
                body.pop("key"),
                body.pop("message"),
                body.pop("details"),
                rid,
                extra_headers=limit_headers,
                delay=latency,
                extra=body,
            )
        headers = (JSON_CONTENT_TYPE, *limit_headers)
        return spoil_success(fault, faults, headers, orjson.dumps(body), latency)

    def _meta(self, request: SandboxRequest) -> SandboxResponse:
        """``GET /_sandbox/stats`` and ``/_sandbox/health`` (no auth, not counted)."""
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
