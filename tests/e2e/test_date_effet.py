"""Changes happen on their date d'effet: CF, MES and cessation by tele-operation a week away, the clock moved forward.

« Le PDS entrera dans le périmètre du fournisseur à la date souhaitée » / « sortira du périmètre … à la date souhaitée »:
until that day the holder keeps its level and data, the contract is « en cours de souscription », the affaire is open
and cancellable, no tele-operation is sent; once the platform's clock reaches it, the change is applied. A tele-operation
that keeps failing ends « à planifier », with an event and an e-mail asking the supplier to book an appointment.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import date, timedelta
from typing import Any

import pytest

from contracts.common import ChoixReleve, Contact, ModaliteIntervention
from contracts.demandes import DemandeAnnulationV1, DemandeCessationV1, DemandeChangementFournisseurV1, DemandeMiseEnServiceV1
from contracts.references import reference_affaire
from contracts.topics import FLUX_R15, INTERVENTIONS_EVENEMENTS, SI_COMMANDES, SI_RESULTATS
from demo_data.generator import PdsGen
from demo_data.reference import fournisseur
from devtools.processes import Platform
from platform_kit.clock import Clock
from tests.e2e.conftest import Horloge
from tests.e2e.test_processes import DEMANDEUR, affaire_etat, contrat_conclu, en_service_c5, flux_c15, outcome, pick, subject_has, titulaire
from tests.e2e.test_walking_skeleton import api, new_supplier_for
from tests.support import Bus, read_topic, wait_for_mails, wait_for_messages

pytestmark = pytest.mark.e2e


def amm(p: PdsGen) -> bool:
    return bool(p.compteur["amm"] and p.compteur["teleoperable"])


def cf(p: PdsGen, jour: date) -> DemandeChangementFournisseurV1:
    return DemandeChangementFournisseurV1(
        pds=p.reference,
        date_effet_souhaitee=jour,
        choix_releve=ChoixReleve.ESTIMATION,
        contrat_conclu=contrat_conclu(),
        telephones=("0601020304",),
        demandeur=DEMANDEUR,
        modalite_intervention=ModaliteIntervention.STANDARD,
        configuration_demandee="BASE",
    )


def niveau(platform: Platform, supplier: str, pds: str) -> str:
    with api(platform, "referentiel", supplier) as client:
        r = client.get(f"/pds/{pds}/dossier")
        assert r.status_code == 200, r.text
        return str(r.json()["niveau_acces"])


def affaire(platform: Platform, supplier: str, ref: str) -> dict[str, Any]:
    with api(platform, "affaires", supplier) as client:
        r = client.get(f"/affaires/{ref}")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


def etat_contrat(platform: Platform, supplier: str, pds: str) -> list[str]:
    with api(platform, "contrats", supplier) as client:
        r = client.get(f"/pds/{pds}/contrats")
        assert r.status_code == 200, r.text
        return [c["generalites"]["etat"] for c in r.json()["contrats"] if c["generalites"]["titulaire"] == supplier]


async def attendre(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.5)


async def teleoperations(ref: str) -> list[dict[str, Any]]:
    return [d for d, _h, _v in await read_topic(SI_COMMANDES.name) if d and d["payload"].get("reference_affaire") == ref]


async def intervention_recue(ref: str) -> None:
    await wait_for_messages(
        INTERVENTIONS_EVENEMENTS.name, lambda d: d["payload"]["reference_affaire"] == ref and d["payload"]["statut"] == "demandee"
    )


async def test_cf_mes_and_cessation_by_teleoperation_take_effect_on_their_date(platform: Platform, bus: Bus, horloge: Horloge) -> None:
    jour = Clock().today() + timedelta(days=7)
    p_cf = pick(lambda p: en_service_c5(p) and amm(p), "C5 AMM en service (CF)")
    ancien, nouveau = titulaire(p_cf), new_supplier_for(p_cf)
    p_annule = pick(lambda p: en_service_c5(p) and amm(p), "C5 AMM en service (CF annulé)")
    p_mes = pick(lambda p: p.segment == "C5" and p.etat == "resilie" and amm(p), "C5 AMM résilié (MES)")
    p_ces = pick(lambda p: en_service_c5(p) and amm(p), "C5 AMM en service (cessation)")
    four = fournisseur("LUMEN")
    assert four is not None

    env_cf = await bus.send(cf(p_cf, jour), fournisseur=nouveau)
    supplier_annule = new_supplier_for(p_annule)
    env_annule = await bus.send(cf(p_annule, jour), fournisseur=supplier_annule)
    mes = DemandeMiseEnServiceV1(
        pds=p_mes.reference,
        date_effet_souhaitee=jour,
        choix_releve=ChoixReleve.ESTIMATION,
        contrat_conclu=contrat_conclu(),
        occupant=Contact(civilite="Mme", nom="MARTIN", prenom="Lise", telephone="0622334455"),
        service="BASE",
        puissance_souscrite_kva=6.0,
        re_code=four.re_c2,
        demandeur=DEMANDEUR,
        modalite_intervention=ModaliteIntervention.STANDARD,
    )
    env_mes = await bus.send(mes, fournisseur="LUMEN")
    ces = DemandeCessationV1(
        pds=p_ces.reference,
        date_effet_souhaitee=jour,
        choix_releve=ChoixReleve.ESTIMATION,
        motif="Déménagement du client",
        demandeur=DEMANDEUR,
        modalite_intervention=ModaliteIntervention.STANDARD,
    )
    env_ces = await bus.send(ces, fournisseur=titulaire(p_ces))
    refs = {name: reference_affaire(env.message_id) for name, env in (("cf", env_cf), ("annule", env_annule), ("mes", env_mes), ("ces", env_ces))}
    for env in (env_cf, env_annule, env_mes, env_ces):
        result = await outcome(env)
        assert result["type"] == "DemandeAcceptee", result["payload"]
    for ref in refs.values():
        await intervention_recue(ref)

    # Before the date d'effet: nothing has happened yet.
    assert niveau(platform, ancien, p_cf.reference) == "titulaire", "the holder keeps its level until the date"
    # (the last contract of the supplier on the PDS: a seeded PDS may carry an older, ended one of the same supplier)
    assert etat_contrat(platform, nouveau, p_cf.reference)[-1] == "en_cours_de_souscription"
    assert etat_contrat(platform, "LUMEN", p_mes.reference)[-1] == "en_cours_de_souscription"
    assert etat_contrat(platform, titulaire(p_ces), p_ces.reference)[-1] == "en_cours_de_cessation"
    for supplier, ref in ((nouveau, refs["cf"]), ("LUMEN", refs["mes"]), (titulaire(p_ces), refs["ces"])):
        vue = affaire(platform, supplier, ref)
        assert vue["statut"] == "en_cours" and vue["annulable"] is True, vue
        assert await teleoperations(ref) == [], "a tele-operation is sent on its date d'effet, not before"
    annulation = await bus.send(
        DemandeAnnulationV1(pds=p_annule.reference, reference_affaire=refs["annule"], motif="Le client renonce"), fournisseur=supplier_annule
    )
    assert (await outcome(annulation))["type"] == "DemandeAcceptee"
    await affaire_etat(refs["annule"], statut="annulee")

    # The platform's clock reaches the date d'effet: every change is applied on that date, with the index of that day.
    await horloge.aller_au(jour)
    flux = await flux_c15(refs["cf"], count=2, timeout=90)
    assert {(e, f["fournisseur"]) for e, f in flux.items()} == {("CFNE", nouveau), ("CFNS", ancien)}
    assert {f["date_effet"] for f in flux.values()} == {jour.isoformat()}
    assert flux["CFNE"]["releve_apres"]["nature"] == "reelle" and flux["CFNE"]["releve_apres"]["date_releve"] == jour.isoformat()
    mes_flux = await flux_c15(refs["mes"], timeout=90)
    assert mes_flux["MES"]["fournisseur"] == "LUMEN" and mes_flux["MES"]["date_effet"] == jour.isoformat()
    ces_flux = await flux_c15(refs["ces"], timeout=90)
    assert ces_flux["RES"]["fournisseur"] == titulaire(p_ces) and ces_flux["RES"]["date_effet"] == jour.isoformat()
    for ref in (refs["cf"], refs["mes"], refs["ces"]):
        await affaire_etat(ref, statut="terminee")
    await attendre(lambda: niveau(platform, ancien, p_cf.reference) != "titulaire", "the old holder loses its level on the date")
    assert etat_contrat(platform, nouveau, p_cf.reference)[-1] == "en_service"
    assert etat_contrat(platform, "LUMEN", p_mes.reference)[-1] == "en_service"
    # The index of the change of holder belongs to both suppliers' periods: both receive it in their R15 flux; the new
    # holder sees it over HTTP (the old one, now « aucun », sees no reading tab unless it holds a mandate).
    r15 = await wait_for_messages(
        FLUX_R15.name,
        lambda d: d["payload"]["pds"] == p_cf.reference and d["payload"]["releve"]["date_releve"] == jour.isoformat(),
        count=2,
        timeout=60,
    )
    assert {d["payload"]["fournisseur"] for d in r15} == {ancien, nouveau}
    with api(platform, "referentiel", nouveau) as client:
        releves = client.get(f"/pds/{p_cf.reference}/dossier", params={"vue": "releves"}).json().get("releves", [])
        assert jour.isoformat() in [r["date_releve"] for r in releves], releves
    # The cancelled affaire changed nothing and sent nothing.
    assert await teleoperations(refs["annule"]) == []
    assert niveau(platform, titulaire(p_annule), p_annule.reference) == "titulaire"


async def test_a_teleoperation_that_keeps_failing_asks_the_supplier_for_an_appointment(platform: Platform, bus: Bus, horloge: Horloge) -> None:
    jour = Clock().today() + timedelta(days=7)
    p = pick(lambda p: en_service_c5(p) and amm(p), "C5 AMM en service (TO en échec)")
    supplier = new_supplier_for(p)
    sim = platform["si_comptage"]
    sim.env["SI_COMPTAGE_PDS_EN_ECHEC"] = json.dumps([p.reference])
    sim.stop()
    sim.start()
    await asyncio.to_thread(sim.wait_healthy)
    try:
        env = await bus.send(cf(p, jour), fournisseur=supplier)
        ref = reference_affaire(env.message_id)
        assert (await outcome(env))["type"] == "DemandeAcceptee"
        await intervention_recue(ref)
        await horloge.aller_au(jour)
        # Each failed attempt is sent again after a pause (clock time): move the clock past it, attempt by attempt.
        for tentative in (1, 2, 3):

            def echec(d: dict[str, Any], t: int = tentative) -> bool:
                return bool(d["payload"].get("reference_affaire") == ref and d["payload"].get("tentative") == t)

            await wait_for_messages(SI_RESULTATS.name, echec, timeout=60)
            if tentative < 3:
                await horloge.avancer(timedelta(minutes=20))
        a_planifier = await affaire_etat(ref, etat="a_planifier", timeout=60)
        assert "rendez-vous" in (a_planifier["motif"] or "")
        mail = (await wait_for_mails(subject_has(supplier, ref, "rendez-vous à convenir"), timeout=60))[0]
        body = mail.get_body(preferencelist=("plain",))
        assert body is not None and "convenir d'un rendez-vous" in body.get_content()
        vue = affaire(platform, supplier, ref)
        assert vue["statut"] == "en_cours" and vue["programmation"]["mode"] == "creneau"
        assert niveau(platform, titulaire(p), p.reference) == "titulaire", "nothing changed: the holder keeps the PDS"
    finally:
        sim.env.pop("SI_COMPTAGE_PDS_EN_ECHEC", None)
        sim.stop()
        sim.start()
        await asyncio.to_thread(sim.wait_healthy)

