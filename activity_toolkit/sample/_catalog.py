"""What the synthetic project is made of: campaigns, loyalty tiers, rewards, products,
the names, cities, failure codes and channels it draws from, and the small helpers
that make ids and timestamps.

Everything here is fixed: randomness comes only from the generator a helper is handed.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_END = datetime(2025, 7, 1, tzinfo=UTC)
UNKNOWN_TYPE = "customer.wallet.topped_up"

MS_DAY = 86_400_000
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
HEX = "0123456789abcdef"
FIRST_NAMES = (
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
LAST_NAMES = (
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
CITIES = (
    "Warsaw",
    "Berlin",
    "Lisbon",
    "Austin",
    "Toronto",
    "Oslo",
    "Kraków",
    "Madrid",
)
PRODUCTS = (
    ("prod_0a1b2c3d4e5f6a7b8c", "sku_0a1b2c3d4e5f6a7b01", "Espresso beans 1kg", 2490),
    ("prod_1b2c3d4e5f6a7b8c9d", "sku_1b2c3d4e5f6a7b8c02", "Grinder", 8900),
    ("prod_2c3d4e5f6a7b8c9d0e", "sku_2c3d4e5f6a7b8c9d03", "Milk frother", 4590),
    ("prod_3d4e5f6a7b8c9d0e1f", "sku_3d4e5f6a7b8c9d0e04", "Travel mug", 1890),
    ("prod_4e5f6a7b8c9d0e1f2a", "sku_4e5f6a7b8c9d0e1f05", "Pour-over kit", 3290),
    ("prod_5f6a7b8c9d0e1f2a3b", "sku_5f6a7b8c9d0e1f2a06", "Descaler", 990),
)
VALIDATION_FAILURES = (
    ("order_rules_violated", 0.45),
    ("voucher_expired", 0.2),
    ("quantity_exceeded", 0.15),
    ("customer_rules_violated", 0.12),
    ("voucher_disabled", 0.08),
)
REDEMPTION_FAILURES = (
    ("quantity_exceeded", 0.4),
    ("order_rules_violated", 0.3),
    ("voucher_expired", 0.2),
    ("duplicate_found", 0.1),
)
MESSAGING = (
    ("email", 0.6),
    ("sms", 0.2),
    ("braze", 0.08),
    ("klaviyo", 0.06),
    ("mailchimp", 0.03),
    ("intercom", 0.03),
)
CUSTOM_EVENTS = (
    ("viewed_product", 0.55),
    ("added_to_cart", 0.3),
    ("left_review", 0.15),
)
TIERS = (  # (id, name, points from, points to)
    ("ltr_bronze0000000000000001", "Bronze", 0, 999),
    ("ltr_silver0000000000000002", "Silver", 1000, 2999),
    ("ltr_gold000000000000000003", "Gold", 3000, 7999),
    ("ltr_platinum00000000000004", "Platinum", 8000, None),
)
REWARDS = (
    ("rew_coffee00000000000001", "Free coffee", "MATERIAL", 300),
    ("rew_discount000000000002", "10 EUR off", "COIN", 800),
    ("rew_mug000000000000000003", "Branded mug", "MATERIAL", 1500),
)


def choice(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    x = rng.random()
    for value, w in weighted:
        x -= w
        if x <= 0:
            return value
    return weighted[-1][0]


_TABLES: dict[str, bytes] = {}


def token(rng: random.Random, n: int, alphabet: str = _ALNUM) -> str:
    """``n`` random characters of ``alphabet`` (random bytes mapped through a table)."""
    table = _TABLES.get(alphabet)
    if table is None:
        table = _TABLES[alphabet] = bytes(
            ord(alphabet[b % len(alphabet)]) for b in range(256)
        )
    return rng.randbytes(n).translate(table).decode("ascii")


_EPOCH = datetime(1970, 1, 1)


def iso(ms: int) -> str:
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
SIMPLE_CAMPAIGN = {
    k: {
        key: c[key]
        for key in ("id", "name", "campaign_type", "type", "active", "object")
    }
    for k, c in CAMPAIGNS.items()
}


def tier_object(
    index: int,
    *,
    expiration_ms: int | None = None,
    start_ms: int | None = None,
    customer_id: str | None = None,
) -> dict[str, Any]:
    tid, name, lo, hi = TIERS[index]
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
            "start_date": iso(start_ms or expiration_ms)[:10],
            "expiration_date": iso(expiration_ms)[:10],
        }
    return obj


def tier_for(balance: int) -> int:
    for i in range(len(TIERS) - 1, -1, -1):
        if balance >= TIERS[i][2]:
            return i
    return 0
