"""Composition root of the référentiel: settings, runtime, store, consumers and HTTP routes."""

from __future__ import annotations

from fastapi import FastAPI

from platform_kit import audit
from platform_kit.reference import reference
from platform_kit.runtime import Runtime
from services.referentiel.api import build_router
from services.referentiel.handlers import Handlers
from services.referentiel.settings import Settings
from services.referentiel.store import ReferentielStore


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the référentiel's ASGI app; `app.state.runtime`, `app.state.store` and `app.state.handlers` let tests reach them."""
    settings = settings or Settings()
    rt = Runtime(settings)
    store = ReferentielStore(rt, settings.partitions, audit.install(rt))
    handlers = Handlers(
        rt,
        store.pds,
        store.demandes,
        store.audit,
        store.indexer,
        adresse_grd=reference().grd_email,
        mois_consommations=settings.mois_consommations,
        service_name=settings.service_name,
    )
    handlers.register(rt)
    return rt.app("Référentiel PDS", build_router(rt, store, settings), store=store, handlers=handlers)
