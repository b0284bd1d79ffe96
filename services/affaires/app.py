"""Composition root of the affaires service: runtime, stores, consumers and HTTP routes."""

from __future__ import annotations

from fastapi import FastAPI

from platform_kit import audit
from platform_kit.runtime import Runtime
from services.affaires.api import routes
from services.affaires.handlers import AffairesHandlers
from services.affaires.settings import Settings
from services.affaires.store import AffairesStore


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the affaires app; the Runtime is reachable as app.state.runtime (tests start and stop it), the stores as
    app.state.store, the handlers as app.state.handlers."""
    settings = settings or Settings()
    rt = Runtime(settings)
    store = AffairesStore(rt, settings.partitions, settings.refus_partitions)
    handlers = AffairesHandlers(rt, store.affaires, store.refus, store, settings.piece_jointe_taille_max_octets)
    handlers.register(rt)
    return rt.app("GRD — affaires", routes(rt, store, settings, audit.install(rt)), store=store, handlers=handlers)
