"""ONGLET RELEVE of the guide: autorelève (C5 only, index and date given), estimation index demandée, relève spéciale."""

from __future__ import annotations

from datetime import date

from contracts.common import ChoixReleve, IndexCadran, NatureReleve, Releve, Segment
from contracts.evenements import ContextePds
from contracts.refus import CodeRefus, Refus
from services.contrats.domain.commun import Contractuelle, premier


def verifier_autoreleve_c5(demande: Contractuelle, segment: Segment | None) -> Refus | None:
    """AUTORELEVE_HORS_C5: « Le fournisseur saisit les index réels qu'il obtient auprès de son client (C5 uniquement) »."""
    if demande.choix_releve == ChoixReleve.AUTORELEVE and segment != Segment.C5:
        return Refus(
            CodeRefus.AUTORELEVE_HORS_C5,
            "L'autorelève n'est possible que pour les clients C5 (≤ 36 kVA) : choisissez l'estimation ou une relève spéciale.",
        )
    return None


def verifier_index_autoreleve(demande: Contractuelle) -> Refus | None:
    """AUTORELEVE_INDEX_MANQUANT: « Le fournisseur doit renseigner la date de l'autorelève ainsi que l'index courant »."""
    if demande.choix_releve == ChoixReleve.AUTORELEVE and (not demande.index_autoreleve or demande.date_autoreleve is None):
        return Refus(
            CodeRefus.AUTORELEVE_INDEX_MANQUANT,
            "Pour une autorelève, indiquez l'index relevé chez le client et la date de cette relève.",
        )
    return None


def verifier_releve(demande: Contractuelle, segment: Segment | None) -> Refus | None:
    """Autorelève is for C5 only and needs the index and its date."""
    return premier(verifier_autoreleve_c5(demande, segment), verifier_index_autoreleve(demande))


def releve_autoreleve(demande: Contractuelle) -> Releve | None:
    """The reading an autorelève gives (the supplier's index at its date), or None for another relève choice."""
    if demande.choix_releve != ChoixReleve.AUTORELEVE or not demande.index_autoreleve or demande.date_autoreleve is None:
        return None
    return Releve(date_releve=demande.date_autoreleve, index=demande.index_autoreleve, nature=NatureReleve.AUTORELEVE)


def base_estimation(demande: Contractuelle, contexte: ContextePds) -> list[Releve]:
    """« Estimation index demandée »: the PDS's readings to estimate the index from at the date d'effet (none otherwise)."""
    return list(contexte.historique_releves) if demande.choix_releve == ChoixReleve.ESTIMATION else []


def estimer_index(historique: list[Releve], jour: date) -> Releve | None:
    """The index estimated at `jour` from real readings: the last one plus the daily use between the last two, per cadran."""
    reelles = sorted((r for r in historique if r.nature == NatureReleve.REELLE), key=lambda r: r.date_releve)
    if not reelles:
        return None
    derniere = reelles[-1]
    precedente = next((r for r in reversed(reelles[:-1]) if r.date_releve < derniere.date_releve), None)
    avant = {i.cadran: i.valeur for i in precedente.index} if precedente else {}
    jours_base = (derniere.date_releve - precedente.date_releve).days if precedente else 0
    jours = max(0, (jour - derniere.date_releve).days)
    index = []
    for i in derniere.index:
        par_jour = max(0, i.valeur - avant.get(i.cadran, i.valeur)) / jours_base if jours_base else 0.0
        index.append(IndexCadran(cadran=i.cadran, valeur=i.valeur + round(par_jour * jours)))
    return Releve(date_releve=jour, index=tuple(index), nature=NatureReleve.ESTIMEE)
