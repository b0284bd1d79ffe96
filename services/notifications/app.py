"""Composition root of the notifications service: runtime, stores, SMTP sender, `mails` consumer and HTTP routes."""

from __future__ import annotations

from fastapi import FastAPI

from platform_kit import audit
from platform_kit.runtime import Runtime
from services.notifications import api, handlers, store
from services.notifications.rendering import Renderer
from services.notifications.settings import Settings
from services.notifications.smtp import SmtpSender


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service's ASGI app; `app.state.runtime` gives tests the Runtime to start and stop."""
    settings = settings or Settings()
    rt = Runtime(settings, transient_budget_s=settings.transient_budget_s)
    # One document per e-mail and per affaire: spread over partitions so lookups stay flat on FerretDB.
    mails = rt.aggregates(store.MAILS, partitions=settings.partitions, swept=False)
    sender = SmtpSender(settings)
    rt.shutdown_hooks.append(sender.close)
    notifications = handlers.Notifications(
        rt,
        settings,
        mails=mails,
        suivis=rt.aggregates(store.SUIVI, partitions=settings.partitions, swept=False),
        destinataires=store.Destinataires(rt.db),
        sender=sender,
        renderer=Renderer(),
    )
    handlers.register(rt, notifications)

    async def indexes() -> None:
        await store.ensure_indexes(mails)

    rt.startup_hooks.append(indexes)
    app = rt.http_app("GRD – notifications", api.router(rt, mails, audit.install(rt)))
    app.state.runtime = rt
    app.state.notifications = notifications
    return app
