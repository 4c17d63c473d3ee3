"""The async core: one request loop with retries, one pagination loop.

A :class:`VoucherifySession` is opened by :meth:`VoucherifyClient.session` inside a
running event loop and owns one ``httpx.AsyncClient``. Everything that talks to the
API (the sync methods of the client, :func:`activity_toolkit.fetch`) goes through
:meth:`VoucherifySession.get_json` and :meth:`VoucherifySession.paginate`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import warnings
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from activity_toolkit._time import format_time
from activity_toolkit.client._errors import (
    error_from_exception,
    error_from_response,
    is_retryable,
    parse_json_body,
)
from activity_toolkit.client._limits import RateLimiter, RetryPolicy
from activity_toolkit.client._pagination import (
    CustomerCursor,
    DateCursor,
    IdCursor,
    Page,
    Paginator,
)
from activity_toolkit.client._query import ENDPOINTS, ActivityQuery, Endpoint
from activity_toolkit.client._secret import Secret, redact
from activity_toolkit.exceptions import (
    ActivityToolkitError,
    IncompleteFetchWarning,
    PaginationError,
    RateLimitError,
)

__all__ = ["VoucherifySession", "customer_path"]

logger = logging.getLogger("activity_toolkit.client")


def customer_path(customer: str, endpoint: str | None = None) -> str:
    """``/v1/customers/{id}[/endpoint]``, the id (or source id) percent-encoded."""
    if not isinstance(customer, str) or not customer:
        msg = f"a customer id or source id must be a non-empty string, got {customer!r}"
        raise ValueError(msg)
    path = f"/v1/customers/{quote(customer, safe='')}"
    return f"{path}/{endpoint}" if endpoint else path


def _failure_kind(error: ActivityToolkitError, status: int | None) -> str:
    if status is None:
        return "transport"
    if status == 429:
        return "429"
    if status >= 500:
        return "5xx"
    if status < 300:
        return "malformed"
    return str(status)


class VoucherifySession:
    """An open connection pool with the client's limiter and retry budget.

    Do not build it yourself; use ``async with client.session() as s``. The client
    hands it what the request loop needs (limiter, retry policy, the secrets to
    redact from messages, page size, jitter seed), so the session knows nothing of
    the client.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        limiter: RateLimiter,
        retry: RetryPolicy,
        secrets: tuple[Secret | None, ...] = (),
        page_size: int = 100,
        seed: int | None = None,
    ) -> None:
        self._http = http
        self._limiter = limiter
        self._retry = retry
        self._secrets = secrets
        self._page_size = page_size
        self._budget = retry.budget
        self._rng = random.Random(seed)

    # -- one request -------------------------------------------------------------------
    async def get_json(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """GET ``path`` and return its JSON object (see :meth:`request_json`)."""
        return await self.request_json("GET", path, params=params)

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Send one request and return its JSON object, retrying what is worth retrying.

        Raises
        ------
        ApiError
            A refusal that retrying cannot fix (400, 401/403, 404), or a 429/5xx
            once the attempts or the session's retry budget are spent.
        TransportError
            Timeouts, refused or dropped connections, malformed or truncated
            bodies, once the attempts or the budget are spent.
        """
        policy = self._retry
        limiter = self._limiter
        secrets = self._secrets
        shown = redact(path, secrets)
        attempt = 0
        started = time.monotonic()
        while True:
            attempt += 1
            ticket = await limiter.acquire()
            response: httpx.Response | None = None
            failure: BaseException | None = None
            try:
                response = await self._http.request(
                    method, path, params=dict(params or {}), data=data
                )
            except httpx.HTTPError as exc:
                failure = exc
            finally:
                limiter.release(
                    ticket,
                    response.headers if response is not None else None,
                    status=response.status_code if response is not None else None,
                )
            status = response.status_code if response is not None else None
            malformed: ActivityToolkitError | None = None
            if response is not None and 200 <= response.status_code < 300:
                try:
                    body = parse_json_body(response, secrets=secrets)
                except ActivityToolkitError as exc:
                    malformed = exc
                else:
                    logger.debug(
                        "%s %s -> %s (attempt %d)", method, shown, status, attempt
                    )
                    return body

            error = self._error(method, path, response, failure, malformed)
            kind = _failure_kind(error, status)
            wait = getattr(error, "retry_after", None)
            too_long = (
                isinstance(error, RateLimitError) and (wait or 0) > policy.max_wait
            )
            budget_left = self._budget is None or self._budget > 0
            # a request httpx cannot even build (bad header value, URL) fails the same
            # way every time: not retried, and nothing of httpx's message (which
            # may quote a header) is chained
            local = isinstance(
                failure,
                httpx.LocalProtocolError | httpx.UnsupportedProtocol | httpx.InvalidURL,
            )
            retryable = is_retryable(error) and not local
            delay = 0.0 if isinstance(error, RateLimitError) else None
            if delay is None:
                delay = policy.delay(attempt, self._rng)
            elapsed = time.monotonic() - started
            out_of_time = policy.retry_for is not None and (
                elapsed + max(delay, limiter.blocked_for()) > policy.retry_for
            )
            retry = (
                retryable
                and attempt < policy.attempts
                and budget_left
                and not too_long
                and not out_of_time
            )
            limiter.record_failure(kind, retry=retry)
            if not retry:
                if local:
                    raise error from None
                if not retryable:
                    raise error from failure
                if too_long:
                    reason = (
                        f"the API asks to wait {wait:.0f} s, over the "
                        f"{policy.max_wait:.0f} s allowed"
                    )
                elif not budget_left:
                    reason = (
                        f"gave up after {attempt} attempt(s): the retry budget of "
                        f"{policy.budget} is spent"
                    )
                elif out_of_time:
                    reason = (
                        f"gave up after {attempt} attempt(s) in {elapsed:.0f} s "
                        f"(retry_for={policy.retry_for:g} s)"
                    )
                else:
                    reason = f"gave up after {attempt} attempts"
                final = self._error(
                    method, path, response, failure, malformed, note=reason
                )
                # raised, and reported once by whoever catches it: not logged as well
                logger.info("%s %s failed: %s", method, shown, final)
                raise final from failure
            if self._budget is not None:
                self._budget -= 1
            if isinstance(error, RateLimitError):
                logger.info(
                    "%s %s: 429, pausing all requests for %.1f s (retry %d of %d)",
                    method,
                    shown,
                    limiter.blocked_for(),
                    attempt,
                    policy.attempts - 1,
                )
                continue  # the limiter holds every request until the pause is over
            logger.info(
                "%s %s: %s; retry %d of %d in %.2f s",
                method,
                shown,
                error,
                attempt,
                policy.attempts - 1,
                delay,
            )
            await asyncio.sleep(delay)
            limiter.record_backoff(delay)

    def _error(
        self,
        method: str,
        path: str,
        response: httpx.Response | None,
        failure: BaseException | None,
        malformed: ActivityToolkitError | None,
        *,
        note: str = "",
    ) -> ActivityToolkitError:
        """The error for one failed attempt (``note``: why it is final)."""
        secrets = self._secrets
        if malformed is not None:
            return type(malformed)(f"{malformed}; {note}" if note else str(malformed))
        if response is not None:
            return error_from_response(response, secrets=secrets, note=note)
        assert failure is not None
        return error_from_exception(
            failure, method=method, path=path, secrets=secrets, note=note
        )

    # -- many pages --------------------------------------------------------------------
    async def paginate(
        self, path: str, paginator: Paginator, params: Mapping[str, Any] | None = None
    ) -> AsyncIterator[tuple[list[dict[str, Any]], Page]]:
        """Follow ``paginator`` from its first page to its last.

        Yields ``(new, page)`` per page: the records not seen on an earlier page (by
        ``id``) and the :class:`Page` itself.

        Raises
        ------
        PaginationError
            An envelope without its records list, or a cursor that repeats.
        """
        query: dict[str, Any] | None = paginator.first(params or {})
        seen: set[str] = set()
        asked: set[tuple[tuple[str, str], ...]] = set()
        total: int | None = None
        first = True
        while query is not None:
            key = tuple(sorted((k, str(v)) for k, v in query.items()))
            if key in asked:
                msg = f"GET {path}: the cursor repeats ({_describe(query)}); stopping a loop"
                raise PaginationError(msg)
            asked.add(key)
            body = await self.get_json(path, query)
            items = body.get(paginator.items_key)
            if not isinstance(items, list) or not all(
                isinstance(i, Mapping) for i in items
            ):
                msg = (
                    f"GET {path}: expected a list of objects under "
                    f"{paginator.items_key!r}, got keys {sorted(body)}"
                )
                raise PaginationError(msg)
            new: list[dict[str, Any]] = []
            for item in items:
                item_id = item.get("id")
                if isinstance(item_id, str):
                    if item_id in seen:
                        continue
                    seen.add(item_id)
                new.append(item)
            if first:
                raw_total = body.get("total")
                total = raw_total if isinstance(raw_total, int) else None
                first = False
            page = Page(items, body, new=len(new), collected=len(seen), total=total)
            yield new, page
            query = paginator.next(query, page)

    # -- endpoints ---------------------------------------------------------------------
    async def iter_customers(
        self, *, created_after: str | None = None, page_size: int | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of ``GET /v1/customers``, oldest first (customers after
        ``created_after`` only, when given); see :class:`CustomerCursor`."""
        params: dict[str, Any] = {}
        if created_after is not None:
            params["starting_after"] = format_time(created_after)
        paginator = CustomerCursor(limit=page_size or self._page_size)
        async for new, _page in self.paginate("/v1/customers", paginator, params):
            yield new

    async def request_token(self, *, scope: str = "api customers") -> dict[str, Any]:
        """``POST /v1/oauth/token`` (client credentials): the token answer."""
        return await self.request_json(
            "POST",
            "/v1/oauth/token",
            data={"grant_type": "client_credentials", "scope": scope},
        )

    async def get_customer(self, customer: str) -> dict[str, Any]:
        """``GET /v1/customers/{id}`` (Voucherify id or source id)."""
        return await self.get_json(customer_path(customer))

    async def iter_activity(
        self,
        customer: str,
        *,
        endpoint: Endpoint = "activity",
        query: ActivityQuery | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """One customer's events, page by page, oldest first, each event once.

        On the deprecated endpoint, a shortfall against the API's ``total`` is
        reported with :class:`~activity_toolkit.exceptions.IncompleteFetchWarning`.
        """
        if endpoint not in ENDPOINTS:
            msg = f"endpoint must be one of {list(ENDPOINTS)}, got {endpoint!r}"
            raise ValueError(msg)
        params = (query or ActivityQuery()).params(endpoint)
        limit = page_size or self._page_size
        paginator: Paginator = (
            IdCursor(limit=limit) if endpoint == "activity" else DateCursor(limit=limit)
        )
        path = customer_path(customer, endpoint)
        last: Page | None = None
        async for new, page in self.paginate(path, paginator, params):
            last = page
            yield new
        if (
            endpoint == "activities"
            and last is not None
            and last.total is not None
            and last.collected != last.total
        ):
            warnings.warn(
                IncompleteFetchWarning(
                    f"customer {customer!r}: collected {last.collected} distinct events "
                    f"from GET {path}, but its total says {last.total} "
                    f"({last.total - last.collected:+d}); events sharing a created_at at a "
                    "page boundary may have been skipped by the date cursor. "
                    "The /activity endpoint (endpoint='activity') does not have this problem."
                ),
                stacklevel=2,
            )

    async def customer_activity(
        self,
        customer: str,
        *,
        endpoint: Endpoint = "activity",
        query: ActivityQuery | None = None,
        page_size: int | None = None,
    ) -> list[dict[str, Any]]:
        """All events of one customer (see :meth:`iter_activity`)."""
        events: list[dict[str, Any]] = []
        async for page in self.iter_activity(
            customer, endpoint=endpoint, query=query, page_size=page_size
        ):
            events.extend(page)
        return events

    async def list_customers(
        self, *, created_after: str | None = None, page_size: int | None = None
    ) -> list[dict[str, Any]]:
        """Every customer of the project, oldest first (see :meth:`iter_customers`)."""
        customers: list[dict[str, Any]] = []
        async for page in self.iter_customers(
            created_after=created_after, page_size=page_size
        ):
            customers.extend(page)
        return customers


def _describe(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
