"""Relèves of a PDS: holder at a date, recording a reading, rolling monthly consumption."""

from __future__ import annotations

import calendar
import itertools
from datetime import date
from typing import Any

from contracts.common import IndexCadran, NatureReleve, Releve
from services.referentiel.domain.commun import State, iso, jour


def titulaire_a_la_date(state: State, le: date) -> str | None:
    """The supplier holding the PDS on a date (holding periods are [debut, fin))."""
    for periode in reversed(state.get("titulaires", [])):
        debut, fin = jour(periode.get("debut")), jour(periode.get("fin"))
        if debut is not None and debut <= le and (fin is None or le < fin):
            return str(periode["fournisseur"])
    return None


def releve_stockee(releve: Releve, motif: str, titulaire: str | None, reference_affaire: str | None) -> dict[str, Any]:
    """The stored form of a reading."""
    return {
        "date_releve": iso(releve.date_releve),
        "index": {i.cadran: i.valeur for i in releve.index},
        "nature": releve.nature.value,
        "motif": str(motif),
        "titulaire": titulaire,
        "reference_affaire": reference_affaire,
    }


def _meme_releve(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a["date_releve"] == b["date_releve"] and a["index"] == b["index"] and a["nature"] == b["nature"])


def enregistrer_releve(
    state: State, releve: Releve, motif: str, titulaire: str | None, reference_affaire: str | None, mois: int
) -> tuple[State, bool]:
    """Add a reading (ignored when the same one is already recorded) and recompute consumption on a real one."""
    nouvelle = releve_stockee(releve, motif, titulaire, reference_affaire)
    existantes: list[dict[str, Any]] = list(state.get("releves", []))
    if any(_meme_releve(r, nouvelle) for r in existantes):
        return state, False
    releves = sorted([*existantes, nouvelle], key=lambda r: str(r["date_releve"]))
    nouveau = {**state, "releves": releves}
    if releve.nature == NatureReleve.REELLE:
        nouveau["consommations"] = consommations_mensuelles(releves, mois)
    return nouveau, True


def partager_releve(state: State, releve: Releve, fournisseur: str | None) -> tuple[State, bool]:
    """The reading at a change of holder belongs to both suppliers' periods: record the other one on the stored reading.

    False when the reading is not recorded, or `fournisseur` already has it.
    """
    if fournisseur is None:
        return state, False
    cible = releve_stockee(releve, "", None, None)
    releves = [dict(r) for r in state.get("releves", [])]
    for r in releves:
        if _meme_releve(r, cible):
            if r.get("titulaire") == fournisseur or fournisseur in r.get("partagee_avec", []):
                return state, False
            r["partagee_avec"] = [*r.get("partagee_avec", []), fournisseur]
            return {**state, "releves": releves}, True
    return state, False


def _mois_suivant(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def consommations_mensuelles(releves: list[dict[str, Any]], mois: int) -> list[dict[str, Any]]:
    """Average consumption month by month (kWh), spread from consecutive real readings; the last `mois` months."""
    reelles = sorted((r for r in releves if r["nature"] == NatureReleve.REELLE.value), key=lambda r: str(r["date_releve"]))
    par_mois: dict[str, list[float]] = {}
    for avant, apres in itertools.pairwise(reelles):
        d0, d1 = jour(avant["date_releve"]), jour(apres["date_releve"])
        if d0 is None or d1 is None or d1 <= d0:
            continue
        energie = sum(max(0, int(v) - int(avant["index"].get(c, v))) for c, v in apres["index"].items())
        par_jour = energie / (d1 - d0).days
        curseur = d0
        while curseur < d1:
            fin_mois = min(_mois_suivant(curseur), d1)
            cle = curseur.strftime("%Y-%m")
            cumul = par_mois.setdefault(cle, [0.0, 0.0])
            duree = (fin_mois - curseur).days
            cumul[0] += par_jour * duree
            cumul[1] += duree
            curseur = fin_mois
    resultat = []
    for cle in sorted(par_mois)[-mois:]:
        total, jours = par_mois[cle]
        annee, m = (int(x) for x in cle.split("-"))
        jours_du_mois = calendar.monthrange(annee, m)[1]
        # A partly covered month is extrapolated to the whole month: the guide shows a monthly level, not a sum.
        resultat.append({"mois": cle, "kwh": round(total / jours * jours_du_mois), "jours_couverts": int(jours)})
    return resultat


def historique_reel(state: State, combien: int = 3) -> list[Releve]:
    """The latest real readings of the PDS, oldest first (the base of an estimated index)."""
    reelles = sorted((r for r in state.get("releves", []) if r.get("nature") == NatureReleve.REELLE.value), key=lambda r: str(r["date_releve"]))
    return [
        Releve(
            date_releve=date.fromisoformat(str(r["date_releve"])[:10]),
            index=tuple(IndexCadran(cadran=c, valeur=int(v)) for c, v in r["index"].items()),
            nature=NatureReleve.REELLE,
        )
        for r in reelles[-combien:]
    ]


def derniere_releve_reelle(state: State) -> dict[str, Any] | None:
    """The latest real reading of the PDS, whoever held it."""
    reelles = [r for r in state.get("releves", []) if r.get("nature") == NatureReleve.REELLE.value]
    return max(reelles, key=lambda r: str(r["date_releve"])) if reelles else None
