"""The pagination strategies are pure: tables of (params, page) -> next params."""

from __future__ import annotations

import pytest

from activity_toolkit._time import before_ms, format_time, parse_time
from activity_toolkit.client import CustomerCursor, DateCursor, IdCursor, Page
from activity_toolkit.exceptions import PaginationError


def ev(i: int, ms: str = "000") -> dict[str, str]:
    return {"id": f"e{i}", "created_at": f"2024-01-01T00:00:0{i % 10}.{ms}Z"}


def pg(items, *, new=None, collected=None, total=None, **body) -> Page:
    body = {"data": items, **body}
    return Page(
        items,
        body,
        new=len(items) if new is None else new,
        collected=len(items) if collected is None else collected,
        total=total,
    )


class TestIdCursor:
    def test_first_sets_limit_and_ascending_order(self) -> None:
        assert IdCursor(limit=7).first({"type": "x"}) == {
            "type": "x",
            "limit": 7,
            "order": "created_at",
        }

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            ({"has_more": True, "more_starting_after": "e2"}, "e2"),
            (
                {"has_more": True, "more_starting_after": None},
                "e2",
            ),  # falls back on last id
            ({"has_more": True}, "e2"),
            ({}, "e2"),  # no has_more, full page: keep going
        ],
    )
    def test_follows_more_starting_after(self, body, expected) -> None:
        s = IdCursor(limit=2)
        params = s.first({})
        assert (
            s.next(params, pg([ev(1), ev(2)], **body))["starting_after_id"] == expected
        )

    @pytest.mark.parametrize(
        ("items", "body"),
        [
            ([ev(1), ev(2)], {"has_more": False}),
            (
                [],
                {"has_more": True, "more_starting_after": "e9"},
            ),  # the empty page after a full one
            ([ev(1)], {}),  # short page, no has_more
        ],
    )
    def test_stops(self, items, body) -> None:
        s = IdCursor(limit=2)
        assert s.next(s.first({}), pg(items, **body)) is None

    def test_missing_cursor_is_an_error(self) -> None:
        s = IdCursor(limit=1)
        with pytest.raises(PaginationError):
            s.next(
                s.first({}), pg([{"created_at": "2024-01-01T00:00:00Z"}], has_more=True)
            )

    def test_bounds(self) -> None:
        with pytest.raises(ValueError, match="between 1 and 100"):
            IdCursor(limit=101)


class TestDateCursor:
    def test_overlaps_one_ms_and_sends_the_id_cursor(self) -> None:
        s = DateCursor(limit=2)
        nxt = s.next(s.first({}), pg([ev(1), ev(2, "500")], total=10))
        assert nxt["starting_after"] == "2024-01-01T00:00:02.499Z"
        assert nxt["starting_after_id"] == "e2"

    def test_without_id_cursor_or_overlap(self) -> None:
        s = DateCursor(limit=2, id_cursor=False, overlap=False)
        nxt = s.next(s.first({}), pg([ev(1), ev(2)], total=10))
        assert nxt["starting_after"] == "2024-01-01T00:00:02.000Z"
        assert "starting_after_id" not in nxt

    @pytest.mark.parametrize(
        ("items", "collected", "total"),
        [
            ([ev(1)], 1, 10),
            ([], 0, 10),
            ([ev(1), ev(2)], 10, 10),
            ([ev(1), ev(2)], 12, 10),
        ],
    )
    def test_stops_on_short_page_or_total(self, items, collected, total) -> None:
        s = DateCursor(limit=2)
        assert s.next(s.first({}), pg(items, collected=collected, total=total)) is None

    def test_a_stalled_page_moves_past_the_millisecond(self) -> None:
        s = DateCursor(limit=2)
        params = {**s.first({}), "starting_after_id": "e0"}
        nxt = s.next(params, pg([ev(1), ev(1)], new=0, collected=5, total=10))
        assert nxt["starting_after"] == "2024-01-01T00:00:01.000Z"
        assert "starting_after_id" not in nxt


class TestCustomerCursor:
    def test_pages_then_date_cursor(self) -> None:
        s = CustomerCursor(limit=2, max_page=3)
        p = s.first({})
        items = [ev(1), ev(3, "250")]
        for expected in (2, 3):
            p = s.next(p, pg(items, has_more=True))
            assert p["page"] == expected
        p = s.next(p, pg(items, has_more=True))
        assert p["page"] == 1
        assert p["starting_after"] == "2024-01-01T00:00:03.249Z"
        assert p["order"] == "created_at"

    @pytest.mark.parametrize(
        ("items", "body"),
        [([ev(1)], {"has_more": False}), ([], {"has_more": True}), ([ev(1)], {})],
    )
    def test_stops(self, items, body) -> None:
        s = CustomerCursor(limit=2)
        assert s.next(s.first({}), pg(items, **body)) is None

    def test_paginators_are_frozen_values(self) -> None:
        s = CustomerCursor()
        with pytest.raises(AttributeError):
            s.limit = 5  # type: ignore[misc]
        assert s == CustomerCursor(limit=100, max_page=99)


def test_time_helpers() -> None:
    assert format_time("2024-05-01") == "2024-05-01T00:00:00.000Z"
    assert format_time("2024-05-01T12:00:00+02:00") == "2024-05-01T10:00:00.000Z"
    assert before_ms("2024-05-01T00:00:00.000Z") == "2024-04-30T23:59:59.999Z"
    assert parse_time("2024-05-01T00:00:00.123Z").microsecond == 123000
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time("yesterday")
