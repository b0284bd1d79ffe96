"""HTTP read routes: an affaire's intervention and its available slots (supplier of the affaire or GRD operator)."""

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field

from contracts.common import ModeIntervention, Releve, StatutIntervention
from contracts.evenements import EtudeTechniqueConclueV1
from platform_kit.audit import AuditJournal
from platform_kit.auth import OPERATEUR, Principal
from platform_kit.store import AggregateStore
from services.planification import domain as d
from services.planification.store import Creneaux, Places


class CreneauDisponible(BaseModel):
    """A slot that still has places."""

    id: str = Field(description="Slot id, to put in a ReservationCreneau demand.")
    date: dt.date = Field(description="Day of the slot.")
    demi_journee: str = Field(description="Slot code: Hhhmm (start of a 2-hour créneau horaire) or AM / PM (half-day, présence non obligatoire).")
    debut: dt.datetime = Field(description="Start (the customer must be present from then, for a créneau horaire).")
    fin: dt.datetime = Field(description="End.")
    places_restantes: int = Field(description="Places still free.")


class RechercheCreneaux(BaseModel):
    """Answer of a slot search."""

    reference_affaire: str = Field(description="Affaire reference.")
    mode: ModeIntervention = Field(description="Mode decided by the platform.")
    libelle_mode: str = Field(description="The mode, in French.")
    duree_prevue_minutes: int = Field(description="Planned duration of the intervention.")
    creneaux: list[CreneauDisponible] = Field(description="Available slots, earliest first.")
    message: str | None = Field(default=None, description="French note when no slot applies.")


class ConclusionEtude(BaseModel):
    """A GRD operator's conclusion of a technical study."""

    favorable: bool = Field(description="True: the intervention may be planned; False: the affaire is refused.")
    commentaire: str = Field(min_length=1, max_length=2000, description="The conclusion, in French (mailed to the supplier).")


class EtatIntervention(BaseModel):
    """State of an affaire's intervention."""

    reference_affaire: str
    pds: str
    statut: StatutIntervention
    mode: ModeIntervention
    operation: str
    zone: str
    date_souhaitee: dt.date
    duree_prevue_minutes: int
    creneau_id: str | None = None
    debut: dt.datetime | None = None
    fin: dt.datetime | None = None
    motif: str | None = None
    date_realisation: dt.date | None = None
    releve: Releve | None = None


def build_router(
    auth: Callable[..., Awaitable[Principal]],
    interventions: AggregateStore,
    places: Places,
    creneaux: Creneaux,
    cal: d.Calendrier,
    today: Callable[[], dt.date],
    jours_affiches: int,
    journal: AuditJournal,
    conclure: Callable[[EtudeTechniqueConclueV1], Awaitable[uuid.UUID]] | None = None,
) -> APIRouter:
    """The service's HTTP routes (every consultation audited)."""
    router = APIRouter(prefix="/interventions", tags=["planification"])
    Appelant = Annotated[Principal, Depends(auth)]
    APartirDu = Annotated[dt.date | None, Query(description="First day searched (defaults to the desired date d'effet).")]

    async def charger(reference_affaire: str, principal: Principal, action: str) -> d.Intervention:
        loaded = await interventions.load(reference_affaire)
        etat = d.Intervention.from_doc(loaded.state)
        detail = {"reference_affaire": reference_affaire}
        if etat is None:
            await journal.consultation(principal, action, "refusee:INTERVENTION_INCONNUE", detail=detail)
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"Aucune intervention connue pour l'affaire {reference_affaire}.")
        if principal.role != OPERATEUR and principal.code != etat.fournisseur:
            await journal.consultation(principal, action, "refusee:AUTRE_FOURNISSEUR", pds=etat.pds, detail=detail)
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"L'affaire {reference_affaire} appartient à un autre fournisseur.")
        await journal.consultation(principal, action, "servie", pds=etat.pds, detail=detail)
        return etat

    @router.get("/{reference_affaire}", response_model=EtatIntervention)
    async def intervention(reference_affaire: str, principal: Appelant) -> dict[str, Any]:
        """State of the affaire's intervention."""
        etat = await charger(reference_affaire, principal, "intervention")
        doc = etat.to_doc()
        doc["duree_prevue_minutes"] = etat.duree_minutes
        return doc

    @router.get("/{reference_affaire}/creneaux", response_model=RechercheCreneaux)
    async def rechercher(
        reference_affaire: str,
        principal: Appelant,
        a_partir_du: APartirDu = None,
    ) -> RechercheCreneaux:
        """Mode, planned duration and available slots from the desired date d'effet."""
        etat = await charger(reference_affaire, principal, "intervention:creneaux")
        base = RechercheCreneaux(
            reference_affaire=reference_affaire,
            mode=etat.mode,
            libelle_mode=d.LIBELLE_MODE[etat.mode],
            duree_prevue_minutes=etat.duree_minutes,
            creneaux=[],
        )
        if etat.statut == StatutIntervention.ETUDE_TECHNIQUE:
            return base.model_copy(update={"message": etat.motif})
        if etat.mode == ModeIntervention.TELEOPERATION:
            return base.model_copy(update={"message": "Intervention par télé-opération à la date d'effet : aucun rendez-vous."})
        depuis = max(a_partir_du or etat.date_souhaitee, etat.date_souhaitee)
        slots = d.creneaux_a_partir(cal, etat.zone, etat.mode, depuis, today(), jours_affiches)
        capacites = await creneaux.capacites(slots)
        prises = await places.occupation(capacites)
        libres = [
            CreneauDisponible(
                id=s.id,
                date=s.jour,
                demi_journee=s.demi_journee,
                debut=s.debut,
                fin=s.fin,
                places_restantes=capacites[s.id] - prises.get(s.id, 0),
            )
            for s in slots
            if capacites[s.id] - prises.get(s.id, 0) > 0
        ]
        message = None if libres else "Aucun créneau disponible sur la période : essayez une date ultérieure."
        return base.model_copy(update={"creneaux": libres, "message": message})

    @router.post("/{reference_affaire}/etude-technique")
    async def conclure_etude(reference_affaire: str, conclusion: ConclusionEtude, principal: Appelant) -> dict[str, Any]:
        """A GRD operator concludes the technical study: planning resumes, or the affaire is refused (the supplier is e-mailed)."""
        if principal.role != OPERATEUR:
            await journal.consultation(principal, "etude_technique:conclure", "refusee:ROLE", detail={"reference_affaire": reference_affaire})
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Seul un opérateur du GRD conclut une étude technique.")
        etat = await charger(reference_affaire, principal, "etude_technique:conclure")
        if etat.statut != StatutIntervention.ETUDE_TECHNIQUE:
            detail = f"L'intervention de l'affaire {reference_affaire} n'attend pas d'étude technique ({etat.statut.value})."
            raise HTTPException(status.HTTP_409_CONFLICT, detail=detail)
        if conclure is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="Conclusion d'étude indisponible.")
        msg = EtudeTechniqueConclueV1(
            reference_affaire=reference_affaire,
            pds=etat.pds,
            favorable=conclusion.favorable,
            commentaire=conclusion.commentaire,
            operateur=principal.code,
        )
        # Applied here, by the same handler as an EtudeTechniqueConclue from the GRD's systems on grd.si.resultats (which
        # this service may read but not write): its events leave through the intervention's outbox.
        cause = await conclure(msg)
        apres = await charger(reference_affaire, principal, "etude_technique:conclue")
        return {"reference_affaire": reference_affaire, "cause": str(cause), "favorable": conclusion.favorable, "statut": apres.statut.value}

    return router
