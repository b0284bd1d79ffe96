"""Accepted changes waiting for their date d'effet or their intervention: recording them, the due date, postponing."""

from __future__ import annotations

from datetime import date
from typing import Any

from contracts.common import OperationTechnique, Releve, TypeAffaire
from contracts.evenements import BesoinIntervention
from services.contrats.domain.commun import Changement, Contractuelle, Contrat, Decision, EtatPds, changement_de
from services.contrats.domain.contexte import ContexteDemande
from services.contrats.domain.evenements import etat_change, ouverture_affaire
from services.contrats.domain.releve import base_estimation, releve_autoreleve


def recalculer_echeance(etat: EtatPds) -> None:
    """Keep `prochaine_echeance` (what the scheduler reads) at the earliest date d'effet of a change without intervention."""
    dates = [c.date_effet for c in etat.changements if not c.avec_intervention]
    etat.prochaine_echeance = min(dates) if dates else None


def planifier(
    etat: EtatPds,
    ctx: ContexteDemande[Contractuelle],
    type_affaire: TypeAffaire,
    operation: OperationTechnique,
    contrat: Contrat,
    besoin: BesoinIntervention | None,
    resume: str,
    **changement: Any,
) -> Decision:
    """Record a change waiting for its date d'effet (or its intervention), and open its affaire."""
    d = ctx.demande
    etat.changements.append(
        Changement(
            reference_affaire=ctx.reference,
            operation=operation,
            contrat_id=contrat.id,
            date_effet=d.date_effet_souhaitee,
            avec_intervention=besoin is not None,
            demande_message_id=ctx.demande_message_id,
            releve=releve_autoreleve(d),
            estimation_base=base_estimation(d, ctx.pds),
            **changement,
        )
    )
    recalculer_echeance(etat)
    return Decision(
        etat,
        [
            etat_change(etat, contrat, ctx.reference, d.date_effet_souhaitee),
            ouverture_affaire(ctx, type_affaire, contrat.id, besoin, d.date_effet_souhaitee, resume, d.express, d.demandeur),
        ],
    )


def echeance_due(etat: EtatPds, today: date) -> Changement | None:
    """The first change without intervention whose date d'effet has come."""
    dues = sorted((c for c in etat.changements if not c.avec_intervention and c.date_effet <= today), key=lambda c: c.date_effet)
    return dues[0] if dues else None


def differer(etat: EtatPds, reference: str, jour: date, releve: Releve | None) -> Decision | None:
    """A realisation reported for a future day is not applied early: the change waits for that day (the due job applies
    it with its reading); None when nothing is pending for the affaire."""
    if changement_de(etat, reference) is None:
        return None
    etat = etat.model_copy(deep=True)
    etat.changements = [
        c.model_copy(update={"date_effet": jour, "avec_intervention": False, "releve": releve or c.releve}) if c.reference_affaire == reference else c
        for c in etat.changements
    ]
    recalculer_echeance(etat)
    return Decision(etat, [])
