"""Composition root of the planification service: settings -> runtime -> stores -> handlers -> consumers and due job -> routes."""

from __future__ import annotations

from fastapi import FastAPI

from contracts.evenements import (
    AnnulationInterventionDemandeeV1,
    DemandeQualifieeV1,
    EtudeTechniqueConclueV1,
    InterventionDemandeeV1,
    InterventionNonRealiseeV1,
    InterventionRealiseeV1,
    ResultatTeleOperationV1,
)
from contracts.refus import Etape
from contracts.topics import INTERVENTIONS_COMMANDES, QUALIFIEES_PLANIFICATION, SI_RESULTATS
from platform_kit import audit
from platform_kit.outcomes import failure_hook_for_qualified
from platform_kit.reference import reference
from platform_kit.runtime import Runtime
from services.planification.api import build_router
from services.planification.domain import DEMANDES_TRAITEES, Calendrier
from services.planification.handlers import Planification
from services.planification.settings import Settings
from services.planification.store import Agenda, Creneaux, Places, declarer_index, interventions_store


def calendrier(settings: Settings) -> Calendrier:
    """The capacity model configured by the settings, over the GRD's technician zones (its reference data)."""
    return Calendrier(
        zones=reference().zones,
        places_par_defaut=settings.places_par_demi_journee,
        places_par_zone=dict(settings.places_par_zone),
        jours_ouvres=frozenset(settings.jours_ouvres),
        matin=(settings.matin_debut, settings.matin_fin),
        apres_midi=(settings.apres_midi_debut, settings.apres_midi_fin),
        fuseau=settings.fuseau,
        delai_minimum_jours=settings.delai_minimum_jours,
        horizon_jours=settings.horizon_jours,
        creneau_horaire_minutes=settings.creneau_horaire_minutes,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service's ASGI app (app.state.runtime, app.state.planification)."""
    settings = settings or Settings()
    rt = Runtime(settings)
    rt.clock.fixer_jour(settings.date_du_jour)
    interventions = interventions_store(rt)
    places, creneaux = Places(rt.db), Creneaux(rt.db)
    declarer_index(rt.indexes, places, creneaux)
    refus = rt.aggregates("refus", swept=False)
    cal = calendrier(settings)
    planification = Planification(
        rt,
        interventions,
        places,
        creneaux,
        Agenda(rt.db, interventions),
        refus,
        cal,
        rt.publishing_leftovers,
        settings.regles_teleoperation(),
        service=settings.service_name,
    )
    commandes = rt.consumer("commandes", INTERVENTIONS_COMMANDES)
    commandes.handles(InterventionDemandeeV1)(planification.intervention_demandee)
    commandes.handles(AnnulationInterventionDemandeeV1)(planification.annulation)
    demandes = rt.consumer("demandes", QUALIFIEES_PLANIFICATION, on_failure=failure_hook_for_qualified(rt, refus, Etape.PLANIFICATION))
    demandes.handles(DemandeQualifieeV1, when=lambda q: q["demande_type"] in DEMANDES_TRAITEES)(planification.demande_qualifiee)
    si = rt.consumer("si", SI_RESULTATS)
    si.handles(ResultatTeleOperationV1)(planification.resultat_teleoperation)
    si.handles(InterventionRealiseeV1)(planification.intervention_realisee)
    si.handles(InterventionNonRealiseeV1)(planification.intervention_non_realisee)
    si.handles(EtudeTechniqueConclueV1)(planification.etude_conclue)
    # Tele-operations due by the clock; a full pass at start and every 10 minutes catches up a crash between an
    # intervention's write and its agenda entry.
    rt.every("echeances", settings.echeance_intervalle_s, planification.echeances_une_fois, full_every_s=600)
    journal = audit.install(rt)
    conclure = planification.conclure_par_operateur
    router = build_router(rt.auth, interventions, places, creneaux, cal, rt.today, settings.jours_affiches, journal, conclure=conclure)
    return rt.app("GRD — planification des interventions", router, planification=planification)
