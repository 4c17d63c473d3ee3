"""Shared fixtures: the seed documents' examples and small synthetic worlds."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"


def seed_000_event() -> dict[str, Any]:
    """The flat, webhook-style example of seed 000 ("Customer Activity Object")."""
    text = (DATA / "seed_000_customer_activity_object.txt").read_text(encoding="utf-8")
    block = re.search(r"```json Example Response\n(.*?)\n```", text, re.S)
    assert block is not None
    return json.loads(block.group(1))


def seed_004_page() -> dict[str, Any]:
    """The nested list page of seed 004 (deprecated ``/activities`` endpoint)."""
    text = (DATA / "seed_004_list_customer_activities.txt").read_text(encoding="utf-8")
    start = text.index('{\n"object": "list"')
    end = text.index('"total": 123\n}', start) + len('"total": 123\n}')
    return json.loads(text[start:end])


def make_event(
    id: str,
    type: str = "customer.order.paid",
    created_at: str = "2024-05-01T10:00:00.000Z",
    *,
    customer: str = "cust_1",
    nested: bool = True,
    group_id: str | None = "v-1",
    **payload: Any,
) -> dict[str, Any]:
    """A minimal valid event in the nested (API) or flat (webhook) shape."""
    body: dict[str, Any] = {
        "customer": {"id": customer, "source_id": f"src-{customer}"},
        **payload,
    }
    event: dict[str, Any] = {"id": id, "type": type, "created_at": created_at}
    if nested:
        event["data"] = {"data": body, "event_source": {"channel": "API"}}
        if group_id is not None:
            event["group_id"] = group_id
    else:
        event["data"] = body
    return event


@pytest.fixture(scope="session")
def small_world():
    from activity_toolkit.sample import sample_world

    return sample_world(customers=40, seed=11)


@pytest.fixture(scope="session")
def small_log(small_world):
    import warnings

    from activity_toolkit.exceptions import UnknownEventTypeWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownEventTypeWarning)
        return small_world.to_log()
