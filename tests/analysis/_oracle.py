"""Brute-force reference implementations, written from the definitions (not from the
vectorised code) and used as oracles in the tests."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import combinations

Event = tuple[str, int, str, str]  # unit, time (int ms), id, type


def by_unit(events: Sequence[Event]) -> dict[str, list[tuple[int, str, str]]]:
    units: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for unit, t, i, typ in events:
        units[unit].append((t, i, typ))
    for evs in units.values():
        evs.sort()  # (time, id)
    return units


def _chains(evs, steps, start):
    """Every index tuple i1<...<ik (i1 == start) matching steps[:k], for all k."""
    yield (start,)
    n = len(evs)

    def rec(chain):
        k = len(chain)
        if k == len(steps):
            return
        for j in range(chain[-1] + 1, n):
            if evs[j][2] in steps[k]:
                new = (*chain, j)
                yield new
                yield from rec(new)

    yield from rec((start,))


def ordered_reach(evs, steps, within, entry):
    """Largest k with s1..sk in order (any gaps) and t(sk) - t(s1) <= within."""
    starts = [i for i, e in enumerate(evs) if e[2] in steps[0]]
    if not starts:
        return 0
    if entry == "first":
        starts = starts[:1]
    best = 0
    for s in starts:
        for chain in _chains(evs, steps, s):
            if within is None or evs[chain[-1]][0] - evs[chain[0]][0] <= within:
                best = max(best, len(chain))
    return best


def strict_reach(evs, steps, within, entry):
    starts = [i for i, e in enumerate(evs) if e[2] in steps[0]]
    if not starts:
        return 0
    if entry == "first":
        starts = starts[:1]
    best = 0
    for s in starts:
        k = 1
        while (
            k < len(steps)
            and s + k < len(evs)
            and evs[s + k][2] in steps[k]
            and (within is None or evs[s + k][0] - evs[s][0] <= within)
        ):
            k += 1
        best = max(best, k)
    return best


def unordered_reach(evs, steps, within, entry):
    """Largest k such that distinct events matching s1..sk (one per step) fit in a
    window [t, t + within] opened by one of the unit's step events."""
    anchors = [i for i, e in enumerate(evs) if any(e[2] in s for s in steps)]
    if not anchors:
        return None
    if entry == "first":
        anchors = anchors[:1]
    best = 0
    for a in anchors:
        t0 = evs[a][0]
        pool = [
            i
            for i, e in enumerate(evs)
            if e[0] >= t0 and (within is None or e[0] - t0 <= within)
        ]
        for k in range(1, len(steps) + 1):
            if _assign(evs, pool, steps[:k]):
                best = max(best, k)
            else:
                break
    return best


def _assign(evs, pool, steps):
    """Can each step get its own event from pool? (tiny bipartite matching)"""

    def rec(j, used):
        if j == len(steps):
            return True
        return any(
            i not in used and evs[i][2] in steps[j] and rec(j + 1, used | {i})
            for i in pool
        )

    return rec(0, frozenset())


def funnel_counts(events, steps, *, within=None, mode="ordered", entry="first"):
    steps = [frozenset([s]) if isinstance(s, str) else frozenset(s) for s in steps]
    counts = [0] * len(steps)
    for evs in by_unit(events).values():
        if mode == "reached":
            for k, s in enumerate(steps):
                counts[k] += any(e[2] in s for e in evs)
            continue
        if mode == "ordered":
            r = ordered_reach(evs, steps, within, entry)
        elif mode == "strict":
            r = strict_reach(evs, steps, within, entry)
        else:
            r = unordered_reach(evs, steps, within, entry) or 0
        for k in range(r):
            counts[k] += 1
    return counts


def r3_cohorts(events, *, unit="M"):
    """retentioneering 3 Cohorts active-user counts (``retentioneering/tooling/
    cohorts/cohorts.py`` on its 3.x branch: a user's cohort is the period of their
    first event; a cell counts users with any event in that later period) with
    cohort_period=(1, unit): returns {(cohort_start, period): users} for non-zero
    cells. ``events``: (user, datetime)."""
    from datetime import timedelta

    def floor(d):
        if unit == "M":
            return d.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        if unit == "W":
            d0 = d.replace(hour=0, minute=0, second=0, microsecond=0)
            return d0 - timedelta(days=d0.weekday())
        return d.replace(hour=0, minute=0, second=0, microsecond=0)

    def months(a, b):
        return (b.year - a.year) * 12 + (b.month - a.month)

    first = {}
    for u, t in events:
        first[u] = min(first.get(u, t), t)
    origin = floor(min(first.values()))

    def index(d, start):
        if unit == "M":
            n = months(start, d)
            # floor((d - start) / 1 month) in calendar months
            if d < add_months(start, n):
                n -= 1
            return n
        days = 7 if unit == "W" else 1
        return (d - start) // timedelta(days=days)

    def add_months(d, n):
        y, m = divmod(d.month - 1 + n, 12)
        return d.replace(year=d.year + y, month=m + 1)

    def cohort_start(g):
        if unit == "M":
            return add_months(origin, g)
        return origin + timedelta(days=(7 if unit == "W" else 1) * g)

    cells = defaultdict(set)
    for u, t in events:
        g = index(first[u], origin)
        cs = cohort_start(g)
        p = index(t, cs)
        cells[(cs, p)].add(u)
    return {k: len(v) for k, v in cells.items() if v}


__all__ = ["combinations", "funnel_counts", "r3_cohorts"]
