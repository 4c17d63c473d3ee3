"""Names that select nothing because of a typo are refused with the closest names:
retention's ``start``/``returning`` steps, ``coupon_funnel(campaign=)`` and
``ActivityLog.filter(types=, families=, campaigns=)``. A registered type the data
lacks is allowed (zero, noted in the result; an empty log from ``filter``)."""

from __future__ import annotations

import pytest

import activity_toolkit as at
from activity_toolkit.analysis import (
    coupon_funnel,
    params_of,
    retention,
    retention_matrix,
)
from activity_toolkit.events import REGISTRY
from activity_toolkit.exceptions import AnalysisInputError

LOG = at.sample(customers=40, seed=1)
PAID = "customer.order.paid"
ABSENT = next(t for t in REGISTRY if t not in LOG.types)
DATA = {"log": LOG, "eager": LOG.events, "lazy": LOG.events.lazy()}


# -- retention -------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [retention, retention_matrix], ids=lambda f: f.__name__)
@pytest.mark.parametrize("kind", list(DATA))
@pytest.mark.parametrize("param", ["start", "returning"])
def test_retention_refuses_a_misspelt_step(fn, kind, param):
    with pytest.raises(
        AnalysisInputError,
        match=rf"{param} 'customer\.ordr\.paid' is neither .* did you mean "
        r"'customer\.order\.paid'",
    ):
        fn(DATA[kind], **{param: "customer.ordr.paid"})


def test_retention_takes_legacy_names_as_their_canonical_names():
    legacy = retention(LOG, start="customer.segment_entered", returning=PAID)
    canonical = retention(LOG, start="customer.segment.entered", returning=PAID)
    assert legacy.equals(canonical)
    assert legacy["cohort_size"].sum() > 0


@pytest.mark.parametrize("fn", [retention, retention_matrix], ids=lambda f: f.__name__)
def test_retention_notes_a_registered_type_the_data_lacks(fn):
    out = fn(LOG, start=PAID, returning=ABSENT)
    assert f"not in the data (counted as zero): {ABSENT}" in params_of(out).notes


def test_retention_accepts_own_types_outside_the_namespace():
    out = retention(LOG, start=PAID, returning="my.own.event")
    assert "not in the data (counted as zero): my.own.event" in params_of(out).notes


# -- coupon_funnel ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(DATA))
def test_coupon_funnel_refuses_an_unknown_campaign_with_the_closest(kind):
    name = LOG.events["campaign_name"].drop_nulls()[0]
    with pytest.raises(
        AnalysisInputError, match=rf"campaign '{name[:-1]}' .* did you mean '{name}'"
    ):
        coupon_funnel(DATA[kind], campaign=name[:-1])
    with pytest.raises(AnalysisInputError, match="campaign 'nope'"):
        coupon_funnel(DATA[kind], campaign=[name, "nope"])


def test_coupon_funnel_takes_campaign_ids_and_names():
    row = LOG.events.drop_nulls("campaign_id").row(0, named=True)
    by_id = coupon_funnel(LOG, campaign=row["campaign_id"])
    by_name = coupon_funnel(LOG, campaign=row["campaign_name"])
    assert by_id["count"][0] > 0
    assert by_name["count"][0] >= by_id["count"][0]


def test_coupon_funnel_on_data_without_campaigns_says_so():
    no_campaigns = LOG.filter(types="customer.created")
    with pytest.raises(AnalysisInputError, match="the data has no campaigns"):
        coupon_funnel(no_campaigns, campaign="camp_1")


# -- ActivityLog.filter ----------------------------------------------------------------
def test_filter_refuses_an_unknown_type_with_the_closest():
    with pytest.raises(
        AnalysisInputError,
        match=r"type 'customer\.ordr\.paid' is neither .* 'customer\.order\.paid'",
    ):
        LOG.filter(types=["customer.ordr.paid"])
    with pytest.raises(AnalysisInputError, match=r"type 'my\.own'"):
        LOG.filter(types="my.own")


def test_filter_by_a_registered_type_the_log_lacks_is_empty():
    assert len(LOG.filter(types=ABSENT)) == 0
    assert len(LOG.filter(types="customer.segment_entered")) > 0  # legacy name


def test_filter_refuses_an_unknown_family():
    with pytest.raises(AnalysisInputError, match=r"family 'ordr' .* 'order'"):
        LOG.filter(families="ordr")
    assert len(LOG.filter(families="unknown")) >= 0  # accepted


def test_filter_refuses_an_unknown_campaign_with_the_closest():
    name = LOG.events["campaign_name"].drop_nulls()[0]
    with pytest.raises(
        AnalysisInputError, match=rf"campaign '{name[:-1]}' .* did you mean '{name}'"
    ):
        LOG.filter(campaigns=name[:-1])
    assert len(LOG.filter(campaigns=name)) > 0
    cid = LOG.events["campaign_id"].drop_nulls()[0]
    assert len(LOG.filter(campaigns=[cid])) > 0
