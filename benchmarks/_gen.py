"""An independent generator of Voucherify-like customer-activity files for benchmarks.

It does not use ``activity_toolkit.sample``: the point is data the readers were not
tuned on. Deterministic for a seed (``random.Random`` only; each customer has its own
generator, so every shape of one seed and size holds the same events).

What the events look like:

- 24 types of the Voucherify catalogue (publications, validations, redemptions and
  rollbacks, orders, loyalty points and tiers, segments, rewards, messaging, referrals,
  custom events, lifecycle), the legacy spelling ``customer.segment_entered`` and two
  types no registry knows (``customer.experiment.assigned`` throughout the file and
  ``customer.wallet.topped_up`` only in its last tenth);
- large nested ``customer`` and ``campaign`` objects (tens of fields, sub-objects,
  arrays), nullable sub-objects (``address``, ``loyalty``, ``validity_timeframe``,
  ``promotion_tier``, ``holder``, ``referrer``, ``gift``…);
- free-form ``metadata`` (customer, campaign, order, publication, custom event) whose
  keys vary by campaign and customer and whose values mix types: one key is an integer
  in one event, a string, float, boolean, null, list or object in another;
- keys that first appear after 90% of the events (a new payload object
  ``attribution``, a campaign field ``ab_test``, ``event_source.api_key``, a customer
  metadata key, an integer field carried as a float), only in chunks that start after
  ``LATE_FRACTION`` of the events, so they are late in every shape;
- unicode (accents, CJK, emoji, U+2028) and characters JSON must escape (quotes,
  backslashes, newlines, tabs, control characters) in strings;
- ids like ``evcus_…``, ``cust_…``, timestamps ``YYYY-MM-DDTHH:MM:SS.mmmZ`` and some
  without milliseconds; requests that cause several events share a ``group_id``.

Shapes (``write(shape, path, events=…)``):

``nested``   NDJSON of list-endpoint events ``{"data": {"data": payload,
             "event_source": {...}}}``
``flat``     NDJSON of webhook-style events ``{"data": payload}``
``mixed``    both, interleaved in one NDJSON file
``pages``    NDJSON of list pages, one page (up to 100 nested events) per line, both
             generations: ``has_more``/``more_starting_after`` (current ``/activity``)
             and ``total`` (deprecated ``/activities``, whose date-cursor pages can
             repeat the boundary event)
``pagedir``  a directory with one folder per customer and one pretty-printed page per
             file (``/activities`` pages written ASCII-only, with ``\\uXXXX`` escapes)
``gzip``     gzip of the ``nested`` file

Every writer streams chunk by chunk (bounded memory), in ``workers`` processes, and
writes a ``<path>.meta.json`` next to its output: records, unique events, bytes.

Command line: ``python benchmarks/_gen.py SHAPE OUT (--events N | --gb G) [--seed S]``.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import gzip
import json
import math
import multiprocessing
import os
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

#: bump when the generated data changes, so that cached files are rebuilt
VERSION = 1
#: rare keys appear only in chunks that start after this fraction of the events
LATE_FRACTION = 0.9
PAGE_SIZE = 100
SHAPES = ("nested", "flat", "mixed", "pages", "pagedir", "gzip")
LINE_SHAPES = ("nested", "flat", "mixed", "pages")

_NL = orjson.OPT_APPEND_NEWLINE
_START_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z
_SPAN_MS = 880 * 86_400_000  # customers join over about 2.4 years
_DAY_MS = 86_400_000

# --------------------------------------------------------------------------- texts

_FIRST = [
    "Anna", "Zoë", "Łukasz", "José", "Ngozi", "Søren", "Małgorzata", "Jürgen", "Chloé",
    "Ahmed", "Priya", "Ólafur", "Dương", "Kateřina", "İlker", "François", "Mia",
    "O'Brien", "山田", "Мария", "Σοφία", "Nuño", "Björk", "Ana-María",
]  # fmt: skip
_LAST = [
    "Kowalski", "Müller", "García", "Nguyễn", "Øster", "Dubois", "Smith", "太郎",
    "Иванова", "D'Angelo", "Ó Súilleabháin", "Nowak", 'the "Great"', "Ölz", "Wiśniewska",
]  # fmt: skip
_CITIES = [
    ("Warszawa", "PL", "mazowieckie"), ("München", "DE", "Bayern"),
    ("São Paulo", "BR", "SP"), ("Zürich", "CH", "ZH"), ("Łódź", "PL", "łódzkie"),
    ("New York", "US", "NY"), ("Kraków", "PL", "małopolskie"), ("東京", "JP", "東京都"),
    ("Reykjavík", "IS", None), ("Montréal", "CA", "QC"), ("Málaga", "ES", "Andalucía"),
]  # fmt: skip
_CAMPAIGN_NAMES = [
    "Black Friday — 20% off", "Été 2024 «soldes»", 'Summer "Mega" Sale',
    "Back\\slash promo", "春のセール", "🎉 Birthday treat", "Loyalty Club Ⓡ",
    "Welcome\tnew customers", "Referral: bring a friend", "Gift cards 💳",
    "Weekend\nflash deal", "Złote Punkty", "Free shipping ≥ 50 €", "Cyber Monday",
    "Holiday Season 20%", "VIP — early access",
]  # fmt: skip
_DESCRIPTIONS = [
    "Pasted from the brief:\u2028second line",
    'Uses "quotes", a back\\slash and a tab\there',
    "Ünïcödé ✓ — dashes – and ‘curly’ quotes",  # noqa: RUF001
    "control\u0001char and a bell\u0007",
    "",
    "Plain description",
]  # fmt: skip
_FAILURES = [
    ("voucher_expired", "Voucher expired on 2024-01-31"),
    ("quantity_exceeded", 'Voucher "quantity" exceeded\n(limit: 1)'),
    ("customer_rules_violated", "Customer does not match the validation rules ✗"),
    ("order_rules_violated", "Order total < 50 € \\ minimum"),
    ("resource_not_found", "Resource not found"),
    ("voucher_disabled", "Voucher is disabled"),
]  # fmt: skip
_SEGMENTS = [
    "VIP", "Churn risk ⚠", "New in 2024", "Łódź shoppers", "High \"LTV\"",
    "Newsletter", "App users 📱", "Dormant > 90 d", "B2B\\wholesale", "東京",
    "Students", "Gold tier",
]  # fmt: skip
_CAMPAIGN_TYPES = [
    ("DISCOUNT_COUPONS", 5), ("PROMOTION", 2), ("LOYALTY_PROGRAM", 2),
    ("GIFT_VOUCHERS", 2), ("REFERRAL_PROGRAM", 2), ("LUCKY_DRAW", 1),
]  # fmt: skip
_CHANNELS = ["API", "API", "API", "CLIENT_API", "USER_PORTAL", "INTERNAL"]
_TIERS = [("Bronze", 0, 999), ("Silver", 1000, 4999), ("Gold", 5000, 19999),
          ("Platinum ✦", 20000, None)]  # fmt: skip

# metadata keys, each with a "home" value type that most, not all, values have
_META_KEYS = [
    ("plan", "str"), ("region", "str"), ("ltv", "float"), ("age", "int"),
    ("vip", "bool"), ("tags", "list"), ("preferences", "obj"), ("score", "int"),
    ("source", "str"), ("consent_version", "int"), ("last_store", "str"),
    ("locale", "str"), ("newsletter", "bool"), ("children", "int"),
    ("favourite_category", "str"), ("app_version", "str"), ("churn_risk", "float"),
    ("referral_code", "str"), ("points_multiplier", "float"), ("segment_hint", "str"),
    ("store_ids", "list"), ("address_verified", "bool"), ("crm_id", "int"),
    ("notes", "str"), ("loyalty_since", "str"), ("external", "obj"),
    ("cohort", "int"), ("discount_cap", "float"), ("channel_pref", "str"),
    ("kyc", "obj"), ("bday_month", "int"), ("gdpr", "bool"), ("device", "str"),
    ("utm", "obj"), ("b2b", "bool"), ("tax_id", "str"), ("shoe_size", "float"),
    ("pet", "str"), ("level", "int"), ("extra", "obj"),
]  # fmt: skip
_META_TYPES = ["int", "str", "float", "bool", "null", "list", "obj"]


def _meta_value(rng: random.Random, home: str) -> Any:
    kind = home if rng.random() < 0.8 else _META_TYPES[int(rng.random() * 7)]
    if kind == "int":
        return rng.randrange(-5, 100_000)
    if kind == "str":
        return rng.choice(("gold", "PL-MZ", "über", "a\\b", 'say "hi"', "42", "", "🍕"))
    if kind == "float":
        return round(rng.random() * 1000, 3)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [
            rng.choice(("x", 1, 2.5, True, None, "ż")) for _ in range(rng.randrange(4))
        ]
    return {
        "k": rng.randrange(10),
        "nested": {"flag": rng.random() < 0.5, "label": rng.choice(_SEGMENTS)},
    }


def _metadata(rng: random.Random, keys: list[tuple[str, str]]) -> dict[str, Any]:
    return {k: _meta_value(rng, home) for k, home in keys}


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


# ---------------------------------------------------------------------- timestamps

_DATES: dict[int, str] = {}


def _ts(ms: int, *, millis: bool = True) -> str:
    day, rest = divmod(ms, _DAY_MS)
    date = _DATES.get(day)
    if date is None:
        date = _DATES[day] = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
    sec, milli = divmod(rest, 1000)
    h, sec = divmod(sec, 3600)
    m, s = divmod(sec, 60)
    if millis:
        return f"{date}T{h:02d}:{m:02d}:{s:02d}.{milli:03d}Z"
    return f"{date}T{h:02d}:{m:02d}:{s:02d}Z"


# --------------------------------------------------------------------------- world


class _World:
    """What customers share: campaigns, segments, products (one per seed)."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"world-{seed}")
        kinds = [k for k, w in _CAMPAIGN_TYPES for _ in range(w)]
        self.campaigns: list[dict[str, Any]] = []
        for i in range(48):
            kind = kinds[i % len(kinds)]
            self.campaigns.append(self._campaign(rng, i, kind))
        self.by_type: dict[str, list[dict[str, Any]]] = {}
        for c in self.campaigns:
            self.by_type.setdefault(c["campaign_type"], []).append(c)
        self.tiers: dict[str, list[dict[str, Any]]] = {}
        for c in self.by_type["LOYALTY_PROGRAM"]:
            self.tiers[c["id"]] = [
                {
                    "id": f"ltr_{_hex(rng, 20)}",
                    "name": name,
                    "campaign_id": c["id"],
                    "points": {"from": lo} if hi is None else {"from": lo, "to": hi},
                    "expiration": None
                    if rng.random() < 0.3
                    else {
                        "start_date": "2024-01-01",
                        "expiration_date": rng.choice(("2025-12-31", "2026-06-30")),
                    },
                }
                for name, lo, hi in _TIERS
            ]
        self.segments = [
            {"id": f"seg_{_hex(rng, 20)}", "name": name, "object": "segment"}
            for name in _SEGMENTS
        ]
        self.products: list[dict[str, Any]] = [
            {
                "product_id": f"prod_{_hex(rng, 16)}",
                "sku_id": f"sku_{_hex(rng, 16)}" if rng.random() < 0.7 else None,
                "price": rng.randrange(100, 50_000),
                "name": f"{rng.choice(('Kawa', 'Thé', 'Café', 'Bücher', '茶'))} #{n}",
            }
            for n in range(300)
        ]
        self.event_schemas = [
            {"id": f"ms_{_hex(rng, 16)}", "name": name}
            for name in ("app_opened", "review.written", "survey—completed", "ticket")
        ]

    @staticmethod
    def _campaign(rng: random.Random, i: int, kind: str) -> dict[str, Any]:
        name = f"{_CAMPAIGN_NAMES[i % len(_CAMPAIGN_NAMES)]} #{i}"
        keys = rng.sample(_META_KEYS, rng.randrange(2, 11))
        start = _START_MS + rng.randrange(0, _SPAN_MS // 2)
        voucher: dict[str, Any] = {
            "type": {
                "GIFT_VOUCHERS": "GIFT_VOUCHER",
                "LOYALTY_PROGRAM": "LOYALTY_CARD",
            }.get(kind, "DISCOUNT_VOUCHER"),
            "redemption": {"quantity": rng.choice((None, 1, 5))},
            "code_config": {
                "length": 8,
                "charset": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                "pattern": "##-####-##",
                "prefix": f"C{i}-",
                "suffix": "",
            },
            "is_referral_code": kind == "REFERRAL_PROGRAM",
        }
        if voucher["type"] == "DISCOUNT_VOUCHER":
            voucher["discount"] = (
                {"type": "PERCENT", "percent_off": rng.choice((5, 10, 15.5, 20))}
                if rng.random() < 0.6
                else {"type": "AMOUNT", "amount_off": rng.randrange(500, 5000)}
            )
        elif voucher["type"] == "GIFT_VOUCHER":
            voucher["gift"] = {
                "amount": 10000,
                "balance": 10000,
                "effect": "APPLY_TO_ORDER",
            }
        else:
            voucher["loyalty_card"] = {"points": 0, "balance": 0}
        return {
            "id": f"camp_{_hex(rng, 20)}",
            "name": name,
            "campaign_type": kind,
            "type": rng.choice(("AUTO_UPDATE", "STATIC")),
            "description": rng.choice(_DESCRIPTIONS),
            "category": rng.choice((None, "Seasonal", "Évergreen", "B2B")),
            "category_id": None if rng.random() < 0.5 else f"cat_{_hex(rng, 16)}",
            "start_date": _ts(start),
            "expiration_date": None
            if rng.random() < 0.4
            else _ts(start + 400 * _DAY_MS),
            "validity_timeframe": None
            if rng.random() < 0.7
            else {"interval": "P2D", "duration": "PT1H"},
            "validity_day_of_week": None if rng.random() < 0.7 else [1, 2, 3, 4, 5],
            "auto_join": rng.random() < 0.3,
            "join_once": rng.random() < 0.5,
            "use_voucher_metadata_schema": True,
            "vouchers_count": rng.randrange(0, 1_000_000),
            "active": rng.random() < 0.9,
            "voucher": voucher,
            "promotion": None
            if kind != "PROMOTION"
            else {"tiers": [{"id": f"promo_{_hex(rng, 16)}", "name": "Tier 1"}]},
            "metadata": _metadata(rng, keys),
            "creation_status": "DONE",
            "vouchers_generation_status": rng.choice(("DONE", "IN_PROGRESS", "DRAFT")),
            "protected": False,
            "category_hierarchy": [],
            "created_at": _ts(start - 10 * _DAY_MS),
            "updated_at": None if rng.random() < 0.5 else _ts(start),
            "object": "campaign",
        }


# ------------------------------------------------------------------------ customers


def _event_count(seed: int, index: int) -> int:
    """How many events customer ``index`` has (the first draw of its generator)."""
    return _count(random.Random(seed * 1_000_003 + index))


def _count(rng: random.Random) -> int:
    return min(1200, max(1, int(rng.lognormvariate(4.2, 0.9))))


class _Customer:
    """One customer's state while their events are generated."""

    def __init__(self, world: _World, rng: random.Random, index: int) -> None:
        self.rng = rng
        self.late = False
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        self.id = f"cust_{_hex(rng, 24)}"
        src = rng.random()
        self.source_id = (
            f"{first}.{index}@example.com"
            if src < 0.4
            else f"crm-{index:07d}"
            if src < 0.8
            else f"{_hex(rng, 8)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 12)}"
        )
        self.t = _START_MS + rng.randrange(_SPAN_MS)
        self.meta_keys = rng.sample(_META_KEYS, rng.randrange(3, 14))
        city = rng.choice(_CITIES)
        self.member = rng.random() < 0.6
        self.loyalty = rng.choice(world.by_type["LOYALTY_PROGRAM"])
        self.tiers = world.tiers[self.loyalty["id"]]
        self.tier = -1
        self.points = 0
        self.campaigns = rng.sample(world.campaigns, rng.randrange(2, 7))
        self.world = world
        self.obj: dict[str, Any] = {
            "id": self.id,
            "source_id": self.source_id,
            "name": None if rng.random() < 0.05 else f"{first} {last}",
            "description": None if rng.random() < 0.8 else rng.choice(_DESCRIPTIONS),
            "email": None
            if rng.random() < 0.1
            else f"{first.lower()}.{index}@exämple.com".replace("'", ""),
            "phone": None
            if rng.random() < 0.5
            else f"+48 {rng.randrange(10**8, 10**9)}",
            "birthdate": None
            if rng.random() < 0.6
            else f"19{rng.randrange(50, 99)}-0{rng.randrange(1, 10)}-1{rng.randrange(10)}",
            "address": None
            if rng.random() < 0.2
            else {
                "city": city[0],
                "state": city[2],
                "line_1": f"ul. Długa {rng.randrange(1, 200)}",
                "line_2": None if rng.random() < 0.7 else f"m. {rng.randrange(1, 90)}",
                "country": city[1],
                "postal_code": f"{rng.randrange(10, 99)}-{rng.randrange(100, 999)}",
            },
            "metadata": _metadata(rng, self.meta_keys),
            "summary": {
                "redemptions": {
                    "total_redeemed": 0,
                    "total_failed": 0,
                    "total_succeeded": 0,
                    "total_rolled_back": 0,
                    "total_rollback_failed": 0,
                    "total_rollback_succeeded": 0,
                    "gift": {"redeemed_amount": 0, "amount_to_go": 0},
                    "loyalty_card": {"redeemed_points": 0, "points_to_go": 0},
                },
                "orders": {
                    "total_amount": 0,
                    "total_count": 0,
                    "average_amount": 0,
                    "last_order_amount": None,
                    "last_order_date": None,
                },
            },
            "loyalty": None
            if not self.member
            else {
                "points": 0,
                "referred_customers": 0,
                "campaigns": {
                    self.loyalty["name"]: {"points": 0, "referred_customers": 0}
                },
            },
            "referrals": {"total": 0, "campaigns": []},
            "system_metadata": {}
            if rng.random() < 0.8
            else {"source": "import", "job": _hex(rng, 8)},
            "created_at": _ts(self.t - rng.randrange(1, 90) * _DAY_MS),
            "updated_at": None if rng.random() < 0.3 else _ts(self.t),
            "assets": {"cockpit_url": f"https://cockpit.example/{self.id}"},
            "object": "customer",
        }
        self.card = {
            "id": f"v_{_hex(rng, 20)}",
            "code": f"LC-{_hex(rng, 8).upper()}",
            "type": "LOYALTY_CARD",
            "campaign": self.loyalty["name"],
            "campaign_id": self.loyalty["id"],
            "holder_id": self.id,
            "is_referral_code": False,
            "active": True,
            "gift": None,
            "discount": None,
            "object": "voucher",
        }
        self.vouchers = [
            {
                "id": f"v_{_hex(rng, 20)}",
                "code": f"{c['voucher']['code_config']['prefix']}{_hex(rng, 6).upper()}",
                "type": c["voucher"]["type"],
                "campaign": c["name"],
                "campaign_id": c["id"],
                "holder_id": self.id if rng.random() < 0.7 else None,
                "category": c["category"],
                "discount": c["voucher"].get("discount"),
                "gift": c["voucher"].get("gift"),
                "loyalty_card": None,
                "start_date": c["start_date"],
                "expiration_date": c["expiration_date"],
                "active": True,
                "metadata": {}
                if rng.random() < 0.6
                else _metadata(rng, self.meta_keys[:2]),
                "object": "voucher",
            }
            for c in self.campaigns
        ]


# ----------------------------------------------------------------------- payloads

Payload = dict[str, Any]
_Builder = Callable[[_Customer, str], Payload]


def _pick_voucher(c: _Customer) -> tuple[dict[str, Any], dict[str, Any]]:
    i = int(c.rng.random() * len(c.vouchers))
    return c.vouchers[i], c.campaigns[i]


def _order(c: _Customer, ts: str, status: str) -> dict[str, Any]:
    rng = c.rng
    items: list[dict[str, Any]] = []
    for _ in range(1 + int(rng.random() * 4)):
        p = c.world.products[int(rng.random() * len(c.world.products))]
        q = 1 + int(rng.random() * 3)
        items.append(
            {
                "object": "order_item",
                "product_id": p["product_id"],
                "sku_id": p["sku_id"],
                "quantity": q,
                "price": p["price"],
                "amount": p["price"] * q,
                "product": {"name": p["name"], "metadata": {}},
            }
        )
    amount = sum(it["amount"] for it in items)
    discount = int(amount * rng.random() * 0.3)
    o: dict[str, Any] = {
        "id": f"ord_{_hex(rng, 20)}",
        "source_id": None if rng.random() < 0.3 else f"shop-{rng.randrange(10**9)}",
        "status": status,
        "amount": amount,
        "initial_amount": amount,
        "discount_amount": discount,
        "items_discount_amount": 0,
        "total_discount_amount": discount,
        "total_amount": amount - discount,
        "applied_discount_amount": discount,
        "items": items,
        "metadata": _metadata(rng, rng.sample(_META_KEYS, 1 + int(rng.random() * 4))),
        "customer_id": c.id if rng.random() < 0.9 else None,
        "referrer_id": None,
        "created_at": ts,
        "updated_at": None if rng.random() < 0.5 else ts,
        "redemptions": {},
        "object": "order",
    }
    if c.late and rng.random() < 0.02:
        o["amount"] = float(amount)  # an integer field that arrives as a float, late
    return o


def _p_created(c: _Customer, ts: str) -> Payload:
    return {"customer": c.obj}


def _p_updated(c: _Customer, ts: str) -> Payload:
    obj = dict(c.obj)
    obj["updated_at"] = ts
    if c.rng.random() < 0.5:
        obj["metadata"] = _metadata(c.rng, c.meta_keys)
    return {"customer": obj}


def _p_segment(c: _Customer, ts: str) -> Payload:
    seg = c.world.segments[int(c.rng.random() * len(c.world.segments))]
    return {"customer": c.obj, "segment": seg}


def _p_segment_legacy(c: _Customer, ts: str) -> Payload:
    seg = c.world.segments[int(c.rng.random() * len(c.world.segments))]
    return {"segment": seg, "customer": c.obj}


def _p_publication(result: str) -> _Builder:
    def build(c: _Customer, ts: str) -> Payload:
        v, camp = _pick_voucher(c)
        rng = c.rng
        pub = {
            "id": f"pub_{_hex(rng, 20)}",
            "object": "publication",
            "created_at": ts,
            "customer_id": c.id,
            "tracking_id": f"track_{_hex(rng, 12)}",
            "metadata": {} if rng.random() < 0.5 else _metadata(rng, c.meta_keys[:3]),
            "channel": rng.choice(("API", "Email", "Automation", "Voucherify Website")),
            "source_id": None if rng.random() < 0.6 else f"pub-{_hex(rng, 8)}",
            "result": result,
            "voucher": {
                "code": v["code"],
                "campaign": camp["name"],
                "object": "voucher",
            },
            "vouchers_id": [v["id"]],
        }
        if result == "FAILURE":
            pub["failure_code"], pub["failure_message"] = rng.choice(_FAILURES)
        return {"customer": c.obj, "campaign": camp, "publication": pub}

    return build


def _p_validation(status: str) -> _Builder:
    ok = status == "VALID"

    def build(c: _Customer, ts: str) -> Payload:
        rng = c.rng
        v, _camp = _pick_voucher(c)
        redeemable = {"id": v["code"], "object": "voucher", "status": "APPLICABLE"}
        val: dict[str, Any] = {
            "id": f"valid_{_hex(rng, 20)}",
            "session_id": None if rng.random() < 0.5 else f"ssn_{_hex(rng, 20)}",
            "status": status,
            "created_at": ts,
            "customer_id": c.id,
            "redeemables": [redeemable] if ok else [],
            "skipped_redeemables": [],
            "inapplicable_redeemables": []
            if ok
            else [
                {
                    "id": v["code"],
                    "status": "INAPPLICABLE",
                    "result": {
                        "error": dict(
                            zip(("key", "message"), rng.choice(_FAILURES), strict=True)
                        )
                    },
                }
            ],
            "order": None if rng.random() < 0.5 else _order(c, ts, "CREATED"),
            "object": "validation",
        }
        return {"customer": c.obj, "validation": val}

    return build


def _p_redemption(result: str, *, rollback: bool = False) -> _Builder:
    def build(c: _Customer, ts: str) -> Payload:
        rng = c.rng
        v, camp = _pick_voucher(c)
        order = _order(c, ts, "PAID" if result == "SUCCESS" else "CREATED")
        red: dict[str, Any] = {
            "id": f"r_{_hex(rng, 20)}",
            "object": "redemption",
            "date": ts,
            "customer_id": c.id,
            "tracking_id": f"track_{_hex(rng, 12)}",
            "metadata": {},
            "amount": order["total_discount_amount"],
            "result": result,
            "status": result if rng.random() < 0.9 else None,
            "order": {
                "id": order["id"],
                "total_discount_amount": order["total_discount_amount"],
            },
            "channel": {
                "channel_id": f"user_{_hex(rng, 12)}",
                "channel_type": rng.choice(("API", "USER")),
            },
            "voucher": {"code": v["code"], "id": v["id"]},
        }
        if result == "FAILURE":
            red["failure_code"], red["failure_message"] = rng.choice(_FAILURES)
        p: Payload = {
            "customer": c.obj,
            "order": order,
            "campaign": camp,
            "voucher": v,
            "holder": None
            if v["holder_id"] is None
            else {"id": c.id, "source_id": c.source_id},
            "promotion_tier": None
            if rng.random() < 0.7
            else {"id": f"promo_{_hex(rng, 16)}", "name": "Tier — 10%"},
            "promotion_stack": None,
            "redemption": red,
        }
        if rollback:
            p["redemption_rollback"] = {
                "id": f"rr_{_hex(rng, 20)}",
                "date": ts,
                "amount": -red["amount"],
                "result": "SUCCESS",
                "status": "SUCCEEDED",
                "reason": rng.choice(
                    ("Order returned", "Klient zrezygnował", 'typo in "code"')
                ),
            }
        return p

    return build


def _p_order(status: str) -> _Builder:
    def build(c: _Customer, ts: str) -> Payload:
        return {
            "customer": c.obj,
            "referrer": None
            if c.rng.random() < 0.9
            else {"id": f"cust_{_hex(c.rng, 24)}"},
            "order": _order(c, ts, status),
            "redemption": None
            if c.rng.random() < 0.6
            else {"id": f"r_{_hex(c.rng, 20)}"},
        }

    return build


def _card(c: _Customer, ts: str) -> dict[str, Any]:
    card = dict(c.card)
    card["loyalty_card"] = {
        "points": c.points,
        "balance": c.points,
        "pending_points": 0,
        "expired_points": 0,
        "next_expiration_date": None if c.rng.random() < 0.5 else "2026-01-31",
    }
    return card


def _p_points_added(c: _Customer, ts: str) -> Payload:
    rng = c.rng
    delta = 10 * (1 + int(rng.random() * 200))
    c.points += delta
    return {
        "customer": c.obj,
        "campaign": c.loyalty,
        "voucher": _card(c, ts),
        "balance": {
            "type": "loyalty_card",
            "points": delta,
            "balance": c.points,
            "total": c.points,
            "object": "balance",
            "operation_type": rng.choice(("MANUAL", "AUTOMATIC")),
            "related_object": {"id": c.card["id"], "type": "voucher"},
        },
        "transaction": {
            "id": f"vtx_{_hex(rng, 20)}",
            "type": rng.choice(("POINTS_ACCRUAL", "POINTS_ADDITION")),
            "source": None if rng.random() < 0.5 else "API",
            "reason": None if rng.random() < 0.7 else 'Bonus ✨ for "review"',
            "created_at": ts,
            "details": {"order": None, "event": None, "earning_rule": None},
        },
    }


def _p_points_expired(c: _Customer, ts: str) -> Payload:
    rng = c.rng
    gone = min(c.points, 10 * (1 + int(rng.random() * 50)))
    c.points -= gone
    return {
        "customer": c.obj,
        "campaign": c.loyalty,
        "voucher": _card(c, ts),
        "points": gone,
        "buckets": [
            {
                "id": f"lopb_{_hex(rng, 16)}",
                "bucket": {"total_points": gone},
                "status": "EXPIRED",
                "expires_at": ts[:10],
            }
        ],
        "transaction": {
            "id": f"vtx_{_hex(rng, 20)}",
            "type": "POINTS_EXPIRATION",
            "source": None,
            "reason": None,
            "created_at": ts,
        },
    }


def _p_tier_single(c: _Customer, ts: str) -> Payload:
    c.tier = max(c.tier, 0)
    return {
        "customer": c.obj,
        "campaign": c.loyalty,
        "loyalty_tier": c.tiers[c.tier],
        "created_at": ts,
    }


def _p_tier_move(step: int) -> _Builder:
    def build(c: _Customer, ts: str) -> Payload:
        old = max(c.tier, 0)
        c.tier = min(max(old + step, 0), 3)
        return {
            "customer": c.obj,
            "campaign": c.loyalty,
            "loyalty_tier_from": c.tiers[old],
            "loyalty_tier_to": c.tiers[c.tier],
            "created_at": ts,
        }

    return build


def _p_rewarded(c: _Customer, ts: str) -> Payload:
    rng = c.rng
    v, camp = _pick_voucher(c)
    return {
        "customer": c.obj,
        "holder": {"id": c.id},
        "voucher": v,
        "campaign": camp,
        "redemption": None if rng.random() < 0.5 else {"id": f"r_{_hex(rng, 20)}"},
        "reward": {
            "id": f"rew_{_hex(rng, 16)}",
            "name": rng.choice(("Free coffee ☕", "10 € off", 'Tote "bag"')),
            "type": rng.choice(("MATERIAL", "COIN", "CAMPAIGN")),
            "parameters": {"coin": {"exchange_ratio": 0.01}}
            if rng.random() < 0.3
            else {},
        },
        "referral_tier": None,
        "balance": None if rng.random() < 0.6 else {"points": 100, "balance": c.points},
        "custom_event": None,
        "customer_event": None,
    }


def _p_message(channel: str) -> _Builder:
    def build(c: _Customer, ts: str) -> Payload:
        rng = c.rng
        return {
            "customer": c.obj,
            "distribution": {
                "id": f"distr_{_hex(rng, 16)}",
                "name": rng.choice(
                    ("Newsletter #12", "Przypomnienie o punktach", "🎁 Your gift")
                ),
                "channel": channel,
                "template": {
                    "id": f"tmpl_{_hex(rng, 8)}",
                    "subject": 'Hi "friend"\\o/',
                },
                "status": "SENT",
            },
            "sent_at": ts,
        }

    return build


def _p_referred(c: _Customer, ts: str) -> Payload:
    rng = c.rng
    camp = rng.choice(c.world.by_type["REFERRAL_PROGRAM"])
    return {
        "customer": c.obj,
        "referrer": {
            "id": f"cust_{_hex(rng, 24)}",
            "source_id": f"crm-{rng.randrange(10**7):07d}",
        },
        "campaign": camp,
        "voucher": {"code": f"REF-{_hex(rng, 6).upper()}"},
        "custom_event": {"id": f"evcs_{_hex(rng, 16)}"},
        "redemption": {"id": f"r_{_hex(rng, 20)}"},
    }


def _p_custom(c: _Customer, ts: str) -> Payload:
    rng = c.rng
    schema = rng.choice(c.world.event_schemas)
    return {
        "event": {
            "id": f"evcs_{_hex(rng, 16)}",
            "type": schema["name"],
            "created_at": ts,
            "metadata": _metadata(
                rng, rng.sample(_META_KEYS, 1 + int(rng.random() * 5))
            )
            | {"path": "C:\\Users\\zoë\\notes.txt", "quote": '"ok"'},
        },
        "event_schema": schema,
        "customer": c.obj,
        "referral": None,
        "loyalty": None if rng.random() < 0.7 else {"points": c.points},
    }


def _p_experiment(c: _Customer, ts: str) -> Payload:  # unknown type
    return {
        "customer": c.obj,
        "experiment": {"id": f"exp_{_hex(c.rng, 12)}", "variant": c.rng.choice("AB")},
    }


def _p_wallet(c: _Customer, ts: str) -> Payload:  # unknown, late only
    return {
        "customer": c.obj,
        "wallet": {"id": f"w_{_hex(c.rng, 12)}", "amount": 2500, "currency": "PLN"},
    }


# type, weight, builder, needs loyalty membership
_TYPES: list[tuple[str, float, _Builder, bool]] = [
    ("customer.updated", 3, _p_updated, False),
    ("customer.segment.entered", 5, _p_segment, False),
    ("customer.segment.left", 2, _p_segment, False),
    ("customer.segment_entered", 0.3, _p_segment_legacy, False),
    ("customer.publication.succeeded", 8, _p_publication("SUCCESS"), False),
    ("customer.publication.failed", 0.5, _p_publication("FAILURE"), False),
    ("customer.validation.succeeded", 9, _p_validation("VALID"), False),
    ("customer.validation.failed", 4, _p_validation("INVALID"), False),
    ("customer.redemption.succeeded", 10, _p_redemption("SUCCESS"), False),
    ("customer.redemption.failed", 3, _p_redemption("FAILURE"), False),
    ("customer.redemption.rollback.succeeded", 0.8, _p_redemption("SUCCESS", rollback=True), False),
    ("customer.order.created", 6, _p_order("CREATED"), False),
    ("customer.order.paid", 6, _p_order("PAID"), False),
    ("customer.order.canceled", 1, _p_order("CANCELED"), False),
    ("customer.voucher.loyalty_card.points_added", 10, _p_points_added, True),
    ("customer.voucher.loyalty_card.points_expired", 0.7, _p_points_expired, True),
    ("customer.loyalty.tier.downgraded", 0.3, _p_tier_move(-1), True),
    ("customer.rewarded", 1.5, _p_rewarded, False),
    ("customer.email.sent", 8, _p_message("email"), False),
    ("customer.sms.sent", 2, _p_message("sms"), False),
    ("customer.referred", 0.5, _p_referred, False),
    ("customer.custom_event", 3, _p_custom, False),
    ("customer.experiment.assigned", 0.3, _p_experiment, False),
]  # fmt: skip
#: the types the generator writes: 24 of the catalogue, one legacy alias, two unknown
KNOWN_TYPES = sorted(
    {t for t, _, _, _ in _TYPES if t != "customer.experiment.assigned"}
    | {
        "customer.created",
        "customer.loyalty.tier.joined",
        "customer.loyalty.tier.upgraded",
    }
)
UNKNOWN_TYPES = ["customer.experiment.assigned", "customer.wallet.topped_up"]
LATE_TYPE = "customer.wallet.topped_up"


def _cumulative(*, member: bool) -> tuple[list[float], list[tuple[str, _Builder]]]:
    chosen = [(t, w, b) for t, w, b, m in _TYPES if member or not m]
    cum, total = [], 0.0
    for _, w, _ in chosen:
        total += w
        cum.append(total)
    return cum, [(t, b) for t, _, b in chosen]


_CUM = {m: _cumulative(member=m) for m in (False, True)}
_TIER_JOINED = _p_tier_single
_TIER_UP = _p_tier_move(1)
_ORDER_PAID = _p_order("PAID")

# one event before it is shaped: (ms, id, type, created_at, group_id, payload, source)
Event = tuple[int, str, str, str, str, Payload, dict[str, Any]]


def customer_events(
    world: _World, seed: int, index: int, *, late: bool, force_rare: bool
) -> tuple[str, list[Event]]:
    """All events of customer ``index`` in time order: (customer id, events)."""
    rng = random.Random(seed * 1_000_003 + index)
    n = _count(rng)  # its first draw, as in _event_count
    c = _Customer(world, rng, index)
    c.late = late
    cum, table = _CUM[c.member]
    total = cum[-1]
    out: list[Event] = []
    channel = rng.choice(_CHANNELS)
    t = c.t
    pending: list[tuple[str, _Builder]] = []
    if rng.random() < 0.8:
        pending.append(("customer.created", _p_created))
    if c.member:
        pending.append(("customer.loyalty.tier.joined", _TIER_JOINED))
    group = f"v-{_hex(rng, 20)}"
    force_type = force_rare
    while len(out) < n:
        if pending:  # the rest of one request's events: same group, a few ms later
            etype, build = pending.pop(0)
            t += 1 + int(rng.random() * 40)
        else:
            t += 1000 + int(rng.expovariate(1 / (3 * _DAY_MS)))
            group = f"v-{_hex(rng, 20)}"
            if late and (force_type or rng.random() < 0.004):
                force_type = False
                etype, build = LATE_TYPE, _p_wallet
            else:
                etype, build = table[bisect.bisect(cum, rng.random() * total)]
            if etype == "customer.redemption.succeeded":
                pending.append(("customer.order.paid", _ORDER_PAID))
                if c.member:
                    pending.append(
                        ("customer.voucher.loyalty_card.points_added", _p_points_added)
                    )
        ts = _ts(t, millis=rng.random() >= 0.03)
        payload = build(c, ts)
        if (
            etype == "customer.voucher.loyalty_card.points_added"
            and 0 <= c.tier < 3
            and c.points >= _TIERS[c.tier + 1][1]
        ):
            pending.insert(0, ("customer.loyalty.tier.upgraded", _TIER_UP))
        source: dict[str, Any] = {
            "channel": channel if rng.random() < 0.9 else rng.choice(_CHANNELS)
        }
        if source["channel"] == "USER_PORTAL":
            source["user"] = {"id": f"user_{_hex(rng, 16)}"}
        if late and (force_rare or rng.random() < 0.01):
            force_rare = False
            payload = _rare(c, payload, source)
        out.append((t, f"evcus_{_hex(rng, 22)}", etype, ts, group, payload, source))
    return c.id, out


def _rare(c: _Customer, payload: Payload, source: dict[str, Any]) -> Payload:
    """Keys that appear only late in a file (a copy: shared objects stay as they were)."""
    rng = c.rng
    payload = dict(payload)
    payload["attribution"] = {
        "utm_source": rng.choice(("newsletter", "ads", None)),
        "touchpoints": [{"at": 1, "kind": "email"}, {"at": 2, "kind": "wyszukiwarka"}],
        "weight": rng.random(),
    }
    if "campaign" in payload and isinstance(payload["campaign"], dict):
        payload["campaign"] = dict(
            payload["campaign"], ab_test={"variant": "B", "share": 0.5}
        )
    customer = dict(payload["customer"])
    customer["metadata"] = dict(
        customer["metadata"], late_vip_since=_meta_value(rng, "str")
    )
    payload["customer"] = customer
    source["api_key"] = {"name": "Server key ✓", "app_id": f"app_{_hex(rng, 8)}"}
    return payload


def nested(e: Event) -> dict[str, Any]:
    return {
        "id": e[1],
        "type": e[2],
        "created_at": e[3],
        "group_id": e[4],
        "data": {"data": e[5], "event_source": e[6]},
    }


def flat(e: Event) -> dict[str, Any]:
    return {
        "id": e[1],
        "type": e[2],
        "created_at": e[3],
        "group_id": e[4],
        "data": e[5],
    }


# ------------------------------------------------------------------------- chunks


def plan(
    seed: int, events: int, per_chunk: int | None = None
) -> Iterator[tuple[int, int, int, int, int]]:
    """(first customer, customers, events kept, first event index, late) per chunk.

    The last customer is cut so that exactly ``events`` events are written. ``late``
    is 0 for a chunk that starts before ``LATE_FRACTION`` of the events, 1 after,
    and 2 for the first chunk after (its first event carries every rare key).
    """
    if per_chunk is None:  # ~100 chunks at least, so that the last tenth has some
        per_chunk = max(1, min(32, events // 100 // 90))
    done, index, seen_late = 0, 0, False
    while done < events:
        first, keep = index, 0
        for _ in range(per_chunk):
            if done + keep >= events:
                break
            keep += _event_count(seed, index)
            index += 1
        keep = min(keep, events - done)
        late = 0
        if done >= LATE_FRACTION * events:
            late = 1 if seen_late else 2
            seen_late = True
        yield first, index - first, keep, done, late
        done += keep


_WORLDS: dict[int, _World] = {}


def chunk_events(
    seed: int, first: int, customers: int, keep: int, late: int
) -> list[tuple[str, list[Event]]]:
    """The events of one chunk, per customer (the last one cut to ``keep``)."""
    world = _WORLDS.get(seed)
    if world is None:
        world = _WORLDS[seed] = _World(seed)
    out = []
    left = keep
    for i in range(first, first + customers):
        cid, evs = customer_events(
            world, seed, i, late=late > 0, force_rare=late == 2 and i == first
        )
        out.append((cid, evs[:left]))
        left -= len(out[-1][1])
    return out


def _pages(
    rng: random.Random, events: list[Event]
) -> Iterator[tuple[bool, dict[str, Any]]]:
    """One customer's pages, newest event first: (old generation?, page)."""
    newest = [nested(e) for e in reversed(events)]
    old = rng.random() < 0.3
    if not old:
        for k in range(0, len(newest), PAGE_SIZE):
            data = newest[k : k + PAGE_SIZE]
            more = k + PAGE_SIZE < len(newest)
            yield (
                False,
                {
                    "object": "list",
                    "data_ref": "data",
                    "data": data,
                    "has_more": more,
                    "more_starting_after": data[-1]["id"] if more else None,
                },
            )
        return
    k = 0
    while k < len(newest):  # date cursor: a page may repeat the previous boundary event
        data = newest[k : k + PAGE_SIZE]
        yield (
            True,
            {"object": "list", "total": len(newest), "data_ref": "data", "data": data},
        )
        k += PAGE_SIZE
        if k < len(newest) and rng.random() < 0.5:
            k -= 1


def _render(
    args: tuple[str, int, int, int, int, int, int, str],
) -> tuple[bytes, int, int]:
    """One chunk as bytes (line shapes) or files (pagedir): (bytes, records, files)."""
    shape, seed, first, customers, keep, _start, late, outdir = args
    per_customer = chunk_events(seed, first, customers, keep, late)
    dumps = orjson.dumps
    if shape in ("nested", "flat", "mixed"):
        evs = sorted((e for _, es in per_customer for e in es), key=lambda e: e[0])
        if shape == "nested":
            lines = [dumps(nested(e), option=_NL) for e in evs]
        elif shape == "flat":
            lines = [dumps(flat(e), option=_NL) for e in evs]
        else:
            rng = random.Random(f"mixed-{seed}-{first}")
            lines = [
                dumps(nested(e) if rng.random() < 0.5 else flat(e), option=_NL)
                for e in evs
            ]
        return b"".join(lines), len(evs), 0
    rng = random.Random(f"pages-{seed}-{first}")
    if shape == "pages":
        lines, records = [], 0
        for _, evs in per_customer:
            for _, page in _pages(rng, evs):
                records += len(page["data"])
                lines.append(dumps(page, option=_NL))
        return b"".join(lines), records, 0
    size = records = files = 0
    for cid, evs in per_customer:
        folder = Path(outdir) / cid
        folder.mkdir()
        for n, (old, page) in enumerate(_pages(rng, evs), 1):
            if old:  # ASCII only: every non-ASCII character as a \uXXXX escape
                blob = json.dumps(page, indent=2, ensure_ascii=True).encode() + b"\n"
            else:
                blob = dumps(page, option=orjson.OPT_INDENT_2 | _NL)
            (folder / f"page-{n:04d}.json").write_bytes(blob)
            size += len(blob)
            records += len(page["data"])
            files += 1
    return b"", records, files


def _map(
    tasks: Iterator[tuple[str, int, int, int, int, int, int, str]], workers: int
) -> Iterator[tuple[bytes, int, int]]:
    if workers <= 1:
        yield from map(_render, tasks)
        return
    ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with ctx.Pool(workers) as pool:
        yield from pool.imap(_render, tasks, chunksize=1)


def meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def read_meta(path: Path) -> dict[str, Any] | None:
    """The meta of a complete output, or None (missing, or of another version)."""
    mp = meta_path(path)
    if not (path.exists() and mp.is_file()):
        return None
    meta: dict[str, Any] = json.loads(mp.read_text())
    return meta if meta.get("version") == VERSION else None


def write(
    shape: str,
    path: Path,
    events: int,
    *,
    seed: int = 0,
    workers: int | None = None,
    source: Path | None = None,
) -> dict[str, Any]:
    """Write ``events`` events as ``shape`` to ``path`` (atomically); returns the meta.

    ``gzip`` compresses ``source`` (a ``nested`` file of the same events) when given,
    and otherwise generates one next to ``path`` first.
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; one of {', '.join(SHAPES)}")
    workers = workers or os.cpu_count() or 1
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")
    if tmp.is_dir():
        shutil.rmtree(tmp)
    elif tmp.exists():
        tmp.unlink()
    meta: dict[str, Any] = {"version": VERSION, "shape": shape, "seed": seed}
    if shape == "gzip":
        if source is None:
            source = path.with_name(path.name.removesuffix(".gz"))
            if read_meta(source) is None:
                write("nested", source, events, seed=seed, workers=workers)
        src_meta = read_meta(source)
        assert src_meta is not None
        assert src_meta["shape"] == "nested"
        with source.open("rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 22)
        meta |= {k: src_meta[k] for k in ("events", "records", "unique", "raw_bytes")}
        meta |= {"bytes": tmp.stat().st_size, "files": 1}
    else:
        records = files = size = 0
        tasks = ((shape, seed, *c, str(tmp)) for c in plan(seed, events))
        if shape == "pagedir":
            tmp.mkdir(parents=True)
            for _, r, f in _map(tasks, workers):
                records += r
                files += f
            size = sum(p.stat().st_size for p in tmp.rglob("*.json"))
        else:
            with tmp.open("wb") as fh:
                for blob, r, _ in _map(tasks, workers):
                    fh.write(blob)
                    records += r
                    size += len(blob)
            files = 1
        meta |= {
            "events": events,
            "records": records,
            "unique": events,
            "bytes": size,
            "raw_bytes": size,
            "files": files,
        }
    tmp.rename(path)
    meta_path(path).write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def events_for_bytes(target: float, seed: int = 0) -> int:
    """About how many events make a ``nested`` file of ``target`` bytes (+1%)."""
    n = 20_000
    size = sum(
        len(b)
        for b, _, _ in map(_render, (("nested", seed, *c, "") for c in plan(seed, n)))
    )
    return max(1, math.ceil(target / (size / n) * 1.01))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", choices=SHAPES)
    parser.add_argument("out", type=Path)
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--events", type=int)
    size.add_argument("--gb", type=float, help="a nested file of at least this size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    t0 = time.perf_counter()
    events = args.events or events_for_bytes(args.gb * 1e9, args.seed)
    meta = write(args.shape, args.out, events, seed=args.seed, workers=args.workers)
    print(
        f"{args.out}: {meta['records']:,} records ({meta['unique']:,} events), "
        f"{meta['bytes'] / 1e6:,.1f} MB in {meta['files']:,} file(s), "
        f"{time.perf_counter() - t0:.1f} s"
    )


if __name__ == "__main__":
    main()
