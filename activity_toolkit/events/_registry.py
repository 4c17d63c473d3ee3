"""The event-type registry: every known type string, its family and its typed fields.

The registry is data, not behaviour: frozen :class:`Field` and :class:`EventSpec`
values in read-only mappings. A reader turns each event's payload into the columns its
spec names; an unknown type gets the common columns only (family ``unknown``).

Field paths are relative to the event payload (``data.data`` in API list responses,
``data`` in webhook-style events). Several paths for one column are tried in order
(the first non-null wins), which is how one column can serve payload variants.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

__all__ = [
    "ALIASES",
    "COMMON_FIELDS",
    "EVENT_COLUMNS",
    "FAMILIES",
    "REGISTRY",
    "EventSpec",
    "Field",
    "FieldKind",
    "canonical_type",
    "did_you_mean",
    "family_of",
]

FieldKind = Literal[
    "str", "int", "float", "bool", "datetime", "json", "items", "redeemables"
]
"""How a payload value becomes a column.

``str``/``int``/``float``/``bool`` keep the JSON scalar (money and points are integer
minor units); ``datetime`` parses an ISO 8601 string to ``Datetime("ms", "UTC")``;
``json`` keeps an object or array as its JSON text; ``items`` is an order's line items
and ``redeemables`` a validation's redeemables, each as ``List(Struct)``.

A value that does not fit its column is null there, and ``payload`` keeps it: integer
columns take integral numbers (``100``, ``100.0``, ``1e2``) and strings of digits, never
a rounded ``1.5``; string columns take any value, objects and arrays as their JSON
text. Inside ``items`` and ``redeemables`` values are typed alike (numbers there must
be written as integers), and an element that is not an object becomes a struct of
nulls.
"""


@dataclass(frozen=True, slots=True)
class Field:
    """One typed column of a per-type frame.

    Parameters
    ----------
    column
        Output column name.
    paths
        Dotted payload paths tried in order; the first value that fits the column's
        type wins. Keys are plain names (no empty key, quote, backslash or ``*``).
    kind
        How the value is typed (see :data:`FieldKind`).
    """

    column: str
    paths: tuple[str, ...]
    kind: FieldKind = "str"

    def __post_init__(self) -> None:
        if not isinstance(self.paths, tuple) or not self.paths:
            msg = f"field {self.column!r} needs a non-empty tuple of payload paths"
            raise ValueError(msg)
        for path in self.paths:
            if any(not key or set(key) & set('"\\*') for key in path.split(".")):
                msg = f"field {self.column!r}: {path!r} is not a dotted path of plain keys"
                raise ValueError(msg)


def _f(column: str, *paths: str, kind: FieldKind = "str") -> Field:
    return Field(column, paths, kind)


#: Columns of the unified ``events`` frame, in order. A contract other modules rely on.
EVENT_COLUMNS: tuple[str, ...] = (
    "id",
    "type",
    "type_raw",
    "family",
    "customer_id",
    "customer_source_id",
    "created_at",
    "group_id",
    "channel",
    "campaign_id",
    "campaign_name",
    "campaign_type",
    "voucher_code",
    "payload",
)

#: Payload fields every event is searched for (they fill the common columns).
COMMON_FIELDS: tuple[Field, ...] = (
    _f(
        "customer_id", "customer.id", "holder.customer_id", "pending_points.customer_id"
    ),
    _f("customer_source_id", "customer.source_id"),
    _f(
        "campaign_id",
        "campaign.id",
        "voucher.campaign_id",
        "holder.campaign_id",
        "loyalty_tier.campaign_id",
        "loyalty_tier_to.campaign_id",
        "pending_points.campaign_id",
    ),
    _f(
        "campaign_name",
        "campaign.name",
        "voucher.campaign",
        "publication.voucher.campaign",
    ),
    _f("campaign_type", "campaign.campaign_type", "holder.campaign_type"),
    _f(
        "voucher_code",
        "voucher.code",
        "publication.voucher.code",
        "redemption.voucher.code",
    ),
)

_ORDER_ITEM_FIELDS = ("product_id", "sku_id", "quantity", "price", "amount")

_VOUCHER = (
    _f("voucher_id", "voucher.id"),
    _f("voucher_type", "voucher.type"),
)
_ORDER = (
    _f("order_id", "order.id"),
    _f("order_source_id", "order.source_id"),
    _f("order_status", "order.status"),
    _f("order_amount", "order.amount", kind="int"),
    _f("order_discount_amount", "order.discount_amount", kind="int"),
    _f("order_total_discount_amount", "order.total_discount_amount", kind="int"),
    _f("order_total_amount", "order.total_amount", kind="int"),
    _f("order_items", "order.items", kind="items"),
)
_TIER = (
    _f("tier_id", "loyalty_tier.id"),
    _f("tier_name", "loyalty_tier.name"),
    _f("tier_points_from", "loyalty_tier.points.from", kind="int"),
    _f("tier_points_to", "loyalty_tier.points.to", kind="int"),
    _f("tier_from_id", "loyalty_tier_from.id"),
    _f("tier_from_name", "loyalty_tier_from.name"),
    _f("tier_to_id", "loyalty_tier_to.id"),
    _f("tier_to_name", "loyalty_tier_to.name"),
    _f(
        "tier_expiration_date",
        "expiration_date",
        "loyalty_tier.expiration.expiration_date",
        "loyalty_tier_to.expiration.expiration_date",
        kind="datetime",
    ),
)
_BALANCE = (
    _f("points", "balance.points", kind="int"),
    _f("balance", "balance.balance", kind="int"),
    _f("transaction_id", "transaction.id"),
    _f("transaction_type", "transaction.type"),
    _f("transaction_reason", "transaction.reason"),
)

_FAMILY_FIELDS: dict[str, tuple[Field, ...]] = {
    "lifecycle": (
        _f("customer_name", "customer.name"),
        _f("customer_email", "customer.email"),
        _f("customer_created_at", "customer.created_at", kind="datetime"),
        _f("customer_metadata", "customer.metadata", kind="json"),
        _f("unconfirmed_customer_id", "unconfirmed_customer.id"),
    ),
    "segment": (
        _f("segment_id", "segment.id"),
        _f("segment_name", "segment.name"),
    ),
    "messaging": (
        _f("message_at", "sent_at", "recovered_at", "failed_at", kind="datetime"),
        _f("distribution_id", "distribution.id"),
        _f("distribution_name", "distribution.name"),
    ),
    "publication": (
        _f("publication_id", "publication.id"),
        _f("publication_result", "publication.result"),
        _f("publication_channel", "publication.channel"),
        _f("publication_source_id", "publication.source_id"),
        _f("tracking_id", "publication.tracking_id"),
        _f("failure_code", "publication.failure_code"),
        _f("failure_message", "publication.failure_message"),
        _f("voucher_type", "publication.voucher.type", "campaign.voucher.type"),
    ),
    "validation": (
        _f("validation_id", "validation.id"),
        _f("validation_status", "validation.status"),
        _f("session_id", "validation.session_id"),
        _f("redeemables", "validation.redeemables", kind="redeemables"),
        _f(
            "inapplicable_redeemables",
            "validation.inapplicable_redeemables",
            kind="redeemables",
        ),
    ),
    "redemption": (
        _f("redemption_id", "redemption.id"),
        _f("redemption_result", "redemption.result"),
        _f("redemption_status", "redemption.status"),
        _f("failure_code", "redemption.failure_code"),
        _f("failure_message", "redemption.failure_message"),
        _f("redemption_amount", "redemption.amount", kind="int"),
        _f("tracking_id", "redemption.tracking_id"),
        _f("redemption_channel_type", "redemption.channel.channel_type"),
        *_VOUCHER,
        _f("holder_id", "holder.id", "voucher.holder_id"),
        _f("promotion_tier_id", "promotion_tier.id"),
        *_ORDER,
        _f("rollback_id", "redemption_rollback.id"),
        _f("rollback_amount", "redemption_rollback.amount", kind="int"),
        _f("rollback_reason", "redemption_rollback.reason"),
        _f("rollback_result", "redemption_rollback.result"),
        _f("rollback_status", "redemption_rollback.status"),
        _f("rollback_failure_code", "redemption_rollback.failure_code"),
    ),
    "order": (
        *_ORDER,
        _f("order_initial_amount", "order.initial_amount", kind="int"),
        _f("referrer_id", "referrer.id", "order.referrer_id"),
        _f("redemption_id", "redemption.id"),
    ),
    "points": (
        *_VOUCHER,
        *_BALANCE,
        _f("expired_points", "points", kind="int"),
        _f("earning_rule_id", "earning_rule.id"),
        _f("trigger_event_type", "event.type"),
        _f("tier_id", "loyalty_tier.id"),
        _f("order_id", "order.id"),
        _f("order_amount", "order.amount", kind="int"),
        _f("source_voucher_code", "source_voucher.code"),
        _f("destination_voucher_code", "destination_voucher.code"),
    ),
    "pending_points": (
        *_VOUCHER,
        _f("pending_points_id", "pending_points.id"),
        _f("pending_points", "pending_points.points", kind="int"),
        _f("activates_at", "pending_points.activates_at", kind="datetime"),
        _f("pending_balance", "voucher_pending_points_balance.balance", kind="int"),
        _f("points", "balance.points", kind="int"),
        _f("balance", "balance.balance", kind="int"),
        _f("transaction_type", "transaction.type"),
        _f("order_id", "order.id", "pending_points.order_id"),
        _f("order_amount", "order.amount", kind="int"),
    ),
    "tier": _TIER,
    "loyalty": (_f("loyalty", "loyalty", kind="json"),),
    "reward": (
        _f("reward_id", "reward.id"),
        _f("reward_name", "reward.name"),
        _f("reward_type", "reward.type"),
        _f("holder_id", "holder.id"),
        _f("redemption_id", "redemption.id"),
        _f("referral_tier_id", "referral_tier.id"),
        _f("points", "balance.points", kind="int"),
        _f("balance", "balance.balance", kind="int"),
    ),
    "reward_redemption": (
        _f("reward_redemption_id", "reward_redemption.id"),
        _f("reward_redemption_state", "reward_redemption.state"),
        _f("reward_id", "reward.id", "reward_assignment.reward_id"),
        _f("reward_name", "reward.name"),
        _f("reward_type", "reward.type"),
        _f("reward_assignment_id", "reward_assignment.id"),
        _f("reward_points", "reward_assignment.parameters.loyalty.points", kind="int"),
        *_VOUCHER,
        _f("holder_id", "holder.id"),
    ),
    "referral": (
        _f("referrer_id", "referrer.id"),
        _f("referrer_source_id", "referrer.source_id"),
        _f("redemption_id", "redemption.id"),
        _f("custom_event_id", "custom_event.id"),
    ),
    "custom_event": (
        _f("custom_event_id", "event.id"),
        _f("custom_event_name", "event.type"),
        _f("event_schema_id", "event_schema.id"),
        _f("event_schema_name", "event_schema.name"),
        _f("event_metadata", "event.metadata", kind="json"),
    ),
    "holder": (
        _f("holder_id", "holder.id"),
        _f("holder_role", "holder.holder_role"),
        _f("redeemable_id", "holder.redeemable_id"),
        _f("publication_id", "holder.publication_id"),
        _f("voucher_type", "holder.voucher_type", "voucher.type"),
    ),
    "consent": (_f("consents", "consents", kind="json"),),
    "voucher": _VOUCHER,
    "gift_card": (
        *_VOUCHER,
        _f("gift_amount", "voucher.gift.amount", kind="int"),
        _f("amount_added", "balance.points", "balance.amount", kind="int"),
        _f("balance", "balance.balance", kind="int"),
        _f("transaction_id", "transaction.id"),
        _f("transaction_type", "transaction.type"),
    ),
    "unknown": (),
}

_MESSAGING_CHANNELS = (
    "activecampaign",
    "batch",
    "braze",
    "email",
    "intercom",
    "klaviyo",
    "mailchimp",
    "shopify",
    "sms",
)

#: Canonical type strings by family (76 canonical names; with the legacy
#: ``customer.segment_entered`` spelling the catalogue has 77 distinct strings).
FAMILIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "lifecycle": (
            "customer.confirmed",
            "customer.created",
            "customer.deleted",
            "customer.updated",
        ),
        "segment": ("customer.segment.entered", "customer.segment.left"),
        "messaging": tuple(
            f"customer.{channel}.{outcome}"
            for channel in _MESSAGING_CHANNELS
            for outcome in ("failed", "recovered", "sent")
        ),
        "publication": (
            "customer.publication.failed",
            "customer.publication.succeeded",
        ),
        "validation": ("customer.validation.failed", "customer.validation.succeeded"),
        "redemption": (
            "customer.redemption.failed",
            "customer.redemption.rollback.failed",
            "customer.redemption.rollback.succeeded",
            "customer.redemption.succeeded",
        ),
        "order": tuple(
            f"customer.order.{s}"
            for s in (
                "canceled",
                "created",
                "fulfilled",
                "paid",
                "processing",
                "updated",
            )
        ),
        "points": (
            "customer.rewarded.loyalty_points",
            "customer.voucher.loyalty_card.points_activated",
            "customer.voucher.loyalty_card.points_added",
            "customer.voucher.loyalty_card.points_expired",
            "customer.voucher.loyalty_card.points_transferred",
        ),
        "pending_points": tuple(
            f"customer.voucher.loyalty_card.pending_points.{s}"
            for s in ("activated", "added", "canceled", "updated")
        ),
        "tier": tuple(
            f"customer.loyalty.tier.{s}"
            for s in (
                "downgraded",
                "expiration.changed",
                "joined",
                "left",
                "prolonged",
                "upgraded",
            )
        ),
        "loyalty": ("customer.loyalty.updated",),
        "reward": ("customer.rewarded",),
        "reward_redemption": tuple(
            f"customer.reward_redemptions.{s}"
            for s in ("completed", "created", "pending", "rolledback")
        ),
        "referral": ("customer.referred",),
        "custom_event": ("customer.custom_event",),
        "holder": (
            "customer.holder.assignment.created",
            "customer.holder.assignment.deleted",
        ),
        "consent": ("customer.consents.given", "customer.consents.revoked"),
        "voucher": ("customer.voucher.deleted",),
        "gift_card": ("customer.voucher.gift.balance_added",),
    }
)

#: Legacy and misspelt type strings → canonical name. The original stays in ``type_raw``.
ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "customer.segment_entered": "customer.segment.entered",
        "customer.entered.segment": "customer.segment.entered",
        "customer.redemption.succceeded": "customer.redemption.succeeded",
        "customer.redemption.rollback.succceeded": "customer.redemption.rollback.succeeded",
    }
)


@dataclass(frozen=True, slots=True)
class EventSpec:
    """What the toolkit knows about one canonical event type."""

    type: str
    family: str
    fields: tuple[Field, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """The typed columns this type's frame adds after the common columns."""
        return tuple(f.column for f in self.fields)


REGISTRY: Mapping[str, EventSpec] = MappingProxyType(
    {
        t: EventSpec(t, family, _FAMILY_FIELDS[family])
        for family, types in FAMILIES.items()
        for t in types
    }
)

UNKNOWN_FAMILY = "unknown"


def canonical_type(type_raw: str) -> str:
    """Return the canonical spelling of a type string (itself when already canonical
    or unknown).

    Examples
    --------
    >>> canonical_type("customer.segment_entered")
    'customer.segment.entered'
    >>> canonical_type("customer.order.paid")
    'customer.order.paid'
    """
    return ALIASES.get(type_raw, type_raw)


def family_of(event_type: str) -> str:
    """Return the family of a type string, ``"unknown"`` when it is not registered.

    Examples
    --------
    >>> family_of("customer.loyalty.tier.upgraded")
    'tier'
    >>> family_of("customer.redemption.succceeded")
    'redemption'
    >>> family_of("customer.teleported")
    'unknown'
    """
    spec = REGISTRY.get(canonical_type(event_type))
    return spec.family if spec else UNKNOWN_FAMILY


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'a' or 'b'?"`` with the names closest to ``name``, or ``""``.

    >>> did_you_mean("customer.ordr.paid", ["customer.order.paid", "x"])
    "; did you mean 'customer.order.paid'?"
    """
    close = difflib.get_close_matches(
        name, list(dict.fromkeys(candidates)), n=3, cutoff=0.6
    )
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
