"""MongoDB plumbing: the client, an aggregate store whose single-document writes carry state, inbox and outbox together.

The store (FerretDB or MongoDB) gives no multi-document transactions, so the unit of atomicity is one document:
an aggregate document holds its state, the ids of the messages already applied to it (the tracking record) and
the events still to publish (the outbox). One `update_one` conditioned on the version makes all three durable at
once; a redelivered message finds its id in `_inbox` and changes nothing.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from contracts.envelope import Envelope

# Ids of the last messages applied, kept in each aggregate: a redelivery concerns the few messages after the last
# committed offset (at most one commit batch per consumer), and every write rewrites the whole document, so the list stays short.
INBOX_KEEP = 16
DUPLICATE_KEY = 11000
RESERVED = ("_id", "_v", "_inbox", "_offsets", "_outbox", "_pending")


@dataclass(frozen=True)
class Delivery:
    """The Kafka record being handled: which consumer group read it, where from, when the broker appended it, and its message."""

    group: str
    topic: str
    partition: int
    offset: int
    message_id: str
    timestamp_ms: int = -1
    size: int = -1

    @property
    def key(self) -> str:
        """Field name of this (group, topic, partition) in an aggregate's `_offsets` (no dots: they mean nesting)."""
        return f"{self.group}|{self.topic}|{self.partition}".replace(".", "_")


@dataclass
class UnitOfWork:
    """What the handling of one message (or one item of a background job) has done so far, passed explicitly.

    `message_id`: the message being applied (the cause of every event it queues). `delivery`: the Kafka record it came
    in (None for a background job): commits record its offset in the aggregate and `Loaded.applied` recognises a
    redelivered record by it. `leftovers`: aggregates this work loaded whose outbox still held events that an earlier
    handling of THIS message committed but a crash kept from being published; they go out when the work ends.
    Events queued by other messages are never ours to publish: their own message is redelivered if they crashed.
    """

    message_id: str
    delivery: Delivery | None = None
    leftovers: dict[str, tuple[AggregateStore, str]] = field(default_factory=dict)


class ConcurrencyConflict(Exception):
    """Another writer changed the aggregate between our read and our write: reload and decide again."""


def _offset_mark(value: Any) -> tuple[int, int]:
    """An `_offsets` entry as (offset, broker timestamp ms); entries written before the timestamp was kept have -1."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return int(value[0]), int(value[1])
    return int(value), -1


def make_client(url: str, listeners: Sequence[monitoring.CommandListener] = ()) -> AsyncMongoClient[dict[str, Any]]:
    """Create the async client (PyMongo's native asyncio API; Motor is deprecated)."""
    return AsyncMongoClient(
        url,
        serverSelectionTimeoutMS=3000,
        connectTimeoutMS=3000,
        retryWrites=False,
        tz_aware=True,
        event_listeners=list(listeners),
    )


class CommandCounter(monitoring.CommandListener):
    """Counts store commands per command and collection (partition suffix folded), and the time they took."""

    def __init__(self, count: Callable[[str, str, float], None]) -> None:
        self.count = count
        self._pending: dict[int, tuple[str, str]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        collection = target if isinstance(target, str) else "-"
        base, _, suffix = collection.rpartition("_")
        if base and suffix.isdigit():
            collection = base
        self._pending[event.request_id] = (event.command_name, collection)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._done(event.request_id, event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._done(event.request_id, event.duration_micros)

    def _done(self, request_id: int, micros: int) -> None:
        key = self._pending.pop(request_id, None)
        if key is not None:
            self.count(key[0], key[1], micros / 1e6)


@dataclass
class Loaded:
    """An aggregate as read: its state (without the reserved fields), version and applied message ids."""

    id: str
    state: dict[str, Any]
    version: int
    inbox: list[str] = field(default_factory=list)
    exists: bool = False
    versioned: bool = False
    outbox: dict[str, Any] = field(default_factory=dict)
    offsets: dict[str, Any] = field(default_factory=dict)
    work: UnitOfWork | None = None

    def applied(self, message_id: object) -> bool:
        """True when the message was already applied to this aggregate.

        Two records: the ids of the last INBOX_KEEP messages applied (catches a copy of a message published again),
        and per (consumer group, topic, partition) the offset and broker timestamp of the last record applied: a
        partition is consumed in order, so a redelivered record at or below that offset was applied, or handled
        without touching this aggregate. The timestamp tells a redelivery from a new record of a recreated topic (or a
        new cluster), whose offsets start again from zero: the broker appended it after the recorded one.
        """
        if str(message_id) in self.inbox:
            return True
        delivery = self.work.delivery if self.work is not None else None
        if delivery is None or delivery.message_id != str(message_id) or delivery.key not in self.offsets:
            return False
        offset, timestamp_ms = _offset_mark(self.offsets[delivery.key])
        if offset < delivery.offset:
            return False
        return timestamp_ms < 0 or delivery.timestamp_ms < 0 or delivery.timestamp_ms <= timestamp_ms


def applied_marks(loaded: Loaded, message_id: str) -> tuple[list[str], dict[str, Any]]:
    """The tracking records a commit of `message_id` writes: the inbox with it appended (last INBOX_KEEP ids) and the
    offsets with its delivery's (consumer group, topic, partition) moved forward (what `Loaded.applied` reads back)."""
    inbox = [*loaded.inbox, message_id][-INBOX_KEEP:]
    delivery = loaded.work.delivery if loaded.work is not None else None
    offsets = dict(loaded.offsets)
    if delivery is not None and delivery.message_id == message_id:
        previous = _offset_mark(offsets[delivery.key]) if delivery.key in offsets else (-1, -1)
        if delivery.offset >= previous[0] or delivery.timestamp_ms > previous[1] >= 0:
            offsets[delivery.key] = [delivery.offset, delivery.timestamp_ms]
    return inbox, offsets


def outbox_entry(topic: str, envelope: Envelope, seq: int, cause: str) -> dict[str, Any]:
    """Serialize an outgoing event for the outbox, with the message that caused it and when it was queued."""
    return {"topic": topic, "seq": seq, "key": envelope.key, "value": envelope.model_dump_json(), "cause": cause, "at": time.time()}


#: An outbox entry's `seq` is the version its commit wrote times SEQ_PAR_VERSION plus its rank in the commit: the
#: aggregate's own order (versions are compare-and-set), whatever the clocks of the instances that committed.
SEQ_PAR_VERSION = 10_000


def entries_in_order(outbox: dict[str, Any], cause: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The entries of an outbox in publishing order (the commits' order, then rank), only those of `cause` if given."""
    entries = [(mid, e) for mid, e in outbox.items() if cause is None or e.get("cause") == cause]
    return sorted(entries, key=lambda kv: (int(kv[1].get("seq", 0)), float(kv[1].get("at", 0.0))))


def partition_of(key: str, partitions: int) -> int:
    """The partition of a key: a stable hash, the same in every process and language (CRC-32)."""
    return zlib.crc32(key.encode()) % partitions


def partition_name(base: str, number: int, partitions: int) -> str:
    """Collection name of one partition (the base name alone when there is a single partition)."""
    return base if partitions == 1 else f"{base}_{number:03d}"


class AggregateStore:
    """Aggregates written with optimistic concurrency, inbox and outbox in the same single-document write.

    The aggregates may be spread over several collections ("partitions", chosen by a stable hash of the id). They
    were introduced when FerretDB 1.24 scanned a whole collection for every lookup by `_id`; our build patches that
    (infra/ferretdb/patch.sh), so lookups by `_id` are index searches and partitions are harmless everywhere. The
    relay's `_pending` sweep is still a scan (no secondary index on FerretDB) and is spread over them.
    """

    def __init__(self, collections: AsyncCollection[dict[str, Any]] | Sequence[AsyncCollection[dict[str, Any]]]) -> None:
        self.collections: list[AsyncCollection[dict[str, Any]]] = [collections] if isinstance(collections, AsyncCollection) else list(collections)
        self.name = self.collections[0].name if len(self.collections) == 1 else self.collections[0].name.rsplit("_", 1)[0]

    @classmethod
    def partitioned(cls, db: AsyncDatabase[dict[str, Any]], name: str, partitions: int) -> AggregateStore:
        """A store spread over `partitions` collections named `<name>_000`, `<name>_001`, ..."""
        return cls([db[partition_name(name, i, partitions)] for i in range(partitions)])

    def ref(self, aggregate_id: str) -> str:
        """One aggregate's key across the process's stores (for in-memory bookkeeping: locks, leftovers)."""
        return f"{self.name}:{aggregate_id}"

    @property
    def collection(self) -> AsyncCollection[dict[str, Any]]:
        """The single collection of an unpartitioned store."""
        if len(self.collections) != 1:
            raise AttributeError(f"{self.name} is partitioned: use collection_for(id) or collections")
        return self.collections[0]

    def collection_for(self, aggregate_id: str) -> AsyncCollection[dict[str, Any]]:
        """The collection holding one aggregate."""
        if len(self.collections) == 1:
            return self.collections[0]
        return self.collections[partition_of(aggregate_id, len(self.collections))]

    async def create_index(self, keys: list[tuple[str, int]], **kwargs: Any) -> None:
        """Create an index on every partition."""
        for coll in self.collections:
            await coll.create_index(keys, **kwargs)

    async def find_all(self, filter_: dict[str, Any], projection: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every document of every partition matching a filter."""
        out: list[dict[str, Any]] = []
        for coll in self.collections:
            out += [doc async for doc in coll.find(filter_, projection)]
        return out

    async def bulk_load(self, docs: Iterable[dict[str, Any]], batch: int = 500, in_flight: int = 2) -> int:
        """Seed documents into their partitions in batches, a few in flight; return how many were new.

        Idempotent: a batch whose first and last ids are already there is skipped (two `_id` probes), and a partial
        one is inserted with its duplicates ignored, so documents already living their own life are left untouched.
        """
        pending: dict[int, list[dict[str, Any]]] = defaultdict(list)
        running: set[asyncio.Task[int]] = set()
        inserted = 0

        async def drain(limit: int) -> int:
            n = 0
            while len(running) > limit:
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                running.difference_update(done)
                n += sum(t.result() for t in done)
            return n

        for doc in docs:
            number = partition_of(str(doc["_id"]), len(self.collections))
            pending[number].append(doc)
            if len(pending[number]) >= batch:
                running.add(asyncio.create_task(_insert_batch(self.collections[number], pending.pop(number))))
                inserted += await drain(in_flight - 1)
        for number, docs_left in pending.items():
            running.add(asyncio.create_task(_insert_batch(self.collections[number], docs_left)))
            inserted += await drain(in_flight - 1)
        return inserted + await drain(0)

    async def ensure_indexes(self) -> None:
        """Create the index the outbox relay uses to find unpublished events."""
        await self.create_index([("_pending", ASCENDING)])

    async def load(self, aggregate_id: str, work: UnitOfWork | None = None) -> Loaded:
        """Read an aggregate (an absent one has version 0 and empty state), within a unit of work when a handler reads it."""
        doc = await self.collection_for(aggregate_id).find_one({"_id": aggregate_id})
        if doc is None:
            return Loaded(id=aggregate_id, state={}, version=0, work=work)
        state = {k: v for k, v in doc.items() if k not in RESERVED}
        # A background job's work knows its cause only after the load (empty message_id): note any outbox, it filters later.
        if work is not None and entries_in_order(doc.get("_outbox") or {}, work.message_id or None):
            work.leftovers[self.ref(aggregate_id)] = (self, aggregate_id)
        # A document seeded in bulk may carry no version yet: it exists, at version 0.
        return Loaded(
            id=aggregate_id,
            state=state,
            version=int(doc.get("_v", 0)),
            inbox=list(doc.get("_inbox", [])),
            exists=True,
            versioned="_v" in doc,
            outbox=dict(doc.get("_outbox") or {}),
            offsets=dict(doc.get("_offsets") or {}),
            work=work,
        )

    async def commit(
        self,
        loaded: Loaded,
        state: dict[str, Any],
        message_id: object,
        events: list[tuple[str, Envelope]],
    ) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
        """Write the new state, mark `message_id` applied and queue `events` — atomically, or raise ConcurrencyConflict.

        Returns the new version and the entries this commit queued, in publishing order (their `seq` orders them after
        every entry of an earlier commit). Entries other messages left in the outbox are not returned: the caller
        publishes them first when there are any (Runtime.commit), so the aggregate's events reach the topic in order.
        """
        cause = str(message_id)
        version = loaded.version + 1 if loaded.exists else 1
        outbox = {str(env.message_id): outbox_entry(topic, env, version * SEQ_PAR_VERSION + i, cause) for i, (topic, env) in enumerate(events)}
        inbox, offsets = applied_marks(loaded, cause)
        clean = {k: v for k, v in state.items() if k not in RESERVED}
        if not loaded.exists:
            doc = {
                "_id": loaded.id,
                **clean,
                "_v": 1,
                "_inbox": inbox,
                "_offsets": offsets,
                "_outbox": outbox,
                "_pending": bool(outbox),
            }
            try:
                await self.collection_for(loaded.id).insert_one(doc)
            except DuplicateKeyError as exc:
                raise ConcurrencyConflict(loaded.id) from exc
            return 1, list(outbox.items())
        unset = {k: "" for k in loaded.state if k not in clean}
        update: dict[str, Any] = {"$set": {**clean, "_v": loaded.version + 1, "_inbox": inbox, "_offsets": offsets}}
        for mid, entry in outbox.items():
            update["$set"][f"_outbox.{mid}"] = entry
        if outbox:
            update["$set"]["_pending"] = True
        if unset:
            update["$unset"] = unset
        expected: Any = loaded.version if loaded.versioned else {"$exists": False}
        result = await self.collection_for(loaded.id).update_one({"_id": loaded.id, "_v": expected}, update)
        if result.matched_count != 1:
            raise ConcurrencyConflict(loaded.id)
        return loaded.version + 1, list(outbox.items())

    async def clear_published(self, aggregate_id: str, message_ids: list[str], version: int, *, keep_pending: bool = False) -> None:
        """After publishing what version `version` queued: one write when no newer commit happened meanwhile."""
        unset = {f"_outbox.{mid}": "" for mid in message_ids}
        coll = self.collection_for(aggregate_id)
        update: dict[str, Any] = {"$unset": unset}
        if not keep_pending:
            update["$set"] = {"_pending": False}
        result = await coll.update_one({"_id": aggregate_id, "_v": version}, update)
        if result.matched_count == 0:
            # A newer commit queued more events: remove only ours and leave the flag to the sweeper.
            await coll.update_one({"_id": aggregate_id}, {"$unset": unset})

    async def pending(self, limit: int = 100, pace_s: float = 0.0) -> list[dict[str, Any]]:
        """Documents holding unpublished events (`pace_s`: pause between partitions, to spread a scan's load)."""
        out: list[dict[str, Any]] = []
        for coll in self.collections:
            out += [doc async for doc in coll.find({"_pending": True}, {"_outbox": 1, "_v": 1}).limit(limit)]
            if pace_s:
                await asyncio.sleep(pace_s)
        return out

    async def outbox_of(self, aggregate_id: str) -> dict[str, Any] | None:
        """The outbox and version of one aggregate."""
        return await self.collection_for(aggregate_id).find_one({"_id": aggregate_id}, {"_outbox": 1, "_v": 1})

    async def mark_published(self, aggregate_id: str, message_ids: list[str], version: int, *, emptied: bool) -> None:
        """Remove published events from the outbox; clear the pending flag if that emptied it and nothing new came."""
        coll = self.collection_for(aggregate_id)
        if message_ids:
            await coll.update_one({"_id": aggregate_id}, {"$unset": {f"_outbox.{mid}": "" for mid in message_ids}})
        if emptied:
            await coll.update_one({"_id": aggregate_id, "_v": version}, {"$set": {"_pending": False}})


IndexKeys = str | Sequence[tuple[str, int]]


@dataclass(frozen=True)
class IndexSpec:
    """One index a service needs: on an aggregate store (every partition) or a plain collection."""

    target: AggregateStore | AsyncCollection[dict[str, Any]]
    keys: tuple[tuple[str, int], ...]
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """Collection (or store) and keys, for logs and duplicate detection."""
        return f"{self.target.name}:{','.join(f'{k}:{d}' for k, d in self.keys)}:{dict(self.options)}"


class Indexes:
    """The indexes of a service, declared once where its collections are defined and created together at start.

    `Runtime.index(...)` declares into the runtime's registry (created before the startup hooks run); a seed script
    without a runtime builds its own `Indexes`, declares the same and calls `create()`. Declaring the same index twice
    creates it once; creating an existing index is a no-op for the store.
    """

    def __init__(self) -> None:
        self.specs: list[IndexSpec] = []

    def declare(self, target: AggregateStore | AsyncCollection[dict[str, Any]], keys: IndexKeys, **options: Any) -> IndexSpec:
        """Declare an index: `keys` a field name (ascending) or [(field, ASCENDING|DESCENDING), ...]; options as pymongo's."""
        normal = ((keys, ASCENDING),) if isinstance(keys, str) else tuple((k, int(d)) for k, d in keys)
        spec = IndexSpec(target, normal, tuple(sorted(options.items())))
        if all(s.label != spec.label or s.target is not spec.target for s in self.specs):
            self.specs.append(spec)
        return spec

    async def create(self) -> None:
        """Create every declared index (on every partition of a store)."""
        for spec in self.specs:
            await spec.target.create_index(list(spec.keys), **dict(spec.options))


async def _insert_batch(collection: AsyncCollection[dict[str, Any]], docs: list[dict[str, Any]]) -> int:
    # Probe the batch's ends by _id first: a batch loaded by an earlier run then costs two lookups.
    if await collection.find_one({"_id": docs[0]["_id"]}, {"_id": 1}) and await collection.find_one({"_id": docs[-1]["_id"]}, {"_id": 1}):
        return 0
    try:
        return len((await collection.insert_many(docs, ordered=False)).inserted_ids)
    except BulkWriteError as exc:
        if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
            raise
        return int(exc.details.get("nInserted", 0))


class Inbox:
    """Per-consumer record of handled message ids (unique _id = consumer:message_id): the fast duplicate check.

    Spread over `partitions` collections (`inbox_000`...) like the aggregates (it grows by one document per
    message). Consumers created with `inbox=False` rely on their aggregates' own records instead.
    """

    def __init__(self, db: AsyncDatabase[dict[str, Any]], partitions: int = 32) -> None:
        self.collections = [db[partition_name("inbox", i, partitions)] for i in range(partitions)]

    def _for(self, key: str) -> AsyncCollection[dict[str, Any]]:
        return self.collections[partition_of(key, len(self.collections))]

    async def record(self, consumer: str, message_id: object) -> dict[str, Any] | None:
        """The inbox record of a message (with the handler's outcome), or None."""
        key = f"{consumer}:{message_id}"
        return await self._for(key).find_one({"_id": key})

    async def seen(self, consumer: str, message_id: object) -> bool:
        """True when this consumer already handled the message."""
        key = f"{consumer}:{message_id}"
        return await self._for(key).find_one({"_id": key}, {"_id": 1}) is not None

    async def mark(self, consumer: str, message_id: object, outcome: str) -> None:
        """Record that this consumer handled the message (idempotent)."""
        key = f"{consumer}:{message_id}"
        try:
            await self._for(key).insert_one({"_id": key, "outcome": outcome})
        except DuplicateKeyError:
            pass
