"""Per-supplier list indexes: one collection per supplier, one small document per entry.

A supplier's lists (its perimeter, contracts, affaires, e-mails) are read from an index its service keeps beside the
aggregates. The index used to be a few "bucket" documents per supplier, each a map of entries: every write rewrote a
whole bucket, so its cost grew with the supplier's size (FerretDB's SQLite backend decodes, compares and re-encodes the
document; 25,000 PDS in 16 buckets is ~500 kB per write) and a large supplier would hit the 16 MiB document limit.

Here an entry is its own document (`_id` = the entry's key) in the supplier's collection (`<name>_<CODE>`): a write
is one `_id` upsert of a few hundred bytes whatever the supplier's size (FerretDB serves `_id` from its index), a list
reads the supplier's collection alone (never another supplier's entries), and an entry can carry an order so that an
older state never overwrites a newer one (a redelivered message after a newer one).
"""

from __future__ import annotations

import re
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

#: What a supplier code may hold to name a collection (the envelope caps `fournisseur` at 32 characters).
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class SupplierIndex:
    """A list index partitioned by supplier: `put` an entry, read a supplier's `entries`."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], name: str) -> None:
        self.db = db
        self.name = name

    def collection_name(self, fournisseur: str) -> str:
        """The collection holding one supplier's entries."""
        if not _CODE.match(fournisseur):
            raise ValueError(f"code fournisseur inutilisable pour un index : {fournisseur!r}")
        return f"{self.name}_{fournisseur}"

    async def put(self, fournisseur: str, key: str, entry: dict[str, Any], *, order: str | None = None) -> None:
        """Write (or overwrite) an entry; idempotent. With `order` (the name of a numeric field of `entry`), an entry whose
        stored `order` is greater is kept: an older state arriving late never replaces a newer one."""
        coll = self.db[self.collection_name(fournisseur)]
        doc = {k: v for k, v in entry.items() if k != "_id"}
        if order is None:
            await coll.replace_one({"_id": key}, doc, upsert=True)
            return
        done = await coll.replace_one({"_id": key, order: {"$lte": entry[order]}}, doc)
        if done.matched_count:
            return
        try:
            await coll.insert_one({"_id": key, **doc})
        except DuplicateKeyError:
            pass  # the entry exists and holds a newer state

    async def entries(self, fournisseur: str) -> dict[str, dict[str, Any]]:
        """Every entry of a supplier, by key (an unknown supplier has none)."""
        if not _CODE.match(fournisseur):
            return {}
        return {str(doc.pop("_id")): doc async for doc in self.db[self.collection_name(fournisseur)].find({})}

    async def add_missing(self, fournisseur: str, entries: dict[str, dict[str, Any]], batch: int = 1000) -> int:
        """Bulk insert (seeding) of the entries not there yet: a live entry wins over a rerun of the seed. Returns how
        many were inserted."""
        coll = self.db[self.collection_name(fournisseur)]
        docs = [{**{k: v for k, v in e.items() if k != "_id"}, "_id": key} for key, e in entries.items()]
        inserted = 0
        for i in range(0, len(docs), batch):
            try:
                inserted += len((await coll.insert_many(docs[i : i + batch], ordered=False)).inserted_ids)
            except BulkWriteError as exc:
                if any(err.get("code") != 11000 for err in exc.details.get("writeErrors", [])):
                    raise
                inserted += int(exc.details.get("nInserted", 0))
        return inserted
