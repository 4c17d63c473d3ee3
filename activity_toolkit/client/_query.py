"""What a request asks for: the activity endpoints and their filters.

Plain values with no knowledge of the session or the client, so both import them
from here (the query sits below the request loop and the client that uses it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, Literal

from activity_toolkit._time import format_time

__all__ = [
    "ENDPOINTS",
    "ActivityQuery",
    "CampaignType",
    "Category",
    "Endpoint",
]

Endpoint = Literal["activity", "activities"]
"""``"activity"``: the current ``/activity`` endpoint (id cursor);
``"activities"``: the deprecated ``/activities`` endpoint (date cursor, ``total``)."""

ENDPOINTS: tuple[str, ...] = ("activity", "activities")

CampaignType = Literal[
    "PROMOTION",
    "GIFT_VOUCHERS",
    "REFERRAL_PROGRAM",
    "DISCOUNT_COUPONS",
    "LOYALTY_PROGRAM",
]
Category = Literal["ACTION", "EFFECT"]

# The filters Voucherify's API reference (https://docs.voucherify.io) documents for
# GET /v1/customers/{id}/activity (current) and /activities (deprecated).
_FILTERS: Mapping[str, frozenset[str]] = {
    "activity": frozenset(
        {"start_date", "end_date", "campaign_id", "campaign_type", "type", "category"}
    ),
    "activities": frozenset(
        {"start_date", "end_date", "campaign_id", "campaign_type", "product_id"}
    ),
}


@dataclass(frozen=True, slots=True)
class ActivityQuery:
    """Filters of the customer-activity endpoints.

    ``start_date``/``end_date`` accept datetimes (naive = UTC) or ISO 8601 strings.
    ``type`` and ``category`` exist on ``/activity`` only, ``product_id`` on
    ``/activities`` only; asking an endpoint for a filter it lacks raises
    ``ValueError`` rather than silently returning unfiltered events.

    >>> ActivityQuery(start_date="2024-05-01", type="customer.order.paid").params("activity")
    {'start_date': '2024-05-01T00:00:00.000Z', 'type': 'customer.order.paid'}
    """

    start_date: datetime | str | None = None
    end_date: datetime | str | None = None
    campaign_id: str | None = None
    campaign_type: CampaignType | None = None
    type: str | None = None
    category: Category | None = None
    product_id: str | None = None

    def params(self, endpoint: str) -> dict[str, str]:
        """Query parameters for ``endpoint`` (``"activity"`` or ``"activities"``)."""
        allowed = _FILTERS.get(endpoint)
        if allowed is None:
            msg = f"endpoint must be one of {sorted(_FILTERS)}, got {endpoint!r}"
            raise ValueError(msg)
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name not in allowed:
                msg = (
                    f"the /{endpoint} endpoint has no {f.name!r} filter; "
                    f"it accepts {sorted(allowed)}"
                )
                raise ValueError(msg)
            out[f.name] = format_time(value) if f.name.endswith("_date") else str(value)
        return out

    def replace(self, **changes: Any) -> ActivityQuery:
        """A copy with some filters changed."""
        return replace(self, **changes)

    def fingerprint(self) -> dict[str, str]:
        """The filters other than the date range, for comparing sync states."""
        return {
            f.name: str(getattr(self, f.name))
            for f in fields(self)
            if getattr(self, f.name) is not None and not f.name.endswith("_date")
        }
