"""read_events / read_pages: shapes, seeds, aliases, unknown types, dedupe, errors."""

from __future__ import annotations

import gzip
import json
import warnings
from datetime import UTC, datetime

import orjson
import polars as pl
import pytest
from conftest import make_event, seed_000_event, seed_004_page

from activity_toolkit import EVENT_COLUMNS, read_events, read_pages
from activity_toolkit.exceptions import (
    InputError,
    InvalidEventError,
    InvalidJSONError,
    InvalidPageError,
    SkippedRecordsWarning,
    UnknownEventTypeWarning,
)
from activity_toolkit.io import _builder


def write_ndjson(path, events):
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    return path


# -- the seed documents ----------------------------------------------------------------
def test_seed_000_flat_publication_loads_with_the_right_values():
    log = read_events([seed_000_event()])
    assert log.events.columns == list(EVENT_COLUMNS)
    row = log.events.row(0, named=True)
    assert row["id"] == "event_Y9x2d0kte0IYgg4arcQo2x2rW0dYFW"
    assert row["type"] == row["type_raw"] == "customer.publication.succeeded"
    assert row["family"] == "publication"
    assert row["customer_id"] == "cust_U8B00DeMjOm9D1Y3JZqi5Eps"
    assert row["customer_source_id"] == "test_customer_id_2"
    assert row["created_at"] == datetime(2020, 5, 15, 16, 14, 35, 303000, tzinfo=UTC)
    assert row["group_id"] is None
    assert row["channel"] is None
    assert row["campaign_id"] == "camp_ndaz4erJIds626zgTqqMCP4p"
    assert row["campaign_name"] == "Unique Gift Card"
    assert row["campaign_type"] == "GIFT_VOUCHERS"
    assert row["voucher_code"] == "bzB0zHDB"
    assert json.loads(row["payload"]) == seed_000_event()["data"]

    pub = log["customer.publication.succeeded"].row(0, named=True)
    assert pub["publication_id"] == "pub_8bFKw0AJl6D9kQuRUoVeOGMHMSBg8dXj"
    assert pub["publication_result"] == "SUCCESS"
    assert pub["publication_channel"] == "voucherify-website"
    assert pub["tracking_id"] == "test_customer_id_2"
    assert pub["failure_code"] is None


def test_seed_004_nested_page_loads_with_the_right_values():
    page = seed_004_page()
    log = read_pages(page)
    assert len(log) == 1
    row = log.events.row(0, named=True)
    assert row["id"] == "evcus_0c150c51730c6b60b1"
    assert row["type"] == "customer.confirmed"
    assert row["family"] == "lifecycle"
    assert row["group_id"] == "v-1f36113948e50fc4ge"
    assert row["channel"] == "API"
    assert row["created_at"] == datetime(2022, 8, 30, 9, 14, 7, 660000, tzinfo=UTC)
    assert json.loads(row["payload"]) == page["data"][0]["data"]["data"]
    confirmed = log["customer.confirmed"].row(0, named=True)
    assert confirmed["unconfirmed_customer_id"] == "ucust_1qa70mVfYkl11Ab0ZxDPdWNa"
    assert confirmed["customer_created_at"] == datetime(
        2022, 8, 30, 6, 32, 7, 380000, tzinfo=UTC
    )
    assert json.loads(confirmed["customer_metadata"]) == {}


def test_both_payload_shapes_give_the_same_frames():
    events = [
        make_event(
            "e1",
            "customer.order.paid",
            order={"id": "o1", "amount": 1250, "status": "PAID"},
        ),
        make_event(
            "e2", "customer.segment.left", segment={"id": "seg_1", "name": "VIP"}
        ),
    ]
    flat = [
        make_event(
            "e1",
            "customer.order.paid",
            nested=False,
            order={"id": "o1", "amount": 1250, "status": "PAID"},
        ),
        make_event(
            "e2",
            "customer.segment.left",
            nested=False,
            segment={"id": "seg_1", "name": "VIP"},
        ),
    ]
    a, b = read_events(events), read_events(flat)
    drop = ["group_id", "channel"]
    assert a.events.drop(drop).equals(b.events.drop(drop))
    for t in a.types:
        assert a[t].drop(drop).equals(b[t].drop(drop))
    assert a["customer.order.paid"].select(
        "order_id", "order_amount", "order_status"
    ).row(0) == (
        "o1",
        1250,
        "PAID",
    )


def test_mixed_shapes_in_one_file(tmp_path):
    events = [
        make_event("e1", segment={"id": "s"}, type="customer.segment.entered"),
        make_event(
            "e2", nested=False, segment={"id": "t"}, type="customer.segment.entered"
        ),
    ]
    log = read_events(write_ndjson(tmp_path / "mixed.ndjson", events))
    assert log["customer.segment.entered"]["segment_id"].to_list() == ["s", "t"]


@pytest.mark.parametrize(
    ("head", "late"),
    [(False, True), (True, False), (False, False)],
    ids=["flat-head-late-nested", "nested-head-late-flat", "flat-with-channels"],
)
def test_whole_file_shape_guess_is_only_a_first_try(tmp_path, monkeypatch, head, late):
    """The whole-file reader picks its query from the first MiB; a row of the other
    shape past it (or webhook rows that carry a channel) must still load as the
    text-by-text path loads it, and without falling back to that path."""
    from activity_toolkit.io import _readers

    filler = "x" * 2000  # ~1,000 events fill the first MiB
    events = [
        make_event(f"e{i:05d}", nested=head, segment={"id": f"s{i}"}, note=filler)
        for i in range(1200)
    ]
    tail = make_event("z1", nested=late, segment={"id": "late"})
    if head == late:  # webhook events that carry their channel
        for e in events[::100]:
            e["data"]["event_source"] = {"channel": "WEBHOOK"}
        tail["data"]["event_source"] = {"channel": "LATE"}
    path = write_ndjson(tmp_path / "events.ndjson", [*events, tail])
    assert path.stat().st_size > 2 << 20
    fallbacks = []
    feed = _readers._read_whole

    def spy(*args):
        ok = feed(*args)
        fallbacks.append(not ok)
        return ok

    monkeypatch.setattr(_readers, "_read_whole", spy)
    from_file = read_events(path)
    assert fallbacks == [False]
    from_dicts = read_events([*events, tail])
    assert from_file.events.equals(from_dicts.events)
    late_row = from_file.events.filter(pl.col("id") == "z1").row(0, named=True)
    assert json.loads(late_row["payload"])["segment"] == {"id": "late"}
    if head == late:
        channels = from_file.events["channel"].drop_nulls().to_list()
        assert channels == ["WEBHOOK"] * 12 + ["LATE"]
    else:
        assert late_row["channel"] == ("API" if late else None)


# -- aliases and unknown types ---------------------------------------------------------
def test_aliases_become_canonical_and_keep_type_raw():
    events = [
        make_event("e1", "customer.segment_entered", segment={"id": "s1", "name": "A"}),
        make_event(
            "e2",
            "customer.redemption.succceeded",
            "2024-05-01T10:00:01.000Z",
            redemption={"id": "r1", "result": "SUCCESS"},
        ),
        make_event(
            "e3",
            "customer.segment.entered",
            "2024-05-01T10:00:02.000Z",
            segment={"id": "s2"},
        ),
    ]
    log = read_events(events)
    assert log.types == ("customer.redemption.succeeded", "customer.segment.entered")
    seg = log["customer.segment_entered"]  # lookup by alias works too
    assert seg["type_raw"].to_list() == [
        "customer.segment_entered",
        "customer.segment.entered",
    ]
    assert seg["segment_id"].to_list() == ["s1", "s2"]
    assert log["customer.redemption.succeeded"]["redemption_id"].to_list() == ["r1"]


def test_unknown_type_is_kept_and_warned_once_per_type():
    events = [
        make_event("e1", "customer.hologram.beamed", extra={"x": 1}),
        make_event("e2", "customer.hologram.beamed", "2024-05-01T10:00:01.000Z"),
        make_event("e3", "customer.wallet.topped_up", "2024-05-01T10:00:02.000Z"),
        make_event("e4", "customer.order.paid", "2024-05-01T10:00:03.000Z"),
    ]
    with pytest.warns(UnknownEventTypeWarning) as record:
        log = read_events(events)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert any("customer.hologram.beamed" in m and "2 events" in m for m in messages)
    assert len(log) == 4
    frame = log["customer.hologram.beamed"]
    assert frame.columns == list(EVENT_COLUMNS)
    assert frame["family"].unique().to_list() == ["unknown"]
    assert frame["customer_id"].to_list() == [
        "cust_1",
        "cust_1",
    ]  # common fields still found
    assert json.loads(frame["payload"][0])["extra"] == {"x": 1}
    assert dict(log.report.unknown_types) == {
        "customer.hologram.beamed": 2,
        "customer.wallet.topped_up": 1,
    }


# -- pages -----------------------------------------------------------------------------
def _page(events, **envelope):
    return {"object": "list", "data_ref": "data", "data": events, **envelope}


def test_current_and_deprecated_envelopes_and_overlap_dedupe(tmp_path):
    evs = [
        make_event(f"e{i}", created_at=f"2024-05-01T10:00:0{i}.000Z") for i in range(6)
    ]
    current = [
        _page(evs[0:3], has_more=True, more_starting_after="e2"),
        _page(evs[3:6], has_more=False, more_starting_after=None),
    ]
    # the deprecated date cursor re-sends the boundary event (e2, e3)
    deprecated = [_page(evs[0:4], total=6), _page(evs[2:6], total=6)]
    for i, page in enumerate(current + deprecated):
        (tmp_path / f"p{i}.json").write_bytes(orjson.dumps(page))
    a = read_pages([tmp_path / "p0.json", tmp_path / "p1.json"])
    b = read_pages(f"{tmp_path}/p[23].json")
    assert (
        a.events["id"].to_list()
        == b.events["id"].to_list()
        == [f"e{i}" for i in range(6)]
    )
    assert b.report.duplicates == 2
    assert b.report.records == 8
    both = read_pages(tmp_path)  # a whole directory
    assert len(both) == 6


def test_page_files_as_array_ndjson_and_gzip(tmp_path):
    evs = [
        make_event(f"e{i}", created_at=f"2024-05-01T10:00:0{i}.000Z") for i in range(4)
    ]
    pages = [_page(evs[:2], has_more=True), _page(evs[2:], has_more=False)]
    (tmp_path / "array.json").write_bytes(orjson.dumps(pages))
    (tmp_path / "lines.ndjson").write_bytes(b"\n".join(orjson.dumps(p) for p in pages))
    with gzip.open(tmp_path / "pages.json.gz", "wb") as fh:
        fh.write(orjson.dumps(pages))
    for name in ("array.json", "lines.ndjson", "pages.json.gz"):
        assert len(read_pages(tmp_path / name)) == 4, name


def test_empty_pages_give_an_empty_log():
    log = read_pages([_page([], has_more=False)])
    assert len(log) == 0
    assert log.types == ()
    assert log.events.columns == list(EVENT_COLUMNS)


# -- event files -----------------------------------------------------------------------
def test_event_file_formats(tmp_path):
    evs = [
        make_event(f"e{i}", created_at=f"2024-05-01T10:00:0{i}.000Z") for i in range(3)
    ]
    write_ndjson(tmp_path / "a.ndjson", evs)
    (tmp_path / "b.json").write_bytes(orjson.dumps(evs))
    with gzip.open(tmp_path / "c.ndjson.gz", "wb") as fh:
        fh.write(b"\n".join(orjson.dumps(e) for e in evs))
    for name in ("a.ndjson", "b.json", "c.ndjson.gz"):
        log = read_events(tmp_path / name)
        assert log.events["id"].to_list() == ["e0", "e1", "e2"], name
    assert len(read_events(b"\n".join(orjson.dumps(e) for e in evs))) == 3
    assert len(read_events(iter(evs))) == 3  # any iterable of dicts


def test_small_chunks_give_the_same_log_as_one_chunk(small_world, tmp_path):
    path = small_world.write_ndjson(tmp_path / "w.ndjson")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownEventTypeWarning)
        one = read_events(path)
        many = read_events(path, chunk_bytes=64 * 1024)
    assert one.equals(many)


def test_sorted_by_created_at_then_id_and_unique():
    evs = [
        make_event("b", created_at="2024-05-01T10:00:00.000Z"),
        make_event("a", created_at="2024-05-01T10:00:00.000Z"),  # same millisecond
        make_event("c", created_at="2024-04-30T10:00:00.000Z"),
        make_event("a", created_at="2024-05-01T10:00:00.000Z"),  # duplicate id
    ]
    log = read_events(evs)
    assert log.events["id"].to_list() == ["c", "a", "b"]
    assert log.report.duplicates == 1


def test_timestamps_with_offsets_and_without_fraction_are_utc():
    evs = [
        make_event("a", created_at="2024-05-01T12:00:00+02:00"),
        make_event("b", created_at="2024-05-01T10:00:00Z"),
        make_event("c", created_at="2024-05-01T10:00:00.5Z"),
    ]
    ts = read_events(evs).events.sort("id")["created_at"].to_list()
    assert ts[0] == ts[1] == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert ts[2] == datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)


def test_schema_drift_becomes_null_and_the_payload_keeps_the_value():
    evs = [
        make_event("a", order={"id": "o1", "amount": 100}),
        make_event("b", order={"id": {"nested": True}, "amount": "lots"}),
    ]
    frame = read_events(evs)["customer.order.paid"].sort("id")
    assert frame["order_amount"].to_list() == [100, None]
    assert json.loads(frame["payload"][1])["order"]["amount"] == "lots"


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ({"id": "o1", "amount": 100}, ("o1", 100)),
        ({"id": "o1", "amount": 100.0}, ("o1", 100)),  # integral, however written
        ({"id": "o1", "amount": -0.0}, ("o1", 0)),
        ({"id": 7, "amount": "7"}, ("7", 7)),  # a number as text, digits as a number
        ({"id": {"x": 1}, "amount": 1.5}, ('{"x":1}', None)),  # never rounded
        ({"id": None, "amount": 10**20}, (None, None)),  # beyond 64 bits: null
        ({"amount": True}, (None, None)),
    ],
)
def test_typed_columns_take_what_fits_and_null_the_rest(order, expected):
    frame = read_events([make_event("a", order=order)])["customer.order.paid"]
    assert frame.select("order_id", "order_amount").row(0) == expected
    assert json.loads(frame["payload"][0])["order"] == order


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (
            [{"product_id": "p", "quantity": 2, "price": 1.5}],
            [
                {
                    "product_id": "p",
                    "sku_id": None,
                    "quantity": 2,
                    "price": None,
                    "amount": None,
                }
            ],
        ),
        ([], []),
        (
            '[{"quantity": 3}]',
            [
                {
                    "product_id": None,
                    "sku_id": None,
                    "quantity": 3,
                    "price": None,
                    "amount": None,
                }
            ],
        ),
        ("oops", None),
        ({"quantity": 3}, None),
    ],
)
def test_order_items_are_a_list_of_structs_or_null(items, expected):
    log = read_events([make_event("a", order={"id": "o", "items": items})])
    assert log["customer.order.paid"]["order_items"].to_list() == [expected]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (b"1e2", 100),
        (b"1.5e3", 1500),
        (b"0e5", 0),
        (b"-0.0", 0),
        (b"1.25e1", None),
        (b"100.5", None),
    ],
)
def test_integers_written_as_floats_are_taken_only_when_integral(written, expected):
    line = orjson.dumps(make_event("a", order={"id": "o", "amount": 0})).replace(
        b'"amount":0', b'"amount":' + written
    )
    frame = read_events(line)["customer.order.paid"]
    assert frame["order_amount"].to_list() == [expected]


@pytest.mark.parametrize("points", ["n/a", 1.5, False, {}, None])
def test_a_value_that_does_not_fit_lets_the_next_path_through(points):
    # amount_added is balance.points, else balance.amount
    event = make_event(
        "a",
        "customer.voucher.gift.balance_added",
        balance={"points": points, "amount": 500},
    )
    frame = read_events([event])["customer.voucher.gift.balance_added"]
    assert frame["amount_added"].to_list() == [500]


def test_json_fields_keep_objects_as_json_text():
    evs = [make_event(i, "customer.created") for i in "abc"]
    evs[0]["data"]["data"]["customer"]["metadata"] = {"k": "v\n"}
    evs[1]["data"]["data"]["customer"]["metadata"] = "plain"
    frame = read_events(evs)["customer.created"].sort("id")
    assert frame["customer_metadata"].to_list() == ['{"k":"v\\n"}', "plain", None]


@pytest.mark.parametrize("flat_first", [False, True])
def test_timestamps_in_every_iso_form_from_a_file(tmp_path, monkeypatch, flat_first):

    forms = {
        "ms": (
            "2024-05-01T10:00:00.123Z",
            datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC),
        ),
        "tenths": (
            "2024-05-01T10:00:00.5Z",
            datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC),
        ),
        "micro": (
            "2024-05-01T10:00:00.123456Z",
            datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC),
        ),
        "whole": ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        "offset": ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        "naive": ("2024-05-01T10:00:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        "date": ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
    }
    path = write_ndjson(
        tmp_path / "t.ndjson",
        [make_event(k, created_at=v[0]) for k, v in forms.items()],
    )
    monkeypatch.setattr(_builder, "looks_flat", lambda texts: flat_first)
    log = read_events(path)
    got = dict(zip(log.events["id"], log.events["created_at"], strict=True))
    assert got == {k: v[1] for k, v in forms.items()}


@pytest.mark.parametrize(
    "stamp", ["2024-05-01T10:00:00Z ", "2024-05-01T10:00:00.123Z\t"]
)
def test_timestamps_with_trailing_whitespace_are_refused_on_every_path(tmp_path, stamp):
    path = write_ndjson(
        tmp_path / "t.ndjson", [make_event("a"), make_event("b", created_at=stamp)]
    )
    for source in (path, path.read_bytes()):
        with pytest.raises(
            InvalidEventError, match="not an ISO 8601 timestamp"
        ) as info:
            read_events(source)
        assert info.value.line == 2


# -- bad input -------------------------------------------------------------------------
def test_invalid_json_names_file_and_line(tmp_path):
    path = tmp_path / "bad.ndjson"
    good = orjson.dumps(make_event("a")).decode()
    path.write_text(f"{good}\n\n{{not json\n{good}\n")
    with pytest.raises(InvalidJSONError) as info:
        read_events(path)
    assert info.value.source == str(path)
    assert info.value.line == 3
    assert f"{path}, line 3: invalid JSON" in str(info.value)
    assert isinstance(info.value, ValueError)  # natural builtin too


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (
            {
                "type": "customer.order.paid",
                "created_at": "2024-05-01T10:00:00Z",
                "data": {},
            },
            "without id",
        ),
        ({"id": "x", "created_at": "2024-05-01T10:00:00Z", "data": {}}, "without type"),
        ({"id": "x", "type": "customer.order.paid", "data": {}}, "without created_at"),
        (
            {
                "id": "x",
                "type": "customer.order.paid",
                "created_at": "yesterday",
                "data": {},
            },
            "created_at 'yesterday' is not an ISO 8601 timestamp",
        ),
    ],
)
def test_invalid_events_name_the_problem_and_the_line(tmp_path, event, reason):
    path = write_ndjson(tmp_path / "e.ndjson", [make_event("ok"), event])
    with pytest.raises(InvalidEventError, match=reason) as info:
        read_events(path)
    assert info.value.line == 2


def test_page_without_data_is_an_invalid_page(tmp_path):
    path = tmp_path / "page.json"
    path.write_text(json.dumps({"object": "list", "total": 3}))
    with pytest.raises(
        InvalidPageError,
        match=r"page.json: not an API list page.*keys \['object', 'total'\]",
    ):
        read_pages(path)


def test_bad_event_in_a_page_names_the_page_and_item():
    page = _page([make_event("a"), {"id": "b", "type": "customer.order.paid"}], total=2)
    with pytest.raises(InvalidEventError) as info:
        read_pages([page])
    assert info.value.item == 1
    assert "data[1]" in str(info.value)
    assert "without created_at" in str(info.value)


def test_skip_mode_keeps_the_good_records_and_reports_the_bad(tmp_path):
    path = tmp_path / "mixed.ndjson"
    lines = [
        orjson.dumps(make_event("a")).decode(),
        "{broken",
        orjson.dumps(
            {"id": "b", "type": "customer.order.paid", "created_at": "nope"}
        ).decode(),
        "[1, 2]",
        orjson.dumps(make_event("c", created_at="2024-05-02T00:00:00Z")).decode(),
    ]
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(SkippedRecordsWarning, match="skipped 3 bad record"):
        log = read_events(path, on_error="skip")
    assert log.events["id"].to_list() == ["a", "c"]
    report = log.report
    assert report.records == 5
    assert sorted(s.location for s in report.skipped) == [
        f"{path}, line {n}" for n in (2, 3, 4)
    ]
    assert report.skipped_by_reason["invalid JSON"] == 1


def test_missing_file_and_empty_glob_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_events(tmp_path / "nope.ndjson")
    with pytest.raises(InputError, match="matches no files"):
        read_pages(f"{tmp_path}/*.json")


def test_on_error_must_be_raise_or_skip():
    with pytest.raises(ValueError, match="on_error"):
        read_events([make_event("a")], on_error="ignore")  # type: ignore[arg-type]


def test_loaded_types_are_typed_frames(small_log):
    paid = small_log["customer.order.paid"]
    assert paid.schema["order_amount"] == pl.Int64
    items = paid.schema["order_items"]
    assert isinstance(items, pl.List)
    assert set(items.inner.to_schema()) == {
        "product_id",
        "sku_id",
        "quantity",
        "price",
        "amount",
    }
    assert paid["order_status"].unique().to_list() == ["PAID"]
    upgraded = small_log["customer.loyalty.tier.upgraded"]
    assert upgraded["tier_from_name"].null_count() == 0
    assert upgraded["tier_to_name"].null_count() == 0
    expired = small_log["customer.voucher.loyalty_card.points_expired"]
    assert (expired["points_change"] == -expired["expired_points"]).all()
    assert (expired["expired_points"] > 0).all()


# -- one parser, two queries (nested-first and flat-first), any chunk size --------------
def test_both_queries_and_any_chunk_size_give_the_same_log(
    small_world, tmp_path, monkeypatch
):
    nested = small_world.write_ndjson(tmp_path / "n.ndjson.gz")
    flat = small_world.write_ndjson(tmp_path / "f.ndjson", shape="flat")
    array = tmp_path / "a.json"
    array.write_bytes(orjson.dumps(small_world.events[:300]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownEventTypeWarning)
        usual = [read_events(p) for p in (nested, flat, array)]
        small = [read_events(p, chunk_bytes=64 * 1024) for p in (nested, flat)]
        for flat_first in (False, True):
            monkeypatch.setattr(_builder, "looks_flat", lambda t, f=flat_first: f)
            forced = [read_events(p) for p in (nested, flat, array)]
            for a, b in zip(usual, forced, strict=True):
                assert a.equals(b)
    for a, b in zip(usual, small, strict=False):
        assert a.equals(b)


def test_envelope_queries_take_the_payload_of_either_shape():
    from activity_toolkit.io._duckdb import connect, envelopes

    texts = pl.Series(
        [
            orjson.dumps(make_event("a")).decode(),
            orjson.dumps(make_event("b", nested=False)).decode(),
        ]
    )
    for flat in (False, True):
        with connect() as con:
            env = envelopes(con, texts, flat=flat)
        assert env["payload"].to_list() == [
            orjson.dumps(make_event("a")["data"]["data"]).decode(),
            orjson.dumps(make_event("b", nested=False)["data"]).decode(),
        ]
        assert not env["_unparsed"].any()


def test_reading_prints_nothing(small_world, tmp_path, capfd):
    path = small_world.write_ndjson(tmp_path / "w.ndjson")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownEventTypeWarning)
        read_events(path)
    out, err = capfd.readouterr()
    assert out == ""
    assert err == ""


@pytest.mark.parametrize(
    ("data", "kind"), [([1, 2], "array"), ("text", "string"), (7, "number")]
)
@pytest.mark.parametrize("via", ["dicts", "file"])
def test_data_that_is_not_an_object_is_a_clear_error(tmp_path, data, kind, via):
    events = [
        make_event("a"),
        {
            "id": "b",
            "type": "customer.order.paid",
            "created_at": "2024-05-01T10:00:01Z",
            "data": data,
        },
    ]
    source = events if via == "dicts" else write_ndjson(tmp_path / "e.ndjson", events)
    with pytest.raises(
        InvalidEventError, match=f"data must be a JSON object, got {kind} \\(id 'b'\\)"
    ):
        read_events(source)
    with pytest.warns(SkippedRecordsWarning):
        log = read_events(source, on_error="skip")
    assert log.events["id"].to_list() == ["a"]


def test_odd_event_source_and_null_data_are_kept(tmp_path):
    events = [
        make_event("a"),
        {
            "id": "b",
            "type": "customer.order.paid",
            "created_at": "2024-05-01T10:00:01Z",
            "data": {"event_source": "API", "order": {"id": "o"}},
        },
        {
            "id": "c",
            "type": "customer.order.paid",
            "created_at": "2024-05-01T10:00:02Z",
            "data": None,
        },
    ]
    for source in (events, write_ndjson(tmp_path / "e.ndjson", events)):
        log = read_events(source)
        assert log.events["id"].to_list() == ["a", "b", "c"]
        assert log.events["payload"][2] is None
        assert log["customer.order.paid"]["channel"].to_list() == ["API", None, None]


def test_integers_beyond_64_bits_load_and_non_json_values_are_errors(tmp_path):
    from datetime import datetime as dt

    big = 123456789012345678901234567890
    event = make_event("a", extra={"n": big})
    # files (DuckDB path) keep the digits; in memory they load as a float (documented)
    (tmp_path / "big.ndjson").write_text(json.dumps(event))
    exact = read_events(tmp_path / "big.ndjson")
    assert json.loads(exact.events["payload"][0])["extra"]["n"] == big
    approx = read_events([event])
    assert json.loads(approx.events["payload"][0])["extra"]["n"] == pytest.approx(big)
    with pytest.raises(InvalidEventError, match="not JSON-serialisable"):
        read_events([make_event("b", extra={"tags": {"a", "b"}})])  # a set is not JSON
    # orjson writes datetimes as ISO text, which is what the API would have sent
    when = read_events([make_event("c", extra={"when": dt(2024, 1, 1)})])
    assert (
        json.loads(when.events["payload"][0])["extra"]["when"] == "2024-01-01T00:00:00"
    )
