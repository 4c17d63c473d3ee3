"""A deterministic synthetic Voucherify project: customers, campaigns and their activity.

Everything runs without an account: the default data of the CLI, the notebooks, the
sandbox server and the tests. The same seed always gives the same world, byte for
byte, and each customer's history depends only on the seed and the customer's index,
so a world can be streamed customer by customer at any size.

What the world contains (one request's events share a ``group_id`` and often the
same millisecond):

- campaigns of all five types: discount coupons, a promotion, gift cards, a referral
  programme and a loyalty programme with four tiers;
- journeys publication → validation → redemption → order created/paid, with
  drop-off, validation and redemption failures (with failure codes), rollbacks
  and canceled orders;
- loyalty: points added with every paid order (``rewarded.loyalty_points`` and
  ``points_added`` together), pending points that activate or are canceled, points
  spent on rewards and on loyalty-card redemptions, expiry waves, transfers, tier
  joined/upgraded/downgraded/left/prolonged/expiration.changed consistent with the
  running balance;
- referrals (``customer.referred`` and the referrer's ``customer.rewarded``),
  segments, messaging on several channels, custom events, holder assignments, gift
  card top-ups;
- seasonality (more activity in November and December), customers who churn,
  bulk-imported customers created in the same millisecond, a few legacy alias
  spellings and one event type the registry does not know.
"""

from __future__ import annotations

from datetime import datetime

from activity_toolkit._time import as_utc
from activity_toolkit.model import ActivityLog
from activity_toolkit.sample._catalog import (
    CAMPAIGNS,
    DEFAULT_END,
    DEFAULT_START,
    UNKNOWN_TYPE,
)
from activity_toolkit.sample._world import SampleWorld
from activity_toolkit.sample._writers import expected_unknown_type

__all__ = [
    "CAMPAIGNS",
    "UNKNOWN_TYPE",
    "SampleWorld",
    "expected_unknown_type",
    "sample",
    "sample_world",
]


def _as_datetime(value: datetime | str | None, default: datetime) -> datetime:
    return default if value is None else as_utc(value)


def sample_world(
    *,
    customers: int = 200,
    seed: int = 0,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
) -> SampleWorld:
    """A deterministic synthetic Voucherify project.

    Parameters
    ----------
    customers
        Number of customers (about 60 events each on average with the default range).
    seed
        The same seed gives the same world.
    start, end
        The period the project's activity spans (default 2024-01-01 to 2025-07-01, UTC).

    Examples
    --------
    >>> world = sample_world(customers=5, seed=1)
    >>> len(world.customers)
    5
    >>> world.events[0]["data"].keys() == {"data", "event_source"}
    True
    """
    return SampleWorld(
        customers=customers,
        seed=seed,
        start=_as_datetime(start, DEFAULT_START),
        end=_as_datetime(end, DEFAULT_END),
    )


def sample(
    *,
    customers: int = 200,
    seed: int = 0,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    workers: int = 1,
) -> ActivityLog:
    """A realistic, deterministic :class:`ActivityLog` to explore with no account.

    It is :func:`sample_world` read through the same loader as real data; see that
    function for the parameters and the module docstring for what the world holds.
    ``workers > 1`` generates a large world in that many processes (see
    :meth:`SampleWorld.iter_ndjson`); 1,000,000 events take about half a minute.
    The one unknown event type in it (``customer.wallet.topped_up``) is kept under
    family ``unknown`` without a warning, because it is there on purpose.

    Examples
    --------
    >>> log = sample(customers=50, seed=42)
    >>> {"redemption", "order", "tier", "points"} <= set(log.events["family"])
    True
    >>> log.equals(sample(customers=50, seed=42))
    True
    """
    world = sample_world(customers=customers, seed=seed, start=start, end=end)
    with expected_unknown_type():
        return world.to_log(workers=workers)
