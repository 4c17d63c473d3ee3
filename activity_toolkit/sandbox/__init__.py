"""A local Voucherify API for development and tests: no account, no network.

:class:`Sandbox` serves a synthetic project (by default
:func:`activity_toolkit.sample.sample_world`) with the API's documented behaviour:
``GET /v1/customers`` (page numbers capped at 99, the ``starting_after`` date
cursor), ``GET /v1/customers/{id}`` and both activity endpoints, by Voucherify id or
source id; ``X-App-Id``/``X-App-Token`` and OAuth bearer auth with the real 401 body;
404 for unknown customers; ``X-Rate-Limit-*`` headers on every answer and a 429 with
``Retry-After`` past the limit; optional faults (5xx, slow answers, dropped
connections, truncated bodies, 429 storms).

Use it in-process (:meth:`Sandbox.client`, :meth:`Sandbox.transport`), over HTTP in a
thread (:meth:`Sandbox.serve`), or as a server process::

    activity-toolkit sandbox --port 8765 --customers 200 --rate-limit 100/min

>>> box = Sandbox.from_sample(customers=3, seed=0)
>>> events = box.client().customer_activity(box.customer_ids[0])
>>> [e["id"] for e in events] == [e["id"] for e in box.events_of(box.customer_ids[0])]
True
"""

from __future__ import annotations

from activity_toolkit.sandbox._app import Sandbox
from activity_toolkit.sandbox._config import SandboxConfig
from activity_toolkit.sandbox._faults import DEFAULT_FAULT_KINDS, FaultKind, Faults
from activity_toolkit.sandbox._messages import (
    RequestHandler,
    SandboxRequest,
    SandboxResponse,
)
from activity_toolkit.sandbox._server import SandboxServer
from activity_toolkit.sandbox._transport import SandboxTransport
from activity_toolkit.sandbox._world import World, WorldLike

__all__ = [
    "DEFAULT_FAULT_KINDS",
    "FaultKind",
    "Faults",
    "RequestHandler",
    "Sandbox",
    "SandboxConfig",
    "SandboxRequest",
    "SandboxResponse",
    "SandboxServer",
    "SandboxTransport",
    "World",
    "WorldLike",
]
