"""Composition root of the meter head-end simulator."""

from __future__ import annotations

from fastapi import FastAPI

from platform_kit.runtime import Runtime
from simulators.si_comptage.handlers import TeleOperations
from simulators.si_comptage.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the runtime and the consumer; the runtime is reachable as app.state.runtime."""
    settings = settings or Settings()
    rt = Runtime(settings)
    # Written only by its consumer: a crash's leftovers go out on redelivery, no sweep needed.
    TeleOperations(rt, rt.aggregates("compteurs", partitions=16, swept=False), settings.regles()).register()
    app = rt.http_app("GRD — simulateur SI comptage (télé-opérations)")
    app.state.runtime = rt
    return app
