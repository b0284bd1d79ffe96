"""Demand files (JSON lines or CSV) read and checked against the `contracts` models offline, with errors in French.

JSON lines: one object per line, `{"type": "DemandeCessation", "version": 1, "payload": {...}}`, or the payload's fields
beside `type` (and `version`). CSV: a `type` column (and optionally `version`), one column per payload field; a dotted
header (`contrat_conclu.reference`) builds a nested object, a cell starting with `[` or `{` is read as JSON, an empty
cell is left out.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from contracts.base import WireModel
from contracts.catalogue import CATALOGUE

#: The demand models a supplier may send, by (type, version).
DEMANDES: dict[tuple[str, int], type[WireModel]] = {(s.type, s.version): s.model for s in CATALOGUE if s.model.__module__ == "contracts.demandes"}


@dataclass
class Ligne:
    """One demand of a file: its line number, type and payload, and what is wrong with it (nothing when `demande` is set)."""

    numero: int
    type: str | None
    version: int
    brut: dict[str, Any]
    erreurs: list[str] = field(default_factory=list)
    demande: WireModel | None = None

    @property
    def pds(self) -> str | None:
        """The demand's PDS, when it has one."""
        valeur = self.brut.get("pds")
        return valeur if isinstance(valeur, str) else None


_MESSAGES = {
    "missing": "champ obligatoire manquant",
    "extra_forbidden": "champ inconnu pour ce type de demande",
    "string_type": "texte attendu",
    "date_type": "date attendue (AAAA-MM-JJ)",
    "date_parsing": "date invalide (attendu AAAA-MM-JJ)",
    "date_from_datetime_parsing": "date invalide (attendu AAAA-MM-JJ)",
    "date_from_datetime_inexact": "date attendue, sans heure",
    "datetime_parsing": "date et heure invalides (attendu AAAA-MM-JJTHH:MM:SS)",
    "bool_parsing": "booléen attendu (true ou false)",
    "bool_type": "booléen attendu (true ou false)",
    "int_parsing": "nombre entier attendu",
    "int_type": "nombre entier attendu",
    "int_from_float": "nombre entier attendu",
    "float_parsing": "nombre attendu",
    "float_type": "nombre attendu",
    "uuid_parsing": "identifiant UUID invalide",
    "model_type": "objet attendu",
    "dict_type": "objet attendu",
    "list_type": "liste attendue",
    "tuple_type": "liste attendue",
}


def _message(err: Any) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "string_too_short":
        return f"trop court : au moins {ctx.get('min_length')} caractère(s)"
    if kind == "string_too_long":
        return f"trop long : au plus {ctx.get('max_length')} caractères"
    if kind == "too_short":
        return f"au moins {ctx.get('min_length')} élément(s)"
    if kind == "too_long":
        return f"au plus {ctx.get('max_length')} élément(s)"
    if kind in ("enum", "literal_error"):
        return f"valeur non permise : attendu {ctx.get('expected')}"
    if kind == "string_pattern_mismatch":
        return f"format invalide (motif {ctx.get('pattern')})"
    bornes = {"greater_than_equal": ("≥", "ge"), "greater_than": (">", "gt"), "less_than_equal": ("≤", "le"), "less_than": ("<", "lt")}
    if kind in bornes:
        signe, cle = bornes[kind]
        return f"doit être {signe} {ctx.get(cle)}"
    if kind in ("value_error", "assertion_error"):
        return f"valeur refusée : {ctx.get('error', err.get('msg'))}"
    return f"valeur invalide ({kind})"


def erreurs_en_francais(exc: ValidationError) -> list[str]:
    """One French line per validation error: the field, then what is wrong."""
    lignes = []
    for err in exc.errors():
        champ = ".".join(str(p) for p in err["loc"]) or "(demande)"
        lignes.append(f"champ « {champ} » : {_message(err)}")
    return lignes


def valider(ligne: Ligne) -> Ligne:
    """Check a line against its demand model; fills `demande` or `erreurs`."""
    if ligne.erreurs:
        return ligne
    if not ligne.type:
        ligne.erreurs.append("type de demande absent (colonne ou champ « type »)")
        return ligne
    modele = DEMANDES.get((ligne.type, ligne.version))
    if modele is None:
        connus = ", ".join(sorted({t for t, _ in DEMANDES}))
        ligne.erreurs.append(f"type de demande inconnu « {ligne.type} » version {ligne.version} (types connus : {connus})")
        return ligne
    try:
        ligne.demande = modele.model_validate(ligne.brut)
    except ValidationError as exc:
        ligne.erreurs.extend(erreurs_en_francais(exc))
    return ligne


def _entete(numero: int, donnees: dict[str, Any]) -> Ligne:
    type_ = donnees.pop("type", None)
    version_brute = donnees.pop("version", 1) or 1
    payload = donnees.pop("payload", None)
    brut = payload if isinstance(payload, dict) else donnees
    try:
        version = int(version_brute)
    except (TypeError, ValueError):
        return Ligne(numero, str(type_) if type_ else None, 1, brut, [f"version invalide « {version_brute} » (nombre entier attendu)"])
    ligne = Ligne(numero, str(type_) if type_ else None, version, brut)
    if payload is not None and not isinstance(payload, dict):
        ligne.erreurs.append("champ « payload » : objet attendu")
    elif payload is not None and donnees:
        ligne.erreurs.append(f"champs hors de « payload » : {', '.join(sorted(donnees))}")
    return ligne


def _lire_jsonl(texte: str) -> list[Ligne]:
    lignes = []
    for numero, brute in enumerate(texte.splitlines(), start=1):
        if not brute.strip():
            continue
        try:
            donnees = json.loads(brute)
        except json.JSONDecodeError as exc:
            lignes.append(Ligne(numero, None, 1, {}, [f"ligne illisible : JSON invalide ({exc.msg}, colonne {exc.colno})"]))
            continue
        if not isinstance(donnees, dict):
            lignes.append(Ligne(numero, None, 1, {}, ["ligne illisible : un objet JSON est attendu"]))
            continue
        lignes.append(_entete(numero, donnees))
    return lignes


def _cellule(valeur: str) -> Any:
    if valeur[:1] in "[{":
        try:
            return json.loads(valeur)
        except json.JSONDecodeError:
            return valeur
    return valeur


def _lire_csv(texte: str) -> list[Ligne]:
    lignes = []
    lecteur = csv.DictReader(io.StringIO(texte))
    for rang in lecteur:
        numero = lecteur.line_num
        donnees: dict[str, Any] = {}
        for colonne, valeur in rang.items():
            if colonne is None or valeur is None or valeur == "":
                continue
            cible = donnees
            *parents, feuille = colonne.strip().split(".")
            for parent in parents:
                cible = cible.setdefault(parent, {})
            cible[feuille] = _cellule(valeur)
        lignes.append(_entete(numero, donnees))
    return lignes


def lire_fichier(chemin: Path) -> list[Ligne]:
    """Read and check every demand of a file (`.csv` as CSV, anything else as JSON lines)."""
    texte = chemin.read_text(encoding="utf-8-sig")
    lignes = _lire_csv(texte) if chemin.suffix.lower() == ".csv" else _lire_jsonl(texte)
    return [valider(ligne) for ligne in lignes]
