"""Composition root of the notifications service: runtime, stores, SMTP sender, `mails` consumer and HTTP routes."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from platform_kit import audit
from platform_kit.runtime import Runtime
from services.notifications.api import router
from services.notifications.handlers import Notifications
from services.notifications.rendering import Renderer
from services.notifications.settings import Settings
from services.notifications.smtp import SmtpSender
from services.notifications.store import Destinataires, indexer_mail, mails_store, suivis_store


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service's ASGI app; `app.state.runtime` gives tests the Runtime to start and stop, `app.state.notifications`
    the use case (benchmarks call it directly)."""
    settings = settings or Settings()
    rt = Runtime(settings, transient_budget_s=settings.transient_budget_s)
    mails = mails_store(rt, settings.partitions)
    sender = SmtpSender(settings)
    rt.shutdown_hooks.append(sender.close)
    notifications = Notifications(
        rt,
        settings,
        mails=mails,
        suivis=suivis_store(rt, settings.partitions),
        destinataires=Destinataires(rt.db),
        sender=sender,
        renderer=Renderer(),
        indexer_mail=partial(indexer_mail, rt.db),
    )
    notifications.register(rt)
    return rt.app("GRD – notifications", router(rt, mails, audit.install(rt)), notifications=notifications)
