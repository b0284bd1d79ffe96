"""Collections of the affaires service: `affaires_NNN` (one aggregate per affaire), `refus_NNN` (refused demands), `pieces_jointes`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from platform_kit.listing import SupplierIndex
from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore, IndexKeys
from services.affaires.domain import Affaire, PieceJointeStockee

AFFAIRES = "affaires"
REFUS = "refus"
PIECES_JOINTES = "pieces_jointes"
CHAMPS_INTERNES = ("_id", "_v", "_inbox", "_outbox", "_pending")
SANS_BOITES = {"_inbox": 0, "_outbox": 0}
# Newest first, then by reference: a total order, so that the pages of the partitions merge into the same pages.
ORDRE = [("cree_le", DESCENDING), ("_id", ASCENDING)]
LECTURES_SIMULTANEES = 4
#: The per-supplier listing index (platform_kit.listing): one small document per affaire in its supplier's collection,
#: holding the few fields the list filters and sorts on. FerretDB answers `_id` lookups from its index but scans a
#: collection for any other filter (docs/benchmarks.md): a supplier's list reads its own collection only.
INDEX_FOURNISSEUR = "affaires_par_fournisseur"
CHAMPS_INDEX = ("type_affaire", "statut", "etat", "pds", "annulable", "cree_le")
#: Also kept in an entry so that a page of the list is served from the index alone (the list line, api.AffaireResume).
CHAMPS_LIGNE = ("reference", "fournisseur", "express", "maj_le")

Declare = Callable[[AggregateStore, IndexKeys], object]


def entree_index(affaire: Affaire) -> dict[str, Any]:
    """An affaire's entry in its supplier's index; `n` (actions so far) orders concurrent writes of the same affaire."""
    doc = affaire.model_dump(mode="json", include={*CHAMPS_INDEX, *CHAMPS_LIGNE})
    return {**doc, "resume": affaire.generalites.resume, "n": len(affaire.actions)}


def selection(entrees: dict[str, dict[str, Any]], filtre: dict[str, Any]) -> list[str]:
    """References of the index entries matching the list filters (equality on CHAMPS_INDEX, `_id` = reference), newest first."""
    reference = filtre.get("_id")
    criteres = {k: v for k, v in filtre.items() if k in CHAMPS_INDEX}
    retenues = [
        {"_id": ref, "cree_le": e.get("cree_le", "")}
        for ref, e in entrees.items()
        if (reference is None or ref == reference) and all(e.get(k) == v for k, v in criteres.items())
    ]
    return [str(c["_id"]) for c in trier(retenues)]


def index_affaires(declare: Declare, affaires: AggregateStore) -> None:
    """Declare the list filters' indexes (every partition): by supplier/type/status, by PDS, by creation date.

    `declare` is `rt.index` in the service, `Indexes().declare` in the seed script (which has no runtime).
    """
    declare(affaires, [("fournisseur", ASCENDING), ("type_affaire", ASCENDING), ("statut", ASCENDING)])
    declare(affaires, "pds")
    declare(affaires, [("cree_le", DESCENDING)])


def trier(cles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort `{_id, cree_le}` keys newest first, ties by reference (the order of ORDRE)."""
    return sorted(sorted(cles, key=lambda d: str(d["_id"])), key=lambda d: str(d.get("cree_le", "")), reverse=True)


class AffairesStore:
    """The service's stores: aggregates with inbox/outbox, plus the attachments kept out of the aggregates."""

    def __init__(self, rt: Runtime, partitions: int, refus_partitions: int) -> None:
        self.affaires = rt.aggregates(AFFAIRES, partitions=partitions, swept=False)
        # Refusals of demands that open no affaire (or target someone else's) are committed under the demand id.
        self.refus = rt.aggregates(REFUS, partitions=refus_partitions, swept=False)
        self.pieces_jointes: AsyncCollection[dict[str, Any]] = rt.db[PIECES_JOINTES]
        self.index_fournisseur = SupplierIndex(rt.db, INDEX_FOURNISSEUR)
        self._lectures = asyncio.Semaphore(LECTURES_SIMULTANEES)
        index_affaires(rt.index, self.affaires)
        rt.index(self.pieces_jointes, "reference_affaire")

    async def stocker_piece_jointe(self, reference: str, fournisseur: str, pj: PieceJointeStockee) -> None:
        """Store an attachment's content (idempotent: same id on redelivery)."""
        doc = {
            **pj.info.model_dump(mode="json"),
            "reference_affaire": reference,
            "fournisseur": fournisseur,
            "contenu": pj.contenu,
        }
        await self.pieces_jointes.replace_one({"_id": pj.info.id}, {"_id": pj.info.id, **doc}, upsert=True)

    async def piece_jointe(self, piece_id: str) -> dict[str, Any] | None:
        """One attachment with its content."""
        return await self.pieces_jointes.find_one({"_id": piece_id})

    async def lister(self, filtre: dict[str, Any], limite: int, saut: int) -> list[Affaire]:
        """Affaires matching a filter, newest first (ties by reference): the top keys of each partition merged, then the page."""
        reference = filtre.get("_id")
        collections = [self.affaires.collection_for(reference)] if isinstance(reference, str) else self.affaires.collections
        cles = [cle for lot in await asyncio.gather(*(self._cles(c, filtre, saut + limite) for c in collections)) for cle in lot]
        page = [str(cle["_id"]) for cle in trier(cles)[saut : saut + limite]]
        docs = await asyncio.gather(*(self._lire(ref) for ref in page))
        # An affaire never disappears, so every key still has its document; the guard only covers a dropped database.
        return [Affaire.model_validate(doc) for doc in docs if doc is not None]

    async def _cles(self, collection: AsyncCollection[dict[str, Any]], filtre: dict[str, Any], n: int) -> list[dict[str, Any]]:
        async with self._lectures:
            return [doc async for doc in collection.find(filtre, {"cree_le": 1}).sort(ORDRE).limit(n)]

    async def _lire(self, reference: str) -> dict[str, Any] | None:
        # By _id, one at a time: FerretDB answers `_id` equality cheaply but decodes a whole collection for `$in`.
        async with self._lectures:
            return await self.affaires.collection_for(reference).find_one({"_id": reference}, SANS_BOITES)

    async def indexer(self, affaire: Affaire) -> None:
        """Record the affaire's list fields in its supplier's index (idempotent; an older state never overwrites a newer one)."""
        await self.index_fournisseur.put(affaire.fournisseur, affaire.reference, entree_index(affaire), order="n")

    async def lister_fournisseur(self, fournisseur: str, filtre: dict[str, Any], limite: int, saut: int) -> tuple[list[dict[str, Any]], int]:
        """One supplier's list lines matching the filters, newest first, and how many match, from its index documents
        alone (an entry written before the index kept the whole line is completed from its affaire, read by `_id`)."""
        entrees = await self.index_fournisseur.entries(fournisseur)
        refs = selection(entrees, filtre)
        lignes = await asyncio.gather(*(self._ligne(ref, entrees[ref]) for ref in refs[saut : saut + limite]))
        return [li for li in lignes if li is not None and li.get("fournisseur") == fournisseur], len(refs)

    async def _ligne(self, reference: str, entree: dict[str, Any]) -> dict[str, Any] | None:
        if all(k in entree for k in ("resume", *CHAMPS_LIGNE)):
            return entree
        doc = await self._lire(reference)
        if doc is None:
            return None
        affaire = Affaire.model_validate(doc)
        return {**affaire.model_dump(mode="json", include={*CHAMPS_INDEX, *CHAMPS_LIGNE}), "resume": affaire.generalites.resume}

    async def detail(self, reference: str) -> Affaire | None:
        """One affaire with every view."""
        doc = await self.affaires.collection_for(reference).find_one({"_id": reference}, SANS_BOITES)
        return Affaire.model_validate(doc) if doc else None
