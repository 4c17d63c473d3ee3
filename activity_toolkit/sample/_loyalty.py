"""The loyalty ledger: a member's events replayed in time order with the true running
balance and FIFO point lots, so that balances, expiries, spends and tiers agree."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from activity_toolkit.sample._catalog import (
    CAMPAIGNS,
    HEX,
    MS_DAY,
    iso,
    tier_for,
    tier_object,
    token,
)

if TYPE_CHECKING:
    from activity_toolkit.sample._journey import Journey


_EXPIRY_MS = 180 * MS_DAY
_UPGRADE = "customer.loyalty.tier.upgraded"
_DOWNGRADE = "customer.loyalty.tier.downgraded"


def settle_loyalty(j: Journey) -> None:
    """Replay a member's loyalty events in time order and make them consistent.

    The simulation emits events out of time order (a coupon redeemed three weeks
    after it was published is generated before the next visit), so it cannot know
    exact balances. This pass walks the events by (time, id) with the true running
    balance and FIFO point lots, and

    - fills every balance (``balance.balance``, the card's ``loyalty_card``),
    - computes what each expiry run expires (points earned 180+ days before it) and
      drops runs that expire nothing,
    - removes spends the balance cannot cover at their time (with their request's
      other events), repeating until every spend is covered,
    - decides the tier on joining from the balance and emits ``upgraded`` /
      ``downgraded`` whenever the balance crosses a tier boundary (same request),
    - drops ``left`` / ``prolonged`` / ``expiration.changed`` of a non-member.
    """
    dropped: set[str] = set()
    while True:
        events = [
            e
            for e in j.events
            if e.get("_link") not in dropped and e["group_id"] not in dropped
        ]
        infeasible = _replay(events, j, write=False)[1]
        if not infeasible:
            break
        dropped |= infeasible
    j.events = _replay(events, j, write=True)[0]


def _replay(
    events: list[dict[str, Any]], j: Journey, *, write: bool
) -> tuple[list[dict[str, Any]], set[str]]:
    balance = 0
    lots: list[list[int]] = []  # [earned at ms, points left], oldest first
    tier: int | None = None
    accrued: str | None = None  # group of the last accrual applied
    out: list[dict[str, Any]] = []
    infeasible: set[str] = set()

    def card(p: dict[str, Any]) -> None:
        v = p.get("voucher")
        if write and isinstance(v, dict) and v.get("id") == j.card_id:
            p["voucher"] = {
                **v,
                "loyalty_card": {"points": balance, "balance": balance},
            }

    def tier_obj(index: int, ms: int) -> dict[str, Any]:
        return tier_object(
            index, expiration_ms=ms + 365 * MS_DAY, start_ms=ms, customer_id=j.c.id
        )

    def retier(e: dict[str, Any]) -> None:
        nonlocal tier
        if tier is None:
            return
        new = tier_for(balance)
        if new == tier:
            return
        ms = e["_ms"] + 1
        rng = random.Random(e["id"])
        out.append(
            {
                "id": "evcus_" + token(rng, 18, HEX),
                "type": _UPGRADE if new > tier else _DOWNGRADE,
                "data": {
                    "data": {
                        **j.tier_base(ms),
                        "loyalty_tier_from": tier_object(tier),
                        "loyalty_tier_to": tier_obj(new, ms),
                    },
                    "event_source": {"channel": "INTERNAL"},
                },
                "created_at": iso(ms),
                "group_id": e["group_id"],
                "_ms": ms,
            }
        )
        tier = new

    for e in sorted(events, key=lambda e: (e["_ms"], e["id"])):
        p = e["data"]["data"]
        kind, delta = e.get("_kind"), e.get("_delta")
        if kind == "expire":
            cutoff = e["_ms"] - _EXPIRY_MS
            expired = 0
            while lots and lots[0][0] <= cutoff:
                expired += lots.pop(0)[1]
            if not expired:
                continue
            balance -= expired
            if write:
                p["points"] = expired
                p["buckets"] = [
                    {
                        "id": "lpb_" + e["id"][-16:],
                        "voucher_id": j.card_id,
                        "campaign_id": CAMPAIGNS["loyalty"]["id"],
                        "bucket": {"total_points": expired},
                        "status": "EXPIRED",
                        "expires_at": e["created_at"][:10],
                    }
                ]
            card(p)
            out.append(e)
            retier(e)
        elif delta is not None:
            if delta < 0:
                if balance + delta < 0:
                    infeasible.add(e.get("_link") or e["group_id"])
                    continue
                left = -delta
                while left:
                    take = min(left, lots[0][1])
                    lots[0][1] -= take
                    left -= take
                    if not lots[0][1]:
                        lots.pop(0)
            else:
                lots.append([e["_ms"], delta])
            balance += delta
            if e["type"] == "customer.voucher.loyalty_card.points_added":
                accrued = e["group_id"]
            if write and isinstance(p.get("balance"), dict):
                p["balance"] = {**p["balance"], "balance": balance, "total": balance}
            card(p)
            out.append(e)
            retier(e)
        elif kind == "accrual_info":  # rewarded.loyalty_points beside its points_added
            after = balance if accrued == e["group_id"] else balance + e["_pts"]
            if write:
                p["balance"] = {**p["balance"], "balance": after, "total": after}
                p["loyalty_tier"] = tier_object(tier) if tier is not None else None
                v = p["voucher"]
                p["voucher"] = {
                    **v,
                    "loyalty_card": {"points": after, "balance": after},
                }
            out.append(e)
        elif kind == "join":
            tier = tier_for(balance)
            if write:
                p["loyalty_tier"] = tier_obj(tier, e["_ms"])
            out.append(e)
        elif kind in ("left", "keep"):
            if tier is None:
                continue
            if write:
                p["loyalty_tier"] = (
                    tier_object(tier) if kind == "left" else tier_obj(tier, e["_ms"])
                )
            out.append(e)
            if kind == "left":
                tier = None
        else:
            card(p)
            out.append(e)
    return out, infeasible
