"""Collections of the référentiel: PDS aggregates and the address index spread over partitions, refusals, audit.

The PDS aggregates (the kit's partitioned AggregateStore) and the address index are spread over `partitions`
collections chosen by the kit's stable hash of their id (introduced when FerretDB scanned whole collections for every
lookup; our patched build and MongoDB use the `_id` index, so any count works, as long as seed and service agree).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from platform_kit.runtime import Runtime
from platform_kit.store import Loaded, partition_name, partition_of
from services.referentiel.domain.commun import State
from services.referentiel.domain.recherche import entree_index


class ReferentielStore:
    """The référentiel's collections and the few queries its handlers and routes need."""

    def __init__(self, rt: Runtime, partitions: int) -> None:
        self.partitions = partitions
        # Not swept by the relay (written only by consumers: a crash's leftovers go out on redelivery).
        self.pds = rt.aggregates("pds", partitions=partitions, swept=False)
        self.adresses = [rt.db[partition_name("adresses", i, partitions)] for i in range(partitions)]
        self.refus = rt.aggregates("refus", partitions=16, swept=False)
        # Qualified demands that change nothing on the PDS (demandes diverses, réclamations...): one small document per
        # demand carries the DemandeQualifiee, instead of rewriting the PDS document (several kB) twice per demand.
        self.qualifications = rt.aggregates("qualifications", partitions=16, swept=False)
        self.audit: AsyncCollection[dict[str, Any]] = rt.db["audit"]
        rt.startup_hooks.append(self.creer_index)

    def _adresses(self, cle: str) -> AsyncCollection[dict[str, Any]]:
        return self.adresses[partition_of(cle, self.partitions)]

    async def creer_index(self) -> None:
        """Create the indexes (the PDS partitions' lookups by address key and meter, the audit's filters)."""
        await self.pds.create_index([("adresse_cle", ASCENDING)])
        await self.pds.create_index([("compteur.reference", ASCENDING)])
        await self.audit.create_index([("pds", ASCENDING), ("horodatage", DESCENDING)])
        await self.audit.create_index([("acteur", ASCENDING), ("horodatage", DESCENDING)])

    async def charger(self, reference: str) -> Loaded:
        """Load one PDS aggregate (version 0 when unknown)."""
        return await self.pds.load(reference)

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


def maintenant() -> datetime:
    """The audit clock (UTC)."""
    return datetime.now(UTC)
