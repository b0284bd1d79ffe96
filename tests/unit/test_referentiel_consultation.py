"""Consultation matrix: every dossier view at every access level, for the holder and for foreign suppliers — no leak."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from contracts.common import NiveauAcces
from demo_data.generator import generate
from services.referentiel.domain import consultation as c
from services.referentiel.domain.consultation import Vue, dossier
from services.referentiel.domain.releves import derniere_releve_reelle
from services.referentiel.seed import document_pds

PDS = generate(2)
STATE = document_pds(PDS, 12)
HOLDER = str(PDS.titulaire)
PREVIOUS = PDS.titulaire_precedent
FOURNISSEURS = ("ELEC_AZUR", "VOLTA", "LUMEN", "WATTPLUS")

#: Keys that must never appear in any supplier answer (internal data, other people, other suppliers' business).
JAMAIS = {"zone", "titulaires", "en_souscription", "declarations", "occupants_precedents", "occupant_cles", "adresse_cle",
          "edl_id", "titulaire", "_inbox", "_outbox"}  # fmt: skip
TECHNIQUES = {"activite", "date_premiere_mes", "coupe_pour_non_paiement", "segment", "compteur", "releves", "consommations",
              "branchement", "index", "protection", "puissance_raccordement_kva"}  # fmt: skip
TITULAIRE_SEUL = {"occupant", "contrat", "telephone", "nom", "prenom", "re_code", "puissance_souscrite_kva", "service"}


def _cles(valeur: Any) -> set[str]:
    if isinstance(valeur, dict):
        return set(valeur) | set().union(*(_cles(v) for v in valeur.values()))
    if isinstance(valeur, list):
        return set().union(*(_cles(v) for v in valeur)) if valeur else set()
    return set()


def _interdits(niveau: NiveauAcces) -> set[str]:
    if niveau == NiveauAcces.AUCUN:
        return JAMAIS | TECHNIQUES | TITULAIRE_SEUL
    if niveau in (NiveauAcces.MANDAT, NiveauAcces.CONTRAT_CONCLU):
        return JAMAIS | TITULAIRE_SEUL
    return JAMAIS


VUES = [(v,) for v in Vue] + [tuple(Vue)]


@pytest.mark.parametrize(("vues", "niveau", "fournisseur"), list(itertools.product(VUES, list(NiveauAcces), FOURNISSEURS)))
def test_no_forbidden_field_leaks(vues: tuple[Vue, ...], niveau: NiveauAcces, fournisseur: str) -> None:
    reponse = dossier(STATE, niveau, fournisseur, vues)
    assert reponse["niveau_acces"] == niveau.value
    fuites = _cles(reponse) & _interdits(niveau)
    assert not fuites, f"{niveau} {vues}: {fuites}"
    ident = reponse.get("generalites") or reponse.get("identification")
    assert ident is not None
    assert {"reference", "adresse", "etat", "niveau_tension"} <= set(ident)
    if niveau == NiveauAcces.AUCUN:
        assert set(ident) == set(c.CHAMPS_IDENTIFICATION)
        assert set(reponse.get("vues_masquees", [])) == {v.value for v in vues if v != Vue.GENERALITES}
    for releve in reponse.get("releves", []):
        assert set(releve) == set(c.CHAMPS_RELEVE)


@pytest.mark.parametrize("fournisseur", FOURNISSEURS)
@pytest.mark.parametrize("niveau", [NiveauAcces.MANDAT, NiveauAcces.CONTRAT_CONCLU, NiveauAcces.TITULAIRE])
def test_releves_are_last_real_one_plus_own_holding_periods(fournisseur: str, niveau: NiveauAcces) -> None:
    vues = dossier(STATE, niveau, fournisseur, (Vue.RELEVES,))["releves"]
    derniere = derniere_releve_reelle(STATE)
    assert derniere is not None
    attendues = [r for r in STATE["releves"] if r["titulaire"] == fournisseur or r is derniere]
    assert sorted(r["date_releve"] for r in vues) == sorted(r["date_releve"] for r in attendues)
    assert derniere["date_releve"] in {r["date_releve"] for r in vues}


def test_previous_holder_does_not_see_the_new_holder_readings() -> None:
    vues = dossier(STATE, NiveauAcces.MANDAT, PREVIOUS, (Vue.RELEVES,))["releves"]
    derniere = derniere_releve_reelle(STATE)
    assert derniere is not None
    autres = {r["date_releve"] for r in STATE["releves"] if r["titulaire"] == HOLDER and r is not derniere}
    assert autres and not autres & {r["date_releve"] for r in vues}


def test_titulaire_sees_occupant_and_own_contract_only() -> None:
    gen = dossier(STATE, NiveauAcces.TITULAIRE, HOLDER, (Vue.GENERALITES,))["generalites"]
    assert PDS.occupant is not None
    assert gen["occupant"]["nom"] == PDS.occupant["nom"]
    assert gen["contrat"]["fournisseur"] == HOLDER
    autre = next(f for f in FOURNISSEURS if f not in (HOLDER, PREVIOUS))
    pending = {**STATE, "en_souscription": [{"fournisseur": autre, "contrat_id": "C-P", "date_effet": "2026-12-01"}]}
    other = dossier(pending, NiveauAcces.TITULAIRE, autre, (Vue.GENERALITES,))["generalites"]
    assert other["contrat"]["contrat_id"] == "C-P" and other["contrat"]["etat"] == "en_cours_de_souscription"


def test_grd_operator_sees_every_reading() -> None:
    assert len(dossier(STATE, NiveauAcces.TITULAIRE, None, (Vue.RELEVES,))["releves"]) == len(STATE["releves"])


def test_contexte_pds_snapshot() -> None:
    ctx = c.contexte_pds(STATE)
    assert ctx.pds == PDS.reference and ctx.titulaire == HOLDER and ctx.compteur.reference == PDS.compteur["reference"]
    assert ctx.occupant is not None and ctx.zone == PDS.zone
