"""Load the demo contracts (demo_data.generator) into `contrats_pds`: `python -m services.contrats.seed [--count N]`."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from pymongo.errors import BulkWriteError

from demo_data.generator import PdsGen, generate_many
from platform_kit.store import make_client
from services.contrats.settings import Settings
from services.contrats.store import COLLECTION

BATCH = 5000


def document(p: PdsGen) -> dict[str, Any]:
    """The aggregate document of one generated PDS (its current contract, its last reading)."""
    contrats = []
    if p.contrat is not None:
        c = p.contrat
        debut = c["date_debut"]
        contrats.append(
            {
                "id": c["id"],
                "titulaire": c["titulaire"],
                "etat": "en_service",
                "service": c["service"],
                "puissance_souscrite_kva": c["puissance_souscrite_kva"],
                "usage": c["usage"],
                "re_code": c["re_code"],
                "parametres_bt_plus": None,
                "occupant": p.occupant,
                "contrat_conclu": None,
                "date_debut": debut.isoformat() if hasattr(debut, "isoformat") else str(debut),
                "date_fin": None,
                "references_affaires": [],
            }
        )
    derniere = None
    if p.releves:
        r = p.releves[-1]
        derniere = {
            "date_releve": r.date_releve.isoformat(),
            "index": [{"cadran": k, "valeur": v} for k, v in r.index.items()],
            "nature": r.nature,
        }
    return {
        "_id": p.reference,
        "pds": p.reference,
        "segment": p.segment,
        "contrats": contrats,
        "changements": [],
        "cf_non_soldees": {},
        "derniere_releve": derniere,
        "prochaine_echeance": None,
        "_v": 1,
        "_inbox": [],
        "_outbox": {},
        "_pending": False,
    }


async def seed(settings: Settings, count: int, start: int = 1) -> int:
    """Insert the missing demo PDS (existing ones are left untouched, so a rerun is harmless); return how many were new."""
    client = make_client(settings.mongodb_url)
    try:
        collection = client[settings.database_name][COLLECTION]
        inserted = 0
        batch: list[dict[str, Any]] = []
        for p in generate_many(count, start):
            batch.append(document(p))
            if len(batch) >= BATCH:
                inserted += await _insert(collection, batch)
                batch = []
        if batch:
            inserted += await _insert(collection, batch)
        return inserted
    finally:
        await client.close()


async def _insert(collection: Any, batch: list[dict[str, Any]]) -> int:
    exists = [await _exists(collection, batch[0]["_id"]), await _exists(collection, batch[-1]["_id"])]
    if all(exists):
        return 0
    if any(exists):
        # A previous run stopped midway: look each point up (by _id, cheap) rather than provoke thousands of duplicates.
        batch = [d for d in batch if not await _exists(collection, d["_id"])]
        if not batch:
            return 0
    try:
        result = await collection.insert_many(batch, ordered=False)
        return len(result.inserted_ids)
    except BulkWriteError as exc:
        # Duplicates are PDS already living their own life (created from a demand): keep them as they are.
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != 11000 for e in errors):
            raise
        return int(exc.details.get("nInserted", 0))


async def _exists(collection: Any, pds: str) -> bool:
    return await collection.find_one({"_id": pds}, {"_id": 1}) is not None


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000, help="Number of demo PDS to load.")
    parser.add_argument("--start", type=int, default=1, help="Index of the first demo PDS.")
    args = parser.parse_args()
    debut = time.monotonic()
    n = asyncio.run(seed(Settings(), args.count, args.start))
    print(f"contrats : {n} PDS ajoutés sur {args.count} en {time.monotonic() - debut:.1f} s")


if __name__ == "__main__":
    main()
