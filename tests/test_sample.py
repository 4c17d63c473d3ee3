"""The synthetic world: deterministic, realistic, and the same through every output."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import polars as pl
import pytest

from activity_toolkit import read_events, read_pages, sample
from activity_toolkit.exceptions import UnknownEventTypeWarning
from activity_toolkit.sample import CAMPAIGNS, UNKNOWN_TYPE, sample_world
from activity_toolkit.sample._catalog import TIERS, tier_for


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownEventTypeWarning)
        return fn(*args, **kwargs)


def test_same_seed_same_world_other_seed_other_world():
    a = sample_world(customers=15, seed=3)
    assert a.events == sample_world(customers=15, seed=3).events
    assert a.events != sample_world(customers=15, seed=4).events
    assert sample(customers=15, seed=3).equals(sample(customers=15, seed=3))


def test_sample_does_not_warn_about_its_deliberate_unknown_type():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log = sample(customers=60, seed=2)
    assert UNKNOWN_TYPE in log.types


def test_all_five_campaign_types_and_the_families(small_log):
    types = set(small_log.events["campaign_type"].drop_nulls())
    assert types == {c["campaign_type"] for c in CAMPAIGNS.values()}
    assert len(types) == 5
    expected = {
        "lifecycle",
        "segment",
        "messaging",
        "publication",
        "validation",
        "redemption",
        "order",
        "points",
        "pending_points",
        "tier",
        "reward",
        "reward_redemption",
        "referral",
        "custom_event",
        "holder",
        "gift_card",
        "unknown",
    }
    assert expected <= set(small_log.events["family"])


def test_journeys_have_failures_rollbacks_and_drop_off(small_log):
    assert small_log["customer.validation.failed"]["failure_code"].null_count() == 0
    assert small_log["customer.redemption.failed"]["failure_code"].null_count() == 0
    assert small_log["customer.redemption.rollback.succeeded"].height > 0
    pubs = small_log["customer.publication.succeeded"].height
    reds = small_log["customer.redemption.succeeded"].height
    assert 0 < reds < pubs


def test_request_events_share_group_id_and_often_the_millisecond(small_log):
    ev = small_log.events
    per_group = ev.group_by("group_id").agg(
        pl.len(), pl.col("created_at").n_unique().alias("ts")
    )
    assert per_group.filter(pl.col("len") >= 3).height > 0
    ties = per_group.filter((pl.col("len") > 1) & (pl.col("ts") < pl.col("len")))
    assert ties.height > 0  # several events of one request in the same millisecond


def test_legacy_aliases_present(small_log):
    raw = set(small_log.events["type_raw"])
    assert "customer.segment_entered" in raw


def _ledger(log):
    """Every loyalty event of the log in (created_at, id) order with its signed points
    change, the balance it reports (if any) and its tier effect."""

    def part(t, delta, reported=None, tier=None):
        f = log[t]
        return f.select(
            "customer_id",
            "created_at",
            "id",
            "type",
            (delta if delta is not None else pl.lit(0)).cast(pl.Int64).alias("delta"),
            (reported if reported is not None else pl.lit(None))
            .cast(pl.Int64)
            .alias("reported"),
            (tier if tier is not None else pl.lit(None)).cast(pl.String).alias("tier"),
        )

    p = "customer.voucher.loyalty_card."
    parts = [
        part(p + "points_added", pl.col("points_change"), pl.col("balance")),
        part(p + "points_transferred", pl.col("points_change"), pl.col("balance")),
        part(p + "points_expired", pl.col("points_change")),
        part(p + "pending_points.activated", pl.col("points"), pl.col("balance")),
        part("customer.reward_redemptions.completed", -pl.col("reward_points")),
        part("customer.reward_redemptions.rolledback", pl.col("reward_points")),
        part(
            "customer.redemption.succeeded",
            pl.when(pl.col("voucher_type") == "LOYALTY_CARD").then(
                -pl.col("redemption_amount")
            ),
        ),
        part("customer.loyalty.tier.joined", None, None, pl.col("tier_name")),
        part("customer.loyalty.tier.upgraded", None, None, pl.col("tier_to_name")),
        part("customer.loyalty.tier.downgraded", None, None, pl.col("tier_to_name")),
        part("customer.loyalty.tier.left", None, None, pl.lit("(none)")),
    ]
    return (
        pl.concat(parts)
        .with_columns(pl.col("delta").fill_null(0))
        .sort("customer_id", "created_at", "id")
    )


def test_loyalty_balances_and_tiers_follow_the_points_ledger(small_log):
    """Replaying every points change in time order reproduces each reported balance,
    never goes negative, and every member's tier is the one their balance earns."""
    names = [name for _, name, _, _ in TIERS]
    ledger = _ledger(small_log)
    assert (
        ledger.filter(pl.col("type").str.contains("redemption.succeeded"))
        .filter(pl.col("delta") < 0)
        .height
        > 0
    )
    assert ledger.filter(pl.col("type").str.contains("downgraded")).height > 0
    checked = 0
    for (_,), rows in ledger.group_by("customer_id"):
        balance, tier, expected = 0, None, None
        for _, _, _, typ, delta, reported, to in rows.iter_rows():
            if to is not None:  # a tier event
                tier = None if to == "(none)" else to
                expected = None
                if typ.endswith("joined"):
                    assert tier == names[tier_for(balance)]
                continue
            if expected is not None and tier is not None:
                assert tier == expected  # the change was followed by its tier event
            balance += delta
            assert balance >= 0
            if reported is not None:
                assert reported == balance
                checked += 1
            expected = names[tier_for(balance)] if tier is not None else None
        if expected is not None and tier is not None:
            assert tier == expected
    assert checked > 100


def test_pages_ndjson_and_log_are_the_same_world(tmp_path):
    world = sample_world(customers=12, seed=5)
    log = quiet(world.to_log)
    from_ndjson = quiet(read_events, world.write_ndjson(tmp_path / "w.ndjson.gz"))
    current = quiet(read_pages, world.write_pages(tmp_path / "cur", limit=7))
    deprecated = quiet(
        read_pages, world.write_pages(tmp_path / "dep", endpoint="activities", limit=7)
    )
    for other in (from_ndjson, current, deprecated):
        assert other.equals(log)
    flat = quiet(
        read_events, world.write_ndjson(tmp_path / "flat.ndjson", shape="flat")
    )
    assert flat.events.drop("group_id", "channel").equals(
        log.events.drop("group_id", "channel")
    )
    assert flat.events["group_id"].null_count() == len(flat)


def test_current_pages_follow_the_envelope(tmp_path):
    world = sample_world(customers=3, seed=1)
    pages = list(world.iter_pages(limit=5))
    for cid, _, page in pages:
        assert set(page) == {
            "object",
            "data_ref",
            "data",
            "has_more",
            "more_starting_after",
        }
        if page["has_more"]:
            assert page["more_starting_after"] == page["data"][-1]["id"]
        assert all(
            e["data"]["data"].get("customer", {}).get("id", cid) for e in page["data"]
        )
    last_pages = [p for _, _, p in pages if not p["has_more"]]
    assert len(last_pages) == 3


def test_exactly_full_last_page_is_followed_by_an_empty_one():
    world = sample_world(customers=1, seed=1)
    ((_, evs),) = world.iter_customer_events()
    pages = [p for _, _, p in world.iter_pages(limit=len(evs))]
    assert [len(p["data"]) for p in pages] == [len(evs), 0]
    assert pages[0]["has_more"] is True
    assert pages[1]["has_more"] is False


def test_customers_list_has_same_millisecond_bulk_imports():
    world = sample_world(customers=400, seed=0)
    created = [c["created_at"] for c in world.customers]
    assert created == sorted(created)
    assert len(set(created)) < len(created)


def test_bad_parameters():
    with pytest.raises(ValueError, match="customers"):
        sample_world(customers=-1)
    with pytest.raises(ValueError, match="after start"):
        sample_world(start="2024-02-01", end="2024-01-01")


@pytest.mark.slow
def test_parallel_generation_gives_the_same_bytes():
    world = sample_world(customers=2_100, seed=9, start="2025-01-01", end="2025-04-01")
    serial = b"".join(world.iter_ndjson(workers=1))
    parallel = b"".join(world.iter_ndjson(workers=2))
    assert serial == parallel
    assert serial.count(b"\n") > 10_000


def test_sample_uses_other_packages_only_through_their_public_names():
    """No ``activity_toolkit.<package>._<module>`` import outside the sample package
    (the io builder is reached through ``activity_toolkit.io``)."""
    package = Path(sample_world.__code__.co_filename).parent
    bad = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                if (
                    parts[0] == "activity_toolkit"
                    and len(parts) > 2
                    and parts[1] != "sample"
                    and any(part.startswith("_") for part in parts[2:])
                ):
                    bad.append(f"{path.name} imports {module}")
    assert bad == []
