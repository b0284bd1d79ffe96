"""Consumer `mails`: turns outcomes, affaire, intervention and contract events into e-mails sent exactly once."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any, Protocol

from contracts import topics
from contracts.common import EtatAffaire
from contracts.evenements import (
    AffaireStatutChangeV1,
    ContratEtatChangeV1,
    DemandeAccepteeV1,
    DemandeRefuseeV1,
    InterventionStatutChangeV1,
    NotificationEnvoyeeV1,
)
from platform_kit.errors import TransientError
from platform_kit.messaging import HandlerContext, Outgoing
from platform_kit.ports import Aggregates, HandlerPort
from platform_kit.runtime import Runtime
from platform_kit.store import ConcurrencyConflict, Loaded
from services.notifications.domain import Decision, Evenement, MailPrevu, SuiviAffaire, decider, fournisseur_concerne, message_id_mail
from services.notifications.rendering import Renderer
from services.notifications.settings import Settings
from services.notifications.smtp import Envoi, SmtpIndisponible, SmtpRefus

log = logging.getLogger(__name__)

#: The e-mail types the `mails` consumer handles (one use case for all).
EVENEMENTS: tuple[type[Evenement], ...] = (
    DemandeAccepteeV1,
    DemandeRefuseeV1,
    AffaireStatutChangeV1,
    InterventionStatutChangeV1,
    ContratEtatChangeV1,
)

#: Records one e-mail in its supplier's list index (store.indexer_mail bound to the database); idempotent.
IndexMail = Callable[[str, dict[str, Any]], Awaitable[None]]


class Annuaire(Protocol):
    """Supplier addresses (store.Destinataires)."""

    async def adresse(self, code: str) -> str | None:
        """The address to write to for a supplier code, None when unknown."""
        ...


class Relais(Protocol):
    """The SMTP relay (smtp.SmtpSender)."""

    async def send(self, message: EmailMessage) -> Envoi:
        """Send one message; raise SmtpIndisponible (retry) or SmtpRefus (permanent)."""
        ...


class Notifications:
    """The use case behind every handled event: decide, send each e-mail once, remember the affaire's follow-up.

    Not `handling.decide`: an event causes e-mails (each its own record, sent and committed one by one, since the
    relay cannot take part in a commit) before the affaire's follow-up is committed; a redelivery finds the e-mails
    already sent and the follow-up already applied. An affaire's opening, whose follow-up cannot exist yet, creates
    it without reading it first (`_ouvrir`).
    """

    def __init__(
        self,
        kit: HandlerPort,
        settings: Settings,
        mails: Aggregates,
        suivis: Aggregates,
        destinataires: Annuaire,
        sender: Relais,
        renderer: Renderer,
        indexer_mail: IndexMail,
    ) -> None:
        self.kit = kit
        self.settings = settings
        self.mails = mails
        self.suivis = suivis
        self.destinataires = destinataires
        self.sender = sender
        self.renderer = renderer
        self.indexer_mail = indexer_mail

    def register(self, rt: Runtime) -> None:
        """Create the `mails` consumer and bind every handled event type to `handle`."""
        # Idempotent through the e-mail documents (one per Message-ID, sent once) and the affaire follow-up: no inbox.
        consumer = rt.consumer(
            "mails",
            topics.DEMANDES_RESULTATS,
            topics.AFFAIRES_EVENEMENTS,
            topics.INTERVENTIONS_EVENEMENTS,
            topics.CONTRATS_EVENEMENTS,
            inbox=False,
        )
        for model in EVENEMENTS:
            consumer.handles(model)(self.handle)

    async def handle(self, ctx: HandlerContext, evenement: Evenement) -> None:
        """Send the e-mails an event causes, then record the affaire's new follow-up state."""
        env = ctx.envelope
        ref = _reference_suivie(evenement)
        fournisseur = fournisseur_concerne(evenement, env.fournisseur)
        if ref is not None and _ouverture(evenement) and await self._ouvrir(ctx, evenement, ref, fournisseur):
            return
        suivi_loaded = await ctx.load(self.suivis, ref) if ref else None
        if suivi_loaded is not None and suivi_loaded.applied(env.message_id):
            return
        suivi = SuiviAffaire.from_doc(suivi_loaded.state) if suivi_loaded else SuiviAffaire()
        decision = await self._decider(ctx, evenement, fournisseur, suivi)
        for mail in decision.mails:
            await self._envoyer_une_fois(ctx, mail, fournisseur)
        if suivi_loaded is not None and decision.suivi != suivi:
            await self.kit.commit(self.suivis, suivi_loaded, decision.suivi.to_doc(), ctx, [])

    async def _ouvrir(self, ctx: HandlerContext, evenement: Evenement, ref: str, fournisseur: str | None) -> bool:
        """An affaire's opening: its follow-up is new, so it is created without being read (one insert), then the
        e-mails the opening causes are sent. False when the follow-up exists already, created by another event of
        the affaire (an intervention's, from another topic): the caller then decides on what it holds.

        The follow-up is written before the e-mails here (after them on the other path): each e-mail is still sent
        once, through its own record. When this very message created the follow-up already (a redelivery, a retry
        after the relay failed), the e-mails are looked up and sent if they were not; when the create succeeds, no
        earlier handling of the message got past it, so no e-mail of it was sent and none is looked up either.
        """
        decision = await self._decider(ctx, evenement, fournisseur, SuiviAffaire(), journal=False)
        if decision.suivi == SuiviAffaire():
            return False  # nothing to record: whether it exists decides (the other path)
        try:
            nouveau = await self.kit.create(self.suivis, ref, decision.suivi.to_doc(), ctx, [])
        except ConcurrencyConflict:
            return False
        if nouveau:
            self._journaliser(ctx, decision)
        for mail in decision.mails:
            await self._envoyer_une_fois(ctx, mail, fournisseur, inedit=nouveau)
        return True

    async def _decider(
        self, ctx: HandlerContext, evenement: Evenement, fournisseur: str | None, suivi: SuiviAffaire, *, journal: bool = True
    ) -> Decision:
        adresse = await self.destinataires.adresse(fournisseur) if fournisseur else None
        decision = decider(
            evenement,
            fournisseur=fournisseur,
            adresse_fournisseur=adresse,
            adresse_grd=self.settings.adresse_equipe_grd,
            suivi=suivi,
            fournisseur_enveloppe=ctx.envelope.fournisseur,
        )
        if journal:
            self._journaliser(ctx, decision)
        return decision

    @staticmethod
    def _journaliser(ctx: HandlerContext, decision: Decision) -> None:
        for raison in decision.ignores:
            log.warning("e-mail non envoyé: %s", raison, extra={"fields": {"message_id": str(ctx.envelope.message_id)}})

    async def _envoyer_une_fois(self, ctx: HandlerContext, mail: MailPrevu, fournisseur: str | None, *, inedit: bool = False) -> None:
        """Send one e-mail unless its record says it was sent or refused, then record it with its announcement, then
        write its entry in the supplier's mail index (also written again when the record says it was sent or refused).

        `inedit`: no earlier handling of this message can have sent it (see `_ouvrir`): its record is created without
        being read first.
        """
        env = ctx.envelope
        message_id = message_id_mail(env.message_id, mail.modele)
        evenement = ctx.emit(
            NotificationEnvoyeeV1(
                email_message_id=message_id,
                destinataires=mail.destinataires,
                sujet=mail.sujet,
                modele=mail.modele,
                reference_affaire=mail.reference_affaire,
            ),
            fournisseur=fournisseur,
        )
        loaded = None if inedit else await ctx.load(self.mails, message_id)
        if loaded is not None and loaded.state.get("status") in ("sent", "refused"):
            # Sent or refused by an earlier handling of this message, which may have stopped between the record's commit
            # and its index entry: write the entry again from the record (idempotent), so the supplier's list shows it.
            await self.indexer_mail(message_id, loaded.state)
            return
        now = self.kit.now()
        message = self.renderer.message(mail, expediteur=self.settings.expediteur, message_id=message_id, now=now)
        state: dict[str, Any] = {
            "recipients": list(mail.destinataires),
            "subject": mail.sujet,
            "template": mail.modele,
            "reference_affaire": mail.reference_affaire,
            "pds": env.key,
            "fournisseur": fournisseur,
            "cause_message_id": str(env.message_id),
            "cause_type": env.type,
        }
        try:
            envoi = await self.sender.send(message)
        except SmtpIndisponible as exc:
            raise TransientError(f"relais SMTP indisponible: {exc}") from exc
        except SmtpRefus as exc:
            log.error("e-mail refusé définitivement par le relais SMTP: %s", exc, extra={"fields": {"message_id": message_id}})
            state.update(status="refused", error=str(exc), sent_at=now)
            await self._enregistrer(ctx, message_id, loaded, state, [])
            await self.indexer_mail(message_id, state)
            return
        if envoi.refuses:
            log.warning("destinataires refusés: %s", envoi.refuses, extra={"fields": {"message_id": message_id}})
        state.update(status="sent", sent_at=now, refused_recipients=envoi.refuses)
        await self._enregistrer(ctx, message_id, loaded, state, [evenement])
        # The supplier's mail index after the record and its announcement (off the path to `NotificationEnvoyee`): the
        # message's offset is committed only once this returns, so a crash before the entry is written redelivers the
        # message, whose handling finds the record sent and writes the entry then (above).
        await self.indexer_mail(message_id, state)

    async def _enregistrer(self, ctx: HandlerContext, message_id: str, loaded: Loaded | None, state: dict[str, Any], events: list[Outgoing]) -> None:
        # Not read (`inedit`): one insert; read: the commit on what was read (an insert too when it was absent).
        if loaded is None:
            await self.kit.create(self.mails, message_id, state, ctx, events)
        else:
            await self.kit.commit(self.mails, loaded, state, ctx, events)


def _ouverture(evenement: Evenement) -> bool:
    """The first event of an affaire (its creation): its follow-up does not exist yet."""
    return isinstance(evenement, AffaireStatutChangeV1) and evenement.etat == EtatAffaire.CREEE


def _reference_suivie(evenement: Evenement) -> str | None:
    if isinstance(evenement, AffaireStatutChangeV1 | InterventionStatutChangeV1 | ContratEtatChangeV1):
        return evenement.reference_affaire
    return None
