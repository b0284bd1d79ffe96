"""Process scenarios played as a supplier's system would: demands in on grd.demandes, results read from the topics,
e-mails from the SMTP sink, consultation over the services' HTTP APIs, against the five services as OS processes."""

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from contracts.common import ChoixReleve, Contact, ContratConclu, IndexCadran
from contracts.demandes import (
    DemandeAnnulationV1,
    DemandeCessationV1,
    DemandeChangementFournisseurV1,
    DemandeMiseEnServiceV1,
    DemandeModificationContratV1,
    DemandeModificationREV1,
    DemandeReclamationV1,
    ReservationCreneauV1,
)
from contracts.envelope import Envelope
from contracts.evenements import InterventionRealiseeV1
from contracts.references import reference_affaire
from contracts.topics import AFFAIRES_EVENEMENTS, CONTRATS_EVENEMENTS, DEMANDES_RESULTATS, FLUX_C15, INTERVENTIONS_EVENEMENTS
from demo_data.generator import PdsGen, generate_many
from demo_data.reference import RE_INDEPENDANTS, fournisseur
from devtools.processes import Platform
from platform_kit.clock import aujourdhui_reel
from tests.e2e.conftest import SEED_COUNT, Horloge
from tests.e2e.test_walking_skeleton import _used, api, by_demande, new_supplier_for, to_supplier
from tests.support import Bus, wait_for_mails, wait_for_messages

pytestmark = pytest.mark.e2e


def pick(predicate: Callable[[PdsGen], bool], what: str) -> PdsGen:
    """A seeded PDS matching `predicate`, never used before in this session (shared with the walking skeleton)."""
    # From the top of the seeded range: integration tests, earlier in the session, publish about low-numbered demo
    # PDS on the same topics, and the e2e services (new consumer groups) replay those messages.
    for p in reversed(list(generate_many(SEED_COUNT))):
        if p.reference not in _used and predicate(p):
            _used.add(p.reference)
            return p
    raise LookupError(f"no {what} PDS left")


def en_service_c5(p: PdsGen) -> bool:
    return p.segment == "C5" and p.etat == "en_service" and p.contrat is not None and not p.coupe_pour_non_paiement


def non_teleoperable(p: PdsGen) -> bool:
    return not (p.compteur["amm"] and p.compteur["teleoperable"])


def index_apres(p: PdsGen, plus: int = 150) -> tuple[IndexCadran, ...]:
    """An index a little above the PDS's last reading, one value per cadran of its meter."""
    dernier = p.releves[-1].index
    return tuple(IndexCadran(cadran=c, valeur=v + plus) for c, v in dernier.items())


def titulaire(p: PdsGen) -> str:
    assert p.titulaire is not None
    return p.titulaire


async def outcome(env: Envelope, timeout: float = 60) -> dict[str, Any]:
    """The one outcome (DemandeAcceptee / DemandeRefusee) of a demand."""
    found = await wait_for_messages(DEMANDES_RESULTATS.name, by_demande(env.message_id), timeout=timeout)
    assert len({d["message_id"] for d in found}) == 1, found
    first: dict[str, Any] = found[0]
    return first


async def affaire_etat(ref: str, *, statut: str | None = None, etat: str | None = None, timeout: float = 60) -> dict[str, Any]:
    """Wait for an AffaireStatutChange of `ref` with that statut / etat."""
    found = await wait_for_messages(
        AFFAIRES_EVENEMENTS.name,
        lambda d: (
            d["payload"]["reference_affaire"] == ref
            and (statut is None or d["payload"]["statut"] == statut)
            and (etat is None or d["payload"]["etat"] == etat)
        ),
        timeout=timeout,
    )
    payload: dict[str, Any] = found[0]["payload"]
    return payload


async def flux_c15(ref: str, count: int = 1, timeout: float = 60) -> dict[str, dict[str, Any]]:
    """The C15 flux of an affaire, by evenement."""
    found = await wait_for_messages(FLUX_C15.name, lambda d: d["payload"]["reference_affaire"] == ref, count=count, timeout=timeout)
    return {d["payload"]["evenement"]: d["payload"] for d in found}


async def contrat_etat(pds: str, ref: str, etat: str, timeout: float = 60) -> dict[str, Any]:
    found = await wait_for_messages(
        CONTRATS_EVENEMENTS.name,
        lambda d: d["payload"]["pds"] == pds and d["payload"].get("reference_affaire") == ref and d["payload"]["etat"] == etat,
        timeout=timeout,
    )
    payload: dict[str, Any] = found[0]["payload"]
    return payload


def subject_has(code: str, *words: str) -> Callable[[EmailMessage], bool]:
    base = to_supplier(code, words[0])

    def match(m: EmailMessage) -> bool:
        return bool(base(m)) and all(w in str(m["Subject"]) for w in words)

    return match


#: The requester's contact data the guide calls « impératif ».
DEMANDEUR = Contact(nom="BERNARD", prenom="Anne", telephone="0145000000", email="anne.bernard@fournisseur.example")


def contrat_conclu() -> ContratConclu:
    return ContratConclu(reference=f"CTR-{uuid.uuid4().hex[:8]}", date_signature=aujourdhui_reel())


async def test_cf_with_autoreleve_on_a_meter_not_teleoperable(platform: Platform, bus: Bus) -> None:
    p = pick(lambda p: en_service_c5(p) and non_teleoperable(p), "C5 non-teleoperable")
    supplier = new_supplier_for(p)
    today = aujourdhui_reel()
    index = index_apres(p)
    demande = DemandeChangementFournisseurV1(
        pds=p.reference,
        date_effet_souhaitee=today,  # today is accepted: the contrats scheduler applies it at its next pass
        choix_releve=ChoixReleve.AUTORELEVE,
        index_autoreleve=index,
        date_autoreleve=today,
        contrat_conclu=contrat_conclu(),
        telephones=("0611223344",),
        demandeur=DEMANDEUR,
    )
    env = await bus.send(demande, fournisseur=supplier)
    ref = reference_affaire(env.message_id)

    result = await outcome(env)
    assert result["type"] == "DemandeAcceptee", result["payload"]
    assert result["payload"]["reference_affaire"] == ref

    flux = await flux_c15(ref, count=2)
    assert flux["CFNE"]["fournisseur"] == supplier
    assert flux["CFNS"]["fournisseur"] == p.titulaire
    assert flux["CFNE"]["date_effet"] == today.isoformat()
    apres = flux["CFNE"]["releve_apres"]
    assert apres["nature"] == "autoreleve"
    assert {i["cadran"]: i["valeur"] for i in apres["index"]} == {i.cadran: i.valeur for i in index}

    await affaire_etat(ref, statut="terminee")
    # No intervention at all: nothing was asked of planification for this affaire.
    with api(platform, "planification", supplier) as client:
        assert client.get(f"/interventions/{ref}").status_code == 404
    with api(platform, "affaires", supplier) as client:
        detail = client.get(f"/affaires/{ref}")
        assert detail.status_code == 200, detail.text
        assert detail.json()["statut"] == "terminee"
    await contrat_etat(p.reference, ref, "en_service")


async def test_mes_with_a_technician_appointment(platform: Platform, bus: Bus, horloge: Horloge) -> None:
    p = pick(lambda p: p.segment == "C5" and p.etat == "resilie" and not p.compteur["amm"], "C5 resilie non-AMM")
    supplier = "LUMEN"
    four = fournisseur(supplier)
    assert four is not None
    demande = DemandeMiseEnServiceV1(
        pds=p.reference,
        date_effet_souhaitee=aujourdhui_reel() + timedelta(days=7),
        choix_releve=ChoixReleve.RELEVE_SPECIALE,
        contrat_conclu=contrat_conclu(),
        occupant=Contact(civilite="Mme", nom="DUPONT", prenom="Claire", telephone="0622334455", email="claire.dupont@example.org"),
        service="BASE",
        puissance_souscrite_kva=6.0,
        re_code=four.re_c2,
        demandeur=DEMANDEUR,
    )
    env = await bus.send(demande, fournisseur=supplier)
    ref = reference_affaire(env.message_id)
    result = await outcome(env)
    assert result["type"] == "DemandeAcceptee", result["payload"]
    await affaire_etat(ref, etat="en_attente_intervention")

    # The supplier searches the slots over HTTP (planification may still be recording the intervention).
    with api(platform, "planification", supplier) as client:
        deadline = time.monotonic() + 30
        while True:
            r = client.get(f"/interventions/{ref}/creneaux")
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert r.status_code == 200, r.text
        recherche = r.json()
    assert recherche["mode"] == "creneau", recherche
    assert recherche["creneaux"], recherche
    creneau = recherche["creneaux"][0]
    assert creneau["places_restantes"] > 0
    with api(platform, "planification", "VOLTA") as other:
        assert other.get(f"/interventions/{ref}/creneaux").status_code == 403

    resa = await bus.send(ReservationCreneauV1(pds=p.reference, reference_affaire=ref, creneau_id=creneau["id"]), fournisseur=supplier)
    result = await outcome(resa)
    assert result["type"] == "DemandeAcceptee", result["payload"]
    planifiee = await wait_for_messages(
        INTERVENTIONS_EVENEMENTS.name,
        lambda d: d["payload"]["reference_affaire"] == ref and d["payload"]["statut"] == "planifiee",
    )
    assert planifiee[0]["payload"]["creneau_id"] == creneau["id"]
    mail = (await wait_for_mails(subject_has(supplier, ref, "Rendez-vous planifié")))[0]
    assert four.email in str(mail["To"])
    assert str(mail["Subject"]) == f"[GRD] Rendez-vous planifié – affaire {ref}"
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None and ref in body.get_content()
    await affaire_etat(ref, etat="intervention_planifiee")

    # The technician comes on the appointment day and reports (GRD-side input): a realisation is never dated ahead.
    jour = date.fromisoformat(creneau["date"])
    await horloge.aller_au(jour)
    index = (IndexCadran(cadran=str(p.compteur["cadrans"][0]), valeur=12345),)  # type: ignore[index]
    await bus.send(
        InterventionRealiseeV1(reference_affaire=ref, pds=p.reference, date_realisation=jour, index=index, compte_rendu="Mise en service faite."),
        fournisseur=None,
    )
    flux = await flux_c15(ref)
    assert flux["MES"]["fournisseur"] == supplier
    assert flux["MES"]["date_effet"] == jour.isoformat()
    assert flux["MES"]["re_code"] == four.re_c2
    assert flux["MES"]["releve_apres"]["nature"] == "reelle"
    contrat = await contrat_etat(p.reference, ref, "en_service")
    assert contrat["titulaire"] == supplier
    await affaire_etat(ref, statut="terminee")
    with api(platform, "contrats", supplier) as client:
        contrats = client.get(f"/pds/{p.reference}/contrats").json()["contrats"]
        assert [c["generalites"]["etat"] for c in contrats if c["generalites"]["titulaire"] == supplier] == ["en_service"]


async def test_modification_re_checks_the_segment_suffix(platform: Platform, bus: Bus) -> None:
    p = pick(en_service_c5, "C5 en service")
    holder = titulaire(p)
    bon = next(r for r in RE_INDEPENDANTS if r.endswith("C2"))
    mauvais = next(r for r in RE_INDEPENDANTS if r.endswith("C1"))

    refusee = await bus.send(DemandeModificationREV1(pds=p.reference, re_code=mauvais), fournisseur=holder)
    result = await outcome(refusee)
    assert result["type"] == "DemandeRefusee", result["payload"]
    assert result["payload"]["code"] == "RE_SEGMENT_INCOMPATIBLE"
    assert result["payload"]["etape"] == "contrats"

    acceptee = await bus.send(DemandeModificationREV1(pds=p.reference, re_code=bon), fournisseur=holder)
    ref = reference_affaire(acceptee.message_id)
    result = await outcome(acceptee)
    assert result["type"] == "DemandeAcceptee", result["payload"]
    assert result["payload"]["reference_affaire"] == ref
    changed = await contrat_etat(p.reference, ref, "en_service")
    assert changed["re_code"] == bon
    await affaire_etat(ref, statut="terminee")
    with api(platform, "contrats", holder) as client:
        contrats = client.get(f"/pds/{p.reference}/contrats").json()["contrats"]
        assert [c["parametres"]["re_code"] for c in contrats if c["generalites"]["etat"] == "en_service"] == [bon]


async def test_cessation_by_the_holder_with_estimation(platform: Platform, bus: Bus) -> None:
    p = pick(lambda p: en_service_c5(p) and non_teleoperable(p), "C5 non-teleoperable")
    holder = titulaire(p)
    today = aujourdhui_reel()
    env = await bus.send(
        DemandeCessationV1(
            pds=p.reference, date_effet_souhaitee=today, choix_releve=ChoixReleve.ESTIMATION, motif="Déménagement du client", demandeur=DEMANDEUR
        ),
        fournisseur=holder,
    )
    ref = reference_affaire(env.message_id)
    result = await outcome(env)
    assert result["type"] == "DemandeAcceptee", result["payload"]
    flux = await flux_c15(ref)
    assert flux["RES"]["fournisseur"] == holder
    assert flux["RES"]["date_effet"] == today.isoformat()
    cesse = await contrat_etat(p.reference, ref, "cesse")
    assert cesse["titulaire"] == holder
    await affaire_etat(ref, statut="terminee")


async def test_reclamation_and_annulations(platform: Platform, bus: Bus) -> None:
    p = pick(en_service_c5, "C5 en service")
    holder = titulaire(p)
    other = new_supplier_for(p)
    env = await bus.send(
        DemandeReclamationV1(
            pds=p.reference,
            sous_type="Contestation de facture",
            nature="Index contesté",
            libelle="Index anormalement élevé",
            observations="Le client conteste l'index relevé.",
            demandeur=Contact(nom="MARTIN", prenom="Paul", telephone="0633445566"),
        ),
        fournisseur=holder,
    )
    ref = reference_affaire(env.message_id)
    result = await outcome(env)
    assert result["type"] == "DemandeAcceptee", result["payload"]
    assert result["payload"]["reference_affaire"] == ref
    await affaire_etat(ref, etat="creee")
    with api(platform, "affaires", holder) as client:
        detail = client.get(f"/affaires/{ref}")
        assert detail.status_code == 200, detail.text
        vue = detail.json()
        assert vue["reference"] == ref and vue["pds"] == p.reference and vue["fournisseur"] == holder
        assert vue["type_affaire"] == "reclamation"
        assert vue["annulable"] is True
        assert vue["statut"] == "en_cours"
        assert "Index contesté" in str(vue)

    # Another supplier cannot cancel it...
    foreign = await bus.send(DemandeAnnulationV1(pds=p.reference, reference_affaire=ref, motif="erreur"), fournisseur=other)
    result = await outcome(foreign)
    assert result["type"] == "DemandeRefusee", result["payload"]
    assert result["payload"]["code"] == "AFFAIRE_AUTRE_FOURNISSEUR"

    # ...its own supplier can.
    own = await bus.send(DemandeAnnulationV1(pds=p.reference, reference_affaire=ref, motif="Réclamation envoyée par erreur"), fournisseur=holder)
    result = await outcome(own)
    assert result["type"] == "DemandeAcceptee", result["payload"]
    assert result["payload"]["reference_affaire"] == ref
    await affaire_etat(ref, statut="annulee")
    await wait_for_mails(subject_has(holder, ref, "annulée"))
    with api(platform, "affaires", holder) as client:
        assert client.get(f"/affaires/{ref}").json()["statut"] == "annulee"


async def test_power_change_waits_for_the_cf_to_be_closed(platform: Platform, bus: Bus) -> None:
    p = pick(lambda p: en_service_c5(p) and not p.compteur["amm"], "C5 non-AMM")
    assert p.contrat is not None
    supplier = new_supplier_for(p)
    cf = DemandeChangementFournisseurV1(
        pds=p.reference,
        date_effet_souhaitee=aujourdhui_reel(),  # read today: a realisation before the date d'effet is refused
        choix_releve=ChoixReleve.RELEVE_SPECIALE,
        contrat_conclu=contrat_conclu(),
        telephones=("0644556677",),
        demandeur=DEMANDEUR,
    )
    env = await bus.send(cf, fournisseur=supplier)
    ref = reference_affaire(env.message_id)
    result = await outcome(env)
    assert result["type"] == "DemandeAcceptee", result["payload"]
    await affaire_etat(ref, etat="en_attente_intervention")

    actuelle = float(p.contrat["puissance_souscrite_kva"])  # type: ignore[arg-type]
    nouvelle = 3.0 if actuelle != 3.0 else 6.0

    def modification() -> DemandeModificationContratV1:
        return DemandeModificationContratV1(
            pds=p.reference,
            date_effet_souhaitee=aujourdhui_reel() + timedelta(days=10),
            choix_releve=ChoixReleve.ESTIMATION,
            puissance_souscrite_kva=nouvelle,
            demandeur=DEMANDEUR,
        )

    avant = await bus.send(modification(), fournisseur=supplier)
    result = await outcome(avant)
    assert result["type"] == "DemandeRefusee", result["payload"]
    # The new holder's contract is still being subscribed (the meter has not been read yet).
    assert result["payload"]["code"] == "OPERATION_EN_COURS", result["payload"]

    # The technician reads the meter: the CF takes effect. The affaires service is held stopped meanwhile, so the
    # new contract is en service while its CF affaire is not yet terminée: the rule MODIFICATION_AVANT_SOLDE_CF.
    with api(platform, "planification", supplier) as client:
        deadline = time.monotonic() + 30
        while client.get(f"/interventions/{ref}").status_code != 200 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
    affaires = platform["affaires"]
    affaires.stop()
    try:
        await bus.send(
            InterventionRealiseeV1(
                reference_affaire=ref,
                pds=p.reference,
                date_realisation=aujourdhui_reel(),
                index=index_apres(p),
                compte_rendu="Relève spéciale faite.",
            ),
            fournisseur=None,
        )
        flux = await flux_c15(ref, count=2)
        assert flux["CFNE"]["fournisseur"] == supplier
        assert flux["CFNS"]["fournisseur"] == p.titulaire
        await contrat_etat(p.reference, ref, "en_service")
        pendant = await bus.send(modification(), fournisseur=supplier)
        result = await outcome(pendant)
        assert result["type"] == "DemandeRefusee", result["payload"]
        assert result["payload"]["code"] == "MODIFICATION_AVANT_SOLDE_CF", result["payload"]
        assert ref in result["payload"]["message"]
    finally:
        affaires.start()
        await asyncio.to_thread(affaires.wait_healthy)
    await affaire_etat(ref, statut="terminee")

    # Contrats learns the CF is terminée from the affaire event: retry only while that is on its way.
    deadline = time.monotonic() + 30
    while True:
        apres = await bus.send(modification(), fournisseur=supplier)
        result = await outcome(apres)
        if result["type"] == "DemandeAcceptee" or result["payload"]["code"] != "MODIFICATION_AVANT_SOLDE_CF" or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    assert result["type"] == "DemandeAcceptee", result["payload"]
    mod_ref = reference_affaire(apres.message_id)
    changed = await contrat_etat(p.reference, mod_ref, "en_cours_de_modification")
    assert changed["titulaire"] == supplier
