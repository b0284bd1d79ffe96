"""The planification service in-process against the real Kafka and FerretDB: the flows of its three consumers."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from contracts.base import WireModel
from contracts.common import IndexCadran, ModeIntervention, NiveauAcces, OperationTechnique, Segment
from contracts.demandes import DeplanificationV1, ReservationCreneauV1
from contracts.envelope import new_envelope
from contracts.evenements import (
    AnnulationInterventionDemandeeV1,
    BesoinIntervention,
    CompteurInfo,
    ContextePds,
    DemandeQualifieeV1,
    InterventionDemandeeV1,
    InterventionNonRealiseeV1,
    InterventionRealiseeV1,
    ResultatTeleOperationV1,
)
from contracts.topics import DEMANDES_RESULTATS, INTERVENTIONS_EVENEMENTS, QUALIFIEES_PLANIFICATION, SI_COMMANDES
from platform_kit.runtime import Runtime
from services.planification.app import create_app
from services.planification.settings import Settings
from services.planification.store import Places
from tests.support import Bus, unique_db, wait_for_messages

pytestmark = pytest.mark.integration
TODAY = date(2026, 11, 2)
DESIREE = date(2026, 11, 10)
AUTH = ("LUMEN", "demo-lumen")


@pytest.fixture(scope="module")
async def app() -> AsyncIterator[FastAPI]:
    """One isolated service instance for the module (own consumer groups and database)."""
    settings = Settings(
        service_name=f"planification-test-{uuid.uuid4().hex[:6]}",
        consumer_offset_reset="latest",
        database=unique_db("grd_planification"),
        date_du_jour=TODAY,
        places_par_demi_journee=3,
        to_tentatives_max=1,
        echeance_intervalle_s=0.5,
    )
    application = create_app(settings)
    rt: Runtime = application.state.runtime
    await rt.start()
    await rt.wait_ready()
    yield application
    await rt.mongo.drop_database(settings.database_name)
    await rt.stop()


def pds() -> str:
    return f"3{random.randrange(10**12, 10**13):013d}EC1"


def compteur(amm: bool = False, localisation: str = "interieur") -> CompteurInfo:
    return CompteurInfo(reference="CPT-T", amm=amm, localisation=localisation, mode_releve="telereleve" if amm else "sur_site", teleoperable=amm)


async def demander(
    bus: Bus,
    mode: ModeIntervention = ModeIntervention.CRENEAU,
    *,
    c: CompteurInfo | None = None,
    kva: float = 0,
    zone: str = "Z03",
    fournisseur: str = "LUMEN",
) -> tuple[str, str]:
    ref, p = f"T{uuid.uuid4().hex[:10].upper()}", pds()
    besoin = BesoinIntervention(
        mode=mode,
        operation=OperationTechnique.CHANGEMENT_FOURNISSEUR,
        date_souhaitee=DESIREE,
        duree_minutes=0,
        augmentation_puissance_kva=kva,
    )
    await bus.send(
        InterventionDemandeeV1(reference_affaire=ref, pds=p, besoin=besoin, zone=zone, compteur=c or compteur()),
        fournisseur=fournisseur,
    )
    return ref, p


async def qualifier(bus: Bus, demande: WireModel, p: str, fournisseur: str = "LUMEN") -> uuid.UUID:
    """Publish a demand as the référentiel would after its access check; return the original demand id."""
    mid = uuid.uuid4()
    ctx = ContextePds(
        pds=p,
        segment=Segment.C5,
        niveau_tension="BT",
        etat="en_service",
        coupe_pour_non_paiement=False,
        zone="Z03",
        compteur=compteur(),
    )
    q = DemandeQualifieeV1(
        demande_message_id=mid,
        demande_type=type(demande).__name__.removesuffix("V1"),
        demande=demande.model_dump(mode="json"),
        niveau_acces=NiveauAcces.TITULAIRE,
        contexte=ctx,
    )
    await bus.send(q, fournisseur=fournisseur, key=p)
    return mid


async def statut(ref: str, valeur: str, count: int = 1) -> list[dict[str, Any]]:
    def match(m: dict[str, Any]) -> bool:
        return m.get("type") == "InterventionStatutChange" and m["payload"]["reference_affaire"] == ref and m["payload"]["statut"] == valeur

    return [m["payload"] for m in await wait_for_messages(INTERVENTIONS_EVENEMENTS.name, match, count=count, timeout=30)]


async def issues(mids: list[uuid.UUID]) -> list[dict[str, Any]]:
    wanted = {str(m) for m in mids}
    msgs = await wait_for_messages(DEMANDES_RESULTATS.name, lambda m: m["payload"].get("demande_message_id") in wanted, count=len(wanted), timeout=30)
    return msgs


async def issue(mid: uuid.UUID) -> dict[str, Any]:
    [m] = await issues([mid])
    return m


async def http(app: FastAPI, path: str, auth: tuple[str, str] = AUTH) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.get(path, auth=auth)


async def test_appointment_search_reserve_wrong_mode_deplanify_and_rebook(app: FastAPI, bus: Bus) -> None:
    ref, p = await demander(bus)
    [demandee] = await statut(ref, "demandee")
    assert demandee["mode"] == "creneau"

    r = await http(app, f"/interventions/{ref}/creneaux")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "creneau" and body["duree_prevue_minutes"] == 30
    first = body["creneaux"][0]
    assert first["id"] == "Z03-20261110-H0800-CR" and first["places_restantes"] == 3
    assert (await http(app, f"/interventions/{ref}/creneaux", ("VOLTA", "demo-volta"))).status_code == 403
    assert (await http(app, "/interventions/INCONNUE")).status_code == 404
    assert (await http(app, f"/interventions/{ref}", ("GRD", "demo-operateur-grd"))).json()["statut"] == "demandee"

    wrong = await qualifier(bus, ReservationCreneauV1(pds=p, reference_affaire=ref, creneau_id="Z03-20261110-AM-PNO"), p)
    other = await qualifier(bus, ReservationCreneauV1(pds=p, reference_affaire=ref, creneau_id=first["id"]), p, "VOLTA")
    ok = await qualifier(bus, ReservationCreneauV1(pds=p, reference_affaire=ref, creneau_id=first["id"]), p)
    outcomes = {m["payload"]["demande_message_id"]: m for m in await issues([wrong, other, ok])}
    assert outcomes[str(wrong)]["payload"]["code"] == "MODE_PLANIFICATION_INCOMPATIBLE"
    assert outcomes[str(other)]["payload"]["code"] == "AFFAIRE_AUTRE_FOURNISSEUR"
    assert outcomes[str(ok)]["type"] == "DemandeAcceptee" and outcomes[str(ok)]["payload"]["reference_affaire"] == ref
    [planned] = await statut(ref, "planifiee")
    assert planned["creneau_id"] == first["id"] and planned["debut"].startswith("2026-11-10T08:00")

    moved = await qualifier(bus, ReservationCreneauV1(pds=p, reference_affaire=ref, creneau_id="Z03-20261111-H1330-CR"), p)
    assert (await issue(moved))["type"] == "DemandeAcceptee"
    depl = await qualifier(bus, DeplanificationV1(pds=p, reference_affaire=ref), p)
    assert (await issue(depl))["type"] == "DemandeAcceptee"
    await statut(ref, "demandee", count=2)
    places: Places = app.state.planification.places
    assert await places.place_de(ref) is None
    again = await qualifier(bus, ReservationCreneauV1(pds=p, reference_affaire=ref, creneau_id=first["id"]), p)
    assert (await issue(again))["type"] == "DemandeAcceptee"
    assert (await places.place_de(ref) or {})["creneau_id"] == first["id"]


async def test_concurrent_reservations_through_kafka_never_overbook(app: FastAPI, bus: Bus) -> None:
    affaires = [await demander(bus, zone="Z04") for _ in range(12)]
    for ref, _p in affaires:
        await statut(ref, "demandee")
    slot = "Z04-20261112-H0800-CR"
    mids = await asyncio.gather(*(qualifier(bus, ReservationCreneauV1(pds=p, reference_affaire=ref, creneau_id=slot), p) for ref, p in affaires))
    outcomes = await issues(list(mids))
    assert sum(m["type"] == "DemandeAcceptee" for m in outcomes) == 3
    assert sorted(m["payload"].get("code") for m in outcomes if m["type"] == "DemandeRefusee") == ["CRENEAU_COMPLET"] * 9
    places: Places = app.state.planification.places
    assert (await places.occupation([slot])) == {slot: 3}


async def test_power_increase_above_6_kva_goes_to_technical_study(app: FastAPI, bus: Bus) -> None:
    ref, p = await demander(bus, kva=9)
    [etude] = await statut(ref, "etude_technique")
    assert "étude technique" in etude["motif"]
    mid = await qualifier(bus, ReservationCreneauV1(pds=p, reference_affaire=ref, creneau_id="Z03-20261110-H0800-CR"), p)
    assert (await issue(mid))["payload"]["code"] == "ETUDE_TECHNIQUE_REQUISE"


async def test_reservation_of_an_unknown_intervention_is_refused(app: FastAPI, bus: Bus) -> None:
    p = pds()
    mid = await qualifier(bus, ReservationCreneauV1(pds=p, reference_affaire="AINCONNUE", creneau_id="Z03-20261110-H0800-CR"), p)
    [refus] = await issues([mid])
    assert refus["payload"]["code"] == "INTERVENTION_INCONNUE" and refus["payload"]["etape"] == "planification"


async def test_redelivered_reservation_gives_one_outcome(app: FastAPI, bus: Bus) -> None:
    ref, p = await demander(bus)
    await statut(ref, "demandee")
    mid = uuid.uuid4()
    resa = ReservationCreneauV1(pds=p, reference_affaire=ref, creneau_id="Z03-20261113-H1330-CR")
    ctx = ContextePds(
        pds=p,
        segment=Segment.C5,
        niveau_tension="BT",
        etat="en_service",
        coupe_pour_non_paiement=False,
        zone="Z03",
        compteur=compteur(),
    )
    q = DemandeQualifieeV1(
        demande_message_id=mid,
        demande_type="ReservationCreneau",
        demande=resa.model_dump(mode="json"),
        niveau_acces="titulaire",
        contexte=ctx,
    )
    env = new_envelope(q, key=p, fournisseur="LUMEN")
    await bus.send_envelope(env, QUALIFIEES_PLANIFICATION.name)
    await bus.send_envelope(env, QUALIFIEES_PLANIFICATION.name)
    await issue(mid)
    await statut(ref, "planifiee")
    await asyncio.sleep(2)
    assert len(await issues([mid])) == 1
    assert len(await statut(ref, "planifiee")) == 1


@pytest.fixture
async def jour_desire(app: FastAPI) -> AsyncIterator[None]:
    """The service's clock moved to the desired date d'effet (back to TODAY after the test)."""
    rt: Runtime = app.state.runtime
    rt.clock.regler(timedelta(days=(DESIREE - TODAY).days))
    yield
    rt.clock.regler(timedelta(0))


async def test_teleoperation_success_and_fallback_to_an_appointment(app: FastAPI, bus: Bus) -> None:
    amm = compteur(amm=True)
    ref_ok, p_ok = await demander(bus, ModeIntervention.TELEOPERATION, c=amm)
    ref_ko, p_ko = await demander(bus, ModeIntervention.TELEOPERATION, c=amm)
    refs = {ref_ok, ref_ko}
    await statut(ref_ok, "demandee")
    await statut(ref_ko, "demandee")
    # Sent on the date d'effet only: the due job sends them once the service's clock reaches it.
    rt: Runtime = app.state.runtime
    rt.clock.regler(timedelta(days=(DESIREE - TODAY).days))
    try:
        await wait_for_messages(
            SI_COMMANDES.name, lambda m: m["type"] == "TeleOperationDemandee" and m["payload"].get("reference_affaire") in refs, count=2, timeout=30
        )
        await _resultats_teleoperation(app, bus, ref_ok, p_ok, ref_ko, p_ko)
    finally:
        rt.clock.regler(timedelta(0))


async def _resultats_teleoperation(app: FastAPI, bus: Bus, ref_ok: str, p_ok: str, ref_ko: str, p_ko: str) -> None:
    index = (IndexCadran(cadran="BASE", valeur=12345),)
    await bus.send(
        ResultatTeleOperationV1(reference_affaire=ref_ok, pds=p_ok, succes=True, date_realisation=DESIREE, index=index),
        fournisseur=None,
    )
    await bus.send(
        ResultatTeleOperationV1(reference_affaire=ref_ko, pds=p_ko, succes=False, motif_echec="compteur injoignable"),
        fournisseur=None,
    )
    [done] = await statut(ref_ok, "realisee")
    assert done["mode"] == "teleoperation"
    assert done["releve"]["nature"] == "reelle" and done["releve"]["index"][0]["valeur"] == 12345
    assert done["date_realisation"] == DESIREE.isoformat()
    fallback = await statut(ref_ko, "demandee", count=2)
    assert any(f["mode"] == "creneau" and "compteur injoignable" in f["motif"] and "convenir d'un rendez-vous" in f["motif"] for f in fallback)
    assert (await http(app, f"/interventions/{ref_ko}/creneaux")).json()["mode"] == "creneau"


async def test_presence_non_obligatoire_reserves_a_half_day_then_cancellation_frees_it(app: FastAPI, bus: Bus) -> None:
    ref, _p = await demander(bus, ModeIntervention.PRESENCE_NON_OBLIGATOIRE, c=compteur(localisation="exterieur"), zone="Z05")
    [planned] = await statut(ref, "planifiee")
    assert planned["mode"] == "presence_non_obligatoire" and planned["creneau_id"] == "Z05-20261110-AM-PNO"
    places: Places = app.state.planification.places
    assert await places.place_de(ref) is not None
    await bus.send(AnnulationInterventionDemandeeV1(reference_affaire=ref, pds=_p), fournisseur="LUMEN")
    await statut(ref, "annulee")
    assert await places.place_de(ref) is None


async def test_technician_results(app: FastAPI, bus: Bus, jour_desire: None) -> None:
    ref_ok, p_ok = await demander(bus, ModeIntervention.PRESENCE_NON_OBLIGATOIRE, c=compteur(localisation="exterieur"), zone="Z05")
    ref_ko, p_ko = await demander(bus, ModeIntervention.PRESENCE_NON_OBLIGATOIRE, c=compteur(localisation="exterieur"), zone="Z05")
    await statut(ref_ok, "planifiee")
    await statut(ref_ko, "planifiee")
    index = (IndexCadran(cadran="HP", valeur=7), IndexCadran(cadran="HC", valeur=8))
    await bus.send(
        InterventionRealiseeV1(reference_affaire=ref_ok, pds=p_ok, date_realisation=DESIREE, index=index, compte_rendu="RAS"),
        fournisseur=None,
    )
    await bus.send(InterventionNonRealiseeV1(reference_affaire=ref_ko, pds=p_ko, motif="client absent"), fournisseur=None)
    [done] = await statut(ref_ok, "realisee")
    assert len(done["releve"]["index"]) == 2
    # A realisation reported for a later day is refused with a code, and changes nothing.
    ref_tard, p_tard = await demander(bus, ModeIntervention.PRESENCE_NON_OBLIGATOIRE, c=compteur(localisation="exterieur"), zone="Z05")
    await statut(ref_tard, "planifiee")
    demain = DESIREE + timedelta(days=1)
    await bus.send(
        InterventionRealiseeV1(reference_affaire=ref_tard, pds=p_tard, date_realisation=demain, index=index, compte_rendu="RAS"),
        fournisseur=None,
    )
    [refus] = await wait_for_messages(
        INTERVENTIONS_EVENEMENTS.name,
        lambda m: m["type"] == "RealisationRefusee" and m["payload"]["reference_affaire"] == ref_tard,
        timeout=30,
    )
    assert refus["payload"]["code"] == "REALISATION_DATE_FUTURE"
    assert (await http(app, f"/interventions/{ref_tard}")).json()["statut"] == "planifiee"
    [failed] = await statut(ref_ko, "non_realisee")
    assert failed["motif"] == "client absent"
    places: Places = app.state.planification.places
    assert await places.place_de(ref_ko) is None
