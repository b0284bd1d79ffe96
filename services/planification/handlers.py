"""Thin typed handlers of the planification consumers: load, decide (domain), claim/free places, commit."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Callable
from datetime import date

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
from contracts.topics import INTERVENTIONS_COMMANDES, QUALIFIEES_PLANIFICATION, SI_RESULTATS
from platform_kit.messaging import HandlerContext, Outgoing
from platform_kit.outcomes import failure_hook_for_qualified
from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore, ConcurrencyConflict, Loaded
from services.planification import domain as d
from services.planification.store import AGENDA_TELEOPERATIONS, Creneaux, Places, creneau_de

log = logging.getLogger(__name__)


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
        regles_to: d.ReglesTeleoperation | None = None,
        echeance_intervalle_s: float = 2.0,
    ) -> None:
        self.rt = rt
        self.interventions = interventions
        self.places = places
        self.creneaux = creneaux
        self.cal = cal
        self.today = today
        self.regles_to = regles_to or d.ReglesTeleoperation()
        self.echeance_intervalle_s = echeance_intervalle_s
        # One small document per tele-operation waiting for its date (or an answer): the due job reads this instead of
        # every intervention; a full pass at start and every few minutes covers a crash between the two writes.
        self.agenda = rt.db[AGENDA_TELEOPERATIONS]
        self.passage_complet_s = 600.0

    def register(self) -> None:
        """Create the three consumers and bind their typed handlers."""
        commandes = self.rt.consumer("commandes", INTERVENTIONS_COMMANDES)
        commandes.handles(InterventionDemandeeV1)(self.intervention_demandee)
        commandes.handles(AnnulationInterventionDemandeeV1)(self.annulation)
        # One small document per demand refused without an intervention to carry it (or given up): its outcome, once.
        self.refus = self.rt.aggregates("refus", swept=False)
        demandes = self.rt.consumer("demandes", QUALIFIEES_PLANIFICATION, on_failure=failure_hook_for_qualified(self.rt, self.refus, "planification"))
        demandes.handles(DemandeQualifieeV1, when=lambda q: q["demande_type"] in d.DEMANDES_TRAITEES)(self.demande_qualifiee)
        si = self.rt.consumer("si", SI_RESULTATS)
        si.handles(ResultatTeleOperationV1)(self.resultat_teleoperation)
        si.handles(InterventionRealiseeV1)(self.intervention_realisee)
        si.handles(InterventionNonRealiseeV1)(self.intervention_non_realisee)
        si.handles(EtudeTechniqueConclueV1)(self.etude_conclue)

    async def _commit(self, ctx: HandlerContext, loaded: Loaded, etat: d.Intervention | None, evenements: list[WireModel]) -> None:
        if etat is not None and etat.statut != StatutIntervention.PLANIFIEE:
            # Whatever raced with us, a place is held only by a planned intervention.
            await self.places.liberer(etat.reference_affaire)
        fournisseur = (etat.fournisseur if etat else None) or ctx.envelope.fournisseur
        out: list[Outgoing] = [ctx.emit(e, fournisseur=fournisseur) for e in evenements]
        state = etat.to_doc() if etat is not None else loaded.state
        await self.rt.commit(self.interventions, loaded, state, ctx, out)
        await self._noter_echeance(loaded.id, state)

    async def _noter_echeance(self, reference: str, state: dict[str, object]) -> None:
        echeance = state.get("prochaine_echeance")
        if echeance:
            await self.agenda.replace_one({"_id": reference}, {"_id": reference, "echeance": echeance}, upsert=True)
        elif state.get("mode") == ModeIntervention.TELEOPERATION.value or state.get("to_tentatives"):
            await self.agenda.delete_one({"_id": reference})

    async def intervention_demandee(self, ctx: HandlerContext, cmd: InterventionDemandeeV1) -> None:
        """A new intervention: study, tele-operation, automatic half-day, or wait for the supplier's reservation."""
        loaded = await ctx.load(self.interventions, cmd.reference_affaire)
        if loaded.applied(ctx.envelope.message_id):
            return
        if d.Intervention.from_doc(loaded.state) is not None:
            await self.rt.commit(self.interventions, loaded, loaded.state, ctx, [])
            return
        decision = d.recevoir_intervention(cmd, ctx.envelope.fournisseur, self.cal, self.today())
        if decision.etat.mode == ModeIntervention.TELEOPERATION:
            decision = self._teleoperation_recue(decision, cmd, str(ctx.envelope.correlation_id))
        if decision.candidats:
            decision = await self._premiere_demi_journee(decision, str(ctx.envelope.message_id))
        await self._commit(ctx, loaded, decision.etat, decision.evenements)

    def _teleoperation_recue(self, decision: d.Decision, cmd: InterventionDemandeeV1, correlation: str) -> d.Decision:
        """A tele-operation waits for its date d'effet; when that day has come already, it is sent at once."""
        cible = getattr(cmd.besoin, "puissance_cible_kva", None)
        etat = dataclasses.replace(decision.etat, puissance_cible_kva=cible, correlation_id=correlation)
        suite = d.echoir(etat, self.rt.clock.now(), self.today(), self.regles_to)
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

    async def _refuser_sans_intervention(self, ctx: HandlerContext, q: DemandeQualifieeV1, pds: str, r: d.Refus) -> None:
        # No intervention to carry the outbox: the demand's own refusal document does (a redelivery finds it there).
        etat = {"demande_type": q.demande_type, "pds": pds, "code": r.code}
        await self.rt.create(self.refus, str(q.demande_message_id), etat, ctx, [ctx.emit(d.refus(q, pds, r), key=pds)])

    async def _reserver(self, ctx: HandlerContext, q: DemandeQualifieeV1, cmd: ReservationCreneauV1) -> None:
        loaded = await ctx.load(self.interventions, cmd.reference_affaire)
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
        loaded = await ctx.load(self.interventions, cmd.reference_affaire)
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
        now, today = self.rt.clock.now(), self.today()
        await self._appliquer(ctx, res.reference_affaire, lambda e: d.resultat_teleoperation(e, res, now, today, self.regles_to))

    async def intervention_realisee(self, ctx: HandlerContext, msg: InterventionRealiseeV1) -> None:
        """A technician did the intervention (refused with a code when dated in the future or before the date d'effet)."""
        today = self.today()

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
        async with self.rt.publishing_leftovers() as work:
            while True:
                loaded = await self.interventions.load(reference, work)
                etat = d.Intervention.from_doc(loaded.state)
                if etat is None:
                    await self.agenda.delete_one({"_id": reference})
                    return False
                echeance = etat.prochaine_echeance
                decision = d.echoir(etat, self.rt.clock.now(), self.today(), self.regles_to)
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
                    occurred_at=self.rt.clock.now(),
                    correlation_id=uuid.UUID(etat.correlation_id) if etat.correlation_id else cause,
                    fournisseur=etat.fournisseur,
                    key=etat.pds,
                    payload={"reference_affaire": reference},
                )
                try:
                    ctx = HandlerContext(env, f"{self.rt.settings.service_name}.echeances", work=work, received_at=self.rt.now())
                    await self._commit(ctx, loaded, decision.etat, decision.evenements)
                except ConcurrencyConflict:
                    continue
                return True

    async def echeances_une_fois(self, complet: bool = True) -> int:
        """One pass of the due job: over the agenda, or (complet) over every intervention with a due step."""
        maintenant = d.horodatage(self.rt.clock.now())
        if complet:
            filtre = {"prochaine_echeance": {"$lte": maintenant}}
            dues = [str(doc["_id"]) for c in self.interventions.collections async for doc in c.find(filtre, {"_id": 1})]
        else:
            dues = [str(doc["_id"]) async for doc in self.agenda.find({"echeance": {"$lte": maintenant}}, {"_id": 1})]
        total = 0
        for reference in dues:
            total += await self.appliquer_echeance(reference)
        return total

    async def boucle_echeances(self) -> None:
        """Background job: tele-operations due by the clock every few seconds (a full pass at start and every few minutes)."""
        await self.rt.broker_ready.wait()
        dernier_complet = float("-inf")
        boucle = asyncio.get_running_loop()
        while True:
            try:
                complet = boucle.time() - dernier_complet >= self.passage_complet_s
                await self.echeances_une_fois(complet)
                if complet:
                    dernier_complet = boucle.time()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("téléopérations : passage en échec, nouvel essai au prochain tour", exc_info=True)
            await asyncio.sleep(self.echeance_intervalle_s)

    async def etude_conclue(self, ctx: HandlerContext, msg: EtudeTechniqueConclueV1) -> None:
        """The GRD concluded a technical study: planning resumes (half-day claimed when no presence is needed) or the
        intervention is cancelled, which refuses the affaire."""
        loaded = await ctx.load(self.interventions, msg.reference_affaire)
        if loaded.applied(ctx.envelope.message_id):
            return
        etat = d.Intervention.from_doc(loaded.state)
        if etat is None:
            return
        decision = d.conclure_etude(etat, msg.favorable, msg.commentaire, self.cal, self.today())
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
            async with self.rt.publishing_leftovers() as work:
                work.message_id = str(cause)
                env = new_envelope(msg, key=msg.pds, fournisseur=None, message_id=cause)
                ctx = HandlerContext(env, f"{self.rt.settings.service_name}.etudes", work=work)
                try:
                    await self.etude_conclue(ctx, msg)
                    return cause
                except ConcurrencyConflict:
                    continue  # a consumer wrote the intervention meanwhile: decide again on its new state
        raise ConcurrencyConflict(f"étude technique de {msg.reference_affaire} : l'intervention change sans cesse")
