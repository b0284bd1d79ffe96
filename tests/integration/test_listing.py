"""The per-supplier list index (platform_kit.listing) on the real store: one small document per entry, one collection
per supplier, an order that keeps a late older state from replacing a newer one, seeding that never overwrites."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from platform_kit.listing import SupplierIndex
from tests.support import mongodb_url, unique_db

pytestmark = pytest.mark.integration


@pytest.fixture
async def db() -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url())
    database = client[unique_db("grd_listing")]
    yield database
    await client.drop_database(database.name)
    await client.close()


async def test_each_supplier_reads_its_own_entries_one_document_each(db: AsyncDatabase[dict[str, Any]]) -> None:
    index = SupplierIndex(db, "vue")
    await index.put("LUMEN", "A1", {"statut": "en_cours"})
    await index.put("LUMEN", "A2", {"statut": "terminee"})
    await index.put("VOLTA", "B1", {"statut": "en_cours"})
    await index.put("LUMEN", "A1", {"statut": "terminee"})  # overwritten, not added

    assert await index.entries("LUMEN") == {"A1": {"statut": "terminee"}, "A2": {"statut": "terminee"}}
    assert await index.entries("VOLTA") == {"B1": {"statut": "en_cours"}}
    assert await index.entries("INCONNU") == {}
    assert await db["vue_LUMEN"].count_documents({}) == 2
    assert sorted(await db.list_collection_names()) == ["vue_LUMEN", "vue_VOLTA"]


async def test_an_older_state_arriving_late_never_replaces_a_newer_one(db: AsyncDatabase[dict[str, Any]]) -> None:
    index = SupplierIndex(db, "vue")
    await index.put("LUMEN", "A1", {"etat": "soldee", "n": 3}, order="n")
    await index.put("LUMEN", "A1", {"etat": "creee", "n": 1}, order="n")  # a redelivery of an older message
    assert await index.entries("LUMEN") == {"A1": {"etat": "soldee", "n": 3}}
    await index.put("LUMEN", "A1", {"etat": "soldee", "n": 3}, order="n")  # the same state again: idempotent
    await index.put("LUMEN", "A1", {"etat": "annulee", "n": 4}, order="n")
    assert await index.entries("LUMEN") == {"A1": {"etat": "annulee", "n": 4}}


async def test_seeding_adds_only_what_is_missing(db: AsyncDatabase[dict[str, Any]]) -> None:
    index = SupplierIndex(db, "vue")
    await index.put("LUMEN", "P1", {"statut": "vivant"})
    inserted = await index.add_missing("LUMEN", {f"P{i}": {"statut": "seed"} for i in range(1, 2501)}, batch=1000)
    assert inserted == 2499
    entries = await index.entries("LUMEN")
    assert len(entries) == 2500 and entries["P1"] == {"statut": "vivant"}
    assert await index.add_missing("LUMEN", {"P1": {"statut": "seed"}, "P9999": {"statut": "seed"}}) == 1


async def test_a_code_that_cannot_name_a_collection_is_refused(db: AsyncDatabase[dict[str, Any]]) -> None:
    index = SupplierIndex(db, "vue")
    with pytest.raises(ValueError, match="code fournisseur"):
        await index.put("../$cmd", "X", {})
    assert await index.entries("a b") == {}
