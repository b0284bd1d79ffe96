"""The référentiel in-process against the real Kafka and FerretDB: demands qualified or refused, contract and
intervention events, search and consultation over HTTP, audit."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from contracts import demandes as d
from contracts.common import Contact, ContratConclu, EtatContrat, IndexCadran, NatureReleve, Releve, StatutIntervention
from contracts.envelope import Envelope
from contracts.evenements import ContratEtatChangeV1, InterventionStatutChangeV1, ReleveEnregistreeV1
from contracts.topics import DEMANDES, DEMANDES_RESULTATS, DLQ, FLUX_R15, QUALIFIEES_CONTRATS, RELEVES
from demo_data.generator import PdsGen, generate_many
from platform_kit.messaging import HandlerContext
from platform_kit.runtime import Runtime
from platform_kit.store import partition_name, partition_of
from services.referentiel.app import create_app
from services.referentiel.seed import seed
from services.referentiel.settings import Settings
from services.referentiel.store import ReferentielStore
from tests.support import Bus, mongodb_url, skip_runtime_history, unique_db, wait_for_messages

pytestmark = pytest.mark.integration

COUNT = 40
POINTS = list(generate_many(COUNT))
EN_SERVICE = [p for p in POINTS if p.titulaire is not None]
FOURNISSEURS = ("ELEC_AZUR", "VOLTA", "LUMEN", "WATTPLUS")
SECRETS = {"ELEC_AZUR": "demo-elec-azur", "VOLTA": "demo-volta", "LUMEN": "demo-lumen", "WATTPLUS": "demo-wattplus", "GRD": "demo-operateur-grd"}


def etranger(p: PdsGen) -> str:
    """A supplier with no relation at all to the point."""
    return next(f for f in FOURNISSEURS if f not in (p.titulaire, p.titulaire_precedent))


@pytest.fixture(scope="module")
async def app() -> AsyncIterator[FastAPI]:
    """A référentiel on its own database (40 demo PDS) and consumer groups, started in-process."""
    mongodb_url()
    settings = Settings(
        service_name=f"referentiel-test-{uuid.uuid4().hex[:6]}", database=unique_db("grd_referentiel"), partitions=4,
    )  # fmt: skip
    await seed(settings, COUNT)
    application = create_app(settings)
    rt: Runtime = application.state.runtime
    await skip_runtime_history(rt)
    await rt.start()
    await asyncio.wait_for(rt.broker_ready.wait(), 60)
    yield application
    await rt.stop()
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url())
    await client.drop_database(settings.database_name)
    await client.close()


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the in-process app."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://referentiel") as client:
        yield client


def auth(code: str) -> dict[str, str]:
    """HTTP Basic header of a demo account."""
    return {"Authorization": "Basic " + base64.b64encode(f"{code}:{SECRETS[code]}".encode()).decode()}


def _par_demande(env: Envelope) -> Any:
    return lambda m: m.get("payload", {}).get("demande_message_id") == str(env.message_id)


def _cadrans(p: PdsGen) -> list[str]:
    return [str(c) for c in p.compteur["cadrans"]]  # type: ignore[attr-defined]


def _contrat_id(p: PdsGen) -> str:
    assert p.contrat is not None
    return str(p.contrat["id"])


def _contractuel(p: PdsGen) -> dict[str, Any]:
    demandeur = Contact(nom="BERNARD", prenom="Anne", telephone="0145000000")
    return {"pds": p.reference, "date_effet_souhaitee": date(2026, 12, 20), "choix_releve": "estimation", "demandeur": demandeur}


CONCLU = ContratConclu(reference="SC-INT", date_signature=date(2025, 1, 1))


async def test_demands_qualified_or_refused(app: FastAPI, bus: Bus) -> None:
    cible = EN_SERVICE[0]
    autre = etranger(cible)
    cf = await bus.send(d.DemandeChangementFournisseurV1(**_contractuel(cible), contrat_conclu=CONCLU, telephones=("0611223344",)), fournisseur=autre)
    cessation = await bus.send(d.DemandeCessationV1(**_contractuel(cible), motif="départ"), fournisseur=autre)
    inconnu = await bus.send(d.DemandeModificationREV1(pds="39999999999999EC1", re_code="RE_VOLTA_C2"), fournisseur=autre)
    sans_pds = await bus.send(d.DemandeSansPdsV1(nature="chantier", adresse="1 rue du Chantier"), fournisseur=autre)
    anonyme = await bus.send(d.DemandeModificationREV1(pds=cible.reference, re_code="RE_VOLTA_C2"), fournisseur=None)
    mid = uuid.uuid4()
    invalide = Envelope(
        message_id=mid, type="DemandeCessation", version=1, occurred_at=datetime.now(UTC), correlation_id=mid,
        fournisseur=autre, key=cible.reference, payload={"pds": cible.reference, "motif": ""},
    )  # fmt: skip
    await bus.send_envelope(invalide, DEMANDES.name)

    qualifiee = (await wait_for_messages(QUALIFIEES_CONTRATS.name, _par_demande(cf), timeout=30))[0]["payload"]
    assert qualifiee["niveau_acces"] == "contrat_conclu"
    assert qualifiee["contexte"]["pds"] == cible.reference and qualifiee["contexte"]["titulaire"] == cible.titulaire
    assert qualifiee["contexte"]["compteur"]["reference"] == cible.compteur["reference"]

    attendus = [(cessation, "NIVEAU_ACCES_INSUFFISANT"), (inconnu, "PDS_INCONNU"), (sans_pds, "DEMANDE_SANS_PDS"),
                (anonyme, "FOURNISSEUR_ABSENT"), (invalide, "MESSAGE_INVALIDE")]  # fmt: skip
    ids = {str(e.message_id): code for e, code in attendus}
    resultats = await wait_for_messages(
        DEMANDES_RESULTATS.name, lambda m: m.get("payload", {}).get("demande_message_id") in ids, count=len(ids), timeout=30
    )
    vus = {m["payload"]["demande_message_id"]: m["payload"] for m in resultats}
    assert {k: v["code"] for k, v in vus.items()} == ids
    assert all(v["etape"] == "referentiel" and v["message"] for v in vus.values())
    assert "titulaire" in vus[str(cessation.message_id)]["message"]
    assert not [m for m in resultats if m["type"] != "DemandeRefusee"]
    dlq = await wait_for_messages(DLQ.name, lambda m: m.get("message_id") == str(mid), timeout=30)
    assert dlq


async def test_holder_history_readings_and_consultation(app: FastAPI, bus: Bus, http: httpx.AsyncClient) -> None:
    cible = EN_SERVICE[1]
    nouveau = etranger(cible)
    ref = cible.reference

    avant = (await http.get(f"/pds/{ref}/dossier", headers=auth(nouveau))).json()
    assert avant["niveau_acces"] == "aucun" and "releves" not in avant and "occupant" not in avant["generalites"]

    decl = await bus.send(d.DeclarationAccesV1(pds=ref, niveau="mandat", date_signature_mandat=date(2025, 5, 1)), fournisseur=nouveau)
    ok = (await wait_for_messages(DEMANDES_RESULTATS.name, _par_demande(decl), timeout=30))[0]
    assert ok["type"] == "DemandeAcceptee" and ok["payload"]["reference_affaire"] is None
    mandat = (await http.get(f"/pds/{ref}/dossier", headers=auth(nouveau))).json()
    assert mandat["niveau_acces"] == "mandat" and mandat["releves"] and "occupant" not in mandat["generalites"]

    await bus.send(
        ContratEtatChangeV1(contrat_id="C-INT-1", pds=ref, titulaire=nouveau, etat=EtatContrat.EN_COURS_DE_SOUSCRIPTION), fournisseur=nouveau
    )
    for _ in range(60):
        pendant = (await http.get(f"/pds/{ref}/dossier?vue=generalites", headers=auth(nouveau))).json()
        if pendant["niveau_acces"] == "titulaire":
            break
        await asyncio.sleep(0.5)
    assert pendant["niveau_acces"] == "titulaire" and "occupant" in pendant["generalites"]
    re_demande = await bus.send(d.DemandeModificationREV1(pds=ref, re_code="RE_NORDEQUILIBRE_C2"), fournisseur=nouveau)
    q = (await wait_for_messages(QUALIFIEES_CONTRATS.name, _par_demande(re_demande), timeout=30))[0]
    assert q["payload"]["niveau_acces"] == "titulaire"

    releve = Releve(
        date_releve=date(2026, 12, 1),
        index=tuple(IndexCadran(cadran=c, valeur=90_000) for c in _cadrans(cible)),
        nature=NatureReleve.REELLE,
    )
    realisee = await bus.send(
        InterventionStatutChangeV1(reference_affaire="AINT0001", pds=ref, statut=StatutIntervention.REALISEE, mode="teleoperation", releve=releve),
        fournisseur=nouveau,
    )
    flux = await wait_for_messages(FLUX_R15.name, lambda m: m.get("causation_id") == str(realisee.message_id), timeout=30)
    assert flux[0]["payload"]["fournisseur"] == cible.titulaire, "the reading belongs to the holder at its date"
    assert await wait_for_messages(RELEVES.name, lambda m: m.get("causation_id") == str(realisee.message_id), timeout=30)

    service = await bus.send(
        ContratEtatChangeV1(
            contrat_id="C-INT-1", pds=ref, titulaire=nouveau, etat=EtatContrat.EN_SERVICE, date_effet=date(2026, 12, 1), releve=releve
        ),
        fournisseur=nouveau,
    )
    ancien = await bus.send(
        ContratEtatChangeV1(
            contrat_id=_contrat_id(cible), pds=ref, titulaire=str(cible.titulaire), etat=EtatContrat.CESSE, date_effet=date(2026, 12, 1)
        ),
        fournisseur=cible.titulaire,
    )
    for _ in range(60):
        holder = (await http.get(f"/pds/{ref}/dossier", headers=auth(str(cible.titulaire)))).json()
        if holder["niveau_acces"] == "aucun":
            break
        await asyncio.sleep(0.5)
    assert holder["niveau_acces"] == "aucun", "the previous holder lost its access"
    assert service and ancien
    nouveau_dossier = (await http.get(f"/pds/{ref}/dossier", headers=auth(nouveau))).json()
    assert nouveau_dossier["generalites"]["contrat"]["contrat_id"] == "C-INT-1"
    dates = {r["date_releve"] for r in nouveau_dossier["releves"]}
    assert "2026-12-01" in dates
    anciennes = {r.date_releve.isoformat() for r in cible.releves if r.titulaire == cible.titulaire}
    assert not dates & anciennes, "no reading of the previous holder's period"

    recherche = await http.get("/pds/recherche", params={**cible.adresse, "titulaire_contrat": "true"}, headers=auth(nouveau))
    assert [r["reference"] for r in recherche.json()["resultats"]] == [ref]


async def test_search_rules_and_audit_over_http(app: FastAPI, http: httpx.AsyncClient) -> None:
    cible = EN_SERVICE[2]
    code = etranger(cible)
    adresse = {k: cible.adresse[k] for k in ("numero", "voie", "code_postal", "commune")}
    cas = [
        ({"reference": cible.reference}, 200, 1),
        ({"reference": cible.reference[:12]}, 400, "REFERENCE_PDS_INCOMPLETE"),
        ({"reference": cible.reference[:12] + "*"}, 400, "CARACTERE_JOKER_INTERDIT"),
        ({**adresse, "compteur": str(cible.compteur["reference"])}, 200, 1),
        ({**adresse, "compteur": "CPT00000000000"}, 200, 0),
        ({**adresse, **cible.occupant_precedent}, 200, 1),
        ({**adresse, "nom": cible.occupant_precedent["nom"]}, 400, "CRITERES_INSUFFISANTS"),
        ({"voie": adresse["voie"], "compteur": "X"}, 400, "ADRESSE_INCOMPLETE"),
        ({**adresse, "titulaire_contrat": "true"}, 200, 0),
        ({}, 400, "CRITERES_INSUFFISANTS"),
    ]
    for params, statut, attendu in cas:
        r = await http.get("/pds/recherche", params=params, headers=auth(code))
        assert r.status_code == statut, (params, r.text)
        if statut == 400:
            assert r.json()["code"] == attendu and r.json()["message"]
        else:
            assert r.json()["nombre"] == attendu, params
            assert all(set(x) == {"reference", "adresse", "etat", "niveau_tension"} for x in r.json()["resultats"])
    assert (await http.get("/pds/recherche", params={"reference": cible.reference})).status_code == 401
    assert (await http.get("/pds/39999999999999EC1/dossier", headers=auth(code))).json()["code"] == "PDS_INCONNU"

    titulaire = (await http.get(f"/pds/{cible.reference}/dossier?vue=generalites", headers=auth(str(cible.titulaire)))).json()
    assert titulaire["niveau_acces"] == "titulaire" and titulaire["generalites"]["occupant"]
    grd = (await http.get(f"/pds/{cible.reference}/dossier", headers=auth("GRD"))).json()
    assert grd["niveau_acces"] == "operateur_grd" and len(grd["releves"]) == len(cible.releves)

    assert (await http.get("/audit", params={"pds": cible.reference}, headers=auth(code))).status_code == 403
    journal = (await http.get("/audit", params={"pds": cible.reference}, headers=auth("GRD"))).json()["entrees"]
    actions = {(e["acteur"], e["action"].split(":")[0], e["resultat"].split(":")[0]) for e in journal}
    assert (code, "recherche", "servie") in actions
    assert (str(cible.titulaire), "consultation", "servie") in actions
    refusee = (await http.get("/audit", params={"fournisseur": code}, headers=auth("GRD"))).json()["entrees"]
    assert any(e["resultat"] == "refusee:CARACTERE_JOKER_INTERDIT" for e in refusee)


async def test_redelivered_demand_has_one_outcome(app: FastAPI, bus: Bus) -> None:
    cible = EN_SERVICE[3]
    autre = etranger(cible)
    cessation = await bus.send(d.DemandeCessationV1(**_contractuel(cible), motif="départ"), fournisseur=autre)
    await bus.send_envelope(cessation, DEMANDES.name)
    # Same key, so same partition: once this one is answered, the duplicate before it has been handled too.
    temoin = await bus.send(
        d.DemandeDiverseV1(pds=cible.reference, sous_type="x", observations="y", date_souhaitee=date(2026, 12, 1)), fournisseur=autre
    )
    await wait_for_messages(DEMANDES_RESULTATS.name, _par_demande(temoin), timeout=30)
    resultats = await wait_for_messages(DEMANDES_RESULTATS.name, _par_demande(cessation), timeout=30)
    assert len(resultats) == 1


async def test_pds_partitions_and_outbox_safety_net(app: FastAPI) -> None:
    rt: Runtime = app.state.runtime
    store: ReferentielStore = app.state.store
    cible = POINTS[5]
    collection = store.pds.collection_for(cible.reference)
    assert collection.name == partition_name("pds", partition_of(cible.reference, 4), 4)
    assert await collection.find_one({"_id": cible.reference}, {"_id": 1}), "the seed and the service agree on partitions"
    # Written only by consumers: a crash's leftovers go out when the message is redelivered, no periodic scan.
    assert store.pds not in rt.relay.stores

    # An event committed but never published (a crash between the two) is published by the relay's flush.
    mid = uuid.uuid4()
    declencheur = Envelope(
        message_id=mid, type="InterventionStatutChange", version=1, occurred_at=datetime.now(UTC), correlation_id=mid,
        fournisseur=cible.titulaire, key=cible.reference, payload={},
    )  # fmt: skip
    releve = Releve(date_releve=date(2026, 11, 1), index=tuple(IndexCadran(cadran=c, valeur=1) for c in _cadrans(cible)), nature=NatureReleve.REELLE)
    ctx = HandlerContext(declencheur, "referentiel.test")
    evenement = ctx.emit(ReleveEnregistreeV1(pds=cible.reference, releve=releve, motif="intervention", titulaire=cible.titulaire))
    loaded = await store.pds.load(cible.reference)
    await store.pds.commit(loaded, loaded.state, mid, [evenement])
    assert (await collection.find_one({"_id": cible.reference}, {"_pending": 1}) or {}).get("_pending") is True
    await rt.relay.flush(store.pds, cible.reference)
    assert await wait_for_messages(RELEVES.name, lambda m: m.get("causation_id") == str(mid), timeout=30)
    apres = await collection.find_one({"_id": cible.reference}, {"_pending": 1, "_outbox": 1}) or {}
    assert apres.get("_pending") is False and not apres.get("_outbox")


async def test_a_seed_rerun_restores_missing_address_entries_and_keeps_present_ones() -> None:
    from pymongo import AsyncMongoClient

    settings = Settings(service_name=f"referentiel-seed-{uuid.uuid4().hex[:6]}", database=unique_db("grd_referentiel"), partitions=4)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url())
    db = client[settings.database_name]
    try:
        first = await seed(settings, 20)
        assert first["pds_inseres"] == 20
        premier, second = POINTS[0], POINTS[1]
        cle = {p.reference: p for p in (premier, second)}

        def adresses(reference: str) -> Any:
            from services.referentiel.seed import document_pds

            c = document_pds(cle[reference], settings.mois_consommations)["adresse_cle"]
            return db[partition_name("adresses", partition_of(c, 4), 4)], c

        coll1, cle1 = adresses(premier.reference)
        coll2, cle2 = adresses(second.reference)
        # Points 8,401.. share the addresses of points 1.. (the generator's address space): the seed adds their
        # entries to the address documents already there, keeping those present.
        voisin = next(iter(generate_many(1, 8401)))
        assert (await seed(settings, 3, 8401))["pds_inseres"] == 3
        partage = await coll1.find_one({"_id": cle1})
        assert partage is not None and {premier.reference, voisin.reference} <= set(partage["pds"])
        # A live change to one entry, and another entry lost (e.g. the seed interrupted between its collections).
        await coll1.update_one({"_id": cle1}, {"$set": {f"pds.{premier.reference}.etat": "modifie_en_direct"}})
        await coll2.update_one({"_id": cle2}, {"$unset": {f"pds.{second.reference}": ""}})
        again = await seed(settings, 20)
        assert again["pds_inseres"] == 0
        doc1 = await coll1.find_one({"_id": cle1})
        doc2 = await coll2.find_one({"_id": cle2})
        assert doc1 is not None and doc1["pds"][premier.reference]["etat"] == "modifie_en_direct", "a present entry wins"
        assert doc2 is not None and second.reference in doc2["pds"], "a missing entry is restored"
    finally:
        await client.drop_database(settings.database_name)
        await client.close()
