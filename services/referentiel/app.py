"""Composition root of the référentiel: runtime, store, consumers and HTTP routes."""

from __future__ import annotations

from fastapi import FastAPI

from platform_kit import audit
from platform_kit.runtime import Runtime
from services.referentiel.api import build_router
from services.referentiel.handlers import Handlers
from services.referentiel.settings import Settings
from services.referentiel.store import ReferentielStore


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the référentiel's ASGI app; `app.state.runtime` and `app.state.store` let tests reach them."""
    settings = settings or Settings()
    rt = Runtime(settings)
    store = ReferentielStore(rt, settings.partitions, audit.install(rt))
    Handlers(rt, store, settings).register()
    app = rt.http_app("Référentiel PDS", build_router(rt, store, settings))
    app.state.runtime = rt
    app.state.store = store
    return app
