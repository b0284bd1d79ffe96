"""Conditional updates are atomic: of concurrent writers that read the same version, exactly one wins, and no write is lost.

Our aggregates rely on it (platform_kit.store.AggregateStore.commit: one `update_one({_id, _v})` per commit). FerretDB
1.24.2 on SQLite evaluates the filter in Go and then writes by `_id` alone, so two writers that read the same version
both matched and the second overwrote the first; infra/ferretdb/patch.sh makes that write a compare-and-set.
Every writer reads, then waits at a barrier until all have read, then writes: all of a round's writes race on the
same version, on any machine.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pymongo import MongoClient, ReturnDocument, UpdateOne
from pymongo.collection import Collection

from platform_kit.store import AggregateStore, ConcurrencyConflict, make_client
from tests.support import mongodb_url, unique_db

pytestmark = pytest.mark.integration

WRITERS = 12
ROUNDS = 20
DOC = "30000000000001"
HANG_GUARD_S = 120  # a barrier never waits longer (a writer that died must not hang the run); not a timing check

# One conditional write from version v: True when it took effect (as the server acknowledges it).
VersionedWrite = Callable[[Collection[dict[str, Any]], int], bool]


def by_update_one(coll: Collection[dict[str, Any]], v: int) -> bool:
    """update_one({_id, _v: v}): matched_count says whether it took effect."""
    return coll.update_one({"_id": DOC, "_v": v}, {"$set": {"_v": v + 1}, "$inc": {"n": 1}}).matched_count == 1


def by_update_many(coll: Collection[dict[str, Any]], v: int) -> bool:
    """update_many with the same filter (the same server code path, without the limit of one document)."""
    return coll.update_many({"_id": DOC, "_v": v}, {"$set": {"_v": v + 1}, "$inc": {"n": 1}}).matched_count == 1


def by_find_one_and_update(coll: Collection[dict[str, Any]], v: int) -> bool:
    """findAndModify: a returned document says it took effect."""
    doc = coll.find_one_and_update({"_id": DOC, "_v": v}, {"$set": {"_v": v + 1}, "$inc": {"n": 1}}, return_document=ReturnDocument.AFTER)
    return doc is not None


@pytest.fixture
def coll() -> Iterator[Collection[dict[str, Any]]]:
    """A one-document collection {_id: DOC, _v: 0, n: 0} on a fresh database, dropped afterwards."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url(), maxPoolSize=WRITERS + 4)
    db = client[unique_db("grd_concurrency")]
    c = db["pds"]
    c.insert_one({"_id": DOC, "_v": 0, "n": 0, "pad": "x" * 3000})
    yield c
    client.drop_database(db.name)
    client.close()


def race(rounds: int, write: Callable[[int], bool]) -> list[list[int]]:
    """Run `rounds` rounds of WRITERS threads that each read, wait for all, then call write(round); per round, who won."""
    barrier = threading.Barrier(WRITERS, timeout=HANG_GUARD_S)
    winners: list[list[int]] = [[] for _ in range(rounds)]
    lock = threading.Lock()

    def writer(me: int) -> None:
        try:
            for r in range(rounds):
                barrier.wait()
                won = write(r)
                with lock:
                    if won:
                        winners[r].append(me)
                barrier.wait()  # the round is over for everyone before the next one reads
        except BaseException:
            barrier.abort()  # the others fail fast instead of waiting for this writer
            raise

    with ThreadPoolExecutor(WRITERS) as pool:
        for f in [pool.submit(writer, i) for i in range(WRITERS)]:
            f.result()
    return winners


@pytest.mark.parametrize("write", [by_update_one, by_update_many, by_find_one_and_update], ids=["update_one", "update_many", "findAndModify"])
def test_of_writers_that_read_the_same_version_exactly_one_wins(coll: Collection[dict[str, Any]], write: VersionedWrite) -> None:
    read_versions: list[list[int]] = [[] for _ in range(ROUNDS)]
    lock = threading.Lock()
    reads_done = threading.Barrier(WRITERS, timeout=HANG_GUARD_S)

    def attempt(r: int) -> bool:
        doc = coll.find_one({"_id": DOC})
        assert doc is not None
        with lock:
            read_versions[r].append(doc["_v"])
        reads_done.wait()  # every writer has read before any writes: they all race from the same version
        return write(coll, doc["_v"])

    winners = race(ROUNDS, attempt)

    assert all(len(set(vs)) == 1 for vs in read_versions), "a round's writers did not all read the same version"
    acknowledged = sum(len(w) for w in winners)
    final = coll.find_one({"_id": DOC})
    assert final is not None
    assert final["n"] == acknowledged, f"{acknowledged} writes acknowledged, {final['n']} in the document"
    assert [len(w) for w in winners] == [1] * ROUNDS, f"writers acknowledged per round (each from the same version): {[len(w) for w in winners]}"
    assert final["_v"] == ROUNDS
    assert len(final["pad"]) == 3000


def test_concurrent_unconditional_increments_are_all_applied(coll: Collection[dict[str, Any]]) -> None:
    """A write that loses the race on a filter that still matches is applied to the new version, not dropped."""
    matched: list[int] = []
    lock = threading.Lock()

    def increment(_round: int) -> bool:
        n = coll.update_one({"_id": DOC}, {"$inc": {"n": 1}}).matched_count
        with lock:
            matched.append(n)
        return n == 1

    race(ROUNDS, increment)

    final = coll.find_one({"_id": DOC})
    assert final is not None
    assert matched == [1] * (WRITERS * ROUNDS)
    assert final["n"] == WRITERS * ROUNDS, f"{WRITERS * ROUNDS} increments acknowledged, {final['n']} applied"


async def test_aggregate_commits_from_concurrent_committers_are_never_lost() -> None:
    """Many committers of one aggregate, load -> commit, retrying on ConcurrencyConflict: every acknowledged commit counts."""
    client = make_client(mongodb_url())
    name = unique_db("grd_concurrency")
    store = AggregateStore(client[name]["compteurs"])
    agg = "30000000000002"
    per_committer = 8
    try:
        created, _ = await store.commit(await store.load(agg), {"compteur": 0}, "m-create", [])
        assert created == 1
        versions: list[int] = []  # the version each successful commit returned
        conflicts = 0

        async def committer() -> None:
            nonlocal conflicts
            for _ in range(per_committer):
                while True:
                    loaded = await store.load(agg)
                    await asyncio.sleep(0)  # let the others load too: commits race from the same version
                    try:
                        version, _ = await store.commit(loaded, {"compteur": loaded.state["compteur"] + 1}, uuid.uuid4().hex, [])
                    except ConcurrencyConflict:
                        conflicts += 1
                        continue
                    versions.append(version)
                    break

        await asyncio.gather(*(committer() for _ in range(WRITERS)))

        final = await store.load(agg)
        assert conflicts > 0, "no commit ever conflicted: the test did not exercise concurrency"
        counter = final.state["compteur"]
        assert counter == len(versions) == WRITERS * per_committer, f"{len(versions)} commits acknowledged, counter {counter}"
        assert sorted(versions) == list(range(2, 2 + WRITERS * per_committer)), "two commits were acknowledged with the same version"
        assert final.version == 1 + WRITERS * per_committer
    finally:
        await client.drop_database(name)
        await client.close()


def test_an_update_command_of_many_statements_completes_and_leaves_the_database_usable() -> None:
    """One update command with 250 statements (a bulk_write of update_ones) applies them all, and the database still
    answers afterwards. FerretDB 1.24.2 kept every statement's query open until the end of the command: the 100th
    statement waited forever for one of the database's 100 connections, and every later client of that database hung
    (infra/ferretdb/patch.sh, section 4). The socket timeout turns such a hang into a failure instead of a stuck run."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url(), socketTimeoutMS=HANG_GUARD_S * 1000)
    name = unique_db("grd_bulk_update")
    try:
        c = client[name]["adresses"]
        c.insert_many([{"_id": f"a{i}", "n": 0} for i in range(250)])
        result = c.bulk_write([UpdateOne({"_id": f"a{i}"}, {"$inc": {"n": 1}}) for i in range(250)], ordered=False)
        assert result.matched_count == 250 and result.modified_count == 250
        assert c.count_documents({"n": 1}) == 250
        c.update_one({"_id": "a0"}, {"$inc": {"n": 1}})  # the database still takes writes
        assert c.find_one({"_id": "a0"}) == {"_id": "a0", "n": 2}
    finally:
        client.drop_database(name)
        client.close()
