"""The typed context of a qualified contract demand: read once from `DemandeQualifieeV1`, then passed to a process."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

from pydantic import ValidationError

from contracts.base import WireModel
from contracts.common import NiveauAcces
from contracts.demandes import (
    DemandeCessationV1,
    DemandeChangementFournisseurV1,
    DemandeMiseEnServiceV1,
    DemandeModificationContratV1,
    DemandeModificationREV1,
)
from contracts.evenements import ContextePds, DemandeQualifieeV1
from contracts.references import reference_affaire
from contracts.refus import CodeRefus, Refus

#: The demand types the contract processes decide, with their wire model.
MODELES: dict[str, type[WireModel]] = {
    "DemandeChangementFournisseur": DemandeChangementFournisseurV1,
    "DemandeMiseEnService": DemandeMiseEnServiceV1,
    "DemandeModificationRE": DemandeModificationREV1,
    "DemandeModificationContrat": DemandeModificationContratV1,
    "DemandeCessation": DemandeCessationV1,
}

TYPES_TRAITES = tuple(MODELES)

D_co = TypeVar("D_co", bound=WireModel, covariant=True)
E = TypeVar("E", bound=WireModel)


@dataclass(frozen=True)
class ContexteDemande(Generic[D_co]):
    """A qualified demand ready for its process: the typed demand, who asks, on what PDS, at which level, on which day."""

    #: The supplier's demand, validated against its wire model.
    demande: D_co
    #: The message id of the supplier's demand: the affaire reference and the changes derive from it.
    demande_message_id: uuid.UUID
    #: The affaire this demand opens (`contracts.references.reference_affaire` of the demand's id).
    reference: str
    #: The référentiel's snapshot of the PDS (segment, état, meter, occupant, holder, readings).
    pds: ContextePds
    #: The access level the référentiel granted the supplier on the PDS.
    niveau_acces: NiveauAcces
    #: The acting supplier (the envelope's `fournisseur`).
    fournisseur: str
    #: The platform's day: dates d'effet are checked against it.
    jour: date

    def pour(self, demande: E) -> ContexteDemande[E]:
        """The same context typed as `demande`: the dispatcher narrows the demand's type once, the process reads it typed."""
        return ContexteDemande(demande, self.demande_message_id, self.reference, self.pds, self.niveau_acces, self.fournisseur, self.jour)


def lire_demande(qualifiee: DemandeQualifieeV1, fournisseur: str, jour: date) -> ContexteDemande[WireModel] | Refus | None:
    """Build the context of a qualified demand; MESSAGE_INVALIDE when its payload fails its schema, None when not ours."""
    modele = MODELES.get(qualifiee.demande_type)
    if modele is None:
        return None
    try:
        demande = modele.model_validate(qualifiee.demande)
    except ValidationError as exc:
        champs = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
        return Refus(CodeRefus.MESSAGE_INVALIDE, f"La demande est incomplète ou invalide ({champs}) : corrigez-la et renvoyez-la.")
    return ContexteDemande(
        demande=demande,
        demande_message_id=qualifiee.demande_message_id,
        reference=reference_affaire(qualifiee.demande_message_id),
        pds=qualifiee.contexte,
        niveau_acces=qualifiee.niveau_acces,
        fournisseur=fournisseur,
        jour=jour,
    )
