"""Composition root of the affaires service: runtime, stores, consumers and HTTP routes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from platform_kit.runtime import Runtime
from services.affaires.api import routes
from services.affaires.handlers import AffairesHandlers
from services.affaires.settings import Settings
from services.affaires.store import AffairesStore


def horloge(fuseau: str) -> Callable[[], date]:
    """Today's date in the GRD's time zone (dates d'effet are local dates)."""
    zone = ZoneInfo(fuseau)
    return lambda: datetime.now(zone).date()


def create_app(settings: Settings | None = None, *, aujourdhui: Callable[[], date] | None = None) -> FastAPI:
    """Build the affaires app; the Runtime is reachable as app.state.runtime (tests start and stop it)."""
    settings = settings or Settings()
    rt = Runtime(settings)
    store = AffairesStore(rt, settings.partitions, settings.refus_partitions)
    AffairesHandlers(rt, store, settings, aujourdhui or horloge(settings.fuseau_horaire)).brancher()
    app = rt.http_app("GRD — affaires", routes(rt, store, settings))
    app.state.runtime = rt
    app.state.store = store
    return app
