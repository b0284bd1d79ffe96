"""The security matrix of the bus, on the real broker: every principal × every topic × write / read / describe.

Suppliers' expected rights are written here by hand (their own inbound topic, their own outbound topics, nothing
else); services' come from the one flows table (platform_kit.acl.FLUX_SERVICES), checked against hand-written
invariants. Unauthenticated clients and wrong passwords get nothing at all.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import GroupAuthorizationFailedError, KafkaError, TopicAuthorizationFailedError

from contracts import topics as t
from demo_data.reference import FOURNISSEURS
from platform_kit import onboarding
from platform_kit.acl import FLUX_SERVICES, PASSERELLE, Cluster, fournisseur_acls, password_for
from platform_kit.kafka_client import kafka_options
from tests.support import bootstrap

pytestmark = pytest.mark.integration

CODES = [f.code for f in FOURNISSEURS]
INTERNES = [topic.name for topic in t.ALL_TOPICS]
PAR_FOURNISSEUR = {code: [topic.name for topic in t.topics_fournisseur(code)] for code in CODES}
TOUS = INTERNES + [name for names in PAR_FOURNISSEUR.values() for name in names]


@dataclass
class Droits:
    """What a principal may do: the topics it may write, read and describe (read or write implies describe)."""

    ecrit: set[str] = field(default_factory=set)
    lit: set[str] = field(default_factory=set)
    decrit_seulement: set[str] = field(default_factory=set)

    @property
    def decrit(self) -> set[str]:
        """Topics whose metadata the principal may see."""
        return self.ecrit | self.lit | self.decrit_seulement


def droits_fournisseur(code: str) -> Droits:
    """Written by hand: a supplier writes its inbound topic and reads its three outbound topics, nothing else."""
    base = f"grd.fournisseurs.{code}."
    return Droits(ecrit={base + "demandes.v1"}, lit={base + "resultats.v1", base + "affaires.v1", base + "flux.v1"})


def droits_service(service: str) -> Droits:
    """From the flows table, plus the passerelle's per-supplier topics (made at onboarding)."""
    flux = FLUX_SERVICES[service]
    droits = Droits(ecrit={x.name for x in flux.ecrit}, lit={x.name for x in flux.lit} | {t.HORLOGE.name})
    if service == "supervision":  # the lag of every group, the passerelle's on the suppliers' topics included
        droits.decrit_seulement = {name for names in PAR_FOURNISSEUR.values() for name in names}
    if service == PASSERELLE:
        for code in CODES:
            droits.lit.add(t.fournisseur_demandes(code).name)
            droits.ecrit |= {x.name for x in t.topics_sortants(code)}
    return droits


def sonde(principal: str, topic: str) -> bytes:
    """A probe record that no reader takes for a message of the platform.

    On an internal topic: bytes that are no JSON object (the services dead-letter them as unreadable, the tests'
    readers skip them). On a supplier's topic: an envelope of a type nobody knows naming that supplier, as
    everything there does (the passerelle refuses it as TYPE_NON_ACCEPTE; the e2e isolation test checks the names).
    """
    if not topic.startswith(t.FOURNISSEURS_PREFIXE):
        return f"sonde-acl {principal}".encode()
    proprietaire = topic.split(".")[2]
    now = datetime.now(UTC).isoformat()
    mid = str(uuid.uuid4())
    env = {
        "message_id": mid,
        "type": "SondeAcl",
        "version": 1,
        "occurred_at": now,
        "correlation_id": mid,
        "fournisseur": proprietaire,
        "key": "SONDE-ACL",
        "payload": {"principal": principal},
    }
    return json.dumps(env).encode()


def options(principal: str) -> dict[str, object]:
    """Client options authenticating as `principal`."""
    secret = password_for(principal, create=False)
    return {"bootstrap_servers": bootstrap(), "request_timeout_ms": 10000, **kafka_options(username=principal, password=secret)}


@dataclass
class Constat:
    """What a principal could actually do."""

    ecrit: set[str] = field(default_factory=set)
    lit: set[str] = field(default_factory=set)
    decrit: set[str] = field(default_factory=set)


async def essayer(principal: str, topics: Iterable[str]) -> Constat:
    """Try describe and write on every topic, then read every partition of every topic at once."""
    constat = Constat()
    producer = AIOKafkaProducer(**options(principal))
    await producer.start()
    try:
        for topic in topics:
            try:
                if await producer.partitions_for(topic):
                    constat.decrit.add(topic)
            except TopicAuthorizationFailedError:
                pass
            try:
                await producer.send_and_wait(topic, sonde(principal, topic), key=b"SONDE-ACL")
                constat.ecrit.add(topic)
            except TopicAuthorizationFailedError:
                pass
    finally:
        await producer.stop()
    constat.lit = await lire_tout(principal, constat.decrit)
    return constat


async def lire_tout(principal: str, visibles: set[str], delai_s: float = 180) -> set[str]:
    """Topics of which the principal could fetch records (every topic holds at least the admin's probe).

    A topic the principal may not describe is absent from its metadata: it cannot even be fetched, so only the
    visible ones are tried, until each is settled: records came (readable) or the fetch was refused (not readable).
    """
    consumer = AIOKafkaConsumer(enable_auto_commit=False, auto_offset_reset="earliest", **options(principal))
    await consumer.start()
    lus: set[str] = set()
    refuses: set[str] = set()
    deadline = time.monotonic() + delai_s
    try:
        while visibles - lus - refuses and time.monotonic() < deadline:
            consumer.assign([TopicPartition(topic, p) for topic in sorted(visibles - lus - refuses) for p in range(3)])
            try:
                batch = await consumer.getmany(timeout_ms=1000)
            except TopicAuthorizationFailedError as exc:
                refuses |= {topic for topic in visibles if topic in str(exc.args)}
                continue
            lus |= {tp.topic for tp, records in batch.items() if records}
    finally:
        await consumer.stop()
    assert not visibles - lus - refuses, f"{principal}: neither read nor refused: {visibles - lus - refuses}"
    return lus


@pytest.fixture(scope="module")
async def topics_amorces() -> list[str]:
    """Every topic holds one record (written by the admin), so a reader that may read it does see something."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap(), **kafka_options())
    await producer.start()
    try:
        for topic in TOUS:
            for p in range(3 if topic != t.HORLOGE.name else 1):
                await producer.send_and_wait(topic, sonde("admin", topic), key=b"SONDE-ACL", partition=p)
    finally:
        await producer.stop()
    return TOUS


def test_flows_table_invariants() -> None:
    """Hand-written invariants the table must keep: who may write the demands, the contract events, the flux."""
    ecrivains = {topic: {s for s, f in FLUX_SERVICES.items() if any(x.name == topic for x in f.ecrit)} for topic in INTERNES}
    # The supervision re-emits dead letters to their topic of origin (an operator's action behind HTTP auth).
    assert ecrivains[t.DEMANDES.name] == {PASSERELLE, "supervision"}
    assert ecrivains[t.CONTRATS_EVENEMENTS.name] == {"contrats", "supervision"}
    assert ecrivains[t.FLUX_C15.name] == {"contrats", "supervision"}
    assert ecrivains[t.FLUX_R15.name] == {"referentiel", "supervision"}
    assert ecrivains[t.SI_RESULTATS.name] == {"si_comptage", "supervision"}
    assert not any(t.HORLOGE in f.ecrit for f in FLUX_SERVICES.values())
    assert all(t.DLQ in f.ecrit for f in FLUX_SERVICES.values())


@pytest.mark.parametrize("code", CODES)
async def test_supplier_touches_only_its_own_topics(code: str, topics_amorces: list[str]) -> None:
    """A supplier writes only its inbound topic, reads only its outbound ones, and sees no other topic at all."""
    attendu = droits_fournisseur(code)
    constat = await essayer(code, topics_amorces)
    assert constat.ecrit == attendu.ecrit
    assert constat.lit == attendu.lit
    assert constat.decrit == attendu.decrit
    assert not (constat.ecrit | constat.lit | constat.decrit) & set(INTERNES)


@pytest.mark.parametrize("service", sorted(FLUX_SERVICES))
async def test_service_touches_exactly_its_flows(service: str, topics_amorces: list[str]) -> None:
    """A service reads and writes exactly the topics of its flows; nothing outside them, no supplier topic (passerelle aside)."""
    attendu = droits_service(service)
    constat = await essayer(service, topics_amorces)
    assert constat.ecrit == attendu.ecrit
    assert constat.lit == attendu.lit
    assert constat.decrit == attendu.decrit


@pytest.mark.parametrize("code", CODES)
async def test_supplier_groups_are_its_own(code: str) -> None:
    """A supplier may commit offsets in its own groups (`fournisseurs.<CODE>.*`), not in a rival's nor a service's."""
    autre = next(c for c in CODES if c != code)
    tp = TopicPartition(t.fournisseur_resultats(code).name, 0)

    async def commit(group: str) -> None:
        consumer = AIOKafkaConsumer(group_id=group, enable_auto_commit=False, **options(code))
        await consumer.start()
        try:
            consumer.assign([tp])
            await consumer.commit({tp: 0})
        finally:
            await consumer.stop()

    await commit(f"fournisseurs.{code}.acl-test")
    for group in (f"fournisseurs.{autre}.acl-test", "referentiel.demandes", "passerelle.sortants"):
        with pytest.raises(GroupAuthorizationFailedError):
            await commit(group)


async def test_service_groups_are_its_own() -> None:
    """A service may not join another service's consumer group (it would take its partitions)."""
    tp = TopicPartition(t.CONTRATS_EVENEMENTS.name, 0)
    consumer = AIOKafkaConsumer(group_id="contrats.demandes", enable_auto_commit=False, **options("referentiel"))
    await consumer.start()
    try:
        consumer.assign([tp])
        with pytest.raises(GroupAuthorizationFailedError):
            await consumer.commit({tp: 0})
    finally:
        await consumer.stop()


async def test_unauthenticated_and_wrong_password_get_nothing() -> None:
    """A PLAINTEXT client and a supplier with a wrong password cannot even connect."""
    plaintext = AIOKafkaProducer(bootstrap_servers=bootstrap(), request_timeout_ms=3000)
    with pytest.raises(KafkaError):
        await plaintext.start()
    await plaintext.stop()
    faux = AIOKafkaProducer(bootstrap_servers=bootstrap(), request_timeout_ms=3000, **kafka_options(username=CODES[0], password="pas-le-bon"))
    with pytest.raises(KafkaError):
        await faux.start()
    await faux.stop()


async def _peut_deposer(code: str) -> bool:
    """Whether `code` can authenticate and write a probe on its inbound topic."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap(), request_timeout_ms=5000, **kafka_options(username=code, password=password_for(code)))
    try:
        await producer.start()
        await producer.send_and_wait(t.fournisseur_demandes(code).name, sonde(code, t.fournisseur_demandes(code).name), key=b"SONDE-ACL")
        return True
    except KafkaError:
        return False
    finally:
        await producer.stop()


async def test_onboarding_add_suspend_add_remove() -> None:
    """Onboarding gives a new supplier its door; suspending closes it, adding again reopens it, removing deletes its topics."""
    code = f"ESSAI_{uuid.uuid4().hex[:8].upper()}"
    cluster = Cluster()
    await asyncio.to_thread(onboarding.add, code, cluster)
    await asyncio.to_thread(onboarding.add, code, cluster)  # idempotent
    assert await _peut_deposer(code)
    assert {a for a in cluster.acls() if a.principal == code} == {a for a in fournisseur_acls(code) if a.principal == code}

    await asyncio.to_thread(onboarding.suspend, code, cluster)
    assert not await _peut_deposer(code)
    assert not [a for a in cluster.acls() if code in (a.principal, *a.name.split("."))]

    await asyncio.to_thread(onboarding.add, code, cluster)
    assert await _peut_deposer(code)

    deleted = await asyncio.to_thread(onboarding.remove, code, cluster)
    assert sorted(deleted) == sorted(x.name for x in t.topics_fournisseur(code))
    with pytest.raises(KeyError):
        password_for(code, create=False)
