"""The views a supplier works from (perimeter, contracts, affaires, reference lists, e-mails) and the technical study a
GRD operator concludes, on the real Kafka and FerretDB: filtered by the caller, no other supplier's data, paginated,
CSV, audited."""

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from contracts.common import EtatContrat, ModeIntervention, OperationTechnique, Segment, TypeAffaire
from contracts.evenements import (
    BesoinIntervention,
    CompteurInfo,
    ContextePds,
    ContratEtatChangeV1,
    DemandeAccepteeV1,
    InterventionDemandeeV1,
    OuvertureAffaireDemandeeV1,
)
from contracts.references import reference_affaire
from contracts.topics import AFFAIRES_EVENEMENTS, CONTRATS_EVENEMENTS, DEMANDES_RESULTATS, INTERVENTIONS_EVENEMENTS
from demo_data.generator import generate_many
from platform_kit.audit import COLLECTION as AUDIT
from platform_kit.clock import aujourdhui_reel
from platform_kit.runtime import Runtime
from platform_kit.vues import TOTAL
from services.notifications.domain import message_id_mail
from tests.support import Bus, mongodb_url, skip_history, skip_runtime_history, unique_db, wait_for_mails, wait_for_messages

pytestmark = pytest.mark.integration

COUNT = 60
POINTS = list(generate_many(COUNT))
SECRETS = {"ELEC_AZUR": "demo-elec-azur", "VOLTA": "demo-volta", "LUMEN": "demo-lumen", "WATTPLUS": "demo-wattplus", "GRD": "demo-operateur-grd"}
TODAY = aujourdhui_reel()


def auth(code: str) -> tuple[str, str]:
    """A demo account."""
    return (code, SECRETS[code])


def csv_rows(r: httpx.Response) -> list[dict[str, str]]:
    """The rows of a CSV answer."""
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))


async def started(module: str, **overrides: Any) -> tuple[FastAPI, Any]:
    """An app of a service on its own database and consumer groups, with demo accounts."""
    settings_cls = __import__(f"services.{module}.settings", fromlist=["Settings"]).Settings
    create_app = __import__(f"services.{module}.app", fromlist=["create_app"]).create_app
    settings = settings_cls(service_name=f"{module}-vues-{uuid.uuid4().hex[:6]}", database=unique_db(f"grd_{module}"), demo_mode=True, **overrides)
    app = create_app(settings)
    return app, settings


async def audit_actions(settings: Any, acteur: str) -> list[str]:
    """The actions recorded in a service's audit journal for one caller."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url(), tz_aware=True)
    try:
        return [str(d["action"]) + "|" + str(d["resultat"]) async for d in client[settings.database_name][AUDIT].find({"acteur": acteur})]
    finally:
        await client.close()


# --- référentiel: perimeter, « titulaire d'un contrat » search, reference lists -------------------------------------


@pytest.fixture(scope="module")
async def referentiel() -> AsyncIterator[tuple[FastAPI, Any]]:
    """A référentiel with 60 demo PDS, started in-process."""
    mongodb_url()
    from services.referentiel.seed import seed

    app, settings = await started("referentiel", partitions=4)
    await seed(settings, COUNT)
    rt: Runtime = app.state.runtime
    await skip_runtime_history(rt)
    await rt.start()
    await asyncio.wait_for(rt.broker_ready.wait(), 60)
    yield app, settings
    await rt.stop()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url())
    await client.drop_database(settings.database_name)
    await client.close()


async def test_perimeter_lists_only_the_callers_pds_paginated_filtered_and_as_csv(referentiel: tuple[FastAPI, Any]) -> None:
    app, settings = referentiel
    volta = {p.reference for p in POINTS if p.titulaire == "VOLTA"}
    anciens = {p.reference for p in POINTS if p.titulaire_precedent == "VOLTA"} - volta
    assert volta and anciens
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as http:
        r = await http.get("/perimetre", params={"limite": 1000}, auth=auth("VOLTA"))
        assert r.status_code == 200 and r.headers[TOTAL] == str(len(volta | anciens))
        lignes = r.json()["lignes"]
        assert {li["reference"] for li in lignes if li["statut"] == "titulaire"} == volta
        assert {li["reference"] for li in lignes if li["statut"] == "ancien"} == anciens
        assert all(li["date_debut"] for li in lignes) and all(li["date_fin"] for li in lignes if li["statut"] == "ancien")
        # Pages of 5 put together give the whole list, in the same order.
        pages: list[dict[str, Any]] = []
        for saut in range(0, len(lignes), 5):
            pages += (await http.get("/perimetre", params={"limite": 5, "saut": saut}, auth=auth("VOLTA"))).json()["lignes"]
        assert pages == lignes
        # Filter by commune (any case or accent) and status.
        commune = next(p.adresse["commune"] for p in POINTS if p.reference in volta)
        attendus = {p.reference for p in POINTS if p.reference in volta and p.adresse["commune"] == commune}
        filtree = (await http.get("/perimetre", params={"commune": commune.lower(), "statut": "titulaire"}, auth=auth("VOLTA"))).json()
        assert {li["reference"] for li in filtree["lignes"]} == attendus
        # CSV: the same page, a header line, `;`-separated.
        rows = csv_rows(await http.get("/perimetre", params={"format": "csv", "limite": 1000}, auth=auth("VOLTA")))
        assert [row["reference"] for row in rows] == [li["reference"] for li in lignes] and "statut" in rows[0]
        # Another supplier sees none of VOLTA's current points; an operator must name the supplier.
        lumen = (await http.get("/perimetre", params={"limite": 1000}, auth=auth("LUMEN"))).json()["lignes"]
        assert not {li["reference"] for li in lumen if li["statut"] == "titulaire"} & volta
        assert (await http.get("/perimetre", auth=auth("GRD"))).status_code == 400
        operateur = (await http.get("/perimetre", params={"fournisseur": "VOLTA", "limite": 1000}, auth=auth("GRD"))).json()
        assert operateur["lignes"] == lignes
        assert (await http.get("/perimetre", params={"statut": "inconnu"}, auth=auth("VOLTA"))).status_code == 400
    actions = await audit_actions(settings, "VOLTA")
    assert any(a.startswith("perimetre|servie") for a in actions) and any(a.startswith("perimetre|refusee") for a in actions)


async def test_titulaire_contrat_search_needs_no_full_address(referentiel: tuple[FastAPI, Any]) -> None:
    app, _settings = referentiel
    p = next(p for p in POINTS if p.titulaire == "LUMEN")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as http:
        r = await http.get("/pds/recherche", params={"titulaire_contrat": "true", "code_postal": p.adresse["code_postal"]}, auth=auth("LUMEN"))
        assert r.status_code == 200, r.text
        refs = {x["reference"] for x in r.json()["resultats"]}
        assert p.reference in refs
        mine = {q.reference for q in POINTS if "LUMEN" in (q.titulaire, q.titulaire_precedent)}
        assert refs <= mine
        # Without the option the address must still be complete.
        assert (await http.get("/pds/recherche", params={"code_postal": p.adresse["code_postal"]}, auth=auth("LUMEN"))).status_code == 400
        # The wildcard stays forbidden.
        joker = await http.get("/pds/recherche", params={"titulaire_contrat": "true", "commune": "GRE*"}, auth=auth("LUMEN"))
        assert joker.status_code == 400 and joker.json()["code"] == "CARACTERE_JOKER_INTERDIT"


async def test_a_subscription_makes_the_pds_entering_for_one_and_leaving_for_the_other(referentiel: tuple[FastAPI, Any], bus: Bus) -> None:
    app, _settings = referentiel
    p = next(p for p in POINTS if p.titulaire == "VOLTA" and p.titulaire_precedent != "WATTPLUS")
    effet = TODAY + timedelta(days=10)
    evt = ContratEtatChangeV1(
        contrat_id=f"CT-{p.reference}-9", pds=p.reference, titulaire="WATTPLUS", etat=EtatContrat.EN_COURS_DE_SOUSCRIPTION, date_effet=effet
    )
    await bus.send(evt, fournisseur="WATTPLUS")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as http:
        for _ in range(100):
            entrant = [
                li
                for li in (await http.get("/perimetre", params={"limite": 1000}, auth=auth("WATTPLUS"))).json()["lignes"]
                if li["reference"] == p.reference
            ]
            if entrant:
                break
            await asyncio.sleep(0.2)
        assert entrant and entrant[0]["statut"] == "entrant" and entrant[0]["date_debut"] == effet.isoformat()
        sortant = [
            li
            for li in (await http.get("/perimetre", params={"limite": 1000}, auth=auth("VOLTA"))).json()["lignes"]
            if li["reference"] == p.reference
        ]
        assert sortant[0]["statut"] == "sortant" and sortant[0]["date_fin"] == effet.isoformat()


async def test_reference_lists(referentiel: tuple[FastAPI, Any]) -> None:
    app, _settings = referentiel
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as http:
        assert (await http.get("/listes")).status_code == 401
        listes = (await http.get("/listes", auth=auth("LUMEN"))).json()
    assert all(c.endswith("C1") for c in listes["responsables_equilibre"]["C1"]["codes"])
    assert all(c.endswith("C2") for c in listes["responsables_equilibre"]["C2"]["codes"])
    assert "DemandeChangementFournisseur" in listes["types_demande"] and listes["motifs_cessation"] and listes["usages"]
    assert {m["code"] for m in listes["modes_rendez_vous"]} == {m.value for m in ModeIntervention}
    assert listes["modalites_intervention"] == ["standard", "urgent"]
    assert any(s["releve_seule"] for s in listes["sous_types"]["intervention_technique"])


# --- contrats: a supplier's contracts across PDS ----------------------------------------------------------------------


async def test_contracts_across_pds_only_the_callers(bus: Bus) -> None:
    mongodb_url()
    from services.contrats.seed import seed

    app, settings = await started("contrats")
    await seed(settings, COUNT)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as http:
            r = await http.get("/contrats", params={"limite": 1000}, auth=auth("LUMEN"))
            assert r.status_code == 200
            contrats = r.json()["contrats"]
            attendus = {p.reference for p in POINTS if p.titulaire == "LUMEN"}
            assert {c["pds"] for c in contrats} == attendus and r.headers[TOTAL] == str(len(attendus))
            assert {c["etat"] for c in contrats} == {"en_service"}
            page = (await http.get("/contrats", params={"limite": 2, "saut": 1}, auth=auth("LUMEN"))).json()["contrats"]
            assert page == contrats[1:3]
            rows = csv_rows(await http.get("/contrats", params={"format": "csv", "limite": 1000}, auth=auth("LUMEN")))
            assert [row["id"] for row in rows] == [c["id"] for c in contrats]
            assert (await http.get("/contrats", params={"etat": "cesse"}, auth=auth("LUMEN"))).json()["contrats"] == []
            volta = (await http.get("/contrats", params={"limite": 1000}, auth=auth("VOLTA"))).json()["contrats"]
            assert not {c["pds"] for c in volta} & attendus
            assert (await http.get("/contrats", auth=auth("GRD"))).status_code == 400
        assert any(a.startswith("contrats:liste|servie") for a in await audit_actions(settings, "LUMEN"))
    finally:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url())
        await client.drop_database(settings.database_name)
        await client.close()


# --- affaires: a supplier's list from its index ------------------------------------------------------------------------


def _ouverture(ref_pds: str) -> OuvertureAffaireDemandeeV1:
    demande_id = uuid.uuid4()
    return OuvertureAffaireDemandeeV1(
        reference_affaire=reference_affaire(demande_id),
        type_affaire=TypeAffaire.MODIFICATION_RE,
        demande_message_id=demande_id,
        pds=ref_pds,
        date_effet=TODAY,
        resume="Changement de RE",
        contexte=ContextePds(
            pds=ref_pds,
            segment=Segment.C5,
            niveau_tension="BT",
            etat="en_service",
            coupe_pour_non_paiement=False,
            zone="Z01",
            compteur=CompteurInfo(reference="C", amm=False, localisation="interieur", mode_releve="sur_site"),
        ),
    )


async def test_affaires_list_of_a_supplier_from_its_index(bus: Bus) -> None:
    mongodb_url()
    app, settings = await started("affaires", consumer_offset_reset="latest")
    rt: Runtime = app.state.runtime
    await rt.start()
    await rt.wait_ready()
    try:
        pds = f"39{uuid.uuid4().int % 10**12:012d}EC1"
        cmds = [_ouverture(pds) for _ in range(3)]
        for cmd in cmds:
            await bus.send(cmd, fournisseur="LUMEN")
        autre = _ouverture(pds)
        await bus.send(autre, fournisseur="VOLTA")
        refs = {c.reference_affaire for c in [*cmds, autre]}
        await wait_for_messages(
            AFFAIRES_EVENEMENTS.name,
            lambda d: d["payload"].get("reference_affaire") in refs and d["payload"].get("etat") == "terminee",
            count=4,
            timeout=60,
        )
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as http:
            r = await http.get("/affaires", params={"pds": pds}, auth=auth("LUMEN"))
            assert r.status_code == 200 and r.headers[TOTAL] == "3"
            assert {a["reference"] for a in r.json()} == {c.reference_affaire for c in cmds}
            assert {a["statut"] for a in r.json()} == {"terminee"}
            pages = []
            for saut in range(3):
                pages += (await http.get("/affaires", params={"pds": pds, "limite": 1, "saut": saut}, auth=auth("LUMEN"))).json()
            assert pages == r.json()
            assert (await http.get("/affaires", params={"pds": pds, "statut": "en_cours"}, auth=auth("LUMEN"))).json() == []
            rows = csv_rows(await http.get("/affaires", params={"pds": pds, "format": "csv"}, auth=auth("LUMEN")))
            assert [row["reference"] for row in rows] == [a["reference"] for a in r.json()]
            volta = (await http.get("/affaires", params={"pds": pds}, auth=auth("VOLTA"))).json()
            assert [a["reference"] for a in volta] == [autre.reference_affaire]
        # The list came from the index: one small document per affaire in the supplier's own collection.
        assert await rt.db["affaires_par_fournisseur_LUMEN"].count_documents({}) >= 1
        assert await rt.db["affaires_par_fournisseur_VOLTA"].count_documents({"_id": {"$in": [a["reference"] for a in r.json()]}}) == 0
    finally:
        await rt.mongo.drop_database(settings.database_name)
        await rt.stop()


# --- planification: a technical study concluded by the GRD ------------------------------------------------------------


async def test_technical_study_concluded_by_a_grd_operator(bus: Bus) -> None:
    mongodb_url()
    app, settings = await started("planification", consumer_offset_reset="latest", date_du_jour=TODAY)
    rt: Runtime = app.state.runtime
    await rt.start()
    await rt.wait_ready()
    try:
        refs = []
        for _ in range(2):
            ref, pds = f"T{uuid.uuid4().hex[:10].upper()}", f"3{uuid.uuid4().int % 10**13:013d}EC1"
            besoin = BesoinIntervention(
                mode=ModeIntervention.CRENEAU,
                operation=OperationTechnique.MODIFICATION,
                date_souhaitee=TODAY + timedelta(days=5),
                duree_minutes=45,
                augmentation_puissance_kva=6,
                puissance_cible_kva=9,
                etude_technique_requise=True,
            )
            compteur = CompteurInfo(reference="C", amm=False, localisation="interieur", mode_releve="sur_site")
            await bus.send(InterventionDemandeeV1(reference_affaire=ref, pds=pds, besoin=besoin, zone="Z01", compteur=compteur), fournisseur="LUMEN")
            refs.append(ref)

        async def statut(ref: str, valeur: str) -> dict[str, Any]:
            def match(m: dict[str, Any]) -> bool:
                p = m.get("payload", {})
                return m.get("type") == "InterventionStatutChange" and p.get("reference_affaire") == ref and p.get("statut") == valeur

            payload: dict[str, Any] = (await wait_for_messages(INTERVENTIONS_EVENEMENTS.name, match, timeout=30))[0]["payload"]
            return payload

        for ref in refs:
            await statut(ref, "etude_technique")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p") as http:
            corps = {"favorable": True, "commentaire": "Réseau suffisant"}
            assert (await http.post(f"/interventions/{refs[0]}/etude-technique", json=corps, auth=auth("LUMEN"))).status_code == 403
            ok = await http.post(f"/interventions/{refs[0]}/etude-technique", json=corps, auth=auth("GRD"))
            assert ok.status_code == 200 and ok.json()["statut"] == "demandee", ok.text
            ko = await http.post(
                f"/interventions/{refs[1]}/etude-technique", json={"favorable": False, "commentaire": "Renforcement nécessaire"}, auth=auth("GRD")
            )
            assert ko.status_code == 200 and ko.json()["statut"] == "annulee"
        reprise = await statut(refs[0], "demandee")
        assert "Réseau suffisant" in reprise["motif"]
        refusee = await statut(refs[1], "annulee")
        assert "Renforcement nécessaire" in refusee["motif"]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p") as http:
            # Concluded already: a second conclusion is a conflict.
            deja = await http.post(f"/interventions/{refs[0]}/etude-technique", json={"favorable": True, "commentaire": "x"}, auth=auth("GRD"))
            assert deja.status_code == 409
    finally:
        await rt.mongo.drop_database(settings.database_name)
        await rt.stop()


# --- notifications: a supplier's e-mails from its index ---------------------------------------------------------------


async def test_a_suppliers_mails_from_its_index_paginated_and_as_csv(bus: Bus) -> None:
    mongodb_url()
    app, settings = await started("notifications", backoff_max_s=0.5)
    rt: Runtime = app.state.runtime
    await skip_history(f"{settings.service_name}.mails", (DEMANDES_RESULTATS, AFFAIRES_EVENEMENTS, INTERVENTIONS_EVENEMENTS, CONTRATS_EVENEMENTS))
    await rt.start()
    await asyncio.wait_for(rt.broker_ready.wait(), 30)
    try:
        ref = "A" + uuid.uuid4().hex[:8].upper()
        envs = []
        for code in ("LUMEN", "LUMEN", "LUMEN", "VOLTA"):
            evt = DemandeAccepteeV1(
                demande_message_id=uuid.uuid4(), demande_type="DemandeDiverse", reference_affaire=ref, pds=f"PDS-{ref}-EC1", message="Enregistrée."
            )
            envs.append(await bus.send(evt, fournisseur=code))
        ids = {message_id_mail(e.message_id, "demande_acceptee") for e in envs}
        await wait_for_mails(lambda m: str(m["Message-ID"]) in ids, count=4, timeout=60)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as http:
            for _ in range(50):
                r = await http.get("/mails", params={"reference_affaire": ref}, auth=auth("LUMEN"))
                if r.headers.get(TOTAL) == "3":
                    break
                await asyncio.sleep(0.2)
            assert r.status_code == 200 and r.headers[TOTAL] == "3"
            mine = r.json()
            assert {m["message_id"] for m in mine} == {message_id_mail(e.message_id, "demande_acceptee") for e in envs[:3]}
            assert {m["fournisseur"] for m in mine} == {"LUMEN"}
            pages = []
            for saut in range(3):
                pages += (await http.get("/mails", params={"reference_affaire": ref, "limite": 1, "saut": saut}, auth=auth("LUMEN"))).json()
            assert pages == mine
            rows = csv_rows(await http.get("/mails", params={"reference_affaire": ref, "format": "csv"}, auth=auth("LUMEN")))
            assert [row["message_id"] for row in rows] == [m["message_id"] for m in mine]
            volta = (await http.get("/mails", params={"reference_affaire": ref}, auth=auth("VOLTA"))).json()
            assert [m["message_id"] for m in volta] == [message_id_mail(envs[3].message_id, "demande_acceptee")]
            operateur = (await http.get("/mails", params={"reference_affaire": ref, "fournisseur": "LUMEN"}, auth=auth("GRD"))).json()
            assert operateur == mine
        assert await rt.db["mails_par_fournisseur_LUMEN"].count_documents({}) >= 1
    finally:
        await rt.mongo.drop_database(settings.database_name)
        await rt.stop()
