"""The events the contract processes emit: a contract's new state, the opening of its affaire, the C15 flux."""

from __future__ import annotations

from datetime import date

from contracts.base import WireModel
from contracts.common import Contact, EvenementC15, Releve, TypeAffaire
from contracts.evenements import BesoinIntervention, ContratEtatChangeV1, FluxC15V1, OuvertureAffaireDemandeeV1
from services.contrats.domain.commun import Contrat, Effet, EtatPds
from services.contrats.domain.contexte import ContexteDemande


def etat_change(etat: EtatPds, contrat: Contrat, reference: str | None, date_effet: date | None, releve: Releve | None = None) -> Effet:
    """`ContratEtatChange` of a contract, for its holder."""
    evt = ContratEtatChangeV1(
        contrat_id=contrat.id,
        pds=etat.pds,
        titulaire=contrat.titulaire,
        etat=contrat.etat,
        reference_affaire=reference,
        date_effet=date_effet,
        service=contrat.service,
        puissance_souscrite_kva=contrat.puissance_souscrite_kva,
        re_code=contrat.re_code,
        occupant=contrat.occupant,
        releve=releve,
    )
    return evt, contrat.titulaire


def ouverture_affaire(
    ctx: ContexteDemande[WireModel],
    type_affaire: TypeAffaire,
    contrat_id: str,
    besoin: BesoinIntervention | None,
    date_effet: date,
    resume: str,
    express: bool,
    demandeur: Contact | None = None,
) -> Effet:
    """`OuvertureAffaireDemandee`: the affaires service opens the affaire of an accepted demand (« une affaire est créée »)."""
    cmd = OuvertureAffaireDemandeeV1(
        reference_affaire=ctx.reference,
        type_affaire=type_affaire,
        demande_message_id=ctx.demande_message_id,
        pds=ctx.pds.pds,
        contrat_id=contrat_id,
        express=express,
        intervention=besoin,
        date_effet=date_effet,
        resume=resume,
        contexte=ctx.pds,
        demandeur=demandeur,
    )
    return cmd, None


def flux_c15(
    etat: EtatPds, evenement: EvenementC15, contrat: Contrat, reference: str, date_effet: date, avant: Releve | None, apres: Releve | None
) -> Effet:
    """One C15 flux line (entry CFNE/MES, exit CFNS/RES) with the readings before and after, for the contract's holder."""
    flux = FluxC15V1(
        pds=etat.pds,
        evenement=evenement,
        fournisseur=contrat.titulaire,
        re_code=contrat.re_code,
        reference_affaire=reference,
        date_effet=date_effet,
        segment=etat.segment,
        puissance_souscrite_kva=contrat.puissance_souscrite_kva,
        releve_avant=avant,
        releve_apres=apres,
    )
    return flux, contrat.titulaire
