from __future__ import annotations

import gc
from datetime import timedelta

import polars as pl
import pytest

import activity_toolkit.analysis as analysis
from activity_toolkit.analysis import AnalysisParams, collect, params_of, with_params
from activity_toolkit.analysis._params import _REGISTRY


def test_public_surface_is_complete():
    # ruff's RUF022 keeps it sorted (constants first, isort-style)
    assert len(set(analysis.__all__)) == len(analysis.__all__)
    for name in analysis.__all__:
        assert hasattr(analysis, name), name


def test_params_values_and_describe():
    p = AnalysisParams(
        "funnel",
        (
            ("steps", ("a", "b")),
            ("within", timedelta(days=1, hours=12)),
            ("by", None),
            ("mode", "ordered"),
        ),
        ("a note",),
    )
    assert p["steps"] == ("a", "b")
    assert p.get("missing", 3) == 3
    assert list(p) == ["steps", "within", "by", "mode"]
    assert p.as_dict()["mode"] == "ordered"
    assert p.describe() == "funnel: steps=[a, b], within=1d 12h, mode=ordered"
    assert (
        p.describe(skip_defaults={"mode": "ordered"})
        == "funnel: steps=[a, b], within=1d 12h"
    )
    assert str(AnalysisParams("x")) == "x"
    with pytest.raises(KeyError, match="no option"):
        p["nope"]
    with pytest.raises(AttributeError):
        p.analysis = "other"  # type: ignore[misc]


def test_registry_follows_the_object_and_forgets_it():
    df = pl.DataFrame({"a": [1]})
    p = AnalysisParams("custom")
    assert with_params(df, p) is df
    assert params_of(df) is p
    assert params_of(pl.DataFrame({"a": [1]})) is None
    key = id(df)
    assert key in _REGISTRY
    del df
    gc.collect()  # also frees other tests' results: count only this one's entry
    assert key not in _REGISTRY


def test_collect_carries_params_for_lazy_results():
    lf = with_params(pl.LazyFrame({"a": [1]}), AnalysisParams("lazy"))
    df = collect(lf)
    assert isinstance(df, pl.DataFrame)
    assert params_of(df).analysis == "lazy"
    assert collect(df) is df
    assert params_of(collect(pl.LazyFrame({"a": [1]}))) is None
