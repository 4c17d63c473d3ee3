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

import random
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import orjson

from activity_toolkit._time import as_utc
from activity_toolkit.model import ActivityLog

__all__ = ["SampleWorld", "sample", "sample_world"]

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_END = datetime(2025, 7, 1, tzinfo=UTC)
UNKNOWN_TYPE = "customer.wallet.topped_up"

_MS_DAY = 86_400_000
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_HEX = "0123456789abcdef"
_FIRST = (
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Eva",
    "Finn",
    "Grace",
    "Hugo",
    "Iris",
    "Jon",
    "Kai",
    "Lena",
    "Milo",
    "Nora",
    "Omar",
    "Pia",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
)
_LAST = (
    "Novak",
    "Kowalski",
    "Smith",
    "Garcia",
    "Müller",
    "Rossi",
    "Dubois",
    "Silva",
    "Jensen",
    "Tanaka",
    "Okafor",
    "Nowak",
    "Berg",
    "Costa",
    "Horvat",
)
_CITIES = (
    "Warsaw",
    "Berlin",
    "Lisbon",
    "Austin",
    "Toronto",
    "Oslo",
    "Kraków",
    "Madrid",
)
_PRODUCTS = (
    ("prod_0a1b2c3d4e5f6a7b8c", "sku_0a1b2c3d4e5f6a7b01", "Espresso beans 1kg", 2490),
    ("prod_1b2c3d4e5f6a7b8c9d", "sku_1b2c3d4e5f6a7b8c02", "Grinder", 8900),
    ("prod_2c3d4e5f6a7b8c9d0e", "sku_2c3d4e5f6a7b8c9d03", "Milk frother", 4590),
    ("prod_3d4e5f6a7b8c9d0e1f", "sku_3d4e5f6a7b8c9d0e04", "Travel mug", 1890),
    ("prod_4e5f6a7b8c9d0e1f2a", "sku_4e5f6a7b8c9d0e1f05", "Pour-over kit", 3290),
    ("prod_5f6a7b8c9d0e1f2a3b", "sku_5f6a7b8c9d0e1f2a06", "Descaler", 990),
)
_VALIDATION_FAILURES = (
    ("order_rules_violated", 0.45),
    ("voucher_expired", 0.2),
    ("quantity_exceeded", 0.15),
    ("customer_rules_violated", 0.12),
    ("voucher_disabled", 0.08),
)
_REDEMPTION_FAILURES = (
    ("quantity_exceeded", 0.4),
    ("order_rules_violated", 0.3),
    ("voucher_expired", 0.2),
    ("duplicate_found", 0.1),
)
_MESSAGING = (
    ("email", 0.6),
    ("sms", 0.2),
    ("braze", 0.08),
    ("klaviyo", 0.06),
    ("mailchimp", 0.03),
    ("intercom", 0.03),
)
_CUSTOM_EVENTS = (
    ("viewed_product", 0.55),
    ("added_to_cart", 0.3),
    ("left_review", 0.15),
)
_TIERS = (  # (id, name, points from, points to)
    ("ltr_bronze0000000000000001", "Bronze", 0, 999),
    ("ltr_silver0000000000000002", "Silver", 1000, 2999),
    ("ltr_gold000000000000000003", "Gold", 3000, 7999),
    ("ltr_platinum00000000000004", "Platinum", 8000, None),
)
_REWARDS = (
    ("rew_coffee00000000000001", "Free coffee", "MATERIAL", 300),
    ("rew_discount000000000002", "10 EUR off", "COIN", 800),
    ("rew_mug000000000000000003", "Branded mug", "MATERIAL", 1500),
)


def _choice(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    x = rng.random()
    for value, w in weighted:
        x -= w
        if x <= 0:
            return value
    return weighted[-1][0]


_TABLES: dict[str, bytes] = {}


def _token(rng: random.Random, n: int, alphabet: str = _ALNUM) -> str:
    """``n`` random characters of ``alphabet`` (random bytes mapped through a table)."""
    table = _TABLES.get(alphabet)
    if table is None:
        table = _TABLES[alphabet] = bytes(
            ord(alphabet[b % len(alphabet)]) for b in range(256)
        )
    return rng.randbytes(n).translate(table).decode("ascii")


_EPOCH = datetime(1970, 1, 1)


def _iso(ms: int) -> str:
    """Epoch milliseconds → ``2024-05-01T10:00:00.123Z``."""
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat(
        timespec="milliseconds"
    ) + "Z"


# ---------------------------------------------------------------------------- campaigns
def _campaign(
    cid: str, name: str, ctype: str, voucher: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": cid,
        "name": name,
        "campaign_type": ctype,
        "type": "AUTO_UPDATE",
        "voucher": voucher,
        "auto_join": ctype == "LOYALTY_PROGRAM",
        "join_once": ctype in ("LOYALTY_PROGRAM", "REFERRAL_PROGRAM"),
        "active": True,
        "category_id": None,
        "categories": [],
        "metadata": {"team": "growth" if ctype != "LOYALTY_PROGRAM" else "crm"},
        "start_date": "2023-12-01T00:00:00.000Z",
        "expiration_date": None,
        "object": "campaign",
    }


def _discount(kind: str, value: int) -> dict[str, Any]:
    key = "percent_off" if kind == "PERCENT" else "amount_off"
    return {
        "type": "DISCOUNT_VOUCHER",
        "discount": {"type": kind, key: value, "effect": "APPLY_TO_ORDER"},
        "redemption": {"quantity": 1},
        "code_config": {"length": 8, "charset": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"},
    }


CAMPAIGNS: dict[str, dict[str, Any]] = {
    "welcome": _campaign(
        "camp_Welcome10pct00000000001",
        "Welcome 10%",
        "DISCOUNT_COUPONS",
        _discount("PERCENT", 10),
    ),
    "winback": _campaign(
        "camp_WinBack15EUR000000000002",
        "Win-back 15 EUR",
        "DISCOUNT_COUPONS",
        _discount("AMOUNT", 1500),
    ),
    "season": _campaign(
        "camp_HolidaySeason2000000003",
        "Holiday Season 20%",
        "DISCOUNT_COUPONS",
        _discount("PERCENT", 20),
    ),
    "shipping": _campaign(
        "camp_FreeShipping0000000004",
        "Free shipping",
        "PROMOTION",
        {
            "type": "DISCOUNT_VOUCHER",
            "discount": {
                "type": "AMOUNT",
                "amount_off": 599,
                "effect": "APPLY_TO_ORDER",
            },
        },
    ),
    "gift": _campaign(
        "camp_GiftCard50EUR0000000005",
        "Gift Card 50 EUR",
        "GIFT_VOUCHERS",
        {
            "type": "GIFT_VOUCHER",
            "gift": {"amount": 5000, "balance": 5000, "effect": "APPLY_TO_ORDER"},
        },
    ),
    "referral": _campaign(
        "camp_ReferAFriend00000000006",
        "Refer a Friend",
        "REFERRAL_PROGRAM",
        _discount("AMOUNT", 1000),
    ),
    "loyalty": _campaign(
        "camp_RewardsClub000000000007",
        "Rewards Club",
        "LOYALTY_PROGRAM",
        {
            "type": "LOYALTY_CARD",
            "loyalty_card": {
                "points": 0,
                "expiration_rules": {"period_type": "MONTH", "period_value": 6},
            },
        },
    ),
}
_SIMPLE_CAMPAIGN = {
    k: {
        key: c[key]
        for key in ("id", "name", "campaign_type", "type", "active", "object")
    }
    for k, c in CAMPAIGNS.items()
}


def _tier_obj(
    index: int,
    *,
    expiration_ms: int | None = None,
    start_ms: int | None = None,
    customer_id: str | None = None,
) -> dict[str, Any]:
    tid, name, lo, hi = _TIERS[index]
    points: dict[str, int] = {"from": lo} if hi is None else {"from": lo, "to": hi}
    obj: dict[str, Any] = {
        "id": tid,
        "name": name,
        "campaign_id": CAMPAIGNS["loyalty"]["id"],
        "points": points,
        "config": {"points": points},
        "metadata": {},
        "object": "loyalty_tier",
    }
    if expiration_ms is not None:
        obj["expiration"] = {
            "customer_id": customer_id,
            "campaign_id": CAMPAIGNS["loyalty"]["id"],
            "tier_id": tid,
            "start_date": _iso(start_ms or expiration_ms)[:10],
            "expiration_date": _iso(expiration_ms)[:10],
        }
    return obj


def _tier_for(balance: int) -> int:
    for i in range(len(_TIERS) - 1, -1, -1):
        if balance >= _TIERS[i][2]:
            return i
    return 0


# ---------------------------------------------------------------------------- the world
@dataclass(frozen=True, slots=True)
class _Customer:
    index: int
    id: str
    source_id: str
    name: str
    email: str
    created_ms: int
    city: str


class _Journey:
    """Generates one customer's events; all randomness comes from its own RNG."""

    def __init__(self, world: SampleWorld, cust: _Customer) -> None:
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
        # in time order (see _settle_loyalty)
        self.balance = 0
        self.member = False
        self.member_since = 0
        self.channel = "API"

    # -- helpers ---------------------------------------------------------------------
    def group(self) -> str:
        return "v-" + _token(self.rng, 18, _HEX)

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
            "id": "evcus_" + _token(rng, 18, _HEX),
            "type": etype,
            "data": {
                "data": payload,
                "event_source": {"channel": channel or self.channel},
            },
            "created_at": _iso(ms),
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
            "created_at": _iso(t),
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
                    "unconfirmed_customer": {"id": "ucust_" + _token(rng, 24)},
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
            "welcome", t + rng.randrange(60_000, 2 * _MS_DAY), p_redeem=0.55
        )

        # activity until churn
        lifetime_days = rng.expovariate(1 / 220)
        end = min(w.end_ms, t + int(lifetime_days * _MS_DAY))
        rate = rng.uniform(0.03, 0.25)  # visits per day
        now = t
        last_expiry = t
        while True:
            gap = rng.expovariate(rate) * _MS_DAY
            now += int(gap)
            if now >= end:
                break
            month = datetime.fromtimestamp(now / 1000, UTC).month
            if month in (11, 12) and rng.random() < 0.5:  # holiday season: more visits
                now_extra = now + rng.randrange(3_600_000, 5 * _MS_DAY)
                if now_extra < end:
                    self.visit(now_extra, month)
            self.visit(now, month)
            if self.card and now - last_expiry > 90 * _MS_DAY:
                self.expire(
                    now + 13
                )  # a monthly-ish expiry run; the pass computes the amount
                last_expiry = now
            if self.member and now - self.member_since > 365 * _MS_DAY:
                self.prolong(now + 7)
        if self.member and end < w.end_ms and rng.random() < 0.3:
            self.leave(end + rng.randrange(_MS_DAY, 30 * _MS_DAY))
        self.segment_left(end)
        if self.card:
            _settle_loyalty(self)
        for event in self.events:
            for key in [k for k in event if k.startswith("_")]:
                del event[key]
        return self.events

    def visit(self, now: int, month: int) -> None:
        rng = self.rng
        r = rng.random()
        if r < 0.35:  # a campaign message
            ch = _choice(rng, _MESSAGING)
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
                        "id": "distr_" + _token(rng, 20),
                        "name": "Weekly digest",
                    },
                    f"{outcome}_at": _iso(now),
                },
                self.group(),
                "INTERNAL",
            )
            now += rng.randrange(60_000, 6 * 3_600_000)
        if rng.random() < 0.5:
            name = _choice(rng, _CUSTOM_EVENTS)
            self.emit(
                "customer.custom_event",
                now,
                {
                    "customer": self.simple,
                    "event": {
                        "id": "evcs_" + _token(rng, 18, _HEX),
                        "type": name,
                        "customer": {"id": self.c.id},
                        "referral": None,
                        "loyalty": None,
                        "metadata": {"sku": _PRODUCTS[rng.randrange(6)][1]},
                        "created_at": _iso(now),
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
            self.gift_card(now + rng.randrange(60_000, _MS_DAY))
        if rng.random() < 0.002:
            self.emit(
                UNKNOWN_TYPE,
                now + 11,
                {
                    "customer": self.simple,
                    "wallet": {"id": "wal_" + _token(rng, 16), "amount": 2500},
                },
                self.group(),
            )

    def _referral(self, referee: _Customer, referrer: _Customer) -> dict[str, Any]:
        """What both sides of one referral share (derived from the referee alone)."""
        rng = random.Random(self.world.seed * 31 + referee.index)
        code = "REF-" + _token(rng, 6, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
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
            "redemption": {"id": "r_" + _token(rng, 18, _HEX)},
            "group": "v-" + _token(rng, 18, _HEX),
            "referrer": ref_simple,
            "voucher": {**self.voucher("referral", code), "holder_id": referrer.id},
        }

    def referred(self, t: int, ref: _Customer, g: str) -> None:
        r = self._referral(self.c, ref)
        self.emit(
            "customer.referred",
            t,
            {
                "customer": self.simple,
                "referrer": r["referrer"],
                "campaign": _SIMPLE_CAMPAIGN["referral"],
                "voucher": r["voucher"],
                "custom_event": {
                    "id": "evcs_" + _token(self.rng, 18, _HEX),
                    "type": "customer.referred",
                },
                "redemption": r["redemption"],
            },
            g,
        )

    def referrer_reward(self, referee: _Customer) -> None:
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
                "campaign": _SIMPLE_CAMPAIGN["referral"],
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
        self.card = "LC-" + _token(rng, 8, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        self.card_id = "v_" + _token(rng, 24)
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
                    "id": "rh_" + _token(rng, 22),
                    "redeemable_id": self.card_id,
                    "redeemable_object": "voucher",
                    "campaign_id": CAMPAIGNS["loyalty"]["id"],
                    "campaign_type": "LOYALTY_PROGRAM",
                    "voucher_type": "LOYALTY_CARD",
                    "holder_role": "OWNER",
                    "customer_id": self.c.id,
                    "created_at": _iso(t),
                    "object": "redeemable_holder",
                },
                "voucher": self.card_voucher(),
                "campaign": _SIMPLE_CAMPAIGN["loyalty"],
                "customer": self.simple,
            },
            g,
        )
        self.join(t + 1, g)

    def tier_base(self, t: int) -> dict[str, Any]:
        return {
            "customer": self.simple,
            "campaign": _SIMPLE_CAMPAIGN["loyalty"],
            "created_at": _iso(t),
        }

    def join(self, t: int, g: str) -> None:
        """Join the programme; the pass decides the tier from the balance at ``t``."""
        self.emit("customer.loyalty.tier.joined", t, self.tier_base(t), g, kind="join")
        self.member, self.member_since = True, t

    def prolong(self, t: int) -> None:
        g = self.group()
        exp = _iso(t + 365 * _MS_DAY)[:10]
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
            t2 = t + self.rng.randrange(7, 60) * _MS_DAY
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
            "id": "vtx_" + _token(self.rng, 24),
            "source_id": None,
            "voucher_id": self.card_id,
            "campaign_id": CAMPAIGNS["loyalty"]["id"],
            "source": None,
            "reason": reason,
            "type": ttype,
            "details": {},
            "related_transaction_id": None,
            "created_at": _iso(t),
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
                "campaign": _SIMPLE_CAMPAIGN["loyalty"],
                "loyalty_tier": None,
                "earning_rule": {"id": "ern_OrderPaid0000000001"},
                "balance": self.balance_obj(pts),
                "order": {"id": order_id, "amount": amount},
                "event": {
                    "id": "evcus_trigger",
                    "type": "customer.order.paid",
                    "category": "ACTION",
                    "entity_id": order_id,
                    "created_at": _iso(t),
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
                "campaign": _SIMPLE_CAMPAIGN["loyalty"],
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
        pid = "lcpp_" + _token(rng, 20)
        activates = t + 14 * _MS_DAY
        pp = {
            "id": pid,
            "voucher_id": self.card_id,
            "campaign_id": CAMPAIGNS["loyalty"]["id"],
            "customer_id": self.c.id,
            "order_id": order_id,
            "points": pts,
            "activates_at": _iso(activates)[:10],
            "details": {},
            "created_at": _iso(t),
        }
        base = {
            "customer": self.simple,
            "campaign": _SIMPLE_CAMPAIGN["loyalty"],
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
        affordable = [r for r in _REWARDS if r[3] <= self.balance]
        if not affordable or t >= self.world.end_ms:
            return
        rid, name, rtype, cost = affordable[rng.randrange(len(affordable))]
        g = self.group()
        rr_id = "rewr_" + _token(rng, 20)
        assignment = {
            "id": "rewa_" + _token(rng, 20),
            "reward_id": rid,
            "parameters": {"loyalty": {"points": cost}},
        }
        reward = {"id": rid, "name": name, "type": rtype}
        base = {
            "customer": self.simple,
            "holder": self.simple,
            "campaign": _SIMPLE_CAMPAIGN["loyalty"],
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
        red_id = "r_" + _token(self.rng, 18, _HEX)
        self.balance -= pts
        card = self.card_voucher()
        self.emit(
            "customer.redemption.succeeded",
            t,
            {
                "customer": self.simple,
                "order": order,
                "campaign": _SIMPLE_CAMPAIGN["loyalty"],
                "voucher": card,
                "holder": self.simple,
                "promotion_tier": None,
                "promotion_stack": None,
                "redemption": {
                    "id": red_id,
                    "object": "redemption",
                    "date": _iso(t),
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
        other = "LC-" + _token(rng, 8, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
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
                "campaign": _SIMPLE_CAMPAIGN["loyalty"],
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
                "campaign": _SIMPLE_CAMPAIGN["loyalty"],
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
            "id": "pub_" + _token(rng, 28),
            "object": "publication",
            "result": "FAILURE" if failed else "SUCCESS",
            "channel": "API",
            "customer_id": self.c.id,
            "tracking_id": self.c.source_id,
            "source_id": None,
            "metadata": {},
            "created_at": _iso(t),
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
        code = _token(rng, 8, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
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
                        "id": "distr_" + _token(rng, 20),
                        "name": "Coupon delivery",
                    },
                    "sent_at": _iso(t),
                },
                g,
                "INTERNAL",
            )
        if rng.random() > p_redeem + 0.2:
            return  # never came back for it
        t += rng.randrange(3_600_000, 21 * _MS_DAY)
        if t >= self.world.end_ms:
            return
        g = self.group()
        items = self.items()
        amount = sum(i["amount"] for i in items)
        failed = rng.random() < 0.12
        reason = _choice(rng, _VALIDATION_FAILURES) if failed else None
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
                    "id": "valid_" + _token(rng, 24),
                    "session_id": "ssn_" + _token(rng, 20),
                    "status": "INVALID" if failed else "VALID",
                    "created_at": _iso(t),
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
            pid, sku, name, price = _PRODUCTS[rng.randrange(6)]
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
                red_fail = _choice(rng, _REDEMPTION_FAILURES)
        order_id = "ord_" + _token(rng, 24)
        order = {
            "id": order_id,
            "source_id": "order-" + _token(rng, 10, "0123456789"),
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
            "created_at": _iso(t),
            "updated_at": _iso(t),
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
            red_id = "r_" + _token(rng, 18, _HEX)
            vouch = self.voucher(key, code)
            red = {
                "id": red_id,
                "object": "redemption",
                "date": _iso(t),
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
                "campaign": _SIMPLE_CAMPAIGN[key],
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
        paid = {**order, "status": "PAID", "updated_at": _iso(t + 1)}
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
            tr = tp + rng.randrange(3_600_000, 10 * _MS_DAY)
            if tr < self.world.end_ms:
                g2 = self.group()
                canceled = {**order, "status": "CANCELED", "updated_at": _iso(tr)}
                fail = rng.random() < 0.1
                rb = {
                    "id": "rr_" + _token(rng, 18, _HEX),
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
                        "campaign": _SIMPLE_CAMPAIGN[key],
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
            tf = tp + rng.randrange(_MS_DAY, 5 * _MS_DAY)
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
                            "updated_at": _iso(tf),
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
        code = "GC-" + _token(rng, 10, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
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
                "campaign": _SIMPLE_CAMPAIGN["gift"],
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
                    "id": "vtx_" + _token(rng, 24),
                    "type": "CREDITS_ADDITION",
                    "reason": "Top-up",
                    "created_at": _iso(t + 1),
                },
            },
            g,
        )


_EXPIRY_MS = 180 * _MS_DAY
_UPGRADE = "customer.loyalty.tier.upgraded"
_DOWNGRADE = "customer.loyalty.tier.downgraded"


def _settle_loyalty(j: _Journey) -> None:
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
    events: list[dict[str, Any]], j: _Journey, *, write: bool
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
        return _tier_obj(
            index, expiration_ms=ms + 365 * _MS_DAY, start_ms=ms, customer_id=j.c.id
        )

    def retier(e: dict[str, Any]) -> None:
        nonlocal tier
        if tier is None:
            return
        new = _tier_for(balance)
        if new == tier:
            return
        ms = e["_ms"] + 1
        rng = random.Random(e["id"])
        out.append(
            {
                "id": "evcus_" + _token(rng, 18, _HEX),
                "type": _UPGRADE if new > tier else _DOWNGRADE,
                "data": {
                    "data": {
                        **j.tier_base(ms),
                        "loyalty_tier_from": _tier_obj(tier),
                        "loyalty_tier_to": tier_obj(new, ms),
                    },
                    "event_source": {"channel": "INTERNAL"},
                },
                "created_at": _iso(ms),
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
                p["loyalty_tier"] = _tier_obj(tier) if tier is not None else None
                v = p["voucher"]
                p["voucher"] = {
                    **v,
                    "loyalty_card": {"points": after, "balance": after},
                }
            out.append(e)
        elif kind == "join":
            tier = _tier_for(balance)
            if write:
                p["loyalty_tier"] = tier_obj(tier, e["_ms"])
            out.append(e)
        elif kind in ("left", "keep"):
            if tier is None:
                continue
            if write:
                p["loyalty_tier"] = (
                    _tier_obj(tier) if kind == "left" else tier_obj(tier, e["_ms"])
                )
            out.append(e)
            if kind == "left":
                tier = None
        else:
            card(p)
            out.append(e)
    return out, infeasible


class SampleWorld:
    """A synthetic project: its customers and every customer's activity.

    Build it with :func:`sample_world`. Events are produced customer by customer, so a
    world of any size can be streamed to NDJSON, API pages or a log without holding
    all events at once.
    """

    def __init__(
        self, *, customers: int, seed: int, start: datetime, end: datetime
    ) -> None:
        if customers < 0:
            msg = f"customers must be >= 0, got {customers}"
            raise ValueError(msg)
        if end <= start:
            msg = f"end ({end}) must be after start ({start})"
            raise ValueError(msg)
        self.n_customers = customers
        self.seed = seed
        self.start_ms = int(start.timestamp() * 1000)
        self.end_ms = int(end.timestamp() * 1000)
        self._customers = self._make_customers()
        self._by_index = sorted(self._customers, key=lambda c: c.index)
        self.referrer_of: dict[int, _Customer] = {}
        self.referees_of: dict[int, list[_Customer]] = {}
        rng = random.Random(self.seed + 99)
        referrers: list[_Customer] = []
        for c in self._customers:  # in created_at order: referrers signed up earlier
            if referrers and rng.random() < 0.12:
                ref = referrers[rng.randrange(len(referrers))]
                if ref.created_ms < c.created_ms:
                    self.referrer_of[c.index] = ref
                    self.referees_of.setdefault(ref.index, []).append(c)
            if c.index % 5 == 1:
                referrers.append(c)

    def _make_customers(self) -> list[_Customer]:
        rng = random.Random(self.seed)
        span = self.end_ms - self.start_ms
        out: list[_Customer] = []
        ms = self.start_ms
        bulk = 0
        for i in range(self.n_customers):
            if bulk:
                bulk -= 1  # bulk import: the same millisecond as the previous customer
            else:
                # sign-ups spread over the first 90% of the range, denser in Nov/Dec
                u = rng.random() ** 1.15
                ms = self.start_ms + int(u * span * 0.9)
                month = datetime.fromtimestamp(ms / 1000, UTC).month
                if month not in (11, 12) and rng.random() < 0.15:
                    ms = self.start_ms + int(rng.random() * span * 0.9)
                if rng.random() < 0.02:
                    bulk = rng.randrange(2, 6)
            first, last = (
                _FIRST[rng.randrange(len(_FIRST))],
                _LAST[rng.randrange(len(_LAST))],
            )
            out.append(
                _Customer(
                    index=i,
                    id="cust_" + _token(rng, 24),
                    source_id=f"crm-{i:07d}",
                    name=f"{first} {last}",
                    email=f"{first.lower()}.{i}@example.com",
                    created_ms=ms,
                    city=_CITIES[rng.randrange(len(_CITIES))],
                )
            )
        out.sort(key=lambda c: (c.created_ms, c.index))
        return out

    # -- customers ---------------------------------------------------------------------
    @property
    def customers(self) -> list[dict[str, Any]]:
        """Customer objects as ``GET /v1/customers`` returns them, by ``created_at``."""
        return [
            {
                "id": c.id,
                "source_id": c.source_id,
                "name": c.name,
                "email": c.email,
                "metadata": {"city": c.city},
                "created_at": _iso(c.created_ms),
                "object": "customer",
            }
            for c in self._customers
        ]

    # -- events ------------------------------------------------------------------------
    def iter_customer_events(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Yield ``(customer id, events sorted by (created_at, id))`` per customer, for
        the customers with index ``start`` to ``stop`` (default: all)."""
        end = _iso(self.end_ms)
        for c in self._by_index[start:stop]:
            evs = [e for e in _Journey(self, c).run() if e["created_at"] < end]
            evs.sort(key=lambda e: (e["created_at"], e["id"]))
            yield c.id, evs

    def iter_events(self) -> Iterator[dict[str, Any]]:
        """Every event in the nested API shape, customer by customer."""
        for _, evs in self.iter_customer_events():
            yield from evs

    @property
    def events(self) -> list[dict[str, Any]]:
        """All events sorted by (``created_at``, ``id``) (materialised: small worlds)."""
        evs = list(self.iter_events())
        evs.sort(key=lambda e: (e["created_at"], e["id"]))
        return evs

    def events_by_customer(self) -> dict[str, list[dict[str, Any]]]:
        """Customer id → that customer's events, sorted."""
        return dict(self.iter_customer_events())

    # -- outputs -----------------------------------------------------------------------
    def iter_ndjson(
        self,
        *,
        shape: Literal["nested", "flat"] = "nested",
        batch_bytes: int = 16 * 1024 * 1024,
        workers: int = 1,
    ) -> Iterator[bytes]:
        """NDJSON bytes in batches of about ``batch_bytes`` (each ends with a newline).

        ``shape="flat"`` writes webhook-style events: the payload directly in ``data``,
        no ``event_source`` and no ``group_id``.

        ``workers > 1`` generates blocks of customers in that many processes
        (started with ``spawn``; in a script, call it under
        ``if __name__ == "__main__":``). The output is the same, in the same order,
        whatever the number of workers.
        """
        n = len(self._by_index)
        if workers <= 1 or n < 2 * _BLOCK:
            yield from self._ndjson_block(0, n, shape, batch_bytes)
            return
        import multiprocessing
        import tempfile
        from concurrent.futures import ProcessPoolExecutor

        spec = (self.n_customers, self.seed, self.start_ms, self.end_ms)
        # spawn, not fork: forking a process that runs Polars' thread pool can deadlock
        ctx = multiprocessing.get_context("spawn")
        with (
            tempfile.TemporaryDirectory(prefix="activity-sample-") as tmp,
            ProcessPoolExecutor(workers, mp_context=ctx) as pool,
        ):
            # blocks go through files, not pipes: pickling 100 MB blocks cost more
            # system time than generating them in parallel saved
            blocks = [
                (
                    spec,
                    lo,
                    min(lo + _BLOCK, n),
                    shape,
                    str(Path(tmp) / f"block-{k}.ndjson"),
                )
                for k, lo in enumerate(range(0, n, _BLOCK))
            ]
            pending = [pool.submit(_block_worker, *b) for b in blocks[: workers + 1]]
            for i in range(len(blocks)):
                block_path = Path(pending[i].result())
                if i + workers + 1 < len(blocks):
                    pending.append(pool.submit(_block_worker, *blocks[i + workers + 1]))
                data = block_path.read_bytes()
                block_path.unlink()
                yield data

    def _ndjson_block(
        self, start: int, stop: int, shape: Literal["nested", "flat"], batch_bytes: int
    ) -> Iterator[bytes]:
        buf: list[bytes] = []
        size = 0
        dumps = orjson.dumps
        for ev in (e for _, evs in self.iter_customer_events(start, stop) for e in evs):
            if shape == "flat":
                ev = {
                    "id": ev["id"],
                    "type": ev["type"],
                    "data": ev["data"]["data"],
                    "created_at": ev["created_at"],
                }
            line = dumps(ev)
            buf.append(line)
            size += len(line) + 1
            if size >= batch_bytes:
                yield b"\n".join(buf) + b"\n"
                buf, size = [], 0
        if buf:
            yield b"\n".join(buf) + b"\n"

    def write_ndjson(
        self,
        path: str | Path,
        *,
        shape: Literal["nested", "flat"] = "nested",
        workers: int = 1,
    ) -> Path:
        """Write every event as one NDJSON file (``.gz`` suffix: gzipped); ``workers``
        as in :meth:`iter_ndjson`."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".gz":
            import gzip

            opener: Any = gzip.open
        else:
            opener = open
        with opener(path, "wb") as fh:
            for chunk in self.iter_ndjson(shape=shape, workers=workers):
                fh.write(chunk)
        return path

    def iter_pages(
        self,
        *,
        endpoint: Literal["activity", "activities"] = "activity",
        limit: int = 100,
    ) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """API list pages per customer, oldest first: ``(customer id, page no, page)``.

        ``endpoint="activity"`` gives the current envelope (``has_more``,
        ``more_starting_after``, with an empty page after an exactly-full last page);
        ``"activities"`` the deprecated one (``total``).
        """
        for cid, evs in self.iter_customer_events():
            pages = [evs[i : i + limit] for i in range(0, len(evs), limit)] or [[]]
            if endpoint == "activity" and len(evs) and len(evs) % limit == 0:
                pages.append([])
            for n, chunk in enumerate(pages):
                page: dict[str, Any] = {
                    "object": "list",
                    "data_ref": "data",
                    "data": chunk,
                }
                if endpoint == "activity":
                    more = n < len(pages) - 1
                    page["has_more"] = more
                    page["more_starting_after"] = (
                        chunk[-1]["id"] if more and chunk else None
                    )
                else:
                    page["total"] = len(evs)
                yield cid, n, page

    def write_pages(
        self,
        directory: str | Path,
        *,
        endpoint: Literal["activity", "activities"] = "activity",
        limit: int = 100,
    ) -> Path:
        """Write API pages as ``DIR/<customer id>/page-0001.json`` files."""
        directory = Path(directory)
        for cid, n, page in self.iter_pages(endpoint=endpoint, limit=limit):
            d = directory / cid
            d.mkdir(parents=True, exist_ok=True)
            (d / f"page-{n + 1:04d}.json").write_bytes(orjson.dumps(page))
        return directory

    def write_parquet(
        self, path: str | Path, *, workers: int = 1, block_customers: int = 2_000
    ) -> Path:
        """Write the world as a Parquet store, ``block_customers`` customers at a time,
        so memory stays bounded whatever the size (``workers`` as in
        :meth:`iter_ndjson`)."""
        from activity_toolkit.io import StoreWriter, read_events

        with StoreWriter(path) as writer, expected_unknown_type():
            for chunk in self._iter_blocks(block_customers, workers):
                writer.add(read_events(chunk))
            return writer.commit()

    def _iter_blocks(self, block_customers: int, workers: int) -> Iterator[bytes]:
        """NDJSON of ``block_customers`` customers at a time."""
        n = len(self._by_index)
        if workers > 1 and n >= 2 * _BLOCK:
            buf: list[bytes] = []
            size = 0
            per = max(1, block_customers // _BLOCK)
            for data in self.iter_ndjson(workers=workers):
                buf.append(data)
                size += 1
                if size >= per:
                    yield b"".join(buf)
                    buf, size = [], 0
            if buf:
                yield b"".join(buf)
            return
        for lo in range(0, max(n, 1), block_customers):
            yield b"".join(
                self._ndjson_block(lo, min(lo + block_customers, n), "nested", 1 << 62)
            )

    def to_log(self, *, workers: int = 1) -> ActivityLog:
        """The world's activity as an :class:`ActivityLog`, read through the same
        loader as real data (large worlds via a temporary NDJSON file, which takes
        the fast reader; small ones in memory); ``workers`` as in :meth:`iter_ndjson`."""
        if self.n_customers >= 2 * _BLOCK:
            import tempfile

            from activity_toolkit.io import read_events

            with tempfile.TemporaryDirectory(prefix="activity-sample-") as tmp:
                return read_events(
                    self.write_ndjson(Path(tmp) / "sample.ndjson", workers=workers)
                )
        from activity_toolkit.io._builder import Builder, ndjson_locator

        with Builder("raise") as builder:
            builder.collector.sources.append("<sample>")
            line = 1
            for chunk in self.iter_ndjson(batch_bytes=32 * 1024 * 1024):
                builder.add_ndjson(chunk, ndjson_locator(chunk, "<sample>", line))
                line += chunk.count(b"\n")
            return builder.build()


@contextmanager
def expected_unknown_type() -> Iterator[None]:
    """Silence the warning about the sample's one deliberate unknown type (and only
    that one) while sample data is read."""
    from activity_toolkit.exceptions import UnknownEventTypeWarning

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", category=UnknownEventTypeWarning, message=f".*{UNKNOWN_TYPE}.*"
        )
        yield


#: Customers per block when a large world is generated by several processes.
_BLOCK = 1_000


def _block_worker(
    spec: tuple[int, int, int, int],
    start: int,
    stop: int,
    shape: Literal["nested", "flat"],
    path: str,
) -> str:
    """Generate one block of customers' NDJSON into ``path`` in a worker process."""
    customers, seed, start_ms, end_ms = spec
    world = SampleWorld(
        customers=customers,
        seed=seed,
        start=datetime.fromtimestamp(start_ms / 1000, UTC),
        end=datetime.fromtimestamp(end_ms / 1000, UTC),
    )
    with open(path, "wb") as fh:
        for chunk in world._ndjson_block(start, stop, shape, 32 * 1024 * 1024):
            fh.write(chunk)
    return path


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
