from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from activity_toolkit.analysis import params_of, retention, retention_matrix
from activity_toolkit.exceptions import AnalysisInputError, MissingColumnsError
from tests.analysis._oracle import r3_cohorts
from tests.analysis.conftest import events


def cells(df: pl.DataFrame) -> list[tuple]:
    return df.select(
        pl.col("cohort").dt.strftime("%Y-%m-%d"),
        "period",
        "cohort_size",
        "active",
        "observable",
    ).rows()


def test_month_end_is_period_one(run):
    ev = events(
        [
            ("a", "2024-01-31T23:00:00", "e1", "x"),
            ("a", "2024-02-01T01:00:00", "e2", "x"),
            ("b", "2024-01-15T00:00:00", "e3", "x"),
            ("c", "2024-03-31T12:00:00", "e4", "x"),
        ]
    )
    out = run(retention, ev, period="month")
    assert cells(out) == [
        ("2024-01-01", 0, 2, 2, True),
        ("2024-01-01", 1, 2, 1, True),
        ("2024-01-01", 2, 2, 0, False),  # March ends after the last event
        ("2024-03-01", 0, 1, 1, False),
    ]
    assert out["rate"].to_list() == [1.0, 0.5, 0.0, 1.0]
    assert out.schema["cohort"] == pl.Datetime("ms", "UTC")


def test_true_zero_and_unobservable_cells(run):
    ev = events(
        [
            ("a", "2024-01-01", "e1", "x"),
            ("a", "2024-01-15", "e2", "x"),  # week 2
            ("b", "2024-01-02", "e3", "x"),
            ("c", "2024-01-24", "e4", "x"),  # last event: a Wednesday
        ]
    )
    out = run(retention, ev, period="week")
    assert cells(out) == [
        ("2024-01-01", 0, 2, 2, True),
        ("2024-01-01", 1, 2, 0, True),  # a real zero
        ("2024-01-01", 2, 2, 1, True),
        ("2024-01-01", 3, 2, 0, False),  # week of 22 Jan has not ended
        ("2024-01-22", 0, 1, 1, False),
    ]


def test_end_parameter_sets_observation_end(run):
    ev = events([("a", "2024-01-01", "e1", "x"), ("a", "2024-02-05", "e2", "x")])
    out = run(retention, ev, period="month", end="2024-03-01")
    assert cells(out) == [
        ("2024-01-01", 0, 1, 1, True),
        ("2024-01-01", 1, 1, 1, True),
        ("2024-01-01", 2, 1, 0, False),
    ]
    # events after `end` are ignored
    out = run(retention, ev, period="month", end="2024-01-31")
    assert cells(out) == [("2024-01-01", 0, 1, 1, False)]


def test_time_zone_moves_events_between_periods(run):
    ev = events(
        [
            ("a", "2024-01-31T23:30:00", "e1", "x"),  # 00:30 on 1 Feb in Warsaw
            ("a", "2024-02-29T23:30:00", "e2", "x"),  # 00:30 on 1 Mar in Warsaw
        ]
    )
    utc = run(retention, ev, period="month")
    waw = run(retention, ev, period="month", tz="Europe/Warsaw")
    assert [(r[0], r[1], r[3]) for r in cells(utc)] == [
        ("2024-01-01", 0, 1),
        ("2024-01-01", 1, 1),
    ]
    assert [(r[0], r[1], r[3]) for r in cells(waw)] == [
        ("2024-02-01", 0, 1),
        ("2024-02-01", 1, 1),
    ]
    assert waw.schema["cohort"] == pl.Datetime("ms", "Europe/Warsaw")
    assert waw["cohort"][0] == datetime(2024, 1, 31, 23, tzinfo=UTC)


def test_week_start(run):
    # Sunday 7 Jan and Monday 8 Jan 2024
    ev = events(
        [
            ("a", "2024-01-07T12:00:00", "e1", "x"),
            ("a", "2024-01-08T12:00:00", "e2", "x"),
        ]
    )
    monday = run(retention, ev, period="week")
    sunday = run(retention, ev, period="week", week_start="sunday")
    assert [(r[0], r[1], r[3]) for r in cells(monday)] == [
        ("2024-01-01", 0, 1),
        ("2024-01-01", 1, 1),
    ]
    assert [(r[0], r[1], r[3]) for r in cells(sunday)] == [("2024-01-07", 0, 1)]
    tuesday = run(retention, ev, period="week", week_start="tuesday")
    assert cells(tuesday)[0][0] == "2024-01-02"


def test_rolling_periods_count_from_the_units_start(run):
    ev = events(
        [
            ("a", "2024-01-01T10:00:00", "e1", "x"),
            (
                "a",
                "2024-01-02T09:00:00",
                "e2",
                "x",
            ),  # 23 h later: rolling day 0, calendar day 1
            ("a", "2024-01-02T10:00:00", "e3", "x"),  # exactly 24 h: rolling day 1
            ("b", "2024-01-01T23:00:00", "e4", "x"),
            (
                "b",
                "2024-01-03T22:00:00",
                "e5",
                "x",
            ),  # 47 h: rolling day 1, calendar day 2
        ]
    )
    cal = run(retention, ev, period="day")
    rol = run(retention, ev, period="day", rolling=True)
    assert [(r[1], r[3]) for r in cells(cal)] == [(0, 2), (1, 1), (2, 1)]
    # period 2 has begun for a (60 h after its start) but not for b
    assert [(r[1], r[3], r[4]) for r in cells(rol)] == [
        (0, 2, True),
        (1, 2, False),
        (2, 0, False),
    ]


def test_start_and_return_events(run):
    ev = events(
        [
            ("a", "2024-01-05", "e1", "visit"),
            ("a", "2024-02-05", "e2", "paid"),  # cohort Feb (first paid)
            ("a", "2024-03-05", "e3", "visit"),
            ("a", "2024-04-05", "e4", "paid"),
            ("b", "2024-01-10", "e5", "visit"),  # never paid: no cohort
        ]
    )
    out = run(retention, ev, period="month", start="paid", returning="paid")
    assert [(r[0], r[1], r[3]) for r in cells(out)] == [
        ("2024-02-01", 0, 1),
        ("2024-02-01", 1, 0),
        ("2024-02-01", 2, 1),
    ]
    out = run(retention, ev, period="month", start="paid")
    assert [(r[1], r[3]) for r in cells(out)] == [(0, 1), (1, 1), (2, 1)]


def test_recurring_cohorts(run):
    ev = events(
        [
            ("a", "2024-01-02", "e1", "x"),
            ("a", "2024-01-09", "e2", "x"),
            ("a", "2024-01-23", "e3", "x"),
            ("b", "2024-01-09", "e4", "x"),
        ]
    )
    out = run(retention, ev, period="week", cohort="recurring")
    assert [(r[0], r[1], r[2], r[3]) for r in cells(out)] == [
        ("2024-01-01", 0, 1, 1),
        ("2024-01-01", 1, 1, 1),
        ("2024-01-01", 2, 1, 0),
        ("2024-01-01", 3, 1, 1),
        ("2024-01-08", 0, 2, 2),
        ("2024-01-08", 1, 2, 0),
        ("2024-01-08", 2, 2, 1),
        ("2024-01-22", 0, 1, 1),
    ]


def test_on_or_after_and_min_events(run):
    ev = events(
        [
            ("a", "2024-01-01", "e1", "x"),
            ("a", "2024-04-01", "e2", "x"),  # only month 3
            ("b", "2024-01-10", "e3", "x"),
            ("b", "2024-02-10", "e4", "x"),
            ("b", "2024-02-11", "e5", "x"),  # two events in month 1
            ("b", "2024-05-10", "e6", "x"),
        ]
    )
    on = run(retention, ev, period="month")
    after = run(retention, ev, period="month", mode="on_or_after")
    assert [r[3] for r in cells(on)] == [2, 1, 0, 1, 1]
    assert [r[3] for r in cells(after)] == [2, 2, 2, 2, 1]
    two = run(retention, ev, period="month", min_events=2)
    assert [r[3] for r in cells(two)] == [2, 1, 0, 0, 0]


def test_empty_input(run):
    ev = events([("a", "2024-01-01", "e1", "x")]).clear()
    out = run(retention, ev)
    assert out.height == 0
    assert out.columns == [
        "cohort",
        "period",
        "cohort_size",
        "active",
        "rate",
        "observable",
    ]
    m = run(retention_matrix, ev)
    assert m["row"].to_list() == ["weighted average", "simple average"]


def test_one_customer(run):
    ev = events([("a", "2024-01-01", "e1", "x")])
    assert cells(run(retention, ev, period="day")) == [("2024-01-01", 0, 1, 1, False)]


def test_params_and_errors():
    ev = events([("a", "2024-01-01", "e1", "x")])
    out = retention(ev, period="month", tz="Europe/Warsaw", rolling=True)
    p = params_of(out)
    assert p is not None
    assert p["tz"] == "Europe/Warsaw"
    assert p["rolling"] is True
    assert p["start"] == "any event"
    with pytest.raises(AnalysisInputError, match="period"):
        retention(ev, period="fortnight")  # type: ignore[arg-type]
    with pytest.raises(AnalysisInputError, match="min_events"):
        retention(ev, min_events=0)
    with pytest.raises(AnalysisInputError, match="week_start"):
        retention(ev, week_start="mon")  # type: ignore[arg-type]
    with pytest.raises(MissingColumnsError):
        retention(ev.drop("customer_id"))


def test_matrix(kind):
    ev = events(
        [
            ("a", "2024-01-01", "e1", "x"),
            ("a", "2024-01-09", "e2", "x"),
            ("b", "2024-01-02", "e3", "x"),
            ("c", "2024-01-08", "e4", "x"),
            ("c", "2024-01-22", "e5", "x"),
        ]
    )
    data = ev.lazy() if kind == "lazy" else ev
    m = retention_matrix(data, period="week")
    assert params_of(m).analysis == "retention_matrix"
    m = m.collect() if isinstance(m, pl.LazyFrame) else m
    assert m.columns == ["row", "cohort", "cohort_size", "0", "1", "2", "3"]
    assert m["row"].to_list() == [
        "2024-01-01 00:00",
        "2024-01-08 00:00",
        "weighted average",
        "simple average",
    ]
    rows = {r[0]: r[2:] for r in m.rows()}
    assert rows["2024-01-01 00:00"] == (2, 1.0, 0.5, 0.0, None)  # week 3 not observable
    assert rows["2024-01-08 00:00"] == (1, 1.0, 0.0, None, None)
    assert rows["weighted average"][:3] == (3, 1.0, pytest.approx(1 / 3))
    assert rows["simple average"][:3] == (3, 1.0, 0.25)
    lazy = retention_matrix(ev.lazy(), period="week", periods=5)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect_schema().names()[-1] == "5"


def test_matrix_checks_and_records_the_options_as_retention_does():
    ev = events(
        [
            ("a", "2024-01-01", "e1", "x"),
            ("a", "2024-02-09", "e2", "y"),
            ("b", "2024-01-20", "e3", "x"),
        ]
    )
    options = {
        "period": "month",
        "start": "x",
        "returning": ["y", "x"],
        "cohort": "recurring",
        "mode": "on_or_after",
        "rolling": True,
        "tz": "Europe/Warsaw",
        "min_events": 1,
        "end": "2024-03-01",
        "key": ["customer_id"],
    }
    long, matrix = (
        params_of(retention(ev, **options)),
        params_of(retention_matrix(ev, **options)),
    )
    assert (matrix.analysis, long.analysis) == ("retention_matrix", "retention")
    assert matrix.options == long.options
    assert matrix.notes == long.notes
    assert long["returning"] == "y | x"
    assert long["end"] == datetime(2024, 3, 1, tzinfo=UTC)
    for bad, match in [
        ({"period": "fortnight"}, "period"),
        ({"cohort": "last"}, "cohort"),
        ({"mode": "before"}, "mode"),
        ({"min_events": 0}, "min_events"),
        ({"week_start": "mon"}, "week_start"),
        ({"key": []}, "key"),
    ]:
        for fn in (retention, retention_matrix):
            with pytest.raises(AnalysisInputError, match=match):
                fn(ev, **bad)


# -- properties ---------------------------------------------------------------------


@st.composite
def dated_events(draw):
    n = draw(st.integers(1, 25))
    base = datetime(2023, 12, 20, tzinfo=UTC)
    rows = []
    for i in range(n):
        rows.append(
            (
                draw(st.sampled_from(["u1", "u2", "u3", "u4", "u5"])),
                base + timedelta(hours=draw(st.integers(0, 24 * 120))),
                f"e{i:03d}",
                draw(st.sampled_from(["x", "y"])),
            )
        )
    return rows


@settings(max_examples=80, deadline=None)
@given(rows=dated_events(), unit=st.sampled_from(["M", "W"]))
def test_matches_retentioneering3_cohorts(rows, unit):
    ev = events(rows)
    period = "month" if unit == "M" else "week"
    out = retention(ev, period=period)
    ours = {
        (r["cohort"].replace(tzinfo=None), r["period"]): r["active"]
        for r in out.iter_rows(named=True)
        if r["active"]
    }
    oracle = r3_cohorts([(u, t.replace(tzinfo=None)) for u, t, _, _ in rows], unit=unit)
    assert ours == oracle


@settings(max_examples=60, deadline=None)
@given(
    rows=dated_events(),
    period=st.sampled_from(["day", "week", "month"]),
    cohort=st.sampled_from(["first", "recurring"]),
    mode=st.sampled_from(["on", "on_or_after"]),
    rolling=st.booleans(),
    start=st.sampled_from([None, "x"]),
    returning=st.sampled_from([None, "y"]),
    min_events=st.sampled_from([1, 2]),
)
def test_retention_invariants(
    rows, period, cohort, mode, rolling, start, returning, min_events
):
    ev = events(rows)
    kw = {
        "period": period,
        "cohort": cohort,
        "mode": mode,
        "rolling": rolling,
        "start": start,
        "returning": returning,
        "min_events": min_events,
        "tz": "America/New_York",
    }
    out = retention(ev, **kw)
    assert_frame_equal(retention(ev.lazy(), **kw).collect(), out)
    p0 = out.filter(pl.col("period") == 0)
    assert (p0["active"] == p0["cohort_size"]).all()
    assert out["rate"].is_between(0, 1).all()
    if mode == "on_or_after":
        # non-increasing along the periods of each cohort
        diffs = out.with_columns(d=pl.col("active").diff().over("cohort"))[
            "d"
        ].drop_nulls()
        assert (diffs <= 0).all()
    # observability never comes back once lost, within a cohort
    obs = out.group_by("cohort", maintain_order=True).agg(pl.col("observable"))
    for flags in obs["observable"].to_list():
        assert flags == sorted(flags, reverse=True)


def test_nonzero_cells_equal_retentioneering3_cohorts():
    """60 recorded cases from retentioneering 3.3.0's ``Cohorts`` (monthly with
    ``cohort_period=(1, "M")`` and weekly with ``("W", (1, "W"))``); see
    ``data/make_r3_cohorts.py``. retentioneering shows zeros as NaN, so only its
    non-NaN cells are recorded, and they must be exactly our non-zero cells."""
    import json
    from pathlib import Path

    recorded = json.loads(
        (Path(__file__).parent / "data" / "r3_cohort_cases.json").read_text()
    )
    assert recorded["retentioneering"] == "3.3.0"
    start = datetime.fromisoformat(recorded["start"]).replace(tzinfo=UTC)
    for case in recorded["cases"]:
        ev = events(
            [
                (u, start + timedelta(hours=h), f"e{i:03d}", "x")
                for i, (u, h) in enumerate(case["rows"])
            ]
        )
        for unit, period, fmt in (("M", "month", "%Y-%m"), ("W", "week", "%Y-%m-%d")):
            ours = retention(ev, period=period).filter(pl.col("active") > 0)
            got = {
                (c.strftime(fmt), p): rate
                for c, p, rate in ours.select("cohort", "period", "rate").iter_rows()
            }
            expected = {(c, p): rate for c, p, rate in case[unit]}
            assert got.keys() == expected.keys(), (unit, case)
            assert all(got[k] == pytest.approx(v) for k, v in expected.items()), (
                unit,
                case,
            )


def test_the_simple_average_is_the_same_every_run():
    import activity_toolkit as at

    lazy = at.sample(customers=300, seed=2).events.lazy()
    runs = {
        tuple(
            retention_matrix(lazy, period="month", periods=4)
            .collect()
            .filter(pl.col("row") == "simple average")
            .row(0)
        )
        for _ in range(8)
    }
    assert len(runs) == 1
