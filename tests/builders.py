"""Builders of wire messages shared by the tests (unit and integration): one definition instead of a copy per file.

Each builder takes what a test varies as keyword arguments and fills the rest with plausible values.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta

from contracts.base import WireModel
from contracts.common import Contact, EtatContractuelPds, IndexCadran, NatureReleve, NiveauAcces, Releve, Segment
from contracts.demandes import DemandeCessationV1, DemandeChangementFournisseurV1
from contracts.evenements import CompteurInfo, ContextePds, DemandeQualifieeV1
from platform_kit.store import UnitOfWork


def contexte_pds(
    pds: str,
    *,
    titulaire: str | None = "LUMEN",
    zone: str = "Z01",
    segment: Segment = Segment.C5,
    etat: str = EtatContractuelPds.EN_SERVICE,
    amm: bool = True,
    localisation: str = "exterieur",
    mode_releve: str = "telereleve",
    teleoperable: bool = True,
    occupant: Contact | None = None,
) -> ContextePds:
    """The référentiel's snapshot of a PDS as a qualified demand carries it (a C5 AMM meter in service by default)."""
    return ContextePds(
        pds=pds,
        segment=segment,
        niveau_tension="HTA" if segment == Segment.C2 else "BT",
        etat=etat,
        coupe_pour_non_paiement=False,
        zone=zone,
        compteur=CompteurInfo(reference="CPT1", amm=amm, localisation=localisation, mode_releve=mode_releve, teleoperable=teleoperable),
        occupant=occupant,
        titulaire=titulaire,
    )


def qualifiee(
    demande: WireModel,
    contexte: ContextePds,
    *,
    niveau: NiveauAcces = NiveauAcces.TITULAIRE,
    demande_message_id: uuid.UUID | None = None,
) -> DemandeQualifieeV1:
    """The référentiel's qualification of a typed supplier demand (its type named after the model, without V1)."""
    return DemandeQualifieeV1(
        demande_message_id=demande_message_id or uuid.uuid4(),
        demande_type=type(demande).__name__.removesuffix("V1"),
        demande=demande.model_dump(mode="json"),
        niveau_acces=niveau,
        contexte=contexte,
    )


def releve(jour: date, valeur: int, *, nature: NatureReleve = NatureReleve.REELLE, cadran: str = "BASE") -> Releve:
    """A one-register meter reading (a real BASE index by default)."""
    return Releve(date_releve=jour, index=(IndexCadran(cadran=cadran, valeur=valeur),), nature=nature)


# --- Contract demands (contrats) ------------------------------------------------------------------------------------

#: The requester's contact data the guide calls « impératif » on CF, MES, modification and cessation.
DEMANDEUR = {"nom": "BERNARD", "prenom": "Anne", "telephone": "0145000000", "email": "anne.bernard@fournisseur.example"}


def changement_fournisseur(pds: str, date_effet: date, **champs: object) -> DemandeChangementFournisseurV1:
    """A complete CF demand (estimation, contract concluded, requester given); `champs` override any field."""
    base: dict[str, object] = {
        "pds": pds,
        "date_effet_souhaitee": date_effet,
        "choix_releve": "estimation",
        "contrat_conclu": {"reference": "CC-1", "date_signature": date_effet - timedelta(days=10)},
        "telephones": ["0611223344"],
        "demandeur": DEMANDEUR,
    }
    return DemandeChangementFournisseurV1.model_validate({**base, **champs})


def demande_cessation(pds: str, date_effet: date, **champs: object) -> DemandeCessationV1:
    """A complete cessation demand (estimation, requester given); `champs` override any field."""
    base: dict[str, object] = {
        "pds": pds,
        "date_effet_souhaitee": date_effet,
        "choix_releve": "estimation",
        "motif": "déménagement",
        "demandeur": DEMANDEUR,
    }
    return DemandeCessationV1.model_validate({**base, **champs})


@contextlib.asynccontextmanager
async def unite_de_travail() -> AsyncIterator[UnitOfWork]:
    """A background job's unit of work without a runtime (what `Runtime.publishing_leftovers` yields, minus the relay)."""
    yield UnitOfWork(message_id="")
