"""What a CF and a MES share (« la souscription d'un contrat par une MES ou un CF »): the level, one at a time, the new contract."""

from __future__ import annotations

from contracts.common import Contact, EtatContrat, NiveauAcces, ParametresBtPlus
from contracts.demandes import DemandeChangementFournisseurV1, DemandeMiseEnServiceV1
from contracts.refus import CodeRefus, Refus
from services.contrats.domain.commun import Contrat, EtatPds
from services.contrats.domain.contexte import ContexteDemande

#: The demands that subscribe a contract; both declare the contrat conclu inline.
Souscription = DemandeChangementFournisseurV1 | DemandeMiseEnServiceV1

_NIVEAUX = (NiveauAcces.AUCUN, NiveauAcces.MANDAT, NiveauAcces.CONTRAT_CONCLU, NiveauAcces.TITULAIRE)


def verifier_niveau_contrat_conclu(niveau: NiveauAcces) -> Refus | None:
    """NIVEAU_ACCES_INSUFFISANT: only the level « contrat conclu » may subscribe (CF or MES); a defensive re-check."""
    if _NIVEAUX.index(niveau) < _NIVEAUX.index(NiveauAcces.CONTRAT_CONCLU):
        return Refus(
            CodeRefus.NIVEAU_ACCES_INSUFFISANT,
            "La souscription exige le niveau « contrat conclu » : déclarez le contrat signé avec le client (référence et date).",
        )
    return None


def verifier_aucune_souscription_en_cours(etat: EtatPds) -> Refus | None:
    """SOUSCRIPTION_EN_COURS: one subscription at a time on a PDS (a second CF or MES waits for the first one's outcome)."""
    if any(c.etat == EtatContrat.EN_COURS_DE_SOUSCRIPTION for c in etat.contrats):
        return Refus(
            CodeRefus.SOUSCRIPTION_EN_COURS,
            "Une souscription est déjà en cours sur ce PDS : attendez son aboutissement ou son annulation avant d'en demander une autre.",
        )
    return None


def souscrire(
    etat: EtatPds,
    ctx: ContexteDemande[Souscription],
    *,
    service: str | None,
    puissance_souscrite_kva: float | None,
    usage: str | None,
    re_code: str | None,
    parametres_bt_plus: ParametresBtPlus | None,
    occupant: Contact | None,
) -> Contrat:
    """Add the supplier's new contract « en cours de souscription » to the PDS (with its contrat conclu and its affaire)."""
    nouveau = Contrat(
        id=f"CT-{etat.pds}-{len(etat.contrats) + 1}",
        titulaire=ctx.fournisseur,
        etat=EtatContrat.EN_COURS_DE_SOUSCRIPTION,
        service=service,
        puissance_souscrite_kva=puissance_souscrite_kva,
        usage=usage,
        re_code=re_code,
        parametres_bt_plus=parametres_bt_plus,
        occupant=occupant,
        contrat_conclu=ctx.demande.contrat_conclu,
        references_affaires=[ctx.reference],
    )
    etat.contrats.append(nouveau)
    return nouveau
