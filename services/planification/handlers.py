"""Thin typed handlers of the planification consumers: load, decide (domain), claim/free places, commit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from pydantic import ValidationError

from contracts.base import WireModel
from contracts.common import StatutIntervention
from contracts.demandes import DeplanificationV1, ReservationCreneauV1
from contracts.evenements import (
    AnnulationInterventionDemandeeV1,
    DemandeQualifieeV1,
    InterventionDemandeeV1,
    InterventionNonRealiseeV1,
    InterventionRealiseeV1,
    ResultatTeleOperationV1,
)
from contracts.topics import INTERVENTIONS_COMMANDES, QUALIFIEES_PLANIFICATION, SI_RESULTATS
from platform_kit.messaging import HandlerContext, Outgoing
from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore, Loaded
from services.planification import domain as d
from services.planification.store import Creneaux, Places, creneau_de


class Planification:
    """The use cases of the service, wired to its stores."""

    def __init__(
        self,
        rt: Runtime,
        interventions: AggregateStore,
        places: Places,
        creneaux: Creneaux,
        cal: d.Calendrier,
        today: Callable[[], date],
    ) -> None:
        self.rt = rt
        self.interventions = interventions
        self.places = places
        self.creneaux = creneaux
        self.cal = cal
        self.today = today

    def register(self) -> None:
        """Create the three consumers and bind their typed handlers."""
        commandes = self.rt.consumer("commandes", INTERVENTIONS_COMMANDES)
        commandes.handles(InterventionDemandeeV1)(self.intervention_demandee)
        commandes.handles(AnnulationInterventionDemandeeV1)(self.annulation)
        demandes = self.rt.consumer("demandes", QUALIFIEES_PLANIFICATION)
        demandes.handles(DemandeQualifieeV1, when=lambda q: q["demande_type"] in d.DEMANDES_TRAITEES)(self.demande_qualifiee)
        si = self.rt.consumer("si", SI_RESULTATS)
        si.handles(ResultatTeleOperationV1)(self.resultat_teleoperation)
        si.handles(InterventionRealiseeV1)(self.intervention_realisee)
        si.handles(InterventionNonRealiseeV1)(self.intervention_non_realisee)

    async def _commit(self, ctx: HandlerContext, loaded: Loaded, etat: d.Intervention | None, evenements: list[WireModel]) -> None:
        if etat is not None and etat.statut != StatutIntervention.PLANIFIEE:
            # Whatever raced with us, a place is held only by a planned intervention.
            await self.places.liberer(etat.reference_affaire)
        fournisseur = (etat.fournisseur if etat else None) or ctx.envelope.fournisseur
        out: list[Outgoing] = [ctx.emit(e, fournisseur=fournisseur) for e in evenements]
        state = etat.to_doc() if etat is not None else loaded.state
        await self.rt.commit(self.interventions, loaded, state, ctx, out)

    async def intervention_demandee(self, ctx: HandlerContext, cmd: InterventionDemandeeV1) -> None:
        """A new intervention: study, tele-operation, automatic half-day, or wait for the supplier's reservation."""
        loaded = await self.interventions.load(cmd.reference_affaire)
        if loaded.applied(ctx.envelope.message_id):
            return
        if d.Intervention.from_doc(loaded.state) is not None:
            await self.rt.commit(self.interventions, loaded, loaded.state, ctx, [])
            return
        decision = d.recevoir_intervention(cmd, ctx.envelope.fournisseur, self.cal, self.today())
        if decision.candidats:
            decision = await self._premiere_demi_journee(decision, str(ctx.envelope.message_id))
        await self._commit(ctx, loaded, decision.etat, decision.evenements)

    async def _premiere_demi_journee(self, decision: d.Decision, jeton: str) -> d.Decision:
        deja = await self.places.place_de(decision.etat.reference_affaire)
        if deja is not None:
            # A replay after a crash between the claim and the commit: keep the half-day already claimed.
            slot = d.lire_creneau(self.cal, str(deja["creneau_id"]))
            if slot is not None:
                return d.planifier(decision.etat, slot)
        for slot in decision.candidats:
            capacite = await self.creneaux.capacite(slot)
            place = await self.places.reserver(slot.id, capacite, decision.etat.reference_affaire, jeton)
            if place is not None:
                # A replayed claim may answer with the half-day a crashed attempt already took.
                return d.planifier(decision.etat, d.lire_creneau(self.cal, creneau_de(place)) or slot)
        return d.sans_demi_journee(decision.etat)

    async def annulation(self, ctx: HandlerContext, cmd: AnnulationInterventionDemandeeV1) -> None:
        """Cancel the intervention and free its place."""
        loaded = await self.interventions.load(cmd.reference_affaire)
        if loaded.applied(ctx.envelope.message_id):
            return
        etat = d.Intervention.from_doc(loaded.state)
        decision = d.annuler(etat) if etat is not None else None
        await self.places.liberer(cmd.reference_affaire)
        if decision is None:
            await self._commit(ctx, loaded, etat, [])
            return
        await self._commit(ctx, loaded, decision.etat, decision.evenements)

    async def demande_qualifiee(self, ctx: HandlerContext, q: DemandeQualifieeV1) -> None:
        """Reservation and déplanification demands; other demand types belong to other services."""
        if q.demande_type == "ReservationCreneau":
            try:
                resa = ReservationCreneauV1.model_validate(q.demande)
            except ValidationError:
                return
            await self._reserver(ctx, q, resa)
        elif q.demande_type == "Deplanification":
            try:
                depl = DeplanificationV1.model_validate(q.demande)
            except ValidationError:
                return
            await self._deplanifier(ctx, q, depl)

    async def _refuser_sans_intervention(self, ctx: HandlerContext, q: DemandeQualifieeV1, pds: str, r: d.Refus) -> None:
        # No aggregate to carry the outbox: publish directly; the derived event id makes a replay harmless.
        topic, env = ctx.emit(d.refus(q, pds, r))
        await self.rt.publish(topic, env)

    async def _reserver(self, ctx: HandlerContext, q: DemandeQualifieeV1, cmd: ReservationCreneauV1) -> None:
        loaded = await self.interventions.load(cmd.reference_affaire)
        if loaded.applied(ctx.envelope.message_id):
            return
        etat = d.Intervention.from_doc(loaded.state)
        verdict = d.verifier_reservation(etat, cmd, ctx.envelope.fournisseur, self.cal, self.today())
        if etat is None:
            assert isinstance(verdict, d.Refus)
            await self._refuser_sans_intervention(ctx, q, cmd.pds, verdict)
            return
        if isinstance(verdict, d.Refus):
            await self._commit(ctx, loaded, etat, [d.refus(q, cmd.pds, verdict)])
            return
        capacite = await self.creneaux.capacite(verdict)
        place = await self.places.reserver(verdict.id, capacite, etat.reference_affaire, str(ctx.envelope.message_id))
        if place is None:
            await self._commit(ctx, loaded, etat, [d.refus(q, cmd.pds, d.creneau_complet(verdict))])
            return
        decision = d.planifier(etat, verdict)
        accepte = d.acceptation(q, cmd.pds, etat.reference_affaire, d.message_planifiee(verdict))
        await self._commit(ctx, loaded, decision.etat, [*decision.evenements, accepte])

    async def _deplanifier(self, ctx: HandlerContext, q: DemandeQualifieeV1, cmd: DeplanificationV1) -> None:
        loaded = await self.interventions.load(cmd.reference_affaire)
        if loaded.applied(ctx.envelope.message_id):
            return
        etat = d.Intervention.from_doc(loaded.state)
        verdict = d.verifier_deplanification(etat, cmd, ctx.envelope.fournisseur)
        if etat is None:
            assert isinstance(verdict, d.Refus)
            await self._refuser_sans_intervention(ctx, q, cmd.pds, verdict)
            return
        if isinstance(verdict, d.Refus):
            await self._commit(ctx, loaded, etat, [d.refus(q, cmd.pds, verdict)])
            return
        decision = d.deplanifier(verdict)
        accepte = d.acceptation(q, cmd.pds, etat.reference_affaire, "Intervention déplanifiée : vous pouvez réserver un autre créneau.")
        await self._commit(ctx, loaded, decision.etat, [*decision.evenements, accepte])

    async def _appliquer(self, ctx: HandlerContext, reference: str, decide: Callable[[d.Intervention], d.Decision | None]) -> None:
        loaded = await self.interventions.load(reference)
        if loaded.applied(ctx.envelope.message_id):
            return
        etat = d.Intervention.from_doc(loaded.state)
        if etat is None:
            return
        decision = decide(etat)
        if decision is None:
            await self._commit(ctx, loaded, etat, [])
            return
        await self._commit(ctx, loaded, decision.etat, decision.evenements)

    async def resultat_teleoperation(self, ctx: HandlerContext, res: ResultatTeleOperationV1) -> None:
        """Head-end result: realisee with a real reading, or fallback to an appointment."""
        await self._appliquer(ctx, res.reference_affaire, lambda e: d.resultat_teleoperation(e, res))

    async def intervention_realisee(self, ctx: HandlerContext, msg: InterventionRealiseeV1) -> None:
        """A technician did the intervention."""
        await self._appliquer(ctx, msg.reference_affaire, lambda e: d.realisee(e, msg))

    async def intervention_non_realisee(self, ctx: HandlerContext, msg: InterventionNonRealiseeV1) -> None:
        """The intervention could not be done: place freed."""
        await self._appliquer(ctx, msg.reference_affaire, lambda e: d.non_realisee(e, msg))
