"""Collections of the contrats service: one aggregate document per PDS over the `contrats_pds_NNN` partitions, the
due-date agenda, the holders' contract lists, and their index declarations."""

from __future__ import annotations

from datetime import date
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from platform_kit.listing import SupplierIndex
from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore
from services.contrats.domain import EtatPds, contrats_par_fournisseur

COLLECTION = "contrats_pds"

#: One small document per PDS holding a dated change (`_id` = PDS, `date`): FerretDB scans whole collections, so the
#: due job reads this instead of every PDS.
AGENDA = "agenda_echeances"

#: Per-supplier contract index (platform_kit.listing): one small document per contract (`_id` = contract id) in the
#: supplier's collection. FerretDB scans a collection for any filter but `_id` (docs/benchmarks.md): a supplier's list
#: reads its own collection only, and a change writes the PDS's few lines whatever the supplier's size.
INDEX_CONTRATS = "contrats_par_fournisseur"


def contrats_store(rt: Runtime, partitions: int) -> AggregateStore:
    """The PDS aggregates store over `partitions` collections, with the due job's index on every partition."""
    # Not swept: its writers are consumers and the due-change job, which both publish a crash's leftovers.
    store = rt.aggregates(COLLECTION, partitions=partitions, swept=False)
    rt.index(store, [("prochaine_echeance", ASCENDING)])
    return store


class Annexes:
    """The documents written beside a PDS aggregate: its holders' contract lines and its entry in the due agenda.

    Both are idempotent side writes: the lines before the aggregate's commit (a crash before it redelivers the message
    and writes them again), the agenda after it (a crash between the two is caught up by the due job's full pass).
    """

    def __init__(self, db: AsyncDatabase[dict[str, Any]], store: AggregateStore) -> None:
        self.store = store
        self.agenda: AsyncCollection[dict[str, Any]] = db[AGENDA]
        self.listes = SupplierIndex(db, INDEX_CONTRATS)

    async def indexer(self, etat: EtatPds) -> None:
        """Record the list lines of every contract of the PDS in its holders' indexes (idempotent)."""
        for fournisseur, lignes in contrats_par_fournisseur(etat).items():
            for contrat_id, ligne in lignes.items():
                await self.listes.put(fournisseur, contrat_id, ligne)

    async def noter_echeance(self, pds: str, jour: date | None) -> None:
        """Keep the PDS's agenda entry at its next due date (none: no entry)."""
        if jour is not None:
            await self.agenda.replace_one({"_id": pds}, {"_id": pds, "date": jour.isoformat()}, upsert=True)
        else:
            await self.agenda.delete_one({"_id": pds})

    async def echeances_dues(self, jour: date, complet: bool) -> list[str]:
        """The PDS with a change due by `jour`: from the agenda, or (complet) from every partition of the aggregates."""
        borne = {"$lte": jour.isoformat()}
        if complet:
            return [str(doc["_id"]) for c in self.store.collections async for doc in c.find({"prochaine_echeance": borne}, {"_id": 1})]
        return [str(doc["_id"]) async for doc in self.agenda.find({"date": borne}, {"_id": 1})]


async def contrats_du_fournisseur(db: AsyncDatabase[dict[str, Any]], fournisseur: str) -> list[dict[str, Any]]:
    """Every contract line of a supplier, by PDS then contract id (its index collection alone)."""
    lignes = list((await SupplierIndex(db, INDEX_CONTRATS).entries(fournisseur)).values())
    return sorted(lignes, key=lambda li: (str(li.get("pds")), str(li.get("id"))))
