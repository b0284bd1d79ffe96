"""The supervision's read-model handlers and its purge job on a fake store: what each event writes, and what it shows."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiokafka import ConsumerRecord
from prometheus_client import CollectorRegistry
from pymongo.errors import AutoReconnect

from contracts.common import StatutAffaire, TypeAffaire
from contracts.envelope import new_envelope
from contracts.evenements import AffaireStatutChangeV1, DemandeAccepteeV1, DemandeRefuseeV1
from contracts.refus import CodeRefus
from platform_kit.runtime import Runtime
from platform_kit.testing import MemoryKit
from services.supervision.domain import A_TRAITER
from services.supervision.handlers import Alimentation, Tap
from services.supervision.metrics import SupervisionMetrics
from services.supervision.settings import Settings
from services.supervision.store import SupervisionStore, plier_affaires, termine
from services.supervision.upkeep import Purge

PDS = "30000000000017"


class _Store:
    """The SupervisionStore calls the handlers make, recorded; `issue` counts each demand's outcome once."""

    def __init__(self) -> None:
        self.appels: list[tuple[str, tuple[Any, ...]]] = []
        self.issues: set[str] = set()

    async def issue(self, demande: str, type_: str | None, acceptee: bool, code: str | None, at: datetime) -> tuple[bool, float | None]:
        self.appels.append(("issue", (demande, type_, acceptee, code)))
        premiere = demande not in self.issues
        self.issues.add(demande)
        return premiere, 0.5 if premiere else None

    async def affaire(self, reference: str, champs: dict[str, Any], at: datetime) -> None:
        self.appels.append(("affaire", (reference, champs)))

    async def lettre_recue(self, doc: dict[str, Any]) -> None:
        self.appels.append(("lettre", (doc,)))

    async def demande_recue(self, demande_id: str, type_: str, recue_a: datetime) -> float | None:
        self.appels.append(("demande", (demande_id, type_)))
        return None

    async def purger(self, avant: datetime) -> None:
        self.appels.append(("purger", (avant,)))

    async def fermer(self) -> None:
        self.appels.append(("fermer", ()))


def _rt() -> Runtime:
    """What the handlers and taps read of the runtime: its settings."""
    return cast(Runtime, SimpleNamespace(settings=SimpleNamespace(service_name="supervision", backoff_max_s=0.0)))


def _alimentation() -> tuple[Alimentation, _Store]:
    store = _Store()
    return Alimentation(_rt(), cast(SupervisionStore, store), SupervisionMetrics(CollectorRegistry())), store


def _record(value: bytes, headers: list[tuple[str, bytes]] | None = None) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("grd.dlq.v1", 2, 17, 1_767_225_600_000, 0, b"k", value, None, len(b"k"), len(value), headers or [])


async def test_an_outcome_is_counted_once_and_listed_among_the_last_ones() -> None:
    alimentation, store = _alimentation()
    kit = MemoryKit()
    demande = uuid.uuid4()
    refus = DemandeRefuseeV1(
        demande_message_id=demande, demande_type="DemandeDiverse", pds=PDS, code=CodeRefus.PDS_INCONNU, message="m", etape="referentiel"
    )
    ctx = kit.context(refus, fournisseur="VOLTA")
    await alimentation.refusee(ctx, refus)
    await alimentation.refusee(kit.redelivery(ctx), refus)
    assert store.appels == [("issue", (str(demande), "DemandeDiverse", False, "PDS_INCONNU"))] * 2
    assert [(d["demande"], d["acceptee"], d["code"]) for d in alimentation.dernieres] == [(str(demande), False, "PDS_INCONNU")]


async def test_the_refusal_of_an_unreadable_demand_is_counted_under_its_correlation_id() -> None:
    alimentation, store = _alimentation()
    kit = MemoryKit()
    refus = DemandeRefuseeV1(demande_message_id=None, demande_type=None, code=CodeRefus.MESSAGE_INVALIDE, message="m", etape="passerelle")
    ctx = kit.context(refus, key="VOLTA", fournisseur="VOLTA")
    await alimentation.refusee(ctx, refus)
    assert store.appels == [("issue", (str(ctx.envelope.correlation_id), None, False, "MESSAGE_INVALIDE"))]


async def test_an_acceptance_is_counted_without_code() -> None:
    alimentation, store = _alimentation()
    accepte = DemandeAccepteeV1(demande_message_id=uuid.uuid4(), demande_type="DeclarationAcces", pds=PDS, message="ok")
    await alimentation.acceptee(MemoryKit().context(accepte, fournisseur="VOLTA"), accepte)
    assert store.appels == [("issue", (str(accepte.demande_message_id), "DeclarationAcces", True, None))]


async def test_an_affaire_event_writes_its_state_and_supplier() -> None:
    alimentation, store = _alimentation()
    evt = AffaireStatutChangeV1(
        reference_affaire="A1", pds=PDS, type_affaire=TypeAffaire.CHANGEMENT_FOURNISSEUR, statut=StatutAffaire.EN_COURS, etat="creee"
    )
    await alimentation.affaire(MemoryKit().context(evt, fournisseur="VOLTA"), evt)
    [(quoi, (reference, champs))] = store.appels
    assert (quoi, reference) == ("affaire", "A1")
    attendu = {"type_affaire": "changement_fournisseur", "statut": "en_cours", "etat": "creee", "pds": PDS, "express": False, "fournisseur": "VOLTA"}
    assert champs == attendu


async def test_a_dead_letter_is_recorded_to_deal_with_even_without_its_headers() -> None:
    alimentation, store = _alimentation()
    await alimentation.lettre_morte(_record(b"{}", [("x-origin", b"grd.demandes.v1/3/9"), ("x-attempts", b"4")]))
    await alimentation.lettre_morte(_record(b"{}"))
    [complete, nue] = [args[0] for _, args in store.appels]
    assert (complete["_id"], complete["topic_origine"], complete["tentatives"], complete["etat"]) == ("2-17", "grd.demandes.v1", 4, A_TRAITER)
    assert (nue["origine"], nue["tentatives"], nue["etat"]) == ("?", None, A_TRAITER)


async def test_an_unreadable_demand_is_counted_under_its_place_in_the_log() -> None:
    alimentation, store = _alimentation()
    await alimentation.demande(_record(b"pas du json"))
    assert store.appels == [("demande", ("grd.dlq.v1/2/17", "illisible"))]


async def test_the_purge_forgets_what_is_older_than_the_retention() -> None:
    store = _Store()
    avant = datetime.now(UTC)
    await Purge(cast(SupervisionStore, store), timedelta(hours=24)).une_fois(True)
    [(quoi, (limite,))] = store.appels
    assert quoi == "purger" and avant - timedelta(hours=24) <= limite <= datetime.now(UTC) - timedelta(hours=24)


def test_a_flush_folds_an_affaires_changes_into_one_write_as_if_applied_one_by_one() -> None:
    t0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    ouverte = {"statut": "en_cours", "type_affaire": "changement_fournisseur", "pds": PDS, "express": False, "fournisseur": "VOLTA"}
    plis = plier_affaires(
        [
            ("A1", {**ouverte, "etat": "creee"}, t0 + timedelta(minutes=1)),
            ("A2", {**ouverte, "etat": "creee"}, t0),
            ("A1", {**ouverte, "etat": "en_attente_date_effet"}, t0),  # an earlier time: the creation is the earliest
            ("A2", {**ouverte, "statut": "terminee", "etat": "terminee"}, t0 + timedelta(minutes=2)),
            ("A3", {**ouverte, "statut": "annulee", "etat": "annulee"}, t0),
            ("A3", {**ouverte, "etat": "creee"}, t0 + timedelta(minutes=3)),  # opened again after its end: afresh
        ]
    )
    a1, a2, a3 = plis["A1"], plis["A2"], plis["A3"]
    assert (a1.etat["etat"], a1.etat["etat_depuis"], a1.cree_le, a1.remplace) == ("en_attente_date_effet", t0, t0, False)
    assert termine(a2.etat) and a2.etat["etat_depuis"] == t0 + timedelta(minutes=2) and a2.cree_le == t0
    assert (a3.etat["etat"], a3.cree_le, a3.remplace) == ("creee", t0 + timedelta(minutes=3), True)
    assert a3.operation("A3")._doc == {**a3.etat, "cree_le": a3.cree_le}  # a replacement, not a $min on the old creation


async def test_an_outcome_record_reaches_its_handler_and_an_unreadable_one_is_skipped() -> None:
    alimentation, store = _alimentation()
    handle = alimentation._evenements("resultats", {DemandeRefuseeV1: alimentation.refusee})
    refus = DemandeRefuseeV1(
        demande_message_id=uuid.uuid4(), demande_type="DemandeDiverse", pds=PDS, code=CodeRefus.PDS_INCONNU, message="m", etape="referentiel"
    )
    accepte = DemandeAccepteeV1(demande_message_id=uuid.uuid4(), demande_type="DemandeDiverse", pds=PDS, message="ok")
    for valeur in (
        b"pas du json",
        b'{"type": "DemandeRefusee"}',  # not an envelope
        new_envelope(accepte, key=PDS, fournisseur="VOLTA").model_dump_json().encode(),  # no handler for its type here
        new_envelope(refus, key=PDS, fournisseur="VOLTA").model_dump_json().encode(),
    ):
        await handle(_record(valeur))
    assert store.appels == [("issue", (str(refus.demande_message_id), "DemandeDiverse", False, "PDS_INCONNU"))]


async def test_a_tap_handles_a_batch_at_once_and_again_whole_and_in_order_after_an_outage() -> None:
    vus: list[int] = []
    pannes = [AutoReconnect("panne simulée")]
    en_cours = 0
    ensemble = 0

    async def handler(record: ConsumerRecord[bytes, bytes]) -> None:
        nonlocal en_cours, ensemble
        vus.append(record.offset)
        en_cours += 1
        ensemble = max(ensemble, en_cours)
        await asyncio.sleep(0)
        en_cours -= 1
        if record.offset == 2 and pannes:
            raise pannes.pop()

    records = [ConsumerRecord("t", 0, i, 0, 0, None, b"", None, 0, 0, []) for i in range(4)]
    await Tap(_rt(), "essai", "t", handler, fetch_min_bytes=1, fetch_max_wait_ms=0)._handle(records)
    assert vus == [0, 1, 2, 3, 0, 1, 2, 3] and ensemble == 4


async def test_a_tap_raises_a_failure_that_is_not_an_outage_once_every_record_of_the_batch_is_handled() -> None:
    fini: list[int] = []

    async def handler(record: ConsumerRecord[bytes, bytes]) -> None:
        if record.offset == 0:
            raise ValueError("illisible")
        await asyncio.sleep(0.01)
        fini.append(record.offset)

    records = [ConsumerRecord("t", 0, i, 0, 0, None, b"", None, 0, 0, []) for i in range(3)]
    with pytest.raises(ValueError):
        await Tap(_rt(), "essai", "t", handler, fetch_min_bytes=1, fetch_max_wait_ms=0)._handle(records)
    assert fini == [1, 2]


async def test_the_taps_fetch_with_the_configured_wait_and_size() -> None:
    """Each tap's consumer waits for the configured bytes or time before the broker answers (not one record)."""
    settings = Settings(service_name="supervision", tap_fetch_min_bytes=32_768, tap_fetch_max_wait_ms=400)
    rt = cast(Runtime, SimpleNamespace(settings=settings, background=[], shutdown_hooks=[]))
    alimentation = Alimentation(rt, cast(SupervisionStore, _Store()), SupervisionMetrics(CollectorRegistry()))
    alimentation.register(settings)
    assert [tap.group_id for tap in alimentation.taps] == [f"supervision.{n}" for n in ("resultats", "affaires", "demandes", "lettres_mortes")]
    assert rt.background == [tap.run for tap in alimentation.taps]
    for tap in alimentation.taps:
        consumer = tap.consumer()  # built, not started: no broker needed
        assert (consumer._fetch_min_bytes, consumer._fetch_max_wait_ms) == (32_768, 400)
        assert consumer._enable_auto_commit is False
        await consumer.stop()


def test_the_tap_fetch_settings_have_documented_defaults_and_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    defaut = Settings()
    assert (defaut.tap_fetch_min_bytes, defaut.tap_fetch_max_wait_ms) == (65_536, 250)
    monkeypatch.setenv("SUPERVISION_TAP_FETCH_MIN_BYTES", "1")
    monkeypatch.setenv("SUPERVISION_TAP_FETCH_MAX_WAIT_MS", "500")
    assert (Settings().tap_fetch_min_bytes, Settings().tap_fetch_max_wait_ms) == (1, 500)  # aiokafka's defaults: a fetch per record
    for taille, attente in ((0, 250), (65_536, 0), (65_536, 60_000)):
        with pytest.raises(ValueError):
            Settings(tap_fetch_min_bytes=taille, tap_fetch_max_wait_ms=attente)
