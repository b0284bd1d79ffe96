"""A supplier's views across the whole platform (processes): after its CF, the new supplier sees the PDS entering its
perimeter, the contract being subscribed, the affaire and its e-mail; the holder sees it leaving; nobody sees the
other's; every list pages and exports CSV."""

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from contracts.common import ChoixReleve, Contact, ContratConclu
from contracts.demandes import DemandeChangementFournisseurV1
from contracts.references import reference_affaire
from contracts.topics import DEMANDES_RESULTATS
from demo_data.generator import PdsGen, generate_many
from demo_data.reference import FOURNISSEURS, fournisseur
from devtools.processes import Platform
from platform_kit.clock import aujourdhui_reel
from tests.e2e.conftest import SEED_COUNT
from tests.support import Bus, wait_for_mails, wait_for_messages

pytestmark = pytest.mark.e2e


def pds_c5_classique() -> PdsGen:
    """A seeded C5 PDS in service with a classic meter (no tele-operation: the CF waits for its date d'effet)."""
    # Around the middle of the seeded range, away from the PDS the other e2e tests pick (top) and integration tests (bottom).
    for p in list(generate_many(SEED_COUNT))[SEED_COUNT // 2 :]:
        if p.segment == "C5" and p.etat == "en_service" and not p.compteur["amm"] and p.contrat and p.titulaire:
            return p
    raise LookupError("no classic C5 PDS")


def client(platform: Platform, service: str, code: str) -> httpx.Client:
    """An HTTP client of a service as a demo supplier."""
    return httpx.Client(base_url=f"http://127.0.0.1:{platform[service].port}", auth=(code, fournisseur(code).secret_demo), timeout=30)  # type: ignore[union-attr]


def ligne(lignes: list[dict[str, Any]], reference: str) -> dict[str, Any] | None:
    """The line of a PDS in a perimeter."""
    return next((li for li in lignes if li["reference"] == reference), None)


async def test_views_follow_a_changement_de_fournisseur(platform: Platform, bus: Bus) -> None:
    p = pds_c5_classique()
    assert p.titulaire is not None
    nouveau = next(f.code for f in FOURNISSEURS if f.code not in (p.titulaire, p.titulaire_precedent))
    effet = aujourdhui_reel() + timedelta(days=30)  # beyond 21 days: accepted (L224-14 protects the customer)
    demande = DemandeChangementFournisseurV1(
        pds=p.reference,
        date_effet_souhaitee=effet,
        choix_releve=ChoixReleve.ESTIMATION,
        contrat_conclu=ContratConclu(reference=f"CTR-{uuid.uuid4().hex[:8]}", date_signature=aujourdhui_reel()),
        telephones=("0601020304",),
        demandeur=Contact(nom="BERNARD", prenom="Anne", telephone="0145000000"),
    )
    env = await bus.send(demande, fournisseur=nouveau)
    ref = reference_affaire(env.message_id)
    [resultat] = await wait_for_messages(DEMANDES_RESULTATS.name, lambda d: d["payload"].get("demande_message_id") == str(env.message_id), timeout=90)
    assert resultat["type"] == "DemandeAcceptee", resultat["payload"]
    email = fournisseur(nouveau).email  # type: ignore[union-attr]
    await wait_for_mails(lambda m: email in str(m["To"]) and ref in str(m["Subject"]), timeout=90)

    with client(platform, "referentiel", nouveau) as ref_nouveau, client(platform, "referentiel", p.titulaire) as ref_titulaire:
        entrant = ligne(ref_nouveau.get("/perimetre", params={"limite": 1000, "statut": "entrant"}).json()["lignes"], p.reference)
        assert entrant is not None and entrant["date_debut"] == effet.isoformat()
        sortant = ligne(ref_titulaire.get("/perimetre", params={"limite": 1000}).json()["lignes"], p.reference)
        assert sortant is not None and sortant["statut"] == "sortant" and sortant["date_fin"] == effet.isoformat()
        export = ref_nouveau.get("/perimetre", params={"format": "csv", "limite": 1000})
        rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
        assert any(r["reference"] == p.reference and r["statut"] == "entrant" for r in rows)

    with client(platform, "contrats", nouveau) as c_nouveau, client(platform, "contrats", p.titulaire) as c_titulaire:
        mes_contrats = c_nouveau.get("/contrats", params={"pds": p.reference}).json()["contrats"]
        assert [c["etat"] for c in mes_contrats] == ["en_cours_de_souscription"]
        assert all(c["etat"] != "en_cours_de_souscription" for c in c_titulaire.get("/contrats", params={"pds": p.reference}).json()["contrats"])

    with client(platform, "affaires", nouveau) as a_nouveau, client(platform, "affaires", p.titulaire) as a_titulaire:
        liste = a_nouveau.get("/affaires", params={"pds": p.reference})
        assert [a["reference"] for a in liste.json()] == [ref] and liste.headers["X-Total-Count"] == "1"
        assert ref not in {a["reference"] for a in a_titulaire.get("/affaires", params={"pds": p.reference}).json()}

    with client(platform, "notifications", nouveau) as n_nouveau, client(platform, "notifications", p.titulaire) as n_titulaire:
        mails = n_nouveau.get("/mails", params={"reference_affaire": ref}).json()
        assert mails and {m["template"] for m in mails} >= {"demande_acceptee"} and {m["fournisseur"] for m in mails} == {nouveau}
        assert n_titulaire.get("/mails", params={"reference_affaire": ref}).json() == []
