"""Collections of the notifications service: one aggregate per e-mail, per-affaire follow-up, supplier addresses."""

from __future__ import annotations

import time
from typing import Any

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from platform_kit.listing import SupplierIndex
from platform_kit.reference import reference
from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore

MAILS = "mails"
SUIVI = "suivi_affaires"
DESTINATAIRES = "destinataires"


class Destinataires:
    """Supplier e-mail addresses: the service's own `destinataires` collection, the reference data as fallback."""

    #: How long an address read from the store is reused (an address changed in the store is used after at most this).
    CACHE_S = 60.0

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = db[DESTINATAIRES]
        self._cache: dict[str, tuple[float, str | None]] = {}

    async def adresse(self, code: str) -> str | None:
        """The address to write to for a supplier code, or None when the supplier is unknown (cached CACHE_S)."""
        now = time.monotonic()
        cached = self._cache.get(code)
        if cached is not None and now - cached[0] < self.CACHE_S:
            return cached[1]
        doc = await self.collection.find_one({"_id": code}, {"email": 1})
        if doc and doc.get("email"):
            adresse: str | None = str(doc["email"])
        else:
            ref = reference().fournisseur(code)
            adresse = ref.email if ref else None
        self._cache[code] = (now, adresse)
        return adresse

    async def seed(self) -> int:
        """Upsert the reference suppliers' addresses in one bulk write; return how many were written."""
        ops = [UpdateOne({"_id": f.code}, {"$set": {"email": f.email, "nom": f.nom}}, upsert=True) for f in reference().fournisseurs]
        result = await self.collection.bulk_write(ops, ordered=False)
        return result.upserted_count + result.modified_count


def mails_store(rt: Runtime, partitions: int) -> AggregateStore:
    """One record per e-mail (`_id` = its Message-ID) over `partitions` collections, with the HTTP history's indexes."""
    # Spread over partitions so that lookups stay flat on FerretDB; not swept: its only writer is the consumer.
    mails = rt.aggregates(MAILS, partitions=partitions, swept=False)
    rt.index(mails, [("reference_affaire", ASCENDING), ("sent_at", DESCENDING)])
    rt.index(mails, [("sent_at", DESCENDING)])
    return mails


def suivis_store(rt: Runtime, partitions: int) -> AggregateStore:
    """One follow-up per affaire (`_id` = its reference) over `partitions` collections (read by `_id` only)."""
    return rt.aggregates(SUIVI, partitions=partitions, swept=False)


async def mails_envoyes(mails: AggregateStore, reference_affaire: str | None, limit: int) -> list[dict[str, Any]]:
    """The recorded e-mails, newest first, optionally of one affaire (merged from every partition)."""
    query: dict[str, Any] = {"status": {"$exists": True}}
    if reference_affaire:
        query["reference_affaire"] = reference_affaire
    projection = {"_inbox": 0, "_outbox": 0, "_pending": 0, "_v": 0}
    docs = await mails.find_all(query, projection)
    docs.sort(key=lambda d: str(d.get("sent_at") or ""), reverse=True)
    return docs[:limit]


#: Per-supplier mail index (platform_kit.listing): one small document per e-mail (`_id` = its Message-ID) in the
#: supplier's collection. FerretDB scans a collection for any filter but `_id` (docs/benchmarks.md): a supplier's list
#: reads its own collection only, and recording an e-mail writes one small document whatever the supplier's size.
INDEX_MAILS = "mails_par_fournisseur"
CHAMPS_INDEX_MAIL = ("status", "recipients", "subject", "template", "reference_affaire", "pds", "fournisseur", "sent_at", "error")


async def indexer_mail(db: AsyncDatabase[dict[str, Any]], message_id: str, state: dict[str, Any]) -> None:
    """Record one e-mail in its supplier's index (idempotent)."""
    fournisseur = state.get("fournisseur")
    if not fournisseur:
        return
    entree = {"message_id": message_id, **{k: state.get(k) for k in CHAMPS_INDEX_MAIL}}
    await SupplierIndex(db, INDEX_MAILS).put(fournisseur, message_id, entree)


async def mails_du_fournisseur(db: AsyncDatabase[dict[str, Any]], fournisseur: str, reference_affaire: str | None) -> list[dict[str, Any]]:
    """A supplier's e-mails, newest first, optionally of one affaire (its index collection alone)."""
    entrees = [{"_id": e["message_id"], **e} for e in (await SupplierIndex(db, INDEX_MAILS).entries(fournisseur)).values()]
    if reference_affaire:
        entrees = [e for e in entrees if e.get("reference_affaire") == reference_affaire]
    entrees.sort(key=lambda e: str(e.get("sent_at") or ""), reverse=True)
    return entrees
