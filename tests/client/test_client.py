"""VoucherifyClient through httpx.MockTransport: auth, clusters, endpoints, loops."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest

from activity_toolkit.client import CLUSTERS, ActivityQuery, RateLimit, VoucherifyClient
from activity_toolkit.exceptions import (
    AuthenticationError,
    IncompleteFetchWarning,
    PaginationError,
)
from client.fakes import APP_ID, SECRET, event, ok, page


def test_key_pair_headers(make_client) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok(page([], has_more=False))

    make_client(handler).customer_activity("cust_1")
    headers = seen[0].headers
    assert headers["X-App-Id"] == APP_ID
    assert headers["X-App-Token"] == SECRET
    assert "authorization" not in headers
    assert headers["user-agent"].startswith("activity_toolkit/")


def test_bearer_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok(page([], has_more=False))

    client = VoucherifyClient(
        bearer_token="tok_abc",
        base_url="https://api.test",
        transport=httpx.MockTransport(handler),
    )
    client.customer_activity("c")
    assert seen[0].headers["Authorization"] == "Bearer tok_abc"
    assert "x-app-token" not in seen[0].headers
    assert "tok_abc" not in repr(client)


@pytest.mark.parametrize(
    ("kwargs", "url"),
    [
        ({}, "https://api.voucherify.io"),
        ({"cluster": "eu"}, CLUSTERS["eu"]),
        ({"cluster": "us"}, "https://us1.api.voucherify.io"),
        ({"cluster": "as"}, "https://as1.api.voucherify.io"),
        ({"base_url": "us1"}, "https://us1.api.voucherify.io"),
        ({"base_url": "https://eu2.example.com/"}, "https://eu2.example.com"),
        (
            {"base_url": "http://127.0.0.1:8765", "cluster": "us"},
            "http://127.0.0.1:8765",
        ),
    ],
)
def test_clusters_and_base_url(kwargs, url) -> None:
    assert VoucherifyClient("a", "s", **kwargs).base_url == url


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="cluster"):
        VoucherifyClient("a", "s", cluster="mars")
    with pytest.raises(ValueError, match="neither a URL"):
        VoucherifyClient("a", "s", base_url="api.example.com")
    with pytest.raises(AuthenticationError, match="no credentials"):
        VoucherifyClient()
    with pytest.raises(ValueError, match="page_size"):
        VoucherifyClient("a", "s", page_size=500)


def test_from_env_reads_the_three_variables() -> None:
    env = {
        "VOUCHERIFY_APP_ID": "app9",
        "VOUCHERIFY_SECRET_KEY": SECRET,
        "VOUCHERIFY_API_URL": "as",
    }
    client = VoucherifyClient.from_env(env, concurrency=3)
    assert client.app_id == "app9"
    assert client.base_url == CLUSTERS["as"]
    assert client.concurrency == 3
    assert SECRET not in repr(client)
    assert (
        VoucherifyClient.from_env({**env, "VOUCHERIFY_API_URL": ""}).base_url
        == CLUSTERS["eu"]
    )


def test_from_env_names_what_is_missing() -> None:
    with pytest.raises(AuthenticationError, match="VOUCHERIFY_SECRET_KEY not set"):
        VoucherifyClient.from_env({"VOUCHERIFY_APP_ID": "x"})


def test_customer_by_source_id_is_percent_encoded(make_client) -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return ok(page([], has_more=False))

    make_client(handler).customer_activity("crm/42 ü")
    assert paths == [
        "/v1/customers/crm%2F42%20%C3%BC/activity?limit=100&order=created_at"
    ]


def test_activity_follows_the_cursor_through_an_exactly_full_last_page(
    make_client,
) -> None:
    events = [event(i) for i in range(4)]
    asked: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        asked.append(params)
        cursor = params.get("starting_after_id")
        start = 0 if cursor is None else int(cursor[-4:]) + 1
        chunk = events[start : start + 2]
        more = len(chunk) == 2  # a lazy server: a full page says has_more
        return ok(page(chunk, has_more=more, cursor=chunk[-1]["id"] if more else None))

    client = make_client(handler, page_size=2)
    got = client.customer_activity(
        "cust_1", query=ActivityQuery(type="customer.order.paid")
    )
    assert [e["id"] for e in got] == [e["id"] for e in events]
    assert [a.get("starting_after_id") for a in asked] == [
        None,
        "evcus_0001",
        "evcus_0003",
    ]
    assert all(
        a["type"] == "customer.order.paid" and a["order"] == "created_at" for a in asked
    )


def test_a_repeating_cursor_is_a_pagination_error(make_client) -> None:
    client = make_client(
        lambda r: ok(page([event(1)], has_more=True, cursor="evcus_0001"))
    )
    with pytest.raises(PaginationError, match="repeats"):
        client.customer_activity("c")


def test_an_envelope_without_data_is_a_pagination_error(make_client) -> None:
    client = make_client(lambda r: ok({"object": "list", "items": []}))
    with pytest.raises(PaginationError, match="'data'"):
        client.customer_activity("c")


def test_deprecated_endpoint_warns_with_the_numbers(make_client) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "starting_after" in request.url.params:
            return ok({"object": "list", "data": [], "total": 5})
        return ok({"object": "list", "data": [event(0), event(1)], "total": 5})

    client = make_client(handler, page_size=2)
    with pytest.warns(
        IncompleteFetchWarning, match=r"collected 2 distinct events .* total says 5"
    ):
        got = client.customer_activity("cust_1", endpoint="activities")
    assert len(got) == 2


def test_filters_each_endpoint_lacks_are_refused() -> None:
    with pytest.raises(ValueError, match="no 'type' filter"):
        ActivityQuery(type="customer.order.paid").params("activities")
    with pytest.raises(ValueError, match="no 'product_id' filter"):
        ActivityQuery(product_id="prod_1").params("activity")
    assert ActivityQuery(product_id="p").params("activities") == {"product_id": "p"}


def test_list_customers_switches_to_the_date_cursor_after_page_99(make_client) -> None:
    # 10 customers per ms (bulk imports), pages of 5: the page cap is hit at 495
    customers = [
        {
            "id": f"cust_{i:05d}",
            "created_at": f"2024-01-01T00:{i // 600:02d}:{i // 10 % 60:02d}.000Z",
        }
        for i in range(600)
    ]
    asked: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        asked.append(params)
        number, limit = int(params["page"]), int(params["limit"])
        assert number <= 99, "page numbers stop at 99"
        rows = customers
        if "starting_after" in params:
            rows = [c for c in rows if c["created_at"] > params["starting_after"]]
        chunk = rows[(number - 1) * limit : number * limit]
        return ok(
            {
                "object": "list",
                "data_ref": "customers",
                "customers": chunk,
                "total": len(rows),
                "has_more": number * limit < len(rows),
            }
        )

    got = make_client(handler, page_size=5).list_customers()
    assert [c["id"] for c in got] == [c["id"] for c in customers]
    assert max(int(a["page"]) for a in asked) == 99
    assert any("starting_after" in a for a in asked)


def test_429_pauses_every_request_for_retry_after(make_client) -> None:
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        if len(times) == 1:
            return httpx.Response(
                429,
                json={"code": 429, "key": "too_many_requests"},
                headers={"Retry-After": "1"},
            )
        return ok(page([], has_more=False))

    client = make_client(handler)
    client.customer_activity("c")
    assert times[1] - times[0] >= 1.0
    assert client.stats.rate_limited == 1
    assert client.stats.rate_limit_wait >= 0.9


def test_rate_limit_headers_slow_down_before_the_limit(make_client) -> None:
    """With X-Rate-Limit-Remaining at 0, the next request waits for X-Rate-Limit-Retry."""
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        now = time.time()
        times.append(time.monotonic())
        remaining = 0 if len(times) == 1 else 5
        return ok(
            page([], has_more=False),
            **{
                "X-Rate-Limit-Limit": "5",
                "X-Rate-Limit-Remaining": str(remaining),
                "X-Rate-Limit-Retry": f"{now + 0.5:.3f}",
            },
        )

    client = make_client(handler)
    client.customer_activity("a")
    client.customer_activity("b")
    assert times[1] - times[0] >= 0.45
    assert client.stats.rate_limited == 0


def test_a_stated_plan_limits_every_window(make_client) -> None:
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        return ok(page([], has_more=False))

    client = make_client(handler, rate_limit=RateLimit(3, per=0.3))

    async def many() -> None:
        async with client.session() as s:
            await asyncio.gather(*(s.customer_activity(f"c{i}") for i in range(7)))

    asyncio.run(many())
    assert len(times) == 7
    for i in range(len(times) - 3):
        assert times[i + 3] - times[i] >= 0.3


def test_sync_api_inside_a_running_event_loop(make_client) -> None:
    """As in Jupyter: a loop is running in this thread, no nest_asyncio needed."""
    client = make_client(lambda r: ok(page([event(1)], has_more=False)))

    async def cell() -> list[dict]:
        asyncio.get_running_loop()
        return client.customer_activity("cust_1")

    assert [e["id"] for e in asyncio.run(cell())] == ["evcus_0001"]


def test_async_api(make_client) -> None:
    client = make_client(lambda r: ok(page([event(1)], has_more=False)))
    assert len(asyncio.run(client.acustomer_activity("c"))) == 1


def test_logs_never_show_the_secret(make_client, caplog) -> None:
    answers = iter(
        [
            httpx.Response(503, json={"code": 503, "details": f"token {SECRET}"}),
            httpx.Response(401, json={"code": 401, "message": SECRET}),
        ]
    )
    client = make_client(lambda r: next(answers))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError) as info:
        client.customer_activity("c")
    assert caplog.records
    assert SECRET not in caplog.text
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)
