"""The guide's rules, second pass: fields it requires, appointment rules, and the refusals it does not imply (removed)."""

import dataclasses
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from contracts.common import (
    ChoixReleve,
    Contact,
    EtatContrat,
    IndexCadran,
    ModaliteIntervention,
    ModeIntervention,
    NiveauAcces,
    OperationTechnique,
    ParametresBtPlus,
    Segment,
    StatutAffaire,
    StatutIntervention,
    TypeAffaire,
)
from contracts.demandes import DemandeDiverseV1, DemandeInterventionTechniqueV1, ReservationCreneauV1
from contracts.evenements import (
    AffaireStatutChangeV1,
    BesoinIntervention,
    CompteurInfo,
    ContextePds,
    DemandeQualifieeV1,
    InterventionDemandeeV1,
    InterventionNonRealiseeV1,
    InterventionRealiseeV1,
    InterventionStatutChangeV1,
    OuvertureAffaireDemandeeV1,
)
from contracts.programmation import etude_technique_requise, mode_rendez_vous, planification_libre_service
from contracts.refus import Refus
from services.affaires import domain as affaires
from services.contrats.domain import Decision, Regles, besoin_intervention, decider_demande, verifier_date_effet
from services.notifications import domain as notifications
from services.planification import domain as planification
from tests.builders import DEMANDEUR
from tests.unit.test_contrats_domain import (
    BT_PLUS,
    REGLES,
    TODAY,
    accepted,
    cessation,
    cf,
    contexte,
    decide,
    etat_pds,
    mes,
    modif,
    of_type,
    qualifiee,
)

AT = datetime(2026, 11, 30, 9, 0)
CAL = planification.Calendrier(zones=("Z01",))
AMM = {"modalite_intervention": "standard", "configuration_demandee": "HPHC 22h-6h"}


def refus_code(result: Decision | Refus | None) -> str | None:
    """The refusal code, or None when the demand was accepted."""
    if isinstance(result, Refus):
        assert result.message[0].isupper() and len(result.message) > 30
        return result.code
    assert isinstance(result, Decision), result
    return None


def sans(demande: dict[str, Any], *champs: str) -> dict[str, Any]:
    """The demand without some fields."""
    return {k: v for k, v in demande.items() if k not in champs}


# --- Fields the guide requires -------------------------------------------------------------------------------------

CHAMPS_EXIGES = [
    # name, etat, type, demand, supplier, level, context, expected code (None: accepted)
    ("cf sans demandeur", etat_pds(), "DemandeChangementFournisseur", sans(cf(), "demandeur"), "LUMEN", "contrat_conclu", None, "DEMANDEUR_MANQUANT"),
    (
        "mes sans demandeur",
        etat_pds(titulaire=None),
        "DemandeMiseEnService",
        sans(mes(), "demandeur"),
        "LUMEN",
        "contrat_conclu",
        None,
        "DEMANDEUR_MANQUANT",
    ),
    ("modif sans demandeur", etat_pds(), "DemandeModificationContrat", sans(modif(), "demandeur"), "VOLTA", "titulaire", None, "DEMANDEUR_MANQUANT"),
    ("cessation sans demandeur", etat_pds(), "DemandeCessation", sans(cessation(), "demandeur"), "VOLTA", "titulaire", None, "DEMANDEUR_MANQUANT"),
    (
        "cf c4 sans paramètres BT+",
        etat_pds(Segment.C4, puissance=60),
        "DemandeChangementFournisseur",
        cf(re_code="RE_LUMEN_C1"),
        "LUMEN",
        "contrat_conclu",
        contexte(Segment.C4),
        "PARAMETRES_BT_PLUS_MANQUANTS",
    ),
    (
        "cf hta sans RE",
        etat_pds(Segment.C2, puissance=250),
        "DemandeChangementFournisseur",
        cf(parametres_bt_plus=BT_PLUS),
        "LUMEN",
        "contrat_conclu",
        contexte(Segment.C2),
        "RE_MANQUANT",
    ),
    (
        "cf c4 complet",
        etat_pds(Segment.C4, puissance=60),
        "DemandeChangementFournisseur",
        cf(parametres_bt_plus=BT_PLUS, re_code="RE_LUMEN_C1"),
        "LUMEN",
        "contrat_conclu",
        contexte(Segment.C4),
        None,
    ),
    ("cf c5 sans RE: RE du fournisseur", etat_pds(), "DemandeChangementFournisseur", cf(), "LUMEN", "contrat_conclu", None, None),
    (
        "cf AMM sans modalité",
        etat_pds(),
        "DemandeChangementFournisseur",
        cf(),
        "LUMEN",
        "contrat_conclu",
        contexte(amm=True),
        "MODALITE_INTERVENTION_MANQUANTE",
    ),
    (
        "cf AMM sans configuration",
        etat_pds(),
        "DemandeChangementFournisseur",
        cf(modalite_intervention="urgent"),
        "LUMEN",
        "contrat_conclu",
        contexte(amm=True),
        "CONFIGURATION_MANQUANTE",
    ),
    ("cf AMM complet", etat_pds(), "DemandeChangementFournisseur", cf(**AMM), "LUMEN", "contrat_conclu", contexte(amm=True), None),
    (
        "mes AMM sans modalité",
        etat_pds(titulaire=None),
        "DemandeMiseEnService",
        mes(),
        "LUMEN",
        "contrat_conclu",
        contexte(amm=True, etat="resilie"),
        "MODALITE_INTERVENTION_MANQUANTE",
    ),
    (
        "mes AMM avec modalité",
        etat_pds(titulaire=None),
        "DemandeMiseEnService",
        mes(modalite_intervention="standard"),
        "LUMEN",
        "contrat_conclu",
        contexte(amm=True, etat="resilie"),
        None,
    ),
    (
        "cessation AMM sans modalité",
        etat_pds(),
        "DemandeCessation",
        cessation(),
        "VOLTA",
        "titulaire",
        contexte(amm=True),
        "MODALITE_INTERVENTION_MANQUANTE",
    ),
    (
        "cessation AMM avec modalité",
        etat_pds(),
        "DemandeCessation",
        cessation(modalite_intervention="urgent"),
        "VOLTA",
        "titulaire",
        contexte(amm=True),
        None,
    ),
    (
        "cf AMM non télé-opérable: pas de modalité",
        etat_pds(),
        "DemandeChangementFournisseur",
        cf(),
        "LUMEN",
        "contrat_conclu",
        contexte(amm=True, teleoperable=False),
        None,
    ),
]


@pytest.mark.parametrize(
    ("etat", "demande_type", "demande", "fournisseur", "niveau", "ctx", "code"), [r[1:] for r in CHAMPS_EXIGES], ids=[r[0] for r in CHAMPS_EXIGES]
)
def test_fields_the_guide_requires(
    etat: Any, demande_type: str, demande: dict[str, Any], fournisseur: str, niveau: str, ctx: ContextePds | None, code: str | None
) -> None:
    assert refus_code(decide(etat, qualifiee(demande_type, demande, ctx, niveau), fournisseur)) == code


def test_bt_plus_cf_takes_the_given_parameters_and_re() -> None:
    autres = {"version": "MU4", "type_tension": "BT", "type_redevance_comptage": "propriete_client"}
    q = qualifiee("DemandeChangementFournisseur", cf(parametres_bt_plus=autres, re_code="RE_NORDEQUILIBRE_C1"), contexte(Segment.C4))
    d = accepted(decide(etat_pds(Segment.C4, puissance=60), q, "LUMEN"))
    nouveau = d.etat.contrats[-1]
    assert nouveau.parametres_bt_plus == ParametresBtPlus.model_validate(autres) and nouveau.re_code == "RE_NORDEQUILIBRE_C1"


def test_requester_and_amm_choices_travel_to_the_affaire() -> None:
    q = qualifiee("DemandeChangementFournisseur", cf(**AMM), contexte(amm=True))
    [cmd] = of_type(accepted(decide(etat_pds(), q, "LUMEN")), OuvertureAffaireDemandeeV1)
    assert cmd.demandeur == Contact.model_validate(DEMANDEUR)
    assert cmd.intervention is not None and cmd.intervention.mode == ModeIntervention.TELEOPERATION
    assert (cmd.intervention.modalite, cmd.intervention.configuration) == (ModaliteIntervention.STANDARD, "HPHC 22h-6h")
    affaire = affaires.ouvrir(cmd, "LUMEN", TODAY, AT).affaire
    assert affaire.generalites.demandeur == Contact.model_validate(DEMANDEUR)


# --- Refusals the guide does not imply (removed) -------------------------------------------------------------------


def test_cf_date_beyond_21_days_is_accepted_by_default() -> None:
    # L224-14 protects the customer: it does not forbid a later date he asks for.
    q = qualifiee("DemandeChangementFournisseur", cf(date_effet_souhaitee=(TODAY + timedelta(days=60)).isoformat()))
    accepted(decide(etat_pds(), q, "LUMEN"))


def test_cf_cap_only_when_configured() -> None:
    plafonne = dataclasses.replace(REGLES, delai_cf_jours=21)
    refus = verifier_date_effet(TODAY + timedelta(days=22), TODAY, plafonne, cf=True)
    assert refus is not None and refus.code == "DATE_EFFET_CF_HORS_DELAI"
    assert verifier_date_effet(TODAY + timedelta(days=22), TODAY, REGLES, cf=True) is None


@pytest.mark.parametrize("en_attente", ["DemandeModificationContrat", "DemandeCessation"])
def test_re_change_accepted_while_a_change_is_pending(en_attente: str) -> None:
    demande = modif() if en_attente == "DemandeModificationContrat" else cessation()
    d = accepted(decide(etat_pds(), qualifiee(en_attente, demande, niveau="titulaire"), "VOLTA"))
    q = qualifiee("DemandeModificationRE", {"re_code": "RE_NORDEQUILIBRE_C2"}, niveau="titulaire")
    apres = accepted(decide(d.etat, q, "VOLTA"))
    contrat = apres.etat.contrats[0]
    assert contrat.re_code == "RE_NORDEQUILIBRE_C2"
    assert contrat.etat in (EtatContrat.EN_COURS_DE_MODIFICATION, EtatContrat.EN_COURS_DE_CESSATION)
    assert len(apres.etat.changements) == 1  # the pending change is still there


PARAMETRES_SEULS = [
    ("version seule", {**BT_PLUS, "version": "MU4"}, None),
    ("redevance seule", {**BT_PLUS, "type_redevance_comptage": "propriete_client"}, None),
    ("tension seule", {**BT_PLUS, "type_tension": "HTA"}, None),
    ("identiques", BT_PLUS, "MODIFICATION_VIDE"),
]


@pytest.mark.parametrize(("parametres", "code"), [r[1:] for r in PARAMETRES_SEULS], ids=[r[0] for r in PARAMETRES_SEULS])
def test_version_or_redevance_only_change(parametres: dict[str, str], code: str | None) -> None:
    etat = etat_pds(Segment.C4, puissance=60)
    etat.contrats[0].parametres_bt_plus = ParametresBtPlus.model_validate(BT_PLUS)
    demande = sans(modif(parametres_bt_plus=parametres), "puissance_souscrite_kva")
    assert refus_code(decide(etat, qualifiee("DemandeModificationContrat", demande, contexte(Segment.C4), "titulaire"), "VOLTA")) == code


# --- Appointments ----------------------------------------------------------------------------------------------------

ETUDE = [
    # current kVA, new kVA, study needed
    (3, 9, True),
    (3, 6, False),
    (6, 9, True),
    (9, 12, True),
    (12, 9, False),
    (3, 3, False),
    (None, 9, True),
    (6, None, False),
]


@pytest.mark.parametrize(("actuelle", "cible", "etude"), ETUDE)
def test_technical_study_when_the_new_power_is_above_6_kva(actuelle: float | None, cible: float | None, etude: bool) -> None:
    assert etude_technique_requise(actuelle, cible) is etude


@pytest.mark.parametrize(("actuelle", "cible", "etude"), [(3, 9, True), (3, 6, False), (6, 7, True)])
def test_modification_carries_the_study_and_planification_stops_for_it(actuelle: float, cible: float, etude: bool) -> None:
    q = qualifiee("DemandeModificationContrat", modif(puissance_souscrite_kva=cible), contexte(), "titulaire")
    [cmd] = of_type(accepted(decide(etat_pds(puissance=actuelle), q, "VOLTA")), OuvertureAffaireDemandeeV1)
    assert cmd.intervention is not None and cmd.intervention.etude_technique_requise is etude
    assert cmd.intervention.puissance_cible_kva == cible
    commande = InterventionDemandeeV1(
        reference_affaire=cmd.reference_affaire, pds=cmd.pds, besoin=cmd.intervention, zone="Z01", compteur=cmd.contexte.compteur
    )
    etat = planification.recevoir_intervention(commande, "VOLTA", CAL, TODAY).etat
    assert (etat.statut == StatutIntervention.ETUDE_TECHNIQUE) is etude


def test_amm_power_change_to_6_kva_is_a_tele_operation_and_to_9_a_study() -> None:
    for cible, etude in ((6.0, False), (9.0, True)):
        q = qualifiee("DemandeModificationContrat", modif(puissance_souscrite_kva=cible), contexte(amm=True), "titulaire")
        [cmd] = of_type(accepted(decide(etat_pds(puissance=3), q, "VOLTA")), OuvertureAffaireDemandeeV1)
        assert cmd.intervention is not None and cmd.intervention.etude_technique_requise is etude
        # No study: the new breaker setting is sent to the Linky meter remotely, on the date d'effet.
        assert (cmd.intervention.mode == ModeIntervention.TELEOPERATION) is not etude


def compteur(localisation: str = "interieur", mode_releve: str = "sur_site") -> CompteurInfo:
    """A meter."""
    return CompteurInfo(reference="CPT1", amm=False, localisation=localisation, mode_releve=mode_releve)


MODES = [
    # en service, meter location, relève mode, only a reading, expected
    (True, "exterieur", "sur_site", True, ModeIntervention.PRESENCE_NON_OBLIGATOIRE),
    (True, "interieur", "telereleve", True, ModeIntervention.PRESENCE_NON_OBLIGATOIRE),
    (True, "interieur", "sur_site", True, ModeIntervention.CRENEAU),
    (False, "exterieur", "telereleve", True, ModeIntervention.CRENEAU),
    (True, "exterieur", "telereleve", False, ModeIntervention.CRENEAU),
]


@pytest.mark.parametrize(("en_service", "localisation", "releve", "releve_seule", "mode"), MODES)
def test_one_rule_decides_presence_non_obligatoire(
    en_service: bool, localisation: str, releve: str, releve_seule: bool, mode: ModeIntervention
) -> None:
    assert mode_rendez_vous(en_service=en_service, compteur=compteur(localisation, releve), releve_seule=releve_seule) == mode


PNO_TOUTES_OPERATIONS = [
    # operation, choice, context, expected mode
    (
        OperationTechnique.CHANGEMENT_FOURNISSEUR,
        ChoixReleve.RELEVE_SPECIALE,
        {"localisation": "exterieur"},
        ModeIntervention.PRESENCE_NON_OBLIGATOIRE,
    ),
    (OperationTechnique.CESSATION, ChoixReleve.RELEVE_SPECIALE, {"localisation": "exterieur"}, ModeIntervention.PRESENCE_NON_OBLIGATOIRE),
    (OperationTechnique.MODIFICATION, ChoixReleve.RELEVE_SPECIALE, {"mode_releve": "telereleve"}, ModeIntervention.PRESENCE_NON_OBLIGATOIRE),
    (OperationTechnique.MISE_EN_SERVICE, ChoixReleve.RELEVE_SPECIALE, {"localisation": "exterieur"}, ModeIntervention.PRESENCE_NON_OBLIGATOIRE),
    (OperationTechnique.MISE_EN_SERVICE, ChoixReleve.ESTIMATION, {"localisation": "exterieur", "etat": "resilie"}, ModeIntervention.CRENEAU),
]


@pytest.mark.parametrize(("operation", "choix", "ctx", "mode"), PNO_TOUTES_OPERATIONS)
def test_presence_non_obligatoire_for_any_operation_and_kept_by_planification(
    operation: OperationTechnique, choix: ChoixReleve, ctx: dict[str, Any], mode: ModeIntervention
) -> None:
    contexte_pds = contexte(**ctx)
    besoin = besoin_intervention(operation, choix, contexte_pds, TODAY + timedelta(days=5), REGLES)
    assert besoin is not None and besoin.mode == mode
    # Planification keeps the mode its sender decided.
    assert planification.decider_mode(besoin, contexte_pds.compteur) == mode


def test_intervention_technique_uses_the_same_rule_by_sous_type() -> None:
    ctx = ContextePds(
        pds="30000000000042EC1",
        segment=Segment.C5,
        niveau_tension="BT",
        etat="en_service",
        coupe_pour_non_paiement=False,
        zone="Z01",
        compteur=compteur("exterieur"),
    )
    releve = affaires.besoin_intervention_technique(ctx, TODAY, "releve_speciale")
    verification = affaires.besoin_intervention_technique(ctx, TODAY, "verification_compteur")
    assert releve.mode == ModeIntervention.PRESENCE_NON_OBLIGATOIRE and verification.mode == ModeIntervention.CRENEAU
    assert planification.decider_mode(releve, ctx.compteur) == ModeIntervention.PRESENCE_NON_OBLIGATOIRE


@pytest.mark.parametrize(("segment", "libre"), [(Segment.C5, True), (Segment.C4, False), (Segment.C2, False), (Segment.C1, False)])
def test_self_service_planning_and_to_for_bt_36_kva_only(segment: Segment, libre: bool) -> None:
    assert planification_libre_service(segment) is libre


def test_c4_amm_is_not_tele_operated_and_goes_to_the_grd_team() -> None:
    ctx = contexte(Segment.C4, amm=True)
    besoin = besoin_intervention(OperationTechnique.CESSATION, ChoixReleve.RELEVE_SPECIALE, ctx, TODAY + timedelta(days=5), REGLES)
    assert besoin is not None and besoin.mode != ModeIntervention.TELEOPERATION and besoin.planification_grd
    cmd = InterventionDemandeeV1(reference_affaire="AREF9", pds=ctx.pds, besoin=besoin, zone="Z01", compteur=ctx.compteur)
    decision = planification.recevoir_intervention(cmd, "VOLTA", CAL, TODAY)
    assert decision.etat.statut == StatutIntervention.DEMANDEE and decision.etat.planification_grd
    [evt] = decision.evenements
    assert not decision.candidats and isinstance(evt, InterventionStatutChangeV1) and evt.motif == planification.MOTIF_PLANIFICATION_GRD
    resa = ReservationCreneauV1(pds=ctx.pds, reference_affaire="AREF9", creneau_id="Z01-20261203-H0800-CR")
    verdict = planification.verifier_reservation(decision.etat, resa, "VOLTA", CAL, TODAY)
    assert isinstance(verdict, Refus) and verdict.code == "PLANIFICATION_PAR_LE_GRD"
    # The flag survives the store round trip.
    relue = planification.Intervention.from_doc(decision.etat.to_doc())
    assert relue is not None and relue.planification_grd


# --- Technical study concluded by the GRD; compte-rendu; intervention non réalisée ------------------------------------


def en_etude(mode: ModeIntervention = ModeIntervention.CRENEAU) -> planification.Intervention:
    """An intervention waiting for its technical study."""
    besoin = BesoinIntervention(
        mode=mode,
        operation=OperationTechnique.MODIFICATION,
        date_souhaitee=TODAY + timedelta(days=3),
        duree_minutes=45,
        augmentation_puissance_kva=6,
        puissance_cible_kva=9,
        etude_technique_requise=True,
    )
    cmd = InterventionDemandeeV1(reference_affaire="AREF1", pds="30000000000042EC1", besoin=besoin, zone="Z01", compteur=compteur("exterieur"))
    etat = planification.recevoir_intervention(cmd, "VOLTA", CAL, TODAY).etat
    assert etat.statut == StatutIntervention.ETUDE_TECHNIQUE
    return etat


def test_study_concluded_favourably_resumes_planning() -> None:
    decision = planification.conclure_etude(en_etude(), True, "Réseau suffisant", CAL, TODAY)
    assert decision is not None and decision.etat.statut == StatutIntervention.DEMANDEE
    [evt] = decision.evenements
    assert isinstance(evt, InterventionStatutChangeV1) and "Réseau suffisant" in (evt.motif or "")
    sans_presence = planification.conclure_etude(en_etude(ModeIntervention.PRESENCE_NON_OBLIGATOIRE), True, "OK", CAL, TODAY)
    assert sans_presence is not None and sans_presence.candidats  # a half-day is claimed at once
    assert planification.conclure_etude(decision.etat, True, "encore", CAL, TODAY) is None


def test_study_concluded_unfavourably_refuses_the_affaire() -> None:
    decision = planification.conclure_etude(en_etude(), False, "Renforcement du réseau nécessaire", CAL, TODAY)
    assert decision is not None and decision.etat.statut == StatutIntervention.ANNULEE
    [evt] = decision.evenements
    assert isinstance(evt, InterventionStatutChangeV1)
    # affaires: an affaire in étude technique whose intervention is cancelled is refused (annulée, motif kept)
    affaire = affaire_en_etude()
    suite = affaires.suivre_intervention(affaire, evt, AT)
    assert (suite.affaire.statut, suite.affaire.etat) == (StatutAffaire.ANNULEE, "refusee_etude_technique")
    [change] = suite.evenements
    assert isinstance(change, AffaireStatutChangeV1) and "Renforcement" in (change.motif or "")
    mail = notifications.decider(change, fournisseur="VOLTA", adresse_fournisseur="v@x", adresse_grd="g@x", suivi=notifications.SuiviAffaire())
    assert [m.modele for m in mail.mails] == ["affaire_annulee"] and "Renforcement" in mail.mails[0].contexte["motif"]


def affaire_en_etude() -> affaires.Affaire:
    """A modification affaire whose intervention waits for a technical study."""
    cmd = OuvertureAffaireDemandeeV1(
        reference_affaire="AREF1",
        type_affaire=TypeAffaire.MODIFICATION_CONTRAT,
        demande_message_id=uuid.uuid4(),
        pds="30000000000042EC1",
        intervention=BesoinIntervention(
            mode=ModeIntervention.CRENEAU,
            operation=OperationTechnique.MODIFICATION,
            date_souhaitee=TODAY,
            duree_minutes=45,
            etude_technique_requise=True,
        ),
        date_effet=TODAY,
        resume="Modification",
        contexte=contexte(),
    )
    affaire = affaires.ouvrir(cmd, "VOLTA", TODAY, AT).affaire
    etude = InterventionStatutChangeV1(
        reference_affaire="AREF1", pds=cmd.pds, statut=StatutIntervention.ETUDE_TECHNIQUE, mode=ModeIntervention.CRENEAU
    )
    return affaires.suivre_intervention(affaire, etude, AT).affaire


def test_study_concluded_favourably_is_mailed_once() -> None:
    suivi = notifications.SuiviAffaire(type_affaire="modification_contrat", jalons=("etude_technique",))
    change = AffaireStatutChangeV1(
        reference_affaire="AREF1",
        type_affaire=TypeAffaire.MODIFICATION_CONTRAT,
        pds="P",
        statut=StatutAffaire.EN_COURS,
        etat="en_attente_intervention",
        motif="Étude technique favorable : OK",
    )
    premiere = notifications.decider(change, fournisseur="VOLTA", adresse_fournisseur="v@x", adresse_grd="g@x", suivi=suivi)
    assert [m.modele for m in premiere.mails] == ["etude_technique_conclue"]
    again = notifications.decider(change, fournisseur="VOLTA", adresse_fournisseur="v@x", adresse_grd="g@x", suivi=premiere.suivi)
    assert again.mails == ()
    sans_etude = notifications.decider(change, fournisseur="VOLTA", adresse_fournisseur="v@x", adresse_grd="g@x", suivi=notifications.SuiviAffaire())
    assert sans_etude.mails == ()


def test_intervention_non_realisee_is_mailed_with_its_reason() -> None:
    evt = InterventionStatutChangeV1(
        reference_affaire="AREF1", pds="P", statut=StatutIntervention.NON_REALISEE, mode=ModeIntervention.CRENEAU, motif="Client absent"
    )
    decision = notifications.decider(evt, fournisseur="VOLTA", adresse_fournisseur="v@x", adresse_grd="g@x", suivi=notifications.SuiviAffaire())
    [mail] = decision.mails
    assert mail.modele == "intervention_non_realisee" and mail.contexte["motif"] == "Client absent"
    etat = en_etude()
    etat = dataclasses.replace(etat, statut=StatutIntervention.PLANIFIEE)
    non = planification.non_realisee(etat, InterventionNonRealiseeV1(reference_affaire="AREF1", pds="P", motif="Client absent"))
    assert non is not None
    [publie] = non.evenements
    assert isinstance(publie, InterventionStatutChangeV1) and publie.motif == "Client absent"


def test_compte_rendu_text_is_kept() -> None:
    etat = dataclasses.replace(en_etude(), statut=StatutIntervention.PLANIFIEE)
    msg = InterventionRealiseeV1(
        reference_affaire="AREF1",
        pds="P",
        date_realisation=TODAY,
        index=(IndexCadran(cadran="BASE", valeur=5),),
        compte_rendu="Disjoncteur réglé à 45 A",
    )
    decision = planification.realisee(etat, msg)
    assert decision is not None
    [evt] = decision.evenements
    assert isinstance(evt, InterventionStatutChangeV1) and evt.compte_rendu == "Disjoncteur réglé à 45 A"
    relue = planification.Intervention.from_doc(decision.etat.to_doc())
    assert relue is not None and relue.compte_rendu == "Disjoncteur réglé à 45 A"
    affaire = affaires.suivre_intervention(affaire_en_etude(), evt, AT).affaire
    assert affaire.compte_rendu is not None and affaire.compte_rendu.texte == "Disjoncteur réglé à 45 A"


# --- Libellé on demande diverse and intervention technique; requester on intervention technique -----------------------


def qualifiee_affaire(demande: Any, ctx: ContextePds) -> DemandeQualifieeV1:
    """A qualified demand of the titulaire."""
    return DemandeQualifieeV1(
        demande_message_id=uuid.uuid4(),
        demande_type=type(demande).__name__.removesuffix("V1"),
        demande=demande.model_dump(mode="json"),
        niveau_acces=NiveauAcces.TITULAIRE,
        contexte=ctx,
    )


def test_libelle_kept_and_requester_required_on_intervention_technique() -> None:
    ctx = contexte()
    diverse = DemandeDiverseV1(pds=ctx.pds, sous_type="information", libelle="Question index", observations="obs", date_souhaitee=TODAY)
    d = affaires.creer_demande_diverse(qualifiee_affaire(diverse, ctx), diverse, "VOLTA", TODAY, AT)
    assert isinstance(d, affaires.Decision) and d.affaire.generalites.libelle == "Question index"
    assert d.affaire.generalites.resume == "Question index"
    demandeur = Contact(nom="BERNARD", prenom="Anne", telephone="0145000000")
    tech = DemandeInterventionTechniqueV1(pds=ctx.pds, sous_type="releve_speciale", date_souhaitee=TODAY, libelle="Relève", demandeur=demandeur)
    t = affaires.creer_intervention_technique(qualifiee_affaire(tech, ctx), tech, "VOLTA", TODAY, AT)
    assert isinstance(t, affaires.Decision) and t.affaire.generalites.libelle == "Relève" and t.affaire.generalites.demandeur == demandeur
    sans_demandeur = tech.model_copy(update={"demandeur": None})
    r = affaires.creer_intervention_technique(qualifiee_affaire(sans_demandeur, ctx), sans_demandeur, "VOLTA", TODAY, AT)
    assert isinstance(r, affaires.Refus) and r.code == "DEMANDEUR_MANQUANT"


def test_refus_codes_keep_a_french_message() -> None:
    r = decider_demande(
        etat_pds(), qualifiee("DemandeCessation", sans(cessation(), "demandeur"), None, "titulaire"), "VOLTA", TODAY, Regles(res_connus=())
    )
    assert isinstance(r, Refus) and r.code == "DEMANDEUR_MANQUANT" and "demandeur" in r.message
    assert date(2026, 11, 30) == TODAY
