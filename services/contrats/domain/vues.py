"""What a supplier consults of its contracts (« consulter un contrat (titulaire uniquement) »): the contract view, the list lines."""

from __future__ import annotations

from typing import Any

from services.contrats.domain.commun import Contrat, EtatPds

#: Columns of a supplier's contract list (JSON lines and CSV).
COLONNES_CONTRATS = (
    "id", "pds", "etat", "service", "puissance_souscrite_kva", "usage", "re_code", "date_debut", "date_fin", "segment",
)  # fmt: skip


def contrats_visibles(etat: EtatPds, fournisseur: str) -> list[Contrat]:
    """The contracts a supplier may consult: those it holds, held or is subscribing."""
    return [c for c in etat.contrats if c.titulaire == fournisseur]


def vue_contrat(contrat: Contrat) -> dict[str, Any]:
    """What the holder sees of a contract: généralités, paramètres, interventions, occupant."""
    return {
        "generalites": {
            "id": contrat.id,
            "titulaire": contrat.titulaire,
            "etat": contrat.etat.value,
            "date_debut": contrat.date_debut.isoformat() if contrat.date_debut else None,
            "date_fin": contrat.date_fin.isoformat() if contrat.date_fin else None,
            "contrat_conclu": contrat.contrat_conclu.model_dump(mode="json") if contrat.contrat_conclu else None,
        },
        "parametres": {
            "service": contrat.service,
            "puissance_souscrite_kva": contrat.puissance_souscrite_kva,
            "usage": contrat.usage,
            "re_code": contrat.re_code,
            "parametres_bt_plus": contrat.parametres_bt_plus.model_dump(mode="json") if contrat.parametres_bt_plus else None,
        },
        "interventions": list(contrat.references_affaires),
        "occupant": contrat.occupant.model_dump(mode="json") if contrat.occupant else None,
    }


def contrats_par_fournisseur(etat: EtatPds) -> dict[str, dict[str, dict[str, Any]]]:
    """The list line of every contract of the PDS, grouped by holder: what the per-supplier contract index keeps."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for c in etat.contrats:
        out.setdefault(c.titulaire, {})[c.id] = {
            "id": c.id,
            "pds": etat.pds,
            "etat": c.etat.value,
            "service": c.service,
            "puissance_souscrite_kva": c.puissance_souscrite_kva,
            "usage": c.usage,
            "re_code": c.re_code,
            "date_debut": c.date_debut.isoformat() if c.date_debut else None,
            "date_fin": c.date_fin.isoformat() if c.date_fin else None,
            "segment": etat.segment.value if etat.segment else None,
        }
    return out
