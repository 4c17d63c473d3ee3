"""A sample log whose campaign and tier names are hostile HTML/JS/Vega strings."""

from __future__ import annotations

import polars as pl

import activity_toolkit as at

SCRIPT = "<script>window.__pwned = 'script'</script>"
IMG = "<img src=x onerror=\"window.__pwned = 'img'\">"
VEGA = "' || (window.__pwned = 'vega') || '"
HOSTILE = (SCRIPT, IMG, VEGA)


def hostile_log(customers: int = 60, seed: int = 4) -> at.ActivityLog:
    """The sample with its campaign names replaced by :data:`HOSTILE` strings and a
    tier renamed to one of them."""
    log = at.sample(customers=customers, seed=seed)
    names = log.events["campaign_name"].drop_nulls().unique().sort().to_list()
    rename = {n: HOSTILE[i % len(HOSTILE)] + f" #{i}" for i, n in enumerate(names)}

    def fix(frame: pl.DataFrame) -> pl.DataFrame:
        exprs = []
        if "campaign_name" in frame.columns:
            exprs.append(pl.col("campaign_name").replace(rename))
        for col in ("tier_name", "tier_to_name", "tier_from_name"):
            if col in frame.columns:
                exprs.append(pl.col(col).replace({"Gold": SCRIPT}))
        return frame.with_columns(exprs) if exprs else frame

    return at.ActivityLog(
        fix(log.events), {t: fix(f) for t, f in log.frames.items()}, report=log.report
    )
