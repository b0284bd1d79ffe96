"""The supervision's own read models: per-minute flow counts, demand markers, open affaires, dead letters.

Every demand is fed to the read models by its events (its reception on grd.demandes.v1, its outcome, the status changes
of its affaire), several at once: the lanes of the kit's consumers and the taps run concurrently. Their writes are
group-committed: the events requested while a flush is under way wait for the next one, which writes them all with as
few commands as it can (one insert of markers, one `$inc` per minute touched, one bulk write of affaires), and each
caller returns once the flush holding its write is durable (its offset is committed after that: at-least-once holds).
An idle store flushes a lone event at once; a busy one writes larger batches.

Counting once. A demand's reception inserts the marker `r:<demand id>`, its outcome `i:<demand id>`, each with a unique
`_id`: a copy of the event (published twice, redelivered, seen by another supervision instance) finds its marker
there already (a duplicate-key error for that document alone, the batch is unordered) and is not counted again. Each
event also inserts `p:<demand id>`, the demand's first event: the one whose insert succeeds is the first of the two;
the other one is second and computes the latency, from its counterpart's time (kept in memory for the demands this
instance saw first, else read by `_id`). The counts follow the markers: a crash between a marker and its count loses
that count, it never doubles one (a flush that fails keeps the counts it could not write for the next flush).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import DeleteOne, ReplaceOne, ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, ServerSelectionTimeoutError

from services.supervision.domain import OUVERTES, TERMINAUX, TransitionRefusee, classe_latence, minute, transition

log = logging.getLogger(__name__)

MINUTES = "flux_minutes"
DEMANDES = "demandes"
AFFAIRES = "affaires"
LETTRES = "lettres_mortes"
DECISIONS = "lettres_mortes_decisions"
#: Actions that settle a letter (at most one of them per letter, unless a failed redrive is undone).
DECISIVES = ("reemettre", "ecarter")
#: Prefixes of the marker documents in DEMANDES: a reception, an outcome, a demand's first event.
RECUE, ISSUE, PREMIER = "r", "i", "p"
#: Demands whose first event this instance remembers until the other one comes (a miss costs one read by _id).
MEMOIRE = 20_000
#: Minutes whose document this instance knows to exist (a few hours' worth).
MINUTES_CONNUES = 600
#: Finished affaires are deleted by batches of this many (their last state, written at once, is skipped by the readers).
SUPPRESSIONS_PAR_LOT = 64
FINIS = [str(s) for s in TERMINAUX]
DOUBLON = 11000
#: A flush that starts less than ACTIF_S after the previous one ended (the store is busy) first waits DELAI_S for more
#: writes, unless LOT_PLEIN are waiting already (a backlog: the taps bring full batches). An idle store flushes at once.
#: Measured on the local stack (demands published at a steady rate, each with its outcome and an affaire event):
#: at 9 demands/s, 0.7 store commands per demand with 0.5 s (1.5 with 0.2 s); at 30/s, 0.5 with 0.2 s. The read
#: models are shown by a page refreshed every 5 s: half a second of delay is not seen.
ACTIF_S = 1.0
DELAI_S = 0.5
LOT_PLEIN = 200
Compteurs = dict[str, dict[str, int]]


@dataclass(frozen=True)
class Vu:
    """A demand's first event as remembered or read: its side (RECUE or ISSUE), its time, the demand type if known."""

    cote: str
    at: datetime
    type: str | None


@dataclass(eq=False)
class _Evenement:
    """A demand's reception or outcome to count once; `fait` gets (counted by this call, latency)."""

    cote: str
    demande: str
    at: datetime
    type: str | None
    fait: asyncio.Future[tuple[bool, float | None]]
    acceptee: bool = False
    code: str | None = None

    def documents(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Its marker, and the demand's first-event document it tries to insert."""
        quand = "recue_a" if self.cote == RECUE else "issue_a"
        repere: dict[str, Any] = {"_id": f"{self.cote}:{self.demande}", quand: self.at}
        premier: dict[str, Any] = {"_id": f"{PREMIER}:{self.demande}", quand: self.at}
        if self.type is not None:
            repere["type"] = premier["type"] = self.type
        if self.cote == ISSUE:
            repere["acceptee"] = self.acceptee
            if self.code is not None:
                repere["code"] = self.code
        return repere, premier

    def vu(self) -> Vu:
        return Vu(self.cote, self.at, self.type)


@dataclass(eq=False)
class _Changement:
    """An affaire's status change to apply; `fait` is resolved once it is written."""

    reference: str
    champs: dict[str, Any]
    at: datetime
    fait: asyncio.Future[None]


def termine(etat: dict[str, Any]) -> bool:
    """Whether an affaire's state is a finished one (TERMINAUX)."""
    return etat.get("statut") in TERMINAUX


@dataclass
class Pli:
    """What a flush writes for one affaire: its last state, its creation, whether it replaces the stored document."""

    etat: dict[str, Any]
    cree_le: datetime
    remplace: bool = False

    def operation(self, reference: str) -> ReplaceOne[dict[str, Any]] | UpdateOne:
        """The one write of this affaire in the flush's bulk write (an `update` statement either way)."""
        if self.remplace:
            return ReplaceOne({"_id": reference}, {**self.etat, "cree_le": self.cree_le}, upsert=True)
        return UpdateOne({"_id": reference}, {"$set": self.etat, "$min": {"cree_le": self.cree_le}}, upsert=True)

    async def appliquer(self, coll: AsyncCollection[dict[str, Any]], reference: str) -> None:
        """The same write on its own (when the bulk write reports errors: it is idempotent)."""
        for essai in range(2):
            try:
                if self.remplace:
                    await coll.replace_one({"_id": reference}, {**self.etat, "cree_le": self.cree_le}, upsert=True)
                else:
                    await coll.update_one({"_id": reference}, {"$set": self.etat, "$min": {"cree_le": self.cree_le}}, upsert=True)
                return
            except DuplicateKeyError:
                if essai:
                    raise  # two concurrent upserts: the second finds the document the first inserted


def plier_affaires(changements: Iterable[tuple[str, dict[str, Any], datetime]]) -> dict[str, Pli]:
    """Fold a flush's status changes, in their order, into one write per affaire.

    The same as applying them one by one: the last état wins (and is the "état since"), the creation is the earliest
    event's time; a finished affaire keeps its last state (deleted later, in batches), and one opened again after that
    within the flush starts afresh.
    """
    plis: dict[str, Pli] = {}
    for reference, champs, at in changements:
        avant = plis.get(reference)
        if avant is None:
            plis[reference] = Pli({**champs, "etat_depuis": at}, at)
        elif termine(avant.etat) and not termine(champs):
            plis[reference] = Pli({**champs, "etat_depuis": at}, at, remplace=True)
        else:
            plis[reference] = Pli({**avant.etat, **champs, "etat_depuis": at}, min(avant.cree_le, at), avant.remplace)
    return plis


def _compter(compteurs: Compteurs, at: datetime, champ: str) -> None:
    bucket = compteurs.setdefault(minute(at), {})
    bucket[champ] = bucket.get(champ, 0) + 1


@dataclass
class _Lot:
    """The requests of one flush."""

    evenements: list[_Evenement] = field(default_factory=list)
    changements: list[_Changement] = field(default_factory=list)

    def futurs(self) -> list[asyncio.Future[Any]]:
        return [e.fait for e in self.evenements] + [c.fait for c in self.changements]

    def __len__(self) -> int:
        return len(self.evenements) + len(self.changements)


class SupervisionStore:
    """Read models written by the supervision's consumers (group-committed, see the module), read by its page and API."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], memoire: int = MEMOIRE, delai_s: float = DELAI_S) -> None:
        self.minutes = db[MINUTES]
        self.demandes = db[DEMANDES]
        self.affaires = db[AFFAIRES]
        self.lettres = db[LETTRES]
        self.decisions = db[DECISIONS]
        self.memoire = memoire
        self.delai_s = delai_s
        self._dernier_vidage = -1e9  # loop time at which the last flush ended
        # The first event of the demands this instance saw first, until their second one (oldest first).
        self._premiers: OrderedDict[str, Vu] = OrderedDict()
        # Counts a failed flush could not write (the write certainly not applied): written by the next flush.
        self._reports: Compteurs = {}
        # Minutes whose document exists (inserted once before their first `$inc`).
        self._minutes_connues: OrderedDict[str, None] = OrderedDict()
        # Finished affaires written with their last state, to delete with the next batch.
        self._terminees: set[str] = set()
        self._attente = _Lot()
        self._vidage: asyncio.Task[None] | None = None

    # -- what the consumers call ---------------------------------------------------------------------------------

    async def demande_recue(self, demande_id: str, type_: str, recue_a: datetime) -> float | None:
        """Count a demand once (a copy published again is not counted); the outcome latency when its outcome came first."""
        fait: asyncio.Future[tuple[bool, float | None]] = asyncio.get_running_loop().create_future()
        self._demander(_Evenement(RECUE, demande_id, recue_a, type_, fait), None)
        _compte, latence = await fait
        return latence

    async def issue(self, demande_id: str, type_: str | None, acceptee: bool, code: str | None, issue_a: datetime) -> tuple[bool, float | None]:
        """Count a demand's outcome once: (counted now, the latency from its publication when the demand was seen already)."""
        fait: asyncio.Future[tuple[bool, float | None]] = asyncio.get_running_loop().create_future()
        self._demander(_Evenement(ISSUE, demande_id, issue_a, type_, fait, acceptee, code), None)
        return await fait

    async def affaire(self, reference: str, champs: dict[str, Any], at: datetime) -> None:
        """Apply an affaire's status change; a finished affaire leaves the read model (it holds the open ones only)."""
        fait: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._demander(None, _Changement(reference, champs, at, fait))
        await fait

    async def fermer(self) -> None:
        """Let the flush under way end (shutdown: the consumers have stopped requesting)."""
        if self._vidage is not None and not self._vidage.done():
            with contextlib.suppress(Exception, asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._vidage), 10)
            self._vidage.cancel()
        await self._supprimer_terminees()

    # -- the group commit ----------------------------------------------------------------------------------------

    def _demander(self, evenement: _Evenement | None, changement: _Changement | None) -> None:
        """Queue a write for the next flush; start flushing unless a flush is under way (it takes this one next)."""
        if evenement is not None:
            self._attente.evenements.append(evenement)
        if changement is not None:
            self._attente.changements.append(changement)
        if self._vidage is None or self._vidage.done():
            self._vidage = asyncio.create_task(self._vider(), name="supervision:flush")

    async def _vider(self) -> None:
        """Flush the waiting writes, lot after lot, until none waits. A failed flush fails every caller in it."""
        while self._attente.evenements or self._attente.changements:
            if asyncio.get_running_loop().time() - self._dernier_vidage < ACTIF_S and len(self._attente) < LOT_PLEIN:
                # Busy: a flush ended a moment ago. Let the lot grow a little (the taps' next batches join it).
                await asyncio.sleep(self.delai_s)
            lot, self._attente = self._attente, _Lot()
            try:
                resultats = await self._ecrire(lot)
            except asyncio.CancelledError:
                for futur in lot.futurs() + self._attente.futurs():
                    futur.cancel()
                raise
            except Exception as exc:
                self._dernier_vidage = asyncio.get_running_loop().time()
                for futur in lot.futurs():
                    if not futur.done():
                        futur.set_exception(exc)
                continue
            self._dernier_vidage = asyncio.get_running_loop().time()
            for evenement, resultat in zip(lot.evenements, resultats, strict=True):
                if not evenement.fait.done():
                    evenement.fait.set_result(resultat)
            for changement in lot.changements:
                if not changement.fait.done():
                    changement.fait.set_result(None)
            if len(self._terminees) >= SUPPRESSIONS_PAR_LOT:
                await self._supprimer_terminees()

    async def _ecrire(self, lot: _Lot) -> list[tuple[bool, float | None]]:
        """One flush: the markers (one insert), the counts (one `$inc` per minute), the affaires (one bulk write)."""
        erreur: Exception | None = None
        resultats: list[tuple[bool, float | None]] = []
        compteurs: Compteurs = {}
        if lot.evenements:
            resultats, erreur = await self._reperer(lot.evenements, compteurs)
        await self._ecrire_compteurs(compteurs)
        if lot.changements:
            await self._ecrire_affaires(plier_affaires((c.reference, c.champs, c.at) for c in lot.changements))
        if erreur is not None:
            raise erreur  # counted what could be: the callers are retried (what was counted finds its marker then)
        return resultats

    async def _reperer(self, evenements: list[_Evenement], compteurs: Compteurs) -> tuple[list[tuple[bool, float | None]], Exception | None]:
        """Insert the markers; count the events seen for the first time (into `compteurs`), with their latency.

        A demand's first-event document is inserted by its first event in the lot, unless this instance remembers the
        demand's first event (the document exists): a duplicate makes FerretDB insert the whole batch one document at
        a time, so the inserts that would surely fail are not sent. Also returns the error to raise once the counts are
        written: markers refused for another reason than a duplicate (their events were not counted), or a first event
        that could not be read back (its second is counted without latency).
        """
        docs: list[dict[str, Any]] = []
        reperes: list[int] = []  # the index in docs of each event's marker
        premiers_docs: dict[str, int] = {}  # the index in docs of each demand's first-event document, when inserted
        premiers: dict[str, Vu | None] = {}  # each demand's first event, as far as known
        for e in evenements:
            repere, doc_premier = e.documents()
            reperes.append(len(docs))
            docs.append(repere)
            if e.demande in premiers or e.demande in premiers_docs:
                continue
            connu = self._premiers.get(e.demande)
            if connu is not None:
                premiers[e.demande] = connu
            else:
                premiers_docs[e.demande] = len(docs)
                docs.append(doc_premier)
        doublons: set[int] = set()
        echecs: set[int] = set()
        erreur: Exception | None = None
        try:
            await self.demandes.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            for err in exc.details.get("writeErrors", []):
                (doublons if err.get("code") == DOUBLON else echecs).add(int(err["index"]))
            erreur = exc if echecs else None
        nouvelles = {e.demande for k, e in enumerate(evenements) if reperes[k] not in doublons and reperes[k] not in echecs}
        a_lire: list[str] = []
        for demande, i in premiers_docs.items():
            if i in doublons:
                if demande in nouvelles:
                    a_lire.append(demande)  # another event of the demand was first: read it back (not for copies)
            elif i not in echecs:
                premiers[demande] = _vu(docs[i])  # the event that inserted it is first (a copy carries its data)
        if a_lire:
            lus = await asyncio.gather(*(self.demandes.find_one({"_id": f"{PREMIER}:{d}"}) for d in a_lire), return_exceptions=True)
            for demande, doc in zip(a_lire, lus, strict=True):
                if isinstance(doc, Exception):
                    erreur = erreur or doc  # counted without its latency
                elif isinstance(doc, BaseException):
                    raise doc
                else:
                    premiers[demande] = _vu(doc)
        # Counted in the lot's order: the first event of the other side than a demand's first is its second, with the
        # latency, once.
        resultats: list[tuple[bool, float | None]] = [(False, None)] * len(evenements)
        apparies: set[str] = set()
        for k, e in enumerate(evenements):
            if reperes[k] in doublons or reperes[k] in echecs:
                continue  # counted already (or to retry)
            premier = premiers.get(e.demande)
            autre = None
            if premier is None:
                premiers[e.demande] = e.vu()  # its first-event document is missing: this one stands for it
            elif premier.cote != e.cote and e.demande not in apparies:
                autre = premier
                apparies.add(e.demande)
            resultats[k] = (True, _compter_evenement(compteurs, e, autre))
        # Remembered until the second event comes.
        for demande, premier in premiers.items():
            if demande in apparies:
                self._premiers.pop(demande, None)
            elif premier is not None:
                self._memoriser(demande, premier)
        return resultats, erreur

    def _memoriser(self, demande: str, vu: Vu) -> None:
        self._premiers[demande] = vu
        self._premiers.move_to_end(demande)
        while len(self._premiers) > self.memoire:
            self._premiers.popitem(last=False)

    async def _ecrire_compteurs(self, compteurs: Compteurs) -> None:
        """The flush's counts (with those an earlier failed flush kept) in one bulk write: one `$inc` per minute.

        A minute's document is inserted once beforehand (a duplicate is fine), so that the upserts of two instances
        never race: FerretDB's reply to a bulk update with an error is one pymongo cannot read (KeyError).
        """
        for cle, champs in compteurs.items():
            report = self._reports.setdefault(cle, {})
            for champ, n in champs.items():
                report[champ] = report.get(champ, 0) + n
        if not self._reports:
            return
        nouvelles = [cle for cle in self._reports if cle not in self._minutes_connues]
        if nouvelles:
            try:
                await self.minutes.insert_many([{"_id": cle} for cle in nouvelles], ordered=False)
            except BulkWriteError as exc:
                if any(err.get("code") != DOUBLON for err in exc.details.get("writeErrors", [])):
                    raise
            for cle in nouvelles:
                self._minutes_connues[cle] = None
            while len(self._minutes_connues) > MINUTES_CONNUES:
                self._minutes_connues.popitem(last=False)
        cles = list(self._reports)
        try:
            await self.minutes.bulk_write([UpdateOne({"_id": cle}, {"$inc": self._reports[cle]}, upsert=True) for cle in cles], ordered=False)
        except BulkWriteError as exc:
            echouees = {int(err["index"]) for err in exc.details.get("writeErrors", [])}
            for i, cle in enumerate(cles):
                if i not in echouees:
                    del self._reports[cle]  # applied; the others are kept for the next flush
            raise
        except (OperationFailure, ServerSelectionTimeoutError):
            raise  # refused or never sent: not applied, kept for the next flush
        except BaseException:
            self._reports.clear()  # may have been applied: dropped rather than counted twice
            raise
        self._reports.clear()

    async def _ecrire_affaires(self, plis: dict[str, Pli]) -> None:
        """One unordered bulk write of `update` statements; when it reports errors, each write again on its own.

        A finished affaire is written with its last state (the readers skip it) and deleted later with others, in one
        command (`_supprimer_terminees`), instead of a `delete` command in each flush; one opened again while its
        deletion waits replaces the stored document.
        """
        for reference, pli in plis.items():
            if reference in self._terminees and not termine(pli.etat):
                pli.remplace = True
        try:
            await self.affaires.bulk_write([pli.operation(reference) for reference, pli in plis.items()], ordered=False)
        except (BulkWriteError, KeyError):
            # KeyError: FerretDB's reply to a bulk with write errors lacks the counts pymongo sums (nModified).
            for reference, pli in plis.items():
                await pli.appliquer(self.affaires, reference)
        for reference, pli in plis.items():
            if termine(pli.etat):
                self._terminees.add(reference)
            else:
                self._terminees.discard(reference)

    async def _supprimer_terminees(self) -> None:
        """Delete the finished affaires written so far, in one command (kept for later if it fails)."""
        references = list(self._terminees)
        if not references:
            return
        try:
            await self.affaires.bulk_write([DeleteOne({"_id": r, "statut": {"$in": FINIS}}) for r in references], ordered=False)
        except Exception:
            log.warning("finished affaires not deleted yet (tried again later)", exc_info=True)
            return
        self._terminees.difference_update(references)

    # -- readers -------------------------------------------------------------------------------------------------

    async def demande(self, demande_id: str) -> dict[str, Any] | None:
        """A demand as the read model knows it: its reception (recue_a, type) and outcome (issue_a, acceptee, code)."""
        recue = await self.demandes.find_one({"_id": f"{RECUE}:{demande_id}"})
        issue = await self.demandes.find_one({"_id": f"{ISSUE}:{demande_id}"})
        if recue is None and issue is None:
            return None
        doc: dict[str, Any] = {"_id": demande_id, **(issue or {}), **(recue or {})}
        doc["_id"] = demande_id
        return doc

    async def buckets(self, depuis: datetime) -> list[dict[str, Any]]:
        """The per-minute documents from `depuis` on (the collection holds one document per minute of retention)."""
        return [doc async for doc in self.minutes.find({"_id": {"$gte": minute(depuis)}})]

    async def purger(self, avant: datetime) -> None:
        """Forget the counts and the demand markers older than the retention (each marker holds one of the two times),
        and the finished affaires a stopped instance left (its batch of deletions not written)."""
        await self.minutes.delete_many({"_id": {"$lt": minute(avant)}})
        await self.demandes.delete_many({"$or": [{"recue_a": {"$lt": avant}}, {"issue_a": {"$lt": avant}}]})
        await self.affaires.delete_many({"statut": {"$in": FINIS}})

    async def affaires_ouvertes(self) -> list[dict[str, Any]]:
        """Every open affaire of the read model (a finished one may wait there for its deletion: skipped)."""
        docs = [doc async for doc in self.affaires.find({}) if not termine(doc)]
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


def _compter_evenement(compteurs: Compteurs, e: _Evenement, autre: Vu | None) -> float | None:
    """Count an event seen for the first time; its latency (counted at the outcome's minute) when it comes second."""
    if e.cote == RECUE:
        _compter(compteurs, e.at, f"recues.{_cle(e.type or 'inconnu')}")
        return None if autre is None else _compter_latence(compteurs, e.at, autre.at)
    type_ = e.type or (autre.type if autre is not None else None) or "inconnu"
    _compter(compteurs, e.at, f"{'acceptees' if e.acceptee else 'refusees'}.{_cle(type_)}")
    if not e.acceptee:
        _compter(compteurs, e.at, f"codes.{_cle(e.code or 'SANS_CODE')}")
    return None if autre is None else _compter_latence(compteurs, autre.at, e.at)


def _compter_latence(compteurs: Compteurs, recue_a: datetime, issue_a: datetime) -> float:
    """Count a demand's latency (reception to outcome) at its outcome's minute; return it in seconds."""
    latence = (issue_a - recue_a).total_seconds()
    _compter(compteurs, issue_a, f"latences.{_cle(classe_latence(latence))}")
    return latence


def _vu(doc: dict[str, Any] | None) -> Vu | None:
    """A first-event document as read (None when missing: purged meanwhile)."""
    if doc is None:
        return None
    if doc.get("recue_a") is not None:
        return Vu(RECUE, _utc(doc["recue_a"]), doc.get("type"))
    return Vu(ISSUE, _utc(doc["issue_a"]), doc.get("type"))


def _cle(texte: str) -> str:
    """A label usable as a field name (no dots, no leading $)."""
    return texte.replace(".", "_").replace("$", "_") or "_"


def _utc(at: datetime) -> datetime:
    """Datetimes come back naive from the store: they are UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def depuis(maintenant: datetime, minutes: int) -> datetime:
    """The start of a window of `minutes` minutes ending now."""
    return maintenant - timedelta(minutes=minutes - 1)
