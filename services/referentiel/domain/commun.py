"""Shared vocabulary of the référentiel's pure rules: access-level order, normalized keys, dates (refusals: contracts.refus)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from contracts.common import NiveauAcces

ORDRE_NIVEAUX: dict[NiveauAcces, int] = {
    NiveauAcces.AUCUN: 0,
    NiveauAcces.MANDAT: 1,
    NiveauAcces.CONTRAT_CONCLU: 2,
    NiveauAcces.TITULAIRE: 3,
}

LIBELLES_NIVEAUX: dict[NiveauAcces, str] = {
    NiveauAcces.AUCUN: "aucun",
    NiveauAcces.MANDAT: "mandat",
    NiveauAcces.CONTRAT_CONCLU: "contrat conclu",
    NiveauAcces.TITULAIRE: "titulaire",
}

State = dict[str, Any]


def au_moins(niveau: NiveauAcces, requis: NiveauAcces) -> bool:
    """True when `niveau` is at least `requis` in the order aucun < mandat < contrat conclu < titulaire."""
    return ORDRE_NIVEAUX[niveau] >= ORDRE_NIVEAUX[requis]


def plus_fort(a: NiveauAcces, b: NiveauAcces) -> NiveauAcces:
    """The stronger of two access levels."""
    return a if au_moins(a, b) else b


def normaliser(texte: str | None) -> str:
    """Upper-case, accent-free, single-spaced text: what searches compare."""
    if not texte:
        return ""
    sans_accents = unicodedata.normalize("NFKD", texte).encode("ascii", "ignore").decode()
    return re.sub(r"[\s\-']+", " ", sans_accents).strip().upper()


def cle_adresse(numero: str, voie: str, code_postal: str, commune: str) -> str:
    """The normalized key of a street address (without complement): indexes and search use it."""
    return "|".join(normaliser(p) for p in (numero, voie, code_postal, commune))


def cle_personne(nom: str, prenom: str) -> str:
    """The normalized key of a person's last and first name."""
    return f"{normaliser(nom)}|{normaliser(prenom)}"


def iso(d: date | None) -> str | None:
    """A date as stored (ISO string), or None."""
    return d.isoformat() if d else None


def jour(s: str | None) -> date | None:
    """A stored ISO date back to a date, or None."""
    return date.fromisoformat(s[:10]) if s else None
