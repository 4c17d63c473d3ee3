"""Step names are canonicalised through the registry; a name that is neither a
Voucherify type nor in the data is refused with the closest names; a known type the
data lacks counts as zero and the result says so."""

from __future__ import annotations

import polars as pl
import pytest

import activity_toolkit as at
from activity_toolkit.analysis import params_of
from activity_toolkit.events import REGISTRY
from activity_toolkit.exceptions import AnalysisInputError

LOG = at.sample(customers=60, seed=1)
PUB = "customer.publication.succeeded"
FUNNELS = [at.funnel, at.funnel_units, at.funnel_trend]


@pytest.mark.parametrize("fn", FUNNELS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("kind", ["log", "eager", "lazy"])
def test_a_misspelt_step_is_refused_with_the_closest_names(fn, kind):
    data = {"log": LOG, "eager": LOG.events, "lazy": LOG.events.lazy()}[kind]
    with pytest.raises(
        AnalysisInputError, match=r"did you mean 'customer\.publication\.succeeded'"
    ):
        fn(data, ["customer.publication.succeded", "customer.order.paid"])


def test_a_misspelt_exclusion_is_refused_too():
    with pytest.raises(AnalysisInputError, match=r"customer\.order\.canceled"):
        at.funnel(
            LOG, [PUB, "customer.order.paid"], exclude="customer.order.cancelled_x"
        )


def test_legacy_names_count_like_their_canonical_names():
    legacy = at.funnel(LOG, ["customer.segment_entered", PUB])
    canonical = at.funnel(LOG, ["customer.segment.entered", PUB])
    assert legacy["count"].to_list() == canonical["count"].to_list()
    assert legacy["count"][0] > 0


def test_a_known_type_absent_from_the_data_is_zero_and_noted():
    absent = next(t for t in REGISTRY if t not in LOG.types)
    result = at.funnel(LOG, [PUB, absent])
    assert result["count"].to_list()[1] == 0
    assert f"not in the data (counted as zero): {absent}" in params_of(result).notes


def test_names_outside_voucherifys_namespace_are_never_refused():
    out = at.funnel(LOG, [PUB, "my.own.step"])
    assert out["count"].to_list()[1] == 0
    assert "not in the data (counted as zero): my.own.step" in params_of(out).notes


def test_an_unregistered_type_present_in_the_data_is_fine():
    events = pl.DataFrame(
        {
            "customer_id": ["c1", "c1"],
            "type": ["customer.custom.thing", PUB],
            "created_at": pl.Series(["2024-01-01", "2024-01-02"]).str.to_datetime(),
        }
    )
    for data in (events, events.lazy()):
        out = at.funnel(data, ["customer.custom.thing", PUB])
        counts = out.collect() if isinstance(out, pl.LazyFrame) else out
        assert counts["count"].to_list() == [1, 1]
