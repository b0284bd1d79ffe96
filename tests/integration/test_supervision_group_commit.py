"""The supervision's group commit on the real FerretDB and Kafka: a burst of demands, outcomes and affaire events handled
concurrently is counted once each (copies, redeliveries and two store instances on one database included), with few
store commands per demand; a failed flush fails every caller in it, and what it could not count is counted later."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect, OperationFailure

from contracts.common import StatutAffaire, TypeAffaire
from contracts.demandes import DemandeDiverseV1
from contracts.envelope import new_envelope
from contracts.evenements import AffaireStatutChangeV1, DemandeAccepteeV1, DemandeRefuseeV1
from contracts.topics import AFFAIRES_EVENEMENTS, DEMANDES, DEMANDES_RESULTATS
from platform_kit.clock import aujourdhui_reel
from platform_kit.runtime import Runtime
from platform_kit.store import CommandCounter, make_client
from services.supervision.app import create_app
from services.supervision.domain import classe_latence
from services.supervision.settings import Settings
from services.supervision.store import AFFAIRES, DELAI_S, MINUTES, SupervisionStore
from services.supervision.store import DEMANDES as MARQUEURS
from tests.support import Bus, mongodb_url, skip_history, unique_db

pytestmark = pytest.mark.integration

N = 240
LECTURE = (MARQUEURS, MINUTES, AFFAIRES)
TYPES = ("DemandeDiverse", "ChangementFournisseur", "MiseEnService")
LATENCES = (0.03, 0.2, 0.7, 3.0, 40.0)


@dataclass(frozen=True)
class Demande:
    """One demand of the burst and what its outcome will be."""

    id: str
    type: str
    recue_a: datetime
    issue_a: datetime
    code: str | None


@dataclass(frozen=True)
class Etat:
    """One status change of an affaire."""

    reference: str
    champs: dict[str, Any]
    at: datetime


class Commandes:
    """Store commands per (command, collection) seen by one client."""

    def __init__(self) -> None:
        self.vues: Counter[tuple[str, str]] = Counter()

    def __call__(self, command: str, collection: str, _seconds: float) -> None:
        self.vues[(command, collection)] += 1

    def total(self) -> int:
        return sum(n for (_c, coll), n in self.vues.items() if coll in LECTURE)


def rafale(n: int, base: datetime) -> list[Demande]:
    """`n` demands over a few minutes, of several types, latency classes, accepted (even) and refused (odd)."""
    out = []
    for j in range(n):
        recue = base + timedelta(milliseconds=700 * j)
        code = None if j % 2 == 0 else f"CODE_{j % 3}"
        out.append(Demande(str(uuid.uuid4()), TYPES[j % 3], recue, recue + timedelta(seconds=LATENCES[j % 5]), code))
    return out


def etats_affaires(demandes: Sequence[Demande]) -> dict[str, list[Etat]]:
    """An affaire for every other demand: created, waiting, and every fourth one finished."""
    out: dict[str, list[Etat]] = {}
    for j, d in enumerate(demandes[::2]):
        ref = f"AFF-{d.id[:8]}"
        champs = {"type_affaire": "changement_fournisseur", "pds": f"PDS{j}", "express": False, "fournisseur": "VOLTA"}
        etats = [
            Etat(ref, {**champs, "statut": StatutAffaire.EN_COURS.value, "etat": "creee"}, d.recue_a),
            Etat(ref, {**champs, "statut": StatutAffaire.EN_COURS.value, "etat": "en_attente_date_effet"}, d.issue_a),
        ]
        if j % 4 == 0:
            etats.append(Etat(ref, {**champs, "statut": StatutAffaire.TERMINEE.value, "etat": "terminee"}, d.issue_a + timedelta(seconds=1)))
        out[ref] = etats
    return out


async def en_lots(items: Sequence[Any], taille: int, traiter: Callable[[Any], Awaitable[None]]) -> None:
    """Like the taps: each batch of records handled concurrently, batch after batch."""
    for i in range(0, len(items), taille):
        await asyncio.gather(*(traiter(item) for item in items[i : i + taille]))


@dataclass
class Instance:
    """A SupervisionStore on its own client, what it returned, and the commands it sent."""

    store: SupervisionStore
    commandes: Commandes
    client: AsyncMongoClient[dict[str, Any]]
    issues_comptees: Counter[str]
    latences: list[float]

    async def recevoir(self, d: Demande) -> None:
        latence = await self.store.demande_recue(d.id, d.type, d.recue_a)
        if latence is not None:
            self.latences.append(latence)

    async def conclure(self, d: Demande) -> None:
        compte, latence = await self.store.issue(d.id, d.type, d.code is None, d.code, d.issue_a)
        if compte:
            self.issues_comptees[d.id] += 1
        if latence is not None:
            self.latences.append(latence)

    async def suivre(self, e: Etat) -> None:
        await self.store.affaire(e.reference, e.champs, e.at)


@pytest.fixture
async def instances() -> AsyncIterator[Callable[..., Instance]]:
    """Builds SupervisionStore instances on one fresh database, each on its own client; closed afterwards."""
    db = unique_db("grd_supervision_gc")
    faites: list[Instance] = []

    def instance(memoire: int = 20_000, delai_s: float = DELAI_S) -> Instance:
        commandes = Commandes()
        client = make_client(mongodb_url(), [CommandCounter(commandes)])
        inst = Instance(SupervisionStore(client[db], memoire=memoire, delai_s=delai_s), commandes, client, Counter(), [])
        faites.append(inst)
        return inst

    yield instance
    for inst in faites:
        await inst.store.fermer()
    if faites:
        await faites[0].client.drop_database(db)
    for inst in faites:
        await inst.client.close()


async def assert_counted_once(store: SupervisionStore, demandes: Sequence[Demande]) -> None:
    """Every demand counted once as received, once as accepted or refused (by type and code), its latency once."""
    buckets = await store.buckets(min(d.recue_a for d in demandes) - timedelta(minutes=1))
    vu: dict[str, Counter[str]] = {quoi: Counter() for quoi in ("recues", "acceptees", "refusees", "codes", "latences")}
    for b in buckets:
        for quoi, compte in vu.items():
            compte.update(b.get(quoi, {}))
    assert vu["recues"] == Counter(d.type for d in demandes)
    assert vu["acceptees"] == Counter(d.type for d in demandes if d.code is None)
    assert vu["refusees"] == Counter(d.type for d in demandes if d.code is not None)
    assert vu["codes"] == Counter(d.code for d in demandes if d.code is not None)
    attendues = Counter(classe_latence((d.issue_a - d.recue_a).total_seconds()) for d in demandes)
    assert vu["latences"] == attendues


async def assert_open_affaires(store: SupervisionStore, affaires: dict[str, list[Etat]]) -> None:
    """The read model holds the open affaires only, with their last état and their first event's time."""
    ouvertes = {a["_id"]: a for a in await store.affaires_ouvertes()}
    attendues = {ref: etats for ref, etats in affaires.items() if etats[-1].champs["statut"] == StatutAffaire.EN_COURS.value}
    assert set(ouvertes) == set(attendues)
    for ref, etats in attendues.items():
        a = ouvertes[ref]
        assert (a["etat"], a["cree_le"], a["etat_depuis"]) == (etats[-1].champs["etat"], etats[0].at, etats[-1].at)


async def test_a_concurrent_burst_is_counted_once_with_few_commands_per_demand(instances: Callable[..., Instance]) -> None:
    inst = instances()
    demandes = rafale(N, datetime.now(UTC).replace(microsecond=0))
    affaires = etats_affaires(demandes)
    # The tap lags behind for the second half: those outcomes are counted before their demand.
    premiers, tardifs = demandes[: N // 2], demandes[N // 2 :]

    async def demandes_lues() -> None:
        await en_lots(premiers, 50, inst.recevoir)
        await asyncio.sleep(1)
        await en_lots(tardifs, 50, inst.recevoir)

    # Like the service's taps: one per topic, each handling its batches one after the other, a batch's records at once.
    etats = [e for es in affaires.values() for e in es]
    await asyncio.gather(demandes_lues(), en_lots(demandes, 30, inst.conclure), en_lots(etats, 30, inst.suivre))

    await assert_counted_once(inst.store, demandes)
    assert set(inst.issues_comptees) == {d.id for d in demandes} and set(inst.issues_comptees.values()) == {1}
    assert sorted(inst.latences) == sorted((d.issue_a - d.recue_a).total_seconds() for d in demandes)
    await assert_open_affaires(inst.store, affaires)
    par_demande = inst.commandes.total() / N
    print(f"\nburst of {N} demands: {inst.commandes.total()} store commands, {par_demande:.2f} per demand: {dict(inst.commandes.vues)}")
    assert par_demande <= 1.5
    assert not inst.store._premiers  # every demand paired: none is remembered any more


async def test_copies_and_two_instances_count_each_demand_once(instances: Callable[..., Instance]) -> None:
    # A small memory on one of them: most counterparts are read back by _id.
    a, b = instances(), instances(memoire=16)
    demandes = rafale(N, datetime.now(UTC).replace(microsecond=0))
    affaires = etats_affaires(demandes)
    melangees = random.Random(7).sample(demandes, len(demandes))

    async def instance(inst: Instance, ordre: Sequence[Demande], redelivre: Sequence[Demande]) -> None:
        # Each instance sees every demand and outcome once, in its own order, and redelivers some of them again.
        await asyncio.gather(en_lots(ordre, 40, inst.recevoir), en_lots(ordre[::-1], 25, inst.conclure))
        await asyncio.gather(en_lots(redelivre, 40, inst.recevoir), en_lots(redelivre, 25, inst.conclure))

    # An affaire's events reach one instance (its partition's), in order, then again from the start (a redelivery).
    refs = sorted(affaires)
    etats_a = [e for ref in refs[::2] for e in affaires[ref] * 2]
    etats_b = [e for ref in refs[1::2] for e in affaires[ref] * 2]
    await asyncio.gather(
        instance(a, demandes, demandes[: N // 3]),
        instance(b, melangees, melangees[: N // 3]),
        en_lots(etats_a, 20, a.suivre),
        en_lots(etats_b, 20, b.suivre),
    )

    await assert_counted_once(a.store, demandes)
    comptees = a.issues_comptees + b.issues_comptees
    assert set(comptees) == {d.id for d in demandes} and set(comptees.values()) == {1}
    assert sorted(a.latences + b.latences) == sorted((d.issue_a - d.recue_a).total_seconds() for d in demandes)
    await assert_open_affaires(b.store, affaires)
    assert len(b.store._premiers) <= 16
    total = a.commandes.total() + b.commandes.total()
    print(f"\ntwo instances, every event twice or more: {total} store commands, {total / N:.2f} per demand")


class _Panne:
    """A collection whose next calls of one method fail with the given errors (before anything is sent)."""

    def __init__(self, coll: AsyncCollection[dict[str, Any]], methode: str, erreurs: list[Exception]) -> None:
        self._coll = coll
        self._methode = methode
        self.erreurs = erreurs

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._coll, name)
        if name != self._methode or not self.erreurs:
            return attr

        async def en_panne(*_args: Any, **_kwargs: Any) -> Any:
            raise self.erreurs.pop(0)

        return en_panne


async def test_a_failed_flush_fails_every_caller_in_it_and_its_counts_are_written_later(instances: Callable[..., Instance]) -> None:
    inst = instances(delai_s=0)
    store = inst.store
    d1, d2, d3 = rafale(3, datetime.now(UTC).replace(microsecond=0))
    panne = OperationFailure("panne simulée du compteur")
    store.minutes = cast(AsyncCollection[dict[str, Any]], _Panne(store.minutes, "bulk_write", [panne]))

    resultats = await asyncio.gather(
        store.demande_recue(d1.id, d1.type, d1.recue_a), store.issue(d2.id, d2.type, True, None, d2.issue_a), return_exceptions=True
    )
    assert list(resultats) == [panne, panne]
    # Retried (as the kit and the taps do): the markers are there, the counts the failed flush kept are written now.
    assert await store.demande_recue(d1.id, d1.type, d1.recue_a) is None
    assert await store.issue(d2.id, d2.type, True, None, d2.issue_a) == (False, None)
    buckets = await store.buckets(d1.recue_a - timedelta(minutes=1))
    assert sum(sum(b.get("recues", {}).values()) for b in buckets) == 1
    assert sum(sum(b.get("acceptees", {}).values()) for b in buckets) == 1

    # The markers' insert fails: nothing is counted, every caller fails, the retry counts them.
    coupure = AutoReconnect("connexion perdue (simulée)")
    store.demandes = cast(AsyncCollection[dict[str, Any]], _Panne(store.demandes, "insert_many", [coupure]))
    echecs = await asyncio.gather(
        store.demande_recue(d3.id, d3.type, d3.recue_a), store.issue(d3.id, d3.type, False, "X", d3.issue_a), return_exceptions=True
    )
    assert list(echecs) == [coupure, coupure]
    assert await store.demande_recue(d3.id, d3.type, d3.recue_a) is None
    assert await store.issue(d3.id, d3.type, False, "X", d3.issue_a) == (True, (d3.issue_a - d3.recue_a).total_seconds())

    # An affaire's write fails with the flush: its caller fails too.
    store.affaires = cast(AsyncCollection[dict[str, Any]], _Panne(store.affaires, "bulk_write", [OperationFailure("panne simulée")]))
    etat = next(iter(etats_affaires([d1]).values()))[0]
    with pytest.raises(OperationFailure):
        await store.affaire(etat.reference, etat.champs, etat.at)
    await store.affaire(etat.reference, etat.champs, etat.at)
    assert [a["_id"] for a in await store.affaires_ouvertes()] == [etat.reference]


# -- through Kafka: the running service ---------------------------------------------------------------------------


async def test_the_service_counts_a_published_burst_once_with_few_commands_per_demand(bus: Bus) -> None:
    """N demands, their outcomes and their affaires' first event, every record published twice, before the service
    starts: it then reads them as a backlog (the load case), each counted once."""
    settings = Settings(
        service_name=f"supervision-gc-{uuid.uuid4().hex[:6]}", database=unique_db("grd_supervision_gc"), services="absent=http://127.0.0.1:9"
    )
    app = create_app(settings)
    rt: Runtime = app.state.runtime
    for groupe, topic in (("demandes", DEMANDES), ("resultats", DEMANDES_RESULTATS), ("affaires", AFFAIRES_EVENEMENTS)):
        await skip_history(f"{settings.service_name}.{groupe}", [topic])

    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    demandes = rafale(N, base)
    envois = []
    for j, d in enumerate(demandes):
        pds = f"GC{j:012d}"
        diverse = DemandeDiverseV1(pds=pds, sous_type="Autre", observations="Rafale.", date_souhaitee=aujourdhui_reel() + timedelta(days=3))
        demande = new_envelope(diverse, key=pds, fournisseur="LUMEN", message_id=uuid.UUID(d.id), occurred_at=d.recue_a)
        demande = demande.model_copy(update={"type": d.type})  # the tap reads the type from the envelope
        issue: Any
        if d.code is None:
            issue = DemandeAccepteeV1(demande_message_id=uuid.UUID(d.id), demande_type=d.type, pds=pds, message="ok", reference_affaire=f"AFF-{j}")
        else:
            issue = DemandeRefuseeV1(
                demande_message_id=uuid.UUID(d.id), demande_type=d.type, pds=pds, code=d.code, message="refus", etape="referentiel"
            )
        envois.append((demande, DEMANDES.name))
        envois.append(
            (new_envelope(issue, key=pds, fournisseur="LUMEN", correlation_id=uuid.UUID(d.id), occurred_at=d.issue_a), DEMANDES_RESULTATS.name)
        )
        if d.code is None:
            evt = AffaireStatutChangeV1(
                reference_affaire=f"AFF-{j}", type_affaire=TypeAffaire.CHANGEMENT_FOURNISSEUR, pds=pds, statut=StatutAffaire.EN_COURS, etat="creee"
            )
            envois.append((new_envelope(evt, key=pds, fournisseur="LUMEN", occurred_at=d.issue_a), AFFAIRES_EVENEMENTS.name))
    assert bus.producer is not None
    for _copie in range(2):
        await asyncio.gather(*[await bus.producer.send(topic, env.model_dump_json().encode(), key=env.key.encode()) for env, topic in envois])

    client = make_client(mongodb_url())
    lecteur = SupervisionStore(client[settings.database_name])
    await rt.start()
    try:
        await rt.wait_ready()

        async def tout_compte() -> bool:
            buckets = await lecteur.buckets(base - timedelta(minutes=1))
            recues = sum(sum(b.get("recues", {}).values()) for b in buckets)
            issues = sum(sum(b.get(q, {}).values()) for b in buckets for q in ("acceptees", "refusees"))
            ouvertes = len(await lecteur.affaires_ouvertes())
            return recues >= N and issues >= N and ouvertes >= N // 2

        deadline = asyncio.get_running_loop().time() + 120
        while not await tout_compte():
            assert asyncio.get_running_loop().time() < deadline, "burst not counted after 120 s"
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)  # the copies still in flight are handled (and must not count)
        await assert_counted_once(lecteur, demandes)
        registry = rt.metrics.registry
        commandes = {
            (s.labels["command"], s.labels["collection"]): int(s.value)
            for m in registry.collect()
            if m.name == "grd_store_commands"
            for s in m.samples
            if s.name == "grd_store_commands_total" and s.labels["collection"] in LECTURE
        }
        total = sum(commandes.values())
        print(f"\nservice, burst of {N} demands (every record twice): {total} store commands, {total / N:.2f} per demand: {commandes}")
        assert total / N <= 1.5
    finally:
        await rt.stop()
        await client.drop_database(settings.database_name)
        await client.close()
