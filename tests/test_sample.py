"""The synthetic world: deterministic, realistic, and the same through every output."""

from __future__ import annotations

import warnings

import polars as pl
import pytest

from activity_toolkit import read_events, read_pages, sample
from activity_toolkit.exceptions import UnknownEventTypeWarning
from activity_toolkit.sample import _TIERS, CAMPAIGNS, UNKNOWN_TYPE, sample_world


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
    expected = {"lifecycle", "segment", "messaging", "publication", "validation", "redemption",
                "order", "points", "pending_points", "tier", "reward", "reward_redemption",
                "referral", "custom_event", "holder", "gift_card", "unknown"}
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
    per_group = ev.group_by("group_id").agg(pl.len(), pl.col("created_at").n_unique().alias("ts"))
    assert per_group.filter(pl.col("len") >= 3).height > 0
    ties = per_group.filter((pl.col("len") > 1) & (pl.col("ts") < pl.col("len")))
    assert ties.height > 0  # several events of one request in the same millisecond


def test_legacy_aliases_present(small_log):
    raw = set(small_log.events["type_raw"])
    assert "customer.segment_entered" in raw


def test_tier_events_are_consistent_with_the_points_balance(small_log):
    """After every tier change caused by points, the new tier's range holds the
    running balance of the points event of the same request."""
    bounds = {name: (lo, hi) for _, name, lo, hi in _TIERS}
    changes = pl.concat([
        small_log["customer.loyalty.tier.upgraded"],
        small_log["customer.loyalty.tier.downgraded"],
    ]).select("customer_id", "group_id", "tier_to_name", "tier_from_name")
    assert changes.height > 0
    points = pl.concat(
        [small_log[t].select("customer_id", "group_id", "created_at", "balance")
         for t in small_log.types if t.startswith("customer.voucher.loyalty_card.points_")]
        + [small_log["customer.voucher.loyalty_card.pending_points.activated"].select(
            "customer_id", "group_id", "created_at", "balance")]
    ).sort("created_at").group_by("customer_id", "group_id").agg(pl.col("balance").last())
    joined = changes.join(points, on=["customer_id", "group_id"], how="inner")
    assert joined.height > 0
    for to, frm, bal in joined.select("tier_to_name", "tier_from_name", "balance").iter_rows():
        lo, hi = bounds[to]
        assert bal >= lo, (to, bal)
        assert hi is None or bal <= hi, (to, bal)
        assert to != frm


def test_pages_ndjson_and_log_are_the_same_world(tmp_path):
    world = sample_world(customers=12, seed=5)
    log = quiet(world.to_log)
    from_ndjson = quiet(read_events, world.write_ndjson(tmp_path / "w.ndjson.gz"))
    current = quiet(read_pages, world.write_pages(tmp_path / "cur", limit=7))
    deprecated = quiet(read_pages, world.write_pages(tmp_path / "dep", endpoint="activities", limit=7))
    for other in (from_ndjson, current, deprecated):
        assert other.equals(log)
    flat = quiet(read_events, world.write_ndjson(tmp_path / "flat.ndjson", shape="flat"))
    assert flat.events.drop("group_id", "channel").equals(log.events.drop("group_id", "channel"))
    assert flat.events["group_id"].null_count() == len(flat)


def test_current_pages_follow_the_envelope(tmp_path):
    world = sample_world(customers=3, seed=1)
    pages = list(world.iter_pages(limit=5))
    for cid, _, page in pages:
        assert set(page) == {"object", "data_ref", "data", "has_more", "more_starting_after"}
        if page["has_more"]:
            assert page["more_starting_after"] == page["data"][-1]["id"]
        assert all(e["data"]["data"].get("customer", {}).get("id", cid) for e in page["data"])
    last_pages = [p for _, _, p in pages if not p["has_more"]]
    assert len(last_pages) == 3


def test_exactly_full_last_page_is_followed_by_an_empty_one():
    world = sample_world(customers=1, seed=1)
    (_, evs), = world.iter_customer_events()
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
