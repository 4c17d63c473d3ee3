"""Campaigns: per-campaign summary and the voucher-level coupon funnel.

Validation events carry a voucher code but no campaign; they are attributed to the
campaign that the same code has on publication and redemption events. Paid orders are
linked to redemptions by ``order_id``.

Inputs are an :class:`~activity_toolkit.ActivityLog` or a frame of stacked events of
the publication, validation, redemption and order families (see
:func:`~activity_toolkit.analysis.typed_events`).

**Engines.** Given a DuckDB relation, an Ibis table or a PySpark DataFrame of those
stacked rows (with an ``id`` column), both functions run their portable definition
(:mod:`._portable_campaigns`): the engine computes every count, amount and duration
and the small per-campaign / per-step aggregates are collected; the list columns
(``top_failure_codes``, ``failure_reasons``) and their text are then built locally and
the result is handed back as a frame of the same engine. Durations are ``Int64``
milliseconds there. ``tests/scale/`` checks both paths give the same rows, and
compiles the engine queries for Snowflake, BigQuery, Trino, Postgres and Databricks
through Ibis (compiled, not run; DuckDB runs the compiled text).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals as nw
import polars as pl

from activity_toolkit.analysis import _portable_campaigns
from activity_toolkit.analysis._common import (
    Kind,
    conversion_columns,
    finish,
)
from activity_toolkit.analysis._engine import (
    EngineFrame,
    finish_native,
    from_polars,
    is_local,
    portable,
    to_polars,
    wrap,
)
from activity_toolkit.analysis._params import AnalysisParams
from activity_toolkit.analysis._portable_campaigns import (
    CANCELED,
    PAID,
    RED,
    RED_FAIL,
    ROLLBACK,
    TYPE_COUNTS,
    VAL,
    VAL_FAIL,
)
from activity_toolkit.analysis._portable_funnel import STEP_COLUMNS
from activity_toolkit.analysis._typed import typed_input
from activity_toolkit.model import ActivityLog, _check_campaign_names

__all__ = ["COUPON_FUNNEL_COLUMNS", "campaign_summary", "coupon_funnel"]

#: The columns of ``coupon_funnel``'s four rows, in order (every engine).
COUPON_FUNNEL_COLUMNS = (
    *STEP_COLUMNS,
    "failure_reasons",
    "failure_reasons_text",
    "rolled_back",
    "rollback_rate",
)

_FAMILIES = ["publication", "validation", "redemption", "order"]
_TYPED = (
    "voucher_code",
    "campaign_id",
    "campaign_name",
    "campaign_type",
    "failure_code",
    "order_id",
    "redemption_id",
    "order_total_amount",
    "order_total_discount_amount",
)


def _input(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame,
) -> tuple[pl.LazyFrame, Kind]:
    """The campaign rows as a LazyFrame, and the kind of result to hand back.

    Both analyses read their input in many branches of one plan (coupon_funnel's
    in about fifty: each step joins the units of the step before to the events).
    Over a DataFrame each branch filters memory. Over a lazy scan, Polars does not
    merge the branches once each has its own pushed-down projection and filter, so
    every branch ran the whole scan (and any sort) again: coupon_funnel over a
    ``scan_parquet`` of 1M events took 8-10 s against about 1 s collected first.
    A lazy input is therefore read once into a cache of the columns used here.
    """
    lf, kind = typed_input(
        data,
        families=_FAMILIES,
        required=["customer_id", "type", "created_at"],
        typed=_TYPED,
        what="campaign events",
    )
    if kind == "lazy":
        lf = lf.select("customer_id", "type", "created_at", "id", *_TYPED).cache()
    return lf, kind


def _with_campaign(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Fill ``campaign_id``/``campaign_name`` of events that only carry a voucher code
    from the other events of the same code."""
    codes = (
        lf.filter(
            pl.col("voucher_code").is_not_null() & pl.col("campaign_id").is_not_null()
        )
        .group_by("voucher_code")
        .agg(
            pl.col("campaign_id").first().alias("_cid"),
            pl.col("campaign_name").drop_nulls().first().alias("_cname"),
        )
    )
    return (
        lf.join(codes, on="voucher_code", how="left")
        .with_columns(
            pl.coalesce("campaign_id", "_cid").alias("campaign_id"),
            pl.coalesce("campaign_name", "_cname").alias("campaign_name"),
        )
        .drop("_cid", "_cname")
    )


def _listed(
    frame: pl.LazyFrame,
    by: list[str],
    item: tuple[str, str],
    name: str,
    head: int | None = None,
) -> pl.LazyFrame:
    """One row per ``by`` group: ``name``, the group's ``item`` (``(label,
    count)`` columns) as a list of structs, largest count first, then by label;
    the first ``head`` only when given."""
    label, count = item
    listed = pl.struct(label, count)
    return (
        frame.sort([*by, count, label], descending=[False] * len(by) + [True, False])
        .group_by(by, maintain_order=True)
        .agg((listed if head is None else listed.head(head)).alias(name))
    )


def _top_codes(frame: pl.LazyFrame, by: list[str], n: int, name: str) -> pl.LazyFrame:
    counted = frame.group_by(
        [*by, pl.col("failure_code").fill_null("(none)").alias("code")]
    ).agg(pl.len().cast(pl.Int64).alias("count"))
    return _listed(counted, by, ("code", "count"), name, head=n)


def _as_text(column: str, name: str, count: str) -> pl.Expr:
    """A list of ``{name, count}`` structs as text, ``"name count, name count"``
    (``""`` for an empty list), named ``<column>_text``."""
    item = pl.element().struct
    return (
        pl.col(column)
        .list.eval(
            pl.concat_str(
                item.field(name), pl.lit(" "), item.field(count).cast(pl.String)
            )
        )
        .list.join(", ")
        .alias(f"{column}_text")
    )


@portable
def campaign_summary(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame | EngineFrame, *, top: int = 3
) -> pl.DataFrame | pl.LazyFrame | EngineFrame:
    """One row per campaign: publications, validations, redemptions, money.

    Parameters
    ----------
    data
        An :class:`~activity_toolkit.ActivityLog` or stacked campaign events.
    top
        How many failure codes to list.

    Returns
    -------
    DataFrame or LazyFrame
        ``campaign_id``, ``campaign_name``, ``publications`` (succeeded),
        ``publications_failed``, ``validations_valid``, ``validations_invalid``,
        ``redemptions_succeeded``, ``redemptions_failed``, ``top_failure_codes``
        (redemption failures as a list of ``{code, count}``, most frequent first;
        ``"(none)"`` for a failure without a code), ``top_failure_codes_text`` (the
        same list as text, ``"quantity_exceeded 3, voucher_expired 1"``; an empty
        string when there is none), ``rollbacks`` (succeeded rollbacks), ``customers`` (distinct customers with any
        of these events), ``discount_given`` (``order_total_discount_amount`` of
        succeeded redemptions minus that of rolled back ones, minor units),
        ``order_revenue`` (``order_total_amount`` of paid orders that a succeeded
        redemption of the campaign applied to, each order once) and
        ``redemption_rate`` (redemptions succeeded ÷ publications; null without
        publications). Sorted by campaign id.

    Examples
    --------
    >>> import polars as pl
    >>> events = pl.DataFrame(
    ...     {
    ...         "customer_id": ["c1", "c1", "c1", "c2"],
    ...         "type": [
    ...             "customer.publication.succeeded",
    ...             "customer.redemption.succeeded",
    ...             "customer.order.paid",
    ...             "customer.publication.succeeded",
    ...         ],
    ...         "created_at": pl.Series(
    ...             ["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-03"]
    ...         ).str.to_datetime(),
    ...         "campaign_id": ["camp1", "camp1", None, "camp1"],
    ...         "voucher_code": ["A", "A", None, "B"],
    ...         "order_id": [None, "o1", "o1", None],
    ...         "order_total_amount": [None, 900, 900, None],
    ...         "order_total_discount_amount": [None, 100, 100, None],
    ...     }
    ... )
    >>> campaign_summary(events).select(
    ...     "publications", "redemptions_succeeded", "discount_given", "order_revenue",
    ...     "redemption_rate",
    ... )
    shape: (1, 5)
    ┌──────────────┬───────────────────────┬────────────────┬───────────────┬─────────────────┐
    │ publications ┆ redemptions_succeeded ┆ discount_given ┆ order_revenue ┆ redemption_rate │
    │ ---          ┆ ---                   ┆ ---            ┆ ---           ┆ ---             │
    │ i64          ┆ i64                   ┆ i64            ┆ i64           ┆ f64             │
    ╞══════════════╪═══════════════════════╪════════════════╪═══════════════╪═════════════════╡
    │ 2            ┆ 1                     ┆ 100            ┆ 900           ┆ 0.5             │
    └──────────────┴───────────────────────┴────────────────┴───────────────┴─────────────────┘
    """
    if not is_local(data):
        return _summary_on_engine(data, top=top)
    lf, kind = _input(data)
    ev = _with_campaign(lf).filter(pl.col("campaign_id").is_not_null())
    t = pl.col("type")
    disc = pl.col("order_total_discount_amount").fill_null(0)
    counts = ev.group_by("campaign_id").agg(
        pl.col("campaign_name").drop_nulls().first(),
        *[
            (t == type_).sum().cast(pl.Int64).alias(name)
            for name, type_ in TYPE_COUNTS.items()
        ],
        pl.col("customer_id").drop_nulls().n_unique().cast(pl.Int64).alias("customers"),
        (disc.filter(t == RED).sum() - disc.filter(t == ROLLBACK).sum())
        .cast(pl.Int64)
        .alias("discount_given"),
    )
    top_codes = _top_codes(
        ev.filter(t == RED_FAIL), ["campaign_id"], top, "top_failure_codes"
    )
    redeemed_orders = (
        ev.filter((t == RED) & pl.col("order_id").is_not_null())
        .select("campaign_id", "order_id")
        .unique()
    )
    paid = (
        lf.filter((t == PAID) & pl.col("order_id").is_not_null())
        .group_by("order_id")
        .agg(pl.col("order_total_amount").last())
    )
    revenue = (
        redeemed_orders.join(paid, on="order_id", how="inner")
        .group_by("campaign_id")
        .agg(pl.col("order_total_amount").sum().cast(pl.Int64).alias("order_revenue"))
    )
    out = _summary_rows(counts.join(revenue, on="campaign_id", how="left"), top_codes)
    return finish(out, kind, _summary_params(top))


def _summary_rows(counts: pl.LazyFrame, top_codes: pl.LazyFrame) -> pl.LazyFrame:
    """The rows of :func:`campaign_summary` from the per-campaign counts and
    amounts and the listed top failure codes (local path and engines)."""
    empty_codes = pl.lit(
        [], dtype=pl.List(pl.Struct({"code": pl.String, "count": pl.Int64}))
    )
    return (
        counts.join(top_codes, on="campaign_id", how="left")
        .with_columns(
            pl.col("top_failure_codes").fill_null(empty_codes),
            pl.col("order_revenue").fill_null(0),
            pl.when(pl.col("publications") > 0)
            .then(pl.col("redemptions_succeeded") / pl.col("publications"))
            .alias("redemption_rate"),
        )
        .with_columns(_as_text("top_failure_codes", "code", "count"))
        .select(_SUMMARY_COLUMNS)
        .sort("campaign_id")
    )


def _summary_params(top: int) -> AnalysisParams:
    return AnalysisParams(
        "campaign_summary",
        (("top", top),),
        (
            "validations attributed to campaigns through their voucher code",
            "redemption_rate = succeeded redemptions / succeeded publications",
            "discount net of rolled back redemptions; revenue of paid orders a redemption applied to",
        ),
    )


_SUMMARY_COLUMNS = (
    "campaign_id",
    "campaign_name",
    "publications",
    "publications_failed",
    "validations_valid",
    "validations_invalid",
    "redemptions_succeeded",
    "redemptions_failed",
    "top_failure_codes",
    "top_failure_codes_text",
    "rollbacks",
    "customers",
    "discount_given",
    "order_revenue",
    "redemption_rate",
)


def _engine_frame(data: EngineFrame) -> Any:
    """An engine frame of stacked campaign events, checked and prepared."""
    lf = wrap(data, what="campaign events")
    return _portable_campaigns.typed_frame(
        lf, families=_FAMILIES, typed=_TYPED, what="campaign events"
    )


def _summary_on_engine(data: EngineFrame, *, top: int) -> Any:
    """``campaign_summary`` of an engine frame: the engine's aggregates, the list
    column built locally, handed back in the engine's kind."""
    lf = _engine_frame(data)
    counts, codes = _portable_campaigns.campaign_parts(lf, top=top)
    out = _summary_from_parts(to_polars(counts), to_polars(codes))
    return finish_native(from_polars(out, lf), _summary_params(top), given=data)


def _summary_from_parts(counts: pl.DataFrame, codes: pl.DataFrame) -> pl.DataFrame:
    """``campaign_summary``'s rows from its engine queries' rows
    (:func:`._portable_campaigns.campaign_parts`)."""
    top_codes = _listed(
        codes.lazy(), ["campaign_id"], ("code", "count"), "top_failure_codes"
    )
    return _summary_rows(counts.lazy(), top_codes).collect()


_STEPS = ("published", "validated", "redeemed", "paid")
_UNIT = ["customer_id", "voucher_code"]

# -- the coupon funnel, step by step -----------------------------------------------------
#
# One row per unit (customer, voucher code) gathers ``_t1`` … ``_t4``, the times it
# reached each step (null: not reached), ``_rolled`` / ``_canceled`` and the failure
# code of its last failed validation / redemption; the step rows are aggregates of it.


def _first_after(
    cur: pl.LazyFrame,
    events: pl.LazyFrame,
    *,
    on: list[str],
    prev: str,
    name: str,
    carry: Sequence[str] = (),
) -> pl.LazyFrame:
    """The first event at or after ``prev`` for each unit of ``cur`` (ties allowed)."""
    hit = (
        cur.filter(pl.col(prev).is_not_null())
        .select(*_UNIT, *[c for c in on if c not in _UNIT], prev)
        .join(events, on=on, how="inner")
        .filter(pl.col("created_at") >= pl.col(prev))
        .group_by(_UNIT)
        .agg(
            pl.col("created_at").min().alias(name),
            # the carried fields of that first event, ties broken by id
            *[pl.col(c).sort_by(["created_at", "id"]).first().alias(c) for c in carry],
        )
    )
    return cur.join(hit, on=_UNIT, how="left")


def _published_units(
    lf: pl.LazyFrame, campaign: str | Sequence[str] | None
) -> pl.LazyFrame:
    """The units: ``_t1``, the first succeeded publication of the code to the
    customer (of the chosen campaigns)."""
    pubs = _portable_campaigns.chosen_publications(nw.from_native(lf), campaign)
    native: pl.LazyFrame = pubs.to_native()
    return native.group_by(_UNIT).agg(pl.col("created_at").min().alias("_t1"))


def _check_campaigns(
    lf: nw.LazyFrame[Any], campaign: str | Sequence[str] | None
) -> None:
    """Refuse a campaign id or name found on no event of the data (a typo would give
    an all-zero funnel), with the closest ids and names."""
    if campaign is None:
        return
    names = [campaign] if isinstance(campaign, str) else list(campaign)
    known = _portable_campaigns.known_campaigns(lf)
    _check_campaign_names(names, known, where="the data")


def _coded(lf: pl.LazyFrame, type_: str) -> pl.LazyFrame:
    """Events of one type that carry a voucher code."""
    return lf.filter(pl.col("voucher_code").is_not_null() & (pl.col("type") == type_))


def _with_progress(units: pl.LazyFrame, lf: pl.LazyFrame) -> pl.LazyFrame:
    """``_t2`` validated, ``_t3`` redeemed (with the redemption's ``order_id`` and
    ``redemption_id``) and ``_t4`` that order paid, each at or after the previous."""
    sel = ["customer_id", "voucher_code", "created_at", "id"]
    units = _first_after(
        units, _coded(lf, VAL).select(sel), on=_UNIT, prev="_t1", name="_t2"
    )
    units = _first_after(
        units,
        _coded(lf, RED).select(*sel, "order_id", "redemption_id"),
        on=_UNIT,
        prev="_t2",
        name="_t3",
        carry=("order_id", "redemption_id"),
    )
    paid = lf.filter(
        (pl.col("type") == PAID) & pl.col("order_id").is_not_null()
    ).select("customer_id", "order_id", "created_at", "id")
    return _first_after(
        units, paid, on=["customer_id", "order_id"], prev="_t3", name="_t4"
    )


def _with_rollbacks(units: pl.LazyFrame, lf: pl.LazyFrame) -> pl.LazyFrame:
    """``_rolled`` (the unit's redemption was rolled back) and ``_canceled`` (its
    order was canceled; null otherwise)."""
    rollbacks = (
        _coded(lf, ROLLBACK)
        .select(*_UNIT, pl.col("created_at").alias("_rb"))
        .group_by(_UNIT)
        .agg(pl.col("_rb").min())
    )
    canceled = (
        lf.filter((pl.col("type") == CANCELED) & pl.col("order_id").is_not_null())
        .select("order_id", pl.lit(value=True).alias("_canceled"))
        .unique()
    )
    return (
        units.join(rollbacks, on=_UNIT, how="left")
        .join(canceled, on="order_id", how="left")
        .with_columns(
            (
                pl.col("_t3").is_not_null()
                & (pl.col("_rb") >= pl.col("_t3")).fill_null(value=False)
            ).alias("_rolled")
        )
    )


def _last_failure(
    units: pl.LazyFrame, lf: pl.LazyFrame, type_: str, after: str
) -> pl.LazyFrame:
    """Per unit, the failure code of its last ``type_`` event at or after ``after``
    (``"(unknown)"`` when that event has none), as ``_fail_<type_>``."""
    return (
        units.filter(pl.col(after).is_not_null())
        .select(*_UNIT, after)
        .join(
            _coded(lf, type_).select(*_UNIT, "created_at", "id", "failure_code"),
            on=_UNIT,
        )
        .filter(pl.col("created_at") >= pl.col(after))
        .sort(["created_at", "id"])
        .group_by(_UNIT)
        .agg(
            pl.col("failure_code").last().fill_null("(unknown)").alias(f"_fail_{type_}")
        )
    )


def _with_failures(units: pl.LazyFrame, lf: pl.LazyFrame) -> pl.LazyFrame:
    """The last failed validation after publication and the last failed redemption
    after validation."""
    return units.join(
        _last_failure(units, lf, VAL_FAIL, "_t1"), on=_UNIT, how="left"
    ).join(_last_failure(units, lf, RED_FAIL, "_t2"), on=_UNIT, how="left")


def _reasons(frame: pl.LazyFrame, step: int, reason: pl.Expr) -> pl.LazyFrame:
    counted = frame.group_by(
        pl.lit(step, dtype=pl.Int64).alias("step"), reason.alias("reason")
    ).agg(pl.len().cast(pl.Int64).alias("units"))
    return _listed(counted, ["step"], ("reason", "units"), "failure_reasons")


def _failure_reasons(units: pl.LazyFrame) -> pl.LazyFrame:
    """``step`` and ``failure_reasons`` of the units that stopped just before steps
    2, 3 and 4 (no row for a step nobody stopped before)."""
    return pl.concat(
        [
            _reasons(
                units.filter(pl.col("_t2").is_null()),
                2,
                pl.col(f"_fail_{VAL_FAIL}").fill_null("(no attempt)"),
            ),
            _reasons(
                units.filter(pl.col("_t2").is_not_null() & pl.col("_t3").is_null()),
                3,
                pl.col(f"_fail_{RED_FAIL}").fill_null("(no attempt)"),
            ),
            _reasons(
                units.filter(pl.col("_t3").is_not_null() & pl.col("_t4").is_null()),
                4,
                pl.when(pl.col("_rolled"))
                .then(pl.lit("rolled back"))
                .when(pl.col("_canceled").fill_null(value=False))
                .then(pl.lit("order canceled"))
                .otherwise(pl.lit("(not paid)")),
            ),
        ],
        how="vertical",
    )


def _step_rows(units: pl.LazyFrame) -> pl.LazyFrame:
    """One row per step: ``step``, ``label``, ``count``,
    ``median_time_from_previous`` and ``rolled_back`` (on the redeemed row)."""
    counts = units.select(
        *[
            pl.col(f"_t{k}").is_not_null().sum().cast(pl.Int64).alias(f"_c{k}")
            for k in range(1, 5)
        ],
        *[
            (pl.col(f"_t{k}") - pl.col(f"_t{k - 1}"))
            .median()
            .cast(pl.Duration("ms"))
            .alias(f"_m{k}")
            for k in range(2, 5)
        ],
        pl.col("_rolled").sum().cast(pl.Int64).alias("_rolled"),
    )
    return pl.concat(
        [
            counts.select(
                pl.lit(k, dtype=pl.Int64).alias("step"),
                pl.lit(label).alias("label"),
                pl.col(f"_c{k}").alias("count"),
                (
                    pl.col(f"_m{k}") if k > 1 else pl.lit(None, dtype=pl.Duration("ms"))
                ).alias("median_time_from_previous"),
                (pl.col("_rolled") if k == 3 else pl.lit(None, dtype=pl.Int64)).alias(
                    "rolled_back"
                ),
            )
            for k, label in enumerate(_STEPS, 1)
        ],
        how="vertical",
    )


def _coupon_params(campaign: str | Sequence[str] | None) -> AnalysisParams:
    return AnalysisParams(
        "coupon_funnel",
        (
            ("steps", _STEPS),
            ("key", ("customer_id", "voucher_code")),
            (
                "campaign",
                None
                if campaign is None
                else (campaign if isinstance(campaign, str) else tuple(campaign)),
            ),
        ),
        (
            "each step: first event at or after the previous step (equal timestamps count)",
            "paid = order.paid of the redeemed order",
            "rollback_rate = redeemed units later rolled back / redeemed units",
        ),
    )


@portable
def coupon_funnel(
    data: ActivityLog | pl.DataFrame | pl.LazyFrame | EngineFrame,
    *,
    campaign: str | Sequence[str] | None = None,
) -> pl.DataFrame | pl.LazyFrame | EngineFrame:
    """Publication → validation → redemption → paid order, per voucher code and customer.

    The unit is a (customer, voucher code) pair with a succeeded publication, so two
    codes of one customer are two units. Steps, each the first matching event at or
    after the previous step's time (one API call can emit several of them in the same
    millisecond, so equal timestamps count):

    1. ``published``: ``publication.succeeded`` of the code to the customer;
    2. ``validated``: ``validation.succeeded`` of the code by the customer;
    3. ``redeemed``: ``redemption.succeeded`` of the code by the customer;
    4. ``paid``: ``order.paid`` of the order that redemption applied to.

    Units that stopped before a step are broken down by reason: the failure code of
    their last failed validation (step 2) or redemption (step 3) of that code, or
    ``"(no attempt)"``; at step 4 ``"rolled back"``, ``"order canceled"`` or
    ``"(not paid)"``.

    Parameters
    ----------
    data
        An :class:`~activity_toolkit.ActivityLog` or stacked campaign events.
    campaign
        Campaign id(s) or name(s) to keep (by the publication's campaign; a name
        selects every campaign id that carries it). One that is neither an id nor a
        name on any event of the data raises
        :class:`~activity_toolkit.exceptions.AnalysisInputError` with the closest
        ids and names (a typo would otherwise give an all-zero funnel).

    Returns
    -------
    DataFrame or LazyFrame
        One row per step: ``step``, ``label``, ``count``, ``conversion`` (÷ step 1),
        ``step_conversion``, ``dropped``, ``median_time_from_previous``,
        ``failure_reasons`` (list of ``{reason, units}`` for the units that dropped
        before this step, most units first), ``failure_reasons_text`` (the same list
        as text, ``"order_rules_violated 11, (no attempt) 5"``; an empty string
        when nobody dropped, as on step 1), ``rolled_back`` and ``rollback_rate`` (redeemed units whose
        redemption of the code was rolled back, ÷ redeemed; on the ``redeemed`` row
        only).

    Examples
    --------
    >>> import polars as pl
    >>> events = pl.DataFrame(
    ...     {
    ...         "customer_id": ["c1", "c1", "c1", "c1", "c2", "c2"],
    ...         "type": [
    ...             "customer.publication.succeeded",
    ...             "customer.validation.succeeded",
    ...             "customer.redemption.succeeded",
    ...             "customer.order.paid",
    ...             "customer.publication.succeeded",
    ...             "customer.validation.failed",
    ...         ],
    ...         "created_at": pl.Series(
    ...             ["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-02",
    ...              "2024-01-01", "2024-01-05"]
    ...         ).str.to_datetime(),
    ...         "voucher_code": ["A", "A", "A", None, "B", "B"],
    ...         "campaign_id": ["camp1", None, "camp1", None, "camp1", None],
    ...         "order_id": [None, None, "o1", "o1", None, None],
    ...         "failure_code": [None, None, None, None, None, "voucher_expired"],
    ...     }
    ... )
    >>> out = coupon_funnel(events)
    >>> out.select("label", "count", "conversion")
    shape: (4, 3)
    ┌───────────┬───────┬────────────┐
    │ label     ┆ count ┆ conversion │
    │ ---       ┆ ---   ┆ ---        │
    │ str       ┆ i64   ┆ f64        │
    ╞═══════════╪═══════╪════════════╡
    │ published ┆ 2     ┆ 1.0        │
    │ validated ┆ 1     ┆ 0.5        │
    │ redeemed  ┆ 1     ┆ 0.5        │
    │ paid      ┆ 1     ┆ 0.5        │
    └───────────┴───────┴────────────┘
    >>> out["failure_reasons"][1].to_list()
    [{'reason': 'voucher_expired', 'units': 1}]
    >>> out["failure_reasons_text"].to_list()
    ['', 'voucher_expired 1', '', '']
    """
    if not is_local(data):
        return _coupon_on_engine(data, campaign)
    lf, kind = _input(data)
    _check_campaigns(nw.from_native(lf), campaign)
    units = (
        _published_units(lf, campaign)  # _t1
        .pipe(_with_progress, lf)  # _t2, _t3, _t4
        .pipe(_with_rollbacks, lf)  # _rolled, _canceled
        .pipe(_with_failures, lf)  # the last failure codes
    )
    # the units feed six consumers (counts, reasons, failures): compute them once
    # (the optimiser re-ran the joins for each, 7x slower on 1M events)
    units = units.collect().lazy() if kind == "eager" else units.cache()
    out = _coupon_rows(_step_rows(units), _failure_reasons(units))
    return finish(out, kind, _coupon_params(campaign))


def _coupon_rows(steps: pl.LazyFrame, reasons: pl.LazyFrame) -> pl.LazyFrame:
    """The rows of :func:`coupon_funnel` from the four step rows (``step``,
    ``label``, ``count``, ``median_time_from_previous``, ``rolled_back``) and the
    listed ``failure_reasons`` per step (local path and engines)."""
    empty = pl.lit(
        [], dtype=pl.List(pl.Struct({"reason": pl.String, "units": pl.Int64}))
    )
    return (
        steps.join(reasons, on="step", how="left")
        .sort("step")
        .with_columns(
            *conversion_columns(),
            pl.col("failure_reasons").fill_null(empty),
            pl.when(pl.col("count") > 0)
            .then(pl.col("rolled_back") / pl.col("count"))
            .alias("rollback_rate"),
        )
        .with_columns(_as_text("failure_reasons", "reason", "units"))
        .select(COUPON_FUNNEL_COLUMNS)
    )


def _coupon_on_engine(data: EngineFrame, campaign: str | Sequence[str] | None) -> Any:
    """``coupon_funnel`` of an engine frame: the engine's step counts, durations
    and drop-out reasons, the four rows built locally, handed back in the engine's
    kind."""
    lf = _engine_frame(data)
    _check_campaigns(lf, campaign)
    out = _coupon_from_parts(to_polars(_portable_campaigns.coupon_parts(lf, campaign)))
    return finish_native(from_polars(out, lf), _coupon_params(campaign), given=data)


def _coupon_from_parts(parts: pl.DataFrame) -> pl.DataFrame:
    """``coupon_funnel``'s rows from the rows of its engine query
    (:func:`._portable_campaigns.coupon_parts`)."""
    totals = ["_h1", "_h2", "_h3", "_h4", "_rolled"]
    reasons = parts.filter(pl.col("_metric") == "_r")
    c = reasons.select(pl.col(totals).sum()).row(0, named=True)
    durations = parts.filter(pl.col("_metric") != "_r")
    median = dict(zip(durations["_metric"], durations["median"], strict=True))
    steps = pl.LazyFrame(
        {
            "step": [1, 2, 3, 4],
            "label": list(_STEPS),
            "count": [c[f"_h{k}"] for k in range(1, 5)],
            "median_time_from_previous": [
                None,
                *[median.get(f"_d{k}") for k in range(2, 5)],
            ],
            "rolled_back": [None, None, c["_rolled"], None],
        },
        schema={
            "step": pl.Int64,
            "label": pl.String,
            "count": pl.Int64,
            "median_time_from_previous": pl.Int64,
            "rolled_back": pl.Int64,
        },
    )
    listed = _listed(
        reasons.lazy().filter(pl.col("step").is_not_null()),
        ["step"],
        ("reason", "units"),
        "failure_reasons",
    )
    return _coupon_rows(steps, listed).collect()
