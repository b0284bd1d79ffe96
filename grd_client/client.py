"""Sending demands and waiting for their outcomes, following outcomes and flux: the client's Kafka side (aiokafka)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts import topics as t
from contracts.envelope import Envelope, new_envelope
from grd_client.fichier import Ligne
from grd_client.profil import Profil

ISSUES = ("DemandeAcceptee", "DemandeRefusee")


@dataclass
class Resultat:
    """The outcome of one sent demand (statut `sans_reponse` when none came before the deadline)."""

    ligne: int
    message_id: str
    type: str
    pds: str | None
    statut: str = "sans_reponse"
    reference_affaire: str | None = None
    code: str | None = None
    message: str | None = None

    def noter(self, env: dict[str, Any]) -> None:
        """Take the outcome from a DemandeAcceptee / DemandeRefusee envelope."""
        payload = env.get("payload") or {}
        self.statut = "acceptee" if env.get("type") == "DemandeAcceptee" else "refusee"
        self.reference_affaire = payload.get("reference_affaire")
        self.code = payload.get("code")
        self.message = payload.get("message")


def enveloppe(ligne: Ligne, profil: Profil) -> Envelope:
    """The envelope of a valid line: the supplier's code, keyed by the PDS (or a fixed key for demands without one)."""
    assert ligne.demande is not None, "only valid lines are sent"
    return new_envelope(ligne.demande, key=ligne.pds or "SANS-PDS", fournisseur=profil.fournisseur)


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        # aiokafka's consumer only caches the metadata of subscribed topics; fetch this one's (as tests/support.py does).
        await consumer._client._metadata_update(consumer._client.cluster, [topic])
        partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise RuntimeError(f"topic {topic} introuvable (ou non autorisé pour {topic!r})")
    return [TopicPartition(topic, p) for p in sorted(partitions)]


async def _lecteur(profil: Profil, topics: Sequence[str], depuis_le_debut: bool) -> AIOKafkaConsumer:
    """A consumer assigned to every partition of `topics` (no consumer group), at their end unless asked otherwise."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, auto_offset_reset="earliest" if depuis_le_debut else "latest", **profil.kafka())
    await consumer.start()
    try:
        tps = [tp for topic in topics for tp in await _partitions(consumer, topic)]
        consumer.assign(tps)
        if depuis_le_debut:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)  # resolve now: what arrives after this point is seen
    except BaseException:
        await consumer.stop()
        raise
    return consumer


async def envoyer(
    profil: Profil,
    lignes: Sequence[Ligne],
    *,
    delai_s: float = 300.0,
    a_l_envoi: Callable[[Resultat], None] | None = None,
    au_resultat: Callable[[Resultat], None] | None = None,
) -> list[Resultat]:
    """Send the valid lines' demands and wait (up to `delai_s` after the last send) for each one's outcome."""
    consumer = await _lecteur(profil, [profil.topic_resultats], depuis_le_debut=False)
    producer = AIOKafkaProducer(acks="all", enable_idempotence=True, linger_ms=5, **profil.kafka())
    attendus: dict[str, Resultat] = {}
    try:
        await producer.start()
        envois = []
        for ligne in lignes:
            env = enveloppe(ligne, profil)
            resultat = Resultat(ligne.numero, str(env.message_id), env.type, ligne.pds)
            attendus[resultat.message_id] = resultat
            fut = await producer.send(profil.topic_demandes, env.model_dump_json().encode(), key=env.key.encode())
            if a_l_envoi is not None:
                fut.add_done_callback(lambda f, r=resultat: a_l_envoi(r) if not f.exception() else None)
            envois.append(fut)
        await asyncio.gather(*envois)
        restants = set(attendus)
        echeance = time.monotonic() + delai_s
        while restants and time.monotonic() < echeance:
            lots = await consumer.getmany(timeout_ms=500, max_records=1000)
            for records in lots.values():
                for record in records:
                    env_issue = _decoder(record.value)
                    mid = str((env_issue.get("payload") or {}).get("demande_message_id"))
                    if env_issue.get("type") in ISSUES and mid in restants:
                        restants.discard(mid)
                        attendus[mid].noter(env_issue)
                        if au_resultat is not None:
                            au_resultat(attendus[mid])
    finally:
        await producer.stop()
        await consumer.stop()
    return list(attendus.values())


def _decoder(value: bytes | None) -> dict[str, Any]:
    try:
        donnees = json.loads(value or b"")
    except ValueError:
        return {}
    return donnees if isinstance(donnees, dict) else {}


async def suivre(profil: Profil, *, depuis_le_debut: bool = False) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(topic, envelope) of every outcome and flux message concerning the profile's supplier, as they come."""
    consumer = await _lecteur(profil, [profil.topic_resultats, *profil.topics_flux], depuis_le_debut)
    try:
        while True:
            lots = await consumer.getmany(timeout_ms=1000, max_records=500)
            for tp, records in sorted(lots.items(), key=lambda kv: (kv[0].topic, kv[0].partition)):
                for record in records:
                    env = _decoder(record.value)
                    # A supplier's own topics hold only what concerns it; on the platform's shared topics every
                    # supplier's messages pass by, so keep those naming it.
                    if tp.topic.startswith(t.FOURNISSEURS_PREFIXE) or env.get("fournisseur") == profil.fournisseur:
                        yield tp.topic, env
    finally:
        await consumer.stop()
