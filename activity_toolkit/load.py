"""``fetch``: customer activity from the Voucherify API into an ``ActivityLog`` and,
optionally, a Parquet store that later calls bring up to date.

This module is the composition root of the loader: it wires the client
(:mod:`activity_toolkit.client`) to the readers and the store
(:mod:`activity_toolkit.io`).

How a store stays exact
-----------------------
The store (see :func:`activity_toolkit.io.write_store`) holds the events *and* a sync
state, written together in one atomic swap. Per customer the state keeps the newest
``created_at`` stored and the ids stored at that millisecond. The next fetch asks
each customer only for events from that millisecond on (``start_date``), drops the
ones it already has, and so makes one request per unchanged customer.

While a fetch runs, a checkpoint every ``checkpoint_every`` seconds commits the
events received so far together with each customer's position. A run that is
interrupted (Ctrl-C, crash, ``kill -9``) leaves the last checkpoint live; running
the same fetch again resumes from the positions in it. Since data and positions are
committed together, nothing is lost and nothing is stored twice (and the store
dedupes by event id in any case). A checkpoint appends only the new events, as one
more part of the store (the older parts are hard-linked into the new version); the
last commit of a run rewrites the store as one compact version.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from activity_toolkit._store import prepare_store_dir
from activity_toolkit._time import TimeLike, before_ms, format_time
from activity_toolkit.client import (
    ENDPOINTS,
    ActivityQuery,
    Endpoint,
    FetchProgress,
    RetryPolicy,
    VoucherifyClient,
    VoucherifySession,
    run_sync,
)
from activity_toolkit.exceptions import (
    ActivityToolkitError,
    AuthenticationError,
    FetchError,
    SkippedRecordsWarning,
    StoreError,
    UnknownEventTypeWarning,
)
from activity_toolkit.io import (
    LoadReport,
    StoreWriter,
    read_pages,
    read_parquet,
    read_state,
    write_store,
)
from activity_toolkit.model import ActivityLog

__all__ = ["STATE_FORMAT", "afetch", "fetch"]

logger = logging.getLogger("activity_toolkit.load")

STATE_FORMAT = "activity_toolkit.fetch-state"
STATE_VERSION = 1


def fetch(
    client: VoucherifyClient | None = None,
    *,
    customers: str | Iterable[str] | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    store: str | Path | None = None,
    endpoint: Endpoint = "activity",
    query: ActivityQuery | None = None,
    progress: bool | None = None,
    checkpoint_every: float = 30.0,
    max_retries: int | None = None,
    retry_for: float | None = None,
) -> ActivityLog:
    """Fetch customer activity from the API.

    Works the same in a script and inside a running Jupyter kernel (see
    :func:`afetch` for the coroutine).

    Parameters
    ----------
    client
        The client; ``None`` builds one with
        :meth:`VoucherifyClient.from_env() <activity_toolkit.client.VoucherifyClient.from_env>`.
    customers
        Customer ids (``cust_…``) or source ids; ``None`` fetches every customer of
        the project (listed with ``GET /v1/customers``).
    since, until
        Half-open time range ``since <= created_at < until`` (naive = UTC; ISO
        strings accepted).
    store
        A directory for the Parquet store. The result is written there with the sync
        state, and the next call with the same store only asks for newer events. An
        interrupted run resumes from the last checkpoint.
    endpoint
        ``"activity"`` (current, default) or ``"activities"`` (deprecated: date
        cursor, ``total``).
    query
        More filters (campaign, type, category…) as an
        :class:`~activity_toolkit.client.ActivityQuery`; its dates are ignored in
        favour of ``since``/``until``.
    progress
        Show a progress bar (``None``: when the output is a terminal or a notebook).
    checkpoint_every
        Seconds between checkpoints of the store while fetching (``0``: only at
        the end).
    max_retries
        Retries allowed in this whole fetch (429, 5xx, timeouts, dropped
        connections), replacing the client's ``RetryPolicy.budget`` (2000); ``0``
        fails at the first error. ``None``: the client's policy.
    retry_for
        Seconds one request may keep retrying before it fails (``None``: the
        client's ``RetryPolicy.retry_for``, no limit by default but 8 attempts).

    Returns
    -------
    ActivityLog
        With a store: everything the store now holds. Without: the events fetched.

    Raises
    ------
    FetchError
        Some customers could not be fetched (unknown customer, retry budget spent…);
        ``error.failures`` says which and why, ``error.log`` holds what was fetched,
        which the store keeps too.
    AuthenticationError
        The credentials were refused (what was fetched before is kept).
    ApiError, TransportError, PaginationError
        Listing the customers failed.
    StoreError
        The store belongs to another application, or is damaged.

    Warns
    -----
    IncompleteFetchWarning
        On the deprecated endpoint, when the events collected for a customer still
        differ from the API's ``total``.
    UnknownEventTypeWarning
        Once per unknown type, with the number of such events fetched.
    UserWarning
        Events whose payload names another customer than the one they were fetched
        for, or none: they are attributed to the customer they were fetched for,
        and ``log.report.attribution`` lists them by (fetched for, payload customer).

    Examples
    --------
    >>> import tempfile
    >>> from activity_toolkit.sandbox import Sandbox, World
    >>> box = Sandbox(World.generate(customers=4, events=30))
    >>> store = tempfile.mkdtemp()
    >>> log = fetch(box.client(), store=store, progress=False)
    >>> sorted(log.events["id"]) == sorted(box.event_ids())
    True
    >>> before = box.stats()["requests"]
    >>> _ = fetch(box.client(), store=store, progress=False)  # nothing new
    >>> box.stats()["requests"] - before  # 1 list request + 1 per customer
    5
    """
    client = client or VoucherifyClient.from_env()
    # the bar is made here, in the caller's thread: in Jupyter the fetch itself runs
    # on a worker thread, and a widget belongs to the cell that displays it
    bar = FetchProgress(enabled=progress, limiter=client.limiter)

    async def run() -> ActivityLog:
        return await _FetchRun(
            client,
            customers=customers,
            since=since,
            until=until,
            store=store,
            endpoint=endpoint,
            query=query,
            progress=bar,
            checkpoint_every=checkpoint_every,
            retry=_retry_policy(client, max_retries, retry_for),
        ).run()

    try:
        return run_sync(run)
    finally:
        bar.close()


async def afetch(
    client: VoucherifyClient | None = None,
    *,
    customers: str | Iterable[str] | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    store: str | Path | None = None,
    endpoint: Endpoint = "activity",
    query: ActivityQuery | None = None,
    progress: bool | None = None,
    checkpoint_every: float = 30.0,
    max_retries: int | None = None,
    retry_for: float | None = None,
) -> ActivityLog:
    """The coroutine behind :func:`fetch` (same parameters), for async code."""
    client = client or VoucherifyClient.from_env()
    bar = FetchProgress(enabled=progress, limiter=client.limiter)
    try:
        return await _FetchRun(
            client,
            customers=customers,
            since=since,
            until=until,
            store=store,
            endpoint=endpoint,
            query=query,
            progress=bar,
            checkpoint_every=checkpoint_every,
            retry=_retry_policy(client, max_retries, retry_for),
        ).run()
    finally:
        bar.close()


def _retry_policy(
    client: VoucherifyClient, max_retries: int | None, retry_for: float | None
) -> RetryPolicy:
    policy = client.retry
    if max_retries is not None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int):
            msg = f"max_retries must be an int (0 or more), got {max_retries!r}"
            raise ValueError(msg)
        policy = dataclasses.replace(policy, budget=max_retries)
    if retry_for is not None:
        policy = dataclasses.replace(policy, retry_for=float(retry_for))
    return policy


def _time(value: TimeLike | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        return format_time(value)
    except (TypeError, ValueError):
        msg = f"{name} must be a datetime, a date or an ISO 8601 string, got {value!r}"
        raise ValueError(msg) from None


def _stamp(created_at: Any) -> str | None:
    """The canonical ``…T…:…:….mmmZ`` form, which sorts as text."""
    if not isinstance(created_at, str):
        return None
    if len(created_at) == 24 and created_at[-1] == "Z" and created_at[19] == ".":
        return created_at
    try:
        return format_time(created_at)
    except ValueError:
        return None


def _customer_list(customers: str | Iterable[str] | None) -> list[str] | None:
    if customers is None:
        return None
    items = [customers] if isinstance(customers, str) else list(customers)
    out: list[str] = []
    for c in items:
        if not isinstance(c, str) or not c:
            msg = f"customers must be ids or source ids (non-empty strings), got {c!r}"
            raise ValueError(msg)
        if c not in out:
            out.append(c)
    return out


class _FetchRun:
    """One call of ``fetch``: its state, its buffers, its tasks."""

    def __init__(
        self,
        client: VoucherifyClient,
        *,
        customers: str | Iterable[str] | None,
        since: TimeLike | None,
        until: TimeLike | None,
        store: str | Path | None,
        endpoint: str,
        query: ActivityQuery | None,
        progress: FetchProgress,
        checkpoint_every: float,
        retry: RetryPolicy | None = None,
    ) -> None:
        if endpoint not in ENDPOINTS:
            msg = f"endpoint must be one of {list(ENDPOINTS)}, got {endpoint!r}"
            raise ValueError(msg)
        self.client = client
        self.endpoint: Endpoint = endpoint  # type: ignore[assignment]
        self.explicit = _customer_list(customers)
        self.since = _time(since, "since")
        self.until = _time(until, "until")
        if self.since and self.until and self.since >= self.until:
            msg = f"since ({self.since}) must be before until ({self.until})"
            raise ValueError(msg)
        self.query = (query or ActivityQuery()).replace(start_date=None, end_date=None)
        self.query.params(endpoint)  # unsupported filters fail now, not per customer
        self.store = Path(store) if store is not None else None
        self.progress = progress
        self.checkpoint_every = checkpoint_every
        self.retry = retry or client.retry
        # event id -> the customer (as asked) it was fetched for, until committed
        self.fetched_for: dict[str, str] = {}
        # event id -> what the reader saw of it, idempotent if a commit is retried
        self.unknown: dict[str, str] = {}
        self.skipped: dict[str, int] = {}
        self.misattributed: dict[str, tuple[str, str | None]] = {}
        self.failures: dict[str, ActivityToolkitError] = {}
        self.pending: list[dict[str, Any]] = []
        self.fetched = 0
        self._dirty = False
        self._parts_written = False  # checkpoints appended parts: compact at the end
        self._commit_lock = asyncio.Lock()
        self._writing: asyncio.Future[ActivityLog] | None = None
        self._stop = asyncio.Event()
        self.log = ActivityLog.empty()
        raw_state: dict[str, Any] | None = None
        if self.store is not None:
            # refuse a file or a folder of other things now, not after the network
            prepare_store_dir(self.store)
        if self.store is not None and (self.store / "CURRENT").exists():
            self.log = read_parquet(self.store)
            raw_state = read_state(self.store)
        self.state = self._load_state(raw_state)

    # -- sync state --------------------------------------------------------------------
    def _load_state(self, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        filters = self.query.fingerprint()
        fresh: dict[str, Any] = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "app_id": self.client.app_id,
            "base_url": self.client.base_url,
            "filters": filters,
            "listed_until": None,
            "customers": {},
        }
        if raw is None:
            return fresh
        if raw.get("format") != STATE_FORMAT:
            msg = f"{self.store}: its sync state is not a fetch state ({raw.get('format')!r})"
            raise StoreError(msg)
        if (
            raw.get("app_id")
            and self.client.app_id
            and raw["app_id"] != self.client.app_id
        ):
            msg = (
                f"{self.store} holds the activity of application {raw['app_id']!r}, not "
                f"{self.client.app_id!r}; fetch another project into another store"
            )
            raise StoreError(msg)
        state = copy.deepcopy(dict(raw))
        state["base_url"] = self.client.base_url
        if state.get("filters", {}) != filters:
            # positions were taken under other filters: refetch (the store dedupes)
            logger.info(
                "filters changed since the last fetch: fetching customers in full"
            )
            state["filters"] = filters
            state["customers"] = {
                cid: self._fresh() for cid in state.get("customers", {})
            }
        state.setdefault("customers", {})
        return state

    def _fresh(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "last_created_at": None,
            "last_ids": [],
            "complete": False,
            "synced_at": None,
        }

    def _begin(self, customer: str) -> tuple[dict[str, Any], str | None]:
        """The customer's state entry for this pass and the ``start_date`` to ask.

        An entry means: the store holds every event of the customer from ``since``
        (``None``: the beginning) to ``last_created_at``. The next pass continues
        from there, so the range stays contiguous; only a ``since`` earlier than the
        stored one starts the customer over (from the new ``since``).
        """
        customers: dict[str, Any] = self.state["customers"]
        entry = customers.get(customer)
        widen = (
            entry is not None
            and entry.get("since") is not None
            and (self.since is None or self.since < entry["since"])
        )
        if entry is None or widen:
            entry = customers[customer] = self._fresh()
        entry["complete"] = False
        last: str | None = entry.get("last_created_at")
        return entry, last if last is not None else entry.get("since")

    def _accept(
        self, entry: dict[str, Any], events: list[dict[str, Any]], customer: str
    ) -> int:
        """Keep the events of one page that are new and in range; move the position."""
        last: str | None = entry.get("last_created_at")
        last_ids: list[str] = list(entry.get("last_ids", []))
        known_at_last = set(last_ids)
        kept = 0
        for event in events:
            stamp = _stamp(event.get("created_at"))
            if stamp is None:
                self.pending.append(event)  # the reader will report it
                if isinstance(event.get("id"), str):
                    self.fetched_for[event["id"]] = customer
                kept += 1
                continue
            if self.until and stamp >= self.until:
                continue
            if stamp == last and event.get("id") in known_at_last:
                continue  # already stored (the overlap of the last millisecond)
            self.pending.append(event)
            kept += 1
            if isinstance(event.get("id"), str):
                self.fetched_for[event["id"]] = customer
            if last is None or stamp > last:
                last, last_ids, known_at_last = stamp, [], set()
            if stamp == last and isinstance(event.get("id"), str):
                last_ids.append(event["id"])
                known_at_last.add(event["id"])
        entry["last_created_at"] = last
        entry["last_ids"] = last_ids
        if kept:
            self._dirty = True
        self.fetched += kept
        return kept

    # -- the run -----------------------------------------------------------------------
    async def run(self) -> ActivityLog:
        progress = self.progress
        started = time.monotonic()
        ticker: asyncio.Task[None] | None = None
        refresher = asyncio.create_task(self._refresh())
        fatal: BaseException | None = None
        try:
            if self.store is not None and self.checkpoint_every > 0:
                ticker = asyncio.create_task(self._tick())
            async with self.client.session(retry=self.retry) as session:
                await self._run_workers(session, progress)
        except BaseException as exc:
            fatal = exc
            raise
        finally:
            self._stop.set()
            refresher.cancel()
            await asyncio.gather(refresher, return_exceptions=True)
            if ticker is not None:
                await asyncio.gather(ticker, return_exceptions=True)
            result = self._with_report(await self._finish())
            self._warn()
            logger.info(
                "fetched %d new events in %.1f s (%d requests, %d 429s, %.1f s waiting "
                "on the rate limit)%s",
                self.fetched,
                time.monotonic() - started,
                progress.requests,
                progress.rate_limited,
                progress.waited,
                " [interrupted]" if fatal is not None else "",
            )
        if self.failures:
            raise self._failure(result)
        return result

    async def _run_workers(
        self, session: VoucherifySession, progress: FetchProgress
    ) -> None:
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        workers = [
            asyncio.create_task(self._work(session, queue, progress))
            for _ in range(self.client.concurrency)
        ]
        try:
            await self._produce(session, queue, progress)
            for _ in workers:
                queue.put_nowait(None)
            await asyncio.gather(*workers)
        except BaseException:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise

    async def _produce(
        self,
        session: VoucherifySession,
        queue: asyncio.Queue[str | None],
        progress: FetchProgress,
    ) -> None:
        if self.explicit is not None:
            progress.add_total(len(self.explicit))
            for customer in self.explicit:
                queue.put_nowait(customer)
            return
        customers: dict[str, Any] = self.state["customers"]
        seen = set(customers)
        progress.add_total(len(seen))
        for customer in list(customers):
            queue.put_nowait(customer)
        listed_until: str | None = self.state.get("listed_until")
        newest = listed_until
        # 1 ms of overlap: customers created in the same millisecond as the newest
        # one listed last time come back (and are recognised), not skipped
        after = before_ms(listed_until) if listed_until is not None else None
        async for page in session.iter_customers(created_after=after):
            added = 0
            for c in page:
                cid = c.get("id")
                stamp = _stamp(c.get("created_at"))
                if stamp is not None and (newest is None or stamp > newest):
                    newest = stamp
                if not isinstance(cid, str) or cid in seen:
                    continue
                seen.add(cid)
                customers[cid] = self._fresh()
                queue.put_nowait(cid)
                added += 1
            self._dirty = self._dirty or bool(added)
            progress.add_total(added)
        if newest != listed_until:
            self.state["listed_until"] = newest
            self._dirty = True

    async def _work(
        self,
        session: VoucherifySession,
        queue: asyncio.Queue[str | None],
        progress: FetchProgress,
    ) -> None:
        while True:
            customer = await queue.get()
            if customer is None:
                return
            try:
                await self._fetch_customer(session, customer, progress)
            except AuthenticationError:
                raise
            except ActivityToolkitError as exc:
                # FetchError reports it at the end: logged here, not printed twice
                logger.info("customer %s: %s", customer, exc)
                self.failures[customer] = exc
                progress.customer_done()

    async def _fetch_customer(
        self, session: VoucherifySession, customer: str, progress: FetchProgress
    ) -> None:
        entry, start = self._begin(customer)
        query = self.query.replace(start_date=start, end_date=self.until)
        async for events in session.iter_activity(
            customer, endpoint=self.endpoint, query=query
        ):
            progress.add_events(self._accept(entry, events, customer))
        entry["complete"] = True
        entry["synced_at"] = format_time(datetime.now().astimezone())
        self._dirty = True
        progress.customer_done()

    # -- commits -----------------------------------------------------------------------
    async def _refresh(self) -> None:
        """Redraw the bar every second, so retries show while nothing arrives."""
        while True:
            await asyncio.sleep(1.0)
            self.progress.refresh()

    async def _tick(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.checkpoint_every)
            except TimeoutError:
                try:
                    await self._commit()
                except (
                    Exception
                ) as exc:  # its events stay pending: the next commit retries
                    logger.warning(
                        "checkpoint of %s failed, will retry: %s", self.store, exc
                    )

    async def _commit(self, *, final: bool = False) -> None:
        """Write the events received so far with the positions that match them.

        A checkpoint adds the new events to the live version as one more part (the
        older parts are hard-linked, not rewritten); the ``final`` commit writes the
        whole log as a compact version. The write runs in a thread and is shielded:
        if the fetch is cancelled meanwhile, the write completes (or fails) on its
        own, and the next commit waits for it first, so two versions are never
        written at once.
        """
        if self.store is None:
            return
        async with self._commit_lock:
            if self._writing is not None and not self._writing.done():
                await asyncio.wait([self._writing])
            if not self._dirty and not (final and self._parts_written):
                return
            new = self._to_log(self.pending)  # first: if it raises, nothing was let go
            events, self.pending = self.pending, []
            state = copy.deepcopy(self.state)
            self._dirty = False

            def settle(task: asyncio.Future[ActivityLog]) -> None:
                if task.cancelled() or task.exception() is not None:
                    self.pending[:0] = events
                    self._dirty = True
                else:
                    self.log = task.result()
                    for e in events:
                        self.fetched_for.pop(e.get("id"), None)  # type: ignore[arg-type]

            self._writing = asyncio.ensure_future(
                asyncio.to_thread(
                    _merge_and_write, self.log, new, self.store, state, compact=final
                )
            )
            self._parts_written = not final
            self._writing.add_done_callback(settle)
            await asyncio.shield(self._writing)

    async def _finish(self) -> ActivityLog:
        if self.store is None:
            self.log = ActivityLog.concat([self.log, self._to_log(self.pending)])
            self.pending = []
            return self.log
        await self._commit(final=True)
        return self.log

    # -- what the reader saw, once per fetch -----------------------------------------
    def _to_log(self, events: list[dict[str, Any]]) -> ActivityLog:
        """The events as a log (reader warnings held back: :meth:`_warn` gives each
        once, with this fetch's final counts), attributed to the customer each was
        fetched for."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnknownEventTypeWarning)
            warnings.simplefilter("ignore", SkippedRecordsWarning)
            log = _to_log(events)
        if not len(log):
            return log
        unknown = log.events.filter(pl.col("family") == "unknown")
        self.unknown.update(zip(unknown["id"], unknown["type_raw"], strict=True))
        report = log.report
        if report is not None:
            for s in report.skipped:
                self.skipped[f"{s.location}: {s.reason}"] = 1
        return self._attribute(log)

    def _attribute(self, log: ActivityLog) -> ActivityLog:
        """``customer_id`` is the customer an event was fetched for.

        Where the payload names that customer (by id or source id) nothing changes.
        Where it names none, the fetched-for customer fills ``customer_id`` (or
        ``customer_source_id`` when it was asked for by source id). Where it names
        another one, the event still goes to the customer it was fetched for (the
        raw ``payload`` keeps what it said) and the disagreement is counted for the
        warning and ``log.report.attribution``.
        """
        ids = log.events["id"].to_list()
        pairs = [(i, self.fetched_for[i]) for i in ids if i in self.fetched_for]
        if not pairs:
            return log
        tags = pl.DataFrame(
            {"id": [p[0] for p in pairs], "_for": [p[1] for p in pairs]},
            schema={"id": pl.String, "_for": pl.String},
        )
        ev = log.events.join(tags, on="id", how="left", maintain_order="left")
        cid, src, fetched = (
            pl.col("customer_id"),
            pl.col("customer_source_id"),
            pl.col("_for"),
        )
        by_id = fetched.str.starts_with("cust_")
        agree = (
            fetched.is_null()
            | (cid == fetched).fill_null(False)
            | (src == fetched).fill_null(False)
        )
        none = cid.is_null() & src.is_null()
        ev = ev.with_columns(
            pl.when(agree)
            .then(pl.lit("ok"))
            .when(none)
            .then(pl.lit("none"))
            .otherwise(pl.lit("other"))
            .alias("_status")
        )
        bad = ev.filter(pl.col("_status") == "other")
        for i, f, c, sid in bad.select(
            "id", "_for", "customer_id", "customer_source_id"
        ).iter_rows():
            self.misattributed[i] = (f, c if c is not None else sid)
        for i, f in (
            ev.filter(pl.col("_status") == "none").select("id", "_for").iter_rows()
        ):
            self.misattributed[i] = (f, None)
        if (
            bad.height == 0
            and not ev.select((pl.col("_status") == "none").any()).item()
        ):
            return log
        fix = pl.col("_status") != "ok"
        ev = ev.with_columns(
            pl.when(fix & by_id)
            .then(fetched)
            .when(fix & ~by_id & (pl.col("_status") == "other"))
            .then(pl.lit(None))
            .otherwise(cid)
            .alias("customer_id"),
            pl.when(fix & ~by_id)
            .then(fetched)
            .when(fix & by_id & (pl.col("_status") == "other"))
            .then(pl.lit(None))
            .otherwise(src)
            .alias("customer_source_id"),
        )
        new_cols = ev.select("id", "customer_id", "customer_source_id")
        events = ev.select(log.events.columns)
        frames: dict[str, pl.DataFrame] = {}
        for t, f in log.frames.items():
            cols = [c for c in ("customer_id", "customer_source_id") if c in f.columns]
            if not cols:
                frames[t] = f
                continue
            joined = f.drop(cols).join(
                new_cols.select("id", *cols), on="id", how="left", maintain_order="left"
            )
            frames[t] = joined.select(f.columns)
        return ActivityLog(events, frames, report=log.report)

    def _with_report(self, result: ActivityLog) -> ActivityLog:
        pairs = Counter(self.misattributed.values())
        attribution = tuple(
            sorted(
                ((f, c, n) for (f, c), n in pairs.items()),
                key=lambda r: (-r[2], r[0], r[1] or ""),
            )
        )
        unknown = tuple(sorted(Counter(self.unknown.values()).items()))
        base = result.report or LoadReport()
        report = dataclasses.replace(
            base,
            records=self.fetched,
            unknown_types=unknown,
            attribution=attribution,
        )
        return ActivityLog(result.events, result.frames, report=report)

    def _warn(self) -> None:
        """Each reader warning once per fetch, with the final counts."""
        for t, n in sorted(Counter(self.unknown.values()).items()):
            warnings.warn(
                f"unknown event type {t!r} ({n:,} events fetched): kept with the common "
                "columns and the raw payload under family 'unknown'",
                UnknownEventTypeWarning,
                stacklevel=4,
            )
        if self.skipped:
            first = next(iter(self.skipped))
            warnings.warn(
                f"skipped {len(self.skipped):,} bad record(s) fetched; first: {first}",
                SkippedRecordsWarning,
                stacklevel=4,
            )
        if self.misattributed:
            values = list(self.misattributed.values())
            other = [v for v in values if v[1] is not None]
            none = len(values) - len(other)
            customers = len({v[0] for v in values})
            named = len({v[1] for v in other})
            warnings.warn(
                f"{len(values):,} fetched event(s) of {customers:,} customer(s) do not "
                f"name that customer in their payload ({len(other):,} name another "
                f"customer, {named:,} distinct; {none:,} name none): they are kept "
                "under the customer they were fetched for; log.report.attribution "
                "lists them by (fetched for, payload customer)",
                UserWarning,
                stacklevel=4,
            )

    def _failure(self, result: ActivityLog) -> FetchError:
        n = len(self.failures)
        shown = "; ".join(
            f"{c}: {type(e).__name__}: {e}" for c, e in list(self.failures.items())[:5]
        )
        more = f"; and {n - 5} more" if n > 5 else ""
        kept = f"kept in {self.store}" if self.store is not None else "in error.log"
        msg = (
            f"{n} customer(s) could not be fetched: {shown}{more}. "
            f"Everything else ({len(result):,} events) is {kept}"
            + (
                "; run the same fetch again to resume."
                if self.store is not None
                else "."
            )
        )
        error = FetchError(msg, failures=self.failures, log=result, store=self.store)
        error.__cause__ = next(iter(self.failures.values()))
        return error


def _to_log(events: list[dict[str, Any]]) -> ActivityLog:
    if not events:
        return ActivityLog.empty()
    page = {"object": "list", "data_ref": "data", "data": events}
    return read_pages([page], on_error="skip")


def _merge_and_write(
    log: ActivityLog,
    new: ActivityLog,
    store: Path,
    state: Mapping[str, Any],
    *,
    compact: bool,
) -> ActivityLog:
    merged = ActivityLog.concat([log, new])
    if compact:
        write_store(merged, store, state=state)
    else:  # only what the store lacks: a refetch (wider since) re-sends stored events
        with StoreWriter(store, extend=True) as writer:
            writer.add(new._where(~pl.col("id").is_in(log.events["id"].implode())))
            writer.commit(state=state)
    return merged
