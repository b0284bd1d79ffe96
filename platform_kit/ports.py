"""The narrow ports a handler depends on: read an aggregate, commit it with its events, create one, publish, tell the time.

The real `Runtime` and `AggregateStore` implement them structurally (nothing to inherit); `platform_kit.testing` has
the in-memory implementation, so a handler written against these ports is unit-tested without Kafka or MongoDB:

    class Handlers:
        def __init__(self, kit: HandlerPort, pds: Aggregates) -> None: ...

        async def demande(self, ctx: HandlerContext, q: DemandeQualifieeV1) -> None:
            loaded = await ctx.load(self.pds, q.contexte.pds)
            ...
            await self.kit.commit(self.pds, loaded, state, ctx, [ctx.emit(evt)])

Semantics both implementations honour: an absent aggregate loads with version 0, empty state and `exists=False`;
`commit` writes state, the message's applied mark and the events at once, or raises ConcurrencyConflict when the
aggregate changed since it was loaded (the consumer runs the handler again); `Loaded.applied(message_id)` is True
once a message was committed on the aggregate (a redelivery changes nothing); `create` inserts without reading and
returns False when this very message created the aggregate already.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from contracts.envelope import Envelope
from platform_kit.store import ConcurrencyConflict, Loaded, UnitOfWork

if TYPE_CHECKING:
    from platform_kit.messaging import HandlerContext, Outgoing


class Aggregates(Protocol):
    """One collection of aggregates as a handler sees it (AggregateStore; testing.MemoryAggregates)."""

    name: str

    async def load(self, aggregate_id: str, work: UnitOfWork | None = None) -> Loaded:
        """Read an aggregate (absent: version 0, empty state) within a unit of work (use `ctx.load(store, id)`)."""
        ...


class ClockPort(Protocol):
    """The platform clock: the one source of now and today for decisions (moved in demo/test mode)."""

    def now(self) -> datetime:
        """The current instant (UTC, aware)."""
        ...

    def today(self) -> date:
        """Today in the GRD's time zone (dates d'effet are local dates)."""
        ...

    def day_of(self, instant: datetime) -> date:
        """The GRD's local date of an instant (e.g. the day a demand was received: `ctx.received_at`)."""
        ...


class HandlerPort(ClockPort, Protocol):
    """What a handler needs of the runtime: the clock, commit, create and a direct publish (Runtime; testing.MemoryKit)."""

    async def commit(self, store: Aggregates, loaded: Loaded, state: dict[str, Any], ctx: HandlerContext, events: list[Outgoing]) -> None:
        """Write state + the message's applied mark + events atomically (ConcurrencyConflict if it changed), then publish."""
        ...

    async def create(self, store: Aggregates, aggregate_id: str, state: dict[str, Any], ctx: HandlerContext, events: list[Outgoing]) -> bool:
        """Insert a new aggregate without reading it; False when this message created it already (a redelivery)."""
        ...

    async def publish(self, topic: str, envelope: Envelope) -> None:
        """Publish one envelope with no store write (e.g. the refusal of an unreadable message)."""
        ...


Commit = Callable[["Aggregates", Loaded, dict[str, Any], "HandlerContext", "list[Outgoing]"], Awaitable[None]]


async def create_by_commit(
    commit: Commit, store: Aggregates, aggregate_id: str, state: dict[str, Any], ctx: HandlerContext, events: list[Outgoing]
) -> bool:
    """`create` in terms of `commit` (shared by the runtime and the fake, so both answer a redelivery the same way).

    A conflict means the aggregate exists: False when this message created it, else the conflict stands (the
    handler runs again and should load it).
    """
    try:
        await commit(store, Loaded(id=aggregate_id, state={}, version=0, work=ctx.work), state, ctx, events)
        return True
    except ConcurrencyConflict:
        if (await store.load(aggregate_id, ctx.work)).applied(ctx.envelope.message_id):
            return False
        raise


class Journal(Protocol):
    """The audit journal as a handler sees it: where an access check is traced (platform_kit.audit.AuditJournal)."""

    async def record(
        self,
        *,
        acteur: str | None,
        role: str | None,
        action: str,
        resultat: str,
        pds: str | None = None,
        niveau_detenu: str | None = None,
        adresse_client: str | None = None,
        detail: Any = None,
        cle: str | None = None,
    ) -> int:
        """Append one audit entry (`cle`: written once whatever the redeliveries)."""
        ...
