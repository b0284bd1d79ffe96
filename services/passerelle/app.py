"""Composition root of the passerelle."""

from __future__ import annotations

from fastapi import FastAPI

from platform_kit.runtime import Runtime
from services.passerelle.handlers import Passerelle
from services.passerelle.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the runtime and the two subscribers; the runtime is reachable as app.state.runtime."""
    settings = settings or Settings()
    rt = Runtime(settings)
    passerelle = Passerelle(rt, settings)
    passerelle.brancher()
    app = rt.http_app("GRD — passerelle des fournisseurs")
    app.state.runtime = rt
    app.state.passerelle = passerelle
    return app
