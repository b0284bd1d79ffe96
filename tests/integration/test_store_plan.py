"""The store answers lookups by _id from the _id index, not by scanning the collection.

FerretDB 1.24.2 on SQLite scans the whole table for every lookup by _id unless built with
infra/ferretdb/patch.sh; on MongoDB the same lookups are IDHACK / index scans. Every aggregate
load and every versioned commit of ours is such a lookup, so a scan here costs the platform
its throughput (docs/benchmarks.md).
"""

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.collection import Collection

from tests.support import mongodb_url, unique_db

pytestmark = pytest.mark.integration


@pytest.fixture
def coll() -> Iterator[Collection[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url())
    db = client[unique_db("grd_plan")]
    c = db["pds"]
    c.insert_many([{"_id": f"3{i:013d}", "_v": 1, "n": i} for i in range(200)])
    yield c
    client.drop_database(db.name)
    client.close()


def plan_text(explain: dict[str, Any]) -> str:
    return repr(explain.get("queryPlanner", explain)).upper()


def uses_id_index(explain: dict[str, Any]) -> bool:
    text = plan_text(explain)
    if "SQLITE" in repr(explain).upper() or "'PLAN'" in text:  # FerretDB / SQLite: "SEARCH … USING INDEX"
        return "USING INDEX" in text and "SCAN" not in text.replace("IXSCAN", "")
    return "IDHACK" in text or "IXSCAN" in text or "EXPRESS" in text  # MongoDB


@pytest.mark.parametrize("flt", [{"_id": "30000000000042"}, {"_id": "30000000000042", "_v": 1}], ids=["id", "id+version"])
def test_lookup_by_id_uses_the_index(coll: Collection[dict[str, Any]], flt: dict[str, Any]) -> None:
    explain = coll.find(flt).explain()
    assert uses_id_index(explain), f"lookup {flt} is not served by the _id index: {explain.get('queryPlanner')}"
    assert [d["n"] for d in coll.find(flt)] == [42]


def test_versioned_update_still_checks_every_key(coll: Collection[dict[str, Any]]) -> None:
    """The _id pre-filter must not bypass the rest of the filter (our optimistic version check)."""
    assert coll.update_one({"_id": "30000000000007", "_v": 2}, {"$set": {"x": 1}}).matched_count == 0
    assert coll.update_one({"_id": "30000000000007", "_v": 1}, {"$set": {"_v": 2}}).modified_count == 1
    assert coll.count_documents({"_id": "30000000000007", "_v": 1}) == 0
    assert coll.delete_one({"_id": "30000000000007", "_v": 1}).deleted_count == 0
    assert coll.find_one({"_id": "30000000000007"}) == {"_id": "30000000000007", "_v": 2, "n": 7}


def test_a_scan_is_recognised() -> None:
    """Guard against a check that cannot fail: a FerretDB SCAN plan and a MongoDB COLLSCAN are rejected."""
    assert not uses_id_index({"queryPlanner": {"Plan": ["id=2 parent=0 notused=0 detail=SCAN pds_544da806"]}})
    assert uses_id_index({"queryPlanner": {"Plan": ["id=3 parent=0 notused=0 detail=SEARCH pds USING INDEX pds__id_ (<expr>=?)"]}})
    assert not uses_id_index({"queryPlanner": {"winningPlan": {"stage": "COLLSCAN"}}})
    assert uses_id_index({"queryPlanner": {"winningPlan": {"stage": "IDHACK"}}})
