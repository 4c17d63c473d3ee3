"""The Voucherify API client: auth, clusters, rate limits, retries, pagination.

One async core (:class:`VoucherifySession`) with a synchronous API on top
(:class:`VoucherifyClient` methods) that works in scripts and inside Jupyter alike.
:func:`activity_toolkit.fetch` builds on it to fill a Parquet store.
"""

from __future__ import annotations

from activity_toolkit.client._client import (
    CLUSTERS,
    ActivityQuery,
    CampaignType,
    Category,
    Cluster,
    VoucherifyClient,
)
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
from activity_toolkit.client._secret import Secret
from activity_toolkit.client._session import Endpoint, VoucherifySession

__all__ = [
    "CLUSTERS",
    "ActivityQuery",
    "CampaignType",
    "Category",
    "ClientStats",
    "Cluster",
    "CustomerCursor",
    "DateCursor",
    "Endpoint",
    "IdCursor",
    "Page",
    "Paginator",
    "RateLimit",
    "RateLimiter",
    "RetryPolicy",
    "Secret",
    "VoucherifyClient",
    "VoucherifySession",
]
