"""What a supplier may see of a PDS at each access level: the dossier views, filtered, and the PDS snapshot."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from contracts.common import Contact, EtatContrat, NiveauAcces
from contracts.evenements import CompteurInfo, ContextePds
from services.referentiel.domain.acces import titulaire_actuel
from services.referentiel.domain.commun import State, au_moins
from services.referentiel.domain.releves import derniere_releve_reelle, historique_reel


class Vue(StrEnum):
    """The tabs of the dossier EDL."""

    GENERALITES = "generalites"
    RELEVES = "releves"
    CONSOMMATIONS = "consommations"
    BRANCHEMENT = "branchement"


#: Identification data: everyone who names the PDS may see them.
CHAMPS_IDENTIFICATION = ("reference", "adresse", "etat", "niveau_tension")
#: Technical data of the PDS, from the mandat level.
CHAMPS_TECHNIQUES = ("activite", "date_premiere_mes", "coupe_pour_non_paiement", "segment", "compteur")
CHAMPS_COMPTEUR = ("reference", "type", "amm", "localisation", "mode_releve", "teleoperable", "cadrans")
CHAMPS_BRANCHEMENT = ("type", "puissance_raccordement_kva", "protection")
CHAMPS_RELEVE = ("date_releve", "index", "nature", "motif")
#: Only the holder (or the one becoming holder) sees the customer and its own contract.
CHAMPS_TITULAIRE = ("occupant", "contrat")


def _choisir(source: dict[str, Any] | None, champs: tuple[str, ...]) -> dict[str, Any]:
    return {c: source[c] for c in champs if source and c in source}


def releves_visibles(state: State, fournisseur: str | None) -> list[dict[str, Any]]:
    """The last real reading whoever held the PDS, plus the readings of the supplier's own holding periods (all for the GRD)."""
    releves = state.get("releves", [])
    if fournisseur is None:
        choisies = list(releves)
    else:
        derniere = derniere_releve_reelle(state)
        choisies = [r for r in releves if r.get("titulaire") == fournisseur or fournisseur in r.get("partagee_avec", []) or r is derniere]
    return [_choisir(r, CHAMPS_RELEVE) for r in sorted(choisies, key=lambda r: str(r["date_releve"]), reverse=True)]


def _contrat_du_fournisseur(state: State, fournisseur: str | None) -> dict[str, Any] | None:
    ouverts = [t for t in state.get("titulaires", []) if t.get("fin") is None and (fournisseur is None or t["fournisseur"] == fournisseur)]
    if ouverts:
        return {k: v for k, v in ouverts[-1].items() if k != "fin"}
    attente = [p for p in state.get("en_souscription", []) if fournisseur is None or p["fournisseur"] == fournisseur]
    return {**attente[-1], "etat": EtatContrat.EN_COURS_DE_SOUSCRIPTION.value} if attente else None


def generalites(state: State, niveau: NiveauAcces, fournisseur: str | None) -> dict[str, Any]:
    """The généralités view: identification, then technical data from mandat, then occupant and contract for the holder."""
    vue = _choisir(state, CHAMPS_IDENTIFICATION)
    if au_moins(niveau, NiveauAcces.MANDAT):
        vue.update(_choisir(state, CHAMPS_TECHNIQUES))
        if "compteur" in vue:
            vue["compteur"] = _choisir(state.get("compteur"), CHAMPS_COMPTEUR)
    if niveau == NiveauAcces.TITULAIRE:
        vue["occupant"] = state.get("occupant")
        vue["contrat"] = _contrat_du_fournisseur(state, fournisseur)
    return vue


def dossier(state: State, niveau: NiveauAcces, fournisseur: str | None, vues: tuple[Vue, ...]) -> dict[str, Any]:
    """The dossier of a PDS served at `niveau` to `fournisseur` (None = GRD operator): nothing the level may not see."""
    reponse: dict[str, Any] = {"pds": state.get("reference"), "niveau_acces": niveau.value}
    technique = au_moins(niveau, NiveauAcces.MANDAT)
    masquees = []
    for vue in vues:
        if vue == Vue.GENERALITES:
            reponse["generalites"] = generalites(state, niveau, fournisseur)
        elif not technique:
            masquees.append(vue.value)
        elif vue == Vue.RELEVES:
            reponse["releves"] = releves_visibles(state, fournisseur)
        elif vue == Vue.CONSOMMATIONS:
            reponse["consommations"] = [dict(c) for c in state.get("consommations", [])]
        elif vue == Vue.BRANCHEMENT:
            reponse["branchement"] = _choisir(state.get("branchement"), CHAMPS_BRANCHEMENT)
    if Vue.GENERALITES not in vues:
        reponse["identification"] = _choisir(state, CHAMPS_IDENTIFICATION)
    if masquees:
        reponse["vues_masquees"] = masquees
        reponse["message"] = (
            f"Les onglets {', '.join(masquees)} demandent au moins le niveau « mandat » : déclarez un mandat "
            "ou un contrat conclu (DeclarationAcces) pour les consulter."
        )
    return reponse


def _contact(occupant: dict[str, Any] | None) -> Contact | None:
    if not occupant:
        return None
    try:
        return Contact.model_validate({k: v for k, v in occupant.items() if k in Contact.model_fields and v is not None})
    except ValidationError:
        # An occupant recorded without a usable phone number is still an occupant; the snapshot just omits it.
        return None


def contexte_pds(state: State) -> ContextePds:
    """The PDS snapshot carried by a qualified demand."""
    compteur = state.get("compteur", {})
    return ContextePds(
        pds=str(state["reference"]),
        segment=state["segment"],
        niveau_tension=str(state["niveau_tension"]),
        etat=str(state["etat"]),
        coupe_pour_non_paiement=bool(state.get("coupe_pour_non_paiement", False)),
        zone=str(state["zone"]),
        compteur=CompteurInfo(
            reference=str(compteur["reference"]),
            amm=bool(compteur.get("amm", False)),
            localisation=str(compteur.get("localisation", "interieur")),
            mode_releve=str(compteur.get("mode_releve", "sur_site")),
            teleoperable=bool(compteur.get("teleoperable", False)),
        ),
        occupant=_contact(state.get("occupant")),
        titulaire=titulaire_actuel(state),
        historique_releves=tuple(historique_reel(state)),
    )
