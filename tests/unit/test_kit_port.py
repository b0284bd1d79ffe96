"""A handler written against the narrow port runs on the in-memory fake with the store's semantics that matter."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from contracts.demandes import DemandeDiverseV1
from contracts.evenements import DemandeAccepteeV1
from contracts.topics import DEMANDES_RESULTATS
from platform_kit.messaging import HandlerContext
from platform_kit.ports import Aggregates, HandlerPort
from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore, ConcurrencyConflict, Delivery
from platform_kit.testing import MemoryAggregates, MemoryKit

PDS = "30001234567890EC1"


class Compteur:
    """A small service: counts the demandes diverses per PDS (load → commit), and keeps one receipt per demand (create)."""

    def __init__(self, kit: HandlerPort, pds: Aggregates, recus: Aggregates) -> None:
        self.kit = kit
        self.pds = pds
        self.recus = recus
        self.decisions = 0

    async def compter(self, ctx: HandlerContext, d: DemandeDiverseV1) -> None:
        """One more demand on the PDS, and an acceptance published."""
        loaded = await ctx.load(self.pds, d.pds)
        if loaded.applied(ctx.envelope.message_id):
            return
        self.decisions += 1
        state = {"n": int(loaded.state.get("n", 0)) + 1, "jour": self.kit.today().isoformat()}
        accepte = DemandeAccepteeV1(demande_message_id=ctx.envelope.message_id, demande_type="DemandeDiverse", pds=d.pds, message="Reçue.")
        await self.kit.commit(self.pds, loaded, state, ctx, [ctx.emit(accepte)])

    async def recevoir(self, ctx: HandlerContext, d: DemandeDiverseV1) -> None:
        """A receipt keyed by the demand, created without a read."""
        await self.kit.create(self.recus, str(ctx.envelope.message_id), {"pds": d.pds}, ctx, [])


def demande(pds: str = PDS) -> DemandeDiverseV1:
    return DemandeDiverseV1(pds=pds, sous_type="info", observations="Question.", date_souhaitee=date(2025, 1, 20))


@pytest.fixture
def kit() -> MemoryKit:
    return MemoryKit(now=datetime(2025, 1, 6, 23, 30, tzinfo=UTC))


def test_the_real_runtime_and_store_implement_the_ports() -> None:
    def as_port(rt: Runtime) -> HandlerPort:
        return rt  # checked by mypy --strict: the Runtime is a HandlerPort structurally

    def as_aggregates(store: AggregateStore) -> Aggregates:
        return store

    assert callable(as_port) and callable(as_aggregates)


async def test_a_handled_demand_is_committed_and_its_event_recorded_with_its_key(kit: MemoryKit) -> None:
    pds, recus = MemoryAggregates("pds"), MemoryAggregates("recus")
    ctx = kit.context(demande(), fournisseur="ELEC_AZUR")
    await kit.deliver(Compteur(kit, pds, recus).compter, ctx)
    assert pds.state(PDS) == {"n": 1, "jour": "2025-01-07"}  # 23:30 UTC is the next day in Paris
    assert pds.version(PDS) == 1
    [(topic, env)] = kit.published
    assert topic == DEMANDES_RESULTATS.name and env.key == PDS and env.fournisseur == "ELEC_AZUR"
    assert env.causation_id == ctx.envelope.message_id
    assert kit.payloads(DemandeAccepteeV1)[0].demande_message_id == ctx.envelope.message_id


async def test_a_redelivered_message_changes_nothing(kit: MemoryKit) -> None:
    pds = MemoryAggregates("pds")
    service = Compteur(kit, pds, MemoryAggregates("recus"))
    ctx = kit.context(demande())
    await kit.deliver(service.compter, ctx)
    await kit.deliver(service.compter, kit.redelivery(ctx))
    assert pds.state(PDS) == {"n": 1, "jour": "2025-01-07"} and pds.version(PDS) == 1
    assert len(kit.published) == 1 and service.decisions == 1


async def test_a_redelivered_record_is_recognised_by_its_offset_once_its_id_left_the_inbox(kit: MemoryKit) -> None:
    pds = MemoryAggregates("pds")
    service = Compteur(kit, pds, MemoryAggregates("recus"))
    first = kit.context(demande(), delivery=None)
    delivery = Delivery("svc.c", "grd.t", 0, 5, str(first.envelope.message_id))
    first = kit.context_of(first.envelope, delivery=delivery)
    await kit.deliver(service.compter, first)
    for _ in range(20):  # more messages than the inbox keeps ids of
        await kit.deliver(service.compter, kit.context(demande()))
    await kit.deliver(service.compter, kit.redelivery(first))
    assert pds.state(PDS) == {"n": 21, "jour": "2025-01-07"}


async def test_two_messages_on_one_pds_count_twice_in_order(kit: MemoryKit) -> None:
    pds = MemoryAggregates("pds")
    service = Compteur(kit, pds, MemoryAggregates("recus"))
    a, b = kit.context(demande()), kit.context(demande())
    await kit.deliver(service.compter, a)
    kit.advance(timedelta(days=1))
    await kit.deliver(service.compter, b)
    assert pds.state(PDS) == {"n": 2, "jour": "2025-01-08"}
    assert [e.causation_id for e in kit.events(DemandeAccepteeV1)] == [a.envelope.message_id, b.envelope.message_id]


async def test_create_twice_by_the_same_message_creates_one_and_reports_the_redelivery(kit: MemoryKit) -> None:
    recus = MemoryAggregates("recus")
    ctx = kit.context(demande())
    assert await kit.create(recus, "r1", {"x": 1}, ctx, []) is True
    assert await kit.create(recus, "r1", {"x": 2}, kit.redelivery(ctx), []) is False
    assert recus.ids() == ["r1"] and recus.state("r1") == {"x": 1}


async def test_create_over_another_message_s_aggregate_is_a_conflict(kit: MemoryKit) -> None:
    recus = MemoryAggregates("recus")
    await kit.create(recus, "r1", {"x": 1}, kit.context(demande()), [])
    with pytest.raises(ConcurrencyConflict):
        await kit.create(recus, "r1", {"x": 2}, kit.context(demande()), [])


async def test_a_concurrent_write_makes_the_commit_conflict_and_the_handler_decides_again_on_the_new_state(kit: MemoryKit) -> None:
    pds = MemoryAggregates("pds")
    pds.seed(PDS, {"n": 10, "jour": "2025-01-01"})
    pds.interleave(PDS, {"n": 40, "jour": "2025-01-01"})  # another instance writes between our read and our write
    service = Compteur(kit, pds, MemoryAggregates("recus"))
    conflicts = await kit.deliver(service.compter, kit.context(demande()))
    assert conflicts == 1 and service.decisions == 2
    assert pds.state(PDS) == {"n": 41, "jour": "2025-01-07"} and pds.version(PDS) == 3
    assert len(kit.published) == 1  # the conflicting attempt published nothing


async def test_a_commit_on_a_stale_load_raises_conflict(kit: MemoryKit) -> None:
    pds = MemoryAggregates("pds")
    ctx = kit.context(demande())
    stale = await ctx.load(pds, PDS)
    await kit.commit(pds, await ctx.load(pds, PDS), {"n": 1}, kit.context(demande()), [])
    with pytest.raises(ConcurrencyConflict):
        await kit.commit(pds, stale, {"n": 1}, ctx, [])


async def test_a_bulk_seeded_document_without_version_is_updated_in_place(kit: MemoryKit) -> None:
    pds = MemoryAggregates("pds")
    pds.seed(PDS, {"n": 3}, versioned=False)
    await kit.deliver(Compteur(kit, pds, MemoryAggregates("recus")).compter, kit.context(demande()))
    assert pds.state(PDS) == {"n": 4, "jour": "2025-01-07"} and pds.version(PDS) == 1


async def test_the_fake_commits_to_memory_stores_only(kit: MemoryKit) -> None:
    class Other:
        name = "autre"

        async def load(self, aggregate_id: str, work: Any = None) -> Any:
            raise AssertionError

    ctx = kit.context(demande())
    with pytest.raises(TypeError):
        await kit.commit(Other(), await MemoryAggregates().load("x"), {}, ctx, [])


def test_a_context_carries_the_payload_key_supplier_and_the_fake_clock(kit: MemoryKit) -> None:
    mid = uuid.uuid4()
    ctx = kit.context(demande(), fournisseur="ELEC_AZUR", message_id=mid)
    assert ctx.envelope.key == PDS and ctx.envelope.fournisseur == "ELEC_AZUR" and ctx.envelope.message_id == mid
    assert ctx.received_at == kit.now() and ctx.work.message_id == str(mid)
    with pytest.raises(ValueError):
        kit.context_of(ctx.envelope, delivery=Delivery("g", "t", 0, 1, str(uuid.uuid4())))



def test_a_cluster_bootstrap_list_reaches_the_broker_as_one_host_each(monkeypatch: pytest.MonkeyPatch) -> None:
    from platform_kit.kafka_client import bootstrap_list
    from platform_kit.runtime import Runtime
    from platform_kit.settings import KitSettings

    assert bootstrap_list(" a:1, b:2,,c:3 ") == ["a:1", "b:2", "c:3"]
    with pytest.raises(ValueError, match="vide"):
        bootstrap_list(" , ")
    # faststream takes a string for one host: the 3-node cluster's list must reach aiokafka as three.
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3")
    monkeypatch.setenv("GRD_DEMO_MODE", "1")
    rt = Runtime(KitSettings(service_name="t"))
    connection: dict[str, object] = vars(rt.broker)["_connection_kwargs"]
    assert connection["bootstrap_servers"] == ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]


async def test_the_failure_hook_refuses_a_given_up_demand_once_on_the_port(kit: MemoryKit) -> None:
    from contracts.evenements import DemandeRefuseeV1
    from contracts.refus import REFUS_ERREUR_TECHNIQUE, Etape
    from platform_kit.outcomes import failure_hook_for_qualified
    from tests.builders import contexte_pds, qualifiee

    echecs = MemoryAggregates("echecs")
    hook = failure_hook_for_qualified(kit, echecs, Etape.CONTRATS)
    q = qualifiee(demande(), contexte_pds(PDS))
    ctx = kit.context(q, key=PDS, fournisseur="LUMEN")
    await hook(ctx, "RuntimeError('boom')")
    await hook(kit.context_of(ctx.envelope), "RuntimeError('boom')")  # the same demand given up again (redelivered)

    refus = kit.payloads(DemandeRefuseeV1)
    assert [(r.demande_message_id, r.code, r.message, r.etape) for r in refus] == [
        (q.demande_message_id, REFUS_ERREUR_TECHNIQUE.code, REFUS_ERREUR_TECHNIQUE.message, Etape.CONTRATS)
    ]
    assert echecs.ids() == [str(q.demande_message_id)]
    assert (echecs.state(str(q.demande_message_id)) or {})["erreur"] == "RuntimeError('boom')"
    illisible = ctx.envelope.model_copy(update={"message_id": uuid.uuid4(), "payload": {"pas": "une demande"}})
    await hook(kit.context_of(illisible), "x")  # unreadable: the référentiel answered it already, nothing owed here
    assert len(kit.payloads(DemandeRefuseeV1)) == 1


def test_the_day_of_an_instant_is_the_grds_local_date(kit: MemoryKit) -> None:
    # 23:30 UTC on 6 January is already 7 January in Paris: the day a demand received then is decided on.
    assert kit.day_of(kit.now()) == date(2025, 1, 7) == kit.today()
    assert kit.day_of(datetime(2025, 7, 1, 21, 59, tzinfo=UTC)) == date(2025, 7, 1)
    assert kit.day_of(datetime(2025, 7, 1, 22, 0, tzinfo=UTC)) == date(2025, 7, 2)


def test_the_audit_journal_implements_the_journal_port() -> None:
    from platform_kit.audit import AuditJournal
    from platform_kit.ports import Journal

    def as_port(journal: AuditJournal) -> Journal:
        return journal  # checked by mypy --strict: the real journal is the port handlers depend on

    assert as_port.__annotations__["return"] == "Journal"
