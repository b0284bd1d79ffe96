"""Pure rules of the référentiel: access levels, qualification of demands, holder history, relèves, search criteria."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from contracts import demandes as d
from contracts.base import WireModel
from contracts.common import Contact, ContratConclu, EtatContrat, NatureReleve, NiveauAcces
from contracts.evenements import ContratEtatChangeV1
from contracts.refus import Refus
from demo_data.generator import generate
from services.referentiel.domain import acces
from services.referentiel.domain.consultation import releves_visibles
from services.referentiel.domain.contrats import appliquer_changement_contrat
from services.referentiel.domain.recherche import ParAdresse, ParReference, correspond, entree_index, valider_recherche
from services.referentiel.domain.releves import consommations_mensuelles, enregistrer_releve, titulaire_a_la_date
from services.referentiel.seed import document_pds
from tests.builders import releve

TODAY = date(2026, 11, 1)
PDS = generate(2)  # en service, holder VOLTA
STATE = document_pds(PDS, 12)
HOLDER = str(PDS.titulaire)
AUTRE = next(f for f in ("ELEC_AZUR", "VOLTA", "LUMEN", "WATTPLUS") if f not in (HOLDER, PDS.titulaire_precedent))
REF = PDS.reference


def _contractuelle() -> dict[str, Any]:
    return {"pds": REF, "date_effet_souhaitee": date(2026, 12, 1), "choix_releve": "estimation"}


CONCLU = ContratConclu(reference="SC-1", date_signature=date(2026, 10, 1))
OCCUPANT = Contact(nom="NOUVEAU", prenom="Client", telephone="0600000000")

DEMANDES: dict[str, WireModel] = {
    "cf": d.DemandeChangementFournisseurV1(**_contractuelle(), contrat_conclu=CONCLU, telephones=("0600000000",)),
    "mes": d.DemandeMiseEnServiceV1(
        **_contractuelle(), contrat_conclu=CONCLU, occupant=OCCUPANT, service="BASE", puissance_souscrite_kva=6, re_code="RE_VOLTA_C2"
    ),
    "modif_re": d.DemandeModificationREV1(pds=REF, re_code="RE_VOLTA_C2"),
    "modif_contrat": d.DemandeModificationContratV1(**_contractuelle(), puissance_souscrite_kva=9),
    "cessation": d.DemandeCessationV1(**_contractuelle(), motif="déménagement"),
    "reclamation": d.DemandeReclamationV1(pds=REF, sous_type="qualite", nature="coupure", demandeur=OCCUPANT),
    "diverse": d.DemandeDiverseV1(pds=REF, sous_type="info", observations="obs", date_souhaitee=date(2026, 12, 1)),
    "intervention": d.DemandeInterventionTechniqueV1(pds=REF, sous_type="verification", date_souhaitee=date(2026, 12, 1)),
    "annulation": d.DemandeAnnulationV1(pds=REF, reference_affaire="AXXXX"),
    "reservation": d.ReservationCreneauV1(pds=REF, reference_affaire="AXXXX", creneau_id="c1"),
    "deplanification": d.DeplanificationV1(pds=REF, reference_affaire="AXXXX"),
}

# (demand, acting supplier is holder?) -> expected outcome: a level or a refusal code
QUALIFICATION = [
    ("cf", False, NiveauAcces.CONTRAT_CONCLU),
    ("mes", False, NiveauAcces.CONTRAT_CONCLU),
    ("cf", True, NiveauAcces.TITULAIRE),
    ("modif_re", False, "NIVEAU_ACCES_INSUFFISANT"),
    ("modif_contrat", False, "NIVEAU_ACCES_INSUFFISANT"),
    ("cessation", False, "NIVEAU_ACCES_INSUFFISANT"),
    ("reclamation", False, "NIVEAU_ACCES_INSUFFISANT"),
    ("diverse", False, "NIVEAU_ACCES_INSUFFISANT"),
    ("intervention", False, "NIVEAU_ACCES_INSUFFISANT"),
    ("modif_re", True, NiveauAcces.TITULAIRE),
    ("modif_contrat", True, NiveauAcces.TITULAIRE),
    ("cessation", True, NiveauAcces.TITULAIRE),
    ("reclamation", True, NiveauAcces.TITULAIRE),
    ("diverse", True, NiveauAcces.TITULAIRE),
    ("intervention", True, NiveauAcces.TITULAIRE),
    ("annulation", False, NiveauAcces.AUCUN),
    ("reservation", False, NiveauAcces.AUCUN),
    ("deplanification", False, NiveauAcces.AUCUN),
]


@pytest.mark.parametrize(("demande", "titulaire", "attendu"), QUALIFICATION)
def test_qualification_by_demand_type_and_level(demande: str, titulaire: bool, attendu: object) -> None:
    result = acces.qualifier_demande(STATE, HOLDER if titulaire else AUTRE, DEMANDES[demande], TODAY)
    if not isinstance(attendu, NiveauAcces):
        assert isinstance(result, Refus) and result.code == attendu
        assert "titulaire" in result.message
    else:
        assert isinstance(result, acces.Qualification) and result.niveau == attendu


def test_cf_records_its_inline_contrat_conclu_as_declaration() -> None:
    result = acces.qualifier_demande(STATE, AUTRE, DEMANDES["cf"], TODAY)
    assert isinstance(result, acces.Qualification)
    assert acces.niveau_acces(result.state, AUTRE) == NiveauAcces.CONTRAT_CONCLU
    assert result.state["declarations"][AUTRE]["contrat_conclu"]["reference_contrat"] == "SC-1"


def test_cf_refused_when_contract_signed_in_the_future() -> None:
    futur = DEMANDES["cf"].model_copy(update={"contrat_conclu": ContratConclu(reference="X", date_signature=date(2027, 1, 1))})
    result = acces.qualifier_demande(STATE, AUTRE, futur, TODAY)
    assert isinstance(result, Refus) and result.code == "DATE_SIGNATURE_FUTURE"


DECLARATIONS: list[tuple[dict[str, Any], object]] = [
    (dict(niveau="contrat_conclu", reference_contrat="R1", date_signature_contrat=date(2026, 1, 1)), NiveauAcces.CONTRAT_CONCLU),
    (dict(niveau="mandat", date_signature_mandat=date(2026, 1, 1)), NiveauAcces.MANDAT),
    (dict(niveau="contrat_conclu", date_signature_contrat=date(2026, 1, 1)), "DECLARATION_INCOMPLETE"),
    (dict(niveau="contrat_conclu", reference_contrat="R1"), "DECLARATION_INCOMPLETE"),
    (dict(niveau="mandat"), "DECLARATION_INCOMPLETE"),
    (dict(niveau="titulaire"), "NIVEAU_NON_DECLARABLE"),
    (dict(niveau="aucun"), "NIVEAU_NON_DECLARABLE"),
    (dict(niveau="mandat", date_signature_mandat=date(2027, 1, 1)), "DATE_SIGNATURE_FUTURE"),
]


@pytest.mark.parametrize(("champs", "attendu"), DECLARATIONS)
def test_declaration_acces(champs: dict[str, Any], attendu: object) -> None:
    result = acces.declarer_acces(STATE, AUTRE, d.DeclarationAccesV1(pds=REF, **champs), TODAY)
    if not isinstance(attendu, NiveauAcces):
        assert isinstance(result, Refus) and result.code == attendu
    else:
        assert not isinstance(result, Refus) and acces.niveau_acces(result, AUTRE) == attendu


def test_levels_default_to_aucun_and_keep_the_strongest_declaration() -> None:
    assert acces.niveau_acces(STATE, AUTRE) == NiveauAcces.AUCUN
    assert acces.niveau_acces(STATE, HOLDER) == NiveauAcces.TITULAIRE
    conclu = acces.declarer_acces(STATE, AUTRE, d.DeclarationAccesV1(**DECLARATIONS[0][0], pds=REF), TODAY)
    assert not isinstance(conclu, Refus)
    both = acces.declarer_acces(conclu, AUTRE, d.DeclarationAccesV1(**DECLARATIONS[1][0], pds=REF), TODAY)
    assert not isinstance(both, Refus)
    assert acces.niveau_acces(both, AUTRE) == NiveauAcces.CONTRAT_CONCLU


def test_fixed_refusals_have_codes_and_french_messages() -> None:
    refus = acces.refus_sans_pds("acheminement@autre-grd.example")
    assert refus.code == "DEMANDE_SANS_PDS" and "acheminement@autre-grd.example" in refus.message
    assert acces.refus_pds_inconnu("X").code == "PDS_INCONNU"
    assert acces.refus_fournisseur_absent().code == "FOURNISSEUR_ABSENT"
    assert acces.refus_message_invalide("T", "pds: manquant").code == "MESSAGE_INVALIDE"


def _evt(etat: EtatContrat, contrat: str, titulaire: str, **kw: Any) -> ContratEtatChangeV1:
    return ContratEtatChangeV1(contrat_id=contrat, pds=REF, titulaire=titulaire, etat=etat, **kw)


def test_becoming_holder_is_titulaire_then_cf_moves_holding_periods() -> None:
    state, _ = appliquer_changement_contrat(STATE, _evt(EtatContrat.EN_COURS_DE_SOUSCRIPTION, "C-NEW", AUTRE), TODAY, 12)
    assert acces.niveau_acces(state, AUTRE) == NiveauAcces.TITULAIRE
    mesure = releve(date(2026, 11, 20), 99_000)
    state, pub = appliquer_changement_contrat(
        state, _evt(EtatContrat.EN_SERVICE, "C-NEW", AUTRE, date_effet=date(2026, 11, 20), releve=mesure), TODAY, 12
    )
    assert pub is not None and pub.titulaire == AUTRE and pub.motif == "changement_fournisseur"
    assert state["en_souscription"] == []
    assert titulaire_a_la_date(state, date(2026, 11, 19)) == HOLDER
    assert titulaire_a_la_date(state, date(2026, 11, 20)) == AUTRE
    old = str(PDS.contrat["id"]) if PDS.contrat else ""
    state, pub2 = appliquer_changement_contrat(state, _evt(EtatContrat.CESSE, old, HOLDER, date_effet=date(2026, 11, 20), releve=mesure), TODAY, 12)
    # The reading at the change of holder is recorded once and belongs to both periods: the leaving holder gets its flux.
    assert pub2 is not None and pub2.partagee and pub2.titulaire == HOLDER
    assert len([r for r in state["releves"] if r["date_releve"] == "2026-11-20"]) == 1
    encore = _evt(EtatContrat.CESSE, old, HOLDER, date_effet=date(2026, 11, 20), releve=mesure)
    assert appliquer_changement_contrat(state, encore, TODAY, 12)[1] is None
    assert state["etat"] == "en_service"
    assert acces.niveau_acces(state, HOLDER) == NiveauAcces.AUCUN
    # Even once a later reading of the new holder exists (so it is no longer the last one), both still see it.
    state, _ = enregistrer_releve(state, releve(date(2026, 12, 20), 99_500), "cyclique", AUTRE, None, 12)
    state, _ = enregistrer_releve(state, releve(date(2027, 1, 20), 99_900), "cyclique", AUTRE, None, 12)
    for fournisseur in (HOLDER, AUTRE):
        assert "2026-11-20" in [r["date_releve"] for r in releves_visibles(state, fournisseur)], fournisseur
    assert "2026-12-20" not in [r["date_releve"] for r in releves_visibles(state, HOLDER)]


def test_cessation_of_last_holder_resiliates_and_moves_occupant_to_previous() -> None:
    old = str(PDS.contrat["id"]) if PDS.contrat else ""
    state, _ = appliquer_changement_contrat(STATE, _evt(EtatContrat.EN_COURS_DE_CESSATION, old, HOLDER), TODAY, 12)
    assert state["etat"] == "en_cours_de_resiliation"
    state, _ = appliquer_changement_contrat(state, _evt(EtatContrat.CESSE, old, HOLDER, date_effet=TODAY), TODAY, 12)
    assert state["etat"] == "resilie" and state["occupant"] is None
    assert PDS.occupant is not None
    assert {"nom": PDS.occupant["nom"], "prenom": PDS.occupant["prenom"]} in state["occupants_precedents"]


def test_mes_sets_new_occupant_and_lapses_old_declarations() -> None:
    declared = acces.declarer_acces(STATE, AUTRE, d.DeclarationAccesV1(**DECLARATIONS[1][0], pds=REF), TODAY)
    assert not isinstance(declared, Refus)
    state, _ = appliquer_changement_contrat(declared, _evt(EtatContrat.EN_SERVICE, "C-MES", "LUMEN", date_effet=TODAY, occupant=OCCUPANT), TODAY, 12)
    assert state["occupant"]["nom"] == "NOUVEAU"
    assert acces.niveau_acces(state, AUTRE) == (NiveauAcces.TITULAIRE if AUTRE == "LUMEN" else NiveauAcces.AUCUN)
    assert "NOUVEAU|CLIENT" in state["occupant_cles"]


def test_annule_removes_pending_holder() -> None:
    state, _ = appliquer_changement_contrat(STATE, _evt(EtatContrat.EN_COURS_DE_SOUSCRIPTION, "C-X", AUTRE), TODAY, 12)
    state, _ = appliquer_changement_contrat(state, _evt(EtatContrat.ANNULE, "C-X", AUTRE), TODAY, 12)
    assert acces.niveau_acces(state, AUTRE) == NiveauAcces.AUCUN


def test_real_reading_recomputes_monthly_consumption_estimated_does_not() -> None:
    base: dict[str, Any] = {"releves": [], "consommations": []}
    s1, _ = enregistrer_releve(base, releve(date(2026, 1, 1), 1000), "cyclique", "A", None, 12)
    s2, _ = enregistrer_releve(s1, releve(date(2026, 3, 1), 1590), "cyclique", "A", None, 12)
    assert s2["consommations"] == [
        {"mois": "2026-01", "kwh": 310, "jours_couverts": 31},
        {"mois": "2026-02", "kwh": 280, "jours_couverts": 28},
    ]
    s3, ajoutee = enregistrer_releve(s2, releve(date(2026, 4, 1), 9999, nature=NatureReleve.ESTIMEE), "cyclique", "A", None, 12)
    assert ajoutee and s3["consommations"] == s2["consommations"]
    assert consommations_mensuelles(s3["releves"], 1) == [{"mois": "2026-02", "kwh": 280, "jours_couverts": 28}]


ADRESSE = {"numero": PDS.adresse["numero"], "voie": PDS.adresse["voie"], "code_postal": PDS.adresse["code_postal"], "commune": PDS.adresse["commune"]}
COMPTEUR = str(PDS.compteur["reference"])

RECHERCHES: list[tuple[dict[str, str], bool, str]] = [
    ({"reference": REF}, False, "ok"),
    ({"reference": REF.lower()}, False, "ok"),
    ({"reference": REF[:-1]}, False, "REFERENCE_PDS_INCOMPLETE"),
    ({"reference": REF[:10]}, False, "REFERENCE_PDS_INCOMPLETE"),
    ({"reference": REF[:10] + "*"}, False, "CARACTERE_JOKER_INTERDIT"),
    ({**ADRESSE, "compteur": "CPT*"}, False, "CARACTERE_JOKER_INTERDIT"),
    ({**ADRESSE, "voie": "RUE*", "compteur": COMPTEUR}, False, "CARACTERE_JOKER_INTERDIT"),
    ({**ADRESSE, "compteur": COMPTEUR}, False, "ok"),
    ({**ADRESSE, "nom": PDS.occupant_precedent["nom"], "prenom": PDS.occupant_precedent["prenom"]}, False, "ok"),
    ({**ADRESSE, "nom": "MARTIN"}, False, "CRITERES_INSUFFISANTS"),
    ({**ADRESSE}, False, "CRITERES_INSUFFISANTS"),
    ({**ADRESSE}, True, "ok"),
    ({"voie": ADRESSE["voie"], "compteur": COMPTEUR}, False, "ADRESSE_INCOMPLETE"),
    ({"commune": ADRESSE["commune"]}, True, "ADRESSE_INCOMPLETE"),
    ({**ADRESSE, "code_postal": "690", "compteur": COMPTEUR}, False, "ADRESSE_INCOMPLETE"),
    ({"compteur": COMPTEUR}, False, "ADRESSE_INCOMPLETE"),
    ({}, False, "CRITERES_INSUFFISANTS"),
    ({}, True, "ADRESSE_INCOMPLETE"),
]


@pytest.mark.parametrize(("params", "titulaire_contrat", "attendu"), RECHERCHES)
def test_search_criteria(params: dict[str, str], titulaire_contrat: bool, attendu: str) -> None:
    critere = valider_recherche(dict(params), titulaire_contrat)
    if attendu == "ok":
        assert isinstance(critere, ParReference | ParAdresse)
        assert correspond(entree_index(STATE), critere, HOLDER)
    else:
        assert isinstance(critere, Refus) and critere.code == attendu and critere.message


def test_search_by_address_matches_only_the_right_meter_occupant_or_holder() -> None:
    entree = entree_index(STATE)
    autre_compteur = valider_recherche({**ADRESSE, "compteur": "CPT99999999999"}, False)
    assert isinstance(autre_compteur, ParAdresse) and not correspond(entree, autre_compteur, HOLDER)
    inconnu = valider_recherche({**ADRESSE, "nom": "INCONNU", "prenom": "Personne"}, False)
    assert isinstance(inconnu, ParAdresse) and not correspond(entree, inconnu, HOLDER)
    courant = valider_recherche({**ADRESSE, "nom": "martin", "prenom": "jean"}, False)
    assert isinstance(courant, ParAdresse)
    titulaire = valider_recherche({**ADRESSE}, True)
    assert isinstance(titulaire, ParAdresse)
    assert correspond(entree, titulaire, HOLDER)
    assert correspond(entree, titulaire, PDS.titulaire_precedent), "a past holder finds the PDS too"
    assert not correspond(entree, titulaire, AUTRE)
