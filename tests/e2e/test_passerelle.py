"""Suppliers on their own channels, through the passerelle, each authenticated as itself: identity and isolation end to end."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts import topics as t
from contracts.envelope import Envelope, new_envelope
from contracts.references import event_id, reference_affaire
from devtools.processes import Platform
from platform_kit.acl import password_for
from platform_kit.clock import FUSEAU, decalage_publie
from platform_kit.kafka_client import kafka_options
from services.passerelle.domain import cause_illisible
from tests.e2e.test_walking_skeleton import amm_pds, cf_for, new_supplier_for
from tests.support import bootstrap, read_topic

pytestmark = pytest.mark.e2e

Record = dict[str, Any]


def en_tant_que(code: str) -> dict[str, Any]:
    """Client options of a supplier's own principal."""
    return {"bootstrap_servers": bootstrap(), **kafka_options(username=code, password=password_for(code, create=False))}


async def deposer(code: str, env: Envelope) -> None:
    """Publish an envelope on `code`'s inbound topic, authenticated as `code` (what the supplier's system does)."""
    producer = AIOKafkaProducer(acks="all", **en_tant_que(code))
    await producer.start()
    try:
        await producer.send_and_wait(t.fournisseur_demandes(code).name, env.model_dump_json().encode(), key=env.key.encode())
    finally:
        await producer.stop()


async def lire(code: str, topic: str) -> list[Record]:
    """Every envelope of one topic, read from the beginning to its current end as the supplier `code`."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, auto_offset_reset="earliest", **en_tant_que(code))
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(tps)
        fin = await consumer.end_offsets(tps)
        out: list[Record] = []
        while [tp for tp in tps if await consumer.position(tp) < fin[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                out += [d for d in map(_objet, (r.value for r in records)) if d is not None]
        return out
    finally:
        await consumer.stop()


def _objet(value: bytes | None) -> Record | None:
    """A record's JSON object (None for anything else)."""
    try:
        data = json.loads(value) if value else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def attendre(code: str, topic: str, predicate: Any, timeout: float = 90) -> list[Record]:
    """Read `topic` as `code` until some envelope matches (fails after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [d for d in await lire(code, topic) if predicate(d)]
        if found or time.monotonic() > deadline:
            assert found, f"nothing matching on {topic} for {code} after {timeout}s"
            return found
        await asyncio.sleep(1)


async def test_demand_through_own_channel_and_isolation(platform: Platform) -> None:
    """A CF filed on the supplier's channel is accepted; the outcome, the affaire and the CFNE reach it, the CFNS the
    leaving holder; and neither supplier's outbound topics hold anything about another supplier."""
    p = amm_pds()
    entrant, sortant = new_supplier_for(p), p.titulaire or ""
    # The platform's today (Paris time, plus the offset other e2e tests may have published), not the test machine's.
    aujourdhui = (datetime.now(FUSEAU) + await decalage_publie(bootstrap())).date()
    demande = cf_for(p, entrant).model_copy(update={"date_effet_souhaitee": aujourdhui})
    env = new_envelope(demande, key=p.reference, fournisseur=entrant)
    await deposer(entrant, env)
    ref = reference_affaire(env.message_id)

    issue = await attendre(entrant, t.fournisseur_resultats(entrant).name, lambda d: d["payload"].get("demande_message_id") == str(env.message_id))
    assert [d["type"] for d in issue] == ["DemandeAcceptee"], issue
    def terminee(d: Record) -> bool:
        return bool(d["payload"].get("reference_affaire") == ref and d["payload"]["statut"] == "terminee")

    await attendre(entrant, t.fournisseur_affaires(entrant).name, terminee)
    cfne = await attendre(entrant, t.fournisseur_flux(entrant).name, lambda d: d["payload"].get("reference_affaire") == ref)
    assert {d["payload"]["evenement"] for d in cfne} == {"CFNE"}
    cfns = await attendre(sortant, t.fournisseur_flux(sortant).name, lambda d: d["payload"].get("reference_affaire") == ref)
    assert {d["payload"]["evenement"] for d in cfns} == {"CFNS"}

    for code in (entrant, sortant):
        vus = [d for topic in t.topics_sortants(code) for d in await lire(code, topic.name)]
        assert vus, code
        assert {d["fournisseur"] for d in vus} == {code}
        assert all(d["payload"].get("fournisseur") in (None, code) for d in vus)
    # The leaving holder learns of the change through its C15 only, not through the rival's outcome or affaire.
    autres = [d for topic in (t.fournisseur_resultats(sortant), t.fournisseur_affaires(sortant)) for d in await lire(sortant, topic.name)]
    assert not [d for d in autres if d["payload"].get("reference_affaire") == ref or d["payload"].get("demande_message_id") == str(env.message_id)]


async def test_forged_supplier_is_refused_and_never_reaches_the_platform(platform: Platform) -> None:
    """A demand in a rival's name on one's own channel is refused (FOURNISSEUR_NON_CONFORME) and never forwarded."""
    p = amm_pds()
    victime = p.titulaire or ""
    faussaire = new_supplier_for(p)
    env = new_envelope(cf_for(p, victime), key=p.reference, fournisseur=victime)  # a CF "by the holder": a forgery
    await deposer(faussaire, env)

    def de_la_demande(d: Record) -> bool:
        return bool(d["payload"].get("demande_message_id") == str(env.message_id))

    refus = await attendre(faussaire, t.fournisseur_resultats(faussaire).name, de_la_demande)
    assert [(d["type"], d["payload"]["code"]) for d in refus] == [("DemandeRefusee", "FOURNISSEUR_NON_CONFORME")]
    assert "fournisseur" in refus[0]["payload"]["message"]
    # The refusal and the forwarding are the two exclusive branches of one record's handling: once refused, never forwarded.
    transmis = [d for d, _h, _v in await read_topic(t.DEMANDES.name) if d and d.get("message_id") == str(env.message_id)]
    assert transmis == []
    victime_voit = [d for d in await lire(victime, t.fournisseur_resultats(victime).name) if de_la_demande(d)]
    assert victime_voit == []


async def test_unreadable_record_is_refused_to_its_channel(platform: Platform) -> None:
    """Bytes that are no envelope get a MESSAGE_INVALIDE refusal on the sender's own outcomes."""
    code = "WATTPLUS"
    producer = AIOKafkaProducer(acks="all", **en_tant_que(code))
    await producer.start()
    try:
        meta = await producer.send_and_wait(t.fournisseur_demandes(code).name, b"{pas du json", key=b"ILLISIBLE-1")
    finally:
        await producer.stop()
    # The refusal's id derives from the record's place in the log; the supplier's copy names it as its cause.
    cause = cause_illisible(t.fournisseur_demandes(code).name, meta.partition, meta.offset)
    refus_id = str(event_id(cause, "passerelle", "refus"))
    refus = await attendre(code, t.fournisseur_resultats(code).name, lambda d: d.get("causation_id") == refus_id)
    assert [(d["type"], d["payload"]["code"], d["fournisseur"]) for d in refus] == [("DemandeRefusee", "MESSAGE_INVALIDE", code)]
