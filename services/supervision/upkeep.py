"""Keeps the read models bounded: flow counts and demand timestamps older than the retention are deleted hourly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.supervision.store import SupervisionStore

#: Seconds between two purges.
INTERVALLE_PURGE_S = 3600.0


class Purge:
    """The hourly purge job (`rt.every("purge", INTERVALLE_PURGE_S, purge.une_fois, needs_broker=False)`)."""

    def __init__(self, store: SupervisionStore, retention: timedelta) -> None:
        self.store = store
        self.retention = retention

    async def une_fois(self, _full: bool = True) -> None:
        """Forget what is older than the retention (a failed purge is tried again by the periodic runner)."""
        # Wall-clock time, not the platform clock: the read models hold Kafka timestamps and envelopes' `occurred_at`,
        # which a demo's clock control does not move.
        await self.store.purger(datetime.now(UTC) - self.retention)
