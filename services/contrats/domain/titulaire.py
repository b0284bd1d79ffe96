"""« Modifier un contrat (titulaire uniquement) »: the holder's contract a modification or a cessation applies to."""

from __future__ import annotations

from contracts.common import EtatContrat
from contracts.refus import CodeRefus, Refus
from services.contrats.domain.commun import Contrat, EtatPds, contrat_actif


def verifier_titulaire(etat: EtatPds, fournisseur: str) -> Refus | None:
    """NON_TITULAIRE: only the holder modifies or ceases a contract; OPERATION_EN_COURS while its own one is being subscribed."""
    actuel = contrat_actif(etat)
    if actuel is not None and actuel.titulaire == fournisseur:
        return None
    if any(c.titulaire == fournisseur and c.etat == EtatContrat.EN_COURS_DE_SOUSCRIPTION for c in etat.contrats):
        return Refus(
            CodeRefus.OPERATION_EN_COURS,
            "Votre contrat sur ce PDS est en cours de souscription : attendez sa mise en service pour le modifier ou le cesser.",
        )
    return Refus(CodeRefus.NON_TITULAIRE, "Vous n'êtes pas titulaire du contrat de ce PDS : seul le titulaire peut le modifier ou le cesser.")


def verifier_aucun_changement_en_cours(contrat: Contrat) -> Refus | None:
    """OPERATION_EN_COURS: one modification or cessation at a time (the pending one completes or is cancelled first)."""
    if contrat.etat != EtatContrat.EN_SERVICE:
        return Refus(
            CodeRefus.OPERATION_EN_COURS,
            "Une modification ou une cessation de ce contrat est déjà en cours : attendez son aboutissement ou annulez-la.",
        )
    return None


def contrat_du_titulaire(etat: EtatPds, fournisseur: str, *, pendant_un_changement: bool = False) -> Contrat | Refus:
    """The contract in force that `fournisseur` holds, or the refusal; `pendant_un_changement` accepts one with a change pending."""
    refus = verifier_titulaire(etat, fournisseur)
    if refus is not None:
        return refus
    actuel = contrat_actif(etat)
    assert actuel is not None
    refus = None if pendant_un_changement else verifier_aucun_changement_en_cours(actuel)
    return refus or actuel
