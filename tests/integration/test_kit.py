"""The shared runtime against the real Kafka and FerretDB: dedup, dead letters, outbox relay, health."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.demandes import DemandeDiverseV1
from contracts.envelope import Envelope, new_envelope
from contracts.evenements import DemandeAccepteeV1, DemandeRefuseeV1
from contracts.topics import DEMANDES_RESULTATS, DLQ, Topic
from platform_kit.kafka_client import kafka_options
from platform_kit.messaging import HandlerContext
from platform_kit.runtime import Runtime
from platform_kit.settings import KitSettings
from tests.support import Bus, bootstrap, mongodb_url, read_topic, unique_db, wait_for_messages

pytestmark = pytest.mark.integration


class Harness:
    """A throw-away runtime with one consumer on a private topic, whose handler counts effects per PDS."""

    def __init__(self, topic: Topic | None = None, service_name: str = "", database: str = "", inbox: bool = True, **settings: Any) -> None:
        self.topic = topic or Topic(f"grd.test.kit.{uuid.uuid4().hex[:8]}", 3, "test")
        self.rt = Runtime(
            KitSettings(
                KAFKA_BOOTSTRAP_SERVERS=bootstrap(),
                MONGODB_URL=mongodb_url(),
                service_name=service_name or f"kit-test-{uuid.uuid4().hex[:6]}",
                database=database or unique_db("grd_kit"),
                **{
                    "max_attempts": 3,
                    "backoff_initial_s": 0.05,
                    "consumer_offset_reset": "latest",
                    "outbox_full_sweep_interval_s": 1,
                    "outbox_first_sweep_delay_s": 0,
                    "outbox_sweep_min_age_s": 0,
                    **settings,
                },
            )
        )
        self.store = self.rt.aggregates("compteurs")
        self.effects: list[str] = []
        self.always_fail_on: set[str] = set()
        # Handling of a message whose sous_type is here waits until the event is set.
        self.gates: dict[str, asyncio.Event] = {}
        consumer = self.rt.consumer("c", self.topic, on_invalid=self.refuse_invalid, inbox=inbox)
        consumer.handles(DemandeDiverseV1, when=lambda p: p["sous_type"] != "hors_perimetre")(self.handle)

    async def start_on_new_topic(self) -> None:
        """Create the private topic, start the runtime and wait until its consumer is assigned."""
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap(), **kafka_options())
        await admin.start()
        await admin.create_topics([NewTopic(self.topic.name, 3, 1)])
        await admin.close()
        await self.rt.start()
        await self.rt.wait_ready()

    async def refuse_invalid(self, env: Envelope, detail: str) -> list[tuple[str, Envelope]]:
        ctx = HandlerContext(env, "kit")
        refus = DemandeRefuseeV1(demande_message_id=env.message_id, demande_type=env.type, code="MESSAGE_INVALIDE", message=detail, etape="test")
        return [ctx.emit(refus)]

    async def handle(self, ctx: HandlerContext, p: DemandeDiverseV1) -> None:
        if p.sous_type in self.always_fail_on:
            raise RuntimeError("panne simulée du handler")
        if p.sous_type in self.gates:
            await self.gates[p.sous_type].wait()
        loaded = await ctx.load(self.store, p.pds)
        if loaded.applied(ctx.envelope.message_id):
            return
        self.effects.append(str(ctx.envelope.message_id))
        accepted = DemandeAccepteeV1(demande_message_id=ctx.envelope.message_id, demande_type="DemandeDiverse", pds=p.pds, message="ok")
        await self.rt.commit(self.store, loaded, {"n": loaded.state.get("n", 0) + 1}, ctx, [ctx.emit(accepted)])


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = Harness()
    await h.start_on_new_topic()
    yield h
    await h.rt.stop()


def demande(pds: str, sous_type: str = "info") -> DemandeDiverseV1:
    return DemandeDiverseV1(pds=pds, sous_type=sous_type, observations="test", date_souhaitee=date(2030, 1, 1))


async def until(predicate: object, timeout: float = 30) -> None:
    assert callable(predicate)
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_same_message_delivered_twice_has_one_effect_and_one_event(harness: Harness, bus: Bus) -> None:
    pds = f"9{uuid.uuid4().int % 10**13:013d}EC1"
    env = new_envelope(demande(pds), key=pds, fournisseur="LUMEN")
    await bus.send_envelope(env, harness.topic.name)
    await bus.send_envelope(env, harness.topic.name)
    marker = new_envelope(demande(pds, "marqueur"), key=pds, fournisseur="LUMEN")
    await bus.send_envelope(marker, harness.topic.name)
    await until(lambda: str(marker.message_id) in harness.effects)
    assert harness.effects.count(str(env.message_id)) == 1
    loaded = await harness.store.load(pds)
    assert loaded.state["n"] == 2
    events = await wait_for_messages(DEMANDES_RESULTATS.name, lambda d: d["payload"].get("demande_message_id") == str(env.message_id))
    assert len(events) == 1


async def test_malformed_message_is_dead_lettered_and_the_next_one_is_handled(harness: Harness, bus: Bus) -> None:
    pds = f"9{uuid.uuid4().int % 10**13:013d}EC1"
    garbage = f"{{pas du json {uuid.uuid4()}".encode()
    await bus.send_raw(harness.topic.name, garbage, pds.encode())
    good = new_envelope(demande(pds), key=pds, fournisseur="LUMEN")
    await bus.send_envelope(good, harness.topic.name)
    await until(lambda: str(good.message_id) in harness.effects)
    dead = [(h, v) for _d, h, v in await read_topic(DLQ.name) if v == garbage]
    assert len(dead) == 1
    headers = dead[0][0]
    assert headers["x-origin"].startswith(harness.topic.name + "/")
    assert headers["x-attempts"] == "1"
    assert "illisible" in headers["x-error"]


async def test_handler_that_always_fails_is_dead_lettered_after_bounded_attempts(harness: Harness, bus: Bus) -> None:
    pds = f"9{uuid.uuid4().int % 10**13:013d}EC1"
    harness.always_fail_on.add("poison")
    poison = new_envelope(demande(pds, "poison"), key=pds, fournisseur="LUMEN")
    await bus.send_envelope(poison, harness.topic.name)
    after = new_envelope(demande(pds), key=pds, fournisseur="LUMEN")
    await bus.send_envelope(after, harness.topic.name)
    await until(lambda: str(after.message_id) in harness.effects)
    dead = [h for d, h, _v in await read_topic(DLQ.name) if d and d.get("message_id") == str(poison.message_id)]
    assert len(dead) == 1
    assert dead[0]["x-attempts"] == "3"
    assert "panne simulée" in dead[0]["x-error"]
    assert dead[0]["x-consumer"].endswith(".c")


async def test_schema_invalid_payload_gets_a_refusal_and_a_dead_letter(harness: Harness, bus: Bus) -> None:
    pds = f"9{uuid.uuid4().int % 10**13:013d}EC1"
    env = new_envelope(demande(pds), key=pds, fournisseur="LUMEN")
    broken = env.model_copy(update={"payload": {"pds": pds, "sous_type": "x"}})
    await bus.send_envelope(broken, harness.topic.name)
    refusals = await wait_for_messages(DEMANDES_RESULTATS.name, lambda d: d["payload"].get("demande_message_id") == str(env.message_id))
    assert refusals[0]["payload"]["code"] == "MESSAGE_INVALIDE"
    assert "observations" in refusals[0]["payload"]["message"]
    dead = [h for d, h, _v in await read_topic(DLQ.name) if d and d.get("message_id") == str(env.message_id)]
    assert len(dead) == 1 and "schéma invalide" in dead[0]["x-error"]


async def test_outbox_left_behind_by_a_crash_is_published_by_the_sweeper(harness: Harness) -> None:
    pds = f"9{uuid.uuid4().int % 10**13:013d}EC1"
    cause = new_envelope(demande(pds), key=pds, fournisseur="LUMEN")
    ctx = HandlerContext(cause, "crash")
    event = ctx.emit(DemandeAccepteeV1(demande_message_id=cause.message_id, demande_type="X", pds=pds, message="ok"))
    loaded = await harness.store.load(pds)
    # Commit without the immediate flush: exactly the state a crash right after the store write leaves.
    await harness.store.commit(loaded, {"n": 1}, cause.message_id, [event])
    found = await wait_for_messages(DEMANDES_RESULTATS.name, lambda d: d["message_id"] == str(event[1].message_id))
    assert len(found) == 1
    await until(lambda: True)
    doc = await harness.store.collection.find_one({"_id": pds})
    assert doc is not None
    for _ in range(50):
        doc = await harness.store.collection.find_one({"_id": pds})
        assert doc is not None
        if not doc["_pending"]:
            break
        await asyncio.sleep(0.1)
    assert doc["_outbox"] == {} and doc["_pending"] is False


async def test_health_reports_broker_and_store(harness: Harness) -> None:
    assert await harness.rt.health() == {"broker": True, "store": True, "lanes": True}


async def test_document_seeded_without_version_is_updated_not_reinserted(harness: Harness, bus: Bus) -> None:
    pds = f"9{uuid.uuid4().int % 10**13:013d}EC1"
    await harness.store.collection.insert_one({"_id": pds, "n": 40})
    env = new_envelope(demande(pds), key=pds, fournisseur="LUMEN")
    await bus.send_envelope(env, harness.topic.name)
    await until(lambda: str(env.message_id) in harness.effects)
    loaded = await harness.store.load(pds)
    assert loaded.state["n"] == 41 and loaded.version == 1 and loaded.applied(env.message_id)


def duplicates_seen(rt: Runtime) -> float:
    """How many messages the runtime's consumers recognised as already handled (its own metric)."""
    return sum(
        sample.value
        for metric in rt.metrics.messages.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels.get("outcome") == "doublon"
    )


async def committed_offsets(group: str, topic: str) -> dict[int, int | None]:
    """The offsets a consumer group has committed on each partition of a topic (None: nothing committed)."""
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap(), group_id=group, enable_auto_commit=False, **kafka_options())
    await probe.start()
    try:
        return {p: await probe.committed(TopicPartition(topic, p)) for p in range(3)}
    finally:
        await probe.stop()


async def test_offsets_are_committed_in_batches_up_to_the_last_handled_message(harness: Harness, bus: Bus) -> None:
    """Handled messages' offsets are committed (after at most commit_interval_s), never beyond what was handled."""
    consumer = harness.rt.consumers[0]
    pds = f"9{uuid.uuid4().int % 10**13:013d}EC1"
    envs = [new_envelope(demande(pds, f"n{i}"), key=pds, fournisseur="LUMEN") for i in range(3)]
    for env in envs:
        await bus.send_envelope(env, harness.topic.name)
    await until(lambda: all(str(e.message_id) in harness.effects for e in envs))
    await asyncio.sleep(harness.rt.settings.commit_interval_s * 3)
    committed = await committed_offsets(consumer.group_id, harness.topic.name)
    client = consumer.subscriber.consumer
    positions = {tp.partition: await client.position(tp) for tp in client.assignment()}
    # Every partition is committed exactly up to what was consumed and handled: nothing less, nothing more.
    assert {p: committed[p] or 0 for p in positions} == positions
    assert sum(positions.values()) >= 3


async def test_messages_the_handler_is_not_concerned_with_skip_the_store(harness: Harness, bus: Bus) -> None:
    """A message its `when` filter rejects is acknowledged without effect and without an inbox record."""
    pds = f"9{uuid.uuid4().int % 10**13:013d}EC1"
    ignored = new_envelope(demande(pds, "hors_perimetre"), key=pds, fournisseur="LUMEN")
    await bus.send_envelope(ignored, harness.topic.name)
    marker = new_envelope(demande(pds, "marqueur"), key=pds, fournisseur="LUMEN")
    await bus.send_envelope(marker, harness.topic.name)
    await until(lambda: str(marker.message_id) in harness.effects)
    group = harness.rt.consumers[0].group_id
    assert str(ignored.message_id) not in harness.effects
    for _ in range(100):  # the inbox record is written just after the handler's effect
        if await harness.rt.inbox.record(group, marker.message_id) is not None:
            break
        await asyncio.sleep(0.05)
    assert await harness.rt.inbox.record(group, marker.message_id) is not None
    assert await harness.rt.inbox.record(group, ignored.message_id) is None
    assert (await harness.store.load(pds)).state["n"] == 1


async def handle_then_crash(bus: Bus, count: int, inbox: bool = True) -> tuple[Harness, str]:
    """A consumer handles `count` messages on one PDS, then dies without committing any offset."""
    first = Harness(inbox=inbox, commit_every=1000, commit_interval_s=3600)
    await first.start_on_new_topic()
    pds = f"9{uuid.uuid4().int % 10**13:013d}EC1"
    for i in range(count):
        await bus.send_envelope(new_envelope(demande(pds, f"n{i}"), key=pds, fournisseur="LUMEN"), first.topic.name)
    await until(lambda: len(first.effects) == count)
    group = first.rt.consumers[0].group_id
    assert set((await committed_offsets(group, first.topic.name)).values()) == {None}  # nothing committed yet
    first.rt.consumers[0]._offsets.clear()  # the crash: the process goes away without flushing its offsets
    await first.rt.stop()
    return first, pds


async def successor_after_marker(bus: Bus, first: Harness, pds: str) -> tuple[Harness, str]:
    """The next consumer of the same group and store, once it has handled a marker sent after the crash."""
    second = Harness(
        topic=first.topic,
        service_name=first.rt.settings.service_name,
        database=first.rt.settings.database,
        inbox=first.rt.consumers[0].inbox,
        consumer_offset_reset="earliest",
    )
    await second.rt.start()
    await second.rt.wait_ready()
    marker = new_envelope(demande(pds, "marqueur"), key=pds, fournisseur="LUMEN")
    await bus.send_envelope(marker, first.topic.name)
    await until(lambda: str(marker.message_id) in second.effects)
    return second, str(marker.message_id)


async def test_an_unflushed_batch_is_redelivered_and_deduplicated_after_a_crash(bus: Bus) -> None:
    """Kill a consumer before its batch is committed: the next one gets the batch again and has no second effect."""
    first, pds = await handle_then_crash(bus, 4)
    second, marker = await successor_after_marker(bus, first, pds)
    try:
        assert second.effects == [marker]  # the redelivered four were recognised...
        assert duplicates_seen(second.rt) == 4  # ...because they were indeed delivered again
        assert (await second.store.load(pds)).state["n"] == 5
    finally:
        await second.rt.stop()


@pytest.mark.parametrize("inbox", [True, False], ids=["with-inbox", "aggregate-dedup-only"])
async def test_a_long_unflushed_batch_on_one_aggregate_is_not_applied_twice(bus: Bus, inbox: bool) -> None:
    """40 messages on one aggregate, redelivered after a crash: more than the 16 ids an aggregate keeps, so without
    the consumer's inbox only the per-partition offsets recorded in the aggregate can recognise them."""
    first, pds = await handle_then_crash(bus, 40, inbox)
    second, marker = await successor_after_marker(bus, first, pds)
    try:
        assert second.effects == [marker]
        assert (await second.store.load(pds)).state["n"] == 41
    finally:
        await second.rt.stop()


async def test_create_without_read_is_idempotent_and_refuses_a_foreign_aggregate(harness: Harness) -> None:
    """rt.create inserts without reading; the same message again is a no-op, another message a conflict."""
    from platform_kit.store import ConcurrencyConflict

    agg = f"doc-{uuid.uuid4().hex}"
    env = new_envelope(demande("30000000000001"), key=agg, fournisseur="LUMEN")
    ctx = HandlerContext(env, "kit")
    assert await harness.rt.create(harness.store, agg, {"n": 1}, ctx, []) is True
    assert await harness.rt.create(harness.store, agg, {"n": 2}, HandlerContext(env, "kit"), []) is False
    other = HandlerContext(new_envelope(demande("30000000000001"), key=agg, fournisseur="LUMEN"), "kit")
    with pytest.raises(ConcurrencyConflict):
        await harness.rt.create(harness.store, agg, {"n": 3}, other, [])
    assert (await harness.store.load(agg)).state == {"n": 1}


@pytest.mark.parametrize("inbox", [True, False], ids=["with-inbox", "aggregate-dedup-only"])
async def test_events_a_crash_kept_unpublished_go_out_when_the_message_is_redelivered(bus: Bus, inbox: bool) -> None:
    """Committed, then killed before publishing: the redelivered message publishes the leftovers (no sweep needed)."""
    h = Harness(inbox=inbox, outbox_full_sweep_interval_s=3600)
    await h.start_on_new_topic()
    try:
        pds = f"9{uuid.uuid4().int % 10**13:013d}EC1"
        env = new_envelope(demande(pds), key=pds, fournisseur="LUMEN")
        # What the crashed process did: commit state + event for this message, and nothing more.
        ctx = HandlerContext(env, h.rt.consumers[0].group_id)
        accepted = DemandeAccepteeV1(demande_message_id=env.message_id, demande_type="DemandeDiverse", pds=pds, message="ok")
        event = ctx.emit(accepted)
        await h.store.commit(await h.store.load(pds), {"n": 1}, env.message_id, [event])
        # The message comes back (its offset was never committed): no second effect, and the event goes out.
        await bus.send_envelope(env, h.topic.name)
        published = await wait_for_messages(DEMANDES_RESULTATS.name, lambda d: d["message_id"] == str(event[1].message_id), timeout=20)
        assert len(published) == 1
        assert h.effects == []
        loaded = await h.store.load(pds)
        assert loaded.state["n"] == 1 and not loaded.outbox
    finally:
        await h.rt.stop()


async def test_a_background_unit_of_work_publishes_the_leftovers_of_what_it_loads(harness: Harness) -> None:
    """A job that loads an aggregate inside rt.publishing_leftovers() publishes what a crash left in its outbox."""
    pds = f"9{uuid.uuid4().int % 10**13:013d}EC1"
    env = new_envelope(demande(pds), key=pds, fournisseur="LUMEN")
    ctx = HandlerContext(env, "job")
    event = ctx.emit(DemandeAccepteeV1(demande_message_id=env.message_id, demande_type="DemandeDiverse", pds=pds, message="ok"))
    await harness.store.commit(await harness.store.load(pds), {"n": 1}, env.message_id, [event])
    async with harness.rt.publishing_leftovers() as work:
        assert (await harness.store.load(pds, work)).outbox  # the job only reads it...
        work.message_id = str(env.message_id)  # ...and finds out that this item of work is the one that left it
    assert await wait_for_messages(DEMANDES_RESULTATS.name, lambda d: d["message_id"] == str(event[1].message_id), timeout=20)
    assert not (await harness.store.load(pds)).outbox


def pds_on_partitions(count: int = 3) -> list[str]:
    """One PDS reference per partition of a 3-partition topic (Kafka's default partitioner: murmur2 of the key)."""
    from aiokafka.partitioner import DefaultPartitioner

    partitioner = DefaultPartitioner()
    found: dict[int, str] = {}
    while len(found) < count:
        pds = f"9{uuid.uuid4().int % 10**13:013d}EC1"
        found.setdefault(partitioner(pds.encode(), [0, 1, 2], [0, 1, 2]), pds)
    return list(found.values())


async def test_partitions_are_handled_concurrently_and_each_in_order(harness: Harness, bus: Bus) -> None:
    lent, autre, troisieme = pds_on_partitions()
    harness.gates["lent"] = asyncio.Event()
    bloque = new_envelope(demande(lent, "lent"), key=lent, fournisseur="LUMEN")
    suivant = new_envelope(demande(lent), key=lent, fournisseur="LUMEN")
    await bus.send_envelope(bloque, harness.topic.name)
    await bus.send_envelope(suivant, harness.topic.name)
    ailleurs = [new_envelope(demande(p), key=p, fournisseur="LUMEN") for p in (autre, troisieme, autre, troisieme)]
    for env in ailleurs:
        await bus.send_envelope(env, harness.topic.name)
    # The other partitions flow while one handler waits; the blocked partition's next message waits behind it.
    await until(lambda: all(str(e.message_id) in harness.effects for e in ailleurs))
    assert str(suivant.message_id) not in harness.effects
    harness.gates["lent"].set()
    await until(lambda: str(suivant.message_id) in harness.effects)
    assert harness.effects.index(str(bloque.message_id)) < harness.effects.index(str(suivant.message_id))


async def test_a_full_lane_pauses_its_partition_and_the_other_partitions_keep_flowing(bus: Bus) -> None:
    h = Harness(lane_buffer=2)
    await h.start_on_new_topic()
    try:
        lent, autre, troisieme = pds_on_partitions()
        h.gates["lent"] = asyncio.Event()
        bloques = [new_envelope(demande(lent, "lent"), key=lent, fournisseur="LUMEN") for _ in range(10)]
        for env in bloques:
            await bus.send_envelope(env, h.topic.name)
        consumer = h.rt.consumers[0]
        client = consumer.subscriber.consumer
        from aiokafka.partitioner import DefaultPartitioner

        tp = TopicPartition(h.topic.name, DefaultPartitioner()(lent.encode(), [0, 1, 2], [0, 1, 2]))
        # The first record is in hand, the lane holds lane_buffer more: its partition is paused, the fetch loop free.
        await until(lambda: tp in client.paused())
        assert consumer.lanes()[tp].queue.qsize() <= 3
        ailleurs = [new_envelope(demande(p), key=p, fournisseur="LUMEN") for p in (autre, troisieme, autre, troisieme)]
        for env in ailleurs:
            await bus.send_envelope(env, h.topic.name)
        await until(lambda: all(str(e.message_id) in h.effects for e in ailleurs))
        assert not any(str(e.message_id) in h.effects for e in bloques)
        h.gates["lent"].set()
        # Resumed at half: the records it dropped while paused are fetched again, each handled once, in order.
        await until(lambda: all(str(e.message_id) in h.effects for e in bloques))
        assert [m for m in h.effects if m in {str(e.message_id) for e in bloques}] == [str(e.message_id) for e in bloques]
        assert tp not in client.paused()
    finally:
        await h.rt.stop()


async def test_declared_indexes_are_created_at_start_on_every_partition_and_collection() -> None:
    """Runtime.index: declared once where the collections are defined, created on the real store at start."""
    from pymongo import DESCENDING
    from pymongo.errors import DuplicateKeyError

    h = Harness()
    parts = h.rt.aggregates("parts", partitions=2, swept=False)
    places = h.rt.db["places"]
    h.rt.index(parts, [("cree_le", DESCENDING)])
    h.rt.index(places, "titulaire", unique=True)
    await h.start_on_new_topic()
    try:
        await h.rt.store_ready.wait()
        for coll in parts.collections:
            assert [("cree_le", -1)] in [spec["key"] for spec in (await coll.index_information()).values()]
        assert [("_pending", 1)] in [spec["key"] for spec in (await h.store.collection.index_information()).values()]
        await places.insert_one({"_id": "p1", "titulaire": "A1"})
        with pytest.raises(DuplicateKeyError):
            await places.insert_one({"_id": "p2", "titulaire": "A1"})
    finally:
        await h.rt.stop()


async def test_a_periodic_job_runs_once_ready_and_is_woken_by_the_clock() -> None:
    """Runtime.every: a job sleeping an hour runs once the runtime is ready, and again as soon as the platform clock moves."""
    from datetime import timedelta

    h = Harness()
    runs: list[bool] = []
    ran = asyncio.Event()

    async def job(full: bool) -> None:
        runs.append(full)
        ran.set()

    h.rt.every("essai", 3600, job, full_every_s=7200)
    await h.start_on_new_topic()
    try:
        await asyncio.wait_for(ran.wait(), 60)
        ran.clear()
        h.rt.clock.avancer(timedelta(days=8))
        await asyncio.wait_for(ran.wait(), 60)
        assert runs == [True, False]
    finally:
        await h.rt.stop()
