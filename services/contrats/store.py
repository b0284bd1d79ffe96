"""Collections of the contrats service: one aggregate document per PDS, spread over the `contrats_pds_NNN` partitions."""

from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from platform_kit.listing import SupplierIndex
from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore
from services.contrats.domain import EtatPds, contrats_par_fournisseur

COLLECTION = "contrats_pds"


async def index_contrats(store: AggregateStore) -> None:
    """The index the scheduler uses to find due changes, on every partition."""
    await store.create_index([("prochaine_echeance", ASCENDING)])


def contrats_store(rt: Runtime, partitions: int) -> AggregateStore:
    """The PDS aggregates store over `partitions` collections, with the scheduler's index."""
    # Not swept: its writers are consumers and the due-change job, which both publish a crash's leftovers.
    store = rt.aggregates(COLLECTION, partitions=partitions, swept=False)

    async def indexes() -> None:
        await index_contrats(store)

    rt.startup_hooks.append(indexes)
    return store


#: Per-supplier contract index (platform_kit.listing): one small document per contract (`_id` = contract id) in the
#: supplier's collection. FerretDB scans a collection for any filter but `_id` (docs/benchmarks.md): a supplier's list
#: reads its own collection only, and a change writes the PDS's few lines whatever the supplier's size.
INDEX_CONTRATS = "contrats_par_fournisseur"


def _index(collection: AsyncCollection[dict[str, Any]]) -> SupplierIndex:
    return SupplierIndex(collection.database, collection.name)


async def indexer_contrats(index: AsyncCollection[dict[str, Any]], etat: EtatPds) -> None:
    """Record the list lines of every contract of the PDS in its holders' indexes (idempotent)."""
    for fournisseur, lignes in contrats_par_fournisseur(etat).items():
        for contrat_id, ligne in lignes.items():
            await _index(index).put(fournisseur, contrat_id, ligne)


async def contrats_du_fournisseur(index: AsyncCollection[dict[str, Any]], fournisseur: str) -> list[dict[str, Any]]:
    """Every contract line of a supplier, by PDS then contract id (its index collection alone)."""
    lignes = list((await _index(index).entries(fournisseur)).values())
    return sorted(lignes, key=lambda li: (str(li.get("pds")), str(li.get("id"))))
