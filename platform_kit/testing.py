"""In-memory implementations of the handler ports, for unit tests of handlers without Kafka or MongoDB.

    kit = MemoryKit(now=datetime(2025, 3, 3, 9, tzinfo=UTC))
    pds = MemoryAggregates("pds")
    handlers = Handlers(kit, pds)                       # the handler takes the ports, not the Runtime
    ctx = kit.context(DemandeDiverseV1(...), fournisseur="ELEC_AZUR")
    await kit.deliver(handlers.demande, ctx)            # retried on ConcurrencyConflict like the consumer does
    await kit.deliver(handlers.demande, kit.redelivery(ctx))   # the same message again: changes nothing
    assert kit.payloads(DemandeAccepteeV1) == [...]

What matches the real store: versions and optimistic concurrency (a commit on a stale load raises
ConcurrencyConflict), the applied-message records `Loaded.applied` reads (ids and delivery offsets, written by the
same `store.applied_marks`), `create` returning False when this message created the aggregate already (the same
`ports.create_by_commit`), events recorded in commit order with their topic, key and ids. What it leaves out: the
outbox and its relay (committed events count as published at once), partitions, the consumer's inbox.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from contracts.base import WireModel
from contracts.catalogue import spec_for, spec_for_model
from contracts.envelope import Envelope, new_envelope
from platform_kit.clock import FUSEAU
from platform_kit.messaging import MAX_CONFLICT_RETRIES, HandlerContext, Outgoing
from platform_kit.ports import Aggregates, create_by_commit
from platform_kit.store import RESERVED, ConcurrencyConflict, Delivery, Loaded, UnitOfWork, applied_marks

M = TypeVar("M", bound=WireModel)


@dataclass
class _Document:
    state: dict[str, Any]
    version: int
    inbox: list[str] = field(default_factory=list)
    offsets: dict[str, Any] = field(default_factory=dict)
    versioned: bool = True


class MemoryAggregates:
    """An aggregate store in a dict: `ports.Aggregates` for handlers, plus helpers to arrange and inspect a test."""

    def __init__(self, name: str = "aggregates") -> None:
        self.name = name
        self._docs: dict[str, _Document] = {}
        self._interleaved: dict[str, list[dict[str, Any]]] = {}

    async def load(self, aggregate_id: str, work: UnitOfWork | None = None) -> Loaded:
        """Read an aggregate (absent: version 0, empty state, exists False); the state is a copy, as from the store."""
        loaded = self._read(aggregate_id, work)
        pending = self._interleaved.get(aggregate_id)
        if pending:
            self.write_behind(aggregate_id, pending.pop(0))
        return loaded

    def interleave(self, aggregate_id: str, state: dict[str, Any]) -> None:
        """Right after the next load of this aggregate, another writer writes `state`: that load's commit conflicts."""
        self._interleaved.setdefault(aggregate_id, []).append(copy.deepcopy(state))

    def _read(self, aggregate_id: str, work: UnitOfWork | None) -> Loaded:
        doc = self._docs.get(aggregate_id)
        if doc is None:
            return Loaded(id=aggregate_id, state={}, version=0, work=work)
        return Loaded(
            id=aggregate_id,
            state=copy.deepcopy(doc.state),
            version=doc.version,
            inbox=list(doc.inbox),
            exists=True,
            versioned=doc.versioned,
            offsets=dict(doc.offsets),
            work=work,
        )

    def commit(self, loaded: Loaded, state: dict[str, Any], message_id: object) -> int:
        """Write the new state and the message's applied marks if the aggregate is as loaded, else ConcurrencyConflict."""
        current = self._docs.get(loaded.id)
        stale = current.version != loaded.version if current is not None and loaded.exists else current is not None or loaded.exists
        if stale:
            raise ConcurrencyConflict(loaded.id)
        inbox, offsets = applied_marks(loaded, str(message_id))
        clean = {k: copy.deepcopy(v) for k, v in state.items() if k not in RESERVED}
        self._docs[loaded.id] = _Document(clean, loaded.version + 1, inbox, offsets)
        return loaded.version + 1

    def seed(self, aggregate_id: str, state: dict[str, Any], *, versioned: bool = True) -> None:
        """Put an aggregate in place as a seed or an earlier history would (`versioned=False`: bulk-seeded, no version)."""
        self._docs[aggregate_id] = _Document(copy.deepcopy(state), 1 if versioned else 0, versioned=versioned)

    def write_behind(self, aggregate_id: str, state: dict[str, Any]) -> None:
        """Another writer changes the aggregate: whoever loaded it before gets ConcurrencyConflict at commit."""
        doc = self._docs.get(aggregate_id)
        if doc is None:
            self.seed(aggregate_id, state)
            return
        self._docs[aggregate_id] = _Document(copy.deepcopy(state), doc.version + 1, doc.inbox, doc.offsets)

    def state(self, aggregate_id: str) -> dict[str, Any] | None:
        """The stored state of an aggregate (a copy), None when absent."""
        doc = self._docs.get(aggregate_id)
        return copy.deepcopy(doc.state) if doc is not None else None

    def version(self, aggregate_id: str) -> int:
        """The stored version (0 when absent)."""
        doc = self._docs.get(aggregate_id)
        return doc.version if doc is not None else 0

    def ids(self) -> list[str]:
        """The ids of the stored aggregates, in insertion order."""
        return list(self._docs)


class MemoryKit:
    """`ports.HandlerPort` in memory: a settable clock, commits to MemoryAggregates, every event recorded in order."""

    def __init__(self, *, now: datetime | None = None, service: str = "test") -> None:
        self._now = now or datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
        self.service = service
        #: Every event committed or published, in order, as (topic, envelope).
        self.published: list[Outgoing] = []
        #: What each commit wrote, in order: (store name, aggregate id, message id).
        self.commits: list[tuple[str, str, str]] = []

    def now(self) -> datetime:
        """The fake clock's instant."""
        return self._now

    def today(self) -> date:
        """The fake clock's day in the GRD's time zone."""
        return self._now.astimezone(FUSEAU).date()

    def day_of(self, instant: datetime) -> date:
        """The GRD's local date of an instant."""
        return instant.astimezone(FUSEAU).date()

    def advance(self, duration: timedelta) -> None:
        """Move the fake clock forward."""
        self._now += duration

    async def commit(self, store: Aggregates, loaded: Loaded, state: dict[str, Any], ctx: HandlerContext, events: list[Outgoing]) -> None:
        """Write to the memory store (ConcurrencyConflict on a stale load) and record the events as published."""
        memory = _memory(store)
        memory.commit(loaded, state, ctx.envelope.message_id)
        self.commits.append((memory.name, loaded.id, str(ctx.envelope.message_id)))
        self.published.extend(events)

    async def create(self, store: Aggregates, aggregate_id: str, state: dict[str, Any], ctx: HandlerContext, events: list[Outgoing]) -> bool:
        """Insert without reading; False when this message created it already (as Runtime.create)."""
        return await create_by_commit(self.commit, store, aggregate_id, state, ctx, events)

    async def publish(self, topic: str, envelope: Envelope) -> None:
        """Record a direct publication."""
        self.published.append((topic, envelope))

    def context(
        self,
        payload: WireModel,
        *,
        key: str | None = None,
        fournisseur: str | None = None,
        message_id: uuid.UUID | None = None,
        correlation_id: uuid.UUID | None = None,
        consumer: str | None = None,
        delivery: Delivery | None = None,
    ) -> HandlerContext:
        """The HandlerContext a consumer would give a handler for this payload (received now by the fake clock).

        `key` defaults to the payload's `pds` (a qualified demand's `contexte.pds`); `delivery` (topic, partition,
        offset) lets a test exercise the offset records of `Loaded.applied`.
        """
        env = new_envelope(
            payload,
            key=key or _pds_of(payload),
            fournisseur=fournisseur,
            message_id=message_id,
            correlation_id=correlation_id,
            occurred_at=self._now,
        )
        return self.context_of(env, consumer=consumer, delivery=delivery)

    def context_of(self, envelope: Envelope, *, consumer: str | None = None, delivery: Delivery | None = None) -> HandlerContext:
        """The HandlerContext of an envelope as read from a topic."""
        if delivery is not None and delivery.message_id != str(envelope.message_id):
            raise ValueError("the delivery's message_id must be the envelope's")
        work = UnitOfWork(message_id=str(envelope.message_id), delivery=delivery)
        return HandlerContext(envelope, consumer or f"{self.service}.test", work=work, received_at=self._now)

    def redelivery(self, ctx: HandlerContext) -> HandlerContext:
        """The same record delivered again (after a crash before its offset was committed): a fresh context."""
        delivery = ctx.work.delivery
        return self.context_of(ctx.envelope, consumer=ctx.consumer, delivery=delivery)

    async def deliver(self, handler: Callable[[HandlerContext, Any], Awaitable[None]], ctx: HandlerContext, payload: WireModel | None = None) -> int:
        """Run a handler as the consumer does: on ConcurrencyConflict, again from a fresh load. Returns the conflicts seen.

        `payload` defaults to the envelope's, validated against the catalogue model of its type.
        """
        message = payload if payload is not None else _payload_of(ctx.envelope)
        conflicts = 0
        while True:
            ctx.work.leftovers.clear()
            try:
                await handler(ctx, message)
                return conflicts
            except ConcurrencyConflict:
                conflicts += 1
                if conflicts > MAX_CONFLICT_RETRIES:
                    raise
                await asyncio.sleep(0)

    def events(self, model: type[WireModel] | None = None, *, topic: str | None = None) -> list[Envelope]:
        """The envelopes published so far, in order (only those of `model` / on `topic` if given)."""
        kind = spec_for_model(model).type if model is not None else None
        return [env for t, env in self.published if (topic is None or t == topic) and (kind is None or env.type == kind)]

    def payloads(self, model: type[M]) -> list[M]:
        """The payloads of the published events of one model, in order, typed."""
        return [model.model_validate(env.payload) for env in self.events(model)]


def _pds_of(payload: WireModel) -> str:
    pds = getattr(payload, "pds", None) or getattr(getattr(payload, "contexte", None), "pds", None)
    return str(pds) if pds else "cle"


def _payload_of(envelope: Envelope) -> WireModel:
    spec = spec_for(envelope.type, envelope.version)
    if spec is None:
        raise ValueError(f"unknown message type {envelope.type} v{envelope.version}")
    return spec.model.model_validate(envelope.payload)


def _memory(store: Aggregates) -> MemoryAggregates:
    if not isinstance(store, MemoryAggregates):
        raise TypeError(f"MemoryKit commits to MemoryAggregates, not {type(store).__name__}")
    return store
