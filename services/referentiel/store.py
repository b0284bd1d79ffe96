"""Collections of the référentiel: PDS aggregates and the address index spread over partitions, refusals, audit.

FerretDB on SQLite answers every lookup, even by `_id`, by scanning the whole collection (its query plans never use
an index), so a lookup costs time in proportion to the collection's size. The PDS aggregates and the address index
are therefore spread over `partitions` collections chosen by a stable hash of their id: a lookup scans one small
collection. On MongoDB the same code simply uses the `_id` index of each partition.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore, Loaded
from services.referentiel.domain.commun import State
from services.referentiel.domain.recherche import entree_index

log = logging.getLogger(__name__)


def partition(identifiant: str, partitions: int) -> int:
    """The partition of an id: a stable hash, the same in every process."""
    return zlib.crc32(identifiant.encode()) % partitions


def nom_partition(base: str, numero: int, partitions: int) -> str:
    """Collection name of one partition (`pds` alone when there is a single partition)."""
    return base if partitions == 1 else f"{base}_{numero:03d}"


class ReferentielStore:
    """The référentiel's collections and the few queries its handlers and routes need."""

    def __init__(self, rt: Runtime, partitions: int, balayage_s: float) -> None:
        self.rt = rt
        self.partitions = partitions
        self.balayage_s = balayage_s
        db = rt.db
        # Not registered with the kit's sweeper: it would scan every partition twice a second. rt.commit flushes each
        # outbox right after the write; `balayer` below is the slower safety net.
        self.pds_stores = [AggregateStore(db[nom_partition("pds", i, partitions)]) for i in range(partitions)]
        self.adresses = [db[nom_partition("adresses", i, partitions)] for i in range(partitions)]
        self.refus = rt.aggregates("refus")
        self.audit: AsyncCollection[dict[str, Any]] = db["audit"]
        rt.startup_hooks.append(self.creer_index)
        rt.background.append(self.balayer)

    def pds(self, reference: str) -> AggregateStore:
        """The aggregate store holding one PDS."""
        return self.pds_stores[partition(reference, self.partitions)]

    def _adresses(self, cle: str) -> AsyncCollection[dict[str, Any]]:
        return self.adresses[partition(cle, self.partitions)]

    async def creer_index(self) -> None:
        """Create the indexes (the PDS partitions' lookups by address key and meter, the audit's filters)."""
        for store in self.pds_stores:
            await store.ensure_indexes()
            await store.collection.create_index([("adresse_cle", ASCENDING)])
            await store.collection.create_index([("compteur.reference", ASCENDING)])
        await self.audit.create_index([("pds", ASCENDING), ("horodatage", DESCENDING)])
        await self.audit.create_index([("acteur", ASCENDING), ("horodatage", DESCENDING)])

    async def charger(self, reference: str) -> Loaded:
        """Load one PDS aggregate (version 0 when unknown)."""
        return await self.pds(reference).load(reference)

    async def indexer(self, state: State) -> None:
        """Upsert the PDS's entry in the address index (idempotent; done before the aggregate write)."""
        cle = state.get("adresse_cle")
        if not cle:
            return
        await self._adresses(cle).update_one({"_id": cle}, {"$set": {f"pds.{state['reference']}": entree_index(state)}}, upsert=True)

    async def entrees_a_l_adresse(self, cle: str) -> list[dict[str, Any]]:
        """The index entries of every PDS at an address."""
        doc = await self._adresses(cle).find_one({"_id": cle})
        return list((doc or {}).get("pds", {}).values())

    async def tracer(self, entree: dict[str, Any]) -> None:
        """Append an audit entry; an entry with an `_id` (derived from a message) is written once."""
        try:
            await self.audit.insert_one(entree)
        except DuplicateKeyError:
            pass

    async def journal(self, pds: str | None, acteur: str | None, limite: int) -> list[dict[str, Any]]:
        """Audit entries, newest first, filtered by PDS and/or actor."""
        filtre: dict[str, Any] = {}
        if pds:
            filtre["pds"] = pds
        if acteur:
            filtre["acteur"] = acteur
        curseur = self.audit.find(filtre, {"_id": 0}).sort("horodatage", DESCENDING).limit(limite)
        return [doc async for doc in curseur]

    async def balayer(self) -> None:
        """Safety net of the outbox: publish what a crash between write and publication left in a PDS partition."""
        while True:
            await asyncio.sleep(self.balayage_s)
            for store in self.pds_stores:
                try:
                    for doc in await store.pending():
                        await self.rt.relay.flush(store, str(doc["_id"]))
                except Exception:
                    log.warning("outbox sweep of %s failed; will retry", store.collection.name, exc_info=True)


def maintenant() -> datetime:
    """The audit clock (UTC)."""
    return datetime.now(UTC)
