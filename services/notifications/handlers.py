"""Consumer `mails`: turns outcomes, affaire, intervention and contract events into e-mails sent exactly once."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any, Protocol

from contracts import topics
from contracts.evenements import (
    AffaireStatutChangeV1,
    ContratEtatChangeV1,
    DemandeAccepteeV1,
    DemandeRefuseeV1,
    InterventionStatutChangeV1,
    NotificationEnvoyeeV1,
)
from platform_kit.errors import TransientError
from platform_kit.messaging import HandlerContext
from platform_kit.ports import Aggregates, HandlerPort
from platform_kit.runtime import Runtime
from services.notifications.domain import Evenement, MailPrevu, SuiviAffaire, decider, fournisseur_concerne, message_id_mail
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
    already sent and the follow-up already applied.
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
        suivi_loaded = await ctx.load(self.suivis, ref) if ref else None
        if suivi_loaded is not None and suivi_loaded.applied(env.message_id):
            return
        suivi = SuiviAffaire.from_doc(suivi_loaded.state) if suivi_loaded else SuiviAffaire()
        fournisseur = fournisseur_concerne(evenement, env.fournisseur)
        adresse = await self.destinataires.adresse(fournisseur) if fournisseur else None
        decision = decider(
            evenement,
            fournisseur=fournisseur,
            adresse_fournisseur=adresse,
            adresse_grd=self.settings.adresse_equipe_grd,
            suivi=suivi,
            fournisseur_enveloppe=env.fournisseur,
        )
        for raison in decision.ignores:
            log.warning("e-mail non envoyé: %s", raison, extra={"fields": {"message_id": str(env.message_id)}})
        for mail in decision.mails:
            await self._envoyer_une_fois(ctx, mail, fournisseur)
        if suivi_loaded is not None and decision.suivi != suivi:
            await self.kit.commit(self.suivis, suivi_loaded, decision.suivi.to_doc(), ctx, [])

    async def _envoyer_une_fois(self, ctx: HandlerContext, mail: MailPrevu, fournisseur: str | None) -> None:
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
        loaded = await ctx.load(self.mails, message_id)
        if loaded.state.get("status") in ("sent", "refused"):
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
            await self.indexer_mail(message_id, state)
            await self.kit.commit(self.mails, loaded, state, ctx, [])
            return
        if envoi.refuses:
            log.warning("destinataires refusés: %s", envoi.refuses, extra={"fields": {"message_id": message_id}})
        state.update(status="sent", sent_at=now, refused_recipients=envoi.refuses)
        # The supplier's mail index first (idempotent): a crash before the commit resends under the same Message-ID
        # and writes the entry again.
        await self.indexer_mail(message_id, state)
        await self.kit.commit(self.mails, loaded, state, ctx, [evenement])



def _reference_suivie(evenement: Evenement) -> str | None:
    if isinstance(evenement, AffaireStatutChangeV1 | InterventionStatutChangeV1 | ContratEtatChangeV1):
        return evenement.reference_affaire
    return None
