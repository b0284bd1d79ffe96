"""Thin typed handlers of the affaires consumers: load the aggregate, let the domain decide, commit state + events."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import date

from contracts import topics
from contracts.demandes import DemandeAnnulationV1, DemandeDiverseV1, DemandeInterventionTechniqueV1, DemandeReclamationV1
from contracts.evenements import (
    AffaireSoldeeV1,
    ContratEtatChangeV1,
    DemandeQualifieeV1,
    DemandeRefuseeV1,
    InterventionStatutChangeV1,
    OuvertureAffaireDemandeeV1,
)
from contracts.references import reference_affaire
from platform_kit.messaging import HandlerContext
from platform_kit.outcomes import ERREUR_TECHNIQUE, MESSAGE_ERREUR_TECHNIQUE
from platform_kit.runtime import Runtime
from platform_kit.store import ConcurrencyConflict, Loaded
from services.affaires import domain
from services.affaires.domain import Affaire, Decision, Refus
from services.affaires.settings import Settings
from services.affaires.store import AffairesStore

log = logging.getLogger(__name__)


#: References tried for one demand before giving up (each further one only after a collision, ~1e-10 per affaire).
MAX_ESSAIS_REFERENCE = 4


def _demande_de(loaded: Loaded) -> str | None:
    """The id of the demand that opened a loaded affaire."""
    generalites = loaded.state.get("generalites") or {}
    return str(generalites.get("demande_message_id")) if generalites.get("demande_message_id") else None


def _sous_reference(resultat: Decision, reference: str) -> Decision:
    """The same decision for an affaire under another reference (its events say the new one)."""
    ancienne = resultat.affaire.reference
    evenements = [
        e.model_copy(update={"reference_affaire": reference}) if getattr(e, "reference_affaire", None) == ancienne else e for e in resultat.evenements
    ]
    return replace(resultat, affaire=resultat.affaire.model_copy(update={"reference": reference}), evenements=evenements)


class AffairesHandlers:
    """The service's use cases, one per message type, wired on its three consumer groups."""

    def __init__(self, rt: Runtime, store: AffairesStore, settings: Settings, aujourdhui: Callable[[], date]) -> None:
        self.rt = rt
        self.store = store
        self.settings = settings
        self.aujourdhui = aujourdhui

    def brancher(self) -> None:
        """Register the consumers and their handlers on the runtime."""
        commandes = self.rt.consumer("commandes", topics.AFFAIRES_COMMANDES)
        commandes.handles(OuvertureAffaireDemandeeV1)(self.ouverture)
        # Idempotent through the affaire (its reference derives from the demand) or the refus document: no separate inbox.
        demandes = self.rt.consumer("demandes", topics.QUALIFIEES_AFFAIRES, inbox=False, on_failure=self.echec)
        demandes.handles(DemandeQualifieeV1, when=lambda q: q["demande_type"] in domain.DEMANDES_TRAITEES)(self.demande)
        suivi = self.rt.consumer("suivi", topics.INTERVENTIONS_EVENEMENTS, topics.CONTRATS_EVENEMENTS, topics.SI_RESULTATS)
        suivi.handles(InterventionStatutChangeV1)(self.intervention)
        suivi.handles(ContratEtatChangeV1)(self.contrat)
        suivi.handles(AffaireSoldeeV1)(self.soldee)

    async def _appliquer(self, loaded: Loaded, decision: Decision, ctx: HandlerContext) -> None:
        affaire = decision.affaire
        events = [ctx.emit(e, key=affaire.pds, fournisseur=affaire.fournisseur) for e in decision.evenements]
        # The supplier's listing index first (idempotent): a crash before the commit redelivers the message and writes it again.
        await self.store.indexer(affaire)
        await self.rt.commit(self.store.affaires, loaded, affaire.model_dump(mode="json"), ctx, events)

    async def _affaire_de(self, ctx: HandlerContext, demande_message_id: object) -> tuple[Loaded | None, int]:
        """The affaire a demand opened, if any, and the first free `essai` of its reference otherwise.

        References derive from the demand id; one held by another demand's affaire (a collision) is never taken for
        "already done": the next `essai` gives the demand a reference of its own.
        """
        for essai in range(MAX_ESSAIS_REFERENCE):
            loaded = await ctx.load(self.store.affaires, reference_affaire(str(demande_message_id), essai))
            if not loaded.exists:
                return None, essai
            if _demande_de(loaded) == str(demande_message_id):
                return loaded, essai
        raise RuntimeError(f"{MAX_ESSAIS_REFERENCE} références d'affaire en collision pour la demande {demande_message_id}")

    async def echec(self, ctx: HandlerContext, error: str) -> None:
        """A qualified demand given up for good: unless it has its affaire or refusal already, refuse it ERREUR_TECHNIQUE."""
        try:
            q = DemandeQualifieeV1.model_validate(ctx.envelope.payload)
        except ValueError:
            return
        refus = await ctx.load(self.store.refus, str(q.demande_message_id))
        if refus.exists:
            return
        await self._refuser(q, Refus(ERREUR_TECHNIQUE, MESSAGE_ERREUR_TECHNIQUE), ctx, refus)

    async def _refuser(self, q: DemandeQualifieeV1, refus: Refus, ctx: HandlerContext, loaded: Loaded) -> None:
        """Commit the refusal document `loaded` (the demand's, read by `demande`: absent) and publish the refusal."""
        # A redelivery decided on another day may refuse what was accepted: the affaire created then is the outcome.
        if (await self._affaire_de(ctx, q.demande_message_id))[0] is not None:
            return
        evt = DemandeRefuseeV1(
            demande_message_id=q.demande_message_id,
            demande_type=q.demande_type,
            pds=q.contexte.pds,
            code=refus.code,
            message=refus.message,
            etape=domain.ETAPE,
        )
        state = {
            "demande_type": q.demande_type,
            "pds": q.contexte.pds,
            "fournisseur": ctx.envelope.fournisseur,
            "code": refus.code,
            "message": refus.message,
            "date": ctx.envelope.occurred_at,
        }
        await self.rt.commit(self.store.refus, loaded, state, ctx, [ctx.emit(evt)])

    async def ouverture(self, ctx: HandlerContext, cmd: OuvertureAffaireDemandeeV1) -> None:
        """Open the affaire of a validated contract demand."""
        loaded = await ctx.load(self.store.affaires, cmd.reference_affaire)
        if loaded.exists:
            if _demande_de(loaded) != str(cmd.demande_message_id):
                # The reference contrats chose is another demand's affaire (a collision): never "already done".
                log.error("référence d'affaire %s déjà prise par une autre demande", cmd.reference_affaire)
                raise RuntimeError(f"référence d'affaire {cmd.reference_affaire} en collision")
            return
        fournisseur = ctx.envelope.fournisseur or cmd.contexte.titulaire or ""
        decision = domain.ouvrir(cmd, fournisseur, self.aujourdhui(), ctx.envelope.occurred_at)
        await self._appliquer(loaded, decision, ctx)

    async def demande(self, ctx: HandlerContext, q: DemandeQualifieeV1) -> None:
        """Decide a réclamation, demande diverse, intervention technique or annulation (other demands are not ours)."""
        d = domain.lire_demande(q)
        if d is None:
            return
        refus = await ctx.load(self.store.refus, str(q.demande_message_id))
        if refus.exists:
            return
        if isinstance(d, Refus):
            await self._refuser(q, d, ctx, refus)
            return
        if isinstance(d, DemandeAnnulationV1):
            await self._annulation(ctx, q, d, refus)
            return
        # The affaire's reference derives from the demand: it is created without a read, a redelivery finds it there.
        fournisseur, at = ctx.envelope.fournisseur, ctx.envelope.occurred_at
        resultat: Decision | Refus
        if isinstance(d, DemandeReclamationV1):
            resultat = domain.creer_reclamation(q, d, fournisseur, self.settings.piece_jointe_taille_max_octets, at)
        elif isinstance(d, DemandeDiverseV1):
            resultat = domain.creer_demande_diverse(q, d, fournisseur, self.aujourdhui(), at)
        elif isinstance(d, DemandeInterventionTechniqueV1):
            resultat = domain.creer_intervention_technique(q, d, fournisseur, self.aujourdhui(), at)
        else:
            return
        if isinstance(resultat, Refus):
            await self._refuser(q, resultat, ctx, refus)
            return
        if resultat.piece_jointe is not None:
            await self.store.stocker_piece_jointe(resultat.affaire.reference, resultat.affaire.fournisseur, resultat.piece_jointe)
        await self._creer(ctx, resultat)

    async def _creer(self, ctx: HandlerContext, resultat: Decision) -> None:
        """Create the affaire without a read (most demands are new); if its reference is taken, find out by whom."""
        demande_id = resultat.affaire.generalites.demande_message_id
        essai = 0
        while True:
            affaire = resultat.affaire
            events = [ctx.emit(e, key=affaire.pds, fournisseur=affaire.fournisseur) for e in resultat.evenements]
            try:
                await self.rt.create(self.store.affaires, affaire.reference, affaire.model_dump(mode="json"), ctx, events)
                return
            except ConcurrencyConflict:
                existante, essai_libre = await self._affaire_de(ctx, demande_id)
                if existante is not None or essai_libre <= essai:
                    if existante is not None:
                        return  # created by an earlier delivery of this demand
                    raise
                essai = essai_libre
                resultat = _sous_reference(resultat, reference_affaire(demande_id, essai))

    async def _annulation(self, ctx: HandlerContext, q: DemandeQualifieeV1, d: DemandeAnnulationV1, refus: Loaded) -> None:
        loaded = await ctx.load(self.store.affaires, d.reference_affaire)
        if loaded.applied(ctx.envelope.message_id):
            return
        affaire = Affaire.model_validate(loaded.state) if loaded.exists else None
        resultat = domain.annuler(affaire, q, d, ctx.envelope.fournisseur, ctx.envelope.occurred_at)
        if isinstance(resultat, Refus):
            await self._refuser(q, resultat, ctx, refus)
            return
        await self._appliquer(loaded, resultat, ctx)

    async def intervention(self, ctx: HandlerContext, evt: InterventionStatutChangeV1) -> None:
        """Follow the state of an affaire's intervention."""
        loaded = await ctx.load(self.store.affaires, evt.reference_affaire)
        if not loaded.exists or loaded.applied(ctx.envelope.message_id):
            return
        decision = domain.suivre_intervention(Affaire.model_validate(loaded.state), evt, ctx.envelope.occurred_at)
        await self._appliquer(loaded, decision, ctx)

    async def contrat(self, ctx: HandlerContext, evt: ContratEtatChangeV1) -> None:
        """End a contract affaire when its contract reaches its final state."""
        if evt.reference_affaire is None:
            return
        loaded = await ctx.load(self.store.affaires, evt.reference_affaire)
        if not loaded.exists or loaded.applied(ctx.envelope.message_id):
            return
        decision = domain.suivre_contrat(Affaire.model_validate(loaded.state), evt, ctx.envelope.occurred_at)
        if decision is not None:
            await self._appliquer(loaded, decision, ctx)

    async def soldee(self, ctx: HandlerContext, evt: AffaireSoldeeV1) -> None:
        """Close an affaire at the GRD's request."""
        loaded = await ctx.load(self.store.affaires, evt.reference_affaire)
        if not loaded.exists or loaded.applied(ctx.envelope.message_id):
            return
        decision = domain.solder(Affaire.model_validate(loaded.state), evt, ctx.envelope.occurred_at)
        if decision is not None:
            await self._appliquer(loaded, decision, ctx)
