"""The entry point of a qualified contract demand: read it once into its typed context, then run its process."""

from __future__ import annotations

from datetime import date

from contracts.base import WireModel
from contracts.demandes import (
    DemandeCessationV1,
    DemandeChangementFournisseurV1,
    DemandeMiseEnServiceV1,
    DemandeModificationContratV1,
    DemandeModificationREV1,
)
from contracts.evenements import DemandeQualifieeV1
from contracts.refus import Refus
from services.contrats.domain.cessation import cessation
from services.contrats.domain.changement_fournisseur import changement_fournisseur
from services.contrats.domain.commun import Decision, EtatPds, Regles
from services.contrats.domain.contexte import ContexteDemande, lire_demande
from services.contrats.domain.mise_en_service import mise_en_service
from services.contrats.domain.modification import modification_contrat, modification_re


def decider_demande(etat: EtatPds, qualifiee: DemandeQualifieeV1, fournisseur: str, today: date, regles: Regles) -> Decision | Refus | None:
    """Validate a qualified contract demand entirely and decide it; None when the demand type is not ours."""
    ctx = lire_demande(qualifiee, fournisseur, today)
    if ctx is None or isinstance(ctx, Refus):
        return ctx
    etat = etat.model_copy(deep=True)
    if etat.segment is None:
        etat.segment = ctx.pds.segment
    return decider(etat, ctx, regles)


def decider(etat: EtatPds, ctx: ContexteDemande[WireModel], regles: Regles) -> Decision | Refus:
    """Run the process of the demand's type on a copy of the state the caller no longer uses."""
    d = ctx.demande
    if isinstance(d, DemandeChangementFournisseurV1):
        return changement_fournisseur(etat, ctx.pour(d), regles)
    if isinstance(d, DemandeMiseEnServiceV1):
        return mise_en_service(etat, ctx.pour(d), regles)
    if isinstance(d, DemandeModificationREV1):
        return modification_re(etat, ctx.pour(d), regles)
    if isinstance(d, DemandeModificationContratV1):
        return modification_contrat(etat, ctx.pour(d), regles)
    assert isinstance(d, DemandeCessationV1)
    return cessation(etat, ctx.pour(d), regles)
