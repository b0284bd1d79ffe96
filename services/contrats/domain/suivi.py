"""Completion of accepted changes from the affaires' and interventions' news: réalisée, annulée, soldée."""

from __future__ import annotations

from datetime import date

from contracts.common import EtatContrat, EvenementC15, OperationTechnique, Releve
from services.contrats.domain.commun import ACTIFS, Changement, Contrat, Decision, Effet, EtatPds, changement_de, contrat_par_id
from services.contrats.domain.echeances import recalculer_echeance
from services.contrats.domain.evenements import etat_change, flux_c15
from services.contrats.domain.releve import estimer_index


def realiser(etat: EtatPds, reference: str, date_effet: date | None, releve: Releve | None) -> Decision | None:
    """Make a pending change effective (intervention done or date d'effet reached); None when nothing is pending for it."""
    if changement_de(etat, reference) is None:
        return None
    etat = etat.model_copy(deep=True)
    changement = changement_de(etat, reference)
    assert changement is not None
    quand = date_effet or changement.date_effet
    releve = releve or changement.releve or estimer_index(changement.estimation_base, quand)
    avant = etat.derniere_releve
    etat.changements = [c for c in etat.changements if c.reference_affaire != reference]
    contrat = contrat_par_id(etat, changement.contrat_id)
    effets: list[Effet] = []
    if contrat is None:
        recalculer_echeance(etat)
        return Decision(etat, effets)
    op = changement.operation
    if op in (OperationTechnique.CHANGEMENT_FOURNISSEUR, OperationTechnique.MISE_EN_SERVICE):
        effets += _entree(etat, changement, contrat, quand, avant, releve)
    elif op == OperationTechnique.CESSATION:
        contrat.etat = EtatContrat.CESSE
        contrat.date_fin = quand
        effets.append(etat_change(etat, contrat, reference, quand, releve))
        effets.append(flux_c15(etat, EvenementC15.RES, contrat, reference, quand, avant, releve))
    else:
        contrat.etat = EtatContrat.EN_SERVICE
        contrat.service = changement.service or contrat.service
        contrat.puissance_souscrite_kva = changement.puissance_souscrite_kva or contrat.puissance_souscrite_kva
        contrat.usage = changement.usage or contrat.usage
        contrat.parametres_bt_plus = changement.parametres_bt_plus or contrat.parametres_bt_plus
        effets.append(etat_change(etat, contrat, reference, quand, releve))
    if releve is not None:
        etat.derniere_releve = releve
    recalculer_echeance(etat)
    return Decision(etat, effets)


def _entree(etat: EtatPds, changement: Changement, contrat: Contrat, quand: date, avant: Releve | None, releve: Releve | None) -> list[Effet]:
    """A CF or MES takes effect: the new contract enters (CFNE/MES) and the one in force ends that day (CFNS/RES)."""
    reference = changement.reference_affaire
    cf = changement.operation == OperationTechnique.CHANGEMENT_FOURNISSEUR
    if cf:
        precedent = contrat_par_id(etat, changement.contrat_precedent_id)
    else:
        # The occupant changes: whoever is in force now (even a contract subscribed since the demand) ends that day.
        precedent = next((c for c in etat.contrats if c.etat in ACTIFS and c.id != contrat.id), None)
    contrat.etat = EtatContrat.EN_SERVICE
    contrat.date_debut = quand
    entree = EvenementC15.CFNE if cf else EvenementC15.MES
    effets = [etat_change(etat, contrat, reference, quand, releve), flux_c15(etat, entree, contrat, reference, quand, avant, releve)]
    if precedent is not None and precedent.etat in ACTIFS:
        precedent.etat = EtatContrat.CESSE
        precedent.date_fin = quand
        # Pending changes of the ended contract can no longer happen.
        etat.changements = [c for c in etat.changements if c.contrat_id != precedent.id]
        effets.append(etat_change(etat, precedent, reference, quand, releve))
        effets.append(flux_c15(etat, EvenementC15.CFNS if cf else EvenementC15.RES, precedent, reference, quand, avant, releve))
    return effets


def annuler(etat: EtatPds, reference: str) -> Decision | None:
    """The affaire was cancelled: drop its pending change (a subscription is annulée, a modification/cessation undone)."""
    changement = changement_de(etat, reference)
    if changement is None and reference not in etat.cf_non_soldees:
        return None
    etat = etat.model_copy(deep=True)
    etat.cf_non_soldees.pop(reference, None)
    etat.changements = [c for c in etat.changements if c.reference_affaire != reference]
    recalculer_echeance(etat)
    effets: list[Effet] = []
    contrat = contrat_par_id(etat, changement.contrat_id) if changement else None
    if changement is not None and contrat is not None:
        if contrat.etat == EtatContrat.EN_COURS_DE_SOUSCRIPTION:
            contrat.etat = EtatContrat.ANNULE
            effets.append(etat_change(etat, contrat, reference, None))
        elif contrat.etat in (EtatContrat.EN_COURS_DE_MODIFICATION, EtatContrat.EN_COURS_DE_CESSATION):
            contrat.etat = EtatContrat.EN_SERVICE
            effets.append(etat_change(etat, contrat, reference, None))
    return Decision(etat, effets)


def solder(etat: EtatPds, reference: str) -> Decision | None:
    """The affaire is terminée: a CF affaire becomes soldée, so power or tariff changes are accepted again."""
    if reference not in etat.cf_non_soldees:
        return None
    etat = etat.model_copy(deep=True)
    etat.cf_non_soldees.pop(reference)
    return Decision(etat, [])
