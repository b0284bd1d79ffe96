"""The passerelle's inbound handler without Kafka: what it publishes for each record of a supplier's channel, then acks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import cast

from faststream.kafka import KafkaMessage

from contracts import topics as t
from contracts.envelope import Envelope, new_envelope
from contracts.evenements import DemandeRefuseeV1
from contracts.references import event_id
from contracts.refus import CodeRefus
from platform_kit.producer import Record
from platform_kit.runtime import Runtime
from services.passerelle.handlers import Passerelle
from services.passerelle.settings import Settings
from tests.builders import changement_fournisseur

PDS = "30000000000017"


class _Compteur:
    def __init__(self, vus: list[tuple[str, ...]]) -> None:
        self.vus = vus

    def labels(self, *valeurs: str) -> _Compteur:
        self.vus.append(valeurs)
        return self

    def inc(self) -> None:
        """Counted by `labels`."""


@dataclass
class _Producteur:
    envoyes: list[Record] = field(default_factory=list)

    async def send_all(self, records: list[Record]) -> None:
        self.envoyes.extend(records)


class _Runtime:
    """What Passerelle.demande uses of the Runtime: the producer, outage waiting, the metrics."""

    def __init__(self) -> None:
        self.producer = _Producteur()
        self.comptes: list[tuple[str, ...]] = []
        self.metrics = type("M", (), {"messages": _Compteur(self.comptes), "service": "passerelle"})()

    async def wait_out_outages(self, call: Callable[[], Awaitable[object]]) -> object:
        return await call()


@dataclass
class _Enregistrement:
    topic: str
    key: bytes | None
    partition: int = 0
    offset: int = 42


@dataclass
class _Message:
    raw_message: _Enregistrement
    body: bytes
    acks: int = 0

    async def ack(self) -> None:
        self.acks += 1


def _demande(fournisseur: str | None) -> Envelope:
    return new_envelope(changement_fournisseur(PDS, date(2026, 1, 10)), key=PDS, fournisseur=fournisseur)


async def _recevoir(body: bytes, canal: str = "VOLTA") -> tuple[_Runtime, _Message]:
    rt = _Runtime()
    passerelle = Passerelle(cast(Runtime, rt), Settings())
    msg = _Message(_Enregistrement(t.fournisseur_demandes(canal).name, PDS.encode()), body)
    await passerelle.demande(cast(KafkaMessage, msg))
    return rt, msg


def _refus(rt: _Runtime) -> tuple[Envelope, DemandeRefuseeV1]:
    [(topic, valeur, _cle, _entetes)] = rt.producer.envoyes
    assert topic == t.DEMANDES_RESULTATS.name
    env = Envelope.model_validate_json(valeur)
    return env, DemandeRefuseeV1.model_validate(env.payload)


async def test_a_demand_in_its_own_name_is_forwarded_byte_for_byte() -> None:
    body = _demande("VOLTA").model_dump_json().encode()
    rt, msg = await _recevoir(body)
    assert [(topic, valeur) for topic, valeur, _, _ in rt.producer.envoyes] == [(t.DEMANDES.name, body)]
    assert msg.acks == 1 and rt.comptes[-1][-1] == "transmise"


async def test_a_demand_naming_no_supplier_is_refused_fournisseur_absent_to_the_channel() -> None:
    demande = _demande(None)
    rt, msg = await _recevoir(demande.model_dump_json().encode())
    env, refus = _refus(rt)
    assert (refus.code, refus.demande_message_id, refus.etape) == (CodeRefus.FOURNISSEUR_ABSENT, demande.message_id, "passerelle")
    assert env.fournisseur == "VOLTA" and env.message_id == event_id(demande.message_id, "passerelle", "refus")
    assert msg.acks == 1 and rt.comptes[-1][-1] == CodeRefus.FOURNISSEUR_ABSENT


async def test_a_demand_in_a_rivals_name_is_still_refused_non_conforme() -> None:
    rt, _ = await _recevoir(_demande("LUMEN").model_dump_json().encode())
    assert _refus(rt)[1].code == CodeRefus.FOURNISSEUR_NON_CONFORME


async def test_an_unreadable_record_is_refused_message_invalide_with_an_id_from_its_place() -> None:
    rt, msg = await _recevoir(b"{pas du json")
    env, refus = _refus(rt)
    assert refus.code == CodeRefus.MESSAGE_INVALIDE and refus.demande_message_id is None
    assert env.fournisseur == "VOLTA" and env.key == PDS and msg.acks == 1
