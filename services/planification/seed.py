"""Seed the planification service: materialize every zone's slots for the next days (`python -m services.planification.seed`)."""

from __future__ import annotations

import argparse
import asyncio
import time

from contracts.common import ModeIntervention
from platform_kit.clock import Clock
from platform_kit.store import Indexes, make_client
from services.planification.app import calendrier
from services.planification.domain import creneaux_a_partir
from services.planification.settings import Settings
from services.planification.store import Creneaux, Places, declarer_index


async def seed(settings: Settings, jours: int) -> int:
    """Upsert the slots of every zone and mode over `jours` days (idempotent); how many were created."""
    cal = calendrier(settings)
    today = Clock(jour_fixe=settings.date_du_jour).today()
    client = make_client(settings.mongodb_url)
    try:
        db = client[settings.database_name]
        creneaux = Creneaux(db)
        indexes = Indexes()
        declarer_index(indexes, Places(db), creneaux)
        await indexes.create()
        slots = [
            s
            for zone in cal.zones
            for mode in (ModeIntervention.CRENEAU, ModeIntervention.PRESENCE_NON_OBLIGATOIRE)
            for s in creneaux_a_partir(cal, zone, mode, today, today, jours)
        ]
        return await creneaux.materialiser(slots)
    finally:
        await client.close()


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=0, help="Demo PDS count (accepted for symmetry: this service stores no per-PDS data).")
    parser.add_argument("--jours", type=int, default=None, help="Days of slots to materialize (default: the horizon).")
    args = parser.parse_args()
    settings = Settings()
    start = time.perf_counter()
    created = asyncio.run(seed(settings, args.jours or settings.horizon_jours))
    print(f"planification: {created} créneaux créés en {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
