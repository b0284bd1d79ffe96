"""Composition root of the affaires service: runtime, stores, consumers and HTTP routes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from fastapi import FastAPI

from platform_kit import audit
from platform_kit.runtime import Runtime
from services.affaires.api import routes
from services.affaires.handlers import AffairesHandlers
from services.affaires.settings import Settings
from services.affaires.store import AffairesStore


def create_app(settings: Settings | None = None, *, aujourdhui: Callable[[], date] | None = None) -> FastAPI:
    """Build the affaires app; the Runtime is reachable as app.state.runtime (tests start and stop it)."""
    settings = settings or Settings()
    rt = Runtime(settings)
    store = AffairesStore(rt, settings.partitions, settings.refus_partitions)
    AffairesHandlers(rt, store, settings, aujourdhui or rt.clock.today).brancher()
    journal = audit.install(rt)
    app = rt.http_app("GRD — affaires", routes(rt, store, settings, journal))
    app.state.runtime = rt
    app.state.store = store
    return app
