"""Shared fakes for the client tests (a module of its own: conftest names clash)."""

from __future__ import annotations

from typing import Any

import httpx

from activity_toolkit.client import RetryPolicy

SECRET = "sk_test_SECRET_7f3a9c51d2"
APP_ID = "app_test_1"

FAST_RETRY = RetryPolicy(attempts=4, budget=None, backoff=0.001, max_backoff=0.01)


def ok(body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.Response(200, json=body, headers=headers)


def page(
    events: list[dict[str, Any]], *, has_more: bool, cursor: str | None = None
) -> dict[str, Any]:
    return {
        "object": "list",
        "data_ref": "data",
        "data": events,
        "has_more": has_more,
        "more_starting_after": cursor,
    }


def event(i: int, *, customer: str = "cust_1", ms: int | None = None) -> dict[str, Any]:
    ms = i * 1000 if ms is None else ms
    stamp = (
        f"2024-01-01T00:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}Z"
    )
    return {
        "id": f"evcus_{i:04d}",
        "type": "customer.order.paid",
        "created_at": stamp,
        "group_id": "v-1",
        "data": {
            "data": {"customer": {"id": customer}},
            "event_source": {"channel": "API"},
        },
    }
