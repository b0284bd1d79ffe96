"""ONGLET INTERVENTION of the guide: the "next step" logic (which intervention, if any), tele-operation and the requester."""

from __future__ import annotations

from datetime import date
from typing import Any

from contracts.common import ChoixReleve, Contact, EtatContractuelPds, ModaliteIntervention, ModeIntervention, OperationTechnique
from contracts.evenements import BesoinIntervention, ContextePds
from contracts.programmation import mode_rendez_vous, planification_libre_service
from contracts.refus import REFUS_DEMANDEUR_MANQUANT, CodeRefus, Refus
from services.contrats.domain.commun import Contractuelle, Regles, premier
from services.contrats.domain.contexte import ContexteDemande


def besoin_intervention(
    operation: OperationTechnique,
    choix: ChoixReleve,
    contexte: ContextePds,
    date_souhaitee: date,
    regles: Regles,
    *,
    equipement_change: bool = False,
    augmentation_kva: float = 0.0,
    puissance_cible_kva: float | None = None,
    etude_technique: bool = False,
    modalite: ModaliteIntervention | None = None,
    configuration: str | None = None,
) -> BesoinIntervention | None:
    """The "next step" logic: which intervention, if any, the change needs on the installation."""
    compteur = contexte.compteur
    duree = regles.durees_minutes.get(operation.value, 30)
    en_service = contexte.etat == EtatContractuelPds.EN_SERVICE
    libre_service = planification_libre_service(contexte.segment)
    releve_seule = not (equipement_change or etude_technique or (operation == OperationTechnique.MISE_EN_SERVICE and not en_service))
    rendez_vous = mode_rendez_vous(en_service=en_service, compteur=compteur, releve_seule=releve_seule)
    commun: dict[str, Any] = {
        "operation": operation,
        "date_souhaitee": date_souhaitee,
        "planification_grd": not libre_service,
        "modalite": modalite,
        "configuration": configuration,
    }
    teleoperable = compteur.amm and compteur.teleoperable and libre_service
    # A power change on a communicating meter is a new breaker setting sent by tele-operation (the most common Linky
    # TO), unless it needs a technical study or new equipment on site.
    changement_puissance_a_distance = (
        operation == OperationTechnique.MODIFICATION and puissance_cible_kva is not None and not etude_technique and not equipement_change
    )
    if teleoperable and (
        changement_puissance_a_distance
        or operation in (OperationTechnique.CHANGEMENT_FOURNISSEUR, OperationTechnique.MISE_EN_SERVICE, OperationTechnique.CESSATION)
    ):
        return BesoinIntervention(
            mode=ModeIntervention.TELEOPERATION, duree_minutes=0, mode_repli=rendez_vous, puissance_cible_kva=puissance_cible_kva, **commun
        )
    necessaire = (
        choix == ChoixReleve.RELEVE_SPECIALE
        or (operation == OperationTechnique.MISE_EN_SERVICE and not en_service)
        or equipement_change
        or etude_technique
    )
    if not necessaire:
        return None
    return BesoinIntervention(
        mode=rendez_vous,
        duree_minutes=duree,
        augmentation_puissance_kva=max(0.0, augmentation_kva),
        puissance_cible_kva=puissance_cible_kva,
        etude_technique_requise=etude_technique,
        **commun,
    )


def verifier_demandeur(demandeur: Contact | None) -> Refus | None:
    """DEMANDEUR_MANQUANT: « il est impératif de saisir l'intégralité des coordonnées personnelles du demandeur »."""
    return REFUS_DEMANDEUR_MANQUANT if demandeur is None else None


def par_teleoperation(besoin: BesoinIntervention | None) -> bool:
    """True when the change is done remotely on an AMM meter (a TO), without a technician."""
    return besoin is not None and besoin.mode == ModeIntervention.TELEOPERATION


def verifier_modalite_teleoperation(besoin: BesoinIntervention | None, demande: Contractuelle) -> Refus | None:
    """MODALITE_INTERVENTION_MANQUANTE: on an AMM meter done by TO the supplier chooses « standard ou urgent »."""
    if par_teleoperation(besoin) and demande.modalite_intervention is None:
        return Refus(
            CodeRefus.MODALITE_INTERVENTION_MANQUANTE,
            "Ce compteur communicant est télé-opéré : indiquez la modalité d'intervention « standard » ou « urgent ».",
        )
    return None


def verifier_configuration_teleoperation(besoin: BesoinIntervention | None, demande: Contractuelle) -> Refus | None:
    """CONFIGURATION_MANQUANTE: a CF done by TO says « la configuration demandée » of the meter."""
    if par_teleoperation(besoin) and demande.configuration_demandee is None:
        return Refus(
            CodeRefus.CONFIGURATION_MANQUANTE,
            "Pour un changement de fournisseur par télé-opération, indiquez la configuration demandée du compteur.",
        )
    return None


def verifier_teleoperation(besoin: BesoinIntervention | None, d: Contractuelle, *, cf: bool) -> Refus | None:
    """On an AMM meter done by tele-operation the supplier chooses « standard ou urgent » (and, for a CF, the configuration)."""
    return premier(verifier_modalite_teleoperation(besoin, d), verifier_configuration_teleoperation(besoin, d) if cf else None)


def etape_suivante(operation: OperationTechnique, ctx: ContexteDemande[Contractuelle], regles: Regles) -> BesoinIntervention | Refus | None:
    """The next step of a CF, MES or cessation: the intervention its relève choice and the meter need (None: none), or the
    refusal of a tele-operation the demand gives no modality (or, for a CF, no configuration) for."""
    d = ctx.demande
    besoin = besoin_intervention(
        operation,
        d.choix_releve,
        ctx.pds,
        d.date_effet_souhaitee,
        regles,
        modalite=d.modalite_intervention,
        configuration=d.configuration_demandee,
    )
    return verifier_teleoperation(besoin, d, cf=operation == OperationTechnique.CHANGEMENT_FOURNISSEUR) or besoin
