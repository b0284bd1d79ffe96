"""Outbox relay: publishes the events queued in aggregate documents, then removes them; a sweeper catches leftovers."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from platform_kit.errors import PermanentPublishError
from platform_kit.metrics import Metrics
from platform_kit.producer import Producer
from platform_kit.store import AggregateStore, entries_in_order

log = logging.getLogger(__name__)

#: What to do with an outbox entry Kafka will never take (too large, forbidden topic): dead-letter a trace of it.
Undeliverable = Callable[[AggregateStore, str, dict[str, Any], BaseException], Awaitable[None]]


class OutboxRelay:
    """Publishes outbox entries of registered aggregate stores, right after a commit and periodically."""

    def __init__(
        self,
        producer: Producer,
        metrics: Metrics,
        interval_s: float,
        full_interval_s: float = 3600.0,
        initial_delay_s: float = 0.0,
        pace_s: float = 0.0,
        sweep_min_age_s: float = 60.0,
        undeliverable: Undeliverable | None = None,
    ) -> None:
        self.initial_delay_s = initial_delay_s
        self.pace_s = pace_s
        self.producer = producer
        self.metrics = metrics
        self.interval_s = interval_s
        self.full_interval_s = full_interval_s
        # The sweep only takes entries queued this long ago: a younger one belongs to a commit whose fast path (in this
        # process or another instance) is publishing it now, and taking it too would put a second copy on the topic.
        self.sweep_min_age_s = sweep_min_age_s
        self.undeliverable = undeliverable
        # Aggregates whose immediate flush was interrupted (stop): retried every interval, with the cause's entries.
        self._dirty: set[tuple[AggregateStore, str, str | None]] = set()
        # Aggregates whose fresh commit the fast path is publishing: the sweeper leaves them alone.
        self._inflight: Counter[str] = Counter()
        self.stores: list[AggregateStore] = []
        self._task: asyncio.Task[None] | None = None
        # One lock per aggregate while anyone uses it (weak values: a lock disappears with its last user, never while
        # a task holds or awaits it, so two tasks can never end up with two different locks for one aggregate).
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def register(self, store: AggregateStore) -> None:
        """Have the sweeper watch this store."""
        self.stores.append(store)

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    async def publish_entries(self, store: AggregateStore, aggregate_id: str, entries: list[dict[str, Any]]) -> None:
        """Publish outbox entries in order: enqueue them all (order kept per partition), then wait for every ack.

        An entry Kafka refuses for good (too large, forbidden topic) is handed to `undeliverable` (a dead letter with a
        truncated copy) instead of being retried forever; the others are published.
        """
        records = [(e["topic"], e["value"].encode(), e["key"].encode(), {"content-type": "application/json"}) for e in entries]
        try:
            await self.producer.send_all(records)
        except PermanentPublishError as exc:
            for index, error in exc.failed:
                log.error("outbox entry can never be published", extra={"fields": {"aggregate": aggregate_id, "error": repr(error)}})
                if self.undeliverable is not None:
                    await self.undeliverable(store, aggregate_id, entries[index], error)
        self.metrics.published.labels(self.metrics.service).inc(len(entries))

    def begin(self, store: AggregateStore, aggregate_id: str) -> None:
        """Called before a commit whose events the fast path will publish."""
        self._inflight[store.ref(aggregate_id)] += 1

    def end(self, store: AggregateStore, aggregate_id: str) -> None:
        """Called once the fast path is over (published, or handed to the retry set)."""
        key = store.ref(aggregate_id)
        self._inflight[key] -= 1
        if self._inflight[key] <= 0:
            del self._inflight[key]

    async def publish_committed(
        self, store: AggregateStore, aggregate_id: str, version: int, ordered: list[tuple[str, dict[str, Any]]], *, others_pending: bool
    ) -> None:
        """Fast path right after a commit: publish the entries this commit queued, then remove them in one store write.

        `others_pending`: the outbox also holds entries of other messages (theirs to publish), so the pending flag the
        sweep reads stays set.
        """
        async with self._lock(store.ref(aggregate_id)):
            await self.publish_entries(store, aggregate_id, [entry for _mid, entry in ordered])
            await store.clear_published(aggregate_id, [mid for mid, _ in ordered], version, keep_pending=others_pending)

    async def flush(
        self, store: AggregateStore, aggregate_id: str, *, cause: str | None = None, skip_inflight: bool = False, min_age_s: float = 0.0
    ) -> None:
        """Publish what one aggregate has pending: the entries of one causing message, or (sweep) every entry old enough."""
        key = store.ref(aggregate_id)
        async with self._lock(key):
            if skip_inflight and key in self._inflight:
                return
            doc = await store.outbox_of(aggregate_id)
            if not doc or not doc.get("_outbox"):
                return
            outbox: dict[str, Any] = doc["_outbox"]
            entries = entries_in_order(outbox, cause)
            if min_age_s:
                horizon = time.time() - min_age_s
                entries = [(mid, e) for mid, e in entries if float(e.get("at", 0.0)) <= horizon]
            if not entries:
                return
            await self.publish_entries(store, aggregate_id, [entry for _mid, entry in entries])
            published = [mid for mid, _ in entries]
            await store.mark_published(aggregate_id, published, int(doc.get("_v", 0)), emptied=len(published) == len(outbox))

    async def sweep_once(self, pace_s: float = 0.0) -> int:
        """Publish every pending outbox entry queued long enough ago; return how many documents were looked at."""
        handled = 0
        for store in self.stores:
            for doc in await store.pending(pace_s=pace_s):
                await self.flush(store, str(doc["_id"]), skip_inflight=True, min_age_s=self.sweep_min_age_s)
                handled += 1
        return handled

    def remember(self, store: AggregateStore, aggregate_id: str, cause: str | None) -> None:
        """Have the relay retry the entries of `cause` on an aggregate whose immediate flush was interrupted."""
        self._dirty.add((store, aggregate_id, cause))

    async def retry_dirty(self) -> None:
        """Flush the aggregates whose immediate flush was interrupted."""
        for store, aggregate_id, cause in list(self._dirty):
            await self.flush(store, aggregate_id, cause=cause)
            self._dirty.discard((store, aggregate_id, cause))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        # The sweep is a safety net (a crash's leftovers go out when their message is redelivered): the first one
        # waits a little after start and is paced, so a restart does not compete with the backlog it has to drain.
        last_full = loop.time() - self.full_interval_s + self.initial_delay_s
        while True:
            try:
                if loop.time() - last_full >= self.full_interval_s:
                    await self.sweep_once(pace_s=self.pace_s)
                    last_full = loop.time()
                await self.retry_dirty()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("outbox sweep failed; will retry", exc_info=True)
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        """Start the periodic sweeper (its first full sweep comes `initial_delay_s` after start)."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the sweeper."""
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
