"""Collections of the référentiel: PDS aggregates and the address index spread over partitions, refusals (audit: the kit's journal).

The PDS aggregates (the kit's partitioned AggregateStore) and the address index are spread over `partitions`
collections chosen by the kit's stable hash of their id (introduced when FerretDB scanned whole collections for every
lookup; our patched build and MongoDB use the `_id` index, so any count works, as long as seed and service agree).
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from platform_kit.audit import AuditJournal
from platform_kit.listing import SupplierIndex
from platform_kit.runtime import Runtime
from platform_kit.store import Loaded, partition_name, partition_of
from services.referentiel.domain.commun import State
from services.referentiel.domain.perimetre import entrees_perimetre
from services.referentiel.domain.recherche import entree_index

#: Per-supplier perimeter index (platform_kit.listing): one small document per PDS (`_id` = its reference) in the
#: supplier's collection. FerretDB scans a collection for any filter but `_id` (docs/benchmarks.md): a supplier's
#: perimeter reads its own collection only, and a change of holder writes two small documents whatever the sizes.
PERIMETRES = "perimetres"


class ReferentielStore:
    """The référentiel's collections and the few queries its handlers and routes need."""

    def __init__(self, rt: Runtime, partitions: int, audit: AuditJournal) -> None:
        self.partitions = partitions
        # Not swept by the relay (written only by consumers: a crash's leftovers go out on redelivery).
        self.pds = rt.aggregates("pds", partitions=partitions, swept=False)
        self.adresses = [rt.db[partition_name("adresses", i, partitions)] for i in range(partitions)]
        self.perimetres = SupplierIndex(rt.db, PERIMETRES)
        # One small document per demand received, keyed by its message id, whatever the decision (refused, qualified,
        # declared, technical error): written or checked before any outcome, so a demand gets exactly one, even re-sent
        # days later when the PDS has changed hands. When the PDS does not change (most demands) it also carries the
        # outcome or the DemandeQualifiee in its outbox: one insert, instead of rewriting the PDS document (several kB).
        self.demandes = rt.aggregates("demandes", partitions=16, swept=False)
        self.audit = audit
        # The PDS partitions' lookups by address key and by meter.
        rt.index(self.pds, "adresse_cle")
        rt.index(self.pds, "compteur.reference")

    def _adresses(self, cle: str) -> AsyncCollection[dict[str, Any]]:
        return self.adresses[partition_of(cle, self.partitions)]

    async def charger(self, reference: str) -> Loaded:
        """Load one PDS aggregate (version 0 when unknown)."""
        return await self.pds.load(reference)

    async def indexer(self, state: State) -> None:
        """Upsert the PDS's entry in the address index (idempotent; done before the aggregate write)."""
        # The suppliers' perimeters first: a PDS change touching holders always reaches this method.
        for fournisseur, entree in entrees_perimetre(state).items():
            await self.perimetres.put(fournisseur, state["reference"], entree)
        cle = state.get("adresse_cle")
        if not cle:
            return
        await self._adresses(cle).update_one({"_id": cle}, {"$set": {f"pds.{state['reference']}": entree_index(state)}}, upsert=True)

    async def perimetre(self, fournisseur: str) -> dict[str, dict[str, Any]]:
        """Every perimeter entry of a supplier, by PDS reference (its index collection alone)."""
        return await self.perimetres.entries(fournisseur)

    async def entrees_a_l_adresse(self, cle: str) -> list[dict[str, Any]]:
        """The index entries of every PDS at an address."""
        doc = await self._adresses(cle).find_one({"_id": cle})
        return list((doc or {}).get("pds", {}).values())
