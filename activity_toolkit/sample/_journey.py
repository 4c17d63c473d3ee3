"""One customer's simulated life, one event at a time.

Sign-up, segments, referrals, coupon journeys (publication → validation →
redemption → order), orders paid, canceled and fulfilled, messaging, gift cards,
and the loyalty events they trigger. The simulation decides in the order it goes,
not in time order, so loyalty balances are only estimates here;
:func:`~activity_toolkit.sample._loyalty.settle_loyalty` makes them exact.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from activity_toolkit.sample._catalog import (
    CAMPAIGNS,
    CUSTOM_EVENTS,
    HEX,
    MESSAGING,
    MS_DAY,
    PRODUCTS,
    REDEMPTION_FAILURES,
    REWARDS,
    SIMPLE_CAMPAIGN,
    UNKNOWN_TYPE,
    VALIDATION_FAILURES,
    choice,
    iso,
    token,
)
from activity_toolkit.sample._loyalty import settle_loyalty

if TYPE_CHECKING:
    from activity_toolkit.sample._world import SampleWorld


@dataclass(frozen=True, slots=True)
class Customer:
    index: int
    id: str
    source_id: str
    name: str
    email: str
    created_ms: int
    city: str


class Journey:
    """Generates one customer's events; all randomness comes from its own RNG."""

    def __init__(self, world: SampleWorld, cust: Customer) -> None:
        self.world = world
        self.c = cust
        self.rng = random.Random(world.seed * 1_000_003 + cust.index * 7_919 + 17)
        self.events: list[dict[str, Any]] = []
        self.simple = {
            "id": cust.id,
            "name": cust.name,
            "email": cust.email,
            "source_id": cust.source_id,
            "metadata": {"city": cust.city, "newsletter": cust.index % 3 != 0},
            "object": "customer",
        }
        # loyalty state
        self.card: str | None = None
        self.card_id: str | None = None
        # loyalty, as the simulation sees it while it decides what the customer does;
        # the exact balances, expiry amounts and tier changes are settled afterwards,
        # in time order (see settle_loyalty)
        self.balance = 0
        self.member = False
        self.member_since = 0
        self.channel = "API"

    # -- helpers ---------------------------------------------------------------------
    def group(self) -> str:
        return "v-" + token(self.rng, 18, HEX)

    def emit(
        self,
        etype: str,
        ms: int,
        payload: dict[str, Any],
        group: str,
        channel: str | None = None,
        **marks: Any,
    ) -> dict[str, Any]:
        """Append one event; ``marks`` are private ``_``-keys for the loyalty pass."""
        rng = self.rng
        if etype == "customer.segment.entered" and rng.random() < 0.25:
            etype = "customer.segment_entered"  # legacy spelling, still served
        elif etype == "customer.redemption.succeeded" and rng.random() < 0.01:
            etype = "customer.redemption.succceeded"  # MemberActivity typo
        event = {
            "id": "evcus_" + token(rng, 18, HEX),
            "type": etype,
            "data": {
                "data": payload,
                "event_source": {"channel": channel or self.channel},
            },
            "created_at": iso(ms),
            "group_id": group,
            "_ms": ms,
            **{f"_{k}": v for k, v in marks.items()},
        }
        self.events.append(event)
        return event

    def voucher(
        self, key: str, code: str, *, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        camp = CAMPAIGNS[key]
        v = {
            "id": "v_" + code,
            "code": code,
            "type": camp["voucher"]["type"],
            "campaign": camp["name"],
            "campaign_id": camp["id"],
            "discount": camp["voucher"].get("discount"),
            "gift": camp["voucher"].get("gift"),
            "holder_id": self.c.id,
            "is_referral_code": key == "referral",
            "active": True,
            "object": "voucher",
        }
        if extra:
            v.update(extra)
        return v

    def card_voucher(self) -> dict[str, Any]:
        """The loyalty card; its ``loyalty_card`` balance is filled by the loyalty pass."""
        assert self.card is not None
        return self.voucher(
            "loyalty",
            self.card,
            extra={
                "id": self.card_id,
                "loyalty_card": {"points": 0, "balance": 0},
            },
        )

    # -- the journey -----------------------------------------------------------------
    def run(self) -> list[dict[str, Any]]:
        w, rng, c = self.world, self.rng, self.c
        t = c.created_ms
        g = self.group()
        full = {
            **self.simple,
            "created_at": iso(t),
            "summary": {"orders": {"total_count": 0}},
            "loyalty": {"points": 0},
            "address": {"city": c.city, "country": "PL"},
        }
        self.emit(
            "customer.created",
            t,
            {"customer": full},
            g,
            "USER_PORTAL" if c.index % 9 == 0 else "API",
        )
        if rng.random() < 0.05:
            self.emit(
                "customer.consents.given",
                t + 1,
                {"customer": self.simple, "consents": {"marketing": True}},
                g,
            )
        if rng.random() < 0.35:
            t2 = t + rng.randrange(60_000, 3_600_000)
            self.emit(
                "customer.confirmed",
                t2,
                {
                    "customer": full,
                    "unconfirmed_customer": {"id": "ucust_" + token(rng, 24)},
                },
                self.group(),
            )
        # segments
        self.emit(
            "customer.segment.entered",
            t + 2,
            {
                "customer": full,
                "segment": {
                    "id": "seg_NewCustomers000000001",
                    "name": "New customers",
                    "object": "segment",
                },
            },
            g,
            "INTERNAL",
        )
        # referral: some customers arrive through a friend's code
        ref = w.referrer_of.get(c.index)
        if ref is not None:
            self.referred(t + 3, ref, g)
        for referee in w.referees_of.get(c.index, ()):
            self.referrer_reward(referee)
        # loyalty membership
        if rng.random() < 0.65:
            self.join_loyalty(t + 5, g)
        # welcome coupon
        self.coupon_journey(
            "welcome", t + rng.randrange(60_000, 2 * MS_DAY), p_redeem=0.55
        )

        # activity until churn
        lifetime_days = rng.expovariate(1 / 220)
        end = min(w.end_ms, t + int(lifetime_days * MS_DAY))
        rate = rng.uniform(0.03, 0.25)  # visits per day
        now = t
        last_expiry = t
        while True:
            gap = rng.expovariate(rate) * MS_DAY
            now += int(gap)
            if now >= end:
                break
            month = datetime.fromtimestamp(now / 1000, UTC).month
            if month in (11, 12) and rng.random() < 0.5:  # holiday season: more visits
                now_extra = now + rng.randrange(3_600_000, 5 * MS_DAY)
                if now_extra < end:
                    self.visit(now_extra, month)
            self.visit(now, month)
            if self.card and now - last_expiry > 90 * MS_DAY:
                self.expire(
                    now + 13
                )  # a monthly-ish expiry run; the pass computes the amount
                last_expiry = now
            if self.member and now - self.member_since > 365 * MS_DAY:
                self.prolong(now + 7)
        if self.member and end < w.end_ms and rng.random() < 0.3:
            self.leave(end + rng.randrange(MS_DAY, 30 * MS_DAY))
        self.segment_left(end)
        if self.card:
            settle_loyalty(self)
        for event in self.events:
            for key in [k for k in event if k.startswith("_")]:
                del event[key]
        return self.events

    def visit(self, now: int, month: int) -> None:
        rng = self.rng
        r = rng.random()
        if r < 0.35:  # a campaign message
            ch = choice(rng, MESSAGING)
            outcome = (
                "failed"
                if rng.random() < 0.04
                else ("recovered" if rng.random() < 0.03 else "sent")
            )
            self.emit(
                f"customer.{ch}.{outcome}",
                now,
                {
                    "customer": self.simple,
                    "distribution": {
                        "id": "distr_" + token(rng, 20),
                        "name": "Weekly digest",
                    },
                    f"{outcome}_at": iso(now),
                },
                self.group(),
                "INTERNAL",
            )
            now += rng.randrange(60_000, 6 * 3_600_000)
        if rng.random() < 0.5:
            name = choice(rng, CUSTOM_EVENTS)
            self.emit(
                "customer.custom_event",
                now,
                {
                    "customer": self.simple,
                    "event": {
                        "id": "evcs_" + token(rng, 18, HEX),
                        "type": name,
                        "customer": {"id": self.c.id},
                        "referral": None,
                        "loyalty": None,
                        "metadata": {"sku": PRODUCTS[rng.randrange(6)][1]},
                        "created_at": iso(now),
                    },
                    "event_schema": {"id": "ms_" + name, "name": name},
                    "referral": None,
                    "loyalty": None,
                },
                self.group(),
                "CLIENT_API",
            )
            now += rng.randrange(10_000, 900_000)
        key = (
            "season"
            if month in (11, 12) and rng.random() < 0.6
            else ("winback" if rng.random() < 0.35 else "shipping")
        )
        if rng.random() < 0.55:
            self.coupon_journey(key, now, p_redeem=0.45 if key != "season" else 0.6)
        elif rng.random() < 0.6:
            self.order(now, self.group(), coupon=None)
        if self.card and self.balance >= 300 and rng.random() < 0.12:
            self.reward_redemption(now + rng.randrange(60_000, 3_600_000))
        if self.card and rng.random() < 0.04:
            self.transfer(
                now + rng.randrange(60_000, 3_600_000),
                incoming=self.balance < 500 or rng.random() < 0.4,
            )
        if rng.random() < 0.03:
            self.gift_card(now + rng.randrange(60_000, MS_DAY))
        if rng.random() < 0.002:
            self.emit(
                UNKNOWN_TYPE,
                now + 11,
                {
                    "customer": self.simple,
                    "wallet": {"id": "wal_" + token(rng, 16), "amount": 2500},
                },
                self.group(),
            )

    def _referral(self, referee: Customer, referrer: Customer) -> dict[str, Any]:
        """What both sides of one referral share (derived from the referee alone)."""
        rng = random.Random(self.world.seed * 31 + referee.index)
        code = "REF-" + token(rng, 6, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        ref_simple = {
            "id": referrer.id,
            "name": referrer.name,
            "email": referrer.email,
            "source_id": referrer.source_id,
            "metadata": {},
            "object": "customer",
        }
        return {
            "code": code,
            "redemption": {"id": "r_" + token(rng, 18, HEX)},
            "group": "v-" + token(rng, 18, HEX),
            "referrer": ref_simple,
            "voucher": {**self.voucher("referral", code), "holder_id": referrer.id},
        }

    def referred(self, t: int, ref: Customer, g: str) -> None:
        r = self._referral(self.c, ref)
        self.emit(
            "customer.referred",
            t,
            {
                "customer": self.simple,
                "referrer": r["referrer"],
                "campaign": SIMPLE_CAMPAIGN["referral"],
                "voucher": r["voucher"],
                "custom_event": {
                    "id": "evcs_" + token(self.rng, 18, HEX),
                    "type": "customer.referred",
                },
                "redemption": r["redemption"],
            },
            g,
        )

    def referrer_reward(self, referee: Customer) -> None:
        """The referrer's ``customer.rewarded`` for one successful referral."""
        t = referee.created_ms + 43
        if t >= self.world.end_ms:
            return
        r = self._referral(referee, self.c)
        self.emit(
            "customer.rewarded",
            t,
            {
                "customer": self.simple,
                "holder": self.simple,
                "voucher": r["voucher"],
                "campaign": SIMPLE_CAMPAIGN["referral"],
                "redemption": r["redemption"],
                "reward": {
                    "id": "rew_ReferralCredit00000001",
                    "name": "Referral credit 10 EUR",
                    "type": "COIN",
                },
                "referral_tier": {"id": "rt_ReferralTier0001"},
                "balance": None,
                "custom_event": None,
                "customer_event": None,
            },
            r["group"],
            "INTERNAL",
        )

    def join_loyalty(self, t: int, g: str) -> None:
        rng = self.rng
        self.card = "LC-" + token(rng, 8, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        self.card_id = "v_" + token(rng, 24)
        self.emit(
            "customer.publication.succeeded",
            t,
            self.publication_payload("loyalty", self.card, t),
            g,
        )
        self.emit(
            "customer.holder.assignment.created",
            t,
            {
                "holder": {
                    "id": "rh_" + token(rng, 22),
                    "redeemable_id": self.card_id,
                    "redeemable_object": "voucher",
                    "campaign_id": CAMPAIGNS["loyalty"]["id"],
                    "campaign_type": "LOYALTY_PROGRAM",
                    "voucher_type": "LOYALTY_CARD",
                    "holder_role": "OWNER",
                    "customer_id": self.c.id,
                    "created_at": iso(t),
                    "object": "redeemable_holder",
                },
                "voucher": self.card_voucher(),
                "campaign": SIMPLE_CAMPAIGN["loyalty"],
                "customer": self.simple,
            },
            g,
        )
        self.join(t + 1, g)

    def tier_base(self, t: int) -> dict[str, Any]:
        return {
            "customer": self.simple,
            "campaign": SIMPLE_CAMPAIGN["loyalty"],
            "created_at": iso(t),
        }

    def join(self, t: int, g: str) -> None:
        """Join the programme; the pass decides the tier from the balance at ``t``."""
        self.emit("customer.loyalty.tier.joined", t, self.tier_base(t), g, kind="join")
        self.member, self.member_since = True, t

    def prolong(self, t: int) -> None:
        g = self.group()
        exp = iso(t + 365 * MS_DAY)[:10]
        self.emit(
            "customer.loyalty.tier.prolonged", t, self.tier_base(t), g, kind="keep"
        )
        self.emit(
            "customer.loyalty.tier.expiration.changed",
            t,
            {**self.tier_base(t), "expiration_date": exp},
            g,
            "INTERNAL",
            kind="keep",
        )
        self.member_since = t

    def leave(self, t: int) -> None:
        if t >= self.world.end_ms:
            return
        self.emit(
            "customer.loyalty.tier.left",
            t,
            self.tier_base(t),
            self.group(),
            "INTERNAL",
            kind="left",
        )
        self.member = False
        if self.rng.random() < 0.3:  # some come back a few weeks later
            t2 = t + self.rng.randrange(7, 60) * MS_DAY
            if t2 < self.world.end_ms:
                self.join(t2, self.group())

    def balance_obj(self, change: int) -> dict[str, Any]:
        """A balance object; ``balance``/``total`` are filled by the loyalty pass."""
        return {
            "type": "loyalty_card",
            "points": change,
            "balance": 0,
            "total": 0,
            "operation_type": "AUTOMATIC",
            "related_object": {"id": self.card_id, "type": "voucher"},
            "object": "balance",
        }

    def transaction(
        self, ttype: str, t: int, reason: str | None = None
    ) -> dict[str, Any]:
        return {
            "id": "vtx_" + token(self.rng, 24),
            "source_id": None,
            "voucher_id": self.card_id,
            "campaign_id": CAMPAIGNS["loyalty"]["id"],
            "source": None,
            "reason": reason,
            "type": ttype,
            "details": {},
            "related_transaction_id": None,
            "created_at": iso(t),
        }

    def earn(self, t: int, g: str, pts: int, order_id: str | None, amount: int) -> None:
        if pts <= 0 or self.card is None:
            return
        self.balance += pts
        card = self.card_voucher()
        self.emit(
            "customer.rewarded.loyalty_points",
            t,
            {
                "customer": self.simple,
                "holder": self.simple,
                "voucher": card,
                "campaign": SIMPLE_CAMPAIGN["loyalty"],
                "loyalty_tier": None,
                "earning_rule": {"id": "ern_OrderPaid0000000001"},
                "balance": self.balance_obj(pts),
                "order": {"id": order_id, "amount": amount},
                "event": {
                    "id": "evcus_trigger",
                    "type": "customer.order.paid",
                    "category": "ACTION",
                    "entity_id": order_id,
                    "created_at": iso(t),
                    "group_id": g,
                },
            },
            g,
            "INTERNAL",
            kind="accrual_info",
            pts=pts,
        )
        self.emit(
            "customer.voucher.loyalty_card.points_added",
            t,
            {
                "customer": self.simple,
                "campaign": SIMPLE_CAMPAIGN["loyalty"],
                "voucher": card,
                "balance": self.balance_obj(pts),
                "transaction": self.transaction(
                    "POINTS_ACCRUAL" if self.rng.random() < 0.8 else "POINTS_ADDITION",
                    t,
                ),
            },
            g,
            "INTERNAL",
            delta=pts,
        )

    def pending(self, t: int, g: str, order_id: str, amount: int, pts: int) -> None:
        rng = self.rng
        pid = "lcpp_" + token(rng, 20)
        activates = t + 14 * MS_DAY
        pp = {
            "id": pid,
            "voucher_id": self.card_id,
            "campaign_id": CAMPAIGNS["loyalty"]["id"],
            "customer_id": self.c.id,
            "order_id": order_id,
            "points": pts,
            "activates_at": iso(activates)[:10],
            "details": {},
            "created_at": iso(t),
        }
        base = {
            "customer": self.simple,
            "campaign": SIMPLE_CAMPAIGN["loyalty"],
            "voucher": self.card_voucher(),
            "order": {"id": order_id, "amount": amount},
            "pending_points": pp,
        }
        self.emit(
            "customer.voucher.loyalty_card.pending_points.added",
            t,
            {**base, "voucher_pending_points_balance": {"points": pts, "balance": pts}},
            g,
            "INTERNAL",
        )
        if activates >= self.world.end_ms:
            return
        g2 = self.group()
        if rng.random() < 0.1:
            self.emit(
                "customer.voucher.loyalty_card.pending_points.canceled",
                activates,
                {
                    **base,
                    "voucher_pending_points_balance": {"points": -pts, "balance": 0},
                },
                g2,
                "INTERNAL",
            )
            return
        self.balance += pts
        self.emit(
            "customer.voucher.loyalty_card.pending_points.activated",
            activates,
            {
                **base,
                "balance": self.balance_obj(pts),
                "transaction": self.transaction("PENDING_POINTS_ACTIVATION", activates),
            },
            g2,
            "INTERNAL",
            delta=pts,
        )

    def reward_redemption(self, t: int) -> None:
        rng = self.rng
        affordable = [r for r in REWARDS if r[3] <= self.balance]
        if not affordable or t >= self.world.end_ms:
            return
        rid, name, rtype, cost = affordable[rng.randrange(len(affordable))]
        g = self.group()
        rr_id = "rewr_" + token(rng, 20)
        assignment = {
            "id": "rewa_" + token(rng, 20),
            "reward_id": rid,
            "parameters": {"loyalty": {"points": cost}},
        }
        reward = {"id": rid, "name": name, "type": rtype}
        base = {
            "customer": self.simple,
            "holder": self.simple,
            "campaign": SIMPLE_CAMPAIGN["loyalty"],
            "reward": reward,
            "reward_assignment": assignment,
            "voucher": self.card_voucher(),
            "balance": None,
            "source": {"id": self.card_id, "type": "voucher"},
        }
        state = {
            "id": rr_id,
            "voucher_id": self.card_id,
            "campaign_id": CAMPAIGNS["loyalty"]["id"],
            "customer_id": self.c.id,
            "reward_assignment_id": assignment["id"],
        }
        self.emit(
            "customer.reward_redemptions.created",
            t,
            {**base, "reward_redemption": {**state, "state": "CREATED"}},
            g,
            link=rr_id,
        )
        self.balance -= cost
        self.emit(
            "customer.reward_redemptions.completed",
            t + 1,
            {**base, "reward_redemption": {**state, "state": "COMPLETED"}},
            g,
            delta=-cost,
            link=rr_id,
        )
        if rng.random() < 0.04 and t + 3_600_000 < self.world.end_ms:
            self.balance += cost
            self.emit(
                "customer.reward_redemptions.rolledback",
                t + 3_600_000,
                {**base, "reward_redemption": {**state, "state": "ROLLED_BACK"}},
                self.group(),
                delta=cost,
                link=rr_id,
            )

    def pay_with_points(self, t: int, g: str, order: dict[str, Any], pts: int) -> None:
        """A loyalty-card redemption: points pay part of an order."""
        red_id = "r_" + token(self.rng, 18, HEX)
        self.balance -= pts
        card = self.card_voucher()
        self.emit(
            "customer.redemption.succeeded",
            t,
            {
                "customer": self.simple,
                "order": order,
                "campaign": SIMPLE_CAMPAIGN["loyalty"],
                "voucher": card,
                "holder": self.simple,
                "promotion_tier": None,
                "promotion_stack": None,
                "redemption": {
                    "id": red_id,
                    "object": "redemption",
                    "date": iso(t),
                    "customer_id": self.c.id,
                    "tracking_id": self.c.source_id,
                    "amount": pts,
                    "result": "SUCCESS",
                    "status": "SUCCEEDED",
                    "failure_code": None,
                    "failure_message": None,
                    "channel": {"channel_id": "app_web", "channel_type": "API"},
                    "voucher": {"code": self.card, "id": self.card_id},
                    "order": {
                        "id": order["id"],
                        "total_discount_amount": order["total_discount_amount"],
                    },
                },
            },
            g,
            delta=-pts,
            link=g,
        )

    def transfer(self, t: int, *, incoming: bool) -> None:
        if t >= self.world.end_ms:
            return
        rng = self.rng
        other = "LC-" + token(rng, 8, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        if incoming:
            pts = rng.randrange(50, 600)
        elif self.balance >= 200:
            pts = rng.randrange(100, min(self.balance, 1000) + 1)
        else:
            return
        mine = {"id": self.card_id, "code": self.card}
        theirs = {"id": "v_" + other, "code": other}
        g = self.group()
        self.balance += pts if incoming else -pts
        self.emit(
            "customer.voucher.loyalty_card.points_transferred",
            t,
            {
                "customer": self.simple,
                "campaign": SIMPLE_CAMPAIGN["loyalty"],
                "voucher": self.card_voucher(),
                "source_voucher": theirs if incoming else mine,
                "destination_voucher": mine if incoming else theirs,
                "balance": self.balance_obj(pts if incoming else -pts),
                "transaction": self.transaction(
                    "POINTS_TRANSFER_IN" if incoming else "POINTS_TRANSFER_OUT",
                    t,
                    "Family pooling",
                ),
            },
            g,
            delta=pts if incoming else -pts,
            link=g,
        )

    def expire(self, t: int) -> None:
        """An expiry run; the pass expires what was earned 180+ days before ``t``."""
        if t >= self.world.end_ms:
            return
        self.emit(
            "customer.voucher.loyalty_card.points_expired",
            t,
            {
                "customer": self.simple,
                "campaign": SIMPLE_CAMPAIGN["loyalty"],
                "voucher": self.card_voucher(),
                "points": 0,
                "buckets": [],
                "transaction": self.transaction("POINTS_EXPIRATION", t),
            },
            self.group(),
            "INTERNAL",
            kind="expire",
        )

    def segment_left(self, end: int) -> None:
        if end < self.world.end_ms and self.rng.random() < 0.5:
            self.emit(
                "customer.segment.left",
                end,
                {
                    "customer": self.simple,
                    "segment": {
                        "id": "seg_NewCustomers000000001",
                        "name": "New customers",
                        "object": "segment",
                    },
                },
                self.group(),
                "INTERNAL",
            )

    def publication_payload(
        self, key: str, code: str, t: int, *, failed: bool = False
    ) -> dict[str, Any]:
        rng = self.rng
        pub = {
            "id": "pub_" + token(rng, 28),
            "object": "publication",
            "result": "FAILURE" if failed else "SUCCESS",
            "channel": "API",
            "customer_id": self.c.id,
            "tracking_id": self.c.source_id,
            "source_id": None,
            "metadata": {},
            "created_at": iso(t),
            "voucher": None
            if failed
            else {
                "code": code,
                "object": "voucher",
                "campaign": CAMPAIGNS[key]["name"],
                "type": CAMPAIGNS[key]["voucher"]["type"],
            },
            "failure_code": "no_voucher_suitable_for_publication" if failed else None,
            "failure_message": "No voucher suitable for publication."
            if failed
            else None,
        }
        return {"customer": self.simple, "campaign": CAMPAIGNS[key], "publication": pub}

    def coupon_journey(self, key: str, t: int, *, p_redeem: float) -> None:
        rng = self.rng
        if t >= self.world.end_ms:
            return
        g = self.group()
        if rng.random() < 0.02:
            self.emit(
                "customer.publication.failed",
                t,
                self.publication_payload(key, "", t, failed=True),
                g,
            )
            return
        code = token(rng, 8, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        self.emit(
            "customer.publication.succeeded",
            t,
            self.publication_payload(key, code, t),
            g,
        )
        if rng.random() < 0.45:
            self.emit(
                "customer.email.sent",
                t + rng.randrange(1_000, 60_000),
                {
                    "customer": self.simple,
                    "distribution": {
                        "id": "distr_" + token(rng, 20),
                        "name": "Coupon delivery",
                    },
                    "sent_at": iso(t),
                },
                g,
                "INTERNAL",
            )
        if rng.random() > p_redeem + 0.2:
            return  # never came back for it
        t += rng.randrange(3_600_000, 21 * MS_DAY)
        if t >= self.world.end_ms:
            return
        g = self.group()
        items = self.items()
        amount = sum(i["amount"] for i in items)
        failed = rng.random() < 0.12
        reason = choice(rng, VALIDATION_FAILURES) if failed else None
        redeemable: dict[str, Any] = {
            "id": code,
            "object": "voucher",
            "status": "INAPPLICABLE" if failed else "APPLICABLE",
        }
        if failed:
            redeemable["result"] = {
                "error": {
                    "code": 400,
                    "key": reason,
                    "message": reason.replace("_", " ") if reason else None,
                }
            }
        self.emit(
            f"customer.validation.{'failed' if failed else 'succeeded'}",
            t,
            {
                "customer": self.simple,
                "validation": {
                    "id": "valid_" + token(rng, 24),
                    "session_id": "ssn_" + token(rng, 20),
                    "status": "INVALID" if failed else "VALID",
                    "created_at": iso(t),
                    "customer_id": self.c.id,
                    "redeemables": [] if failed else [{"id": code, "type": "voucher"}],
                    "inapplicable_redeemables": [redeemable] if failed else [],
                    "skipped_redeemables": [],
                },
            },
            g,
            "CLIENT_API",
        )
        if failed or rng.random() > p_redeem / (p_redeem + 0.2):
            return
        t += rng.randrange(1_000, 1_800_000)
        if t >= self.world.end_ms:
            return
        g = self.group()
        self.order(t, g, coupon=(key, code, items, amount))

    def items(self) -> list[dict[str, Any]]:
        rng = self.rng
        out = []
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            pid, sku, name, price = PRODUCTS[rng.randrange(6)]
            q = rng.choice((1, 1, 2))
            out.append(
                {
                    "object": "order_item",
                    "product_id": pid,
                    "sku_id": sku,
                    "source_id": sku,
                    "related_object": "sku",
                    "quantity": q,
                    "price": price,
                    "amount": price * q,
                    "product": {"name": name},
                }
            )
        return out

    def order(
        self,
        t: int,
        g: str,
        *,
        coupon: tuple[str, str, list[dict[str, Any]], int] | None,
    ) -> None:
        rng = self.rng
        if coupon is None:
            items = self.items()
            amount = sum(i["amount"] for i in items)
            key = code = None
        else:
            key, code, items, amount = coupon
        discount = 0
        red_fail = None
        if key is not None:
            camp = CAMPAIGNS[key]["voucher"]
            d = camp.get("discount") or {}
            if "percent_off" in d:
                discount = amount * d["percent_off"] // 100
            else:
                discount = min(amount, d.get("amount_off", 0))
            if rng.random() < 0.08:
                red_fail = choice(rng, REDEMPTION_FAILURES)
        order_id = "ord_" + token(rng, 24)
        order = {
            "id": order_id,
            "source_id": "order-" + token(rng, 10, "0123456789"),
            "status": "CREATED",
            "amount": amount,
            "discount_amount": discount,
            "items_discount_amount": 0,
            "total_discount_amount": discount,
            "total_amount": amount - discount,
            "items": items,
            "customer_id": self.c.id,
            "referrer_id": None,
            "metadata": {"store": self.c.city},
            "created_at": iso(t),
            "updated_at": iso(t),
            "object": "order",
        }
        red_id = None
        if key is None and self.card and self.balance >= 1500 and rng.random() < 0.25:
            pts = min(self.balance // 2, (amount // 2) // 10 * 10)  # 10 points = 1 unit
            if pts >= 100:
                order["discount_amount"] = order["total_discount_amount"] = pts // 10
                order["total_amount"] = amount - pts // 10
                discount = pts // 10
                self.pay_with_points(t, g, order, pts)
        if key is not None and code is not None:
            red_id = "r_" + token(rng, 18, HEX)
            vouch = self.voucher(key, code)
            red = {
                "id": red_id,
                "object": "redemption",
                "date": iso(t),
                "customer_id": self.c.id,
                "tracking_id": self.c.source_id,
                "amount": discount if key == "gift" else 0,
                "result": "FAILURE" if red_fail else "SUCCESS",
                "status": "FAILED" if red_fail else "SUCCEEDED",
                "failure_code": red_fail,
                "failure_message": red_fail.replace("_", " ") if red_fail else None,
                "channel": {"channel_id": "app_" + "web", "channel_type": "API"},
                "voucher": {"code": code, "id": vouch["id"]},
                "order": {"id": order_id, "total_discount_amount": discount},
            }
            base = {
                "customer": self.simple,
                "order": order,
                "campaign": SIMPLE_CAMPAIGN[key],
                "voucher": vouch,
                "holder": self.simple,
                "promotion_tier": None,
                "promotion_stack": None,
                "redemption": red,
            }
            if red_fail:
                self.emit("customer.redemption.failed", t, base, g)
                return
            self.emit("customer.redemption.succeeded", t, base, g)
        self.emit(
            "customer.order.created",
            t,
            {
                "customer": self.simple,
                "referrer": None,
                "order": order,
                "redemption": {"id": red_id} if red_id else None,
            },
            g,
        )
        if rng.random() < 0.07 and red_id is None:
            return  # abandoned checkout
        paid = {**order, "status": "PAID", "updated_at": iso(t + 1)}
        tp = t + (1 if rng.random() < 0.7 else rng.randrange(60_000, 3_600_000))
        self.emit(
            "customer.order.paid",
            tp,
            {
                "customer": self.simple,
                "referrer": None,
                "order": paid,
                "redemption": {"id": red_id} if red_id else None,
            },
            g,
        )
        rolled = red_id is not None and rng.random() < 0.05
        if self.card and not rolled:
            pts = (amount - discount) // 20  # 5 points per currency unit spent
            if rng.random() < 0.15:
                self.pending(tp + 1, g, order_id, amount, pts)
            else:
                self.earn(tp + 1, g, pts, order_id, amount)
        if rolled:
            assert key is not None
            assert code is not None
            tr = tp + rng.randrange(3_600_000, 10 * MS_DAY)
            if tr < self.world.end_ms:
                g2 = self.group()
                canceled = {**order, "status": "CANCELED", "updated_at": iso(tr)}
                fail = rng.random() < 0.1
                rb = {
                    "id": "rr_" + token(rng, 18, HEX),
                    "amount": -discount,
                    "reason": "Order returned",
                    "result": "FAILURE" if fail else "SUCCESS",
                    "status": "FAILED" if fail else "SUCCEEDED",
                    "failure_code": "already_rolled_back" if fail else None,
                }
                self.emit(
                    f"customer.redemption.rollback.{'failed' if fail else 'succeeded'}",
                    tr,
                    {
                        "customer": self.simple,
                        "order": canceled,
                        "campaign": SIMPLE_CAMPAIGN[key],
                        "voucher": self.voucher(key, code),
                        "holder": self.simple,
                        "redemption": {
                            "id": red_id,
                            "status": "ROLLED BACK" if not fail else "SUCCEEDED",
                            "result": "SUCCESS",
                            "amount": 0,
                        },
                        "redemption_rollback": rb,
                    },
                    g2,
                )
                if not fail:
                    self.emit(
                        "customer.order.canceled",
                        tr,
                        {
                            "customer": self.simple,
                            "referrer": None,
                            "order": canceled,
                            "redemption": {"id": red_id},
                        },
                        g2,
                    )
        elif rng.random() < 0.5:
            tf = tp + rng.randrange(MS_DAY, 5 * MS_DAY)
            if tf < self.world.end_ms:
                self.emit(
                    "customer.order.fulfilled",
                    tf,
                    {
                        "customer": self.simple,
                        "referrer": None,
                        "order": {
                            **paid,
                            "status": "FULFILLED",
                            "updated_at": iso(tf),
                        },
                        "redemption": None,
                    },
                    self.group(),
                    "INTERNAL",
                )

    def gift_card(self, t: int) -> None:
        if t >= self.world.end_ms:
            return
        rng = self.rng
        code = "GC-" + token(rng, 10, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        g = self.group()
        self.emit(
            "customer.publication.succeeded",
            t,
            self.publication_payload("gift", code, t),
            g,
        )
        v = self.voucher("gift", code)
        self.emit(
            "customer.voucher.gift.balance_added",
            t + 1,
            {
                "customer": self.simple,
                "campaign": SIMPLE_CAMPAIGN["gift"],
                "voucher": v,
                "balance": {
                    "type": "gift_voucher",
                    "amount": 5000,
                    "balance": 5000,
                    "total": 5000,
                    "operation_type": "MANUAL",
                    "object": "balance",
                },
                "transaction": {
                    "id": "vtx_" + token(rng, 24),
                    "type": "CREDITS_ADDITION",
                    "reason": "Top-up",
                    "created_at": iso(t + 1),
                },
            },
            g,
        )
