"""Shared vocabulary of the contract processes: the PDS aggregate, policy, decisions and small lookups (`Refus` is `contracts.refus`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from pydantic import BaseModel, Field

from contracts.base import WireModel
from contracts.common import Contact, ContratConclu, EtatContractuelPds, EtatContrat, OperationTechnique, ParametresBtPlus, Releve, Segment
from contracts.demandes import DemandeCessationV1, DemandeChangementFournisseurV1, DemandeMiseEnServiceV1, DemandeModificationContratV1
from contracts.evenements import ContextePds
from contracts.refus import Refus
from platform_kit.decision import Decided, Emission

#: The states of a contract in force (it ends when another one enters or when it is ceased).
ACTIFS = (EtatContrat.EN_SERVICE, EtatContrat.EN_COURS_DE_MODIFICATION, EtatContrat.EN_COURS_DE_CESSATION)

#: The demands that carry a relève choice and a date d'effet.
Contractuelle = DemandeChangementFournisseurV1 | DemandeMiseEnServiceV1 | DemandeModificationContratV1 | DemandeCessationV1

#: An event to publish and the supplier it concerns (the envelope's `fournisseur`; None: the causing message's).
Effet = tuple[WireModel, str | None]


class Contrat(BaseModel):
    """One contrat d'acheminement of a PDS, in any state of its lifecycle."""

    id: str
    titulaire: str
    etat: EtatContrat
    service: str | None = None
    puissance_souscrite_kva: float | None = None
    usage: str | None = None
    re_code: str | None = None
    parametres_bt_plus: ParametresBtPlus | None = None
    occupant: Contact | None = None
    contrat_conclu: ContratConclu | None = None
    date_debut: date | None = None
    date_fin: date | None = None
    references_affaires: list[str] = Field(default_factory=list)


class Changement(BaseModel):
    """A contractual change accepted but not yet effective, waiting for its intervention or its date d'effet."""

    reference_affaire: str
    operation: OperationTechnique
    contrat_id: str
    contrat_precedent_id: str | None = None
    date_effet: date
    avec_intervention: bool
    demande_message_id: uuid.UUID
    releve: Releve | None = None
    service: str | None = None
    puissance_souscrite_kva: float | None = None
    usage: str | None = None
    parametres_bt_plus: ParametresBtPlus | None = None
    #: « Estimation index demandée »: the PDS's latest real readings, to estimate the index at the date d'effet.
    estimation_base: list[Releve] = Field(default_factory=list)


class EtatPds(BaseModel):
    """The aggregate: every contract of one PDS, the pending changes and the CF affaires not yet closed."""

    pds: str
    segment: Segment | None = None
    contrats: list[Contrat] = Field(default_factory=list)
    changements: list[Changement] = Field(default_factory=list)
    cf_non_soldees: dict[str, str] = Field(default_factory=dict)
    derniere_releve: Releve | None = None
    prochaine_echeance: date | None = None


@dataclass(frozen=True)
class Regles:
    """Configurable policy of the processes."""

    horizon_jours: int = 365
    # L224-14 protects the customer (a CF takes effect within 21 days unless he asks for a later date): it is no
    # reason to refuse a later date he asked for, so the cap is off unless configured.
    delai_cf_jours: int | None = None
    durees_minutes: dict[str, int] = field(default_factory=dict)
    res_connus: tuple[str, ...] = ()
    re_par_defaut: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class Decision:
    """New state of the aggregate and the events it causes."""

    etat: EtatPds
    effets: list[Effet]

    def decided(self) -> Decided:
        """The kit's form of this decision (`platform_kit.decision.Decided`): the JSON state and the routed events."""
        return Decided(
            self.etat.model_dump(mode="json"),
            [Emission(payload) if fournisseur is None else Emission(payload, fournisseur=fournisseur) for payload, fournisseur in self.effets],
        )


def etat_initial(contexte: ContextePds) -> EtatPds:
    """State of a PDS never seen before, rebuilt from the référentiel's snapshot (the holder's contract, details unknown)."""
    etat = EtatPds(pds=contexte.pds, segment=contexte.segment)
    if contexte.titulaire and contexte.etat == EtatContractuelPds.EN_SERVICE:
        etat.contrats.append(
            Contrat(id=f"CT-{contexte.pds}-1", titulaire=contexte.titulaire, etat=EtatContrat.EN_SERVICE, occupant=contexte.occupant)
        )
    return etat


def premier(*refus: Refus | None) -> Refus | None:
    """The first refusal of an ordered list of checks (the guide: the first failing rule is the one reported)."""
    return next((r for r in refus if r is not None), None)


def contrat_actif(etat: EtatPds) -> Contrat | None:
    """The contract currently in force on the PDS, if any."""
    return next((c for c in etat.contrats if c.etat in ACTIFS), None)


def contrat_par_id(etat: EtatPds, contrat_id: str | None) -> Contrat | None:
    """The contract of the PDS with this id, if any."""
    return next((c for c in etat.contrats if c.id == contrat_id), None)


def changement_de(etat: EtatPds, reference: str) -> Changement | None:
    """The pending change of an affaire, if any."""
    return next((c for c in etat.changements if c.reference_affaire == reference), None)
