"""Thin typed handlers of the planification consumers on the kit's port: load, decide (domain), claim/free places, commit."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from pydantic import ValidationError

from contracts.base import WireModel
from contracts.common import ModeIntervention, StatutIntervention
from contracts.demandes import DeplanificationV1, ReservationCreneauV1
from contracts.envelope import Envelope, new_envelope
from contracts.evenements import (
    AnnulationInterventionDemandeeV1,
    DemandeQualifieeV1,
    EtudeTechniqueConclueV1,
    InterventionDemandeeV1,
    InterventionNonRealiseeV1,
    InterventionRealiseeV1,
    ResultatTeleOperationV1,
)
from contracts.references import event_id
from contracts.refus import Refus
from platform_kit.handling import refuse_once
from platform_kit.messaging import HandlerContext, Outgoing
from platform_kit.ports import Aggregates, HandlerPort
from platform_kit.store import ConcurrencyConflict, Loaded, UnitOfWork
from services.planification import domain as d
from services.planification.store import creneau_de

#: A unit of work for one item of a background job: at its end, what a crash left unpublished goes out
#: (`Runtime.publishing_leftovers`).
UniteDeTravail = Callable[[], AbstractAsyncContextManager[UnitOfWork]]


class PlacesPort(Protocol):
    """The slot places (store.Places): atomic claims, one place per affaire."""

    async def reserver(self, slot_id: str, capacite: int, affaire: str, jeton: str) -> str | None:
        """Give `affaire` a place on the slot (moving it from any other); the place id, or None when full."""
        ...

    async def place_de(self, affaire: str) -> dict[str, Any] | None:
        """The place held by an affaire, if any."""
        ...

    async def liberer(self, affaire: str) -> int:
        """Free the place held by an affaire (idempotent)."""
        ...


class CreneauxPort(Protocol):
    """The materialized slots (store.Creneaux)."""

    async def capacite(self, slot: d.Creneau) -> int:
        """Capacity of one slot (stored, else the calendar's)."""
        ...


class AgendaPort(Protocol):
    """The tele-operations' due agenda (store.Agenda)."""

    async def noter(self, reference: str, echeance: str) -> None:
        """The intervention's next due step."""
        ...

    async def oublier(self, reference: str) -> None:
        """The intervention has no due step any more."""
        ...

    async def dues(self, maintenant: str, complet: bool) -> list[str]:
        """The interventions with a step due by `maintenant`."""
        ...


class Planification:
    """The use cases of the service, on the kit's port and its stores."""

    def __init__(
        self,
        kit: HandlerPort,
        interventions: Aggregates,
        places: PlacesPort,
        creneaux: CreneauxPort,
        agenda: AgendaPort,
        refus: Aggregates,
        cal: d.Calendrier,
        unite_de_travail: UniteDeTravail,
        regles_to: d.ReglesTeleoperation | None = None,
        *,
        service: str = "planification",
    ) -> None:
        self.kit = kit
        self.interventions = interventions
        self.places = places
        self.creneaux = creneaux
        self.agenda = agenda
        # One small document per demand refused without an intervention to carry it (or given up): its outcome, once.
        self.refus = refus
        self.cal = cal
        self.unite_de_travail = unite_de_travail
        self.regles_to = regles_to or d.ReglesTeleoperation()
        self.service = service

    async def _commit(self, ctx: HandlerContext, loaded: Loaded, etat: d.Intervention | None, evenements: list[WireModel]) -> None:
        if etat is not None and etat.statut != StatutIntervention.PLANIFIEE:
            # Whatever raced with us, a place is held only by a planned intervention.
            await self.places.liberer(etat.reference_affaire)
        fournisseur = (etat.fournisseur if etat else None) or ctx.envelope.fournisseur
        out: list[Outgoing] = [ctx.emit(e, fournisseur=fournisseur) for e in evenements]
        state = etat.to_doc() if etat is not None else loaded.state
        await self.kit.commit(self.interventions, loaded, state, ctx, out)
        await self._noter_echeance(loaded.id, state)

    async def _noter_echeance(self, reference: str, state: dict[str, object]) -> None:
        echeance = state.get("prochaine_echeance")
        if echeance:
            await self.agenda.noter(reference, str(echeance))
        elif state.get("mode") == ModeIntervention.TELEOPERATION.value or state.get("to_tentatives"):
            await self.agenda.oublier(reference)

    async def intervention_demandee(self, ctx: HandlerContext, cmd: InterventionDemandeeV1) -> None:
        """A new intervention: study, tele-operation, automatic half-day, or wait for the supplier's reservation."""
        loaded = await ctx.load(self.interventions, cmd.reference_affaire)
        if loaded.applied(ctx.envelope.message_id):
            return
        if d.Intervention.from_doc(loaded.state) is not None:
            await self.kit.commit(self.interventions, loaded, loaded.state, ctx, [])
            return
        decision = d.recevoir_intervention(cmd, ctx.envelope.fournisseur, self.cal, self.kit.today())
        if decision.etat.mode == ModeIntervention.TELEOPERATION:
            decision = self._teleoperation_recue(decision, cmd, str(ctx.envelope.correlation_id))
        if decision.candidats:
            decision = await self._premiere_demi_journee(decision, str(ctx.envelope.message_id))
        await self._commit(ctx, loaded, decision.etat, decision.evenements)

    def _teleoperation_recue(self, decision: d.Decision, cmd: InterventionDemandeeV1, correlation: str) -> d.Decision:
        """A tele-operation waits for its date d'effet; when that day has come already, it is sent at once."""
        cible = getattr(cmd.besoin, "puissance_cible_kva", None)
        etat = dataclasses.replace(decision.etat, puissance_cible_kva=cible, correlation_id=correlation)
        suite = d.echoir(etat, self.kit.now(), self.kit.today(), self.regles_to)
        if suite is None:
            return dataclasses.replace(decision, etat=etat)
        return d.Decision(suite.etat, [*suite.evenements, *decision.evenements])

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
        loaded = await ctx.load(self.interventions, cmd.reference_affaire)
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

    async def _refuser_sans_intervention(self, ctx: HandlerContext, q: DemandeQualifieeV1, pds: str, r: Refus) -> None:
        # No intervention to carry the outbox: the demand's own refusal document does (once: a redelivery, or a demand
        # already given up by the failure hook, finds it there).
        await refuse_once(self.kit, ctx, self.refus, str(q.demande_message_id), d.refus(q, pds, r))

    async def _reserver(self, ctx: HandlerContext, q: DemandeQualifieeV1, cmd: ReservationCreneauV1) -> None:
        loaded = await ctx.load(self.interventions, cmd.reference_affaire)
        if loaded.applied(ctx.envelope.message_id):
            return
        etat = d.Intervention.from_doc(loaded.state)
        verdict = d.verifier_reservation(etat, cmd, ctx.envelope.fournisseur, self.cal, self.kit.today())
        if etat is None:
            assert isinstance(verdict, Refus)
            await self._refuser_sans_intervention(ctx, q, cmd.pds, verdict)
            return
        if isinstance(verdict, Refus):
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
        loaded = await ctx.load(self.interventions, cmd.reference_affaire)
        if loaded.applied(ctx.envelope.message_id):
            return
        etat = d.Intervention.from_doc(loaded.state)
        verdict = d.verifier_deplanification(etat, cmd, ctx.envelope.fournisseur)
        if etat is None:
            assert isinstance(verdict, Refus)
            await self._refuser_sans_intervention(ctx, q, cmd.pds, verdict)
            return
        if isinstance(verdict, Refus):
            await self._commit(ctx, loaded, etat, [d.refus(q, cmd.pds, verdict)])
            return
        decision = d.deplanifier(verdict)
        accepte = d.acceptation(q, cmd.pds, etat.reference_affaire, "Intervention déplanifiée : vous pouvez réserver un autre créneau.")
        await self._commit(ctx, loaded, decision.etat, [*decision.evenements, accepte])

    async def _appliquer(self, ctx: HandlerContext, reference: str, decide: Callable[[d.Intervention], d.Decision | None]) -> None:
        loaded = await ctx.load(self.interventions, reference)
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
        now, today = self.kit.now(), self.kit.today()
        await self._appliquer(ctx, res.reference_affaire, lambda e: d.resultat_teleoperation(e, res, now, today, self.regles_to))

    async def intervention_realisee(self, ctx: HandlerContext, msg: InterventionRealiseeV1) -> None:
        """A technician did the intervention (refused with a code when dated in the future or before the date d'effet)."""
        today = self.kit.today()

        def decider(etat: d.Intervention) -> d.Decision | None:
            if etat.statut not in d.CLOSES and etat.statut != StatutIntervention.ETUDE_TECHNIQUE:
                refus = d.refus_date_realisation(etat, msg.date_realisation, today)
                if refus is not None:
                    return d.Decision(etat, [d.realisation_refusee(etat, refus, msg.date_realisation)])
            return d.realisee(etat, msg)

        await self._appliquer(ctx, msg.reference_affaire, decider)

    async def intervention_non_realisee(self, ctx: HandlerContext, msg: InterventionNonRealiseeV1) -> None:
        """The intervention could not be done: place freed."""
        await self._appliquer(ctx, msg.reference_affaire, lambda e: d.non_realisee(e, msg))

    async def appliquer_echeance(self, reference: str) -> bool:
        """Run the due step of one tele-operation (send, resend, give up, apply a parked result); True when it acted.

        A unit of work of its own: what a crash left unpublished in this intervention's outbox goes out at its end.
        """
        async with self.unite_de_travail() as work:
            while True:
                loaded = await self.interventions.load(reference, work)
                etat = d.Intervention.from_doc(loaded.state)
                if etat is None:
                    await self.agenda.oublier(reference)
                    return False
                echeance = etat.prochaine_echeance
                decision = d.echoir(etat, self.kit.now(), self.kit.today(), self.regles_to)
                if decision is None or echeance is None:
                    await self._noter_echeance(reference, loaded.state)
                    return False
                # A synthetic, deterministic cause per step: replaying the same step gives the same ids and is a no-op.
                cause = event_id("teleoperation", reference, str(etat.to_tentatives), d.horodatage(echeance))
                if loaded.applied(cause):
                    return False
                work.message_id = str(cause)
                env = Envelope(
                    message_id=cause,
                    type="EcheanceTeleOperation",
                    occurred_at=self.kit.now(),
                    correlation_id=uuid.UUID(etat.correlation_id) if etat.correlation_id else cause,
                    fournisseur=etat.fournisseur,
                    key=etat.pds,
                    payload={"reference_affaire": reference},
                )
                try:
                    ctx = HandlerContext(env, f"{self.service}.echeances", work=work, received_at=self.kit.now())
                    await self._commit(ctx, loaded, decision.etat, decision.evenements)
                except ConcurrencyConflict:
                    continue
                return True

    async def echeances_une_fois(self, complet: bool = True) -> int:
        """One pass of the due job (run by `rt.every`): over the agenda, or (complet) over every intervention with a due step."""
        total = 0
        for reference in await self.agenda.dues(d.horodatage(self.kit.now()), complet):
            total += await self.appliquer_echeance(reference)
        return total

    async def etude_conclue(self, ctx: HandlerContext, msg: EtudeTechniqueConclueV1) -> None:
        """The GRD concluded a technical study: planning resumes (half-day claimed when no presence is needed) or the
        intervention is cancelled, which refuses the affaire."""
        loaded = await ctx.load(self.interventions, msg.reference_affaire)
        if loaded.applied(ctx.envelope.message_id):
            return
        etat = d.Intervention.from_doc(loaded.state)
        if etat is None:
            return
        decision = d.conclure_etude(etat, msg.favorable, msg.commentaire, self.cal, self.kit.today())
        if decision is None:
            await self._commit(ctx, loaded, etat, [])
            return
        if decision.candidats:
            decision = await self._premiere_demi_journee(decision, str(ctx.envelope.message_id))
        await self._commit(ctx, loaded, decision.etat, decision.evenements)

    async def conclure_par_operateur(self, msg: EtudeTechniqueConclueV1) -> uuid.UUID:
        """A GRD operator concluded the study over HTTP: applied as a unit of work of its own, by `etude_conclue`."""
        cause = uuid.uuid4()
        for _ in range(5):
            async with self.unite_de_travail() as work:
                work.message_id = str(cause)
                env = new_envelope(msg, key=msg.pds, fournisseur=None, message_id=cause)
                ctx = HandlerContext(env, f"{self.service}.etudes", work=work)
                try:
                    await self.etude_conclue(ctx, msg)
                    return cause
                except ConcurrencyConflict:
                    continue  # a consumer wrote the intervention meanwhile: decide again on its new state
        raise ConcurrencyConflict(f"étude technique de {msg.reference_affaire} : l'intervention change sans cesse")
