"""PROCESSUS DE CESSATION D'UN CONTRAT: the holder ends its contract at a date d'effet, with a motif and a relève choice."""

from __future__ import annotations

from contracts.common import EtatContrat, OperationTechnique, TypeAffaire
from contracts.demandes import DemandeCessationV1
from contracts.refus import Refus
from services.contrats.domain.commun import Decision, EtatPds, Regles, premier
from services.contrats.domain.contexte import ContexteDemande
from services.contrats.domain.date_effet import verifier_date_effet
from services.contrats.domain.echeances import planifier
from services.contrats.domain.intervention import etape_suivante, verifier_demandeur
from services.contrats.domain.releve import verifier_releve
from services.contrats.domain.titulaire import contrat_du_titulaire


def cessation(etat: EtatPds, ctx: ContexteDemande[DemandeCessationV1], regles: Regles) -> Decision | Refus:
    """Decide a cessation (the motif is mandatory in the schema): the contract goes « en cours de cessation », its affaire opens."""
    d = ctx.demande
    contrat = contrat_du_titulaire(etat, ctx.fournisseur)
    if isinstance(contrat, Refus):
        return contrat
    refus = premier(verifier_demandeur(d.demandeur), verifier_date_effet(d.date_effet_souhaitee, ctx.jour, regles), verifier_releve(d, etat.segment))
    if refus:
        return refus
    besoin = etape_suivante(OperationTechnique.CESSATION, ctx, regles)
    if isinstance(besoin, Refus):
        return besoin
    contrat.etat = EtatContrat.EN_COURS_DE_CESSATION
    contrat.references_affaires.append(ctx.reference)
    resume = f"Cessation au {d.date_effet_souhaitee:%d/%m/%Y} (motif : {d.motif})"
    return planifier(etat, ctx, TypeAffaire.CESSATION, OperationTechnique.CESSATION, contrat, besoin, resume)
