"""Loyalty points economics: flows per period, breakage, liability.

**The ledger.** Every points-related event becomes one signed change of a loyalty
card's balance (the card is ``voucher_code``; customer and campaign when the code is
missing):

========================================================  ==================  =======
event                                                     flow                balance
========================================================  ==================  =======
``loyalty_card.points_added``                             earned              \\+
``loyalty_card.points_activated``                         earned              \\+
``loyalty_card.pending_points.activated``                 earned (pending)    \\+
``loyalty_card.points_transferred`` (IN / OUT)            transferred in/out  ±
``loyalty_card.points_expired``                           expired             \\-
``redemption.succeeded`` of a ``LOYALTY_CARD`` voucher    spent (redemption)  \\-
``redemption.rollback.succeeded`` of a ``LOYALTY_CARD``   spent, negative     \\+
``reward_redemptions.completed``                          spent (reward)      \\-
``reward_redemptions.rolledback``                         spent, negative     \\+
``pending_points.added`` / ``.canceled``                  pending (memo)      0
``rewarded.loyalty_points``                               not counted         0
========================================================  ==================  =======

``customer.rewarded.loyalty_points`` is emitted together with ``points_added`` for the
same accrual (same ``group_id``), so earning is counted from ``points_added`` only. A
``points_activated`` event in the same ``group_id`` as a
``pending_points.activated`` is the same credit and is counted once. Amounts: the
signed ``points_change`` for points events, ``expired_points`` for expiry,
``redemption_amount`` for redemptions (negative on rollbacks) and ``reward_points`` for
reward redemptions.

**Engines.** Given a DuckDB relation, an Ibis table or a PySpark DataFrame of the
points, pending_points, reward_redemption and redemption families' rows — the store's
four family tables stacked by column name (DuckDB ``union_by_name``, Spark
``unionByName(allowMissingColumns=True)``) or any events table — with the columns
``id``, ``customer_id``, ``type``, ``created_at`` (a timestamp) and at least one of
``points``, ``balance``, ``points_change``, ``expired_points``, ``transaction_type``,
``pending_points``, ``reward_points``, ``redemption_amount``, ``voucher_type``
(``campaign_id``, ``voucher_code`` and ``group_id`` are read when present, and the
``by`` columns are needed), every function runs its portable definition
(:mod:`._portable_points`) and returns a frame of that engine. ``points_liability``
is computed by the engine whole; ``points_flows`` and ``breakage`` by the engine up to
their sums per period, whose small table (every period, the ratios) is then finished
locally by the same code as here and handed back in the engine's kind. ``id`` is
required there (engines have no row order). ``tests/scale/`` checks every function
and option gives the local rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import polars as pl

from activity_toolkit._time import as_utc, to_ms
from activity_toolkit.analysis import _portable_points
from activity_toolkit.analysis._common import Kind, finish, norm_by
from activity_toolkit.analysis._engine import (
    EngineFrame,
    finish_native,
    from_polars,
    is_local,
    period_starts,
    portable,
    wrap,
)
from activity_toolkit.analysis._options import Period, WeekStart
from activity_toolkit.analysis._params import AnalysisParams
from activity_toolkit.analysis._periods import (
    bucket,
    every_period,
    resolve_period,
    weekday,
)
from activity_toolkit.analysis._portable_points import BASE_KIND as _BASE_KIND
from activity_toolkit.analysis._portable_points import FAMILIES as _FAMILIES
from activity_toolkit.analysis._portable_points import RAW_FLOWS as _RAW_FLOWS
from activity_toolkit.analysis._portable_points import TYPED as _TYPED
from activity_toolkit.analysis._portable_points import P as _P
from activity_toolkit.analysis._typed import typed_input
from activity_toolkit.exceptions import AnalysisInputError
from activity_toolkit.model import ActivityLog

__all__ = ["breakage", "points_flows", "points_liability"]

_FLOWS = (
    "earned",
    "spent_redemptions",
    "spent_rewards",
    "spent",
    "expired",
    "transferred_in",
    "transferred_out",
    "pending_added",
    "pending_activated",
    "pending_canceled",
    "net",
)
_LEDGER_NOTE = (
    "earning counted from points_added/points_activated/pending activations "
    "(rewarded.loyalty_points is the same accrual)"
)


def _input(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame,
) -> tuple[pl.LazyFrame, Kind]:
    return typed_input(
        data,
        families=_FAMILIES,
        required=["customer_id", "type", "created_at"],
        typed=_TYPED,
        what="points events",
    )


def _ledger(lf: pl.LazyFrame) -> pl.LazyFrame:
    """One row per points-related event: ``_kind``, ``_amount`` (magnitude, or the
    signed value for spends that can be negative) and ``_delta`` (balance change)."""
    schema = lf.collect_schema()
    t = pl.col("type")
    extra = [c for c in ("campaign_id", "voucher_code", "group_id") if c not in schema]
    lf = lf.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in extra)
    change = pl.coalesce("points_change", "points")
    # the kind of each event type: one hash lookup per row, then the exceptions
    base_kind = t.replace_strict(_BASE_KIND, default=None, return_dtype=pl.String)
    pend_act = t == _P + "pending_points.activated"
    dup_activation = (t == _P + "points_activated") & pl.col("group_id").is_in(
        pl.col("group_id").filter(pend_act).drop_nulls().implode()
    )
    kind = (
        pl.when(pl.col("_kind") == "transfer")
        .then(
            pl.when(change >= 0)
            .then(pl.lit("transferred_in"))
            .otherwise(pl.lit("transferred_out"))
        )
        .when(
            (pl.col("_kind") == "spent_redemptions")
            & (pl.col("voucher_type") != "LOYALTY_CARD")
        )
        .then(pl.lit(None, dtype=pl.String))
        .when(dup_activation)
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.col("_kind"))
    )
    rolled = t == "customer.reward_redemptions.rolledback"
    amount = (
        pl.when(pl.col("_kind").is_in(["earned", "transferred_in"]))
        .then(change)
        .when(pl.col("_kind") == "transferred_out")
        .then(-change)
        .when(pl.col("_kind") == "pending_activated")
        .then(pl.coalesce("points", "pending_points"))
        .when(pl.col("_kind") == "expired")
        .then(pl.coalesce(pl.col("expired_points"), -pl.col("points_change")))
        .when(pl.col("_kind") == "spent_redemptions")
        .then(pl.col("redemption_amount"))
        .when(pl.col("_kind") == "spent_rewards")
        .then(
            pl.when(rolled)
            .then(-pl.col("reward_points"))
            .otherwise(pl.col("reward_points"))
        )
        .when(pl.col("_kind").is_in(["pending_added", "pending_canceled"]))
        .then(pl.col("pending_points"))
    )
    delta = (
        pl.when(
            pl.col("_kind").is_in(["earned", "pending_activated", "transferred_in"])
        )
        .then(pl.col("_amount"))
        .when(
            pl.col("_kind").is_in(
                ["transferred_out", "expired", "spent_redemptions", "spent_rewards"]
            )
        )
        .then(-pl.col("_amount"))
        .otherwise(0)
    )
    card = pl.coalesce(
        "voucher_code",
        pl.concat_str(
            [pl.col("customer_id"), pl.col("campaign_id").fill_null("")], separator="/"
        ),
    )
    return (
        lf.with_columns(base_kind.alias("_kind"))
        .filter(pl.col("_kind").is_not_null())
        .with_columns(kind.alias("_kind"), card.alias("_card"))
        .filter(pl.col("_kind").is_not_null())
        .with_columns(amount.fill_null(0).cast(pl.Int64).alias("_amount"))
        .with_columns(delta.cast(pl.Int64).alias("_delta"))
    )


@portable
def points_flows(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame | EngineFrame,
    *,
    period: Period = "month",
    by: str | Sequence[str] | None = None,
    tz: str = "UTC",
    week_start: WeekStart = "monday",
    every: str | None = None,
) -> pl.DataFrame | pl.LazyFrame | EngineFrame:
    """Points earned, spent, expired, transferred and pending, per period.

    Parameters
    ----------
    data
        An :class:`~activity_toolkit.ActivityLog`, or stacked events of the points,
        pending_points, reward_redemption and redemption families (see
        :func:`~activity_toolkit.analysis.typed_events`); or a DuckDB relation,
        Ibis table or PySpark DataFrame of those events (the store's four family
        tables stacked by column name) with ``id``, ``customer_id``, ``type``,
        ``created_at`` (a timestamp), at least one of ``points``, ``balance``,
        ``points_change``, ``expired_points``, ``transaction_type``,
        ``pending_points``, ``reward_points``, ``redemption_amount``,
        ``voucher_type``, and the ``by`` columns; ``campaign_id``,
        ``voucher_code`` and ``group_id`` are read when present (see *Engines*
        above). The engine sums the flows per period; the small table of every
        period is finished locally and handed back as a frame of that engine.
    period
        ``"day"``, ``"week"``, ``"month"``, ``"quarter"`` or ``"year"``: calendar
        periods in ``tz``.
    by
        Breakdown column(s) such as ``"campaign_id"``.
    tz
        Time zone of the calendar and of the ``period`` column.
    week_start
        First day of a week for ``period="week"``.
    every
        Deprecated: the Polars duration (``"1mo"``) that ``period`` replaces.

    Returns
    -------
    DataFrame or LazyFrame
        ``period`` (start), the ``by`` columns, then ``earned`` (points credited by
        earning, including activated pending points), ``spent_redemptions``,
        ``spent_rewards``, ``spent`` (their sum, net of rollbacks), ``expired``,
        ``transferred_in``, ``transferred_out``, ``pending_added``,
        ``pending_activated`` (also inside ``earned``), ``pending_canceled``,
        ``net`` (earned + transferred in - spent - expired - transferred out: the
        change of the balances) and ``earn_burn_ratio`` (spent ÷ earned). One row per
        period from the first to the last event, zeros included.

    Examples
    --------
    >>> import polars as pl
    >>> p = "customer.voucher.loyalty_card."
    >>> events = pl.DataFrame(
    ...     {
    ...         "customer_id": ["c1", "c1", "c1"],
    ...         "type": [
    ...             p + "points_added",
    ...             "customer.reward_redemptions.completed",
    ...             p + "points_expired",
    ...         ],
    ...         "created_at": pl.Series(
    ...             ["2024-01-05", "2024-01-20", "2024-03-01"]
    ...         ).str.to_datetime(),
    ...         "points_change": [500, None, -100],
    ...         "expired_points": [None, None, 100],
    ...         "reward_points": [None, 300, None],
    ...     }
    ... )
    >>> points_flows(events).select("earned", "spent", "expired", "net")
    shape: (3, 4)
    ┌────────┬───────┬─────────┬──────┐
    │ earned ┆ spent ┆ expired ┆ net  │
    │ ---    ┆ ---   ┆ ---     ┆ ---  │
    │ i64    ┆ i64   ┆ i64     ┆ i64  │
    ╞════════╪═══════╪═════════╪══════╡
    │ 500    ┆ 300   ┆ 0       ┆ 200  │
    │ 0      ┆ 0     ┆ 0       ┆ 0    │
    │ 0      ┆ 0     ┆ 100     ┆ -100 │
    └────────┴───────┴─────────┴──────┘
    """
    period = resolve_period(period, every, function="points_flows")  # type: ignore[assignment]
    ws = weekday(week_start)
    bys = norm_by(by)
    params = AnalysisParams(
        "points_flows",
        (
            ("period", period),
            ("by", (bys[0] if len(bys) == 1 else bys) or None),
            ("tz", tz),
            ("week_start", week_start if period == "week" else None),
        ),
        (
            _LEDGER_NOTE,
            "spent is net of rollbacks; earned includes activated pending points",
        ),
    )
    if not is_local(data):
        rows = _engine_rows(data, bys)
        parts = _portable_points.flows_parts(
            rows, bys=bys, period=period, tz=tz, week_start=ws
        )
        sums_local = period_starts(
            parts, "_rep", "period", period=period, tz=tz, week_start=ws
        ).drop("_key", "_rep")
        out_local = _flows_table(sums_local.lazy(), bys, period).collect()
        return finish_native(from_polars(out_local, rows), params, given=data)
    lf, kind = _input(data)
    led = _ledger(lf).with_columns(bucket("created_at", period, tz, ws).alias("period"))
    sums = led.group_by(["period", *bys]).agg(
        pl.col("_amount").filter(pl.col("_kind") == k).sum().alias(k)
        for k in _RAW_FLOWS
    )
    return finish(_flows_table(sums, bys, period), kind, params)


def _flows_table(sums: pl.LazyFrame, bys: Sequence[str], period: str) -> pl.LazyFrame:
    """``points_flows``' rows from the raw flows summed per ``period`` and ``bys``:
    every period from the first to the last (times every ``by`` value), zeros
    filled, the derived flows and ratio."""
    raw = list(_RAW_FLOWS)
    periods = every_period(sums, period)
    grid = periods.join(sums.select(bys).unique(), how="cross") if bys else periods
    return (
        grid.join(sums, on=["period", *bys], how="left", nulls_equal=True)
        .filter(pl.col("period").is_not_null())
        .with_columns(pl.col(raw).fill_null(0).cast(pl.Int64))
        .with_columns(
            (pl.col("earned") + pl.col("pending_activated")).alias("earned"),
            (pl.col("spent_redemptions") + pl.col("spent_rewards")).alias("spent"),
        )
        .with_columns(
            (
                pl.col("earned")
                + pl.col("transferred_in")
                - pl.col("spent")
                - pl.col("expired")
                - pl.col("transferred_out")
            ).alias("net"),
            pl.when(pl.col("earned") != 0)
            .then(pl.col("spent") / pl.col("earned"))
            .alias("earn_burn_ratio"),
        )
        .select("period", *bys, *_FLOWS, "earn_burn_ratio")
        .sort(["period", *bys], nulls_last=True)
    )


def _engine_rows(data: EngineFrame, bys: Sequence[str]) -> Any:
    """The points events of an engine frame, checked, with the ``by`` columns."""
    lf = wrap(data, what="points events")
    have = lf.collect_schema()
    missing = [c for c in bys if c not in have and c not in _portable_points.OPTIONAL]
    if missing:
        msg = f"by column(s) {missing} are not in the points events"
        raise AnalysisInputError(msg)
    return _portable_points.points_rows(lf, extra=bys)


@portable
def breakage(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame | EngineFrame,
    *,
    period: Period = "month",
    tz: str = "UTC",
    week_start: WeekStart = "monday",
    every: str | None = None,
) -> pl.DataFrame | pl.LazyFrame | EngineFrame:
    """Breakage per earning cohort, with first-in-first-out attribution.

    Points earned in the same period form a cohort. Each card's debits (spends,
    expiries, transfers out) consume its credits oldest first, so every spent, expired
    or transferred point is attributed to the cohort that earned it. Credits that are
    not earning (transfers in, refunds from rollbacks) take part in the order but are
    not reported. Cards are assumed to start at zero inside the data (points from
    before the first event cannot be attributed and are left out).

    Two rates, each with its definition:

    * ``realised_breakage`` = expired ÷ earned: final once the cohort is ``settled``
      (all its points spent, expired or transferred);
    * ``lifetime_breakage`` = (earned - spent) ÷ earned: treats every point not spent
      yet — outstanding, expired or transferred out — as broken; an upper bound while
      points are outstanding.

    Parameters
    ----------
    data
        An :class:`~activity_toolkit.ActivityLog` or stacked points events, or an
        engine frame of them with the same columns as for :func:`points_flows`.
        The engine attributes the debits and sums them per cohort; the small
        table is finished locally and handed back as a frame of that engine.
    period
        Length of an earning cohort: ``"day"``, ``"week"``, ``"month"``,
        ``"quarter"`` or ``"year"``, calendar periods in ``tz``.
    tz
        Time zone of the calendar and of the ``cohort`` column.
    week_start
        First day of a week for ``period="week"``.
    every
        Deprecated: the Polars duration (``"1mo"``) that ``period`` replaces.

    Returns
    -------
    DataFrame or LazyFrame
        ``cohort`` (period start), ``earned``, ``spent``, ``expired``,
        ``transferred_out``, ``outstanding``, ``settled``, ``realised_breakage``,
        ``lifetime_breakage``.

    Examples
    --------
    >>> import polars as pl
    >>> p = "customer.voucher.loyalty_card."
    >>> events = pl.DataFrame(
    ...     {
    ...         "customer_id": ["c1"] * 4,
    ...         "voucher_code": ["LC1"] * 4,
    ...         "type": [
    ...             p + "points_added",
    ...             p + "points_added",
    ...             "customer.reward_redemptions.completed",
    ...             p + "points_expired",
    ...         ],
    ...         "created_at": pl.Series(
    ...             ["2024-01-05", "2024-02-05", "2024-02-20", "2025-01-05"]
    ...         ).str.to_datetime(),
    ...         "points_change": [100, 100, None, -50],
    ...         "expired_points": [None, None, None, 50],
    ...         "reward_points": [None, None, 150, None],
    ...     }
    ... )
    >>> breakage(events).select("earned", "spent", "expired", "outstanding", "realised_breakage")
    shape: (2, 5)
    ┌────────┬───────┬─────────┬─────────────┬───────────────────┐
    │ earned ┆ spent ┆ expired ┆ outstanding ┆ realised_breakage │
    │ ---    ┆ ---   ┆ ---     ┆ ---         ┆ ---               │
    │ i64    ┆ i64   ┆ i64     ┆ i64         ┆ f64               │
    ╞════════╪═══════╪═════════╪═════════════╪═══════════════════╡
    │ 100    ┆ 100   ┆ 0       ┆ 0           ┆ 0.0               │
    │ 100    ┆ 50    ┆ 50      ┆ 0           ┆ 0.5               │
    └────────┴───────┴─────────┴─────────────┴───────────────────┘
    """
    period = resolve_period(period, every, function="breakage")  # type: ignore[assignment]
    ws = weekday(week_start)
    params = AnalysisParams(
        "breakage",
        (
            ("period", period),
            ("tz", tz),
            ("week_start", week_start if period == "week" else None),
        ),
        (
            "realised_breakage = expired / earned (final when settled)",
            "lifetime_breakage = (earned - spent) / earned",
            "debits attributed to earning cohorts first-in-first-out per card",
            _LEDGER_NOTE,
        ),
    )
    if not is_local(data):
        rows = _engine_rows(data, ())
        parts = period_starts(
            _portable_points.breakage_parts(rows, period=period, tz=tz, week_start=ws),
            "_rep",
            "cohort",
            period=period,
            tz=tz,
            week_start=ws,
        )
        out_local = _breakage_table(
            parts.select("cohort", "earned").lazy(),
            parts.select("cohort", "spent", "expired", "transferred_out").lazy(),
        ).collect()
        return finish_native(from_polars(out_local, rows), params, given=data)
    lf, kind = _input(data)
    led = _ledger(lf).filter(pl.col("_delta") != 0).sort(["_card", "created_at", "id"])
    credit = pl.col("_delta") > 0
    led = led.with_columns(
        pl.when(credit)
        .then(pl.col("_delta"))
        .otherwise(0)
        .cum_sum()
        .over("_card")
        .alias("_in_hi"),
        pl.when(credit)
        .then(0)
        .otherwise(-pl.col("_delta"))
        .cum_sum()
        .over("_card")
        .alias("_out_hi"),
    )
    lots = led.filter(credit).select(
        "_card",
        (pl.col("_in_hi") - pl.col("_delta")).alias("_lo"),
        pl.col("_in_hi").alias("_hi"),
        (pl.col("_kind").is_in(["earned", "pending_activated"])).alias("_earning"),
        bucket("created_at", period, tz, ws).alias("cohort"),
    )
    debits = led.filter(~credit).select(
        "_card",
        (pl.col("_out_hi") + pl.col("_delta")).alias("_dlo"),
        pl.col("_out_hi").alias("_dhi"),
        pl.when(pl.col("_kind").is_in(["spent_redemptions", "spent_rewards"]))
        .then(pl.lit("spent"))
        .otherwise(pl.col("_kind"))
        .alias("_dkind"),
    )
    overlap = (
        lots.filter(pl.col("_earning"))
        .join(debits, on="_card", how="inner")
        .with_columns(
            (pl.min_horizontal("_hi", "_dhi") - pl.max_horizontal("_lo", "_dlo")).alias(
                "_x"
            )
        )
        .filter(pl.col("_x") > 0)
        .group_by("cohort")
        .agg(
            pl.col("_x").filter(pl.col("_dkind") == k).sum().alias(k)
            for k in ("spent", "expired", "transferred_out")
        )
    )
    earned = (
        lots.filter(pl.col("_earning"))
        .group_by("cohort")
        .agg((pl.col("_hi") - pl.col("_lo")).sum().alias("earned"))
    )
    return finish(_breakage_table(earned, overlap), kind, params)


def _breakage_table(earned: pl.LazyFrame, overlap: pl.LazyFrame) -> pl.LazyFrame:
    """``breakage``'s rows from the points earned per ``cohort`` and the debits
    attributed to each (``spent``, ``expired``, ``transferred_out``)."""
    return (
        earned.join(overlap, on="cohort", how="left")
        .with_columns(pl.col("spent", "expired", "transferred_out").fill_null(0))
        .with_columns(
            (
                pl.col("earned")
                - pl.col("spent")
                - pl.col("expired")
                - pl.col("transferred_out")
            ).alias("outstanding")
        )
        .select(
            "cohort",
            pl.col("earned", "spent", "expired", "transferred_out", "outstanding").cast(
                pl.Int64
            ),
            (pl.col("outstanding") == 0).alias("settled"),
            pl.when(pl.col("earned") > 0)
            .then(pl.col("expired") / pl.col("earned"))
            .alias("realised_breakage"),
            pl.when(pl.col("earned") > 0)
            .then((pl.col("earned") - pl.col("spent")) / pl.col("earned"))
            .alias("lifetime_breakage"),
        )
        .sort("cohort")
    )


@portable
def points_liability(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame | EngineFrame,
    *,
    value_per_point: float,
    expected_breakage: float,
    at: datetime | date | str | None = None,
    by: str | Sequence[str] | None = "campaign_id",
) -> pl.DataFrame | pl.LazyFrame | EngineFrame:
    """Outstanding points and their liability: points x value x (1 - expected breakage).

    A card's outstanding points are its last reported ``balance`` plus the ledger
    changes after that report that carry no balance of their own (spends on rewards
    and redemptions, expiries); a card that never reported a balance uses the sum of
    its ledger. Negative results count as 0. Under IFRS 15 / ASC 606 the liability is
    deferred revenue released as points are redeemed or expire.

    Parameters
    ----------
    data
        An :class:`~activity_toolkit.ActivityLog` or stacked points events, or an
        engine frame of them with the same columns as for :func:`points_flows`
        (computed by that engine whole).
    value_per_point
        Money value of one point, in the unit the liability should be in.
    expected_breakage
        Forecast share of outstanding points that will never be redeemed, in [0, 1).
    at
        Measure as of this time (events before it); default after all events.
    by
        Grouping column(s); ``None`` gives a single total row.

    Returns
    -------
    DataFrame or LazyFrame
        The ``by`` columns, ``cards``, ``outstanding_points``, ``value_per_point``,
        ``expected_breakage`` and ``liability``.

    Examples
    --------
    >>> import polars as pl
    >>> p = "customer.voucher.loyalty_card."
    >>> events = pl.DataFrame(
    ...     {
    ...         "customer_id": ["c1", "c1", "c2"],
    ...         "campaign_id": ["club"] * 3,
    ...         "voucher_code": ["LC1", "LC1", "LC2"],
    ...         "type": [
    ...             p + "points_added",
    ...             "customer.reward_redemptions.completed",
    ...             p + "points_added",
    ...         ],
    ...         "created_at": pl.Series(
    ...             ["2024-01-05", "2024-01-20", "2024-02-01"]
    ...         ).str.to_datetime(),
    ...         "points_change": [500, None, 200],
    ...         "balance": [500, None, 200],
    ...         "reward_points": [None, 300, None],
    ...     }
    ... )
    >>> points_liability(events, value_per_point=0.01, expected_breakage=0.2).select(
    ...     "cards", "outstanding_points", "liability"
    ... )
    shape: (1, 3)
    ┌───────┬────────────────────┬───────────┐
    │ cards ┆ outstanding_points ┆ liability │
    │ ---   ┆ ---                ┆ ---       │
    │ i64   ┆ i64                ┆ f64       │
    ╞═══════╪════════════════════╪═══════════╡
    │ 2     ┆ 400                ┆ 3.2       │
    └───────┴────────────────────┴───────────┘
    """
    if not 0 <= expected_breakage < 1:
        msg = f"expected_breakage must be in [0, 1); got {expected_breakage!r}"
        raise AnalysisInputError(msg)
    if value_per_point < 0:
        msg = f"value_per_point must not be negative; got {value_per_point!r}"
        raise AnalysisInputError(msg)
    bys = norm_by(by)
    params = AnalysisParams(
        "points_liability",
        (
            ("value_per_point", float(value_per_point)),
            ("expected_breakage", float(expected_breakage)),
            ("at", as_utc(at) if at is not None else "after the last event"),
            ("by", (bys[0] if len(bys) == 1 else bys) or None),
        ),
        (
            "liability = outstanding points x value per point x (1 - expected breakage)",
            "outstanding = last reported balance + later unreported changes",
            _LEDGER_NOTE,
        ),
    )
    if not is_local(data):
        out_engine = _portable_points.liability(
            _engine_rows(data, bys),
            bys=bys,
            at_ms=to_ms(at) if at is not None else None,
            value_per_point=value_per_point,
            expected_breakage=expected_breakage,
        )
        return finish_native(out_engine, params, given=data)
    lf, kind = _input(data)
    led = _ledger(lf)
    if at is not None:
        led = led.filter(pl.col("created_at") < as_utc(at))
    missing = [c for c in bys if c not in led.collect_schema()]
    if missing:
        msg = f"by column(s) {missing} are not in the points events"
        raise AnalysisInputError(msg)
    led = led.sort(["_card", "created_at", "id"])
    seen = pl.col("balance").is_not_null().cum_sum().over("_card")
    led = led.with_columns(seen.alias("_seen"))
    per_card = led.group_by("_card").agg(
        *[pl.col(c).drop_nulls().last() for c in bys],
        pl.col("balance").drop_nulls().last().alias("_bal"),
        pl.col("_delta")
        .filter(
            (pl.col("_seen") == pl.col("_seen").max()) & pl.col("balance").is_null()
        )
        .sum()
        .alias("_after"),
        pl.col("_delta").sum().alias("_all"),
    )
    outstanding = pl.max_horizontal(
        pl.when(pl.col("_bal").is_not_null())
        .then(pl.col("_bal") + pl.col("_after"))
        .otherwise(pl.col("_all")),
        0,
    )
    per_card = per_card.with_columns(outstanding.cast(pl.Int64).alias("_out"))
    aggs = [
        pl.len().cast(pl.Int64).alias("cards"),
        pl.col("_out").sum().cast(pl.Int64).alias("outstanding_points"),
    ]
    grouped = per_card.group_by(list(bys)).agg(aggs) if bys else per_card.select(aggs)
    out = grouped.with_columns(
        pl.lit(float(value_per_point)).alias("value_per_point"),
        pl.lit(float(expected_breakage)).alias("expected_breakage"),
        (
            pl.col("outstanding_points").cast(pl.Float64)
            * float(value_per_point)
            * (1 - float(expected_breakage))
        ).alias("liability"),
    )
    if bys:
        out = out.sort(list(bys), nulls_last=True)
    return finish(out, kind, params)
