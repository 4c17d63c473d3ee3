"""The portable overview (:mod:`activity_toolkit.analysis._portable_overview`):
``kpis``, ``activity_timeline`` and ``coupon_funnels`` of a DuckDB relation, an Ibis
table or a PySpark DataFrame give the local Polars rows, row by row.

The events (:func:`overview_events`) start at the awkward instants of
:mod:`tests.scale._data` — the daylight-saving nights of 2024 in Europe, the last
millisecond of January, February (a leap year) and December — and step by 0 and
1 ms, an hour, a day less 1 ms, a day, a month and more, so calendars in Berlin, New
York and Kolkata, weeks starting on Sunday or Wednesday and periods without any
event (zero rows of the timeline) are all met. They mix registered types (succeeded
and failed redemptions, paid orders with and without ``order_amount``, loyalty
points of :func:`tests.scale._loyalty_cases.points_events`, tiers, messages) with
unregistered and null types (family ``"unknown"``), and hold rows without a
customer or a time.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from activity_toolkit import analysis, sample
from activity_toolkit.analysis import (
    activity_timeline,
    coupon_funnels,
    kpis,
    params_of,
)
from activity_toolkit.analysis.campaigns import COUPON_FUNNEL_COLUMNS
from activity_toolkit.exceptions import AnalysisInputError, MissingColumnsError
from tests.scale._data import BASES, DAY_MS, sample_campaign_rows
from tests.scale._loyalty_cases import (
    POINTS_SCHEMA,
    check_same,
    engine_cases,
    points_events,
    run_case,
    spark_failures,
)
from tests.scale.conftest import Engine, to_polars

STEPS_MS = [0, 0, 1, 3_600_000, DAY_MS - 1, DAY_MS, 31 * DAY_MS, 45 * DAY_MS]
TYPES = [
    "customer.redemption.succeeded",
    "customer.redemption.succeeded",
    "customer.redemption.failed",
    "customer.order.paid",
    "customer.order.paid",
    "customer.order.created",
    "customer.publication.succeeded",
    "customer.loyalty.tier.joined",
    "customer.sms.sent",
    "customer.teleported",  # not registered: family "unknown"
    "A",
    None,
]
SCHEMA = {**POINTS_SCHEMA, "order_amount": pl.Int64}
#: the night Berlin falls back (a 25-hour day), ends of a day, a month and a week
DST_END = datetime(2024, 10, 27, 23, tzinfo=UTC)  # 2024-10-28 00:00 in Berlin
MONTH_END = datetime(2024, 3, 1, 0, 0, 0, 500, tzinfo=UTC)


def overview_events(
    customers: int = 30, *, seed: int = 0, tz: str | None = "UTC"
) -> pl.DataFrame:
    """Events of ``customers`` customers plus a points ledger (module docstring)."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for c in range(customers):
        t = rng.choice(BASES)
        for k in range(rng.randint(1, 12)):
            t += timedelta(milliseconds=rng.choice(STEPS_MS))
            type_ = rng.choice(TYPES)
            amount = rng.choice([1250, 990, None]) if type_ == TYPES[3] else None
            rows.append(
                {
                    "id": f"e{seed}-{c:03d}-{k:02d}",
                    "type": type_,
                    "customer_id": f"c{c:03d}",
                    "created_at": t,
                    "order_amount": amount,
                }
            )
    rows += [
        {"id": "no-customer", "type": TYPES[0], "created_at": BASES[1]},
        {"id": "no-time", "type": TYPES[3], "customer_id": "c000", "order_amount": 5},
    ]
    events = pl.DataFrame(rows, schema=SCHEMA)
    ledger = points_events(20, seed=seed, tz="UTC")
    out = pl.concat([events, ledger], how="diagonal").sample(
        fraction=1.0, shuffle=True, seed=seed
    )
    if tz is None:
        return out.with_columns(pl.col("created_at").dt.replace_time_zone(None))
    return out.with_columns(pl.col("created_at").dt.convert_time_zone(tz))


#: name -> (function name, options)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "timeline-week": ("activity_timeline", {}),
    "timeline-week-wednesday-berlin": (
        "activity_timeline",
        {"tz": "Europe/Berlin", "week_start": "wednesday"},
    ),
    "timeline-day-new-york": (
        "activity_timeline",
        {"period": "day", "tz": "America/New_York"},
    ),
    "timeline-month-kolkata": (
        "activity_timeline",
        {"period": "month", "tz": "Asia/Kolkata"},
    ),
    "timeline-quarter": ("activity_timeline", {"period": "quarter"}),
    "timeline-year-berlin": (
        "activity_timeline",
        {"period": "year", "tz": "Europe/Berlin"},
    ),
    "kpis-month": ("kpis", {}),
    "kpis-week-sunday-berlin": (
        "kpis",
        {"period": "week", "tz": "Europe/Berlin", "week_start": "sunday"},
    ),
    "kpis-day-berlin-dst-end": (
        "kpis",
        {"period": "day", "tz": "Europe/Berlin", "end": DST_END},
    ),
    "kpis-month-end": ("kpis", {"end": MONTH_END}),
    "kpis-quarter-kolkata": ("kpis", {"period": "quarter", "tz": "Asia/Kolkata"}),
    "kpis-year-new-york": ("kpis", {"period": "year", "tz": "America/New_York"}),
    "kpis-week-wednesday-new-york-end": (
        "kpis",
        {
            "period": "week",
            "tz": "America/New_York",
            "week_start": "wednesday",
            "end": "2024-04-10",
        },
    ),
}
COVERING = [
    "timeline-week-wednesday-berlin",
    "timeline-day-new-york",
    "kpis-day-berlin-dst-end",
    "kpis-week-wednesday-new-york-end",
]
SPARK = [
    "timeline-week-wednesday-berlin",
    "timeline-month-kolkata",
    "kpis-week-sunday-berlin",
    "kpis-day-berlin-dst-end",
]


def run(case: str, data: Any) -> Any:
    return run_case(CASES, case, data)


def computed_by(engine: Engine, result: Any) -> Any:
    """The result's parameters, after checking they name the engine."""
    params = params_of(result)
    assert params is not None
    assert any(n.startswith(f"computed by {engine.name}") for n in params.notes)
    return params


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    return overview_events(30, seed=1)


@pytest.fixture(scope="module")
def log() -> Any:
    return sample(customers=40, seed=5)


@pytest.fixture(scope="module")
def campaign_rows() -> pl.DataFrame:
    return sample_campaign_rows(customers=40, seed=5)  # the typed rows of `log`


@pytest.mark.parametrize(
    ("engine", "case"), engine_cases(CASES, COVERING), indirect=["engine"]
)
def test_every_case(engine: Engine, events: pl.DataFrame, case: str):
    out = run(case, engine(events))
    assert isinstance(out, engine.native_type)
    check_same(run(case, events), out)


def test_the_data_covers_the_edges(events: pl.DataFrame):
    """The local results the engines are compared with hold the edges named in the
    module docstring (so the parity above is about them)."""
    timeline = activity_timeline(events, tz="Europe/Berlin", week_start="wednesday")
    assert (timeline["events"] == 0).any()  # empty periods
    assert "unknown" in timeline["family"].to_list()
    assert {"points", "order", "redemption", "tier"} <= set(timeline["family"])
    day = activity_timeline(events, period="day", tz="Europe/Berlin")
    starts = day["period"].unique().sort().dt.convert_time_zone("UTC")
    assert datetime(2024, 10, 26, 22, tzinfo=UTC) in starts.to_list()  # 25 hours
    assert datetime(2024, 10, 27, 23, tzinfo=UTC) in starts.to_list()
    k = kpis(events, period="day", tz="Europe/Berlin", end=DST_END)
    values = dict(zip(k["metric"], k["value"], strict=True))
    # the 25-hour 27 October in Berlin: the last day that ends at `end`
    assert k["period"][0] == datetime(2024, 10, 26, 22, tzinfo=UTC)
    assert all(v is not None for v in values.values())
    assert values["events"] > 0


@pytest.mark.parametrize("tz", ["Europe/Berlin", None])
def test_time_zones_and_naive_times(engine: Engine, tz: str | None):
    """Times in another zone are instants, naive times are UTC."""
    data = overview_events(20, seed=2, tz=tz)
    for case in ("timeline-week-wednesday-berlin", "kpis-day-berlin-dst-end"):
        check_same(run(case, data), run(case, engine(data)))


def test_without_amounts_points_or_rows(engine: Engine, events: pl.DataFrame):
    """No ``order_amount``: null revenue; no points columns: null outstanding
    points; no rows at all: zeros and nulls, an empty timeline."""
    bare = events.select("id", "type", "customer_id", "created_at")
    out = kpis(engine(bare), period="week")
    check_same(kpis(bare, period="week"), out)
    rows = to_polars(out).filter(
        pl.col("metric").is_in(["revenue", "outstanding_points"])
    )
    assert rows.height == 2
    assert rows.select(pl.col("value", "previous").is_null().all()).row(0) == (
        True,
        True,
    )
    nothing = events.clear()
    check_same(kpis(nothing), kpis(engine(nothing)))
    check_same(activity_timeline(nothing), activity_timeline(engine(nothing)))
    assert to_polars(activity_timeline(engine(nothing))).height == 0


def test_family_column_is_read(engine: Engine, events: pl.DataFrame):
    """A ``family`` column, nulls included, is used as it is."""
    data = events.with_columns(
        family=pl.when(pl.col("type").str.contains("order")).then(pl.lit("orders"))
    )
    for options in ({}, {"period": "month", "tz": "America/New_York"}):
        local = activity_timeline(data, **options)
        assert local["family"].null_count() > 0
        check_same(local, activity_timeline(engine(data), **options))


def test_ledger(engine: Engine, events: pl.DataFrame):
    """``ledger=``: balances from another frame of the same engine; a ledger
    without ``id`` is read too (a balance is a sum)."""
    subset = events.filter(pl.col("customer_id") < "c010")
    for ledger in (events, events.drop("id")):
        check_same(
            kpis(subset, ledger=ledger, period="week"),
            kpis(engine(subset), ledger=engine(ledger), period="week"),
        )


def test_mixed_kinds_are_refused(engine: Engine, events: pl.DataFrame):
    with pytest.raises(AnalysisInputError, match="same kind"):
        kpis(events, ledger=engine(events))
    with pytest.raises(AnalysisInputError, match="same kind"):
        kpis(engine(events), ledger=events)


def test_result_records_params_and_engine(engine: Engine, events: pl.DataFrame):
    options = {"period": "week", "tz": "Europe/Berlin", "week_start": "sunday"}
    params = computed_by(engine, kpis(engine(events), **options))
    local = params_of(kpis(events, **options))
    assert local is not None
    assert params.options == local.options
    assert params["week_start"] == "sunday"
    timeline = computed_by(engine, activity_timeline(engine(events), period="day"))
    assert timeline["period"] == "day"


def test_engine_input_errors(engine: Engine, events: pl.DataFrame):
    with pytest.raises(MissingColumnsError, match="'customer_id'"):
        activity_timeline(engine(events.drop("customer_id")))
    with pytest.raises(AnalysisInputError, match="Datetime"):
        kpis(engine(events.with_columns(pl.col("created_at").cast(pl.String))))


def test_order_amount_types(engine: Engine, events: pl.DataFrame):
    """Text amounts are refused on every path; a column of nulls only (Polars
    ``Null``) sums to zero on every path, as a column of typed nulls does."""
    text = events.with_columns(pl.col("order_amount").cast(pl.String))
    for data in (text, engine(text)):
        with pytest.raises(AnalysisInputError, match="'order_amount' must be numeric"):
            kpis(data)
    nulls = events.with_columns(pl.lit(None).alias("order_amount"))
    typed = events.with_columns(pl.lit(None, dtype=pl.Int64).alias("order_amount"))
    local = kpis(nulls)
    revenue = local.filter(pl.col("metric") == "revenue")
    assert revenue.select("value", "previous").row(0) == (0.0, 0.0)
    assert local.equals(kpis(typed))
    if engine.name != "ibis":  # Ibis cannot create a table with a Null column
        check_same(local, kpis(engine(nulls)))
    check_same(local, kpis(engine(typed)))


# -- coupon_funnels ------------------------------------------------------------------


def test_coupon_funnels(engine: Engine, log: Any, campaign_rows: pl.DataFrame):
    """The top campaigns and given ones, as the ActivityLog path gives them."""
    frame = engine(campaign_rows)
    out = coupon_funnels(frame, top=2)
    assert isinstance(out, engine.native_type)
    local = coupon_funnels(log, top=2)
    assert local["campaign_name"].n_unique() == 2
    check_same(local, out)
    local_params = params_of(local)
    assert local_params is not None
    assert computed_by(engine, out)["campaigns"] == local_params["campaigns"]
    names = campaign_rows["campaign_name"].drop_nulls().unique().sort().to_list()
    chosen = [names[-1], names[0]]
    check_same(
        coupon_funnels(log, campaigns=chosen), coupon_funnels(frame, campaigns=chosen)
    )


def test_coupon_funnels_edges(engine: Engine, campaign_rows: pl.DataFrame):
    """A typo is refused with the closest names; no campaign gives no row (with the
    columns); an ActivityLog's frame is refused with a pointer."""
    frame = engine(campaign_rows)
    with pytest.raises(AnalysisInputError, match="neither a campaign id nor a name"):
        coupon_funnels(frame, campaigns=["Free shiping"])
    empty = to_polars(coupon_funnels(engine(campaign_rows.clear())))
    assert empty.height == 0
    assert empty.columns == ["campaign_name", *COUPON_FUNNEL_COLUMNS]
    with pytest.raises(AnalysisInputError, match="ActivityLog or an engine frame"):
        coupon_funnels(campaign_rows)  # type: ignore[arg-type]


def test_coupon_funnels_arguments(
    engine: Engine, log: Any, campaign_rows: pl.DataFrame
):
    """One name as a string, repeats dropped, no campaign: the ActivityLog path and
    the engines give the same rows and columns; a negative ``top`` is refused."""
    frame = engine(campaign_rows)
    name = campaign_rows["campaign_name"].drop_nulls().sort()[0]
    one = coupon_funnels(log, campaigns=name)
    assert one["campaign_name"].unique().to_list() == [name]
    assert one.height == 4
    check_same(one, coupon_funnels(frame, campaigns=name))
    check_same(one, coupon_funnels(log, campaigns=[name, name]))
    check_same(one, coupon_funnels(frame, campaigns=[name, name]))
    for kwargs in ({"top": 0}, {"campaigns": []}):
        local = coupon_funnels(log, **kwargs)
        assert local.schema == one.schema
        assert local.columns == ["campaign_name", *COUPON_FUNNEL_COLUMNS]
        assert local.is_empty()
        got = to_polars(coupon_funnels(frame, **kwargs))
        assert got.columns == local.columns
        assert got.is_empty()
    for bad in (-1, 1.5, True):
        with pytest.raises(AnalysisInputError, match="top must be an integer"):
            coupon_funnels(log, top=bad)  # type: ignore[arg-type]
        with pytest.raises(AnalysisInputError, match="top must be an integer"):
            coupon_funnels(frame, top=bad)  # type: ignore[arg-type]


# -- PySpark -------------------------------------------------------------------------


@pytest.mark.slow
def test_on_spark(spark_engine: Engine, log: Any):
    """The Spark cases, the ledger, the bare frame and the campaign funnels, as
    failures collected in one test (a Spark query costs seconds)."""
    events = overview_events(20, seed=3, tz="Europe/Berlin")
    failures = spark_failures(spark_engine, CASES, SPARK, events)
    bare = events.select("id", "type", "customer_id", "created_at")
    rows = analysis.typed_events(
        log,
        families=["publication", "validation", "redemption", "order"],
        columns=list(sample_campaign_rows(customers=1).columns),
    )
    checks = [
        (
            "kpis bare",
            kpis(bare, period="week"),
            kpis(spark_engine(bare), period="week"),
        ),
        (
            "kpis ledger",
            kpis(bare, ledger=events),
            kpis(spark_engine(bare), ledger=spark_engine(events)),
        ),
        (
            "coupon_funnels",
            coupon_funnels(log, top=2),
            coupon_funnels(spark_engine(rows), top=2),
        ),
    ]
    for what, local, out in checks:
        if not isinstance(out, spark_engine.native_type):
            failures.append(f"{what}: {type(out)}")
            continue
        try:
            check_same(local, out)
        except AssertionError as exc:
            failures.append(f"{what}: {exc}")
    assert failures == []
