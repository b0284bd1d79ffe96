"""Rules of the affaires domain: opening, demands and their refusal codes, follow-up of interventions and contracts."""

import base64
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from contracts.base import WireModel
from contracts.common import (
    Contact,
    EtatContrat,
    IndexCadran,
    ModeIntervention,
    NatureReleve,
    NiveauAcces,
    OperationTechnique,
    PieceJointe,
    Releve,
    StatutAffaire,
    StatutIntervention,
    TypeAffaire,
)
from contracts.demandes import DemandeAnnulationV1, DemandeDiverseV1, DemandeInterventionTechniqueV1, DemandeReclamationV1
from contracts.evenements import (
    AffaireSoldeeV1,
    AffaireStatutChangeV1,
    AnnulationInterventionDemandeeV1,
    BesoinIntervention,
    ContextePds,
    ContratEtatChangeV1,
    DemandeAccepteeV1,
    DemandeQualifieeV1,
    InterventionDemandeeV1,
    InterventionStatutChangeV1,
    OuvertureAffaireDemandeeV1,
)
from contracts.references import reference_affaire
from services.affaires import domain
from services.affaires.domain import Affaire, Decision, Refus
from tests import builders
from tests.builders import contexte_pds

TODAY = date(2026, 11, 2)
AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
PDS = "30000000000042EC1"
LUMEN = "LUMEN"
VOLTA = "VOLTA"
TAILLE_MAX = 1000


def contexte(localisation: str = "exterieur", etat: str = "en_service") -> ContextePds:
    """The PDS snapshot of these tests (LUMEN's, zone Z02)."""
    return contexte_pds(PDS, zone="Z02", localisation=localisation, etat=etat)


def qualifiee(demande: WireModel, niveau: NiveauAcces = NiveauAcces.TITULAIRE, ctx: ContextePds | None = None) -> DemandeQualifieeV1:
    """A qualified demand around a supplier demand."""
    return builders.qualifiee(demande, ctx or contexte(), niveau=niveau)


def ouverture(
    type_affaire: TypeAffaire = TypeAffaire.CHANGEMENT_FOURNISSEUR,
    intervention: bool = True,
    date_effet: date | None = TODAY + timedelta(days=10),
) -> OuvertureAffaireDemandeeV1:
    """An OuvertureAffaireDemandee from contrats."""
    demande_id = uuid.uuid4()
    besoin = BesoinIntervention(
        mode=ModeIntervention.TELEOPERATION,
        operation=OperationTechnique.CHANGEMENT_FOURNISSEUR,
        date_souhaitee=TODAY + timedelta(days=10),
        duree_minutes=0,
    )
    return OuvertureAffaireDemandeeV1(
        reference_affaire=reference_affaire(demande_id),
        type_affaire=type_affaire,
        demande_message_id=demande_id,
        pds=PDS,
        contrat_id="CT-1",
        intervention=besoin if intervention else None,
        date_effet=date_effet,
        resume="Changement de fournisseur",
        contexte=contexte(),
    )


def types(decision: Decision) -> list[str]:
    """Names of the events of a decision."""
    return [type(e).__name__ for e in decision.evenements]


def decided(result: Decision | Refus | None) -> Decision:
    """The decision, failing the test on a refusal."""
    assert isinstance(result, Decision), result
    return result


def affaire_ouverte(type_affaire: TypeAffaire = TypeAffaire.CHANGEMENT_FOURNISSEUR, intervention: bool = True) -> Affaire:
    """A fresh contract affaire of LUMEN."""
    return domain.ouvrir(ouverture(type_affaire, intervention), LUMEN, TODAY, AT).affaire


def intervention(affaire: Affaire, statut: StatutIntervention, **kw: Any) -> InterventionStatutChangeV1:
    """An intervention state change of an affaire (in the mode it was asked in, unless told)."""
    mode = kw.pop("mode", affaire.programmation.mode if affaire.programmation else ModeIntervention.CRENEAU)
    return InterventionStatutChangeV1(reference_affaire=affaire.reference, pds=affaire.pds, statut=statut, mode=mode, **kw)


RELEVE = Releve(date_releve=TODAY, index=(IndexCadran(cadran="BASE", valeur=12345),), nature=NatureReleve.REELLE)


# --- ouverture -------------------------------------------------------------------------------------------------------


def test_ouverture_with_intervention_accepts_and_asks_planification() -> None:
    cmd = ouverture()
    decision = domain.ouvrir(cmd, LUMEN, TODAY, AT)
    assert types(decision) == ["DemandeAccepteeV1", "AffaireStatutChangeV1", "InterventionDemandeeV1", "AffaireStatutChangeV1"]
    acceptee = decision.evenements[0]
    assert isinstance(acceptee, DemandeAccepteeV1)
    assert acceptee.reference_affaire == cmd.reference_affaire
    assert acceptee.demande_type == "DemandeChangementFournisseur"
    assert "a été enregistrée sous la référence" in acceptee.message and cmd.reference_affaire in acceptee.message
    creee = decision.evenements[1]
    assert isinstance(creee, AffaireStatutChangeV1) and (creee.statut, creee.etat) == (StatutAffaire.EN_COURS, "creee")
    commande = decision.evenements[2]
    assert isinstance(commande, InterventionDemandeeV1)
    assert commande.zone == "Z02" and commande.compteur.reference == "CPT1"
    a = decision.affaire
    assert (a.statut, a.etat, a.fournisseur, a.annulable) == (StatutAffaire.EN_COURS, "en_attente_intervention", LUMEN, True)
    assert a.programmation is not None and a.programmation.statut == StatutIntervention.DEMANDEE
    assert len(a.prestations) == 1 and len(a.actions) == 2


@pytest.mark.parametrize(
    ("date_effet", "statut", "etat"),
    [
        (TODAY, StatutAffaire.TERMINEE, "terminee"),
        (TODAY - timedelta(days=1), StatutAffaire.TERMINEE, "terminee"),
        (None, StatutAffaire.TERMINEE, "terminee"),
        (TODAY + timedelta(days=1), StatutAffaire.EN_COURS, "en_attente_date_effet"),
    ],
)
def test_ouverture_without_intervention_depends_on_date_effet(date_effet: date | None, statut: StatutAffaire, etat: str) -> None:
    decision = domain.ouvrir(ouverture(TypeAffaire.MODIFICATION_RE, intervention=False, date_effet=date_effet), LUMEN, TODAY, AT)
    assert (decision.affaire.statut, decision.affaire.etat) == (statut, etat)
    assert "InterventionDemandeeV1" not in types(decision)
    dernier = decision.evenements[-1]
    assert isinstance(dernier, AffaireStatutChangeV1) and dernier.statut == statut


def test_ouverture_keeps_express_flag() -> None:
    cmd = ouverture().model_copy(update={"express": True})
    decision = domain.ouvrir(cmd, LUMEN, TODAY, AT)
    assert all(e.express for e in decision.evenements if isinstance(e, AffaireStatutChangeV1))


# --- demandes --------------------------------------------------------------------------------------------------------


def reclamation(contenu: bytes | None = None) -> DemandeReclamationV1:
    """A réclamation, with an attachment when content is given."""
    pj = None
    if contenu is not None:
        pj = {"nom": "photo.jpg", "type_mime": "image/jpeg", "contenu_base64": base64.b64encode(contenu).decode()}
    return DemandeReclamationV1.model_validate(
        {
            "pds": PDS,
            "sous_type": "qualite_fourniture",
            "nature": "coupures",
            "libelle": "Coupures répétées",
            "piece_jointe": pj,
            "demandeur": Contact(nom="MARTIN", prenom="Marie", telephone="0600000000").model_dump(),
        }
    )


def diverse(jours: int = 3) -> DemandeDiverseV1:
    """A demande diverse with a desired date `jours` days from today."""
    return DemandeDiverseV1(pds=PDS, sous_type="information", observations="Merci", date_souhaitee=TODAY + timedelta(days=jours))


def technique(jours: int = 3, sous_type: str = "releve_speciale") -> DemandeInterventionTechniqueV1:
    """An intervention technique request (a special reading: « présence non obligatoire » where the meter is accessible)."""
    return DemandeInterventionTechniqueV1(
        pds=PDS,
        sous_type=sous_type,
        date_souhaitee=TODAY + timedelta(days=jours),
        demandeur=Contact(nom="BERNARD", prenom="Anne", telephone="0145000000"),
    )


def decide_creation(demande: WireModel, q: DemandeQualifieeV1, fournisseur: str | None = LUMEN) -> Decision | Refus:
    """Run the creation rule of a demand."""
    if isinstance(demande, DemandeReclamationV1):
        return domain.creer_reclamation(q, demande, fournisseur, TAILLE_MAX, AT)
    if isinstance(demande, DemandeDiverseV1):
        return domain.creer_demande_diverse(q, demande, fournisseur, TODAY, AT)
    assert isinstance(demande, DemandeInterventionTechniqueV1)
    return domain.creer_intervention_technique(q, demande, fournisseur, TODAY, AT)


@pytest.mark.parametrize(
    ("demande", "type_affaire", "evenements"),
    [
        (reclamation(), TypeAffaire.RECLAMATION, ["DemandeAccepteeV1", "AffaireStatutChangeV1"]),
        (reclamation(b"x" * TAILLE_MAX), TypeAffaire.RECLAMATION, ["DemandeAccepteeV1", "AffaireStatutChangeV1"]),
        (diverse(0), TypeAffaire.DEMANDE_DIVERSE, ["DemandeAccepteeV1", "AffaireStatutChangeV1"]),
        (
            technique(),
            TypeAffaire.INTERVENTION_TECHNIQUE,
            ["DemandeAccepteeV1", "AffaireStatutChangeV1", "InterventionDemandeeV1", "AffaireStatutChangeV1"],
        ),
    ],
)
def test_demand_opens_affaire_with_reference_from_demand_id(demande: WireModel, type_affaire: TypeAffaire, evenements: list[str]) -> None:
    q = qualifiee(demande)
    decision = decided(decide_creation(demande, q))
    assert decision.affaire.reference == reference_affaire(q.demande_message_id)
    assert decision.affaire.type_affaire == type_affaire
    assert types(decision) == evenements
    acceptee = decision.evenements[0]
    assert isinstance(acceptee, DemandeAccepteeV1) and acceptee.demande_message_id == q.demande_message_id


@pytest.mark.parametrize(
    ("demande", "niveau", "fournisseur", "code"),
    [
        (reclamation(b"x" * (TAILLE_MAX + 1)), NiveauAcces.TITULAIRE, LUMEN, "PIECE_JOINTE_TROP_VOLUMINEUSE"),
        (diverse(-1), NiveauAcces.TITULAIRE, LUMEN, "DATE_SOUHAITEE_PASSEE"),
        (technique(-1), NiveauAcces.TITULAIRE, LUMEN, "DATE_SOUHAITEE_PASSEE"),
        (reclamation(), NiveauAcces.MANDAT, LUMEN, "NIVEAU_ACCES_INSUFFISANT"),
        (diverse(), NiveauAcces.CONTRAT_CONCLU, LUMEN, "NIVEAU_ACCES_INSUFFISANT"),
        (technique(), NiveauAcces.AUCUN, LUMEN, "NIVEAU_ACCES_INSUFFISANT"),
        (technique(), NiveauAcces.TITULAIRE, None, "FOURNISSEUR_ABSENT"),
    ],
)
def test_demand_refusals(demande: WireModel, niveau: NiveauAcces, fournisseur: str | None, code: str) -> None:
    refus = decide_creation(demande, qualifiee(demande, niveau), fournisseur)
    assert isinstance(refus, Refus) and refus.code == code and refus.message


def test_reclamation_with_invalid_base64_is_refused() -> None:
    pj = PieceJointe(nom="a.pdf", type_mime="application/pdf", contenu_base64="@@@")
    d = reclamation().model_copy(update={"piece_jointe": pj})
    refus = domain.creer_reclamation(qualifiee(d), d, LUMEN, TAILLE_MAX, AT)
    assert isinstance(refus, Refus) and refus.code == "PIECE_JOINTE_INVALIDE"


def test_reclamation_attachment_is_kept_apart_with_its_metadata() -> None:
    d = reclamation(b"hello")
    decision = decided(domain.creer_reclamation(qualifiee(d), d, LUMEN, TAILLE_MAX, AT))
    assert decision.piece_jointe is not None and decision.piece_jointe.contenu == b"hello"
    info = decision.affaire.generalites.piece_jointe
    assert info is not None and info.taille_octets == 5 and info.nom == "photo.jpg"
    assert decision.affaire.generalites.demandeur is not None


def test_unreadable_qualified_demand_is_refused_and_others_are_ignored() -> None:
    q = qualifiee(diverse()).model_copy(update={"demande": {"pds": PDS}})
    refus = domain.lire_demande(q)
    assert isinstance(refus, Refus) and refus.code == "MESSAGE_INVALIDE"
    assert domain.lire_demande(q.model_copy(update={"demande_type": "DemandeChangementFournisseur"})) is None
    assert isinstance(domain.lire_demande(qualifiee(technique())), DemandeInterventionTechniqueV1)


@pytest.mark.parametrize(
    ("localisation", "etat", "mode", "duree"),
    [
        # The fixture's meter is télérelevé: a reading needs nobody even indoors (« compteur extérieur ou téléreport »).
        ("interieur", "en_service", ModeIntervention.PRESENCE_NON_OBLIGATOIRE, domain.DUREE_DEMI_JOURNEE_MINUTES),
        ("exterieur", "resilie", ModeIntervention.CRENEAU, domain.DUREE_CRENEAU_MINUTES),
        ("interieur", "resilie", ModeIntervention.CRENEAU, domain.DUREE_CRENEAU_MINUTES),
        ("exterieur", "en_service", ModeIntervention.PRESENCE_NON_OBLIGATOIRE, domain.DUREE_DEMI_JOURNEE_MINUTES),
    ],
)
def test_intervention_technique_mode(localisation: str, etat: str, mode: ModeIntervention, duree: int) -> None:
    d = technique()
    decision = decided(domain.creer_intervention_technique(qualifiee(d, ctx=contexte(localisation, etat)), d, LUMEN, TODAY, AT))
    commande = next(e for e in decision.evenements if isinstance(e, InterventionDemandeeV1))
    assert commande.besoin.mode == mode and commande.besoin.duree_minutes == duree
    assert commande.besoin.operation == OperationTechnique.INTERVENTION_TECHNIQUE
    assert decision.affaire.etat == "en_attente_intervention"


# --- annulation ------------------------------------------------------------------------------------------------------


def annulation(reference: str) -> tuple[DemandeQualifieeV1, DemandeAnnulationV1]:
    """An annulation demand of an affaire."""
    d = DemandeAnnulationV1(pds=PDS, reference_affaire=reference, motif="Demandée à tort")
    return qualifiee(d), d


def test_annulation_of_own_affaire_cancels_it_and_its_intervention() -> None:
    affaire = affaire_ouverte()
    q, d = annulation(affaire.reference)
    decision = decided(domain.annuler(affaire, q, d, LUMEN, AT))
    assert (decision.affaire.statut, decision.affaire.etat, decision.affaire.annulable) == (
        StatutAffaire.ANNULEE,
        "annulee",
        False,
    )
    assert types(decision) == ["AffaireStatutChangeV1", "AnnulationInterventionDemandeeV1", "DemandeAccepteeV1"]
    acceptee = decision.evenements[-1]
    assert isinstance(acceptee, DemandeAccepteeV1)
    assert acceptee.reference_affaire == affaire.reference and acceptee.demande_message_id == q.demande_message_id
    assert isinstance(decision.evenements[1], AnnulationInterventionDemandeeV1)


def test_annulation_without_intervention_asks_no_intervention_cancellation() -> None:
    d = diverse()
    affaire = decided(domain.creer_demande_diverse(qualifiee(d), d, LUMEN, TODAY, AT)).affaire
    q, da = annulation(affaire.reference)
    assert types(decided(domain.annuler(affaire, q, da, LUMEN, AT))) == ["AffaireStatutChangeV1", "DemandeAccepteeV1"]


def _realisee() -> Affaire:
    affaire = affaire_ouverte()
    return domain.suivre_intervention(affaire, intervention(affaire, StatutIntervention.REALISEE, date_realisation=TODAY), AT).affaire


def _terminee() -> Affaire:
    return domain.ouvrir(ouverture(TypeAffaire.MODIFICATION_RE, intervention=False, date_effet=TODAY), LUMEN, TODAY, AT).affaire


def _annulee() -> Affaire:
    affaire = affaire_ouverte()
    q, d = annulation(affaire.reference)
    return decided(domain.annuler(affaire, q, d, LUMEN, AT)).affaire


@pytest.mark.parametrize(
    ("affaire", "fournisseur", "code"),
    [
        (None, LUMEN, "AFFAIRE_INCONNUE"),
        (affaire_ouverte(), VOLTA, "AFFAIRE_AUTRE_FOURNISSEUR"),
        (affaire_ouverte(), None, "AFFAIRE_AUTRE_FOURNISSEUR"),
        (_realisee(), LUMEN, "AFFAIRE_NON_ANNULABLE"),
        (_terminee(), LUMEN, "AFFAIRE_NON_ANNULABLE"),
        (_annulee(), LUMEN, "AFFAIRE_NON_ANNULABLE"),
    ],
)
def test_annulation_refusals(affaire: Affaire | None, fournisseur: str | None, code: str) -> None:
    q, d = annulation(affaire.reference if affaire else "AINCONNUE1")
    refus = domain.annuler(affaire, q, d, fournisseur, AT)
    assert isinstance(refus, Refus) and refus.code == code and refus.message


# --- suivi -----------------------------------------------------------------------------------------------------------


def test_failed_teleoperation_moves_the_affaire_to_a_planifier_with_an_event() -> None:
    affaire = affaire_ouverte()
    assert affaire.programmation is not None and affaire.programmation.mode == ModeIntervention.TELEOPERATION
    motif = "Télé-opération impossible après 3 tentative(s) (compteur injoignable)"
    decision = domain.suivre_intervention(affaire, intervention(affaire, StatutIntervention.DEMANDEE, mode=ModeIntervention.CRENEAU, motif=motif), AT)
    assert decision.affaire.etat == "a_planifier" and decision.affaire.statut == StatutAffaire.EN_COURS and decision.affaire.annulable
    [evt] = decision.evenements
    assert isinstance(evt, AffaireStatutChangeV1) and evt.etat == "a_planifier" and evt.motif == motif


@pytest.mark.parametrize(
    ("statut", "etat", "emits"),
    [
        (StatutIntervention.PLANIFIEE, "intervention_planifiee", True),
        (StatutIntervention.ETUDE_TECHNIQUE, "etude_technique", True),
        (StatutIntervention.NON_REALISEE, "intervention_non_realisee", True),
        (StatutIntervention.ANNULEE, "intervention_annulee", True),
        (StatutIntervention.DEMANDEE, "en_attente_intervention", False),
        (StatutIntervention.REALISEE, "intervention_realisee", True),
    ],
)
def test_intervention_states_of_contract_affaire(statut: StatutIntervention, etat: str, emits: bool) -> None:
    affaire = affaire_ouverte()
    decision = domain.suivre_intervention(affaire, intervention(affaire, statut, motif="raison"), AT)
    assert decision.affaire.etat == etat and decision.affaire.statut == StatutAffaire.EN_COURS
    assert decision.affaire.programmation is not None and decision.affaire.programmation.statut == statut
    assert len(decision.affaire.actions) == len(affaire.actions) + 1
    assert types(decision) == (["AffaireStatutChangeV1"] if emits else [])


def test_planned_intervention_fills_programmation() -> None:
    affaire = affaire_ouverte()
    debut = datetime(2026, 11, 12, 8, tzinfo=UTC)
    evt = intervention(affaire, StatutIntervention.PLANIFIEE, creneau_id="Z02-1", debut=debut, fin=debut + timedelta(hours=1))
    prog = domain.suivre_intervention(affaire, evt, AT).affaire.programmation
    assert prog is not None and (prog.creneau_id, prog.debut) == ("Z02-1", debut)
    assert "12/11/2026" in domain.suivre_intervention(affaire, evt, AT).affaire.actions[-1].libelle


def test_realised_intervention_fills_compte_rendu_and_releve_and_is_no_longer_cancellable() -> None:
    affaire = affaire_ouverte()
    evt = intervention(affaire, StatutIntervention.REALISEE, date_realisation=TODAY, releve=RELEVE)
    a = domain.suivre_intervention(affaire, evt, AT).affaire
    assert a.compte_rendu is not None and a.compte_rendu.date_realisation == TODAY
    assert a.releve == RELEVE and a.annulable is False


def test_realised_intervention_technique_ends_the_affaire() -> None:
    d = technique()
    affaire = decided(domain.creer_intervention_technique(qualifiee(d), d, LUMEN, TODAY, AT)).affaire
    decision = domain.suivre_intervention(affaire, intervention(affaire, StatutIntervention.REALISEE, date_realisation=TODAY), AT)
    assert (decision.affaire.statut, decision.affaire.etat) == (StatutAffaire.TERMINEE, "terminee")
    assert types(decision) == ["AffaireStatutChangeV1"]


def test_intervention_event_on_cancelled_affaire_only_records_history() -> None:
    affaire = _annulee()
    decision = domain.suivre_intervention(affaire, intervention(affaire, StatutIntervention.ANNULEE), AT)
    assert decision.affaire.statut == StatutAffaire.ANNULEE and decision.evenements == []
    assert len(decision.affaire.actions) == len(affaire.actions) + 1


def contrat(affaire: Affaire, etat: EtatContrat, titulaire: str = LUMEN, pds: str = PDS) -> ContratEtatChangeV1:
    """A contract state change caused by an affaire."""
    return ContratEtatChangeV1(contrat_id="CT-1", pds=pds, titulaire=titulaire, etat=etat, reference_affaire=affaire.reference, date_effet=TODAY)


@pytest.mark.parametrize(
    ("type_affaire", "etat", "titulaire", "pds", "termine"),
    [
        (TypeAffaire.CHANGEMENT_FOURNISSEUR, EtatContrat.EN_SERVICE, LUMEN, PDS, True),
        (TypeAffaire.CHANGEMENT_FOURNISSEUR, EtatContrat.CESSE, VOLTA, PDS, False),
        (TypeAffaire.CHANGEMENT_FOURNISSEUR, EtatContrat.EN_SERVICE, VOLTA, PDS, False),
        (TypeAffaire.CHANGEMENT_FOURNISSEUR, EtatContrat.EN_SERVICE, LUMEN, "39999999999999EC1", False),
        (TypeAffaire.CHANGEMENT_FOURNISSEUR, EtatContrat.EN_COURS_DE_SOUSCRIPTION, LUMEN, PDS, False),
        (TypeAffaire.MISE_EN_SERVICE, EtatContrat.EN_SERVICE, LUMEN, PDS, True),
        (TypeAffaire.MODIFICATION_CONTRAT, EtatContrat.EN_SERVICE, LUMEN, PDS, True),
        (TypeAffaire.CESSATION, EtatContrat.CESSE, LUMEN, PDS, True),
        (TypeAffaire.CESSATION, EtatContrat.EN_SERVICE, LUMEN, PDS, False),
    ],
)
def test_contract_final_state_ends_contract_affaire(type_affaire: TypeAffaire, etat: EtatContrat, titulaire: str, pds: str, termine: bool) -> None:
    affaire = affaire_ouverte(type_affaire)
    decision = domain.suivre_contrat(affaire, contrat(affaire, etat, titulaire, pds), AT)
    if not termine:
        assert decision is None
        return
    assert decision is not None
    assert (decision.affaire.statut, decision.affaire.etat) == (StatutAffaire.TERMINEE, "terminee")
    assert types(decision) == ["AffaireStatutChangeV1"]


def test_contract_event_after_end_changes_nothing() -> None:
    affaire = _terminee()
    assert domain.suivre_contrat(affaire, contrat(affaire, EtatContrat.EN_SERVICE), AT) is None


@pytest.mark.parametrize(
    ("affaire", "solde"),
    [(affaire_ouverte(), True), (_terminee(), True), (_annulee(), False)],
)
def test_affaire_soldee(affaire: Affaire, solde: bool) -> None:
    evt = AffaireSoldeeV1(reference_affaire=affaire.reference, pds=PDS, commentaire="Dossier clos")
    decision = domain.solder(affaire, evt, AT)
    if not solde:
        assert decision is None
        return
    assert decision is not None
    assert (decision.affaire.statut, decision.affaire.etat) == (StatutAffaire.TERMINEE, "soldee")
    assert domain.solder(decision.affaire, evt, AT) is None


def test_affaire_round_trips_through_its_stored_form() -> None:
    affaire = _realisee()
    assert Affaire.model_validate({"_id": affaire.reference, **affaire.model_dump(mode="json")}) == affaire
