"""The sandbox's documented behaviour, in-process (its httpx transport)."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from activity_toolkit.client import DateCursor, RateLimit, VoucherifyClient
from activity_toolkit.sandbox import (
    Faults,
    Sandbox,
    SandboxConfig,
    SandboxRequest,
    World,
)

AUTH = {"X-App-Id": "sandbox-app-id", "X-App-Token": "sandbox-secret-key"}


def http(box: Sandbox) -> httpx.Client:
    return httpx.Client(
        transport=box.transport(), base_url="http://sandbox.test", headers=AUTH
    )


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(
        customers=12, events=[0, 1, 9, 10, 11, 30] * 2, tie=3, bulk=4, seed=3
    )


@pytest.fixture
def box(world) -> Sandbox:
    return Sandbox(world)


def test_auth_401_with_the_api_body(box) -> None:
    r = httpx.Client(transport=box.transport(), base_url="http://s").get(
        "/v1/customers"
    )
    assert r.status_code == 401
    body = r.json()
    assert body["code"] == 401
    assert body["key"] == "unauthorized"
    assert body["message"] == "Unauthorized"
    assert body["request_id"].startswith("v-")
    bad = http(box).get("/v1/customers", headers={"X-App-Token": "nope"})
    assert bad.status_code == 401


def test_oauth_token_then_bearer(box) -> None:
    with http(box) as c:
        tok = c.post(
            "/v1/oauth/token",
            data={"grant_type": "client_credentials", "scope": "api customers"},
        )
    assert tok.status_code == 200
    token = tok.json()["access_token"]
    assert tok.json()["expires_in"] == 900
    client = VoucherifyClient(
        bearer_token=token, base_url="http://s", transport=box.transport()
    )
    assert len(client.list_customers()) == 12


def test_unknown_customer_is_404_with_the_documented_body(box) -> None:
    r = http(box).get("/v1/customers/cust_nope/activity")
    assert r.status_code == 404
    body = r.json()
    assert (body["key"], body["resource_type"], body["resource_id"]) == (
        "not_found",
        "customer",
        "cust_nope",
    )
    assert body["details"] == "Cannot find customer with id cust_nope"


def test_customer_by_source_id(box, world) -> None:
    first = world.customers[0]
    r = http(box).get(f"/v1/customers/{first['source_id']}")
    assert r.json()["id"] == first["id"]


def test_customers_page_cap_and_date_cursor(box, world) -> None:
    c = http(box)
    r = c.get("/v1/customers", params={"page": 100, "limit": 1})
    assert r.status_code == 400
    assert r.json()["key"] == "invalid_query_params"
    assert c.get("/v1/customers", params={"page": 99, "limit": 1}).status_code == 200
    # ascending date cursor: strictly after the date (bulk-imported customers share one ms)
    stamp = world.customers[0]["created_at"]
    after = c.get(
        "/v1/customers",
        params={"order": "created_at", "starting_after": stamp, "limit": 100},
    ).json()
    assert [x["id"] for x in after["customers"]] == box.customer_ids[4:]
    # default order: newest first, and the cursor means "before"
    last = world.customers[-1]["created_at"]
    before = c.get(
        "/v1/customers", params={"starting_after": last, "limit": 100}
    ).json()
    assert len(before["customers"]) == 8
    assert before["customers"][0]["created_at"] > before["customers"][-1]["created_at"]


def test_activity_has_more_on_an_exactly_full_page(box, world) -> None:
    cid = world.customers[3]["id"]  # 10 events
    c = http(box)
    p1 = c.get(
        f"/v1/customers/{cid}/activity", params={"limit": 10, "order": "created_at"}
    ).json()
    assert len(p1["data"]) == 10
    assert p1["has_more"] is True
    p2 = c.get(
        f"/v1/customers/{cid}/activity",
        params={
            "limit": 10,
            "order": "created_at",
            "starting_after_id": p1["more_starting_after"],
        },
    ).json()
    assert p2["data"] == []
    assert p2["has_more"] is False
    assert set(p1) == {"object", "data_ref", "data", "has_more", "more_starting_after"}


def test_activity_filters(box, world) -> None:
    cid = world.customers[5]["id"]
    c = http(box)
    paid = c.get(
        f"/v1/customers/{cid}/activity",
        params={"type": "customer.order.paid", "limit": 100},
    ).json()
    assert {e["type"] for e in paid["data"]} == {"customer.order.paid"}
    effects = c.get(
        f"/v1/customers/{cid}/activity", params={"category": "EFFECT", "limit": 100}
    ).json()
    assert {e["type"] for e in effects["data"]} == {
        "customer.rewarded.loyalty_points",
        "customer.segment.entered",
    }
    promo = c.get(
        f"/v1/customers/{cid}/activity",
        params={"campaign_type": "PROMOTION", "limit": 100},
    ).json()
    assert {e["data"]["data"]["campaign"]["id"] for e in promo["data"]} == {
        "camp_promo"
    }
    events = box.events_of(cid)
    mid = events[12]["created_at"]
    later = c.get(
        f"/v1/customers/{cid}/activity", params={"start_date": mid, "limit": 100}
    ).json()
    assert all(e["created_at"] >= mid for e in later["data"])
    assert (
        c.get(f"/v1/customers/{cid}/activity", params={"limit": 101}).status_code == 400
    )


def test_deprecated_date_cursor_really_loses_ties(world) -> None:
    """The trap: a client following the date alone loses events tied at a boundary."""
    box = Sandbox(world)
    cid = world.customers[5]["id"]  # 30 events in groups of 3 sharing a millisecond
    naive = DateCursor(limit=4, id_cursor=False, overlap=False)

    async def run() -> list[dict]:
        client = box.client()
        async with client.session() as s:
            out: list[dict] = []
            path = f"/v1/customers/{cid}/activities"
            async for new, _ in s.paginate(path, naive, {}):
                out.extend(new)
            return out

    import asyncio

    got = asyncio.run(run())
    assert len(got) < 30
    total = http(box).get(f"/v1/customers/{cid}/activities").json()["total"]
    assert total == 30


def test_activities_envelope_and_id_cursor_switch(world) -> None:
    cid = world.customers[5]["id"]
    events = Sandbox(world).events_of(cid)
    for honour in (True, False):
        box = Sandbox(world, SandboxConfig(activities_id_cursor=honour))
        body = (
            http(box)
            .get(
                f"/v1/customers/{cid}/activities",
                params={
                    "order": "created_at",
                    "limit": 5,
                    "starting_after_id": events[3]["id"],
                },
            )
            .json()
        )
        assert set(body) == {"object", "data_ref", "data", "total"}
        first = body["data"][0]["id"]
        assert first == (events[4]["id"] if honour else events[0]["id"])


def test_rate_limit_headers_and_429(world) -> None:
    box = Sandbox(world, SandboxConfig(rate_limit=RateLimit(3, per=60)))
    c = http(box)
    remaining = []
    for _ in range(3):
        r = c.get("/v1/customers")
        assert r.status_code == 200
        assert r.headers["X-Rate-Limit-Limit"] == "3"
        remaining.append(int(r.headers["X-Rate-Limit-Remaining"]))
        assert float(r.headers["X-Rate-Limit-Retry"]) > time.time()
    assert remaining == [2, 1, 0]
    r = c.get("/v1/customers")
    assert r.status_code == 429
    assert r.json()["code"] == 429
    assert r.json()["key"] == "too_many_requests"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    stats = box.stats()
    assert stats["rate_limited"] == 1
    assert stats["max_in_window"] == 3


def test_fixed_window(world) -> None:
    now = [1000.0]
    box = Sandbox(
        world,
        SandboxConfig(rate_limit=RateLimit(2, per=10), window="fixed"),
        clock=lambda: now[0],
    )
    c = http(box)
    assert [c.get("/v1/customers").status_code for _ in range(3)] == [200, 200, 429]
    now[0] = 1010.0
    r = c.get("/v1/customers")
    assert r.status_code == 200
    assert float(r.headers["X-Rate-Limit-Retry"]) == 1020.0


@pytest.mark.parametrize(
    ("kind", "exc"),
    [
        ("drop", httpx.RemoteProtocolError),
        ("truncate", httpx.RemoteProtocolError),
        ("slow", httpx.ReadTimeout),
    ],
)
def test_faults_over_the_transport(world, kind, exc) -> None:
    box = Sandbox(
        world, SandboxConfig(faults=Faults(rate=1.0, kinds=(kind,), slow_seconds=5))
    )
    with (
        httpx.Client(
            transport=box.transport(), base_url="http://s", headers=AUTH, timeout=0.05
        ) as c,
        pytest.raises(exc),
    ):
        c.get("/v1/customers")


def test_malformed_and_5xx_faults(world) -> None:
    box = Sandbox(world, SandboxConfig(faults=Faults(rate=1.0, kinds=("malformed",))))
    r = http(box).get("/v1/customers")
    assert r.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(r.content)
    box = Sandbox(world, SandboxConfig(faults=Faults(rate=1.0, kinds=("503",))))
    r = http(box).get("/v1/customers")
    assert r.status_code == 503
    assert r.json()["code"] == 503


def test_429_storm(world) -> None:
    box = Sandbox(world, SandboxConfig(faults=Faults(storm=(4, 2))))
    codes = [http(box).get("/v1/customers").status_code for _ in range(8)]
    assert codes == [429, 429, 200, 200, 429, 429, 200, 200]
    assert box.stats()["storm_429"] == 4


def test_visibility_clock(world) -> None:
    box = Sandbox(world)
    cid = world.customers[5]["id"]
    events = box.events_of(cid)
    box.set_visible_until(events[9]["created_at"])
    assert len(box.events_of(cid)) == 12  # ties: the 10th event's millisecond holds 3
    box.set_visible_until(None)
    assert len(box.events_of(cid)) == 30


def test_request_parsing() -> None:
    r = SandboxRequest.build(
        "get", "/v1/customers/a%2Fb/activity?limit=5&type=x&type=y", [("X-App-Id", "a")]
    )
    assert r.path == "/v1/customers/a/b/activity"
    assert r.arg("type") == "y"
    assert r.headers == {"x-app-id": "a"}


def test_world_round_trips_as_json(world) -> None:
    again = World.from_json(world.to_json())
    assert again == world


def test_sample_world_is_served(tmp_path) -> None:
    box = Sandbox.from_sample(customers=3, seed=1)
    client = box.client()
    assert [c["id"] for c in client.list_customers()] == box.customer_ids
    cid = box.customer_ids[-1]
    assert [e["id"] for e in client.customer_activity(cid)] == [
        e["id"] for e in box.events_of(cid)
    ]
