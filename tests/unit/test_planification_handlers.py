"""The planification handlers on the in-memory port: intervention received, reservation accepted and each refusal
family (on an intervention, without one, slot full), redeliveries, a concurrent write decided again, cancellation,
and the tele-operations' due job."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from contracts.common import ModeIntervention, NiveauAcces, OperationTechnique, StatutIntervention
from contracts.demandes import ReservationCreneauV1
from contracts.evenements import (
    AnnulationInterventionDemandeeV1,
    BesoinIntervention,
    CompteurInfo,
    DemandeAccepteeV1,
    DemandeQualifieeV1,
    DemandeRefuseeV1,
    InterventionDemandeeV1,
    InterventionStatutChangeV1,
    TeleOperationDemandeeV1,
)
from contracts.refus import CodeRefus, Etape
from platform_kit.testing import MemoryAggregates, MemoryKit
from services.planification import domain as d
from services.planification.handlers import Planification
from tests.builders import contexte_pds, qualifiee, unite_de_travail

PDS = "30000000000001EC1"
AFFAIRE = "AREF1"
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
CAL = d.Calendrier(zones=("Z01",), places_par_defaut=1)
SLOT = "Z01-20261110-H0800-CR"


class MemoryPlaces:
    """store.Places in memory: one place per affaire, `capacite` places per slot."""

    def __init__(self) -> None:
        self.tenues: dict[str, str] = {}  # affaire -> slot

    async def reserver(self, slot_id: str, capacite: int, affaire: str, jeton: str) -> str | None:
        if self.tenues.get(affaire) != slot_id and sum(s == slot_id for s in self.tenues.values()) >= capacite:
            return None
        self.tenues[affaire] = slot_id
        return f"{slot_id}#{affaire}"

    async def place_de(self, affaire: str) -> dict[str, Any] | None:
        slot = self.tenues.get(affaire)
        return None if slot is None else {"_id": f"{slot}#{affaire}", "creneau_id": slot}

    async def liberer(self, affaire: str) -> int:
        return 1 if self.tenues.pop(affaire, None) is not None else 0


class MemoryCreneaux:
    """store.Creneaux in memory: the calendar's capacity."""

    async def capacite(self, slot: d.Creneau) -> int:
        return slot.capacite


class MemoryAgenda:
    """store.Agenda in memory."""

    def __init__(self) -> None:
        self.echeances: dict[str, str] = {}

    async def noter(self, reference: str, echeance: str) -> None:
        self.echeances[reference] = echeance

    async def oublier(self, reference: str) -> None:
        self.echeances.pop(reference, None)

    async def dues(self, maintenant: str, complet: bool) -> list[str]:
        return [ref for ref, quand in self.echeances.items() if quand <= maintenant]


class Service:
    """The handlers on a memory kit and memory stores."""

    def __init__(self) -> None:
        self.kit = MemoryKit(now=NOW, service="planification")
        self.interventions = MemoryAggregates("interventions")
        self.refus = MemoryAggregates("refus")
        self.places = MemoryPlaces()
        self.agenda = MemoryAgenda()
        self.handlers = Planification(
            self.kit, self.interventions, self.places, MemoryCreneaux(), self.agenda, self.refus, CAL, unite_de_travail
        )

    async def recevoir(self, mode: ModeIntervention = ModeIntervention.CRENEAU, amm: bool = False) -> None:
        operation = OperationTechnique.CHANGEMENT_FOURNISSEUR
        besoin = BesoinIntervention(mode=mode, operation=operation, date_souhaitee=date(2026, 11, 10), duree_minutes=30)
        compteur = CompteurInfo(reference="CPT1", amm=amm, localisation="interieur", mode_releve="telereleve" if amm else "sur_site")
        cmd = InterventionDemandeeV1(reference_affaire=AFFAIRE, pds=PDS, besoin=besoin, zone="Z01", compteur=compteur)
        ctx = self.kit.context(cmd, fournisseur="LUMEN")
        await self.kit.deliver(self.handlers.intervention_demandee, ctx)
        await self.kit.deliver(self.handlers.intervention_demandee, self.kit.redelivery(ctx))

    async def reserver(self, slot: str = SLOT, fournisseur: str = "LUMEN", affaire: str = AFFAIRE) -> int:
        ctx = self.kit.context(reservation(slot, affaire), fournisseur=fournisseur)
        conflicts = await self.kit.deliver(self.handlers.demande_qualifiee, ctx)
        await self.kit.deliver(self.handlers.demande_qualifiee, self.kit.redelivery(ctx))
        return conflicts

    def codes(self) -> list[str]:
        return [r.code for r in self.kit.payloads(DemandeRefuseeV1)]


def reservation(slot: str, affaire: str = AFFAIRE) -> DemandeQualifieeV1:
    demande = ReservationCreneauV1(pds=PDS, reference_affaire=affaire, creneau_id=slot)
    return qualifiee(demande, contexte_pds(PDS, zone="Z01"), niveau=NiveauAcces.TITULAIRE)


async def test_intervention_received_once_waits_for_the_reservation() -> None:
    svc = Service()
    await svc.recevoir()
    [statut] = svc.kit.payloads(InterventionStatutChangeV1)
    assert statut.statut == StatutIntervention.DEMANDEE and statut.mode == ModeIntervention.CRENEAU
    assert svc.interventions.version(AFFAIRE) == 1 and svc.places.tenues == {}


async def test_reservation_accepted_once_holds_the_place() -> None:
    svc = Service()
    await svc.recevoir()
    await svc.reserver()
    [accepte] = svc.kit.payloads(DemandeAccepteeV1)
    assert accepte.reference_affaire == AFFAIRE
    assert [s.statut for s in svc.kit.payloads(InterventionStatutChangeV1)] == [StatutIntervention.DEMANDEE, StatutIntervention.PLANIFIEE]
    assert svc.places.tenues == {AFFAIRE: SLOT}


async def test_reservation_by_another_supplier_refused_once() -> None:
    svc = Service()
    await svc.recevoir()
    await svc.reserver(fournisseur="VOLTA")
    assert svc.codes() == [CodeRefus.AFFAIRE_AUTRE_FOURNISSEUR]
    [refus] = svc.kit.payloads(DemandeRefuseeV1)
    assert refus.etape == Etape.PLANIFICATION and refus.pds == PDS
    assert svc.places.tenues == {}


async def test_reservation_without_intervention_refused_once_in_its_own_record() -> None:
    svc = Service()
    q = reservation(SLOT, affaire="AINCONNUE")
    ctx = svc.kit.context(q, fournisseur="LUMEN")
    await svc.kit.deliver(svc.handlers.demande_qualifiee, ctx)
    await svc.kit.deliver(svc.handlers.demande_qualifiee, svc.kit.redelivery(ctx))
    assert svc.codes() == [CodeRefus.INTERVENTION_INCONNUE]
    assert (svc.refus.state(str(q.demande_message_id)) or {}).get("code") == CodeRefus.INTERVENTION_INCONNUE
    assert svc.interventions.ids() == []


async def test_reservation_on_a_full_slot_refused() -> None:
    svc = Service()
    await svc.recevoir()
    svc.places.tenues["AUTRE"] = SLOT
    await svc.reserver()
    assert svc.codes() == [CodeRefus.CRENEAU_COMPLET]
    assert svc.kit.payloads(DemandeAccepteeV1) == []


async def test_reservation_on_an_unknown_slot_refused() -> None:
    svc = Service()
    await svc.recevoir()
    await svc.reserver(slot="Z01-20261107-H0800-CR")  # a Saturday
    assert svc.codes() == [CodeRefus.CRENEAU_INCONNU]


async def test_concurrent_write_decided_again() -> None:
    svc = Service()
    await svc.recevoir()
    # The intervention is cancelled between our load and our commit: the reservation is decided again and refused.
    annulee = dict(svc.interventions.state(AFFAIRE) or {}, statut=StatutIntervention.ANNULEE.value)
    svc.interventions.interleave(AFFAIRE, annulee)
    assert await svc.reserver() == 1
    assert svc.codes() == [CodeRefus.INTERVENTION_NON_PLANIFIABLE]
    assert svc.kit.payloads(DemandeAccepteeV1) == [] and svc.places.tenues == {}


async def test_cancellation_frees_the_place_once() -> None:
    svc = Service()
    await svc.recevoir()
    await svc.reserver()
    ctx = svc.kit.context(AnnulationInterventionDemandeeV1(reference_affaire=AFFAIRE, pds=PDS))
    await svc.kit.deliver(svc.handlers.annulation, ctx)
    await svc.kit.deliver(svc.handlers.annulation, svc.kit.redelivery(ctx))
    assert svc.places.tenues == {}
    statuts = [s.statut for s in svc.kit.payloads(InterventionStatutChangeV1)]
    assert statuts == [StatutIntervention.DEMANDEE, StatutIntervention.PLANIFIEE, StatutIntervention.ANNULEE]


async def test_teleoperation_sent_on_its_day_once_by_the_due_job() -> None:
    svc = Service()
    await svc.recevoir(ModeIntervention.TELEOPERATION, amm=True)
    assert list(svc.agenda.echeances) == [AFFAIRE]
    assert await svc.handlers.echeances_une_fois(False) == 0
    svc.kit.advance(timedelta(days=8))
    assert await svc.handlers.echeances_une_fois(False) == 1
    [to] = svc.kit.payloads(TeleOperationDemandeeV1)
    assert to.reference_affaire == AFFAIRE and to.pds == PDS
    # Waiting for the head-end's answer: nothing more is sent before its delay.
    assert await svc.handlers.echeances_une_fois(True) == 0
    assert len(svc.kit.payloads(TeleOperationDemandeeV1)) == 1
