"""Delivery guarantees under concurrency and hostile input (issue #11), against the real Kafka and FerretDB.

Each test reproduces a way the kit used to lose or block work: concurrent writers of one aggregate, an oversized or
unreadable message, a lane whose handler never succeeds, a double publication from the outbox, offsets remembered
across a recreated topic, and a message given up without the outcome its sender is owed.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.demandes import DemandeDiverseV1
from contracts.envelope import Envelope, new_envelope
from contracts.evenements import DemandeAccepteeV1, DemandeRefuseeV1
from contracts.topics import DEMANDES_RESULTATS, DLQ, Topic
from platform_kit.kafka_client import kafka_options
from platform_kit.messaging import HandlerContext, salvage_envelope
from platform_kit.runtime import Runtime
from platform_kit.settings import KitSettings
from platform_kit.store import ConcurrencyConflict
from tests.integration.test_kit import pds_on_partitions
from tests.support import Bus, bootstrap, mongodb_url, read_topic, unique_db, wait_for_messages

pytestmark = pytest.mark.integration


def pds_ref() -> str:
    """A fresh PDS-like reference."""
    return f"9{uuid.uuid4().int % 10**13:013d}EC1"


def demande(pds: str, sous_type: str = "info") -> DemandeDiverseV1:
    """A small demand whose sous_type drives the test handler."""
    return DemandeDiverseV1(pds=pds, sous_type=sous_type, observations="test", date_souhaitee=date(2030, 1, 1))


async def create_topics(*topics: Topic) -> None:
    """Create private test topics."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap(), **kafka_options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t.name, t.partitions, 1) for t in topics])
    finally:
        await admin.close()


async def until(predicate: Any, timeout: float = 30) -> None:
    """Wait until a synchronous predicate holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


class Rig:
    """A runtime with two consumer groups (on two topics) writing the same counters, and a failure hook."""

    def __init__(self, **settings: Any) -> None:
        self.topic_a = Topic(f"grd.test.garanties.a.{uuid.uuid4().hex[:8]}", 3, "test")
        self.topic_b = Topic(f"grd.test.garanties.b.{uuid.uuid4().hex[:8]}", 3, "test")
        self.rt = Runtime(
            KitSettings(
                KAFKA_BOOTSTRAP_SERVERS=bootstrap(),
                MONGODB_URL=mongodb_url(),
                service_name=f"garanties-{uuid.uuid4().hex[:6]}",
                database=unique_db("grd_garanties"),
                **{"max_attempts": 2, "backoff_initial_s": 0.02, "consumer_offset_reset": "latest", **settings},
            )
        )
        self.store = self.rt.aggregates("compteurs", swept=False)
        self.outcomes = self.rt.aggregates("issues", swept=False)
        self.effects: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.failures: list[str] = []
        for name, topic in (("a", self.topic_a), ("b", self.topic_b)):
            consumer = self.rt.consumer(name, topic, on_invalid=self.refuse_invalid, inbox=False, on_failure=self.give_up)
            consumer.handles(DemandeDiverseV1)(self.handle)

    async def start(self) -> None:
        """Create the topics, start the runtime, wait for the assignment."""
        await create_topics(self.topic_a, self.topic_b)
        await self.rt.start()
        await self.rt.wait_ready()

    async def refuse_invalid(self, env: Envelope, detail: str) -> list[tuple[str, Envelope]]:
        """What the référentiel does for a demand it cannot read: a refusal built from the salvaged fields."""
        ctx = HandlerContext(env, "garanties")
        refus = DemandeRefuseeV1(
            demande_message_id=env.message_id, demande_type=env.type, code="MESSAGE_INVALIDE", message=detail[:200], etape="test"
        )
        return [ctx.emit(refus)]

    async def give_up(self, ctx: HandlerContext, error: str) -> None:
        """The outcome owed to a demand given up for good, recorded once per demand."""
        self.failures.append(str(ctx.envelope.message_id))
        refus = DemandeRefuseeV1(
            demande_message_id=ctx.envelope.message_id, demande_type=ctx.envelope.type, code="ERREUR_TECHNIQUE", message="erreur", etape="test"
        )
        await self.rt.create(self.outcomes, str(ctx.envelope.message_id), {"code": "ERREUR_TECHNIQUE"}, ctx, [ctx.emit(refus)])

    async def handle(self, ctx: HandlerContext, p: DemandeDiverseV1) -> None:
        """Count the message on its PDS's counter; some sous_types misbehave on purpose."""
        if p.sous_type in self.gates:
            await self.gates[p.sous_type].wait()
        if p.sous_type == "conflit_sans_fin":
            raise ConcurrencyConflict(p.pds)
        if p.sous_type == "panne":
            raise RuntimeError("panne simulée")
        loaded = await ctx.load(self.store, p.pds)
        if loaded.applied(ctx.envelope.message_id):
            return
        events = [ctx.emit(DemandeAccepteeV1(demande_message_id=ctx.envelope.message_id, demande_type="DemandeDiverse", pds=p.pds, message="ok"))]
        if p.sous_type == "enorme":
            # An event Kafka will never carry (over max.message.bytes): it must not halt the lane.
            events.append(
                ctx.emit(DemandeAccepteeV1(demande_message_id=uuid.uuid4(), demande_type="DemandeDiverse", pds=p.pds, message="x" * 6_000_000))
            )
        ids = [*loaded.state.get("ids", []), str(ctx.envelope.message_id)]
        await self.rt.commit(self.store, loaded, {"n": loaded.state.get("n", 0) + 1, "ids": ids}, ctx, events)
        self.effects.append(str(ctx.envelope.message_id))


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    r = Rig()
    await r.start()
    yield r
    await r.rt.stop()


async def test_two_consumer_groups_hitting_one_aggregate_at_once_lose_no_update(rig: Rig, bus: Bus) -> None:
    """Both groups increment the same counter concurrently: every acknowledged commit is in the final state."""
    pds = pds_ref()
    envs_a = [new_envelope(demande(pds, f"a{i}"), key=pds, fournisseur="LUMEN") for i in range(25)]
    envs_b = [new_envelope(demande(pds, f"b{i}"), key=pds, fournisseur="LUMEN") for i in range(25)]
    for ea, eb in zip(envs_a, envs_b, strict=True):
        await asyncio.gather(bus.send_envelope(ea, rig.topic_a.name), bus.send_envelope(eb, rig.topic_b.name))
    await until(lambda: len(rig.effects) >= 50, timeout=60)
    state = (await rig.store.load(pds)).state
    assert state["n"] == 50
    assert sorted(state["ids"]) == sorted(str(e.message_id) for e in envs_a + envs_b)


async def test_an_oversized_unreadable_demand_is_refused_and_the_next_one_flows(rig: Rig, bus: Bus) -> None:
    """A 600 kB envelope key: refused with a small refusal and dead-lettered; the valid demand behind it is handled."""
    pds = pds_ref()
    bad = new_envelope(demande(pds), key=pds, fournisseur="LUMEN")
    raw = bad.model_dump(mode="json")
    raw["key"] = "K" * 600_000
    await bus.send_raw(rig.topic_a.name, Envelope.model_construct(**raw).model_dump_json().encode(), pds.encode())
    good = new_envelope(demande(pds), key=pds, fournisseur="LUMEN")
    await bus.send_envelope(good, rig.topic_a.name)
    await until(lambda: str(good.message_id) in rig.effects)
    refusals = await wait_for_messages(DEMANDES_RESULTATS.name, lambda d: d["payload"].get("demande_message_id") == str(bad.message_id))
    assert len(refusals) == 1 and refusals[0]["payload"]["code"] == "MESSAGE_INVALIDE"
    assert len(refusals[0]["key"]) <= 64
    dead = [h for d, h, _v in await read_topic(DLQ.name) if d and d.get("message_id") == str(bad.message_id)]
    assert len(dead) == 1 and "illisible" in dead[0]["x-error"]


def test_a_salvaged_envelope_keeps_only_bounded_fields() -> None:
    body = b'{"message_id": "%s", "type": "DemandeDiverse", "key": "%s", "fournisseur": "%s", "payload": {"pds": "12345678901234"}}' % (
        str(uuid.uuid4()).encode(),
        b"K" * 1000,
        b"F" * 1000,
    )
    env = salvage_envelope(body)
    assert env is not None and env.key == "12345678901234" and env.fournisseur is None
    assert salvage_envelope(b"[1, 2]") is None and salvage_envelope(b'{"message_id": "x", "type": "T"}') is None


async def test_an_event_kafka_refuses_for_good_is_dead_lettered_and_the_lane_moves_on(rig: Rig, bus: Bus) -> None:
    pds = pds_ref()
    huge = new_envelope(demande(pds, "enorme"), key=pds, fournisseur="LUMEN")
    after = new_envelope(demande(pds), key=pds, fournisseur="LUMEN")
    await bus.send_envelope(huge, rig.topic_a.name)
    await bus.send_envelope(after, rig.topic_a.name)
    await until(lambda: str(after.message_id) in rig.effects, timeout=60)
    assert await wait_for_messages(DEMANDES_RESULTATS.name, lambda d: d["payload"].get("demande_message_id") == str(huge.message_id))
    dead = [h for _d, h, _v in await read_topic(DLQ.name) if h.get("x-origin", "").startswith(f"outbox:{rig.store.name}/{pds}")]
    assert len(dead) == 1 and "publication impossible" in dead[0]["x-error"]
    assert not (await rig.store.load(pds)).outbox


async def test_a_lane_whose_handler_never_succeeds_gives_up_with_an_outcome_and_goes_on(rig: Rig, bus: Bus) -> None:
    """Endless concurrency conflicts used to kill the lane silently: now the record is given up and the next flows."""
    pds = pds_ref()
    stuck = new_envelope(demande(pds, "conflit_sans_fin"), key=pds, fournisseur="LUMEN")
    after = new_envelope(demande(pds), key=pds, fournisseur="LUMEN")
    await bus.send_envelope(stuck, rig.topic_a.name)
    await bus.send_envelope(after, rig.topic_a.name)
    await until(lambda: str(after.message_id) in rig.effects, timeout=90)
    outcome = await wait_for_messages(DEMANDES_RESULTATS.name, lambda d: d["payload"].get("demande_message_id") == str(stuck.message_id))
    assert len(outcome) == 1 and outcome[0]["payload"]["code"] == "ERREUR_TECHNIQUE"
    assert [h for d, h, _v in await read_topic(DLQ.name) if d and d.get("message_id") == str(stuck.message_id)]


async def test_a_message_given_up_twice_still_has_one_outcome(rig: Rig, bus: Bus) -> None:
    """A failing demand redelivered (or redriven) and given up again: its ERREUR_TECHNIQUE is recorded once."""
    pds = pds_ref()
    env = new_envelope(demande(pds, "panne"), key=pds, fournisseur="LUMEN")
    await bus.send_envelope(env, rig.topic_a.name)
    await until(lambda: rig.failures.count(str(env.message_id)) == 1, timeout=60)
    await bus.send_envelope(env, rig.topic_a.name)
    await until(lambda: rig.failures.count(str(env.message_id)) == 2, timeout=60)
    marker = new_envelope(demande(pds), key=pds, fournisseur="LUMEN")
    await bus.send_envelope(marker, rig.topic_a.name)
    await until(lambda: str(marker.message_id) in rig.effects)
    outcomes = await wait_for_messages(DEMANDES_RESULTATS.name, lambda d: d["payload"].get("demande_message_id") == str(env.message_id))
    assert len(outcomes) == 1


async def test_health_is_503_while_a_lane_holds_records_without_progress(bus: Bus) -> None:
    rig = Rig(lane_stall_s=0.5)
    await rig.start()
    try:
        pds = pds_ref()
        rig.gates["lent"] = asyncio.Event()
        await bus.send_envelope(new_envelope(demande(pds, "lent"), key=pds, fournisseur="LUMEN"), rig.topic_a.name)
        await asyncio.sleep(1.5)
        assert (await rig.rt.health())["lanes"] is False
        rig.gates["lent"].set()
        await until(lambda: len(rig.effects) == 1)
        assert (await rig.rt.health())["lanes"] is True
    finally:
        await rig.rt.stop()


async def test_a_later_commit_never_overtakes_an_earlier_one_still_in_flight(rig: Rig, bus: Bus) -> None:
    """Group a's commit is in flight (committed, not yet published: its publisher is retrying, slow, on another
    instance or dead) when group b commits on the same aggregate: b publishes a's event first, then its own, so the
    topic never shows the aggregate's events out of order (the fault run on the 3-node cluster caught an affaire whose
    « intervention réalisée » came after its « terminée »). a's publisher may add a copy later: same message id."""
    pds = pds_ref()
    first = new_envelope(demande(pds), key=pds, fournisseur="LUMEN")
    ctx = HandlerContext(first, rig.rt.consumers[0].group_id)
    event = ctx.emit(DemandeAccepteeV1(demande_message_id=first.message_id, demande_type="DemandeDiverse", pds=pds, message="ok"))
    version, entries = await rig.store.commit(await ctx.load(rig.store, pds), {"n": 1, "ids": [str(first.message_id)]}, first.message_id, [event])
    second = new_envelope(demande(pds), key=pds, fournisseur="LUMEN")
    await bus.send_envelope(second, rig.topic_b.name)
    await until(lambda: str(second.message_id) in rig.effects)
    await wait_for_messages(DEMANDES_RESULTATS.name, lambda d: d["payload"].get("demande_message_id") == str(second.message_id))
    await rig.rt.relay.publish_committed(rig.store, pds, version, entries, others_pending=True)  # a's fast path ends, late
    await asyncio.sleep(1)
    records = [d for d, _h, _v in await read_topic(DEMANDES_RESULTATS.name) if d and d.get("key") == pds]
    ids = [d["message_id"] for d in records]
    firsts = list(dict.fromkeys(ids))  # first copies, in topic order
    theirs = str(event[1].message_id)
    ours = next(d["message_id"] for d in records if d["payload"].get("demande_message_id") == str(second.message_id))
    assert firsts.index(theirs) < firsts.index(ours)
    assert len(firsts) == 2 and ids.count(ours) == 1 and ids.count(theirs) <= 2
    assert (await rig.store.outbox_of(pds) or {}).get("_outbox") == {}


async def test_offsets_remembered_by_an_aggregate_do_not_swallow_a_recreated_topics_records(bus: Bus) -> None:
    """Offsets start again at zero in a recreated topic: its new records are applied, not taken for redeliveries."""
    rig = Rig()
    await rig.start()
    pds = pds_ref()
    try:
        for i in range(5):
            await bus.send_envelope(new_envelope(demande(pds, f"n{i}"), key=pds, fournisseur="LUMEN"), rig.topic_a.name)
        await until(lambda: len(rig.effects) == 5)
    finally:
        await rig.rt.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap(), **kafka_options())
    await admin.start()
    try:
        await admin.delete_topics([rig.topic_a.name])
        for _ in range(100):
            if rig.topic_a.name not in await admin.list_topics():
                break
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    successor = Rig()
    successor.topic_a, successor.topic_b = rig.topic_a, Topic(f"grd.test.garanties.b.{uuid.uuid4().hex[:8]}", 3, "test")
    successor.rt = rig.rt.__class__(rig.rt.settings)
    successor.store = successor.rt.aggregates("compteurs", swept=False)
    successor.outcomes = successor.rt.aggregates("issues", swept=False)
    for name, topic in (("a", successor.topic_a), ("b", successor.topic_b)):
        successor.rt.consumer(name, topic, inbox=False).handles(DemandeDiverseV1)(successor.handle)
    for _ in range(50):
        try:
            await create_topics(successor.topic_a, successor.topic_b)
            break
        except Exception:  # the deletion may still be in progress
            await asyncio.sleep(0.2)
    await successor.rt.start()
    await successor.rt.wait_ready()
    try:
        fresh = new_envelope(demande(pds, "apres"), key=pds, fournisseur="LUMEN")
        await bus.send_envelope(fresh, successor.topic_a.name)
        await until(lambda: str(fresh.message_id) in successor.effects)
        assert (await successor.store.load(pds)).state["n"] == 6
    finally:
        await successor.rt.stop()


async def test_partitions_moving_between_two_instances_never_run_one_record_twice_at_once(bus: Bus) -> None:
    """Two instances of one service (same group): while the first holds a record, the second joins and partitions
    move. The first finishes the record in hand before giving its partition up; the second starts after it, and every
    record has exactly one effect, in order per PDS."""
    first = Rig()
    await first.start()
    second = Rig()
    second.rt = Runtime(first.rt.settings)
    second.store = second.rt.aggregates("compteurs", swept=False)
    second.outcomes = second.rt.aggregates("issues", swept=False)
    second.topic_a, second.topic_b = first.topic_a, first.topic_b
    for name, topic in (("a", first.topic_a), ("b", first.topic_b)):
        second.rt.consumer(name, topic, inbox=False, on_failure=second.give_up).handles(DemandeDiverseV1)(second.handle)
    in_hand: set[str] = set()
    overlaps: list[str] = []

    def guard(rig: Rig) -> None:
        original = rig.handle

        async def handle(ctx: HandlerContext, p: DemandeDiverseV1) -> None:
            mid = str(ctx.envelope.message_id)
            if mid in in_hand:
                overlaps.append(mid)
            in_hand.add(mid)
            try:
                await original(ctx, p)
            finally:
                in_hand.discard(mid)

        for consumer in rig.rt.consumers:
            consumer.handlers[DemandeDiverseV1] = handle

    guard(first)
    guard(second)
    pds_list = [pds_ref(), *pds_on_partitions(), *pds_on_partitions()]  # every partition has work: both members get some
    try:
        first.gates["lent"] = second.gates["lent"] = asyncio.Event()
        revoked = asyncio.Event()
        consumer_a = first.rt.consumers[0]
        revoke = consumer_a.revoke

        async def spy(partitions: set[Any]) -> None:
            revoked.set()
            await revoke(partitions)

        consumer_a.revoke = spy  # type: ignore[method-assign]
        slow = new_envelope(demande(pds_list[0], "lent"), key=pds_list[0], fournisseur="LUMEN")
        await bus.send_envelope(slow, first.topic_a.name)
        await until(lambda: str(slow.message_id) in in_hand)
        await second.rt.start()
        await asyncio.wait_for(revoked.wait(), 60)  # the second member is joining while the first holds its record
        await asyncio.sleep(1)
        assert str(slow.message_id) in in_hand  # the revocation waits for the record in hand
        first.gates["lent"].set()
        await second.rt.wait_ready()
        envs = [new_envelope(demande(p, f"n{i}"), key=p, fournisseur="LUMEN") for i in range(5) for p in pds_list]
        for env in envs:
            await bus.send_envelope(env, first.topic_a.name)
        await until(lambda: len(set(first.effects) | set(second.effects)) == len(envs) + 1, timeout=90)
        assert overlaps == []
        assert first.effects and second.effects  # the partitions were indeed shared
        assert sorted(first.effects + second.effects) == sorted({*first.effects, *second.effects})  # no effect twice
        for p in pds_list[1:]:
            state = (await first.store.load(p)).state
            assert state["n"] == 5 and state["ids"] == [str(e.message_id) for e in envs if e.key == p]  # per-PDS order
    finally:
        await second.rt.stop()
        await first.rt.stop()
