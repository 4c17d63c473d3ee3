"""The installed package is type-checked for its users (``py.typed``) and analysis
results are typed by the kind of frame given (an ActivityLog or DataFrame gives a
DataFrame, a LazyFrame a LazyFrame)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api", reason="mypy is a test dependency")

USER_SCRIPT = """
from typing import assert_type

import polars as pl

import activity_toolkit as at

log = at.sample(customers=5, seed=1)
steps = ["customer.publication.succeeded", "customer.order.paid"]
f = at.funnel(log, steps, within="7d")
assert_type(f, pl.DataFrame)
counts: list[int] = f["count"].to_list()
assert_type(at.funnel(log.events.lazy(), steps), pl.LazyFrame)
assert_type(at.funnel_units(log.events, steps), pl.DataFrame)
assert_type(at.retention_matrix(log.events.lazy(), period="month"), pl.LazyFrame)
assert_type(at.retention(log, period="week"), pl.DataFrame)
assert_type(at.points_flows(log, period="quarter"), pl.DataFrame)
assert_type(at.breakage(log), pl.DataFrame)
assert_type(
    at.points_liability(log, value_per_point=0.01, expected_breakage=0.2), pl.DataFrame
)
assert_type(at.tier_distribution(log, period="month"), pl.DataFrame)
assert_type(at.time_in_tier(log.events.lazy()), pl.LazyFrame)
assert_type(at.tier_spells(log), pl.DataFrame)
assert_type(at.tier_path(log), pl.DataFrame)
assert_type(at.tier_transitions(log), pl.DataFrame)
assert_type(at.campaign_summary(log), pl.DataFrame)
assert_type(at.coupon_funnel(log), pl.DataFrame)


def either(data: at.ActivityLog | pl.LazyFrame) -> None:
    assert_type(at.funnel(data, steps), pl.DataFrame | pl.LazyFrame)
"""

MISUSE = """
import activity_toolkit as at

log = at.sample(customers=5, seed=1)
at.points_flows(log, period="fortnight")
at.funnel(log, ["a"], withn="7d")
"""


def _mypy(tmp_path: Path, source: str) -> tuple[str, int]:
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(source))
    out, err, status = mypy_api.run(
        [
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            str(script),
        ]
    )
    return out + err, status


@pytest.mark.slow
def test_a_user_script_type_checks_against_the_installed_package(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # resolve the package as installed, not from the tree
    out, status = _mypy(tmp_path, USER_SCRIPT)
    assert status == 0, out


@pytest.mark.slow
def test_the_type_checker_catches_bad_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out, status = _mypy(tmp_path, MISUSE)
    assert status == 1
    assert "user_script.py:5" in out  # period="fortnight"
    assert "user_script.py:6" in out
    assert 'did you mean "within"' in out


def test_the_package_ships_its_py_typed_marker():
    import activity_toolkit

    assert (Path(activity_toolkit.__file__).parent / "py.typed").is_file()
