"""The audit journal on the real store: one unforked chain under concurrency and several instances, tampering found, export,
and every service's consultations and failed authentications recorded."""

import asyncio
import csv
import importlib
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from typer.testing import CliRunner

from platform_kit import audit
from platform_kit.auth import Principal
from tests.support import mongodb_url, unique_db

Doc = dict[str, Any]


@pytest.fixture
async def base() -> AsyncIterator[tuple[AsyncMongoClient[Doc], str]]:
    """A fresh database on the test store, dropped at the end."""
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongodb_url(), tz_aware=True)
    name = unique_db("grd_audit")
    yield client, name
    await client.drop_database(name)
    await client.close()


def journal(client: AsyncMongoClient[Doc], name: str, service: str = "test") -> audit.AuditJournal:
    return audit.AuditJournal(client[name][audit.COLLECTION], service)


async def seqs(collection: AsyncCollection[Doc]) -> list[int]:
    return [int(d["seq"]) async for d in collection.find({}, {"seq": 1}).sort("_id", 1)]


async def test_concurrent_appends_of_two_instances_make_one_unforked_chain(base: tuple[AsyncMongoClient[Doc], str]) -> None:
    client, name = base
    a, b = journal(client, name), journal(client, name)
    await a.start()
    await b.start()
    lecteur = Principal("LUMEN", "fournisseur", "192.0.2.1")
    await asyncio.gather(*(j.consultation(lecteur, "consultation", "servie", pds=f"PDS{i}", niveau="titulaire") for i in range(60) for j in (a, b)))
    collection = client[name][audit.COLLECTION]
    assert await seqs(collection) == list(range(1, 121))
    result = await audit.verify(collection)
    assert result.problem is None and result.checked == 120 and result.head_seq == 120
    redemarre = journal(client, name)
    await redemarre.start()
    assert await redemarre.record(acteur="GRD", role="operateur", action="audit", resultat="servie") == 121
    assert (await audit.verify(collection)).problem is None


async def test_an_entry_with_a_key_is_recorded_once(base: tuple[AsyncMongoClient[Doc], str]) -> None:
    client, name = base
    j = journal(client, name)
    await j.start()
    premier = await j.record(acteur="VOLTA", role="fournisseur", action="demande:X", resultat="qualifiee", cle="msg-1")
    assert premier == 1
    assert await j.record(acteur="VOLTA", role="fournisseur", action="demande:X", resultat="qualifiee", cle="msg-1") == -1
    autre = journal(client, name)  # another instance, unaware of the first entry
    assert await autre.record(acteur="VOLTA", role="fournisseur", action="demande:X", resultat="qualifiee", cle="msg-1") == -1
    assert await client[name][audit.COLLECTION].count_documents({}) == 1


async def test_verify_reports_the_first_entry_altered_or_missing(base: tuple[AsyncMongoClient[Doc], str]) -> None:
    client, name = base
    j = journal(client, name)
    for i in range(10):
        await j.record(acteur="LUMEN", role="fournisseur", action="consultation", resultat="servie", pds=f"PDS{i}", detail={"vues": ["a", "b"]})
    collection = client[name][audit.COLLECTION]
    assert (await audit.verify(collection)).problem is None, "detail, instants and ids survive the store round trip"

    await collection.update_one({"_id": audit.cle_seq(7)}, {"$set": {"acteur": "VOLTA"}})
    modifiee = await audit.verify(collection)
    assert modifiee.problem_seq == 7 and "modifiée" in str(modifiee.problem) and modifiee.checked == 6

    entree = await collection.find_one({"_id": audit.cle_seq(7)})
    assert entree is not None
    entree["empreinte"] = audit.empreinte(entree)  # rehashed by the forger: the next link breaks
    await collection.replace_one({"_id": audit.cle_seq(7)}, entree)
    assert (await audit.verify(collection)).problem_seq == 8

    await collection.delete_one({"_id": audit.cle_seq(4)})
    manquante = await audit.verify(collection)
    assert manquante.problem_seq == 4 and "manquante" in str(manquante.problem)


async def test_cli_verify_and_export_a_period(base: tuple[AsyncMongoClient[Doc], str], monkeypatch: pytest.MonkeyPatch) -> None:
    client, name = base
    collection = client[name][audit.COLLECTION]
    j = journal(client, name, "contrats")
    for i in range(6):
        await j.record(acteur="LUMEN", role="fournisseur", action="contrats", resultat="servie", pds=f"PDS{i}", adresse_client="192.0.2.7")
    # Put the first three entries a day back (rehashing the chain, as if written then): the export picks by instant.
    hier = datetime.now(UTC) - timedelta(days=1)
    precedent = audit.GENESIS
    async for doc in collection.find({}).sort("_id", 1):
        if doc["seq"] <= 3:
            doc["horodatage"] = hier.replace(microsecond=0)
        doc["precedent"] = precedent
        doc["empreinte"] = precedent = audit.empreinte(doc)
        await collection.replace_one({"_id": doc["_id"]}, doc)

    monkeypatch.setenv("MONGODB_URL", mongodb_url())
    runner = CliRunner()  # the commands run their own event loop: invoked from a thread
    ok = await asyncio.to_thread(runner.invoke, audit.cli, ["verify", "--service", "contrats", "--database", name])
    assert ok.exit_code == 0, ok.output
    assert "6 entrées" in ok.output

    debut = (hier - timedelta(hours=1)).isoformat()
    fin = (hier + timedelta(hours=1)).isoformat()
    jsonl = await asyncio.to_thread(runner.invoke, audit.cli, ["export", "--service", "contrats", "--database", name, "--from", debut, "--to", fin])
    assert jsonl.exit_code == 0, jsonl.output
    lignes = [json.loads(x) for x in jsonl.stdout.splitlines() if x.startswith("{")]
    assert [x["seq"] for x in lignes] == [1, 2, 3]
    assert lignes[0]["adresse_client"] == "192.0.2.7" and lignes[0]["service"] == "contrats"

    aujourdhui = datetime.now(UTC).date().isoformat()
    args = ["export", "--service", "contrats", "--database", name, "--from", aujourdhui, "--to", aujourdhui, "--format", "csv"]
    en_csv = await asyncio.to_thread(runner.invoke, audit.cli, args)
    assert en_csv.exit_code == 0, en_csv.output
    rangs = list(csv.DictReader(io.StringIO(en_csv.stdout)))
    assert [int(r["seq"]) for r in rangs] == [4, 5, 6]
    assert rangs[0]["pds"] == "PDS3" and len(rangs[0]["empreinte"]) == 64

    await collection.update_one({"_id": audit.cle_seq(5)}, {"$set": {"resultat": "refusee"}})
    rompue = await asyncio.to_thread(runner.invoke, audit.cli, ["verify", "--service", "contrats", "--database", name])
    assert rompue.exit_code == 1 and "n° 5" in rompue.output


#: Per service: the settings module, the app module, and a consultation any caller may attempt on an empty store.
SERVICES = {
    "referentiel": ("services.referentiel", "/pds/39999999999999EC1/dossier", 404, "39999999999999EC1"),
    "contrats": ("services.contrats", "/pds/39999999999999EC1/contrats", 403, "39999999999999EC1"),
    "affaires": ("services.affaires", "/affaires/AFF-INCONNUE", 404, None),
    "planification": ("services.planification", "/interventions/AFF-INCONNUE", 404, None),
    # A supplier lists its own e-mails; asking for another supplier's is refused (and audited).
    "notifications": ("services.notifications", "/mails?fournisseur=VOLTA", 403, None),
    "supervision": ("services.supervision", "/api/lettres-mortes/absente", 403, None),
}


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_every_service_records_consultations_and_failed_authentications(service: str) -> None:
    package, chemin, statut, pds = SERVICES[service]
    settings = importlib.import_module(f"{package}.settings").Settings(database=unique_db(f"grd_{service}"), demo_mode=True)
    app = importlib.import_module(f"{package}.app").create_app(settings)
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongodb_url(), tz_aware=True)
    try:
        transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
            assert (await http.get(chemin, auth=("LUMEN", "pas-le-bon"))).status_code == 401
            assert (await http.get(chemin, auth=("LUMEN", "demo-lumen"))).status_code == statut
        collection = client[settings.database_name][audit.COLLECTION]
        entrees = [d async for d in collection.find({}).sort("_id", 1)]
        echec, consultation = entrees
        assert (echec["acteur"], echec["action"], echec["resultat"]) == ("LUMEN", "authentification", "refusee:secret_invalide")
        assert echec["adresse_client"] == "198.51.100.9" and echec["service"] == service
        assert consultation["acteur"] == "LUMEN" and consultation["role"] == "fournisseur"
        assert consultation["resultat"].startswith("refusee") and consultation["adresse_client"] == "198.51.100.9"
        assert consultation["pds"] == pds
        assert isinstance(consultation["horodatage"], datetime)
        assert (await audit.verify(collection)).problem is None
    finally:
        await client.drop_database(settings.database_name)
        await client.close()
