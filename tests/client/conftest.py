"""Fixtures for client tests: a client over ``httpx.MockTransport``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from activity_toolkit.client import VoucherifyClient
from client.fakes import APP_ID, FAST_RETRY, SECRET


@pytest.fixture
def make_client() -> Callable[..., VoucherifyClient]:
    def build(
        handler: Callable[[httpx.Request], httpx.Response], **options: Any
    ) -> VoucherifyClient:
        options.setdefault("base_url", "https://api.test")
        options.setdefault("retry", FAST_RETRY)
        options.setdefault("seed", 0)
        return VoucherifyClient(
            APP_ID, SECRET, transport=httpx.MockTransport(handler), **options
        )

    return build
