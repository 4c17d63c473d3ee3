"""Event frames for the parity suite, built to hit the edges of the semantics.

:func:`edge_events` draws each unit's events at a few fixed offsets from one of a
few awkward instants, so that the data is full of

* same-millisecond ties (three offsets are 0; ids are random, so a tie is broken
  either way);
* events exactly on a window edge and one millisecond past it (1 day and 7 days
  after another event, for ``within="1d"`` / ``"7d"``);
* daylight-saving changes (the night of 2024-03-31 and 2024-10-27 in Europe, where a
  calendar day is 23 or 25 hours: windows are fixed durations, not calendar days);
* month and year ends (the last millisecond of January, February 2024 — a leap
  year — and December);
* nulls: rows without a customer or a time (ignored), units without a ``by`` value.

``tz`` gives the same instants in another time zone (``Europe/Berlin``) or naive
(read as UTC), so every engine also sees non-UTC input.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl

DAY_MS = 86_400_000
BASES = [
    datetime(2024, 3, 31, 0, 30, tzinfo=UTC),  # Berlin springs forward at 01:00 UTC
    datetime(2024, 10, 27, 0, 30, tzinfo=UTC),  # and falls back at 01:00 UTC
    datetime(2024, 1, 31, 23, 59, 59, 999_000, tzinfo=UTC),
    datetime(2024, 2, 29, 23, 59, 59, 999_000, tzinfo=UTC),
    datetime(2024, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC),
]
OFFSETS_MS = [
    0,
    0,
    0,
    1,
    3_600_000,
    DAY_MS - 1,
    DAY_MS,
    DAY_MS + 1,
    DAY_MS + 3_600_000,
    7 * DAY_MS,
    7 * DAY_MS + 1,
    2 * DAY_MS,
]
TYPES = ["A", "B", "C", "X", "Y"]
SCHEMA = {
    "customer_id": pl.String,
    "created_at": pl.Datetime("ms", "UTC"),
    "id": pl.String,
    "type": pl.String,
    "channel": pl.String,
    "code": pl.String,
}


def edge_events(
    units: int = 60, *, seed: int = 0, tz: str | None = "UTC"
) -> pl.DataFrame:
    """Events of ``units`` customers (see the module docstring)."""
    rng = random.Random(seed)
    ids: set[str] = set()
    rows = []
    for u in range(units):
        base = rng.choice(BASES)
        channel = rng.choice(["web", "app", None])
        for _ in range(rng.randint(1, 10)):
            while (i := f"{rng.randrange(16**6):06x}") in ids:
                pass
            ids.add(i)
            rows.append(
                (
                    f"c{u:03d}",
                    base + timedelta(milliseconds=rng.choice(OFFSETS_MS)),
                    i,
                    rng.choice(TYPES),
                    channel,
                    rng.choice(["k1", "k2"]),
                )
            )
    rows += [
        (None, BASES[0], "null-customer", "A", "web", "k1"),
        ("c000", None, "null-time", "A", "web", "k1"),
    ]
    rng.shuffle(rows)
    df = pl.DataFrame(rows, schema=SCHEMA, orient="row")
    if tz is None:
        return df.with_columns(pl.col("created_at").dt.replace_time_zone(None))
    return df.with_columns(pl.col("created_at").dt.convert_time_zone(tz))


def sample_events(customers: int = 40, seed: int = 5) -> pl.DataFrame:
    """The events of :func:`activity_toolkit.sample` without the payload."""
    from activity_toolkit import sample

    return sample(customers=customers, seed=seed).events.drop("payload")


def sample_campaign_rows(customers: int = 60, seed: int = 5) -> pl.DataFrame:
    """The stacked typed campaign rows of :func:`activity_toolkit.sample`."""
    from activity_toolkit import sample
    from activity_toolkit.analysis import typed_events

    log = sample(customers=customers, seed=seed)
    families = ["publication", "validation", "redemption", "order"]
    return typed_events(log, families=families, columns=CAMPAIGN_COLUMNS)


#: The columns the campaign analyses read (the others hold lists and structs).
CAMPAIGN_COLUMNS = [
    "id",
    "type",
    "customer_id",
    "created_at",
    "voucher_code",
    "campaign_id",
    "campaign_name",
    "campaign_type",
    "failure_code",
    "order_id",
    "redemption_id",
    "order_total_amount",
    "order_total_discount_amount",
]
