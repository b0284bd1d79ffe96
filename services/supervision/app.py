"""Composition root of the supervision service: settings, runtime, read models and their consumers, probes, page and API."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from platform_kit import audit
from platform_kit.runtime import Runtime
from services.supervision.api import routes
from services.supervision.handlers import Alimentation
from services.supervision.metrics import SupervisionMetrics
from services.supervision.probes import Sondes
from services.supervision.settings import Settings
from services.supervision.store import SupervisionStore
from services.supervision.upkeep import INTERVALLE_PURGE_S, Purge


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the supervision app; the Runtime is reachable as app.state.runtime (tests start and stop it), the read
    models as app.state.store, the probes as app.state.sondes."""
    settings = settings or Settings()
    rt = Runtime(settings)
    metrics = SupervisionMetrics(rt.metrics.registry)
    store = SupervisionStore(rt.db)
    alimentation = Alimentation(rt, store, metrics)
    alimentation.register(settings)
    sondes = Sondes(rt, settings, metrics)
    # Neither job needs the broker: the probes report a Kafka outage, the purge touches the store only.
    rt.every("sondes", settings.sonde_intervalle_s, sondes.sonder_une_fois, needs_broker=False)
    purge = Purge(store, timedelta(hours=settings.retention_heures))
    rt.every("purge", INTERVALLE_PURGE_S, purge.une_fois, needs_broker=False)
    journal = audit.install(rt)
    router = routes(rt, settings, store, sondes, metrics, alimentation.dernieres, journal)
    return rt.app("GRD — supervision", router, store=store, sondes=sondes)
