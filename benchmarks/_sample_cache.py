"""The sample logs the benchmarks share: generated once per size and seed, kept as
Parquet stores under ``benchmarks/_data/`` (ignored by git), read back later."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

#: events per customer of the current sample, to size a log by its events
EVENTS_PER_CUSTOMER = 107


def load_log(events: int, seed: int, data_dir: Path, workers: int) -> Any:
    """The sample log of about ``events`` events (generated once, then read back)."""
    import activity_toolkit as at

    customers = max(1, round(events / EVENTS_PER_CUSTOMER))
    path = data_dir / f"log-{customers}c-seed{seed}"
    if path.exists():  # written atomically: a store there is complete
        try:
            return at.read_parquet(path)
        except at.exceptions.ActivityToolkitError as exc:
            print(f"  cached {path.name} unreadable ({exc}); rebuilding", flush=True)
    t0 = time.perf_counter()
    log = at.sample(customers=customers, seed=seed, workers=workers)
    data_dir.mkdir(parents=True, exist_ok=True)
    log.write_parquet(path)
    print(
        f"  generated {path.name}: {len(log):,} events in "
        f"{time.perf_counter() - t0:.0f} s (cached for later runs)",
        flush=True,
    )
    return log
