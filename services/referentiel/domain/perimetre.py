"""A supplier's perimeter: the PDS it holds, is entering or leaving, or held, with dates, kept per supplier.

The référentiel keeps, besides each PDS, one small index per supplier (a few documents read by `_id`) holding an entry
for every PDS where that supplier was, is or is becoming titulaire. The entry carries what the list filters on (commune,
code postal, voie, numéro) and the dates; the status (titulaire, entrant, sortant, ancien) is derived at read time from
the dates, so an entry written once stays right as days pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from contracts.common import EtatContractuelPds
from services.referentiel.domain.commun import State, normaliser

STATUTS = ("titulaire", "entrant", "sortant", "ancien")


def entrees_perimetre(state: State) -> dict[str, dict[str, Any]]:
    """For every supplier who was, is or is becoming titulaire of the PDS: its perimeter entry."""
    adresse = state.get("adresse", {})
    commun = {
        "reference": state.get("reference"),
        "adresse": {k: adresse.get(k, "") for k in ("numero", "voie", "code_postal", "commune", "complement")},
        "commune": normaliser(adresse.get("commune")),
        "code_postal": adresse.get("code_postal", ""),
        "voie": normaliser(adresse.get("voie")),
        "numero": normaliser(adresse.get("numero")),
        "etat": state.get("etat"),
        "segment": state.get("segment"),
    }
    periodes: dict[str, list[dict[str, Any]]] = {}
    for t in state.get("titulaires", []):
        periodes.setdefault(t["fournisseur"], []).append({"debut": t.get("debut"), "fin": t.get("fin"), "contrat_id": t.get("contrat_id")})
    entrees_prevues: dict[str, str | None] = {p["fournisseur"]: p.get("date_effet") for p in state.get("en_souscription", [])}
    resiliation = state.get("etat") == EtatContractuelPds.EN_COURS_DE_RESILIATION
    out: dict[str, dict[str, Any]] = {}
    for fournisseur in sorted({*periodes, *entrees_prevues}):
        autres_entrants = [d for f, d in entrees_prevues.items() if f != fournisseur]
        out[fournisseur] = {
            **commun,
            "periodes": periodes.get(fournisseur, []),
            "entree_prevue": entrees_prevues.get(fournisseur) if fournisseur in entrees_prevues else None,
            "en_souscription": fournisseur in entrees_prevues,
            # Someone else is subscribing (CF or MES): the holder is leaving on that date.
            "sortie_prevue": min((d for d in autres_entrants if d), default=None) if autres_entrants else None,
            "sortie_par_autre": bool(autres_entrants),
            "resiliation_en_cours": resiliation,
        }
    return out


@dataclass(frozen=True)
class LignePerimetre:
    """One line of a supplier's perimeter view."""

    reference: str
    statut: str
    date_debut: str | None
    date_fin: str | None
    adresse: dict[str, str]
    etat: str | None
    segment: str | None

    def as_dict(self) -> dict[str, Any]:
        """The JSON (and CSV) form of the line."""
        return {
            "reference": self.reference,
            "statut": self.statut,
            "date_debut": self.date_debut,
            "date_fin": self.date_fin,
            **{f"adresse_{k}": v for k, v in self.adresse.items()},
            "etat": self.etat,
            "segment": self.segment,
        }


COLONNES = (
    "reference", "statut", "date_debut", "date_fin", "adresse_numero", "adresse_voie", "adresse_code_postal", "adresse_commune",
    "adresse_complement", "etat", "segment",
)  # fmt: skip


def ligne(entree: dict[str, Any], today: date) -> LignePerimetre:
    """The status and dates of a perimeter entry on `today`."""
    periodes = sorted(entree.get("periodes", []), key=lambda p: str(p.get("debut") or ""))
    ouverte = next((p for p in reversed(periodes) if p.get("fin") is None or str(p["fin"]) > today.isoformat()), None)
    derniere = periodes[-1] if periodes else None
    if ouverte is not None:
        fin_prevue = ouverte.get("fin") or entree.get("sortie_prevue")
        sortant = ouverte.get("fin") is not None or entree.get("sortie_par_autre") or entree.get("resiliation_en_cours")
        statut, debut, fin = ("sortant" if sortant else "titulaire"), ouverte.get("debut"), fin_prevue
    elif entree.get("en_souscription"):
        statut, debut, fin = "entrant", entree.get("entree_prevue"), None
    else:
        statut, debut, fin = "ancien", derniere.get("debut") if derniere else None, derniere.get("fin") if derniere else None
    return LignePerimetre(
        reference=str(entree.get("reference")),
        statut=statut,
        date_debut=debut,
        date_fin=fin,
        adresse=dict(entree.get("adresse", {})),
        etat=entree.get("etat"),
        segment=entree.get("segment"),
    )


@dataclass(frozen=True)
class FiltrePerimetre:
    """Filters of the perimeter view (all optional: « sans les conditions de critères »)."""

    commune: str | None = None
    code_postal: str | None = None
    voie: str | None = None
    numero: str | None = None
    statuts: tuple[str, ...] = ()


def filtrer(entrees: dict[str, dict[str, Any]], filtre: FiltrePerimetre, today: date) -> list[LignePerimetre]:
    """The perimeter lines matching the filters, by reference."""
    attendus = {
        "commune": normaliser(filtre.commune) if filtre.commune else None,
        "code_postal": (filtre.code_postal or "").strip() or None,
        "voie": normaliser(filtre.voie) if filtre.voie else None,
        "numero": normaliser(filtre.numero) if filtre.numero else None,
    }
    lignes = []
    for ref in sorted(entrees):
        entree = entrees[ref]
        if any(v is not None and entree.get(k) != v for k, v in attendus.items()):
            continue
        ligne_ = ligne(entree, today)
        if filtre.statuts and ligne_.statut not in filtre.statuts:
            continue
        lignes.append(ligne_)
    return lignes
