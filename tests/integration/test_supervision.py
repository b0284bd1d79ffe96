"""The supervision service in-process against the real Kafka, FerretDB and SMTP sink: read models fed by the topics,
dead letters redriven exactly once, probes, operator-only access."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest

from contracts.common import StatutAffaire, TypeAffaire
from contracts.demandes import DemandeDiverseV1
from contracts.envelope import new_envelope
from contracts.evenements import AffaireStatutChangeV1, DemandeRefuseeV1
from contracts.topics import AFFAIRES_EVENEMENTS, DEMANDES, DEMANDES_RESULTATS, DLQ, RELEVES
from platform_kit.clock import aujourdhui_reel
from platform_kit.messaging import dead_letter_headers
from platform_kit.runtime import Runtime
from services.supervision.app import create_app
from services.supervision.handlers import Tap
from services.supervision.settings import Settings
from services.supervision.store import SupervisionStore
from tests.support import Bus, mongodb_url, read_topic, unique_db

pytestmark = pytest.mark.integration

GRD = ("GRD", "demo-operateur-grd")
LUMEN = ("LUMEN", "demo-lumen")
ACTION = {"X-GRD-Action": "1"}
T = TypeVar("T")


@dataclass
class Supervision:
    """The running app under test."""

    rt: Runtime
    http: httpx.AsyncClient
    store: SupervisionStore


@pytest.fixture(scope="module")
async def supervision() -> AsyncIterator[Supervision]:
    """The supervision app with its own groups and database; one watched service is down on purpose."""
    mongodb_url()
    settings = Settings(
        service_name=f"supervision-test-{uuid.uuid4().hex[:6]}",
        database=unique_db("grd_supervision"),
        services="absent=http://127.0.0.1:9",
        sonde_intervalle_s=0.5,
        tap_fetch_min_bytes=65_536,  # the defaults, stated: the taps under test wait for their fetches
        tap_fetch_max_wait_ms=250,
    )
    app = create_app(settings)
    rt: Runtime = app.state.runtime
    await rt.start()
    await rt.wait_ready()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://supervision", auth=GRD) as http:
        yield Supervision(rt, http, app.state.store)
    await rt.stop()


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = 60) -> T:
    """Poll until `probe` returns something (fails with `what` after the timeout)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = await probe()
        if found is not None and found is not False:
            return found
        await asyncio.sleep(0.3)
    raise AssertionError(f"not seen after {timeout}s: {what}")


async def get(s: Supervision, path: str) -> Any:
    reponse = await s.http.get(path)
    assert reponse.status_code == 200, reponse.text
    return reponse.json()


async def dead_letter(bus: Bus, body: bytes, key: bytes, origin_topic: str) -> str:
    """Put a record on the dead-letter topic exactly as the kit does (its headers), return the error text.

    The tests redrive to grd.releves.evenements.v1, which no service consumes: the platform's processes, started later
    in the same run on the same topics, must not receive these bodies.
    """
    erreur = f"RuntimeError('panne simulée {uuid.uuid4().hex[:8]}')"
    headers = dead_letter_headers(f"{origin_topic}/1/42", "contrats.demandes", erreur, 5)
    assert bus.producer is not None
    await bus.producer.send_and_wait(DLQ.name, body, key=key, headers=[(k, v.encode()) for k, v in headers.items()])
    return erreur


async def open_letter(s: Supervision, erreur: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        lettres = (await get(s, "/api/lettres-mortes"))["ouvertes"]
        return next((lettre for lettre in lettres if lettre["erreur"] == erreur), None)

    return await eventually(probe, f"dead letter {erreur}")


async def test_a_dead_letter_is_listed_with_its_headers_and_content(supervision: Supervision, bus: Bus) -> None:
    body = f'{{"illisible": "{uuid.uuid4().hex}"'.encode()
    erreur = await dead_letter(bus, body, b"PDS-SUPERVISION-1", RELEVES.name)
    lettre = await open_letter(supervision, erreur)
    vu = (lettre["origine"], lettre["consommateur"], lettre["tentatives"], lettre["etat"])
    assert vu == (f"{RELEVES.name}/1/42", "contrats.demandes", 5, "a_traiter")
    detail = await get(supervision, f"/api/lettres-mortes/{lettre['id']}")
    assert detail["contenu"] == body.decode() and detail["cle"] == "PDS-SUPERVISION-1"
    page = await supervision.http.get(f"/lettres-mortes/{lettre['id']}")
    assert page.status_code == 200 and erreur.replace("'", "&#39;") in page.text


async def test_two_concurrent_redrives_publish_the_original_bytes_once(supervision: Supervision, bus: Bus) -> None:
    marker = uuid.uuid4().hex
    body = f'{{"rejoue": "{marker}"}}'.encode()
    key = f"PDS-{marker[:8]}".encode()
    erreur = await dead_letter(bus, body, key, RELEVES.name)
    lettre = await open_letter(supervision, erreur)

    path = f"/api/lettres-mortes/{lettre['id']}/reemettre"
    first, second = await asyncio.gather(supervision.http.post(path, headers=ACTION), supervision.http.post(path, headers=ACTION))

    assert sorted([first.status_code, second.status_code]) == [200, 409], (first.text, second.text)
    republished = [(h, v) for _d, h, v in await read_topic(RELEVES.name) if v == body]
    assert len(republished) == 1
    assert republished[0][0]["x-redriven-by"] == "GRD"
    ouvertes = (await get(supervision, "/api/lettres-mortes"))["ouvertes"]
    assert lettre["id"] not in [o["id"] for o in ouvertes]
    detail = await get(supervision, f"/api/lettres-mortes/{lettre['id']}")
    assert detail["etat"] == "reemise"
    assert [(h["action"], h["par"]) for h in detail["historique"]] == [("reemettre", "GRD"), ("confirmer", "GRD")]


async def test_a_discarded_dead_letter_cannot_be_redriven(supervision: Supervision, bus: Bus) -> None:
    body = f'{{"ecarte": "{uuid.uuid4().hex}"}}'.encode()
    erreur = await dead_letter(bus, body, b"PDS-ECARTE", RELEVES.name)
    lettre = await open_letter(supervision, erreur)
    ecartee = await supervision.http.post(f"/api/lettres-mortes/{lettre['id']}/ecarter", headers=ACTION)
    assert ecartee.status_code == 200 and ecartee.json()["etat"] == "ecartee" and ecartee.json()["par"] == "GRD"
    again = await supervision.http.post(f"/api/lettres-mortes/{lettre['id']}/reemettre", headers=ACTION)
    assert again.status_code == 409
    assert not [v for _d, _h, v in await read_topic(RELEVES.name) if v == body]


async def test_actions_need_an_operator_and_the_action_header(supervision: Supervision) -> None:
    assert (await supervision.http.get("/api/lettres-mortes", auth=LUMEN)).status_code == 403
    assert (await supervision.http.get("/", auth=("GRD", "faux"))).status_code == 401
    assert (await supervision.http.post("/api/lettres-mortes/0-0/ecarter")).status_code == 400
    assert (await supervision.http.post("/api/lettres-mortes/absente/ecarter", headers=ACTION)).status_code == 404


async def test_a_demand_and_its_outcome_are_counted_once_with_their_latency(supervision: Supervision, bus: Bus) -> None:
    code = f"CODE_TEST_{uuid.uuid4().hex[:8].upper()}"
    pds = f"FLUX{uuid.uuid4().hex[:10].upper()}"
    # A valid demand (the platform's référentiel, when it runs on these topics later, refuses it as any other).
    diverse = DemandeDiverseV1(
        pds=pds, sous_type="Autre", observations="Test de la supervision.", date_souhaitee=aujourdhui_reel() + timedelta(days=3)
    )
    demande = new_envelope(diverse, key=pds, fournisseur="LUMEN", occurred_at=datetime.now(UTC) - timedelta(seconds=3))
    for _ in range(2):  # a copy published again is counted once
        await bus.send_envelope(demande, DEMANDES.name)
    refus = DemandeRefuseeV1(
        demande_message_id=demande.message_id, demande_type=demande.type, pds=pds, code=code, message="refus de test", etape="referentiel"
    )
    issue = new_envelope(refus, key=pds, fournisseur="LUMEN", correlation_id=demande.message_id)
    for _ in range(2):
        await bus.send_envelope(issue, DEMANDES_RESULTATS.name)

    async def counted() -> dict[str, Any] | None:
        flux = await get(supervision, "/api/flux")
        codes = {c["code"]: c["nombre"] for c in flux["codes"]}
        doc = await supervision.store.demande(str(demande.message_id))
        return flux if codes.get(code) and doc and doc.get("recue_a") else None

    flux = await eventually(counted, f"refusal {code} counted")
    assert {c["code"]: c["nombre"] for c in flux["codes"]}[code] == 1
    assert flux["par_type"][demande.type]["recues"] >= 1 and flux["par_type"][demande.type]["refusees"] >= 1
    assert flux["latences_mesurees"] >= 1 and flux["latence_s"]["p99"] is not None
    doc = await supervision.store.demande(str(demande.message_id))
    assert doc is not None and doc["code"] == code and doc["acceptee"] is False


async def test_taps_that_wait_for_their_fetches_count_a_few_demands_promptly_with_their_events_latency(supervision: Supervision, bus: Bus) -> None:
    """A handful of demands (far below the fetch's 64 KiB): each fetch is answered after its 250 ms wait, and every
    demand is still counted within seconds, once, with the latency of its events (not of when the tap read them)."""
    taps = [getattr(job, "__self__", None) for job in supervision.rt.background]
    consumers = [tap.consumer() for tap in taps if isinstance(tap, Tap)]
    assert len(consumers) == 4 and all((c._fetch_min_bytes, c._fetch_max_wait_ms) == (65_536, 250) for c in consumers)
    for consumer in consumers:
        await consumer.stop()  # built to be inspected, never started

    code = f"CODE_ATTENTE_{uuid.uuid4().hex[:8].upper()}"
    debut = datetime.now(UTC) - timedelta(seconds=5)
    demandes = []
    for j in range(5):
        pds = f"ATT{uuid.uuid4().hex[:10].upper()}"
        diverse = DemandeDiverseV1(pds=pds, sous_type="Autre", observations="Attente.", date_souhaitee=aujourdhui_reel() + timedelta(days=3))
        demande = new_envelope(diverse, key=pds, fournisseur="LUMEN", occurred_at=debut + timedelta(milliseconds=100 * j))
        refus = DemandeRefuseeV1(
            demande_message_id=demande.message_id, demande_type=demande.type, pds=pds, code=code, message="refus de test", etape="referentiel"
        )
        issue = new_envelope(
            refus, key=pds, fournisseur="LUMEN", correlation_id=demande.message_id, occurred_at=demande.occurred_at + timedelta(seconds=1.5)
        )
        await bus.send_envelope(demande, DEMANDES.name)
        await bus.send_envelope(issue, DEMANDES_RESULTATS.name)
        demandes.append(str(demande.message_id))
    envoye = asyncio.get_running_loop().time()

    async def counted() -> dict[str, Any] | None:
        flux = await get(supervision, "/api/flux")
        docs = [await supervision.store.demande(d) for d in demandes]
        complets = all(doc and doc.get("recue_a") and doc.get("code") == code for doc in docs)
        return flux if complets and {c["code"]: c["nombre"] for c in flux["codes"]}.get(code) == len(demandes) else None

    flux = await eventually(counted, f"{len(demandes)} refusals {code} counted", timeout=10)
    print(f"\n{len(demandes)} demands and outcomes counted {asyncio.get_running_loop().time() - envoye:.2f} s after their publication")
    recents = {d["demande"]: d for d in flux["dernieres"]}
    assert set(demandes) <= set(recents)
    # The latency is that of the events' occurred_at, whenever the taps read them (None: the outcome was read first,
    # the demand's handler counted the latency then).
    assert all(recents[d]["latence_s"] in (1.5, None) for d in demandes)
    debut_minute = debut.replace(second=0, microsecond=0)
    buckets = await supervision.store.buckets(debut_minute)
    assert sum(b.get("codes", {}).get(code, 0) for b in buckets) == len(demandes)


async def test_an_open_changement_de_fournisseur_past_21_days_is_late_until_it_ends(supervision: Supervision, bus: Bus) -> None:
    reference = f"AFF-SUP-{uuid.uuid4().hex[:8].upper()}"

    def statut(statut: StatutAffaire, etat: str, il_y_a: timedelta) -> Any:
        evt = AffaireStatutChangeV1(
            reference_affaire=reference, type_affaire=TypeAffaire.CHANGEMENT_FOURNISSEUR, pds="PDS-RETARD", statut=statut, etat=etat
        )
        return new_envelope(evt, key="PDS-RETARD", fournisseur="VOLTA", occurred_at=datetime.now(UTC) - il_y_a)

    await bus.send_envelope(statut(StatutAffaire.EN_COURS, "creee", timedelta(days=25)), AFFAIRES_EVENEMENTS.name)
    await bus.send_envelope(statut(StatutAffaire.EN_COURS, "en_attente_date_effet", timedelta(days=24)), AFFAIRES_EVENEMENTS.name)

    async def late() -> dict[str, Any] | None:
        retards = (await get(supervision, "/api/backlog"))["en_retard"]
        # Both events applied (the first alone already makes it late).
        return next((a for a in retards if a["reference"] == reference and a["etat"] == "en_attente_date_effet"), None)

    affaire = await eventually(late, f"{reference} late")
    assert "21 jours" in affaire["retard"] and affaire["age"].startswith("25 j")

    await bus.send_envelope(statut(StatutAffaire.TERMINEE, "terminee", timedelta(0)), AFFAIRES_EVENEMENTS.name)

    async def gone() -> bool:
        backlog = await get(supervision, "/api/backlog")
        return all(a["reference"] != reference for a in backlog["en_retard"])

    await eventually(gone, f"{reference} leaves the backlog")


async def test_probes_report_each_part_and_the_lag_of_the_groups(supervision: Supervision) -> None:
    async def probed() -> dict[str, Any] | None:
        sante = await get(supervision, "/api/sante")
        return sante if {"absent", "kafka", "store", "smtp"} <= set(sante["parties"]) else None

    parties = (await eventually(probed, "a probe round"))["parties"]
    assert parties["kafka"]["ok"] and parties["store"]["ok"] and parties["smtp"]["ok"]
    assert not parties["absent"]["ok"]

    group = f"{supervision.rt.settings.service_name}.resultats"

    async def lag_of_own_group() -> list[dict[str, Any]] | None:
        lags = (await get(supervision, "/api/consommateurs"))["lags"]
        mine = [ligne for ligne in lags if ligne["groupe"] == group]
        return mine or None

    lignes = await eventually(lag_of_own_group, f"lag of {group}")
    assert {ligne["topic"] for ligne in lignes} == {DEMANDES_RESULTATS.name}
    assert all(ligne["fin"] >= ligne["commis"] and ligne["lag"] == ligne["fin"] - ligne["commis"] for ligne in lignes)
    metrics = (await supervision.http.get("/metrics")).text
    assert 'grd_supervision_target_up{target="absent"} 0.0' in metrics and 'grd_supervision_target_up{target="kafka"} 1.0' in metrics


async def test_the_page_renders_every_section_for_an_operator(supervision: Supervision) -> None:
    page = await supervision.http.get("/")
    assert page.status_code == 200
    for section in ('id="sante"', 'id="flux"', 'id="backlog"', 'id="consommateurs"', 'id="lettres"', "static/supervision.js"):
        assert section in page.text
    script = await supervision.http.get("/static/supervision.js")
    assert script.status_code == 200 and "setInterval" in script.text
