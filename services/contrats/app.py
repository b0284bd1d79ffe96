"""Composition root of the contrats service: settings -> runtime -> stores -> handlers -> consumers and due job -> routes."""

from fastapi import FastAPI

from contracts.common import StatutAffaire
from contracts.evenements import AffaireStatutChangeV1, DemandeQualifieeV1, InterventionStatutChangeV1
from contracts.refus import Etape
from contracts.topics import AFFAIRES_EVENEMENTS, INTERVENTIONS_EVENEMENTS, QUALIFIEES_CONTRATS
from platform_kit import audit
from platform_kit.outcomes import failure_hook_for_qualified
from platform_kit.reference import reference
from platform_kit.runtime import Runtime
from services.contrats.api import router
from services.contrats.domain import TYPES_TRAITES, Regles
from services.contrats.handlers import Handlers
from services.contrats.settings import Settings
from services.contrats.store import Annexes, contrats_store


def regles_depuis(settings: Settings) -> Regles:
    """The processes' policy from the settings and the GRD's reference data."""
    grd = reference()
    return Regles(
        horizon_jours=settings.horizon_date_effet_jours,
        delai_cf_jours=settings.delai_cf_jours,
        durees_minutes=dict(settings.durees_intervention_minutes),
        res_connus=grd.tous_les_re(),
        re_par_defaut=grd.re_par_defaut(),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service's ASGI app (app.state.runtime, app.state.store, app.state.handlers)."""
    settings = settings or Settings()
    rt = Runtime(settings)
    rt.clock.fixer_jour(settings.date_du_jour)
    store = contrats_store(rt, settings.partitions)
    echecs = rt.aggregates("echecs", swept=False)
    handlers = Handlers(rt, store, regles_depuis(settings), Annexes(rt.db, store), rt.publishing_leftovers, service=settings.service_name)
    rt.consumer(
        "demandes", QUALIFIEES_CONTRATS, on_invalid=handlers.refuser_illisible, on_failure=failure_hook_for_qualified(rt, echecs, Etape.CONTRATS)
    ).handles(DemandeQualifieeV1, when=lambda q: q["demande_type"] in TYPES_TRAITES)(handlers.demande)
    rt.consumer("interventions", INTERVENTIONS_EVENEMENTS).handles(InterventionStatutChangeV1)(handlers.intervention)
    rt.consumer("affaires", AFFAIRES_EVENEMENTS).handles(AffaireStatutChangeV1, when=lambda e: e["statut"] != StatutAffaire.EN_COURS.value)(
        handlers.affaire
    )
    # Changes without intervention on their date d'effet; a full pass at start and every 10 minutes catches up a crash
    # between an aggregate's write and its agenda entry.
    rt.every("echeances", settings.echeance_intervalle_s, handlers.echeances_une_fois, full_every_s=600)
    return rt.app("GRD — service contrats", router(rt, store, audit.install(rt)), store=store, handlers=handlers)
