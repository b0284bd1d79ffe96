"""Search rules of the PDS lookup: no wildcard, full reference or full address with a meter or an occupant."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from contracts.refus import CodeRefus, Refus
from services.referentiel.domain.commun import State, cle_adresse, cle_personne, normaliser

REFERENCE_PDS = re.compile(r"^\d{14}[A-Z]{2}\d$")
CHAMPS_ADRESSE = ("numero", "voie", "code_postal", "commune")


@dataclass(frozen=True)
class ParReference:
    """Search by the full PDS reference."""

    reference: str


@dataclass(frozen=True)
class ParAdresse:
    """Search at a full address, narrowed by a meter, a (previous) occupant, or the caller's holdings."""

    cle_adresse: str
    complement: str
    compteur: str | None = None
    personne: str | None = None
    titulaire_contrat: bool = False


Critere = ParReference | ParAdresse


def _refus_incomplet() -> Refus:
    return Refus(
        CodeRefus.CRITERES_INSUFFISANTS,
        "Critères de recherche insuffisants : donnez la référence complète du PDS, ou l'adresse complète avec la référence "
        "du compteur, ou l'adresse complète avec le nom et le prénom de l'occupant précédent, ou l'adresse complète avec "
        "l'option titulaire_contrat.",
    )


def valider_recherche(params: dict[str, str | None], titulaire_contrat: bool) -> Critere | Refus:
    """Turn the query parameters into one allowed criteria set, or refuse the search."""
    valeurs = {k: (v or "").strip() for k, v in params.items()}
    etoiles = sorted(k for k, v in valeurs.items() if "*" in v)
    if etoiles:
        return Refus(
            CodeRefus.CARACTERE_JOKER_INTERDIT,
            f"Le caractère * n'est pas autorisé dans une recherche (champ(s) {', '.join(etoiles)}) : saisissez des valeurs complètes.",
        )
    reference = valeurs.get("reference", "").upper()
    if reference:
        if not REFERENCE_PDS.match(reference):
            return Refus(
                CodeRefus.REFERENCE_PDS_INCOMPLETE,
                f"La référence « {reference} » n'est pas une référence complète de PDS : saisissez les 14 chiffres suivis du "
                "suffixe d'activité (par exemple 30000000000042EC1).",
            )
        return ParReference(reference)
    adresse = {k: valeurs.get(k, "") for k in CHAMPS_ADRESSE}
    donnees = [k for k, v in adresse.items() if v]
    if not donnees and not any(valeurs.get(k) for k in ("compteur", "nom", "prenom")) and not titulaire_contrat:
        return _refus_incomplet()
    manquants = [k for k, v in adresse.items() if not v]
    if manquants:
        return Refus(
            CodeRefus.ADRESSE_INCOMPLETE,
            f"L'adresse doit être complète (numéro, voie, code postal et commune) ; il manque : {', '.join(manquants)}.",
        )
    if not re.fullmatch(r"\d{5}", adresse["code_postal"]):
        return Refus(CodeRefus.ADRESSE_INCOMPLETE, "Le code postal doit comporter 5 chiffres.")
    cle = cle_adresse(adresse["numero"], adresse["voie"], adresse["code_postal"], adresse["commune"])
    complement = normaliser(valeurs.get("complement"))
    if titulaire_contrat:
        return ParAdresse(cle, complement, titulaire_contrat=True)
    compteur = normaliser(valeurs.get("compteur"))
    if compteur:
        return ParAdresse(cle, complement, compteur=compteur)
    nom, prenom = valeurs.get("nom", ""), valeurs.get("prenom", "")
    if nom and prenom:
        return ParAdresse(cle, complement, personne=cle_personne(nom, prenom))
    return _refus_incomplet()


def entree_index(state: State) -> dict[str, Any]:
    """The search-index entry of a PDS: what the criteria compare, plus the identification data a result shows."""
    fournisseurs = {t["fournisseur"] for t in state.get("titulaires", [])} | {p["fournisseur"] for p in state.get("en_souscription", [])}
    return {
        **resume_resultat(state),
        "complement": normaliser(state.get("adresse", {}).get("complement")),
        "compteur": normaliser(state.get("compteur", {}).get("reference")),
        "occupant_cles": sorted(state.get("occupant_cles", [])),
        "fournisseurs": sorted(fournisseurs),
    }


def correspond(entree: dict[str, Any], critere: Critere, fournisseur: str | None) -> bool:
    """True when a PDS's index entry matches the whole criteria set (the store only narrows by reference or address)."""
    if isinstance(critere, ParReference):
        return entree.get("reference") == critere.reference
    if critere.complement and entree.get("complement") != critere.complement:
        return False
    if critere.titulaire_contrat:
        return fournisseur is not None and fournisseur in entree.get("fournisseurs", [])
    if critere.compteur:
        return entree.get("compteur") == critere.compteur
    return critere.personne in entree.get("occupant_cles", [])


def resume_resultat(state: State) -> dict[str, Any]:
    """What a search shows of each PDS found: identification data only."""
    return {k: state[k] for k in ("reference", "adresse", "etat", "niveau_tension") if k in state}
