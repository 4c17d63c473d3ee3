"""ActivityLog: immutability, lookups, filter, combine, repr."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from conftest import make_event

from activity_toolkit import ActivityLog, read_events


@pytest.fixture
def log():
    return read_events(
        [
            make_event(
                "e1",
                "customer.order.paid",
                "2024-01-31T23:00:00Z",
                customer="c1",
                campaign={"id": "camp_a", "name": "Alpha"},
            ),
            make_event(
                "e2",
                "customer.order.paid",
                "2024-02-01T01:00:00Z",
                customer="c2",
                campaign={"id": "camp_b", "name": "Beta"},
            ),
            make_event(
                "e3",
                "customer.segment_entered",
                "2024-02-02T00:00:00Z",
                customer="c1",
                segment={"id": "s"},
            ),
            make_event(
                "e4",
                "customer.redemption.succeeded",
                "2024-03-01T00:00:00Z",
                customer="c3",
                campaign={"id": "camp_a", "name": "Alpha"},
                voucher={"code": "CODE1"},
            ),
        ]
    )


def test_is_immutable(log):
    with pytest.raises(AttributeError, match="immutable"):
        log.events = None  # type: ignore[misc]
    with pytest.raises(TypeError):
        log.frames["x"] = None  # type: ignore[index]


def test_basic_accessors(log):
    assert len(log) == 4
    assert log.types == (
        "customer.order.paid",
        "customer.redemption.succeeded",
        "customer.segment.entered",
    )
    assert "customer.segment_entered" in log
    assert "customer.order.created" not in log
    assert log.customers.to_list() == ["c1", "c2", "c3"]
    assert sum(f.height for f in log.frames.values()) == len(log)


def test_registered_but_absent_type_gives_an_empty_typed_frame(log):
    frame = log["customer.loyalty.tier.joined"]
    assert frame.height == 0
    assert "tier_name" in frame.columns


def test_unregistered_absent_type_is_a_key_error(log):
    with pytest.raises(KeyError, match="present types"):
        log["customer.nothing.happened"]


def test_filter_by_time_is_half_open_and_naive_means_utc(log):
    feb = log.filter(start=date(2024, 2, 1), end=datetime(2024, 3, 1))
    assert feb.events["id"].to_list() == ["e2", "e3"]
    assert log.filter(start="2024-02-01T01:00:00Z").events["id"][0] == "e2"
    assert log.filter(end=datetime(2024, 2, 1, 1, tzinfo=UTC)).events[
        "id"
    ].to_list() == ["e1"]


def test_filter_by_customers_ids_or_source_ids(log):
    assert log.filter(customers="c1").events["id"].to_list() == ["e1", "e3"]
    assert log.filter(customers=["src-c2", "c3"]).events["id"].to_list() == ["e2", "e4"]


def test_filter_by_campaign_id_or_name_and_by_type_alias(log):
    assert log.filter(campaigns="Alpha").events["id"].to_list() == ["e1", "e4"]
    assert log.filter(campaigns=["camp_b"]).types == ("customer.order.paid",)
    assert log.filter(types="customer.segment_entered").events["id"].to_list() == ["e3"]
    assert log.filter(families="order", customers="c2").events["id"].to_list() == ["e2"]


def test_filter_keeps_frames_consistent(log):
    sub = log.filter(customers="c1")
    assert sub.types == ("customer.order.paid", "customer.segment.entered")
    assert sub["customer.order.paid"]["id"].to_list() == ["e1"]
    assert log.filter() is log


def test_combine_deduplicates_by_id_first_wins(log):
    other = read_events(
        [
            make_event(
                "e2", "customer.order.paid", "2024-02-01T01:00:00Z", customer="CHANGED"
            ),
            make_event("e9", "customer.order.created", "2024-01-01T00:00:00Z"),
        ]
    )
    both = log | other
    assert len(both) == 5
    assert both.events["id"].to_list() == ["e9", "e1", "e2", "e3", "e4"]
    assert both.filter(customers="CHANGED").events.height == 0  # first occurrence kept
    assert both["customer.order.paid"].height == 2
    assert ActivityLog.concat([]).events.height == 0
    assert log.combine().equals(log)


def test_repr_is_readable(log):
    text = repr(log)
    assert text.startswith(
        "ActivityLog(4 events, 3 customers, 3 types, 2024-01-31 23:00:00"
    )
    assert "by family: order 2" in text
    assert repr(ActivityLog.empty()) == "ActivityLog(0 events)"


def test_summary_and_counts(log):
    s = log.summary()
    assert s["events"] == 4
    assert s["customers"] == 3
    assert s["families"] == {"order": 2, "redemption": 1, "segment": 1}
    counts = log.counts()
    assert counts.row(0) == ("order", "customer.order.paid", 2, 2)


def test_the_notebook_display_is_a_card_with_escaped_text():
    import warnings

    from activity_toolkit import read_events

    event = {
        "id": "evt_1",
        "type": "customer.<script>alert(1)</script>",
        "created_at": "2024-05-01T10:00:00.000Z",
        "data": {"customer": {"id": "cust_1"}},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log = read_events([event])
    page = log._repr_html_()
    assert "<script>" not in page
    assert "customer.&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "1 events, 1 customers" in page
    assert "unknown types kept" in page
    assert "0 events" in at_empty_repr()


def at_empty_repr() -> str:
    from activity_toolkit import ActivityLog

    return ActivityLog.empty()._repr_html_()
