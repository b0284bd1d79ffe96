"""The notifications use case on the in-memory port: each e-mail sent once, relay failures, follow-up, concurrent writes."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from contracts.common import StatutAffaire
from contracts.evenements import NotificationEnvoyeeV1
from platform_kit.errors import TransientError
from platform_kit.store import Loaded, UnitOfWork
from platform_kit.testing import MemoryAggregates, MemoryKit
from services.notifications.domain import message_id_mail
from services.notifications.handlers import Notifications
from services.notifications.rendering import Renderer
from services.notifications.settings import Settings
from services.notifications.smtp import Envoi, SmtpIndisponible, SmtpRefus
from tests.unit.test_notifications_domain import GRD, LUMEN, REF, accepte, affaire, contrat, intervention, refuse

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class Relais:
    """The SMTP relay in memory: records what it accepted; `panne` makes the next sends fail with that error."""

    def __init__(self) -> None:
        self.envoyes: list[EmailMessage] = []
        self.panne: Exception | None = None

    async def send(self, message: EmailMessage) -> Envoi:
        if self.panne is not None:
            raise self.panne
        self.envoyes.append(message)
        return Envoi(refuses={})


class Lus(MemoryAggregates):
    """MemoryAggregates counting the reads (a read on the normal path is a store command the handler pays)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.lectures = 0

    async def load(self, aggregate_id: str, work: UnitOfWork | None = None) -> Loaded:
        self.lectures += 1
        return await super().load(aggregate_id, work)


class Annuaire:
    """Supplier addresses: LUMEN only."""

    async def adresse(self, code: str) -> str | None:
        return {"LUMEN": LUMEN}.get(code)


class Harness:
    """The use case wired on a MemoryKit with its two stores, a fake relay and an in-memory mail index."""

    def __init__(self) -> None:
        self.kit = MemoryKit(now=NOW, service="notifications")
        self.mails = Lus("mails")
        self.suivis = Lus("suivi_affaires")
        self.relais = Relais()
        self.index: dict[str, dict[str, Any]] = {}
        #: The next index write fails with this (a crash between the record's commit and its index entry).
        self.panne_index: Exception | None = None
        #: Per index write: (Message-ID, record there already, events published so far).
        self.ordre: list[tuple[str, bool, int]] = []
        self.notifications = Notifications(
            self.kit,
            Settings(adresse_equipe_grd=GRD),
            mails=self.mails,
            suivis=self.suivis,
            destinataires=Annuaire(),
            sender=self.relais,
            renderer=Renderer(),
            indexer_mail=self.indexer,
        )

    async def indexer(self, message_id: str, state: dict[str, Any]) -> None:
        if self.panne_index is not None:
            panne, self.panne_index = self.panne_index, None
            raise panne
        # Written after the record and its announcement (off the path to NotificationEnvoyee).
        self.ordre.append((message_id, self.mails.state(message_id) is not None, len(self.kit.published)))
        self.index[message_id] = dict(state)

    def modeles(self) -> list[str]:
        return [str(m["X-GRD-Modele"]) for m in self.relais.envoyes]


@pytest.fixture
def h() -> Harness:
    return Harness()


async def test_an_accepted_demand_is_mailed_once_recorded_indexed_and_announced(h: Harness) -> None:
    ctx = h.kit.context(accepte(), fournisseur="LUMEN")
    await h.kit.deliver(h.notifications.handle, ctx)
    await h.kit.deliver(h.notifications.handle, h.kit.redelivery(ctx))
    mid = message_id_mail(ctx.envelope.message_id, "demande_acceptee")
    assert [str(m["Message-ID"]) for m in h.relais.envoyes] == [mid] and h.relais.envoyes[0]["To"] == LUMEN
    record = h.mails.state(mid)
    assert record is not None and (record["status"], record["sent_at"], record["fournisseur"]) == ("sent", NOW, "LUMEN")
    assert h.index[mid]["status"] == "sent"
    [annonce] = h.kit.payloads(NotificationEnvoyeeV1)
    assert (annonce.email_message_id, annonce.destinataires) == (mid, (LUMEN,))


async def test_a_supplier_without_address_gets_nothing(h: Harness) -> None:
    await h.kit.deliver(h.notifications.handle, h.kit.context(refuse(), fournisseur="INCONNU"))
    assert h.relais.envoyes == [] and h.mails.ids() == [] and h.kit.published == []


async def test_an_unreachable_relay_is_retried_later_and_the_mail_then_sent_once(h: Harness) -> None:
    ctx = h.kit.context(refuse(), fournisseur="LUMEN")
    h.relais.panne = SmtpIndisponible("connexion refusée")
    with pytest.raises(TransientError):
        await h.kit.deliver(h.notifications.handle, ctx)
    assert h.mails.ids() == [] and h.kit.published == []
    h.relais.panne = None
    await h.kit.deliver(h.notifications.handle, h.kit.redelivery(ctx))
    assert h.modeles() == ["demande_refusee"] and len(h.kit.payloads(NotificationEnvoyeeV1)) == 1


async def test_a_mail_refused_for_good_is_recorded_refused_and_not_resent(h: Harness) -> None:
    ctx = h.kit.context(accepte(), fournisseur="LUMEN")
    h.relais.panne = SmtpRefus(550, "boîte inconnue")
    await h.kit.deliver(h.notifications.handle, ctx)
    h.relais.panne = None
    await h.kit.deliver(h.notifications.handle, h.kit.redelivery(ctx))
    record = h.mails.state(message_id_mail(ctx.envelope.message_id, "demande_acceptee"))
    assert record is not None and record["status"] == "refused" and "550" in record["error"]
    assert h.relais.envoyes == [] and h.kit.published == []


async def test_a_milestone_is_mailed_once_per_affaire_and_the_follow_up_remembers_it(h: Harness) -> None:
    for _ in range(2):  # affaires reports the end twice (terminee, then soldee): two messages, one e-mail
        await h.kit.deliver(h.notifications.handle, h.kit.context(affaire(statut=StatutAffaire.TERMINEE, etat="terminee"), fournisseur="LUMEN"))
    assert h.modeles() == ["affaire_terminee"]
    suivi = h.suivis.state(REF)
    assert suivi is not None and suivi["jalons"] == ["terminee"] and suivi["type_affaire"] == "changement_fournisseur"


async def test_the_follow_up_written_concurrently_is_decided_again_without_a_second_mail(h: Harness) -> None:
    h.suivis.interleave(REF, {"type_affaire": "changement_fournisseur", "rdv_planifie": True, "jalons": ["express"]})
    ctx = h.kit.context(affaire(statut=StatutAffaire.ANNULEE, etat="annulee"), fournisseur="LUMEN")
    assert await h.kit.deliver(h.notifications.handle, ctx) == 1
    assert h.modeles() == ["affaire_annulee"]
    assert h.suivis.state(REF) == {"type_affaire": "changement_fournisseur", "rdv_planifie": True, "jalons": ["express", "annulee"]}


async def test_the_holder_who_loses_the_pds_to_a_change_of_supplier_is_told(h: Harness) -> None:
    await h.kit.deliver(h.notifications.handle, h.kit.context(contrat(), fournisseur="VOLTA"))
    assert h.modeles() == ["perte_pds_changement_fournisseur"] and h.relais.envoyes[0]["To"] == LUMEN


async def test_an_accepted_demand_reads_its_mail_record_once_before_sending(h: Harness) -> None:
    # The read is the check that keeps a redelivered acceptance from sending its e-mail again.
    await h.kit.deliver(h.notifications.handle, h.kit.context(accepte(), fournisseur="LUMEN"))
    assert (h.mails.lectures, h.suivis.lectures, h.modeles()) == (1, 0, ["demande_acceptee"])


async def test_an_affaire_opening_creates_its_follow_up_without_reading_it(h: Harness) -> None:
    ctx = h.kit.context(affaire(), fournisseur="LUMEN")
    await h.kit.deliver(h.notifications.handle, ctx)
    assert (h.suivis.lectures, h.mails.lectures, h.relais.envoyes) == (0, 0, [])
    assert h.suivis.state(REF) == {"type_affaire": "changement_fournisseur", "rdv_planifie": False, "jalons": []}
    await h.kit.deliver(h.notifications.handle, h.kit.redelivery(ctx))
    assert h.suivis.version(REF) == 1 and h.kit.commits == [("suivi_affaires", REF, str(ctx.envelope.message_id))]


async def test_an_express_opening_mails_the_grd_once_without_any_read_then_a_redelivery_sends_nothing(h: Harness) -> None:
    ctx = h.kit.context(affaire(express=True), fournisseur="LUMEN")
    await h.kit.deliver(h.notifications.handle, ctx)
    assert (h.suivis.lectures, h.mails.lectures, h.modeles()) == (0, 0, ["demande_express"])
    await h.kit.deliver(h.notifications.handle, h.kit.redelivery(ctx))
    assert h.modeles() == ["demande_express"] and len(h.kit.payloads(NotificationEnvoyeeV1)) == 1
    suivi = h.suivis.state(REF)
    assert suivi is not None and suivi["jalons"] == ["express"]


async def test_an_express_opening_whose_relay_was_down_sends_its_mail_on_the_retry_once(h: Harness) -> None:
    ctx = h.kit.context(affaire(express=True), fournisseur="LUMEN")
    h.relais.panne = SmtpIndisponible("connexion refusée")
    with pytest.raises(TransientError):
        await h.kit.deliver(h.notifications.handle, ctx)
    assert h.mails.ids() == [] and h.suivis.state(REF) is not None  # the follow-up came first on this path
    h.relais.panne = None
    await h.kit.deliver(h.notifications.handle, h.kit.redelivery(ctx))
    await h.kit.deliver(h.notifications.handle, h.kit.redelivery(ctx))
    assert h.modeles() == ["demande_express"] and len(h.kit.payloads(NotificationEnvoyeeV1)) == 1


async def test_an_opening_after_the_affaire_s_appointment_decides_on_the_follow_up_that_exists(h: Harness) -> None:
    # The intervention's event (another topic) came first and created the follow-up: the opening reads it.
    await h.kit.deliver(h.notifications.handle, h.kit.context(intervention(), fournisseur="LUMEN"))
    ctx = h.kit.context(affaire(), fournisseur="LUMEN")
    await h.kit.deliver(h.notifications.handle, ctx)
    assert h.suivis.state(REF) == {"type_affaire": "changement_fournisseur", "rdv_planifie": True, "jalons": []}
    await h.kit.deliver(h.notifications.handle, h.kit.redelivery(ctx))
    assert h.modeles() == ["rdv_planifie"] and h.suivis.version(REF) == 2


async def test_the_index_entry_is_written_after_the_record_and_its_announcement(h: Harness) -> None:
    ctx = h.kit.context(accepte(), fournisseur="LUMEN")
    await h.kit.deliver(h.notifications.handle, ctx)
    assert h.ordre == [(message_id_mail(ctx.envelope.message_id, "demande_acceptee"), True, 1)]


async def test_an_index_entry_missing_after_a_crash_is_written_again_by_the_redelivery_without_a_second_mail(h: Harness) -> None:
    ctx = h.kit.context(accepte(), fournisseur="LUMEN")
    mid = message_id_mail(ctx.envelope.message_id, "demande_acceptee")
    h.panne_index = ConnectionError("processus arrêté")
    with pytest.raises(ConnectionError):
        await h.kit.deliver(h.notifications.handle, ctx)
    record = h.mails.state(mid)
    assert record is not None and record["status"] == "sent" and mid not in h.index
    assert len(h.kit.payloads(NotificationEnvoyeeV1)) == 1  # announced before the index write
    await h.kit.deliver(h.notifications.handle, h.kit.redelivery(ctx))
    assert h.index[mid]["status"] == "sent" and h.index[mid]["fournisseur"] == "LUMEN"
    assert [str(m["Message-ID"]) for m in h.relais.envoyes] == [mid] and len(h.kit.payloads(NotificationEnvoyeeV1)) == 1


async def test_a_refused_mail_s_missing_index_entry_is_written_again_by_the_redelivery(h: Harness) -> None:
    ctx = h.kit.context(accepte(), fournisseur="LUMEN")
    mid = message_id_mail(ctx.envelope.message_id, "demande_acceptee")
    h.relais.panne = SmtpRefus(550, "boîte inconnue")
    h.panne_index = ConnectionError("processus arrêté")
    with pytest.raises(ConnectionError):
        await h.kit.deliver(h.notifications.handle, ctx)
    h.relais.panne = None
    assert mid not in h.index
    await h.kit.deliver(h.notifications.handle, h.kit.redelivery(ctx))
    assert h.index[mid]["status"] == "refused" and "550" in h.index[mid]["error"]
    assert h.relais.envoyes == [] and h.kit.published == []
