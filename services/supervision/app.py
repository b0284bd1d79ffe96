"""Composition root of the supervision service: runtime, read models and their consumers, probes, page and API."""

from __future__ import annotations

from fastapi import FastAPI

from platform_kit import audit
from platform_kit.runtime import Runtime
from services.supervision.api import routes
from services.supervision.handlers import Alimentation
from services.supervision.metrics import SupervisionMetrics
from services.supervision.probes import Sondes
from services.supervision.settings import Settings
from services.supervision.store import SupervisionStore
from services.supervision.upkeep import Purge


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the supervision app; the Runtime is reachable as app.state.runtime (tests start and stop it)."""
    settings = settings or Settings()
    rt = Runtime(settings)
    metrics = SupervisionMetrics(rt.metrics.registry)
    store = SupervisionStore(rt.db)
    alimentation = Alimentation(rt, store, metrics)
    alimentation.brancher()
    sondes = Sondes(rt, settings, metrics)
    Purge(rt, settings, store)
    journal = audit.install(rt)
    app = rt.http_app("GRD — supervision", routes(rt, settings, store, sondes, metrics, alimentation.dernieres, journal))
    app.state.runtime = rt
    app.state.store = store
    app.state.sondes = sondes
    return app
