"""PROCESSUS DE CHANGEMENT DE FOURNISSEUR: same occupant, a contract in force held by another supplier, iso service and power."""

from __future__ import annotations

from contracts.common import OperationTechnique, TypeAffaire
from contracts.demandes import DemandeChangementFournisseurV1
from contracts.refus import CodeRefus, Refus
from services.contrats.domain.commun import Contrat, Decision, EtatPds, Regles, contrat_actif, premier
from services.contrats.domain.contexte import ContexteDemande
from services.contrats.domain.date_effet import verifier_date_effet
from services.contrats.domain.echeances import planifier
from services.contrats.domain.intervention import etape_suivante, verifier_demandeur
from services.contrats.domain.parametres import (
    re_par_defaut,
    verifier_parametres_bt_plus,
    verifier_re_indique_bt_plus,
    verifier_re_retenu,
)
from services.contrats.domain.releve import verifier_releve
from services.contrats.domain.souscription import souscrire, verifier_aucune_souscription_en_cours, verifier_niveau_contrat_conclu


def verifier_occupant_inchange(demande: DemandeChangementFournisseurV1) -> Refus | None:
    """CF_CHANGEMENT_OCCUPANT: « peut être demandée lorsque l'occupant du PDS ne change pas. Si l'occupant change, il faut faire
    une demande de Mise en Service »."""
    if demande.changement_occupant:
        return Refus(
            CodeRefus.CF_CHANGEMENT_OCCUPANT,
            "L'occupant change : un changement de fournisseur n'est pas possible, faites une demande de mise en service.",
        )
    return None


def verifier_pas_deja_titulaire(actuel: Contrat | None, fournisseur: str) -> Refus | None:
    """CF_DEJA_TITULAIRE: a supplier does not change to itself."""
    if actuel is not None and actuel.titulaire == fournisseur:
        return Refus(
            CodeRefus.CF_DEJA_TITULAIRE,
            "Vous êtes déjà titulaire du contrat de ce PDS : aucun changement de fournisseur n'est nécessaire.",
        )
    return None


def verifier_contrat_en_service(actuel: Contrat | None) -> Refus | None:
    """CF_PDS_SANS_CONTRAT: a CF takes over a contract in force; a PDS without one is a mise en service."""
    if actuel is None:
        return Refus(
            CodeRefus.CF_PDS_SANS_CONTRAT,
            "Ce PDS n'a pas de contrat en service : un changement de fournisseur est impossible, faites une mise en service.",
        )
    return None


def verifier_iso(demande: DemandeChangementFournisseurV1, actuel: Contrat) -> Refus | None:
    """CF_NON_ISO: « les Puissances Souscrites du contrat précédent sont reprises »; a change of power or tariff is « 1 demande
    de modification de PS » once the CF is soldée. Values unknown on either side are not compared."""
    non_iso = (demande.service is not None and actuel.service is not None and demande.service != actuel.service) or (
        demande.puissance_souscrite_kva is not None
        and actuel.puissance_souscrite_kva is not None
        and demande.puissance_souscrite_kva != actuel.puissance_souscrite_kva
    )
    if non_iso:
        return Refus(
            CodeRefus.CF_NON_ISO,
            f"Un changement de fournisseur reprend le service ({actuel.service}) et la puissance souscrite "
            f"({actuel.puissance_souscrite_kva} kVA) du contrat en cours : un changement de puissance ou de tarif est une "
            "seconde demande, acceptée une fois l'affaire de changement de fournisseur soldée.",
        )
    return None


def changement_fournisseur(etat: EtatPds, ctx: ContexteDemande[DemandeChangementFournisseurV1], regles: Regles) -> Decision | Refus:
    """Decide a CF: every check in the guide's order, then the new contract « en cours de souscription » and its affaire."""
    d = ctx.demande
    actuel = contrat_actif(etat)
    refus = premier(
        verifier_niveau_contrat_conclu(ctx.niveau_acces),
        verifier_occupant_inchange(d),
        verifier_pas_deja_titulaire(actuel, ctx.fournisseur),
        verifier_contrat_en_service(actuel),
        verifier_aucune_souscription_en_cours(etat),
        verifier_demandeur(d.demandeur),
    )
    if refus:
        return refus
    assert actuel is not None
    re_code = d.re_code or re_par_defaut(ctx.fournisseur, etat.segment, regles)
    refus = premier(
        verifier_iso(d, actuel),
        verifier_parametres_bt_plus(etat.segment, d.parametres_bt_plus),
        verifier_re_indique_bt_plus(d.re_code, etat.segment),
        verifier_re_retenu(re_code, etat.segment, regles),
        verifier_date_effet(d.date_effet_souhaitee, ctx.jour, regles, cf=True),
        verifier_releve(d, etat.segment),
    )
    if refus:
        return refus
    besoin = etape_suivante(OperationTechnique.CHANGEMENT_FOURNISSEUR, ctx, regles)
    if isinstance(besoin, Refus):
        return besoin
    # « L'occupant est automatiquement initialisé. Merci de compléter les coordonnées téléphoniques de l'occupant. »
    occupant_base = actuel.occupant or ctx.pds.occupant
    occupant = occupant_base.model_copy(update={"telephone": d.telephones[0]}) if occupant_base else None
    nouveau = souscrire(
        etat,
        ctx,
        service=actuel.service,
        puissance_souscrite_kva=actuel.puissance_souscrite_kva,
        usage=actuel.usage,
        re_code=re_code,
        parametres_bt_plus=d.parametres_bt_plus or actuel.parametres_bt_plus,
        occupant=occupant,
    )
    etat.cf_non_soldees[ctx.reference] = ctx.fournisseur
    resume = f"Changement de fournisseur au {d.date_effet_souhaitee:%d/%m/%Y} ({actuel.titulaire} → {ctx.fournisseur})"
    return planifier(
        etat,
        ctx,
        TypeAffaire.CHANGEMENT_FOURNISSEUR,
        OperationTechnique.CHANGEMENT_FOURNISSEUR,
        nouveau,
        besoin,
        resume,
        contrat_precedent_id=actuel.id,
    )
