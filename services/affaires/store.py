"""Collections of the affaires service: `affaires` (one aggregate per affaire), `refus` (refused demands), `pieces_jointes`."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from platform_kit.runtime import Runtime
from services.affaires.domain import Affaire, PieceJointeStockee

AFFAIRES = "affaires"
REFUS = "refus"
PIECES_JOINTES = "pieces_jointes"
CHAMPS_INTERNES = ("_id", "_v", "_inbox", "_outbox", "_pending")


async def index_affaires(coll: AsyncCollection[dict[str, Any]]) -> None:
    """Indexes of the list filters: by supplier/type/status, by PDS, by creation date."""
    await coll.create_index([("fournisseur", ASCENDING), ("type_affaire", ASCENDING), ("statut", ASCENDING)])
    await coll.create_index([("pds", ASCENDING)])
    await coll.create_index([("cree_le", DESCENDING)])


class AffairesStore:
    """The service's stores: aggregates with inbox/outbox, plus the attachments kept out of the aggregates."""

    def __init__(self, rt: Runtime) -> None:
        self.affaires = rt.aggregates(AFFAIRES)
        # Refusals of demands that open no affaire (or target someone else's) are committed under the demand id.
        self.refus = rt.aggregates(REFUS)
        self.pieces_jointes: AsyncCollection[dict[str, Any]] = rt.db[PIECES_JOINTES]
        rt.startup_hooks.append(self.ensure_indexes)

    async def ensure_indexes(self) -> None:
        """Indexes of the affaires and of the attachments."""
        await index_affaires(self.affaires.collection)
        await self.pieces_jointes.create_index([("reference_affaire", ASCENDING)])

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
        """Affaires matching a filter, newest first."""
        cursor = self.affaires.collection.find(filtre, {"_inbox": 0, "_outbox": 0}).sort("cree_le", DESCENDING).skip(saut).limit(limite)
        return [Affaire.model_validate(doc) async for doc in cursor]

    async def detail(self, reference: str) -> Affaire | None:
        """One affaire with every view."""
        doc = await self.affaires.collection.find_one({"_id": reference}, {"_inbox": 0, "_outbox": 0})
        return Affaire.model_validate(doc) if doc else None
