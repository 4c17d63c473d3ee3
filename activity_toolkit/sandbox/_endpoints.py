"""The endpoints: which route a request is for, and each route's answer.

:func:`route_of` names the route; :func:`dispatch` answers it with a status and a
JSON body (an error body is ``key``/``message``/``details`` plus extra fields, put
into the API's error shape by the caller). The handlers read the world through a
:class:`~activity_toolkit.sandbox._world.WorldView` and raise
:class:`~activity_toolkit.sandbox._query.BadQuery` for invalid parameters:

* ``GET /v1/customers``: :func:`list_customers` (page numbers, date cursor);
* ``GET /v1/customers/{id}``: the customer, by id or source id;
* ``GET /v1/customers/{id}/activity``: :func:`customer_activity` (id cursor);
* ``GET /v1/customers/{id}/activities``: :func:`deprecated_activities` (date cursor);
* ``POST /v1/oauth/token``: :func:`oauth_token`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from activity_toolkit.sandbox._auth import TOKEN_LIFETIME, Auth
from activity_toolkit.sandbox._config import SandboxConfig
from activity_toolkit.sandbox._messages import SandboxRequest
from activity_toolkit.sandbox._query import (
    BadQuery,
    after_id,
    date_arg,
    filter_events,
    int_arg,
    order_arg,
)
from activity_toolkit.sandbox._world import EventRow, WorldView

__all__ = [
    "customer_activity",
    "deprecated_activities",
    "dispatch",
    "list_customers",
    "oauth_token",
    "route_of",
]

Answer = tuple[int, dict[str, Any]]

_ORDERS = ("created_at", "-created_at")
_ORDERS_UPDATED = ("created_at", "-created_at", "updated_at", "-updated_at")


def route_of(request: SandboxRequest) -> tuple[str, str | None]:
    """The route (``customers``, ``customer``, ``activity``, ``activities``,
    ``oauth`` or ``unknown``) and the customer key in the path, if any."""
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


def dispatch(
    request: SandboxRequest,
    route: str,
    view: WorldView,
    config: SandboxConfig,
    auth: Auth,
) -> Answer:
    """Answer ``request`` for ``route`` (from :func:`route_of`)."""
    if route == "oauth" and request.method == "POST":
        return oauth_token(request, auth)
    if request.method != "GET" or route in ("unknown", "oauth"):
        return 404, {
            "key": "not_found",
            "message": "Resource not found",
            "details": f"Cannot find route {request.method} {request.path}",
        }
    if route == "customers":
        return 200, list_customers(request, view, config)
    key = [p for p in request.path.split("/") if p][2]
    customer = view.index.lookup(key)
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
    rows = view.visible(view.index.events[customer["id"]])
    if route == "activity":
        return 200, customer_activity(request, rows, config)
    return 200, deprecated_activities(request, rows, config)


def oauth_token(request: SandboxRequest, auth: Auth) -> Answer:
    """``POST /v1/oauth/token`` (form ``grant_type=client_credentials``): a bearer
    token."""
    form = parse_qs(request.body.decode("utf-8", "replace"))
    if form.get("grant_type", [""])[-1] != "client_credentials":
        msg = "grant_type must be client_credentials"
        raise BadQuery(msg)
    token, now = auth.issue()
    return 200, {
        "access_token": token,
        "client_id": auth.app_id,
        "expires_at": int(now + TOKEN_LIFETIME),
        "expires_in": TOKEN_LIFETIME,
        "scope": form.get("scope", ["api"])[-1],
        "token_type": "bearer",
    }


def customer_activity(
    request: SandboxRequest, all_rows: list[EventRow], config: SandboxConfig
) -> dict[str, Any]:
    """A page of ``GET /v1/customers/{id}/activity`` over the customer's visible
    events ``all_rows``: the ``starting_after_id`` cursor, and ``has_more`` true for
    any full page unless ``config.exact_has_more``."""
    limit = int_arg(request, "limit", 10, 1, 100)
    ascending = order_arg(request, _ORDERS, "-created_at")
    rows = filter_events(
        request, all_rows, ("campaign_id", "campaign_type", "type", "category")
    )
    if not ascending:
        rows = rows[::-1]
    cursor = request.arg("starting_after_id")
    if cursor:
        rows = after_id(rows, all_rows, cursor, ascending=ascending)
    page = rows[:limit]
    more = len(rows) > limit if config.exact_has_more else len(page) == limit
    return {
        "object": "list",
        "data_ref": "data",
        "data": [r.event for r in page],
        "has_more": more,
        "more_starting_after": page[-1].id if more and page else None,
    }


def deprecated_activities(
    request: SandboxRequest, all_rows: list[EventRow], config: SandboxConfig
) -> dict[str, Any]:
    """A page of the deprecated ``GET /v1/customers/{id}/activities``: the
    ``starting_after`` date cursor (strictly after), ``starting_after_id`` when
    ``config.activities_id_cursor``, and ``total``."""
    limit = int_arg(request, "limit", 10, 1, 100)
    ascending = order_arg(request, _ORDERS_UPDATED, "-created_at")
    rows = filter_events(
        request, all_rows, ("campaign_id", "campaign_type", "product_id")
    )
    total = len(rows)
    if not ascending:
        rows = rows[::-1]
    after = date_arg(request, "starting_after")
    if after is not None:  # the date cursor: strictly after (before, descending)
        rows = [r for r in rows if (r.ms > after if ascending else r.ms < after)]
    cursor = request.arg("starting_after_id")
    if cursor and config.activities_id_cursor:
        rows = after_id(rows, all_rows, cursor, ascending=ascending)
    return {
        "object": "list",
        "data_ref": "data",
        "data": [r.event for r in rows[:limit]],
        "total": total,
    }


def list_customers(
    request: SandboxRequest, view: WorldView, config: SandboxConfig
) -> dict[str, Any]:
    """A page of ``GET /v1/customers``: page numbers up to ``config.page_cap``, the
    ``created_at[after|before]`` filters and the ``starting_after`` date cursor."""
    limit = int_arg(request, "limit", 10, 1, 100)
    page = int_arg(request, "page", 1, 1, config.page_cap)
    ascending = order_arg(request, _ORDERS_UPDATED, "-created_at")
    index = view.index
    lo, hi = 0, len(index.customers)
    after = date_arg(request, "created_at[after]")
    before = date_arg(request, "created_at[before]")
    if after is not None:
        lo = max(lo, index.after(after))
    if before is not None:
        hi = min(hi, index.before(before))
    cursor = date_arg(request, "starting_after")
    if cursor is not None:
        if ascending:
            lo = max(lo, index.after(cursor))
        else:
            hi = min(hi, index.before(cursor))
    if view.until is not None:
        hi = min(hi, index.after(view.until))
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
