"""The affaires service in-process against the real Kafka and FerretDB: opening, demands, follow-up, HTTP, redelivery."""

import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from contracts import topics
from contracts.base import WireModel
from contracts.common import (
    Contact,
    EtatContrat,
    IndexCadran,
    ModeIntervention,
    NatureReleve,
    OperationTechnique,
    PieceJointe,
    Releve,
    StatutIntervention,
    TypeAffaire,
)
from contracts.demandes import DemandeAnnulationV1, DemandeReclamationV1
from contracts.envelope import Envelope, new_envelope
from contracts.evenements import (
    AffaireSoldeeV1,
    BesoinIntervention,
    ContextePds,
    ContratEtatChangeV1,
    DemandeQualifieeV1,
    InterventionStatutChangeV1,
    OuvertureAffaireDemandeeV1,
)
from contracts.references import event_id, reference_affaire
from demo_data.generator import generate_many
from platform_kit.clock import aujourdhui_reel
from platform_kit.runtime import Runtime
from services.affaires.app import create_app
from services.affaires.seed import document, seed
from services.affaires.settings import Settings
from services.affaires.store import AffairesStore
from tests import builders
from tests.builders import contexte_pds
from tests.support import Bus, mongodb_url, unique_db, wait_for_messages

pytestmark = pytest.mark.integration

TAILLE_MAX = 1000
TODAY = aujourdhui_reel()
LUMEN = ("LUMEN", "demo-lumen")
VOLTA = ("VOLTA", "demo-volta")
GRD = ("GRD", "demo-operateur-grd")


@dataclass
class Service:
    """The running app under test."""

    rt: Runtime
    http: httpx.AsyncClient
    name: str
    store: AffairesStore


@pytest.fixture(scope="module")
async def affaires() -> AsyncIterator[Service]:
    """The affaires app started in-process with its own consumer groups and database."""
    mongodb_url()
    name = f"affaires-test-{uuid.uuid4().hex[:6]}"
    settings = Settings(
        service_name=name, database=unique_db("grd_affaires"), piece_jointe_taille_max_octets=TAILLE_MAX, consumer_offset_reset="latest"
    )
    app = create_app(settings)
    rt: Runtime = app.state.runtime
    await rt.start()
    await rt.wait_ready()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://affaires") as http:
        yield Service(rt, http, name, app.state.store)
    await rt.stop()


def pds() -> str:
    """A fresh PDS reference, so that tests do not see each other's affaires."""
    return f"39{uuid.uuid4().int % 10**12:012d}EC1"


def contexte(ref: str) -> ContextePds:
    """A PDS snapshot (VOLTA holds it)."""
    return contexte_pds(ref, titulaire="VOLTA")


def ouverture(ref: str) -> OuvertureAffaireDemandeeV1:
    """An OuvertureAffaireDemandee of a CF on an AMM meter."""
    demande_id = uuid.uuid4()
    return OuvertureAffaireDemandeeV1(
        reference_affaire=reference_affaire(demande_id),
        type_affaire=TypeAffaire.CHANGEMENT_FOURNISSEUR,
        demande_message_id=demande_id,
        pds=ref,
        contrat_id=f"CT-{ref}-2",
        intervention=BesoinIntervention(
            mode=ModeIntervention.TELEOPERATION,
            operation=OperationTechnique.CHANGEMENT_FOURNISSEUR,
            date_souhaitee=TODAY + timedelta(days=5),
            duree_minutes=0,
        ),
        date_effet=TODAY + timedelta(days=5),
        resume="Changement de fournisseur",
        contexte=contexte(ref),
    )


def qualifiee(demande: WireModel, ref: str) -> DemandeQualifieeV1:
    """A qualified demand of a titulaire."""
    return builders.qualifiee(demande, contexte(ref))


def payload_of(d: dict[str, Any], type_: str) -> dict[str, Any] | None:
    """The payload of an envelope of a given type."""
    return d["payload"] if d.get("type") == type_ else None


async def outcome(demande_id: uuid.UUID) -> dict[str, Any]:
    """The outcome envelope of a demand."""

    def match(d: dict[str, Any]) -> bool:
        return bool(d.get("payload", {}).get("demande_message_id") == str(demande_id))

    found = await wait_for_messages(topics.DEMANDES_RESULTATS.name, match, timeout=30)
    return found[0]


async def statut(reference: str, etat: str) -> dict[str, Any]:
    """Wait for an AffaireStatutChange of an affaire reaching a state."""

    def match(d: dict[str, Any]) -> bool:
        p = payload_of(d, "AffaireStatutChange")
        return p is not None and p["reference_affaire"] == reference and p["etat"] == etat

    return (await wait_for_messages(topics.AFFAIRES_EVENEMENTS.name, match, timeout=30))[0]


async def opened(bus: Bus, ref: str, fournisseur: str = "LUMEN") -> tuple[OuvertureAffaireDemandeeV1, Envelope]:
    """Open a CF affaire and wait for its acceptance."""
    cmd = ouverture(ref)
    env = await bus.send(cmd, fournisseur=fournisseur)
    await outcome(cmd.demande_message_id)
    return cmd, env


async def test_ouverture_accepts_demand_and_asks_for_intervention(affaires: Service, bus: Bus) -> None:
    ref = pds()
    cmd, env = await opened(bus, ref)
    acceptee = await outcome(cmd.demande_message_id)
    assert acceptee["type"] == "DemandeAcceptee" and acceptee["fournisseur"] == "LUMEN"
    assert acceptee["payload"]["reference_affaire"] == cmd.reference_affaire
    assert acceptee["causation_id"] == str(env.message_id) and acceptee["key"] == ref

    def commande(d: dict[str, Any]) -> bool:
        p = payload_of(d, "InterventionDemandee")
        return p is not None and p["reference_affaire"] == cmd.reference_affaire

    demandee = (await wait_for_messages(topics.INTERVENTIONS_COMMANDES.name, commande, timeout=30))[0]["payload"]
    assert demandee["zone"] == "Z01" and demandee["besoin"]["mode"] == "teleoperation"
    await statut(cmd.reference_affaire, "en_attente_intervention")

    r = await affaires.http.get(f"/affaires/{cmd.reference_affaire}", auth=LUMEN)
    assert r.status_code == 200, r.text
    detail = r.json()
    assert (detail["statut"], detail["etat"], detail["fournisseur"]) == ("en_cours", "en_attente_intervention", "LUMEN")
    assert detail["programmation"]["statut"] == "demandee" and detail["prestations"] and len(detail["actions"]) == 2


async def test_reclamation_accepted_with_attachment_and_too_large_one_refused(affaires: Service, bus: Bus) -> None:
    ref = pds()
    demandeur = Contact(nom="MARTIN", prenom="Marie", telephone="0600000000")
    pj = PieceJointe(nom="releve.txt", type_mime="text/plain", contenu_base64=base64.b64encode(b"index 12345").decode())
    ok = qualifiee(DemandeReclamationV1(pds=ref, sous_type="facturation", nature="index", piece_jointe=pj, demandeur=demandeur), ref)
    gros = PieceJointe(nom="photo.jpg", type_mime="image/jpeg", contenu_base64=base64.b64encode(b"x" * (TAILLE_MAX + 1)).decode())
    ko = qualifiee(DemandeReclamationV1(pds=ref, sous_type="facturation", nature="index", piece_jointe=gros, demandeur=demandeur), ref)
    await bus.send(ok, fournisseur="LUMEN", key=ref)
    await bus.send(ko, fournisseur="LUMEN", key=ref)

    acceptee = await outcome(ok.demande_message_id)
    reference = reference_affaire(ok.demande_message_id)
    assert acceptee["type"] == "DemandeAcceptee" and acceptee["payload"]["reference_affaire"] == reference
    refusee = await outcome(ko.demande_message_id)
    assert refusee["type"] == "DemandeRefusee"
    assert (refusee["payload"]["code"], refusee["payload"]["etape"]) == ("PIECE_JOINTE_TROP_VOLUMINEUSE", "affaires")

    detail = (await affaires.http.get(f"/affaires/{reference}", auth=LUMEN)).json()
    assert detail["type_affaire"] == "reclamation" and detail["generalites"]["demandeur"]["nom"] == "MARTIN"
    assert detail["generalites"]["piece_jointe"]["taille_octets"] == len(b"index 12345")
    fichier = await affaires.http.get(f"/affaires/{reference}/piece-jointe", auth=LUMEN)
    assert fichier.status_code == 200 and fichier.content == b"index 12345"


async def test_annulation_of_own_affaire_accepted_and_of_another_suppliers_refused(affaires: Service, bus: Bus) -> None:
    ref = pds()
    cmd, _ = await opened(bus, ref)
    annulable = await affaires.http.get("/affaires", params={"annulable": "true", "type": "changement_fournisseur"}, auth=LUMEN)
    assert cmd.reference_affaire in [a["reference"] for a in annulable.json()]

    autre = qualifiee(DemandeAnnulationV1(pds=ref, reference_affaire=cmd.reference_affaire), ref)
    await bus.send(autre, fournisseur="VOLTA", key=ref)
    refusee = await outcome(autre.demande_message_id)
    assert refusee["type"] == "DemandeRefusee" and refusee["payload"]["code"] == "AFFAIRE_AUTRE_FOURNISSEUR"

    propre = qualifiee(DemandeAnnulationV1(pds=ref, reference_affaire=cmd.reference_affaire, motif="Erreur de saisie"), ref)
    await bus.send(propre, fournisseur="LUMEN", key=ref)
    acceptee = await outcome(propre.demande_message_id)
    assert acceptee["type"] == "DemandeAcceptee" and acceptee["payload"]["reference_affaire"] == cmd.reference_affaire
    await statut(cmd.reference_affaire, "annulee")

    def annulation(d: dict[str, Any]) -> bool:
        p = payload_of(d, "AnnulationInterventionDemandee")
        return p is not None and p["reference_affaire"] == cmd.reference_affaire

    await wait_for_messages(topics.INTERVENTIONS_COMMANDES.name, annulation, timeout=30)

    encore = qualifiee(DemandeAnnulationV1(pds=ref, reference_affaire=cmd.reference_affaire), ref)
    await bus.send(encore, fournisseur="LUMEN", key=ref)
    assert (await outcome(encore.demande_message_id))["payload"]["code"] == "AFFAIRE_NON_ANNULABLE"
    inconnue = qualifiee(DemandeAnnulationV1(pds=ref, reference_affaire="AINCONNUE9"), ref)
    await bus.send(inconnue, fournisseur="LUMEN", key=ref)
    assert (await outcome(inconnue.demande_message_id))["payload"]["code"] == "AFFAIRE_INCONNUE"


async def test_realised_intervention_then_contract_in_service_ends_affaire(affaires: Service, bus: Bus) -> None:
    ref = pds()
    cmd, _ = await opened(bus, ref)
    releve = Releve(date_releve=TODAY, index=(IndexCadran(cadran="BASE", valeur=4242),), nature=NatureReleve.REELLE)
    realisee = InterventionStatutChangeV1(
        reference_affaire=cmd.reference_affaire,
        pds=ref,
        statut=StatutIntervention.REALISEE,
        mode=ModeIntervention.TELEOPERATION,
        date_realisation=TODAY,
        releve=releve,
    )
    await bus.send(realisee, fournisseur=None)
    await statut(cmd.reference_affaire, "intervention_realisee")
    ancien = ContratEtatChangeV1(
        contrat_id=f"CT-{ref}-1", pds=ref, titulaire="VOLTA", etat=EtatContrat.CESSE, reference_affaire=cmd.reference_affaire
    )
    nouveau = ContratEtatChangeV1(
        contrat_id=f"CT-{ref}-2", pds=ref, titulaire="LUMEN", etat=EtatContrat.EN_SERVICE, reference_affaire=cmd.reference_affaire
    )
    await bus.send(ancien, fournisseur="VOLTA")
    await bus.send(nouveau, fournisseur="LUMEN")
    termine = await statut(cmd.reference_affaire, "terminee")
    assert termine["payload"]["statut"] == "terminee" and termine["fournisseur"] == "LUMEN"

    await bus.send(AffaireSoldeeV1(reference_affaire=cmd.reference_affaire, pds=ref), fournisseur=None)
    await statut(cmd.reference_affaire, "soldee")
    detail = (await affaires.http.get(f"/affaires/{cmd.reference_affaire}", auth=LUMEN)).json()
    assert (detail["statut"], detail["etat"], detail["annulable"]) == ("terminee", "soldee", False)
    assert detail["compte_rendu"]["resultat"] == "realisee" and detail["releve"]["index"][0]["valeur"] == 4242
    assert [a["etat"] for a in detail["actions"]][-3:] == ["intervention_realisee", "terminee", "soldee"]


async def test_redelivery_changes_nothing(affaires: Service, bus: Bus) -> None:
    ref = pds()
    cmd = ouverture(ref)
    env = new_envelope(cmd, key=ref, fournisseur="LUMEN")
    await bus.send_envelope(env, topics.AFFAIRES_COMMANDES.name)
    await outcome(cmd.demande_message_id)
    before = await affaires.store.affaires.collection_for(cmd.reference_affaire).find_one({"_id": cmd.reference_affaire})
    await bus.send_envelope(env, topics.AFFAIRES_COMMANDES.name)
    # A later message on the same partition proves the duplicate was consumed before we look.
    marqueur = ouverture(ref)
    await bus.send(marqueur, fournisseur="LUMEN")
    await outcome(marqueur.demande_message_id)
    after = await affaires.store.affaires.collection_for(cmd.reference_affaire).find_one({"_id": cmd.reference_affaire})
    assert before is not None and after is not None and before["_v"] == after["_v"] == 1
    expected = str(event_id(env.message_id, f"{affaires.name}.commandes", "DemandeAcceptee", "0"))
    found = await wait_for_messages(topics.DEMANDES_RESULTATS.name, lambda d: d.get("message_id") == expected, timeout=10)
    assert len(found) == 1


async def test_http_shows_only_own_affaires(affaires: Service, bus: Bus) -> None:
    ref = pds()
    cmd, _ = await opened(bus, ref)
    assert (await affaires.http.get(f"/affaires/{cmd.reference_affaire}", auth=VOLTA)).status_code == 404
    assert (await affaires.http.get(f"/affaires/{cmd.reference_affaire}", auth=GRD)).status_code == 200
    assert (await affaires.http.get(f"/affaires/{cmd.reference_affaire}")).status_code == 401
    volta = await affaires.http.get("/affaires", params={"pds": ref}, auth=VOLTA)
    assert volta.status_code == 200 and volta.json() == []
    lumen = (await affaires.http.get("/affaires", params={"pds": ref, "statut": "en_cours"}, auth=LUMEN)).json()
    assert [a["reference"] for a in lumen] == [cmd.reference_affaire]
    operateur = (await affaires.http.get("/affaires", params={"reference": cmd.reference_affaire}, auth=GRD)).json()
    assert len(operateur) == 1 and operateur[0]["fournisseur"] == "LUMEN"


async def test_listing_merges_partitions_and_pages_like_one_collection(affaires: Service) -> None:
    settings = affaires.rt.settings
    assert isinstance(settings, Settings) and len(affaires.store.affaires.collections) == settings.partitions > 1
    assert await seed(settings, 120) == 120
    assert await seed(settings, 120) == 0
    seeded = [document(p) for p in generate_many(120)]
    params = {"type": "cessation", "statut": "terminee"}
    full = (await affaires.http.get("/affaires", params={**params, "limite": 500}, auth=GRD)).json()
    keys = [(a["cree_le"], a["reference"]) for a in full]
    assert keys == sorted(sorted(keys, key=lambda k: k[1]), key=lambda k: k[0], reverse=True)
    cessations = {d["_id"] for d in seeded if d["type_affaire"] == "cessation"}
    assert cessations and cessations <= {a["reference"] for a in full}
    pages = []
    for saut in range(0, len(full), 7):
        pages += (await affaires.http.get("/affaires", params={**params, "limite": 7, "saut": saut}, auth=GRD)).json()
    assert pages == full
    mine = (await affaires.http.get("/affaires", params={"limite": 500}, auth=VOLTA)).json()
    assert {d["_id"] for d in seeded if d["fournisseur"] == "VOLTA"} <= {a["reference"] for a in mine}
    assert mine and {a["fournisseur"] for a in mine} == {"VOLTA"}
    trop_loin = await affaires.http.get("/affaires", params={"saut": settings.liste_saut_max + 1}, auth=GRD)
    assert trop_loin.status_code == 422


async def test_a_reference_taken_by_another_demands_affaire_is_never_taken_for_done(affaires: Service, bus: Bus) -> None:
    """Force a reference collision: the demand whose reference is held by another demand's affaire gets its own."""
    ref = pds()
    demandeur = Contact(nom="MARTIN", prenom="Marie", telephone="0600000000")
    q = qualifiee(DemandeReclamationV1(pds=ref, sous_type="facturation", nature="index", demandeur=demandeur), ref)
    occupee = reference_affaire(q.demande_message_id)
    intrus = {
        "_id": occupee, "reference": occupee, "fournisseur": "VOLTA", "pds": ref,
        "generalites": {"demande_message_id": str(uuid.uuid4()), "demande_type": "DemandeDiverse", "resume": "autre demande"},
        "_v": 1, "_inbox": [], "_offsets": {}, "_outbox": {},
    }  # fmt: skip
    await affaires.store.affaires.collection_for(occupee).insert_one(intrus)
    await bus.send(q, fournisseur="LUMEN", key=ref)
    acceptee = await outcome(q.demande_message_id)
    nouvelle = reference_affaire(q.demande_message_id, 1)
    assert acceptee["type"] == "DemandeAcceptee" and acceptee["payload"]["reference_affaire"] == nouvelle
    assert (await affaires.store.affaires.load(occupee)).state["fournisseur"] == "VOLTA"  # the other affaire is untouched
    mienne = (await affaires.store.affaires.load(nouvelle)).state
    assert mienne["fournisseur"] == "LUMEN" and mienne["generalites"]["demande_message_id"] == str(q.demande_message_id)
