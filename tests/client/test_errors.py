"""Every failure maps onto the package's error tree, with the API's error body and
without the secret."""

from __future__ import annotations

import httpx
import pytest

from activity_toolkit.client import RetryPolicy
from activity_toolkit.exceptions import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)
from client.fakes import SECRET, ok, page

BODY_404 = {
    "code": 404,
    "key": "not_found",
    "message": "Resource not found",
    "details": "Cannot find customer with id cust_x",
    "request_id": "v-0a885062c80375740f",
    "resource_id": "cust_x",
    "resource_type": "customer",
}

NO_RETRY = RetryPolicy(attempts=1)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (405, BadRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
    ],
)
def test_status_maps_to_error_tree(make_client, status, error) -> None:
    body = {**BODY_404, "code": status}
    client = make_client(lambda r: httpx.Response(status, json=body), retry=NO_RETRY)
    with pytest.raises(error) as info:
        client.customer_activity("cust_x")
    e = info.value
    assert isinstance(e, ApiError)
    assert e.status_code == status
    assert (e.code, e.key, e.api_message, e.details, e.request_id) == (
        status,
        "not_found",
        "Resource not found",
        "Cannot find customer with id cust_x",
        "v-0a885062c80375740f",
    )
    assert e.method == "GET"
    assert e.path == "/v1/customers/cust_x/activity"
    assert "v-0a885062c80375740f" in str(e)


def test_not_found_is_also_a_lookup_error(make_client) -> None:
    client = make_client(lambda r: httpx.Response(404, json=BODY_404))
    with pytest.raises(LookupError):
        client.get_customer("cust_x")


def test_non_json_error_body_is_kept_as_details(make_client) -> None:
    client = make_client(
        lambda r: httpx.Response(502, text="<html>Bad gateway</html>"), retry=NO_RETRY
    )
    with pytest.raises(ServerError) as info:
        client.customer_activity("c")
    assert info.value.details == "<html>Bad gateway</html>"


def test_429_carries_retry_after(make_client) -> None:
    client = make_client(
        lambda r: httpx.Response(
            429,
            json={"code": 429, "key": "too_many_requests"},
            headers={"Retry-After": "7"},
        ),
        retry=NO_RETRY,
    )
    with pytest.raises(RateLimitError) as info:
        client.customer_activity("c")
    assert info.value.retry_after == pytest.approx(7)


def test_429_wait_over_max_wait_is_final(make_client) -> None:
    client = make_client(
        lambda r: httpx.Response(
            429, json={"code": 429}, headers={"Retry-After": "3600"}
        ),
        retry=RetryPolicy(attempts=5, max_wait=10),
    )
    with pytest.raises(RateLimitError, match="over the 10 s allowed"):
        client.customer_activity("c")
    assert client.stats.requests == 1


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (httpx.ConnectError("refused"), "connection failed"),
        (httpx.ConnectTimeout("slow"), "connect timed out"),
        (httpx.ReadTimeout("slow"), "read timed out"),
        (
            httpx.RemoteProtocolError(
                "Server disconnected without sending a response."
            ),
            "dropped",
        ),
        (httpx.ReadError("reset"), "dropped"),
    ],
)
def test_transport_failures(make_client, exc, text) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    client = make_client(handler, retry=NO_RETRY)
    with pytest.raises(TransportError, match=text) as info:
        client.customer_activity("cust_1")
    assert "GET /v1/customers/cust_1/activity" in str(info.value)


@pytest.mark.parametrize(
    "content", [b'{"object": "list", "data": [', b"<html>", b"[1, 2]", b""]
)
def test_malformed_or_truncated_body(make_client, content) -> None:
    client = make_client(lambda r: httpx.Response(200, content=content), retry=NO_RETRY)
    with pytest.raises(TransportError, match="JSON"):
        client.customer_activity("c")


def test_retries_then_succeeds(make_client) -> None:
    answers = iter(
        [
            httpx.Response(503, json={"code": 503}),
            httpx.Response(200, content=b'{"data": ['),
            httpx.Response(500, json={"code": 500}),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        try:
            return next(answers)
        except StopIteration:
            return ok(page([], has_more=False))

    client = make_client(handler, retry=RetryPolicy(attempts=4, backoff=0.001))
    assert client.customer_activity("c") == []
    stats = client.stats
    assert (stats.requests, stats.retries) == (4, 3)
    assert stats.failures == {"5xx": 2, "malformed": 1}


def test_gives_up_after_the_attempts_and_says_so(make_client) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, json={"code": 503, "message": "down"})

    client = make_client(handler, retry=RetryPolicy(attempts=3, backoff=0.001))
    with pytest.raises(ServerError, match="gave up after 3 attempts") as info:
        client.customer_activity("c")
    assert len(calls) == 3
    assert info.value.status_code == 503


def test_retry_budget_is_shared_by_a_session(make_client) -> None:
    client = make_client(
        lambda r: httpx.Response(500, json={}),
        retry=RetryPolicy(attempts=10, budget=2, backoff=0.001),
    )
    with pytest.raises(ServerError, match="retry budget of 2 is spent"):
        client.customer_activity("c")
    assert client.stats.requests == 3


def test_client_errors_are_not_retried(make_client) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(400, json={"code": 400, "key": "invalid_query_params"})

    client = make_client(handler, retry=RetryPolicy(attempts=5))
    with pytest.raises(BadRequestError):
        client.customer_activity("c")
    assert len(calls) == 1


def test_secret_echoed_by_the_server_is_redacted(make_client) -> None:
    body = {
        "code": 401,
        "key": "unauthorized",
        "message": f"bad token {SECRET}",
        "details": f"X-App-Token={SECRET}",
    }
    client = make_client(lambda r: httpx.Response(401, json=body))
    with pytest.raises(AuthenticationError) as info:
        client.customer_activity("c")
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value.body)
    assert "VOUCHERIFY_SECRET_KEY" in str(info.value)  # says what to check


def test_transport_error_text_is_redacted(make_client) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"could not connect with token {SECRET}")

    client = make_client(handler, retry=NO_RETRY)
    with pytest.raises(TransportError) as info:
        client.customer_activity("c")
    assert SECRET not in str(info.value)
