"""The event-type registry against the machine-readable catalogue in tests/data."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from activity_toolkit.events import (
    ALIASES,
    EVENT_COLUMNS,
    EVENTS_SCHEMA,
    FAMILIES,
    REGISTRY,
    canonical_type,
    empty_frame,
    family_of,
    frame_schema,
)

CATALOG = json.loads(
    (Path(__file__).parent / "data" / "event_catalog.json").read_text()
)
CATALOG_TYPES = {k for k in CATALOG if not k.startswith("_")}


def test_catalog_counts_are_what_the_registry_is_built_from():
    assert CATALOG["_meta"]["counts"]["event_types"] == 77
    assert len(CATALOG_TYPES) == 77


def test_every_catalog_type_string_is_known():
    known = set(REGISTRY) | set(ALIASES)
    assert CATALOG_TYPES - known == set()
    # 76 canonical names + the legacy spelling customer.segment_entered = 77 strings
    assert len(REGISTRY) == 76
    assert set(REGISTRY) | {"customer.segment_entered"} == CATALOG_TYPES


def test_catalog_aliases_map_to_the_same_canonical_names():
    assert dict(ALIASES) == CATALOG["_aliases"]
    for alias, target in ALIASES.items():
        assert canonical_type(alias) == target
        assert family_of(alias) == REGISTRY[target].family


def test_families_partition_the_registry():
    listed = [t for types in FAMILIES.values() for t in types]
    assert len(listed) == len(set(listed)) == len(REGISTRY)
    for family, types in FAMILIES.items():
        for t in types:
            assert REGISTRY[t].family == family


@pytest.mark.parametrize(
    ("catalog_family", "ours"),
    [
        ("messaging", "messaging"),
        ("customer_lifecycle", "lifecycle"),
        ("loyalty_tier", "tier"),
        ("loyalty_points", "points"),
        ("loyalty_pending_points", "pending_points"),
        ("holder_assignment", "holder"),
        ("redemption", "redemption"),
        ("order", "order"),
    ],
)
def test_family_membership_matches_the_catalogue(catalog_family, ours):
    expected = {canonical_type(t) for t in CATALOG["_families"][catalog_family]}
    assert expected == set(FAMILIES[ours])


def test_unknown_types_fall_in_family_unknown():
    assert family_of("customer.teleported") == "unknown"
    assert canonical_type("customer.teleported") == "customer.teleported"


def test_typed_field_paths_exist_in_the_catalogue_for_their_family():
    """Every path a spec reads is documented for at least one type of its family
    (paths the catalogue leaves untyped, such as order.items[], are checked by prefix)."""
    missing = []
    for spec in REGISTRY.values():
        documented: set[str] = set()
        for t in FAMILIES[spec.family]:
            for key in (t, *(a for a, c in ALIASES.items() if c == t)):
                documented |= set(CATALOG.get(key, {}).get("fields", {}))
                documented |= set(CATALOG.get(key, {}).get("data_keys", []))
        if not documented:  # e.g. points_activated has no schema in the spec
            continue
        for field in spec.fields:
            if not any(
                p in documented
                or any(
                    d.startswith(p + ".") or p.startswith(d + ".") for d in documented
                )
                for p in field.paths
            ):
                missing.append((spec.type, field.column, field.paths))
    assert missing == []


def test_events_schema_is_the_column_contract():
    assert tuple(EVENTS_SCHEMA) == EVENT_COLUMNS
    assert EVENTS_SCHEMA["created_at"] == pl.Datetime("ms", "UTC")


@pytest.mark.parametrize("event_type", sorted(REGISTRY))
def test_every_type_has_a_typed_frame_schema_starting_with_the_common_columns(
    event_type,
):
    schema = frame_schema(event_type)
    assert tuple(schema)[: len(EVENT_COLUMNS)] == EVENT_COLUMNS
    assert empty_frame(event_type).height == 0


def test_money_and_points_columns_are_integers():
    red = frame_schema("customer.redemption.succeeded")
    for col in (
        "order_amount",
        "order_total_discount_amount",
        "order_total_amount",
        "redemption_amount",
    ):
        assert red[col] == pl.Int64
    pts = frame_schema("customer.voucher.loyalty_card.points_added")
    for col in ("points", "balance", "points_change"):
        assert pts[col] == pl.Int64
    tier = frame_schema("customer.loyalty.tier.upgraded")
    assert tier["tier_expiration_date"] == pl.Datetime("ms", "UTC")
    assert {"tier_from_id", "tier_from_name", "tier_to_id", "tier_to_name"} <= set(tier)
