"""The supervision's own read models: per-minute flow counts, demand timestamps, open affaires, dead letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.supervision.domain import OUVERTES, TERMINAUX, TransitionRefusee, classe_latence, minute, transition

MINUTES = "flux_minutes"
DEMANDES = "demandes"
AFFAIRES = "affaires"
LETTRES = "lettres_mortes"
DECISIONS = "lettres_mortes_decisions"
#: Actions that settle a letter (at most one of them per letter, unless a failed redrive is undone).
DECISIVES = ("reemettre", "ecarter")


class SupervisionStore:
    """Read models written by the supervision's consumers, read by its page and API."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.minutes = db[MINUTES]
        self.demandes = db[DEMANDES]
        self.affaires = db[AFFAIRES]
        self.lettres = db[LETTRES]
        self.decisions = db[DECISIONS]

    async def _compter(self, at: datetime, inc: dict[str, int]) -> None:
        await self.minutes.update_one({"_id": minute(at)}, {"$inc": inc}, upsert=True)

    async def _premiere_fois(self, demande_id: str, champs: dict[str, Any], absent: str) -> dict[str, Any] | None:
        """Set `champs` on a demand's document unless `absent` is set already; the document after, or None if it was."""
        try:
            return await self.demandes.find_one_and_update(
                {"_id": demande_id, absent: None}, {"$set": champs}, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            return None  # the document exists with `absent` set: this event was counted already

    async def demande_recue(self, demande_id: str, type_: str, recue_a: datetime) -> float | None:
        """Count a demand once (a copy published again is not counted); the outcome latency when its outcome came first.

        Counting follows the first write: a crash between the two loses one count, it never doubles one.
        """
        doc = await self._premiere_fois(demande_id, {"recue_a": recue_a, "type": type_}, "recue_a")
        if doc is None:
            return None
        inc = {f"recues.{_cle(type_)}": 1}
        latence = None
        if doc.get("issue_a") is not None:
            latence = (_utc(doc["issue_a"]) - recue_a).total_seconds()
            await self._compter(_utc(doc["issue_a"]), {f"latences.{_cle(classe_latence(latence))}": 1})
        await self._compter(recue_a, inc)
        return latence

    async def issue(self, demande_id: str, type_: str | None, acceptee: bool, code: str | None, issue_a: datetime) -> tuple[bool, float | None]:
        """Count a demand's outcome once: (counted now, the latency from its publication when the demand was seen already)."""
        champs: dict[str, Any] = {"issue_a": issue_a, "acceptee": acceptee, "code": code}
        doc = await self._premiere_fois(demande_id, champs, "issue_a")
        if doc is None:
            return False, None
        type_ = type_ or str(doc.get("type") or "inconnu")
        inc = {f"{'acceptees' if acceptee else 'refusees'}.{_cle(type_)}": 1}
        if not acceptee:
            inc[f"codes.{_cle(code or 'SANS_CODE')}"] = 1
        latence = None
        if doc.get("recue_a") is not None:
            latence = (issue_a - _utc(doc["recue_a"])).total_seconds()
            inc[f"latences.{_cle(classe_latence(latence))}"] = 1
        await self._compter(issue_a, inc)
        return True, latence

    async def buckets(self, depuis: datetime) -> list[dict[str, Any]]:
        """The per-minute documents from `depuis` on (the collection holds one document per minute of retention)."""
        return [doc async for doc in self.minutes.find({"_id": {"$gte": minute(depuis)}})]

    async def purger(self, avant: datetime) -> None:
        """Forget the counts and the demand timestamps older than the retention."""
        await self.minutes.delete_many({"_id": {"$lt": minute(avant)}})
        await self.demandes.delete_many({"$or": [{"recue_a": {"$lt": avant}}, {"recue_a": None, "issue_a": {"$lt": avant}}]})

    async def affaire(self, reference: str, champs: dict[str, Any], at: datetime) -> None:
        """Apply an affaire's status change; a finished affaire leaves the read model (it holds the open ones only)."""
        if champs["statut"] in TERMINAUX:
            await self.affaires.delete_one({"_id": reference})
            return
        await self.affaires.update_one(
            {"_id": reference},
            {"$set": {**champs, "etat_depuis": at}, "$min": {"cree_le": at}},
            upsert=True,
        )

    async def affaires_ouvertes(self) -> list[dict[str, Any]]:
        """Every open affaire of the read model."""
        docs = [doc async for doc in self.affaires.find({})]
        for doc in docs:
            doc["cree_le"] = _utc(doc["cree_le"])
            doc["etat_depuis"] = _utc(doc["etat_depuis"])
        return docs

    async def lettre_recue(self, doc: dict[str, Any]) -> None:
        """Record a dead letter once (keyed by its place in the dead-letter topic)."""
        await self.lettres.update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True)

    async def lettres_ouvertes(self, limite: int = 200) -> list[dict[str, Any]]:
        """Dead letters not yet redriven or discarded, newest first (without their content)."""
        cursor = self.lettres.find({"etat": {"$in": list(OUVERTES)}}, {"contenu": 0})
        docs = [doc async for doc in cursor]
        docs.sort(key=lambda d: str(d.get("le", "")), reverse=True)
        return docs[:limite]

    async def compter_lettres(self) -> dict[str, int]:
        """How many dead letters are in each state."""
        out: dict[str, int] = {}
        async for doc in self.lettres.find({}, {"etat": 1}):
            out[doc["etat"]] = out.get(doc["etat"], 0) + 1
        return out

    async def lettre(self, lettre_id: str) -> dict[str, Any] | None:
        """One dead letter with its content."""
        return await self.lettres.find_one({"_id": lettre_id})

    async def passer(self, lettre_id: str, action: str, par: str) -> dict[str, Any]:
        """Move a dead letter through an action; of two operators acting on one letter at once, one succeeds.

        The guard is the insert of the letter's decision (redrive or discard) under the letter's id: a unique `_id`
        admits one insert, on MongoDB and on FerretDB alike (whose conditional updates are not all atomic).
        """
        doc = await self.lettres.find_one({"_id": lettre_id}, {"etat": 1})
        if doc is None:
            raise KeyError(lettre_id)
        avant = str(doc["etat"])
        apres = transition(avant, action)
        le = datetime.now(UTC)
        if action in DECISIVES:
            try:
                await self.decisions.insert_one({"_id": lettre_id, "action": action, "par": par, "le": le})
            except DuplicateKeyError:
                raise TransitionRefusee(f"lettre morte {lettre_id} déjà traitée : action {action} impossible") from None
        elif action == "annuler_reemission":
            await self.decisions.delete_one({"_id": lettre_id, "action": "reemettre"})
        trace = {"action": action, "par": par, "le": le, "de": avant, "vers": apres}
        fait = await self.lettres.find_one_and_update(
            {"_id": lettre_id},
            {"$set": {"etat": apres, "par": par, "le_traitement": le}, "$push": {"historique": trace}},
            return_document=ReturnDocument.AFTER,
        )
        assert fait is not None
        return fait


def _cle(texte: str) -> str:
    """A label usable as a field name (no dots, no leading $)."""
    return texte.replace(".", "_").replace("$", "_") or "_"


def _utc(at: datetime) -> datetime:
    """Datetimes come back naive from the store: they are UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def depuis(maintenant: datetime, minutes: int) -> datetime:
    """The start of a window of `minutes` minutes ending now."""
    return maintenant - timedelta(minutes=minutes - 1)
