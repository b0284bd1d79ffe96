"""Composition root of the passerelle: settings, runtime, its two subscribers, the HTTP app (health, metrics)."""

from __future__ import annotations

from fastapi import FastAPI

from platform_kit.runtime import Runtime
from services.passerelle.handlers import Passerelle
from services.passerelle.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the runtime and the two subscribers; the runtime is reachable as app.state.runtime, the handlers as app.state.passerelle."""
    settings = settings or Settings()
    rt = Runtime(settings)
    passerelle = Passerelle(rt, settings)
    passerelle.register()
    return rt.app("GRD — passerelle des fournisseurs", passerelle=passerelle)
