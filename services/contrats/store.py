"""Collections of the contrats service: one aggregate document per PDS in `contrats_pds`."""

from pymongo import ASCENDING

from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore

COLLECTION = "contrats_pds"


def contrats_store(rt: Runtime) -> AggregateStore:
    """The PDS aggregates store, with the index the scheduler uses to find due changes."""
    store = rt.aggregates(COLLECTION)

    async def indexes() -> None:
        await store.collection.create_index([("prochaine_echeance", ASCENDING)])

    rt.startup_hooks.append(indexes)
    return store
