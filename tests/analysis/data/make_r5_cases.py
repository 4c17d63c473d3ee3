"""Regenerate ``r5_funnel_cases.json``: random event sets (with same-timestamp ties
and repeated steps) and the step counts that retentioneering 5.2.4 computes for them.

Run in a separate environment (not the project's)::

    python -m venv venv-rete && venv-rete/bin/pip install retentioneering==5.2.4
    RETENTIONEERING_NO_TRACK=1 venv-rete/bin/python make_r5_cases.py

Events are handed to retentioneering sorted stably by (user, timestamp, id): it keeps
same-timestamp events in input order, so this is the toolkit's (created_at, id) order.
"""


def main() -> None:
    import json
    import random
    from pathlib import Path

    import pandas as pd
    from retentioneering import Eventstream

    rng = random.Random(5)
    cases = []
    while len(cases) < 150:
        rows = [
            [
                f"u{rng.randint(1, 6)}",
                rng.choice("ABCD"),
                30 * rng.randint(0, 8),
                f"{rng.randint(0, 99):02d}{i:03d}",
            ]
            for i in range(rng.randint(1, 40))
        ]
        steps = [rng.choice("ABCD") for _ in range(rng.randint(1, 4))]
        if not set(steps) <= {r[1] for r in rows}:
            continue  # retentioneering raises on a step absent from the data
        df = pd.DataFrame(rows, columns=["user_id", "event", "minute", "id"])
        df["timestamp"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(
            df["minute"], unit="min"
        )
        df = df.sort_values(["user_id", "timestamp", "id"], kind="stable")
        stream = Eventstream(
            df[["user_id", "event", "timestamp"]].reset_index(drop=True)
        )
        counts = [s["unique_paths"] for s in stream.funnel_data(steps=steps)["steps"]]
        cases.append({"rows": rows, "steps": steps, "r5": counts})

    out = Path(__file__).with_name("r5_funnel_cases.json")
    out.write_text(
        json.dumps(
            {
                "retentioneering": "5.2.4",
                "columns": ["user", "event", "minute", "id"],
                "cases": cases,
            },
            separators=(",", ":"),
        )
    )
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
