"""Integration tests of the notifications service in-process against the real Kafka, FerretDB and SMTP sink."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from contracts import topics
from contracts.common import EtatContrat, ModeIntervention, StatutAffaire, StatutIntervention, TypeAffaire
from contracts.evenements import (
    AffaireStatutChangeV1,
    ContratEtatChangeV1,
    DemandeAccepteeV1,
    DemandeRefuseeV1,
    InterventionStatutChangeV1,
)
from contracts.topics import DLQ
from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore
from services.notifications.app import create_app
from services.notifications.domain import message_id_mail
from services.notifications.settings import Settings
from services.notifications.store import INDEX_MAILS
from tests.support import (
    Bus,
    bootstrap,
    mails,
    mongodb_url,
    read_topic,
    require_env,
    skip_history,
    unique_db,
    wait_for_mails,
    wait_for_messages,
)

pytestmark = pytest.mark.integration

CONSUMED = (topics.DEMANDES_RESULTATS, topics.AFFAIRES_EVENEMENTS, topics.INTERVENTIONS_EVENEMENTS, topics.CONTRATS_EVENEMENTS)


def isolated_settings(**kw: Any) -> Settings:
    """Settings isolated from the running service and from other tests (own consumer group and database)."""
    require_env("SMTP_HOST")
    return Settings(
        service_name=f"notifications-test-{uuid.uuid4().hex[:6]}",
        database=unique_db("grd_notifications"),
        mongodb_url=mongodb_url(),
        kafka_bootstrap_servers=bootstrap(),
        backoff_max_s=0.5,
        **kw,
    )


async def started(settings: Settings) -> tuple[Any, Runtime]:
    """Create the app and start its runtime from the end of the topics."""
    await skip_history(f"{settings.service_name}.mails", CONSUMED)
    app = create_app(settings)
    rt: Runtime = app.state.runtime
    await rt.start()
    await asyncio.wait_for(rt.broker_ready.wait(), 30)
    return app, rt


async def stopped(rt: Runtime) -> None:
    """Stop the runtime and drop the test's database."""
    await rt.mongo.drop_database(rt.settings.database_name)
    await rt.stop()


@pytest.fixture(scope="module")
async def service() -> AsyncIterator[tuple[Any, Runtime]]:
    """One notifications service for the tests of this module, on the real SMTP sink."""
    app, rt = await started(isolated_settings())
    yield app, rt
    await stopped(rt)


def with_id(message_id: str) -> Any:
    def match(msg: EmailMessage) -> bool:
        return str(msg["Message-ID"]) == message_id

    return match


def acceptee(ref: str) -> DemandeAccepteeV1:
    return DemandeAccepteeV1(
        demande_message_id=uuid.uuid4(),
        demande_type="DemandeChangementFournisseur",
        reference_affaire=ref,
        pds=f"PDS-{ref}-EC1",
        message="Votre changement de fournisseur est enregistré.",
    )


def new_ref() -> str:
    return "A" + uuid.uuid4().hex[:8].upper()


async def test_demande_acceptee_mails_the_supplier_with_the_affaire_reference(bus: Bus, service: tuple[Any, Runtime]) -> None:
    ref = new_ref()
    env = await bus.send(acceptee(ref), fournisseur="LUMEN")
    mid = message_id_mail(env.message_id, "demande_acceptee")
    [mail] = await wait_for_mails(with_id(mid), timeout=30)
    assert mail["To"] == "gestion@lumen.example"
    assert str(mail["Subject"]) == f"[GRD] Demande enregistrée – affaire {ref}"
    assert ref in mail.get_content()
    [event] = await wait_for_messages(topics.NOTIFICATIONS.name, lambda d: d["payload"].get("email_message_id") == mid, timeout=30)
    assert event["payload"]["destinataires"] == ["gestion@lumen.example"]
    assert event["causation_id"] == str(env.message_id)


async def test_same_event_twice_sends_one_mail(bus: Bus, service: tuple[Any, Runtime]) -> None:
    ref = new_ref()
    env = await bus.send(acceptee(ref), fournisseur="VOLTA")
    await bus.send_envelope(env, topics.DEMANDES_RESULTATS.name)
    mid = message_id_mail(env.message_id, "demande_acceptee")
    await wait_for_mails(with_id(mid), timeout=30)
    # A marker published after the duplicate proves the duplicate was consumed before we count.
    marker = await bus.send(acceptee(new_ref()), fournisseur="VOLTA", key=env.key)
    await wait_for_mails(with_id(message_id_mail(marker.message_id, "demande_acceptee")), timeout=30)
    assert len(mails(with_id(mid))) == 1


async def test_refusal_mails_code_and_message(bus: Bus, service: tuple[Any, Runtime]) -> None:
    refus = DemandeRefuseeV1(
        demande_message_id=uuid.uuid4(),
        demande_type="DemandeMiseEnService",
        pds=f"PDS-{new_ref()}-EC1",
        code="NIVEAU_ACCES_INSUFFISANT",
        message="Déclarez un contrat conclu avant de demander une mise en service.",
        etape="referentiel",
    )
    env = await bus.send(refus, fournisseur="WATTPLUS")
    [mail] = await wait_for_mails(with_id(message_id_mail(env.message_id, "demande_refusee")), timeout=30)
    assert mail["To"] == "backoffice@wattplus.example"
    assert "NIVEAU_ACCES_INSUFFISANT" in str(mail["Subject"])
    assert "Déclarez un contrat conclu" in mail.get_content()


async def test_express_affaire_mails_the_grd_team(bus: Bus, service: tuple[Any, Runtime]) -> None:
    ref = new_ref()
    creee = AffaireStatutChangeV1(
        reference_affaire=ref,
        type_affaire=TypeAffaire.MISE_EN_SERVICE,
        pds=f"PDS-{ref}-EC1",
        statut=StatutAffaire.EN_COURS,
        etat="creee",
        express=True,
    )
    env = await bus.send(creee, fournisseur="ELEC_AZUR")
    [mail] = await wait_for_mails(with_id(message_id_mail(env.message_id, "demande_express")), timeout=30)
    assert mail["To"] == "equipe-acheminement@grd.example"
    assert str(mail["Subject"]) == f"[GRD] Demande express – affaire {ref}"
    assert "ELEC_AZUR" in mail.get_content()


async def test_unknown_supplier_is_skipped_and_operator_lists_mails(bus: Bus, service: tuple[Any, Runtime]) -> None:
    app, _rt = service
    ref = new_ref()
    inconnu = await bus.send(acceptee(ref), fournisseur="INCONNU")
    connu = await bus.send(acceptee(ref), fournisseur="LUMEN", key=inconnu.key)
    await wait_for_mails(with_id(message_id_mail(connu.message_id, "demande_acceptee")), timeout=30)
    assert mails(with_id(message_id_mail(inconnu.message_id, "demande_acceptee"))) == []
    # Skipped, not failed: nothing of it went to the dead-letter topic.
    assert not [v for _d, _h, v in await read_topic(DLQ.name) if str(inconnu.message_id).encode() in v]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        # A supplier sees its own e-mails, and no other supplier's. Its list entry is written after the e-mail is
        # recorded and announced, a moment after the sink received it.
        deadline = time.monotonic() + 10
        while not (own := await client.get("/mails", params={"reference_affaire": ref}, auth=("LUMEN", "demo-lumen"))).json():
            assert time.monotonic() < deadline, "the e-mail never reached the supplier's list"
            await asyncio.sleep(0.1)
        assert own.status_code == 200 and [m["message_id"] for m in own.json()] == [message_id_mail(connu.message_id, "demande_acceptee")]
        other = await client.get("/mails", params={"reference_affaire": ref}, auth=("VOLTA", "demo-volta"))
        assert other.status_code == 200 and other.json() == []
        refused = await client.get("/mails", params={"fournisseur": "LUMEN"}, auth=("VOLTA", "demo-volta"))
        assert refused.status_code == 403
        listed = await client.get("/mails", params={"reference_affaire": ref}, auth=("GRD", "demo-operateur-grd"))
    assert listed.status_code == 200
    [row] = listed.json()
    assert row["message_id"] == message_id_mail(connu.message_id, "demande_acceptee")
    assert row["status"] == "sent"
    assert row["recipients"] == ["gestion@lumen.example"]


async def test_a_redelivered_event_writes_the_missing_index_entry_without_a_second_mail(bus: Bus, service: tuple[Any, Runtime]) -> None:
    # A crash between the mail's record and its supplier's index entry leaves the entry missing; the event, whose
    # offset was not committed, comes again: its handling finds the mail sent, writes the entry, sends nothing.
    app, rt = service
    ref = new_ref()
    env = await bus.send(acceptee(ref), fournisseur="LUMEN")
    mid = message_id_mail(env.message_id, "demande_acceptee")
    index = rt.db[f"{INDEX_MAILS}_LUMEN"]
    deadline = time.monotonic() + 30
    while await index.find_one({"_id": mid}) is None:
        assert time.monotonic() < deadline, "the e-mail was never indexed"
        await asyncio.sleep(0.2)
    await index.delete_one({"_id": mid})
    await bus.send_envelope(env, topics.DEMANDES_RESULTATS.name)
    deadline = time.monotonic() + 30
    while (entry := await index.find_one({"_id": mid})) is None:
        assert time.monotonic() < deadline, "the redelivery never wrote the index entry again"
        await asyncio.sleep(0.2)
    assert (entry["status"], entry["reference_affaire"], entry["recipients"]) == ("sent", ref, ["gestion@lumen.example"])
    assert len(mails(with_id(mid))) == 1
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        own = await client.get("/mails", params={"reference_affaire": ref}, auth=("LUMEN", "demo-lumen"))
    assert [m["message_id"] for m in own.json()] == [mid]


class Collector:
    """aiosmtpd handler keeping the received messages in memory."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope.original_content or envelope.content)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_smtp_down_then_back_delivers_exactly_once(bus: Bus) -> None:
    port = free_port()
    _app, rt = await started(isolated_settings(smtp_port=port, smtp_timeout_s=2))
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    try:
        ref = new_ref()
        env = await bus.send(acceptee(ref), fournisseur="LUMEN")
        await bus.send_envelope(env, topics.DEMANDES_RESULTATS.name)
        mid = message_id_mail(env.message_id, "demande_acceptee")
        deadline = time.monotonic() + 20
        labels = {"service": rt.metrics.service, "kind": "transitoire"}
        while (rt.metrics.registry.get_sample_value("grd_retries_total", labels) or 0) < 2:
            assert time.monotonic() < deadline, "the handler never retried while SMTP was down"
            await asyncio.sleep(0.2)
        controller.start()
        deadline = time.monotonic() + 20
        while not collector.received:
            assert time.monotonic() < deadline, "the mail never arrived once SMTP came back"
            await asyncio.sleep(0.2)
        marker = await bus.send(acceptee(new_ref()), fournisseur="LUMEN", key=env.key)
        marker_mid = message_id_mail(marker.message_id, "demande_acceptee")
        deadline = time.monotonic() + 20
        while not any(marker_mid.encode() in raw for raw in collector.received):
            assert time.monotonic() < deadline, "the marker mail never arrived"
            await asyncio.sleep(0.2)
        assert sum(mid.encode() in raw for raw in collector.received) == 1
        doc = await mail_record(rt, mid)
        assert doc is not None and doc["status"] == "sent"
    finally:
        controller.stop()
        await stopped(rt)


async def test_second_planning_of_an_appointment_is_a_modification(bus: Bus, service: tuple[Any, Runtime]) -> None:
    ref = new_ref()
    pds = f"PDS-{ref}-EC1"

    def rdv(heure: int) -> InterventionStatutChangeV1:
        return InterventionStatutChangeV1(
            reference_affaire=ref,
            pds=pds,
            statut=StatutIntervention.PLANIFIEE,
            mode=ModeIntervention.CRENEAU,
            debut=datetime(2026, 3, 3, heure, 0, tzinfo=UTC),
            fin=datetime(2026, 3, 3, heure + 2, 0, tzinfo=UTC),
        )

    premier = await bus.send(rdv(7), fournisseur="LUMEN")
    second = await bus.send(rdv(12), fournisseur="LUMEN")
    [planifie] = await wait_for_mails(with_id(message_id_mail(premier.message_id, "rdv_planifie")), timeout=30)
    [modifie] = await wait_for_mails(with_id(message_id_mail(second.message_id, "rdv_modifie")), timeout=30)
    assert str(planifie["Subject"]) == f"[GRD] Rendez-vous planifié – affaire {ref}"
    assert "de 08h00 à 10h00" in planifie.get_content()
    assert str(modifie["Subject"]) == f"[GRD] Rendez-vous modifié – affaire {ref}"
    assert "de 13h00 à 15h00" in modifie.get_content()


async def test_previous_supplier_is_told_of_its_loss_through_a_cf(bus: Bus, service: tuple[Any, Runtime]) -> None:
    ref = new_ref()
    cesse = ContratEtatChangeV1(
        contrat_id=f"CTR-{ref}",
        pds=f"PDS-{ref}-EC1",
        titulaire="VOLTA",
        etat=EtatContrat.CESSE,
        reference_affaire=ref,
        date_effet=date(2026, 3, 3),
    )
    env = await bus.send(cesse, fournisseur="LUMEN")
    [mail] = await wait_for_mails(with_id(message_id_mail(env.message_id, "perte_pds_changement_fournisseur")), timeout=30)
    assert mail["To"] == "operations@volta.example"
    assert "mardi 3 mars 2026" in mail.get_content()


class Refuser(Collector):
    """aiosmtpd handler refusing every recipient for good."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        return "550 5.1.1 Destinataire inconnu"


async def mail_record(rt: Runtime, message_id: str) -> dict[str, Any] | None:
    """The record of one e-mail in its partition of the `mails` store."""
    store = AggregateStore.partitioned(rt.db, "mails", rt.settings.partitions)  # type: ignore[attr-defined]
    return await store.collection_for(message_id).find_one({"_id": message_id})


async def test_permanent_refusal_is_recorded_without_retry(bus: Bus) -> None:
    port = free_port()
    refuser = Refuser()
    controller = Controller(refuser, hostname="127.0.0.1", port=port)
    controller.start()
    _app, rt = await started(isolated_settings(smtp_port=port))
    try:
        env = await bus.send(acceptee(new_ref()), fournisseur="LUMEN")
        mid = message_id_mail(env.message_id, "demande_acceptee")
        deadline = time.monotonic() + 20
        while (doc := await mail_record(rt, mid)) is None:
            assert time.monotonic() < deadline, "the refusal was never recorded"
            await asyncio.sleep(0.2)
        assert doc["status"] == "refused"
        assert "550" in doc["error"]
        assert not doc["_outbox"]
        # Its supplier's list entry, written after the record.
        while (entry := await rt.db[f"{INDEX_MAILS}_LUMEN"].find_one({"_id": mid})) is None:
            assert time.monotonic() < deadline, "the refusal was never indexed"
            await asyncio.sleep(0.2)
        assert entry["status"] == "refused" and "550" in entry["error"]
        labels = {"service": rt.metrics.service, "kind": "transitoire"}
        assert (rt.metrics.registry.get_sample_value("grd_retries_total", labels) or 0) == 0
    finally:
        controller.stop()
        await stopped(rt)


class Rendezvous:
    """aiosmtpd handler that answers the first DATA only once a second transaction has reached DATA too."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.second = asyncio.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope.original_content or envelope.content)
        if len(self.received) == 1:
            await asyncio.wait_for(self.second.wait(), 5)
        else:
            self.second.set()
        return "250 OK"


async def test_messages_are_sent_over_parallel_connections() -> None:
    from services.notifications.smtp import SmtpSender

    port = free_port()
    handler = Rendezvous()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    sender = SmtpSender(isolated_settings(smtp_port=port, smtp_timeout_s=10, smtp_connexions=2))

    def message(n: int) -> EmailMessage:
        m = EmailMessage()
        m["From"], m["To"], m["Subject"], m["Message-ID"] = "grd@grd.example", "f@lumen.example", f"m{n}", f"<m{n}@test>"
        m.set_content("x")
        return m

    try:
        # With one connection the first transaction would wait for a second that cannot start: 5 s, then a 451.
        envois = await asyncio.wait_for(asyncio.gather(sender.send(message(1)), sender.send(message(2))), 8)
        assert [e.refuses for e in envois] == [{}, {}] and len(handler.received) == 2
    finally:
        await sender.close()
        controller.stop()
