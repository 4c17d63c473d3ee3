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
import logging
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from activity_toolkit._time import TimeLike, before_ms, format_time
from activity_toolkit.client import (
    ENDPOINTS,
    ActivityQuery,
    Endpoint,
    FetchProgress,
    VoucherifyClient,
    VoucherifySession,
    run_sync,
)
from activity_toolkit.exceptions import (
    ActivityToolkitError,
    AuthenticationError,
    FetchError,
    StoreError,
)
from activity_toolkit.io import (
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
        ).run()
    finally:
        bar.close()


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

    def _accept(self, entry: dict[str, Any], events: list[dict[str, Any]]) -> int:
        """Keep the events of one page that are new and in range; move the position."""
        last: str | None = entry.get("last_created_at")
        last_ids: list[str] = list(entry.get("last_ids", []))
        known_at_last = set(last_ids)
        kept = 0
        for event in events:
            stamp = _stamp(event.get("created_at"))
            if stamp is None:
                self.pending.append(event)  # the reader will report it
                kept += 1
                continue
            if self.until and stamp >= self.until:
                continue
            if stamp == last and event.get("id") in known_at_last:
                continue  # already stored (the overlap of the last millisecond)
            self.pending.append(event)
            kept += 1
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
        fatal: BaseException | None = None
        try:
            if self.store is not None and self.checkpoint_every > 0:
                ticker = asyncio.create_task(self._tick())
            async with self.client.session() as session:
                await self._run_workers(session, progress)
        except BaseException as exc:
            fatal = exc
            raise
        finally:
            self._stop.set()
            if ticker is not None:
                await asyncio.gather(ticker, return_exceptions=True)
            result = await self._finish()
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
                logger.warning("customer %s: %s", customer, exc)
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
            progress.add_events(self._accept(entry, events))
        entry["complete"] = True
        entry["synced_at"] = format_time(datetime.now().astimezone())
        self._dirty = True
        progress.customer_done()

    # -- commits -----------------------------------------------------------------------
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
            new = _to_log(self.pending)  # first: if this raises, nothing was let go
            events, self.pending = self.pending, []
            state = copy.deepcopy(self.state)
            self._dirty = False

            def settle(task: asyncio.Future[ActivityLog]) -> None:
                if task.cancelled() or task.exception() is not None:
                    self.pending[:0] = events
                    self._dirty = True
                else:
                    self.log = task.result()

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
            self.log = ActivityLog.concat([self.log, _to_log(self.pending)])
            self.pending = []
            return self.log
        await self._commit(final=True)
        return self.log

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
