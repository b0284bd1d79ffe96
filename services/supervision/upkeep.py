"""Keeps the read models bounded: flow counts and demand timestamps older than the retention are deleted hourly."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from platform_kit.runtime import Runtime
from services.supervision.settings import Settings
from services.supervision.store import SupervisionStore

log = logging.getLogger(__name__)


class Purge:
    """The hourly purge job, run by the runtime with its background jobs."""

    def __init__(self, rt: Runtime, settings: Settings, store: SupervisionStore) -> None:
        self.settings = settings
        self.store = store
        rt.background.append(self.boucle)

    async def boucle(self) -> None:
        """Purge, then sleep an hour (a failed purge is tried again at the next round)."""
        while True:
            try:
                await self.store.purger(datetime.now(UTC) - timedelta(hours=self.settings.retention_heures))
            except Exception:
                log.warning("purge failed", exc_info=True)
            await asyncio.sleep(3600)
