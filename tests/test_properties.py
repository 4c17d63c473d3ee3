"""Property tests for the loaders: nothing lost, nothing duplicated, whatever the split."""

from __future__ import annotations

import itertools
import tempfile
import warnings
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activity_toolkit import read_events, read_pages
from activity_toolkit.events import ALIASES, REGISTRY, canonical_type

TYPES = sorted(REGISTRY) + sorted(ALIASES) + ["customer.future.type"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**9), 10**9), st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=6), inner, max_size=3),
    ),
    max_leaves=6,
)


@st.composite
def events(draw):
    n = draw(st.integers(0, 30))
    out = []
    for _ in range(n):
        eid = f"evcus_{draw(st.integers(0, 40))}"  # small id space: duplicates happen
        when = draw(
            st.datetimes(
                min_value=datetime(2020, 1, 1),
                max_value=datetime(2030, 1, 1),
                timezones=st.just(UTC),
            )
        )
        payload = {
            "customer": {
                "id": draw(st.sampled_from(["c1", "c2", "c3"])),
                "source_id": "s",
            },
            "extra": draw(json_values),
            "order": draw(
                st.one_of(
                    st.none(),
                    st.fixed_dictionaries(
                        {
                            "id": st.text(max_size=5),
                            "amount": st.one_of(
                                st.integers(0, 10**6), st.text(max_size=3)
                            ),
                        }
                    ),
                )
            ),
        }
        event = {
            "id": eid,
            "type": draw(st.sampled_from(TYPES)),
            "created_at": when.isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"
            ),
        }
        if draw(st.booleans()):
            event["data"] = {"data": payload, "event_source": {"channel": "API"}}
            event["group_id"] = "v-1"
        else:
            event["data"] = payload
        out.append(event)
    return out


def first_types(evs):
    seen = {}
    for e in evs:
        seen.setdefault(e["id"], canonical_type(e["type"]))
    return seen


def check(log, evs):
    expected = first_types(evs)
    ids = log.events["id"].to_list()
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids) == set(expected)
    assert dict(zip(log.events["id"], log.events["type"], strict=True)) == expected
    assert sum(f.height for f in log.frames.values()) == len(log)
    assert log.report.records == len(evs)
    assert log.report.duplicates == len(evs) - len(expected)
    key = log.events.select("created_at", "id").rows()
    assert key == sorted(key)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    evs=events(),
    cuts=st.lists(st.integers(0, 30), max_size=6),
    overlap=st.integers(0, 3),
    envelope=st.sampled_from(["activity", "activities"]),
)
def test_any_split_into_pages_loses_and_duplicates_nothing(
    evs, cuts, overlap, envelope
):
    bounds = sorted({0, len(evs), *(c for c in cuts if c <= len(evs))})
    pages = []
    for lo, hi in itertools.pairwise(bounds):
        chunk = evs[max(0, lo - overlap) : hi]  # overlapping pages re-send events
        page = {"object": "list", "data_ref": "data", "data": chunk}
        page.update(
            {"has_more": hi < len(evs)}
            if envelope == "activity"
            else {"total": len(evs)}
        )
        pages.append(page)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log = read_pages(pages)
    sent = [e for p in pages for e in p["data"]]
    check(log, sent)


@settings(max_examples=40, deadline=None)
@given(evs=events(), chunk=st.integers(64, 4096))
def test_ndjson_in_any_chunk_size_loses_nothing(evs, chunk):
    data = b"\n".join(orjson.dumps(e) for e in evs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log = read_events(data, chunk_bytes=chunk)
    check(log, evs)


def _iso(when: datetime, form: str) -> str:
    if form == "ms":
        return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return when.strftime(form)


#: Every ISO 8601 form the readers accept: the API's own (ms, whole seconds) and others.
timestamps = st.builds(
    _iso,
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
    st.sampled_from(
        [
            "ms",
            "%Y-%m-%dT%H:%M:%SZ",
            "%Y-%m-%dT%H:%M:%S.%fZ",
            "%Y-%m-%dT%H:%M:%S+02:00",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d",
        ]
    ),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evs=events(), stamps=st.lists(timestamps, min_size=30, max_size=30))
def test_event_files_load_the_same_with_either_query_and_any_chunk_size(evs, stamps):
    """The nested-first and flat-first envelope queries, in one chunk or one line per
    chunk, build equal logs from any valid file."""
    from activity_toolkit.io import _builder

    for event, stamp in zip(evs, stamps, strict=False):
        event["created_at"] = stamp
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "events.ndjson"
        path.write_bytes(b"\n".join(orjson.dumps(e) for e in evs) + b"\n")
        fast = read_events(path)
        with mock.patch.object(_builder, "looks_flat", return_value=True):
            chunked = read_events(path, chunk_bytes=1)
    # payloads are equal as JSON; escapes may be spelled differently (\u001F, \u001f)
    without = [log.events.drop("payload") for log in (fast, chunked)]
    assert without[0].equals(without[1])
    payloads = [
        [orjson.loads(p) for p in log.events["payload"]] for log in (fast, chunked)
    ]
    assert payloads[0] == payloads[1]
    for t, frame in fast.frames.items():
        assert frame.drop("payload").equals(chunked[t].drop("payload"))
    check(fast, evs)
