"""Collections of the planification service: interventions (aggregates), places (claims), créneaux (capacity), the
tele-operations' due agenda, and their index declarations."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore, Indexes
from services.planification.domain import Creneau

INTERVENTIONS = "interventions"
PLACES = "places"
CRENEAUX = "creneaux"
DETENTEURS = "detenteurs"
AGENDA_TELEOPERATIONS = "agenda_teleoperations"


def creneau_de(place: str) -> str:
    """The slot id of a place id."""
    return place.rpartition("#")[0]


class Places:
    """Claims on slot places, made atomic by unique indexes (no transactions, findAndModify is not atomic).

    A place is a document `_id = "<creneau_id>#<n>"` for n < capacity: inserting it claims it, a duplicate `_id`
    means someone else holds it. A unique index on `titulaire` lets one affaire hold at most one place. Moving to
    another slot claims the new place under a temporary holder `<affaire>@<jeton>`, frees the old one, then renames:
    a crash at any step is finished by the redelivered message (same jeton), never leaves two places.
    FerretDB only uses the `_id` index for lookups, so the hot path reads by `_id` only: a `detenteurs` document
    per affaire (`_id` = affaire) points at its place; lookups by holder are kept for the rare crash-recovery paths.
    """

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = db[PLACES]
        self.detenteurs: AsyncCollection[dict[str, Any]] = db[DETENTEURS]

    async def reserver(self, slot_id: str, capacite: int, affaire: str, jeton: str) -> str | None:
        """Give `affaire` a place on the slot (moving it from any other slot); the place id, or None when full."""
        temporaire = f"{affaire}@{jeton}"
        pointeur = await self.detenteurs.find_one({"_id": affaire})
        actuelle = None
        if pointeur is not None:
            actuelle = await self.collection.find_one({"_id": pointeur["place"]})
            if actuelle is None or actuelle["titulaire"] != affaire:
                # Stale pointer after a crash mid-move: look the holders up (slow path) and finish the move.
                actuelle = await self.collection.find_one({"titulaire": affaire})
                en_cours = await self.collection.find_one({"titulaire": temporaire})
                if en_cours is not None:
                    return await self._finir(affaire, actuelle, str(en_cours["_id"]), renommer=True)
        if actuelle is not None and actuelle["creneau_id"] == slot_id:
            return await self._finir(affaire, None, str(actuelle["_id"]), renommer=False)
        place = await self._inserer(slot_id, capacite, affaire if actuelle is None else temporaire)
        if place is None:
            return None
        return await self._finir(affaire, actuelle, place, renommer=actuelle is not None)

    async def _finir(self, affaire: str, ancienne: dict[str, Any] | None, place: str, *, renommer: bool) -> str:
        if ancienne is not None and ancienne["_id"] != place:
            await self.collection.delete_one({"_id": ancienne["_id"], "titulaire": affaire})
        if renommer:
            await self.collection.update_one({"_id": place}, {"$set": {"titulaire": affaire}})
        await self.detenteurs.replace_one({"_id": affaire}, {"place": place, "creneau_id": creneau_de(place)}, upsert=True)
        return place

    async def _inserer(self, slot_id: str, capacite: int, titulaire: str) -> str | None:
        for n in range(capacite):
            place = f"{slot_id}#{n}"
            try:
                await self.collection.insert_one({"_id": place, "creneau_id": slot_id, "n": n, "titulaire": titulaire, "pris_le": datetime.now(UTC)})
                return place
            except DuplicateKeyError:
                occupant = await self.collection.find_one({"_id": place}, {"titulaire": 1})
                if occupant is not None and occupant["titulaire"] == titulaire:
                    return place
                if occupant is None:
                    # Not the place's _id that collided, so the holder's: a replayed claim already holds a place.
                    deja = await self.collection.find_one({"titulaire": titulaire}, {"_id": 1})
                    if deja is not None:
                        return str(deja["_id"])
        return None

    async def place_de(self, affaire: str) -> dict[str, Any] | None:
        """The place held by an affaire, if any (by `_id`; a stale pointer falls back to the holder index)."""
        pointeur = await self.detenteurs.find_one({"_id": affaire})
        if pointeur is not None:
            place = await self.collection.find_one({"_id": pointeur["place"]})
            if place is not None and place["titulaire"] == affaire:
                return place
            # The pointer lags after a crash: ask the holder index, then repair the pointer.
            place = await self.collection.find_one({"titulaire": affaire})
            if place is None:
                await self.detenteurs.delete_one({"_id": affaire})
            else:
                await self.detenteurs.replace_one({"_id": affaire}, {"place": place["_id"], "creneau_id": place["creneau_id"]}, upsert=True)
            return place
        return None

    async def liberer(self, affaire: str) -> int:
        """Free the place held by an affaire (idempotent); how many were freed."""
        pointeur = await self.detenteurs.find_one({"_id": affaire})
        if pointeur is None:
            return 0
        result = await self.collection.delete_one({"_id": pointeur["place"], "titulaire": affaire})
        await self.detenteurs.delete_one({"_id": affaire})
        return int(result.deleted_count)

    async def occupation(self, slot_ids: Iterable[str]) -> dict[str, int]:
        """Places taken per slot."""
        counts: dict[str, int] = {}
        async for d in self.collection.find({"creneau_id": {"$in": list(slot_ids)}}, {"creneau_id": 1}):
            counts[d["creneau_id"]] = counts.get(d["creneau_id"], 0) + 1
        return counts


class Creneaux:
    """Materialized slots (seeded ahead): the capacity stored there wins over the computed one."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = db[CRENEAUX]

    async def capacites(self, slots: Iterable[Creneau]) -> dict[str, int]:
        """Capacity of each slot: the stored one when the slot is materialized, else the calendar's."""
        par_id = {s.id: s.capacite for s in slots}
        async for d in self.collection.find({"_id": {"$in": list(par_id)}}, {"capacite": 1}):
            par_id[str(d["_id"])] = int(d["capacite"])
        return par_id

    async def capacite(self, slot: Creneau) -> int:
        """Capacity of one slot (read by `_id`, the only lookup FerretDB serves from an index)."""
        doc = await self.collection.find_one({"_id": slot.id}, {"capacite": 1})
        return int(doc["capacite"]) if doc is not None else slot.capacite

    async def materialiser(self, slots: Iterable[Creneau]) -> int:
        """Insert the slots not yet stored with their calendar capacity, keeping stored ones (idempotent)."""
        docs = [
            {"_id": s.id, "zone": s.zone, "jour": s.jour.isoformat(), "demi_journee": s.demi_journee, "mode": str(s.mode), "capacite": s.capacite}
            for s in slots
        ]
        if not docs:
            return 0
        try:
            result = await self.collection.insert_many(docs, ordered=False)
            return len(result.inserted_ids)
        except BulkWriteError as exc:
            # Slots seeded earlier collide on _id: they keep their stored capacity.
            return int(exc.details.get("nInserted", 0))


def declarer_index(indexes: Indexes, places: Places, creneaux: Creneaux) -> None:
    """The indexes of the places and slots (the runtime's `rt.indexes`, or a seed's own `Indexes`)."""
    # One place per affaire: the unique holder index is what makes a claim atomic.
    indexes.declare(places.collection, [("titulaire", ASCENDING)], unique=True)
    indexes.declare(places.collection, [("creneau_id", ASCENDING)])
    indexes.declare(creneaux.collection, [("zone", ASCENDING), ("jour", ASCENDING)])


def interventions_store(rt: Runtime) -> AggregateStore:
    """The interventions' aggregates over 32 partitions (swept by the outbox relay)."""
    return rt.aggregates(INTERVENTIONS, partitions=32)


class Agenda:
    """One small document per tele-operation waiting for its date or an answer (`_id` = affaire, `echeance`): the due job
    reads this instead of every intervention; a full pass over the aggregates at start and every few minutes covers a
    crash between the aggregate's write and its agenda entry."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], interventions: AggregateStore) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = db[AGENDA_TELEOPERATIONS]
        self.interventions = interventions

    async def noter(self, reference: str, echeance: str) -> None:
        """The intervention's next due step (a UTC timestamp as `domain.horodatage` writes it)."""
        await self.collection.replace_one({"_id": reference}, {"_id": reference, "echeance": echeance}, upsert=True)

    async def oublier(self, reference: str) -> None:
        """The intervention has no due step any more."""
        await self.collection.delete_one({"_id": reference})

    async def dues(self, maintenant: str, complet: bool) -> list[str]:
        """The interventions with a step due by `maintenant`: from the agenda, or (complet) from every partition."""
        if complet:
            filtre = {"prochaine_echeance": {"$lte": maintenant}}
            return [str(doc["_id"]) for c in self.interventions.collections async for doc in c.find(filtre, {"_id": 1})]
        return [str(doc["_id"]) async for doc in self.collection.find({"echeance": {"$lte": maintenant}}, {"_id": 1})]
