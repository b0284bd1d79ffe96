"""Thin typed handlers of the affaires consumers, on the narrow port: load the affaire, let the domain decide, commit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from contracts import topics
from contracts.demandes import DemandeAnnulationV1, DemandeDiverseV1, DemandeInterventionTechniqueV1, DemandeReclamationV1
from contracts.evenements import (
    AffaireSoldeeV1,
    ContratEtatChangeV1,
    DemandeQualifieeV1,
    InterventionStatutChangeV1,
    OuvertureAffaireDemandeeV1,
)
from contracts.references import reference_affaire
from contracts.refus import REFUS_ERREUR_TECHNIQUE, Etape, Refus, demande_refusee
from platform_kit.decision import Decided
from platform_kit.handling import decide, emissions, refuse_once
from platform_kit.messaging import HandlerContext
from platform_kit.ports import Aggregates, HandlerPort
from platform_kit.runtime import Runtime
from platform_kit.store import ConcurrencyConflict, Loaded
from services.affaires import domain
from services.affaires.domain import Affaire, Decision, PieceJointeStockee

log = logging.getLogger(__name__)


#: References tried for one demand before giving up (each further one only after a collision, ~1e-10 per affaire).
MAX_ESSAIS_REFERENCE = 4


class Annexes(Protocol):
    """What the handlers write beside the affaires (store.AffairesStore): the supplier's list index, attachments."""

    async def indexer(self, affaire: Affaire) -> None:
        """Record the affaire's list fields in its supplier's index (idempotent)."""
        ...

    async def stocker_piece_jointe(self, reference: str, fournisseur: str, pj: PieceJointeStockee) -> None:
        """Store an attachment's content (idempotent)."""
        ...


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


def _suite(decision: Decision | None) -> Decided | None:
    return decision.decided() if decision is not None else None


class AffairesHandlers:
    """The service's use cases, one per message type, wired on its three consumer groups."""

    def __init__(self, kit: HandlerPort, affaires: Aggregates, refus: Aggregates, annexes: Annexes, piece_jointe_taille_max_octets: int) -> None:
        self.kit = kit
        self.affaires = affaires
        # Refusals of demands that open no affaire (or target someone else's), one record per demand id.
        self.refus = refus
        self.annexes = annexes
        self.piece_jointe_taille_max_octets = piece_jointe_taille_max_octets

    def register(self, rt: Runtime) -> None:
        """Register the consumers and their handlers on the runtime."""
        commandes = rt.consumer("commandes", topics.AFFAIRES_COMMANDES)
        commandes.handles(OuvertureAffaireDemandeeV1)(self.ouverture)
        # Idempotent through the affaire (its reference derives from the demand) or the refus record: no separate inbox.
        demandes = rt.consumer("demandes", topics.QUALIFIEES_AFFAIRES, inbox=False, on_failure=self.echec)
        demandes.handles(DemandeQualifieeV1, when=lambda q: q["demande_type"] in domain.DEMANDES_TRAITEES)(self.demande)
        suivi = rt.consumer("suivi", topics.INTERVENTIONS_EVENEMENTS, topics.CONTRATS_EVENEMENTS, topics.SI_RESULTATS)
        suivi.handles(InterventionStatutChangeV1)(self.intervention)
        suivi.handles(ContratEtatChangeV1)(self.contrat)
        suivi.handles(AffaireSoldeeV1)(self.soldee)

    async def _indexer(self, _reference: str, state: dict[str, Any]) -> None:
        # The supplier's listing index before the commit (idempotent): a crash in between redelivers and writes it again.
        await self.annexes.indexer(Affaire.model_validate(state))

    async def _suivre(self, ctx: HandlerContext, reference: str, regle: Callable[[Affaire], Decision | None]) -> None:
        """Load → decide → commit on an existing affaire (an event about an unknown one is not ours)."""
        await decide(
            self.kit,
            ctx,
            self.affaires,
            reference,
            lambda loaded: _suite(regle(Affaire.model_validate(loaded.state))),
            only_existing=True,
            before_commit=self._indexer,
        )

    async def _affaire_de(self, ctx: HandlerContext, demande_message_id: object) -> tuple[Loaded | None, int]:
        """The affaire a demand opened, if any, and the first free `essai` of its reference otherwise.

        References derive from the demand id; one held by another demand's affaire (a collision) is never taken for
        "already done": the next `essai` gives the demand a reference of its own.
        """
        for essai in range(MAX_ESSAIS_REFERENCE):
            loaded = await ctx.load(self.affaires, reference_affaire(str(demande_message_id), essai))
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
        await self._refuser(ctx, q, REFUS_ERREUR_TECHNIQUE)

    async def _refuser(self, ctx: HandlerContext, q: DemandeQualifieeV1, refus: Refus) -> None:
        """Record the demand's refusal under its id and publish it, once."""
        # A redelivery decided on another day may refuse what was accepted: the affaire created then is the outcome.
        if (await self._affaire_de(ctx, q.demande_message_id))[0] is not None:
            return
        evt = demande_refusee(q.demande_message_id, q.demande_type, q.contexte.pds, refus, Etape.AFFAIRES)
        await refuse_once(
            self.kit, ctx, self.refus, str(q.demande_message_id), evt, fournisseur=ctx.envelope.fournisseur, date=ctx.envelope.occurred_at
        )

    async def ouverture(self, ctx: HandlerContext, cmd: OuvertureAffaireDemandeeV1) -> None:
        """Open the affaire of a validated contract demand."""

        def ouvrir(loaded: Loaded) -> Decided | None:
            if loaded.exists:
                if _demande_de(loaded) != str(cmd.demande_message_id):
                    # The reference contrats chose is another demand's affaire (a collision): never "already done".
                    log.error("référence d'affaire %s déjà prise par une autre demande", cmd.reference_affaire)
                    raise RuntimeError(f"référence d'affaire {cmd.reference_affaire} en collision")
                return None
            fournisseur = ctx.envelope.fournisseur or cmd.contexte.titulaire or ""
            return domain.ouvrir(cmd, fournisseur, self.kit.today(), ctx.envelope.occurred_at).decided()

        await decide(self.kit, ctx, self.affaires, cmd.reference_affaire, ouvrir, before_commit=self._indexer)

    async def demande(self, ctx: HandlerContext, q: DemandeQualifieeV1) -> None:
        """Decide a réclamation, demande diverse, intervention technique or annulation (other demands are not ours)."""
        d = domain.lire_demande(q)
        if d is None:
            return
        if (await ctx.load(self.refus, str(q.demande_message_id))).exists:
            return
        if isinstance(d, Refus):
            await self._refuser(ctx, q, d)
            return
        if isinstance(d, DemandeAnnulationV1):
            await self._annulation(ctx, q, d)
            return
        fournisseur, at = ctx.envelope.fournisseur, ctx.envelope.occurred_at
        resultat: Decision | Refus
        if isinstance(d, DemandeReclamationV1):
            resultat = domain.creer_reclamation(q, d, fournisseur, self.piece_jointe_taille_max_octets, at)
        elif isinstance(d, DemandeDiverseV1):
            resultat = domain.creer_demande_diverse(q, d, fournisseur, self.kit.today(), at)
        elif isinstance(d, DemandeInterventionTechniqueV1):
            resultat = domain.creer_intervention_technique(q, d, fournisseur, self.kit.today(), at)
        else:
            return
        if isinstance(resultat, Refus):
            await self._refuser(ctx, q, resultat)
            return
        if resultat.piece_jointe is not None:
            await self.annexes.stocker_piece_jointe(resultat.affaire.reference, resultat.affaire.fournisseur, resultat.piece_jointe)
        await self._creer(ctx, resultat)

    async def _creer(self, ctx: HandlerContext, resultat: Decision) -> None:
        """Create the affaire without a read (most demands are new); if its reference is taken, find out by whom.

        Not `handling.decide`: the reference derives from the demand, so the affaire is created blind and a redelivery
        (or a collision with another demand's affaire) is told apart only when the insert conflicts.
        """
        demande_id = resultat.affaire.generalites.demande_message_id
        essai = 0
        while True:
            decided = resultat.decided()
            try:
                await self.kit.create(self.affaires, resultat.affaire.reference, dict(decided.state), ctx, emissions(ctx, decided.events))
                return
            except ConcurrencyConflict:
                existante, essai_libre = await self._affaire_de(ctx, demande_id)
                if existante is not None:
                    return  # created by an earlier delivery of this demand
                if essai_libre <= essai:
                    raise
                essai = essai_libre
                resultat = _sous_reference(resultat, reference_affaire(demande_id, essai))

    async def _annulation(self, ctx: HandlerContext, q: DemandeQualifieeV1, d: DemandeAnnulationV1) -> None:
        """Cancel an affaire. Not `handling.decide`: a refusal is recorded under the demand (the refus records), not on
        the affaire named, which may not exist or belong to another supplier."""
        loaded = await ctx.load(self.affaires, d.reference_affaire)
        if loaded.applied(ctx.envelope.message_id):
            return
        affaire = Affaire.model_validate(loaded.state) if loaded.exists else None
        resultat = domain.annuler(affaire, q, d, ctx.envelope.fournisseur, ctx.envelope.occurred_at)
        if isinstance(resultat, Refus):
            await self._refuser(ctx, q, resultat)
            return
        decided = resultat.decided()
        await self._indexer(loaded.id, dict(decided.state))
        await self.kit.commit(self.affaires, loaded, dict(decided.state), ctx, emissions(ctx, decided.events))

    async def intervention(self, ctx: HandlerContext, evt: InterventionStatutChangeV1) -> None:
        """Follow the state of an affaire's intervention."""
        await self._suivre(ctx, evt.reference_affaire, lambda affaire: domain.suivre_intervention(affaire, evt, ctx.envelope.occurred_at))

    async def contrat(self, ctx: HandlerContext, evt: ContratEtatChangeV1) -> None:
        """End a contract affaire when its contract reaches its final state."""
        if evt.reference_affaire is not None:
            await self._suivre(ctx, evt.reference_affaire, lambda affaire: domain.suivre_contrat(affaire, evt, ctx.envelope.occurred_at))

    async def soldee(self, ctx: HandlerContext, evt: AffaireSoldeeV1) -> None:
        """Close an affaire at the GRD's request."""
        await self._suivre(ctx, evt.reference_affaire, lambda affaire: domain.solder(affaire, evt, ctx.envelope.occurred_at))
