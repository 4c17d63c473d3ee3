"""Regenerate ``r3_cohort_cases.json``: random event sets and the retention rates that
retentioneering 3.3.0's ``Cohorts`` tool computes for them (monthly and weekly).

Run in a separate environment (retentioneering 3 needs Python < 3.12, pandas < 2)::

    python3.11 -m venv venv-rete3
    venv-rete3/bin/pip install retentioneering==3.3.0 "numpy<2" "scipy<1.14" "pyarrow<20"
    mkdir -p home && echo '{"tracking": {"is_tracking_allowed": false}}' \\
        > home/.retentioneering_config.json
    HOME=home venv-rete3/bin/python make_r3_cohorts.py

Only non-NaN cells are recorded: retentioneering shows a zero as NaN.
"""


def main() -> None:
    import json
    import math
    import random
    from pathlib import Path

    import pandas as pd
    from retentioneering.eventstream import Eventstream
    from retentioneering.tooling.cohorts import Cohorts

    rng = random.Random(3)
    cases = []
    start = pd.Timestamp("2023-12-20")
    for _ in range(60):
        rows = [
            [
                f"u{rng.randint(1, 8)}",
                rng.randint(0, 24 * 120),
            ]  # user, hours after start
            for _ in range(rng.randint(1, 30))
        ]
        df = pd.DataFrame(rows, columns=["user_id", "hour"])
        df["timestamp"] = start + pd.to_timedelta(df["hour"], unit="h")
        df["event"] = "x"
        stream = Eventstream(
            df[["user_id", "event", "timestamp"]], add_start_end_events=False
        )
        case = {"rows": rows}
        for unit, start_unit in (("M", "M"), ("W", "W")):
            cohorts = Cohorts(stream)
            cohorts.fit(
                cohort_start_unit=start_unit, cohort_period=(1, unit), average=False
            )
            cells = [
                [str(group), int(period), float(rate)]
                for group, row in cohorts.values.iterrows()
                for period, rate in row.items()
                if not math.isnan(rate)
            ]
            case[unit] = cells
        cases.append(case)
    out = Path(__file__).with_name("r3_cohort_cases.json")
    payload = {
        "retentioneering": "3.3.0",
        "start": str(start),
        "columns": ["user", "hour"],
        "cases": cases,
    }
    out.write_text(json.dumps(payload, separators=(",", ":")))
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
