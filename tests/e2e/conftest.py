"""End-to-end fixture: the whole platform as separate OS processes on the real Kafka, FerretDB and SMTP sink."""

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from devtools.processes import ROOT, Platform
from platform_kit.clock import Clock, decalage_publie, publier_decalage
from tests.support import bootstrap, mail_dir, mongodb_url

SEED_COUNT = 3000


@pytest.fixture(scope="session")
def platform() -> Iterator[Platform]:
    """Seed every service's database, start the six processes, wait for /health 200 on each; stop them at the end."""
    bootstrap(), mongodb_url(), mail_dir()  # fail fast (never skip) when the infrastructure is missing
    run_id = f"e2e{uuid.uuid4().hex[:6]}"
    offset = int(os.environ.get("GRD_TEST_PORT_OFFSET", "0"))
    # The run's own controlled clock: a test that moves it moves this platform only.
    horloge = {"GRD_CLOCK_CONTROL": "1", "GRD_CLOCK_NAME": run_id}
    p = Platform(run_id, Path(os.environ.get("GRD_DATA_DIR", ROOT / ".data")) / "logs" / run_id, extra_env=horloge, port_offset=offset)
    p.seed(SEED_COUNT)
    p.start()
    yield p
    p.stop()


#: The processes built on the runtime: each exposes its clock's offset in /metrics.
AVEC_HORLOGE = ("referentiel", "contrats", "affaires", "planification", "notifications", "si_comptage")


class Horloge:
    """The e2e platform's controlled clock: move it, and wait until every service follows (read from their /metrics)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.nom = platform["contrats"].env["GRD_CLOCK_NAME"]

    async def regler(self, decalage: timedelta) -> None:
        """Publish the offset, then wait until every service's clock has it (never sleeps a fixed time)."""
        await publier_decalage(bootstrap(), decalage, self.nom)
        attendu = decalage.total_seconds()
        deadline = time.monotonic() + 60
        for name in AVEC_HORLOGE:
            url = f"http://127.0.0.1:{self.platform[name].port}/metrics"
            while decalage_expose(url) != attendu:
                assert time.monotonic() < deadline, f"{name} does not follow the clock ({decalage_expose(url)} != {attendu})"
                await asyncio.sleep(0.2)

    async def aller_au(self, jour: date) -> None:
        """Move the platform to `jour` (whole days from the real date, same time of day)."""
        await self.regler(timedelta(days=(jour - Clock().today()).days))

    async def avancer(self, duree: timedelta) -> None:
        """Move the clock forward by `duree` from where it is."""
        await self.regler(await decalage_publie(bootstrap(), self.nom) + duree)


def decalage_expose(url: str) -> float | None:
    """The clock offset a service's /metrics shows, or None."""
    try:
        texte = httpx.get(url, timeout=2).text
    except httpx.HTTPError:
        return None
    for ligne in texte.splitlines():
        if ligne.startswith("grd_horloge_decalage_secondes "):
            return float(ligne.split()[1])
    return None


@pytest.fixture
async def horloge(platform: Platform) -> AsyncIterator[Horloge]:
    """The platform's clock; put back to real time after the test, so the other tests see today's date."""
    h = Horloge(platform)
    yield h
    await h.regler(timedelta(0))
