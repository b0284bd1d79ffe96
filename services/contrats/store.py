"""Collections of the contrats service: one aggregate document per PDS, spread over the `contrats_pds_NNN` partitions."""

from pymongo import ASCENDING

from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore

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
