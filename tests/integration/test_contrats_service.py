"""The contrats service in-process against the real Kafka and FerretDB: CF end to end, redeliveries, scheduler, HTTP."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from contracts.common import (
    Contact,
    IndexCadran,
    ModeIntervention,
    NatureReleve,
    NiveauAcces,
    Releve,
    Segment,
    StatutAffaire,
    StatutIntervention,
    TypeAffaire,
)
from contracts.evenements import AffaireStatutChangeV1, CompteurInfo, ContextePds, DemandeQualifieeV1, InterventionStatutChangeV1
from contracts.references import event_id, reference_affaire
from contracts.topics import AFFAIRES_COMMANDES, CONTRATS_EVENEMENTS, DEMANDES_RESULTATS, FLUX_C15, INTERVENTIONS_EVENEMENTS, QUALIFIEES_CONTRATS
from demo_data.generator import PdsGen, find, generate_many, pds_reference
from platform_kit.runtime import Runtime
from services.contrats.app import create_app
from services.contrats.seed import document, seed
from services.contrats.settings import Settings
from tests.support import Bus, bootstrap, mongodb_url, read_topic, skip_history, unique_db, wait_for_messages

pytestmark = pytest.mark.integration

TODAY = datetime.now(ZoneInfo("Europe/Paris")).date()


@pytest.fixture(scope="module")
async def service() -> AsyncIterator[tuple[FastAPI, Settings]]:
    """The app on an isolated database and consumer groups, seeded with the first 300 demo PDS."""
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap(),
        MONGODB_URL=mongodb_url(),
        service_name=f"contrats-test-{uuid.uuid4().hex[:6]}",
        database=unique_db("grd_contrats"),
        echeance_intervalle_s=0.5,
        date_du_jour=TODAY,
    )
    await seed(settings, 300)
    app = create_app(settings)
    rt: Runtime = app.state.runtime
    for consumer in rt.consumers:
        await skip_history(consumer.group_id, list(consumer.topics))
    await rt.start()
    await asyncio.wait_for(rt.broker_ready.wait(), 30)
    yield app, settings
    await rt.stop()


async def pds_neuf(service: tuple[FastAPI, Settings], predicate: Any) -> PdsGen:
    """A demo PDS under a fresh reference, stored in the service's database: no other test or run ever touches it."""
    p = find(predicate)
    ref = f"9{uuid.uuid4().int % 10**13:013d}EC1"
    contrat = dict(p.contrat or {}, id=f"CT-{ref}-1") if p.contrat else None
    p = replace(p, reference=ref, contrat=contrat)
    app = service[0]
    await app.state.store.collection_for(p.reference).insert_one(document(p))
    return p


def contexte(p: PdsGen) -> ContextePds:
    occupant = Contact(**p.occupant) if p.occupant else None
    c = p.compteur
    return ContextePds(
        pds=p.reference,
        segment=Segment(p.segment),
        niveau_tension=p.niveau_tension,
        etat=p.etat,
        coupe_pour_non_paiement=p.coupe_pour_non_paiement,
        zone=p.zone,
        compteur=CompteurInfo(
            reference=str(c["reference"]),
            amm=bool(c["amm"]),
            localisation=str(c["localisation"]),
            mode_releve=str(c["mode_releve"]),
            teleoperable=bool(c["teleoperable"]),
        ),
        occupant=occupant,
        titulaire=p.titulaire,
    )


def by(group: str, cause: uuid.UUID) -> Any:
    """Messages emitted by our instance for one cause (the real services may answer the same messages too)."""

    def match(d: dict[str, Any]) -> bool:
        if d.get("causation_id") != str(cause):
            return False
        return d.get("message_id") in {str(event_id(cause, group, str(d.get("type")), str(i))) for i in range(8)}

    return match


def autre_fournisseur(titulaire: str | None) -> str:
    return "LUMEN" if titulaire != "LUMEN" else "VOLTA"


async def test_cf_end_to_end_with_redeliveries(service: tuple[FastAPI, Settings], bus: Bus) -> None:
    app, settings = service
    svc = settings.service_name
    # A C5 point in service with a classic meter: no tele-operation, so no real service can complete it behind our back.
    p = await pds_neuf(service, lambda g: g.segment == "C5" and g.etat == "en_service" and not g.compteur["amm"])
    nouveau = autre_fournisseur(p.titulaire)
    demande_id = uuid.uuid4()
    demande = {
        "pds": p.reference,
        "date_effet_souhaitee": (TODAY + timedelta(days=10)).isoformat(),
        "choix_releve": "releve_speciale",
        "contrat_conclu": {"reference": "CC-IT-1", "date_signature": TODAY.isoformat()},
        "telephones": ["0612345678"],
        "demandeur": {"nom": "BERNARD", "prenom": "Anne", "telephone": "0145000000"},
    }
    q = DemandeQualifieeV1(
        demande_message_id=demande_id,
        demande_type="DemandeChangementFournisseur",
        demande=demande,
        niveau_acces=NiveauAcces.CONTRAT_CONCLU,
        contexte=contexte(p),
    )
    env = await bus.send(q, fournisseur=nouveau, key=p.reference, correlation_id=demande_id)
    ref = reference_affaire(demande_id)
    demandes = f"{svc}.demandes"
    [ouverture] = await wait_for_messages(AFFAIRES_COMMANDES.name, by(demandes, env.message_id), timeout=30)
    assert ouverture["payload"]["reference_affaire"] == ref
    assert ouverture["payload"]["intervention"]["mode"] in (ModeIntervention.CRENEAU, ModeIntervention.PRESENCE_NON_OBLIGATOIRE)
    [souscription] = await wait_for_messages(CONTRATS_EVENEMENTS.name, by(demandes, env.message_id), timeout=10)
    assert souscription["payload"]["etat"] == "en_cours_de_souscription"
    assert souscription["payload"]["titulaire"] == nouveau and souscription["fournisseur"] == nouveau

    # Redeliver the same demand, then a competing CF: once the latter is refused, the duplicate was handled before it.
    await bus.send_envelope(env, QUALIFIEES_CONTRATS.name)
    rival = q.model_copy(update={"demande_message_id": uuid.uuid4()})
    env2 = await bus.send(rival, fournisseur="WATTPLUS" if nouveau != "WATTPLUS" else "ELEC_AZUR", key=p.reference)
    [refus] = await wait_for_messages(DEMANDES_RESULTATS.name, by(demandes, env2.message_id), timeout=30)
    assert refus["payload"]["code"] == "SOUSCRIPTION_EN_COURS" and refus["payload"]["etape"] == "contrats"
    assert len([d for d, _h, _v in await read_topic(AFFAIRES_COMMANDES.name) if d and by(demandes, env.message_id)(d)]) == 1

    # The holder (becoming) sees its contract; another supplier gets a 403.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://contrats") as http:
        secret = {"LUMEN": "demo-lumen", "VOLTA": "demo-volta"}[nouveau]
        ok = await http.get(f"/pds/{p.reference}/contrats", auth=(nouveau, secret))
        assert ok.status_code == 200
        [vue] = ok.json()["contrats"]
        assert vue["generalites"]["etat"] == "en_cours_de_souscription" and vue["interventions"] == [ref]
        interdit = await http.get(f"/pds/{p.reference}/contrats", auth=("WATTPLUS", "demo-wattplus"))
        if p.titulaire != "WATTPLUS":
            assert interdit.status_code == 403 and "titulaire" in interdit.json()["detail"]

    # The intervention is reported done on the date d'effet, before that day: not applied early (parked), then applied
    # by the due job once the service's clock reaches it: new holder in service, old one cessé, two C15 flux.
    realisation = TODAY + timedelta(days=10)
    releve = Releve(date_releve=realisation, index=(IndexCadran(cadran="BASE", valeur=54321),), nature=NatureReleve.REELLE)
    fait = InterventionStatutChangeV1(
        reference_affaire=ref,
        pds=p.reference,
        statut=StatutIntervention.REALISEE,
        mode=ModeIntervention.CRENEAU,
        date_realisation=realisation,
        releve=releve,
    )
    env3 = await bus.send(fait, fournisseur=nouveau, key=p.reference)
    store = app.state.store
    for _ in range(60):
        if (await store.load(p.reference)).applied(env3.message_id):
            break
        await asyncio.sleep(0.5)
    etat = (await store.load(p.reference)).state
    assert [c["etat"] for c in etat["contrats"] if c["titulaire"] == nouveau] == ["en_cours_de_souscription"]
    assert etat["prochaine_echeance"] == realisation.isoformat()
    rt: Runtime = app.state.runtime
    rt.clock.regler(timedelta(days=10))
    try:
        changes = await wait_for_messages(
            CONTRATS_EVENEMENTS.name,
            lambda d: d["payload"].get("reference_affaire") == ref and d["payload"]["etat"] in ("en_service", "cesse"),
            count=2,
            timeout=30,
        )
    finally:
        rt.clock.regler(timedelta(0))
    etats = {(c["payload"]["titulaire"], c["payload"]["etat"]) for c in changes}
    assert etats == {(nouveau, "en_service"), (p.titulaire, "cesse")}
    assert all(c["payload"]["releve"]["index"][0]["valeur"] == 54321 for c in changes)
    flux = await wait_for_messages(FLUX_C15.name, lambda d: d["payload"]["reference_affaire"] == ref, count=2, timeout=10)
    assert {(f["payload"]["evenement"], f["payload"]["fournisseur"]) for f in flux} == {("CFNE", nouveau), ("CFNS", p.titulaire)}

    # A redelivered intervention result changes nothing.
    await bus.send_envelope(env3, INTERVENTIONS_EVENEMENTS.name)
    await asyncio.sleep(3)
    again = [
        d
        for d, _h, _v in await read_topic(CONTRATS_EVENEMENTS.name)
        if d and d["payload"].get("reference_affaire") == ref and d["payload"]["etat"] in ("en_service", "cesse")
    ]
    assert len(again) == 2


async def test_cessation_without_intervention_applied_by_scheduler(service: tuple[FastAPI, Settings], bus: Bus) -> None:
    _app, settings = service
    p = await pds_neuf(service, lambda g: g.segment == "C5" and g.etat == "en_service" and not g.compteur["amm"])
    assert p.titulaire is not None
    demande_id = uuid.uuid4()
    q = DemandeQualifieeV1(
        demande_message_id=demande_id,
        demande_type="DemandeCessation",
        demande={
            "pds": p.reference,
            "date_effet_souhaitee": TODAY.isoformat(),
            "choix_releve": "estimation",
            "motif": "départ",
            "demandeur": {"nom": "BERNARD", "prenom": "Anne", "telephone": "0145000000"},
        },
        niveau_acces=NiveauAcces.TITULAIRE,
        contexte=contexte(p),
    )
    env = await bus.send(q, fournisseur=p.titulaire, key=p.reference, correlation_id=demande_id)
    [ouverture] = await wait_for_messages(AFFAIRES_COMMANDES.name, by(f"{settings.service_name}.demandes", env.message_id), timeout=30)
    assert ouverture["payload"]["intervention"] is None and ouverture["payload"]["type_affaire"] == "cessation"
    cause = event_id("echeance", reference_affaire(demande_id))
    [cesse] = await wait_for_messages(CONTRATS_EVENEMENTS.name, by(f"{settings.service_name}.echeances", cause), timeout=20)
    assert cesse["payload"]["etat"] == "cesse" and cesse["correlation_id"] == str(demande_id)
    [res] = await wait_for_messages(FLUX_C15.name, by(f"{settings.service_name}.echeances", cause), timeout=10)
    assert res["payload"]["evenement"] == "RES" and res["payload"]["releve_avant"] is not None


async def test_mes_cancelled_with_its_affaire(service: tuple[FastAPI, Settings], bus: Bus) -> None:
    _app, settings = service
    p = await pds_neuf(service, lambda g: g.segment == "C5" and g.etat == "resilie" and not g.compteur["amm"])
    demande_id = uuid.uuid4()
    q = DemandeQualifieeV1(
        demande_message_id=demande_id,
        demande_type="DemandeMiseEnService",
        demande={
            "pds": p.reference,
            "date_effet_souhaitee": (TODAY + timedelta(days=3)).isoformat(),
            "choix_releve": "estimation",
            "contrat_conclu": {"reference": "CC-IT-3", "date_signature": TODAY.isoformat()},
            "occupant": {"nom": "PETIT", "prenom": "Zoé", "telephone": "0611111111"},
            "service": "BASE",
            "puissance_souscrite_kva": 6,
            "re_code": "RE_LUMEN_C2",
            "demandeur": {"nom": "BERNARD", "prenom": "Anne", "telephone": "0145000000"},
        },
        niveau_acces=NiveauAcces.CONTRAT_CONCLU,
        contexte=contexte(p),
    )
    env = await bus.send(q, fournisseur="LUMEN", key=p.reference, correlation_id=demande_id)
    [ouverture] = await wait_for_messages(AFFAIRES_COMMANDES.name, by(f"{settings.service_name}.demandes", env.message_id), timeout=30)
    assert ouverture["payload"]["intervention"]["mode"] == ModeIntervention.CRENEAU
    annulee = AffaireStatutChangeV1(
        reference_affaire=reference_affaire(demande_id),
        type_affaire=TypeAffaire.MISE_EN_SERVICE,
        pds=p.reference,
        statut=StatutAffaire.ANNULEE,
        etat="annulee",
    )
    env2 = await bus.send(annulee, fournisseur="LUMEN", key=p.reference)
    [annule] = await wait_for_messages(CONTRATS_EVENEMENTS.name, by(f"{settings.service_name}.affaires", env2.message_id), timeout=30)
    assert annule["payload"]["etat"] == "annule" and annule["payload"]["titulaire"] == "LUMEN"


async def test_seed_spreads_pds_over_partitions_and_reruns_as_a_no_op(service: tuple[FastAPI, Settings]) -> None:
    app, settings = service
    store = app.state.store
    assert len(store.collections) == settings.partitions > 1
    assert await seed(settings, 300) == 0
    p = next(generate_many(1, 123))
    doc = await store.collection_for(p.reference).find_one({"_id": p.reference}, {"_id": 1})
    assert doc is not None
    seeded = [d for d in await store.find_all({"_id": {"$regex": "^3"}}, {"_id": 1}) if d["_id"] <= pds_reference(300)]
    assert len(seeded) == 300
