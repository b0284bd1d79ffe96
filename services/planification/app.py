"""Composition root of the planification service."""

from __future__ import annotations

from fastapi import FastAPI

from platform_kit import audit
from platform_kit.reference import reference
from platform_kit.runtime import Runtime
from services.planification.api import build_router
from services.planification.domain import Calendrier
from services.planification.handlers import Planification
from services.planification.settings import Settings
from services.planification.store import INTERVENTIONS, Creneaux, Places


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
    """Build the runtime, stores, consumers and routes; the runtime is reachable as app.state.runtime."""
    settings = settings or Settings()
    rt = Runtime(settings)
    interventions = rt.aggregates(INTERVENTIONS, partitions=32)
    places = Places(rt.db)
    creneaux = Creneaux(rt.db)
    rt.startup_hooks.append(places.ensure_indexes)
    rt.startup_hooks.append(creneaux.ensure_indexes)
    cal = calendrier(settings)
    rt.clock.fixer_jour(settings.date_du_jour)
    today = rt.clock.today
    planification = Planification(rt, interventions, places, creneaux, cal, today, settings.regles_teleoperation(), settings.echeance_intervalle_s)
    planification.register()
    rt.background.append(planification.boucle_echeances)
    journal = audit.install(rt)
    router = build_router(
        rt.auth, interventions, places, creneaux, cal, today, settings.jours_affiches, journal, conclure=planification.conclure_par_operateur
    )
    app = rt.http_app("GRD — planification des interventions", router)
    app.state.runtime = rt
    app.state.planification = planification
    return app
