"""Holder history, état and occupant of a PDS, driven by contract state changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from contracts.common import Contact, EtatContractuelPds, EtatContrat, MotifReleve
from contracts.evenements import ContratEtatChangeV1
from services.referentiel.domain.acces import titulaire_actuel
from services.referentiel.domain.commun import State, cle_personne, iso
from services.referentiel.domain.releves import enregistrer_releve, partager_releve


@dataclass(frozen=True)
class ReleveAPublier:
    """A reading just recorded, to announce (ReleveEnregistree + FluxR15)."""

    motif: MotifReleve
    titulaire: str | None
    #: Already recorded for the other holder of a change: only its flux goes to this one.
    partagee: bool = False


def _occupant(contact: Contact) -> dict[str, Any]:
    return contact.model_dump(mode="json")


def _changer_occupant(state: State, occupant: dict[str, Any] | None) -> State:
    """Set the occupant; the leaving one becomes a previous occupant and the declarations it signed lapse."""
    actuel = state.get("occupant")
    if actuel and occupant and cle_personne(actuel["nom"], actuel["prenom"]) == cle_personne(occupant["nom"], occupant["prenom"]):
        return {**state, "occupant": {**actuel, **{k: v for k, v in occupant.items() if v is not None}}}
    precedents = list(state.get("occupants_precedents", []))
    if actuel:
        precedents.append({"nom": actuel["nom"], "prenom": actuel["prenom"]})
    cles = sorted({*state.get("occupant_cles", []), *(cle_personne(p["nom"], p["prenom"]) for p in precedents)})
    if occupant:
        cles = sorted({*cles, cle_personne(occupant["nom"], occupant["prenom"])})
    # Mandates and contrats conclus were given by the leaving customer: they do not open the newcomer's data.
    return {**state, "occupant": occupant, "occupants_precedents": precedents, "occupant_cles": cles, "declarations": {}}


def _motif_releve(etat_avant: str | None, evt: ContratEtatChangeV1) -> MotifReleve:
    if evt.etat == EtatContrat.EN_SERVICE:
        return MotifReleve.CHANGEMENT_FOURNISSEUR if etat_avant == EtatContractuelPds.EN_SERVICE else MotifReleve.MISE_EN_SERVICE
    if evt.etat == EtatContrat.CESSE:
        return MotifReleve.CESSATION
    return MotifReleve.MODIFICATION_CONTRACTUELLE


def appliquer_changement_contrat(state: State, evt: ContratEtatChangeV1, today: date, mois: int) -> tuple[State, ReleveAPublier | None]:
    """Apply a contract state change to the PDS: pending holders, holding periods, état, occupant, reading."""
    effet = evt.date_effet or today
    etat_avant = state.get("etat")
    en_souscription = [p for p in state.get("en_souscription", []) if p.get("contrat_id") != evt.contrat_id]
    titulaires = [dict(t) for t in state.get("titulaires", [])]
    nouveau: State = dict(state)
    if evt.etat == EtatContrat.EN_COURS_DE_SOUSCRIPTION:
        en_souscription.append({"fournisseur": evt.titulaire, "contrat_id": evt.contrat_id, "date_effet": iso(effet)})
    elif evt.etat == EtatContrat.EN_SERVICE:
        courant = next((t for t in titulaires if t["contrat_id"] == evt.contrat_id and t.get("fin") is None), None)
        if courant is None:
            for t in titulaires:
                if t.get("fin") is None:
                    t["fin"] = iso(effet)
            courant = {"fournisseur": evt.titulaire, "contrat_id": evt.contrat_id, "debut": iso(effet), "fin": None}
            titulaires.append(courant)
        for champ in ("service", "puissance_souscrite_kva", "re_code"):
            valeur = getattr(evt, champ)
            if valeur is not None:
                courant[champ] = valeur
        nouveau["etat"] = EtatContractuelPds.EN_SERVICE.value
        if evt.occupant is not None:
            nouveau = _changer_occupant(nouveau, _occupant(evt.occupant))
    elif evt.etat == EtatContrat.EN_COURS_DE_CESSATION:
        if any(t["contrat_id"] == evt.contrat_id and t.get("fin") is None for t in titulaires):
            nouveau["etat"] = EtatContractuelPds.EN_COURS_DE_RESILIATION.value
    elif evt.etat == EtatContrat.CESSE:
        for t in titulaires:
            if t["contrat_id"] == evt.contrat_id and t.get("fin") is None:
                t["fin"] = iso(effet)
    elif evt.etat == EtatContrat.ANNULE and nouveau.get("etat") == EtatContractuelPds.EN_COURS_DE_RESILIATION:
        nouveau["etat"] = EtatContractuelPds.EN_SERVICE.value
    nouveau["titulaires"] = titulaires
    nouveau["en_souscription"] = en_souscription
    if evt.etat == EtatContrat.CESSE and titulaire_actuel(nouveau) is None:
        nouveau["etat"] = EtatContractuelPds.RESILIE.value
        nouveau = _changer_occupant(nouveau, None)
    publier = None
    if evt.releve is not None:
        motif = _motif_releve(etat_avant, evt)
        nouveau, ajoutee = enregistrer_releve(nouveau, evt.releve, motif, evt.titulaire, evt.reference_affaire, mois)
        if ajoutee:
            publier = ReleveAPublier(motif=motif, titulaire=evt.titulaire)
        else:
            nouveau, partagee = partager_releve(nouveau, evt.releve, evt.titulaire)
            if partagee:
                publier = ReleveAPublier(motif=motif, titulaire=evt.titulaire, partagee=True)
    return nouveau, publier
