"""Slot places against the real FerretDB: concurrent claims never overbook, claims and frees are idempotent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from platform_kit.store import Indexes, make_client
from services.planification.store import Creneaux, Places, declarer_index
from tests.support import mongodb_url, unique_db

pytestmark = pytest.mark.integration
SLOT = "Z01-20261110-H0800-CR"
AUTRE = "Z01-20261110-H1330-CR"


@pytest.fixture
async def places() -> AsyncIterator[Places]:
    """A Places store on a fresh database, dropped afterwards."""
    client = make_client(mongodb_url())
    name = unique_db("grd_planification")
    store = Places(client[name])
    indexes = Indexes()
    declarer_index(indexes, store, Creneaux(client[name]))
    await indexes.create()
    yield store
    await client.drop_database(name)
    await client.close()


async def test_40_concurrent_claims_on_a_slot_of_3_places_give_exactly_3(places: Places) -> None:
    results = await asyncio.gather(*(places.reserver(SLOT, 3, f"A{i:02d}", f"m{i}") for i in range(40)))
    gagnants = [r for r in results if r is not None]
    assert len(gagnants) == 3
    assert sorted(gagnants) == [f"{SLOT}#0", f"{SLOT}#1", f"{SLOT}#2"]
    assert await places.collection.count_documents({"creneau_id": SLOT}) == 3
    assert (await places.occupation([SLOT])) == {SLOT: 3}


async def test_a_replayed_claim_returns_the_same_place(places: Places) -> None:
    first = await places.reserver(SLOT, 3, "A1", "m1")
    again = await places.reserver(SLOT, 3, "A1", "m1")
    assert first == again
    assert await places.collection.count_documents({"titulaire": "A1"}) == 1


async def test_moving_to_another_slot_frees_the_old_place(places: Places) -> None:
    await places.reserver(SLOT, 1, "A1", "m1")
    assert await places.reserver(SLOT, 1, "A2", "m2") is None
    moved = await places.reserver(AUTRE, 1, "A1", "m3")
    assert moved == f"{AUTRE}#0"
    assert await places.reserver(SLOT, 1, "A2", "m4") == f"{SLOT}#0"
    assert await places.collection.count_documents({"titulaire": "A1"}) == 1


async def test_a_full_target_keeps_the_current_place(places: Places) -> None:
    await places.reserver(SLOT, 1, "A1", "m1")
    await places.reserver(AUTRE, 1, "A2", "m2")
    assert await places.reserver(AUTRE, 1, "A1", "m3") is None
    assert (await places.place_de("A1") or {})["creneau_id"] == SLOT


async def test_a_crash_in_the_middle_of_a_move_is_finished_by_the_redelivery(places: Places) -> None:
    await places.reserver(SLOT, 3, "A1", "m1")
    # State left by a crash right after the new place was claimed under the temporary holder.
    await places.collection.insert_one({"_id": f"{AUTRE}#0", "creneau_id": AUTRE, "n": 0, "titulaire": "A1@m2"})
    assert await places.reserver(AUTRE, 3, "A1", "m2") == f"{AUTRE}#0"
    docs = [d async for d in places.collection.find({})]
    assert [(d["_id"], d["titulaire"]) for d in docs] == [(f"{AUTRE}#0", "A1")]


async def test_free_is_idempotent_and_gives_the_place_back(places: Places) -> None:
    await places.reserver(SLOT, 1, "A1", "m1")
    assert await places.liberer("A1") == 1
    assert await places.liberer("A1") == 0
    assert await places.reserver(SLOT, 1, "A2", "m2") == f"{SLOT}#0"


async def test_a_crash_after_the_old_place_was_freed_is_finished_by_the_redelivery(places: Places) -> None:
    await places.reserver(SLOT, 3, "A1", "m1")
    # State left by a crash after the old place was deleted but before the new one was renamed.
    await places.collection.delete_one({"_id": f"{SLOT}#0"})
    await places.collection.insert_one({"_id": f"{AUTRE}#1", "creneau_id": AUTRE, "n": 1, "titulaire": "A1@m2"})
    assert await places.reserver(AUTRE, 3, "A1", "m2") == f"{AUTRE}#1"
    assert (await places.place_de("A1") or {})["_id"] == f"{AUTRE}#1"
    assert await places.collection.count_documents({}) == 1


async def test_a_crash_before_the_pointer_was_written_keeps_the_claimed_place(places: Places) -> None:
    await places.collection.insert_one({"_id": f"{SLOT}#2", "creneau_id": SLOT, "n": 2, "titulaire": "A1"})
    assert await places.reserver(SLOT, 3, "A1", "m1") == f"{SLOT}#2"
    assert await places.collection.count_documents({}) == 1
    assert await places.liberer("A1") == 1
