"""Collections of the contrats service: one aggregate document per PDS, spread over the `contrats_pds_NNN` partitions."""

import asyncio
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore, partition_of
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


#: Per-supplier contract index: SEAUX_CONTRATS documents per supplier (`_id = CODE|NN`) mapping contract ids to their
#: list line. FerretDB scans a collection for any filter but `_id` (docs/benchmarks.md): a supplier's list is `_id` reads.
INDEX_CONTRATS = "contrats_par_fournisseur"
SEAUX_CONTRATS = 16


def cle_index_contrat(fournisseur: str, pds: str) -> str:
    """The index document of a supplier holding a PDS's contracts."""
    return f"{fournisseur}|{partition_of(pds, SEAUX_CONTRATS):02d}"


async def indexer_contrats(index: AsyncCollection[dict[str, Any]], etat: EtatPds) -> None:
    """Record the list lines of every contract of the PDS in its holder's index (idempotent)."""
    for fournisseur, lignes in contrats_par_fournisseur(etat).items():
        await index.update_one({"_id": cle_index_contrat(fournisseur, etat.pds)}, {"$set": {f"c.{k}": v for k, v in lignes.items()}}, upsert=True)


async def contrats_du_fournisseur(index: AsyncCollection[dict[str, Any]], fournisseur: str) -> list[dict[str, Any]]:
    """Every contract line of a supplier, by PDS then contract id (SEAUX_CONTRATS reads by `_id`)."""
    docs = await asyncio.gather(*(index.find_one({"_id": f"{fournisseur}|{i:02d}"}) for i in range(SEAUX_CONTRATS)))
    lignes = [ligne for doc in docs if doc for ligne in doc.get("c", {}).values()]
    return sorted(lignes, key=lambda li: (str(li.get("pds")), str(li.get("id"))))
