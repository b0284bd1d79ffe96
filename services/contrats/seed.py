"""Load the demo contracts (demo_data.generator) into the `contrats_pds` partitions: `python -m services.contrats.seed [--count N]`."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from demo_data.generator import PdsGen, generate_many
from platform_kit.store import AggregateStore, make_client, partition_of
from services.contrats.settings import Settings
from services.contrats.store import COLLECTION

BATCH = 500
EN_VOL = 2
DUPLICATE_KEY = 11000


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
        store = AggregateStore.partitioned(client[settings.database_name], COLLECTION, settings.partitions)
        return await inserer_par_partition(store, (document(p) for p in generate_many(count, start)))
    finally:
        await client.close()


async def inserer_par_partition(store: AggregateStore, docs: Iterable[dict[str, Any]]) -> int:
    """Insert documents into their partitions in bulk, a few partitions at a time; return how many were new."""
    buffers: dict[int, list[dict[str, Any]]] = defaultdict(list)
    en_vol: set[asyncio.Task[int]] = set()
    inserted = 0

    async def attendre(limite: int) -> int:
        n = 0
        while len(en_vol) > limite:
            done, _ = await asyncio.wait(en_vol, return_when=asyncio.FIRST_COMPLETED)
            en_vol.difference_update(done)
            n += sum(t.result() for t in done)
        return n

    for doc in docs:
        numero = partition_of(doc["_id"], len(store.collections))
        buffers[numero].append(doc)
        if len(buffers[numero]) >= BATCH:
            en_vol.add(asyncio.create_task(_insert(store.collections[numero], buffers.pop(numero))))
            inserted += await attendre(EN_VOL - 1)
    for numero, batch in buffers.items():
        en_vol.add(asyncio.create_task(_insert(store.collections[numero], batch)))
        inserted += await attendre(EN_VOL - 1)
    return inserted + await attendre(0)


async def _insert(collection: AsyncCollection[dict[str, Any]], batch: list[dict[str, Any]]) -> int:
    # Probe the batch's ends by _id (the only query FerretDB does not answer by decoding the whole partition): a batch
    # already loaded by a previous run costs two lookups; a partial one is inserted with its duplicates ignored.
    if await _exists(collection, batch[0]["_id"]) and await _exists(collection, batch[-1]["_id"]):
        return 0
    try:
        result = await collection.insert_many(batch, ordered=False)
        return len(result.inserted_ids)
    except BulkWriteError as exc:
        # Duplicates are PDS already living their own life (created from a demand): keep them as they are.
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return int(exc.details.get("nInserted", 0))


async def _exists(collection: AsyncCollection[dict[str, Any]], pds: str) -> bool:
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
