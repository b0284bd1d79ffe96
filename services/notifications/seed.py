"""Load the suppliers' e-mail addresses into `destinataires`: `python -m services.notifications.seed` (idempotent)."""

from __future__ import annotations

import argparse
import asyncio
import time

from platform_kit.store import make_client
from services.notifications.settings import Settings
from services.notifications.store import Destinataires


async def seed(settings: Settings) -> int:
    """Upsert the reference suppliers' addresses; return how many documents changed."""
    client = make_client(settings.mongodb_url)
    try:
        return await Destinataires(client[settings.database_name]).seed()
    finally:
        await client.close()


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=0, help="Number of demo PDS (ignored: this service stores no per-PDS data).")
    parser.parse_args()
    start = time.perf_counter()
    changed = asyncio.run(seed(Settings()))
    print(f"destinataires: {changed} document(s) written in {time.perf_counter() - start:.2f}s")


if __name__ == "__main__":
    main()
