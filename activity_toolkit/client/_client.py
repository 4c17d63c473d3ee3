"""``VoucherifyClient``: credentials, cluster, timeouts, limits; sync and async calls."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from activity_toolkit._time import format_time
from activity_toolkit._version import __version__
from activity_toolkit.client._limits import (
    ClientStats,
    RateLimit,
    RateLimiter,
    RetryPolicy,
)
from activity_toolkit.client._query import ActivityQuery, Endpoint
from activity_toolkit.client._secret import Secret
from activity_toolkit.client._session import VoucherifySession
from activity_toolkit.client._sync import run_sync
from activity_toolkit.exceptions import AuthenticationError, CredentialsError

__all__ = ["CLUSTERS", "Cluster", "VoucherifyClient"]

Cluster = Literal["eu", "us", "as"]
"""Voucherify's shared clusters: Europe (the default), United States, Asia (Singapore)."""

CLUSTERS: Mapping[str, str] = {
    "eu": "https://api.voucherify.io",
    "us": "https://us1.api.voucherify.io",
    "as": "https://as1.api.voucherify.io",
}
_CLUSTER_ALIASES = {"api": "eu", "us1": "us", "as1": "as"}

ENV_APP_ID = "VOUCHERIFY_APP_ID"
ENV_SECRET_KEY = "VOUCHERIFY_SECRET_KEY"
ENV_API_URL = "VOUCHERIFY_API_URL"

_VERSION = __version__


_WHAT = {
    "\r": "a carriage return (\\r; a .env file with Windows line endings?)",
    "\n": "a line feed (\\n)",
    "\t": "a tab",
    " ": "a space",
}


def _check_credential(value: str | Secret | None, name: str) -> None:
    """Refuse a credential that cannot be sent as an HTTP header value, naming the
    setting and the problem, never the value (``from None``: nothing chained)."""
    if value is None:
        return
    text = value.reveal() if isinstance(value, Secret) else value
    if not isinstance(text, str):
        msg = f"{name} must be a str, got {type(text).__name__}"
        raise CredentialsError(msg) from None
    problem = None
    if text != text.strip():
        end = text[-1] if text[-1].isspace() else text[0]
        where = "ends with" if text[-1].isspace() else "starts with"
        problem = f"{where} {_WHAT.get(end, 'whitespace')}; remove it"
    elif not text.isascii():
        problem = "contains non-ASCII characters (HTTP headers are ASCII); check it"
    elif any(not 32 <= ord(c) < 127 for c in text):
        problem = "contains control characters (\\r, \\n, \\t…); check it"
    if problem:
        msg = f"{name} {problem}. The value is not shown."
        raise CredentialsError(msg) from None


def _check_url(base_url: str, name: str) -> None:
    """Refuse ``user:password@`` in the API URL (never echoing it)."""
    try:
        parts = urlsplit(base_url.strip())
        userinfo = "@" in parts.netloc
    except ValueError:
        msg = f"{name} is not a valid URL"
        raise CredentialsError(msg) from None
    if userinfo:
        msg = (
            f"{name} contains credentials (user:password@host); give only the URL "
            f"and put the credentials in {ENV_APP_ID} and {ENV_SECRET_KEY}. "
            "The URL is not shown."
        )
        raise CredentialsError(msg) from None


def _resolve_base_url(
    cluster: str | None, base_url: str | None, name: str = "base_url"
) -> str:
    if base_url:
        _check_url(base_url, name)
        key = base_url.strip().lower()
        key = _CLUSTER_ALIASES.get(key, key)
        if key in CLUSTERS:
            return CLUSTERS[key]
        if not base_url.startswith(("http://", "https://")):
            msg = (
                f"base URL {base_url!r} is neither a URL (https://…) nor a cluster name "
                f"({', '.join(CLUSTERS)})"
            )
            raise ValueError(msg)
        return base_url.rstrip("/")
    name = _CLUSTER_ALIASES.get(cluster or "eu", cluster or "eu")
    if name not in CLUSTERS:
        msg = f"cluster must be one of {list(CLUSTERS)}, got {cluster!r}"
        raise ValueError(msg)
    return CLUSTERS[name]


class VoucherifyClient:
    """A client of the Voucherify Application API (customers and their activity).

    The client holds configuration and the rate limiter's knowledge; connections
    are opened per call (or per :meth:`session`), so one client serves scripts,
    notebooks and async code alike. The secret key and token are kept as
    :class:`~activity_toolkit.client.Secret` values and never appear in a repr, a
    log line or an exception message.

    Parameters
    ----------
    app_id, secret_key
        The project's Application ID and secret key (``X-App-Id`` / ``X-App-Token``).
    bearer_token
        An OAuth access token (``Authorization: Bearer``), instead of or as well as the
        key pair.
    cluster
        ``"eu"`` (default, ``api.voucherify.io``), ``"us"`` or ``"as"``.
    base_url
        Any other base URL (a dedicated cluster, the local sandbox); a cluster name
        is accepted too. Overrides ``cluster``.
    timeout
        Seconds for connect/read/write; a float or an ``httpx.Timeout``.
    rate_limit
        The plan's limit if you know it (``RateLimit(100, per=60)`` or ``"100/min"``).
        Without it the client follows the ``X-Rate-Limit-*`` headers alone.
    retry
        Attempts, retry budget and backoff (:class:`RetryPolicy`).
    concurrency
        Customers fetched at once by :func:`activity_toolkit.fetch`.
    page_size
        Records per page, 1 to 100 (100 makes the fewest requests).
    transport
        An ``httpx`` async transport, e.g. ``httpx.MockTransport`` in tests or the
        sandbox's in-process transport.
    seed
        Seed of the retry jitter (for reproducible tests).

    Raises
    ------
    AuthenticationError
        No credentials.
    CredentialsError
        A credential with whitespace, control or non-ASCII characters, or
        ``user:password@`` in ``base_url``: refused before anything is sent, and the
        message never shows the value.

    Examples
    --------
    >>> client = VoucherifyClient("my-app-id", "my-secret", cluster="us")
    >>> client
    VoucherifyClient(base_url='https://us1.api.voucherify.io', app_id='my-app-id', secret_key=Secret('********'))
    """

    def __init__(
        self,
        app_id: str | None = None,
        secret_key: str | Secret | None = None,
        *,
        bearer_token: str | Secret | None = None,
        cluster: Cluster | str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        rate_limit: RateLimit | str | None = None,
        retry: RetryPolicy | None = None,
        concurrency: int = 8,
        page_size: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
        seed: int | None = None,
        _names: Mapping[str, str] | None = None,
    ) -> None:
        if secret_key is not None and not app_id:
            msg = "secret_key needs its app_id (X-App-Id)"
            raise AuthenticationError(msg)
        if not (app_id and secret_key) and not bearer_token:
            msg = (
                "no credentials: pass app_id and secret_key (or bearer_token), or use "
                f"VoucherifyClient.from_env() with {ENV_APP_ID} and {ENV_SECRET_KEY} set"
            )
            raise AuthenticationError(msg)
        names = _names or {}
        _check_credential(app_id, names.get("app_id", "app_id"))
        _check_credential(secret_key, names.get("secret_key", "secret_key"))
        _check_credential(bearer_token, names.get("bearer_token", "bearer_token"))
        if concurrency < 1:
            msg = f"concurrency must be at least 1, got {concurrency}"
            raise ValueError(msg)
        if not 1 <= page_size <= 100:
            msg = f"page_size must be between 1 and 100, got {page_size}"
            raise ValueError(msg)
        self._app_id = app_id
        self._secret_key = Secret(secret_key) if secret_key is not None else None
        self._bearer = Secret(bearer_token) if bearer_token is not None else None
        self._base_url = _resolve_base_url(
            cluster, base_url, names.get("base_url", "base_url")
        )
        self._timeout = (
            timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        )
        if isinstance(rate_limit, str):
            rate_limit = RateLimit.parse(rate_limit)
        self._retry = retry or RetryPolicy()
        self._concurrency = concurrency
        self._page_size = page_size
        self._transport = transport
        self._seed = seed
        self._limiter = RateLimiter(rate_limit)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, **options: Any
    ) -> VoucherifyClient:
        """A client configured from ``VOUCHERIFY_APP_ID``, ``VOUCHERIFY_SECRET_KEY`` and
        ``VOUCHERIFY_API_URL`` (a URL or a cluster name; default ``eu``).

        This is the only place the toolkit reads environment variables. ``options``
        are passed on to the constructor (``rate_limit=``, ``timeout=``…).

        Raises
        ------
        AuthenticationError
            The id or the secret key is not set.
        CredentialsError
            A value cannot be sent: whitespace or control characters around the key
            (a ``.env`` file with Windows line endings), non-ASCII characters, or
            ``user:password@`` in the URL. The message never shows the value.
        """
        env = os.environ if env is None else env
        app_id = env.get(ENV_APP_ID) or None
        secret = env.get(ENV_SECRET_KEY) or None
        if not app_id or not secret:
            missing = [
                n for n, v in ((ENV_APP_ID, app_id), (ENV_SECRET_KEY, secret)) if not v
            ]
            msg = (
                f"{' and '.join(missing)} not set: export the project's Application ID and "
                f"secret key (and {ENV_API_URL} for a cluster other than Europe, or the "
                "sandbox's URL)"
            )
            raise AuthenticationError(msg)
        names = {"app_id": ENV_APP_ID, "secret_key": ENV_SECRET_KEY}
        if "base_url" not in options:
            options["base_url"] = env.get(ENV_API_URL) or None
            names["base_url"] = ENV_API_URL
        else:
            names["base_url"] = "the API URL"
        return cls(app_id, secret, _names=names, **options)

    # -- configuration -----------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The API root, e.g. ``https://api.voucherify.io``."""
        return self._base_url

    @property
    def app_id(self) -> str | None:
        """The Application ID (not a secret)."""
        return self._app_id

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy."""
        return self._retry

    @property
    def concurrency(self) -> int:
        """Customers fetched at once."""
        return self._concurrency

    @property
    def page_size(self) -> int:
        """Records per page."""
        return self._page_size

    @property
    def seed(self) -> int | None:
        """Seed of the retry jitter."""
        return self._seed

    @property
    def limiter(self) -> RateLimiter:
        """The rate limiter (shared by every call of this client)."""
        return self._limiter

    @property
    def stats(self) -> ClientStats:
        """Counters of every request this client sent so far."""
        return self._limiter.counters.snapshot()

    def __repr__(self) -> str:
        parts = [f"base_url={self._base_url!r}"]
        if self._app_id:
            parts.append(f"app_id={self._app_id!r}")
        if self._secret_key is not None:
            parts.append(f"secret_key={self._secret_key!r}")
        if self._bearer is not None:
            parts.append(f"bearer_token={self._bearer!r}")
        return f"VoucherifyClient({', '.join(parts)})"

    def _headers(self) -> dict[str, str]:
        headers = {
            "Accept": "application/json",
            "User-Agent": f"activity_toolkit/{_VERSION}",
        }
        if self._app_id and self._secret_key is not None:
            headers["X-App-Id"] = self._app_id
            headers["X-App-Token"] = self._secret_key.reveal()
        if self._bearer is not None:
            headers["Authorization"] = f"Bearer {self._bearer.reveal()}"
        return headers

    # -- sessions ----------------------------------------------------------------------
    @asynccontextmanager
    async def session(
        self, *, retry: RetryPolicy | None = None
    ) -> AsyncIterator[VoucherifySession]:
        """Open a connection pool for many async calls::

        async with client.session() as s:
            events = await s.customer_activity("cust_123")

        ``retry`` replaces the client's retry policy for this session.
        """
        limits = httpx.Limits(
            max_connections=self._concurrency + 2,
            max_keepalive_connections=self._concurrency + 2,
        )
        async with httpx.AsyncClient(
            base_url=self._base_url,
            headers=self._headers(),
            timeout=self._timeout,
            limits=limits,
            transport=self._transport,
            follow_redirects=False,
        ) as http:
            yield VoucherifySession(
                http,
                limiter=self._limiter,
                retry=retry or self._retry,
                secrets=(self._secret_key, self._bearer),
                page_size=self._page_size,
                seed=self._seed,
            )

    # -- async calls -------------------------------------------------------------------
    async def alist_customers(
        self, *, created_after: str | datetime | None = None
    ) -> list[dict[str, Any]]:
        """Async :meth:`list_customers`."""
        after = format_time(created_after) if created_after is not None else None
        async with self.session() as s:
            return await s.list_customers(created_after=after)

    async def aget_customer(self, customer: str) -> dict[str, Any]:
        """Async :meth:`get_customer`."""
        async with self.session() as s:
            return await s.get_customer(customer)

    async def acustomer_activity(
        self,
        customer: str,
        *,
        endpoint: Endpoint = "activity",
        query: ActivityQuery | None = None,
    ) -> list[dict[str, Any]]:
        """Async :meth:`customer_activity`."""
        async with self.session() as s:
            return await s.customer_activity(customer, endpoint=endpoint, query=query)

    async def arequest_token(self, *, scope: str = "api customers") -> Secret:
        """Async :meth:`request_token`."""
        async with self.session() as s:
            answer = await s.request_token(scope=scope)
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            msg = "the OAuth token answer has no access_token"
            raise AuthenticationError(msg)
        return Secret(token)

    # -- sync calls --------------------------------------------------------------------
    def request_token(self, *, scope: str = "api customers") -> Secret:
        """An OAuth 2.0 access token for this application (``POST /v1/oauth/token``,
        client credentials; valid 900 s), authenticated with the key pair.

        Use it as ``VoucherifyClient(bearer_token=token, base_url=...)``.

        Examples
        --------
        >>> from activity_toolkit.sandbox import Sandbox, World
        >>> box = Sandbox(World.generate(customers=2, events=1))
        >>> token = box.client().request_token()
        >>> token
        Secret('********')
        >>> bearer = VoucherifyClient(bearer_token=token, base_url="http://sandbox.invalid",
        ...                           transport=box.transport())
        >>> len(bearer.list_customers())
        2
        """
        return run_sync(lambda: self.arequest_token(scope=scope))

    def list_customers(
        self, *, created_after: str | datetime | None = None
    ) -> list[dict[str, Any]]:
        """Every customer of the project, oldest first.

        Page numbers are used up to page 99, then the ``starting_after`` date cursor,
        so projects with more than 9,900 customers are listed whole; customers
        created in the same millisecond are not lost at the switch.

        Parameters
        ----------
        created_after
            Only customers created after this time.
        """
        return run_sync(lambda: self.alist_customers(created_after=created_after))

    def get_customer(self, customer: str) -> dict[str, Any]:
        """One customer, by Voucherify id (``cust_…``) or source id.

        Raises
        ------
        NotFoundError
            No such customer.
        """
        return run_sync(lambda: self.aget_customer(customer))

    def customer_activity(
        self,
        customer: str,
        *,
        endpoint: Endpoint = "activity",
        query: ActivityQuery | None = None,
    ) -> list[dict[str, Any]]:
        """Every event of one customer, oldest first, each once (raw API dicts).

        Parameters
        ----------
        customer
            Voucherify id (``cust_…``) or source id.
        endpoint
            ``"activity"`` (current, default) or ``"activities"`` (deprecated).
        query
            Filters (:class:`ActivityQuery`).

        Warns
        -----
        IncompleteFetchWarning
            On ``"activities"``, when the events collected differ from ``total``.

        Examples
        --------
        >>> from activity_toolkit.sandbox import Sandbox
        >>> box = Sandbox.from_sample(customers=3, seed=1)
        >>> client = box.client()
        >>> cid = box.customer_ids[0]
        >>> events = client.customer_activity(cid)
        >>> len(events) == len(box.events_of(cid))
        True
        """
        return run_sync(
            lambda: self.acustomer_activity(customer, endpoint=endpoint, query=query)
        )
