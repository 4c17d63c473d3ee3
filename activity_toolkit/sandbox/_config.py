"""How the sandbox behaves: :class:`SandboxConfig`."""

from __future__ import annotations

from dataclasses import dataclass, field

from activity_toolkit.client import RateLimit
from activity_toolkit.sandbox._faults import Faults
from activity_toolkit.sandbox._ratelimit import Window

__all__ = ["SandboxConfig"]


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """How the sandbox behaves.

    Parameters
    ----------
    app_id, secret_key
        The credentials it accepts (``X-App-Id`` / ``X-App-Token``).
    rate_limit
        Requests allowed per window (``None``: unlimited, headers still sent).
    window
        ``"sliding"``: at most ``requests`` in any ``per`` seconds; ``"fixed"``: per
        clock-aligned window of ``per`` seconds.
    latency
        Seconds added to every answer.
    faults
        Fault injection (:class:`Faults`).
    page_cap
        Highest ``page`` number of ``GET /v1/customers`` (99, as documented).
    activities_id_cursor
        Whether the deprecated ``/activities`` honours ``starting_after_id``. Its
        date cursor is always "strictly after", so events tied at a page boundary
        are lost by a client that follows the date alone.
    exact_has_more
        ``False`` (default): a full ``/activity`` page says ``has_more: true`` even
        when nothing follows, so an empty page comes next (the documented trap).
    """

    app_id: str = "sandbox-app-id"
    secret_key: str = field(default="sandbox-secret-key", repr=False)
    rate_limit: RateLimit | None = None
    window: Window = "sliding"
    latency: float = 0.0
    faults: Faults = field(default_factory=Faults)
    page_cap: int = 99
    activities_id_cursor: bool = True
    exact_has_more: bool = False
