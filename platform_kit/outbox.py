"""Outbox relay: publishes the events queued in aggregate documents, then removes them; a sweeper catches leftovers."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

from platform_kit.metrics import Metrics
from platform_kit.producer import Producer
from platform_kit.store import AggregateStore

log = logging.getLogger(__name__)


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
    ) -> None:
        self.initial_delay_s = initial_delay_s
        self.pace_s = pace_s
        self.producer = producer
        self.metrics = metrics
        self.interval_s = interval_s
        self.full_interval_s = full_interval_s
        # Aggregates whose immediate flush failed: retried every interval. Only this process writes its outboxes, so
        # after a crash the full sweep at start finds whatever was left; a periodic full sweep is the last net.
        self._dirty: set[tuple[AggregateStore, str]] = set()
        # Aggregates whose fresh commit the fast path is publishing: the sweeper leaves them alone, otherwise both
        # would publish the same entries (harmless for consumers, but a needless copy on the topic).
        self._inflight: Counter[str] = Counter()
        self.stores: list[AggregateStore] = []
        self._task: asyncio.Task[None] | None = None
        self._locks: dict[str, asyncio.Lock] = {}

    def register(self, store: AggregateStore) -> None:
        """Have the sweeper watch this store."""
        self.stores.append(store)

    async def publish_entries(self, entries: list[dict[str, Any]]) -> None:
        """Publish outbox entries in order: enqueue them all (order kept per partition), then wait for every ack."""
        await self.producer.send_all([(e["topic"], e["value"].encode(), e["key"].encode(), {"content-type": "application/json"}) for e in entries])
        self.metrics.published.labels(self.metrics.service).inc(len(entries))

    async def publish_doc(self, store: AggregateStore, doc: dict[str, Any]) -> None:
        """Publish one document's outbox in order, then mark the entries published."""
        outbox: dict[str, Any] = doc.get("_outbox") or {}
        entries = sorted(outbox.items(), key=lambda kv: int(kv[1].get("seq", 0)))
        await self.publish_entries([entry for _mid, entry in entries])
        await store.mark_published(str(doc["_id"]), [mid for mid, _ in entries], int(doc.get("_v", 0)))

    def begin(self, store: AggregateStore, aggregate_id: str) -> None:
        """Called before a commit whose events the fast path will publish."""
        self._inflight[store.ref(aggregate_id)] += 1

    def end(self, store: AggregateStore, aggregate_id: str) -> None:
        """Called once the fast path is over (published, or handed to the retry set)."""
        key = store.ref(aggregate_id)
        self._inflight[key] -= 1
        if self._inflight[key] <= 0:
            del self._inflight[key]

    async def publish_committed(self, store: AggregateStore, aggregate_id: str, version: int, ordered: list[tuple[str, dict[str, Any]]]) -> None:
        """Fast path right after a commit: publish the whole outbox we just wrote, then clear it in one store write."""
        lock = self._locks.setdefault(store.ref(aggregate_id), asyncio.Lock())
        async with lock:
            await self.publish_entries([entry for _mid, entry in ordered])
            await store.clear_published(aggregate_id, [mid for mid, _ in ordered], version)
        if not lock.locked():
            self._locks.pop(store.ref(aggregate_id), None)

    async def flush(self, store: AggregateStore, aggregate_id: str, *, skip_inflight: bool = False) -> None:
        """Publish what one aggregate has pending (the relay's retry and sweep path)."""
        key = store.ref(aggregate_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if skip_inflight and key in self._inflight:
                return
            doc = await store.outbox_of(aggregate_id)
            if doc and doc.get("_outbox"):
                await self.publish_doc(store, doc)
        if not lock.locked():
            self._locks.pop(key, None)

    async def sweep_once(self, pace_s: float = 0.0) -> int:
        """Publish every pending outbox once; return how many documents were handled."""
        handled = 0
        for store in self.stores:
            for doc in await store.pending(pace_s=pace_s):
                await self.flush(store, str(doc["_id"]), skip_inflight=True)
                handled += 1
        return handled

    def remember(self, store: AggregateStore, aggregate_id: str) -> None:
        """Have the relay retry an aggregate whose immediate flush failed."""
        self._dirty.add((store, aggregate_id))

    async def retry_dirty(self) -> None:
        """Flush the aggregates whose immediate flush failed."""
        for store, aggregate_id in list(self._dirty):
            await self.flush(store, aggregate_id)
            self._dirty.discard((store, aggregate_id))

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
