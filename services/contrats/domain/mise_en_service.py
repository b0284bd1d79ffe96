"""PROCESSUS DE MISE EN SERVICE: a new occupant's contract, « étapes identiques à celles du changement de fournisseur »."""

from __future__ import annotations

from contracts.common import OperationTechnique, TypeAffaire
from contracts.demandes import DemandeMiseEnServiceV1
from contracts.refus import Refus
from services.contrats.domain.commun import Decision, EtatPds, Regles, contrat_actif, premier
from services.contrats.domain.contexte import ContexteDemande
from services.contrats.domain.date_effet import verifier_date_effet
from services.contrats.domain.echeances import planifier
from services.contrats.domain.intervention import etape_suivante, verifier_demandeur
from services.contrats.domain.parametres import verifier_parametres_bt_plus, verifier_puissance_du_segment, verifier_re
from services.contrats.domain.releve import verifier_releve
from services.contrats.domain.souscription import souscrire, verifier_aucune_souscription_en_cours, verifier_niveau_contrat_conclu


def mise_en_service(etat: EtatPds, ctx: ContexteDemande[DemandeMiseEnServiceV1], regles: Regles) -> Decision | Refus:
    """Decide a MES: every check, then the new occupant's contract « en cours de souscription » and its affaire.

    A contract still in force (the previous occupant's) ends on the date d'effet, when the MES is realised.
    """
    d = ctx.demande
    refus = premier(
        verifier_niveau_contrat_conclu(ctx.niveau_acces),
        verifier_aucune_souscription_en_cours(etat),
        verifier_demandeur(d.demandeur),
        verifier_parametres_bt_plus(etat.segment, d.parametres_bt_plus),
        verifier_puissance_du_segment(etat.segment, d.puissance_souscrite_kva),
        verifier_re(d.re_code, etat.segment, regles),
        verifier_date_effet(d.date_effet_souhaitee, ctx.jour, regles),
        verifier_releve(d, etat.segment),
    )
    if refus:
        return refus
    besoin = etape_suivante(OperationTechnique.MISE_EN_SERVICE, ctx, regles)
    if isinstance(besoin, Refus):
        return besoin
    actuel = contrat_actif(etat)
    nouveau = souscrire(
        etat,
        ctx,
        service=d.service,
        puissance_souscrite_kva=d.puissance_souscrite_kva,
        usage=d.usage,
        re_code=d.re_code,
        parametres_bt_plus=d.parametres_bt_plus,
        occupant=d.occupant,
    )
    resume = f"Mise en service au {d.date_effet_souhaitee:%d/%m/%Y} pour {d.occupant.prenom} {d.occupant.nom}"
    return planifier(
        etat,
        ctx,
        TypeAffaire.MISE_EN_SERVICE,
        OperationTechnique.MISE_EN_SERVICE,
        nouveau,
        besoin,
        resume,
        contrat_precedent_id=actuel.id if actuel else None,
    )
