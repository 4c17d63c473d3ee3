"""The Voucherify API client: auth, clusters, rate limits, retries, pagination.

One async core (:class:`VoucherifySession`) with a synchronous API on top
(:class:`VoucherifyClient` methods) that works in scripts and inside Jupyter alike.
:func:`activity_toolkit.fetch` builds on it to fill a Parquet store, with
:class:`FetchProgress` and :func:`run_sync` from here.

Inside the package the modules import downward only: ``_query`` (endpoints and
filters) and ``_pagination`` (cursors) below ``_session`` (the request loop), which is
below ``_client`` (configuration and the sync API).
"""

from __future__ import annotations

from activity_toolkit.client._client import CLUSTERS, Cluster, VoucherifyClient
from activity_toolkit.client._limits import (
    ClientStats,
    RateLimit,
    RateLimiter,
    RetryPolicy,
)
from activity_toolkit.client._pagination import (
    CustomerCursor,
    DateCursor,
    IdCursor,
    Page,
    Paginator,
)
from activity_toolkit.client._progress import FetchProgress
from activity_toolkit.client._query import (
    ENDPOINTS,
    ActivityQuery,
    CampaignType,
    Category,
    Endpoint,
)
from activity_toolkit.client._secret import Secret
from activity_toolkit.client._session import VoucherifySession
from activity_toolkit.client._sync import run_sync

__all__ = [
    "CLUSTERS",
    "ENDPOINTS",
    "ActivityQuery",
    "CampaignType",
    "Category",
    "ClientStats",
    "Cluster",
    "CustomerCursor",
    "DateCursor",
    "Endpoint",
    "FetchProgress",
    "IdCursor",
    "Page",
    "Paginator",
    "RateLimit",
    "RateLimiter",
    "RetryPolicy",
    "Secret",
    "VoucherifyClient",
    "VoucherifySession",
    "run_sync",
]
