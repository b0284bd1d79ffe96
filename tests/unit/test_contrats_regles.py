"""The contract domain's named checks one by one, and the typed context a qualified demand is read into."""

import dataclasses
import uuid
from datetime import date, timedelta

import pytest

from contracts.common import EtatContrat, ModeIntervention, NiveauAcces, OperationTechnique, Segment
from contracts.demandes import DemandeChangementFournisseurV1, DemandeModificationContratV1
from contracts.evenements import BesoinIntervention, DemandeQualifieeV1
from contracts.references import reference_affaire
from contracts.refus import CodeRefus, Refus
from services.contrats.domain import Contrat, EtatPds, Regles, lire_demande
from services.contrats.domain.changement_fournisseur import verifier_iso
from services.contrats.domain.date_effet import verifier_date_effet, verifier_delai_cf
from services.contrats.domain.intervention import verifier_teleoperation
from services.contrats.domain.modification import modifications, verifier_cf_soldee
from services.contrats.domain.parametres import re_par_defaut, verifier_re, verifier_re_indique_bt_plus
from services.contrats.domain.souscription import verifier_niveau_contrat_conclu
from services.contrats.domain.titulaire import contrat_du_titulaire
from tests.builders import DEMANDEUR
from tests.unit.test_contrats_domain import PDS, contexte

JOUR = date(2026, 11, 30)
REGLES = Regles(res_connus=("RE_VOLTA_C1", "RE_VOLTA_C2", "RE_LUMEN_C2"), re_par_defaut={"VOLTA": ("RE_VOLTA_C1", "RE_VOLTA_C2")})


def cf(**kw: object) -> DemandeChangementFournisseurV1:
    base: dict[str, object] = {
        "pds": PDS,
        "date_effet_souhaitee": JOUR + timedelta(days=7),
        "choix_releve": "estimation",
        "contrat_conclu": {"reference": "CC-1", "date_signature": "2026-11-20"},
        "telephones": ["0611223344"],
        "demandeur": DEMANDEUR,
    }
    return DemandeChangementFournisseurV1.model_validate({**base, **kw})


def contrat(titulaire: str = "VOLTA", etat: EtatContrat = EtatContrat.EN_SERVICE, **kw: object) -> Contrat:
    return Contrat.model_validate({"id": f"CT-{PDS}-1", "titulaire": titulaire, "etat": etat, **kw})


def code(resultat: Refus | Contrat | None) -> str | None:
    return resultat.code if isinstance(resultat, Refus) else None


def test_a_qualified_demand_is_read_once_into_a_typed_frozen_context() -> None:
    q = DemandeQualifieeV1(
        demande_message_id=uuid.uuid4(),
        demande_type="DemandeChangementFournisseur",
        demande=cf().model_dump(mode="json"),
        niveau_acces=NiveauAcces.CONTRAT_CONCLU,
        contexte=contexte(amm=True),
    )
    ctx = lire_demande(q, "LUMEN", JOUR)
    assert not isinstance(ctx, Refus) and ctx is not None
    assert isinstance(ctx.demande, DemandeChangementFournisseurV1) and ctx.demande.telephones == ("0611223344",)
    assert ctx.reference == reference_affaire(q.demande_message_id) and ctx.demande_message_id == q.demande_message_id
    assert (ctx.fournisseur, ctx.jour, ctx.niveau_acces, ctx.pds.pds) == ("LUMEN", JOUR, NiveauAcces.CONTRAT_CONCLU, PDS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.fournisseur = "VOLTA"  # type: ignore[misc]


def test_reading_a_demand_names_the_invalid_fields_and_ignores_other_types() -> None:
    q = DemandeQualifieeV1(
        demande_message_id=uuid.uuid4(),
        demande_type="DemandeCessation",
        demande={"pds": PDS, "choix_releve": "estimation"},
        niveau_acces=NiveauAcces.TITULAIRE,
        contexte=contexte(amm=True),
    )
    refus = lire_demande(q, "VOLTA", JOUR)
    assert isinstance(refus, Refus) and refus.code == CodeRefus.MESSAGE_INVALIDE
    assert "date_effet_souhaitee" in refus.message and "motif" in refus.message
    assert lire_demande(q.model_copy(update={"demande_type": "DemandeReclamation"}), "VOLTA", JOUR) is None


def test_the_cf_delay_is_checked_only_when_configured() -> None:
    loin = JOUR + timedelta(days=60)
    assert verifier_delai_cf(loin, JOUR, REGLES) is None
    assert code(verifier_delai_cf(loin, JOUR, dataclasses.replace(REGLES, delai_cf_jours=21))) == "DATE_EFFET_CF_HORS_DELAI"
    assert verifier_date_effet(loin, JOUR, dataclasses.replace(REGLES, delai_cf_jours=21)) is None
    assert code(verifier_date_effet(JOUR - timedelta(days=1), JOUR, REGLES, cf=True)) == "DATE_EFFET_PASSEE"


def test_an_re_must_be_known_then_of_the_segment() -> None:
    assert code(verifier_re("RE_INCONNU_C1", Segment.C5, REGLES)) == "RE_INCONNU"
    assert code(verifier_re("RE_VOLTA_C1", Segment.C5, REGLES)) == "RE_SEGMENT_INCOMPATIBLE"
    assert verifier_re("RE_VOLTA_C1", Segment.C4, REGLES) is None
    assert re_par_defaut("VOLTA", Segment.C5, REGLES) == "RE_VOLTA_C2" and re_par_defaut("VOLTA", Segment.C2, REGLES) == "RE_VOLTA_C1"
    assert code(verifier_re_indique_bt_plus(None, Segment.C4)) == "RE_MANQUANT" and verifier_re_indique_bt_plus(None, Segment.C5) is None


def test_a_cf_compares_only_the_values_known_on_both_sides() -> None:
    inconnu = contrat(service=None, puissance_souscrite_kva=None)
    assert verifier_iso(cf(service="HPHC", puissance_souscrite_kva=12.0), inconnu) is None
    assert code(verifier_iso(cf(puissance_souscrite_kva=12.0), contrat(puissance_souscrite_kva=9.0))) == "CF_NON_ISO"


@pytest.mark.parametrize(("niveau", "refuse"), [("aucun", True), ("mandat", True), ("contrat_conclu", False), ("titulaire", False)])
def test_only_contrat_conclu_and_above_subscribe(niveau: str, refuse: bool) -> None:
    assert (verifier_niveau_contrat_conclu(NiveauAcces(niveau)) is not None) is refuse


def test_the_holders_contract_while_its_own_subscription_is_pending_or_a_change_waits() -> None:
    souscription = EtatPds(pds=PDS, contrats=[contrat(), contrat("LUMEN", EtatContrat.EN_COURS_DE_SOUSCRIPTION, id="CT-2")])
    assert code(contrat_du_titulaire(souscription, "LUMEN")) == "OPERATION_EN_COURS"
    assert code(contrat_du_titulaire(souscription, "WATTPLUS")) == "NON_TITULAIRE"
    en_cessation = EtatPds(pds=PDS, contrats=[contrat(etat=EtatContrat.EN_COURS_DE_CESSATION)])
    assert code(contrat_du_titulaire(en_cessation, "VOLTA")) == "OPERATION_EN_COURS"
    assert isinstance(contrat_du_titulaire(en_cessation, "VOLTA", pendant_un_changement=True), Contrat)


def test_bt_plus_parameters_alone_are_a_modification_and_a_pending_cf_blocks_it() -> None:
    d = DemandeModificationContratV1.model_validate(
        {
            "pds": PDS,
            "date_effet_souhaitee": JOUR + timedelta(days=7),
            "choix_releve": "estimation",
            "parametres_bt_plus": {"version": "CU4", "type_tension": "BT", "type_redevance_comptage": "location"},
        }
    )
    m = modifications(d, contrat(service="BASE", puissance_souscrite_kva=60.0))
    assert m.parametres and not (m.service or m.puissance or m.usage) and not m.vide
    assert code(verifier_cf_soldee(EtatPds(pds=PDS, cf_non_soldees={"AFF-1": "LUMEN"}), "LUMEN")) == "MODIFICATION_AVANT_SOLDE_CF"
    assert verifier_cf_soldee(EtatPds(pds=PDS, cf_non_soldees={"AFF-1": "LUMEN"}), "VOLTA") is None


def test_a_tele_operation_needs_its_modality_and_for_a_cf_its_configuration() -> None:
    to = BesoinIntervention(
        operation=OperationTechnique.CHANGEMENT_FOURNISSEUR, mode=ModeIntervention.TELEOPERATION, duree_minutes=0, date_souhaitee=JOUR
    )
    assert code(verifier_teleoperation(to, cf(), cf=True)) == "MODALITE_INTERVENTION_MANQUANTE"
    assert code(verifier_teleoperation(to, cf(modalite_intervention="standard"), cf=True)) == "CONFIGURATION_MANQUANTE"
    assert verifier_teleoperation(to, cf(modalite_intervention="standard"), cf=False) is None
    assert verifier_teleoperation(None, cf(), cf=True) is None
