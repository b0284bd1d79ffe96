"""Consumer `mails`: turns outcomes, affaire, intervention and contract events into e-mails sent exactly once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

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
from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore
from services.notifications.domain import Evenement, MailPrevu, SuiviAffaire, decider, fournisseur_concerne, message_id_mail
from services.notifications.rendering import Renderer
from services.notifications.settings import Settings
from services.notifications.smtp import SmtpIndisponible, SmtpRefus, SmtpSender
from services.notifications.store import Destinataires, indexer_mail

log = logging.getLogger(__name__)


class Notifications:
    """The use case behind every handled event: decide, send each e-mail once, remember the affaire's follow-up."""

    def __init__(
        self,
        rt: Runtime,
        settings: Settings,
        mails: AggregateStore,
        suivis: AggregateStore,
        destinataires: Destinataires,
        sender: SmtpSender,
        renderer: Renderer,
    ) -> None:
        self.rt = rt
        self.settings = settings
        self.mails = mails
        self.suivis = suivis
        self.destinataires = destinataires
        self.sender = sender
        self.renderer = renderer

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
            await self.rt.commit(self.suivis, suivi_loaded, decision.suivi.to_doc(), ctx, [])

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
        now = datetime.now(UTC)
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
            await indexer_mail(self.rt.db, message_id, state)
            await self.rt.commit(self.mails, loaded, state, ctx, [])
            return
        if envoi.refuses:
            log.warning("destinataires refusés: %s", envoi.refuses, extra={"fields": {"message_id": message_id}})
        state.update(status="sent", sent_at=now, refused_recipients=envoi.refuses)
        # The supplier's mail index first (idempotent): a crash before the commit resends under the same Message-ID
        # and writes the entry again.
        await indexer_mail(self.rt.db, message_id, state)
        await self.rt.commit(self.mails, loaded, state, ctx, [evenement])


def _reference_suivie(evenement: Evenement) -> str | None:
    if isinstance(evenement, AffaireStatutChangeV1 | InterventionStatutChangeV1):
        return evenement.reference_affaire
    if isinstance(evenement, ContratEtatChangeV1):
        return evenement.reference_affaire
    return None


def register(rt: Runtime, notifications: Notifications) -> None:
    """Create the `mails` consumer and bind its thin typed handlers."""
    from contracts import topics

    # Idempotent through the e-mail documents (one per Message-ID, sent once) and the affaire follow-up: no inbox.
    consumer = rt.consumer(
        "mails",
        topics.DEMANDES_RESULTATS,
        topics.AFFAIRES_EVENEMENTS,
        topics.INTERVENTIONS_EVENEMENTS,
        topics.CONTRATS_EVENEMENTS,
        inbox=False,
    )

    @consumer.handles(DemandeAccepteeV1)
    async def demande_acceptee(ctx: HandlerContext, ev: DemandeAccepteeV1) -> None:
        await notifications.handle(ctx, ev)

    @consumer.handles(DemandeRefuseeV1)
    async def demande_refusee(ctx: HandlerContext, ev: DemandeRefuseeV1) -> None:
        await notifications.handle(ctx, ev)

    @consumer.handles(AffaireStatutChangeV1)
    async def affaire_statut_change(ctx: HandlerContext, ev: AffaireStatutChangeV1) -> None:
        await notifications.handle(ctx, ev)

    @consumer.handles(InterventionStatutChangeV1)
    async def intervention_statut_change(ctx: HandlerContext, ev: InterventionStatutChangeV1) -> None:
        await notifications.handle(ctx, ev)

    @consumer.handles(ContratEtatChangeV1)
    async def contrat_etat_change(ctx: HandlerContext, ev: ContratEtatChangeV1) -> None:
        await notifications.handle(ctx, ev)
