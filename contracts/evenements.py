"""Events and internal commands exchanged between the platform's services and with downstream consumers."""

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import Field

from contracts.base import WireModel
from contracts.common import (
    Contact,
    EtatAffaire,
    EtatContractuelPds,
    EtatContrat,
    EvenementC15,
    IndexCadran,
    ModaliteIntervention,
    ModeIntervention,
    MotifReleve,
    NiveauAcces,
    OperationTechnique,
    Releve,
    Segment,
    StatutAffaire,
    StatutIntervention,
    TypeAffaire,
)
from contracts.refus import CodeRefus, Etape


class CompteurInfo(WireModel):
    """Metering equipment of a PDS as needed by the processes."""

    reference: str = Field(description="Meter reference.")
    amm: bool = Field(description="True for a communicating (AMM) meter, tele-operable.")
    localisation: str = Field(description="interieur or exterieur.")
    mode_releve: str = Field(description="telereleve or sur_site.")
    teleoperable: bool = Field(default=True, description="False when the head-end cannot reach the meter (fallback to an appointment).")


class ContextePds(WireModel):
    """Snapshot of a PDS taken by the référentiel when it qualified a demand."""

    pds: str = Field(description="Full PDS reference.")
    segment: Segment = Field(description="Market segment.")
    niveau_tension: str = Field(description="BT or HTA.")
    etat: str = Field(
        description="Contractual state: en_service, resilie, en_cours_de_raccordement, ... (values: contracts.common.EtatContractuelPds).",
        examples=[e.value for e in EtatContractuelPds],
    )
    coupe_pour_non_paiement: bool = Field(description="Supply cut for non-payment.")
    zone: str = Field(description="Technician zone of the PDS.")
    compteur: CompteurInfo = Field(description="The PDS meter.")
    occupant: Contact | None = Field(default=None, description="Current occupant, if any.")
    titulaire: str | None = Field(default=None, description="Supplier currently holding the contract, if any.")
    historique_releves: tuple[Releve, ...] = Field(
        default=(), description="The PDS's latest real readings, oldest first: the base of an estimated index at the date d'effet."
    )


class DemandeQualifieeV1(WireModel):
    """A supplier demand that passed the access-level check, enriched with the PDS context."""

    demande_message_id: uuid.UUID = Field(description="message_id of the original demand.")
    demande_type: str = Field(description="Type of the original demand.")
    demande: dict[str, Any] = Field(description="Payload of the original demand, as validated.")
    niveau_acces: NiveauAcces = Field(description="Access level the supplier holds on the PDS.")
    contexte: ContextePds = Field(description="PDS snapshot.")


class BesoinIntervention(WireModel):
    """What the process needs done on the installation."""

    mode: ModeIntervention = Field(description="Tele-operation, appointment on a slot, or half-day without presence.")
    operation: OperationTechnique = Field(description="Technical operation.")
    date_souhaitee: date = Field(description="Desired date of the intervention / date d'effet.")
    duree_minutes: int = Field(ge=0, description="Planned duration.")
    augmentation_puissance_kva: float = Field(default=0, description="Power increase asked.")
    puissance_cible_kva: float | None = Field(default=None, description="New subscribed power asked by a modification, if it changes.")
    etude_technique_requise: bool = Field(
        default=False, description="A power increase to a new power above 6 kVA: a technical study the GRD concludes comes first."
    )
    planification_grd: bool = Field(
        default=False, description="BT > 36 kVA or HTA: no self-service planning nor tele-operation, the GRD team plans the intervention."
    )
    mode_repli: ModeIntervention | None = Field(
        default=None, description="Mode to fall back to when a tele-operation is not possible (créneau or présence non obligatoire)."
    )
    modalite: ModaliteIntervention | None = Field(default=None, description="« standard ou urgent », as asked by the supplier.")
    configuration: str | None = Field(default=None, description="Meter configuration asked (AMM operations).")


class OuvertureAffaireDemandeeV1(WireModel):
    """Command from contrats to affaires: open the affaire of a validated contract demand."""

    reference_affaire: str = Field(description="Reference of the affaire to open (derived from the demand id).")
    type_affaire: TypeAffaire = Field(description="Type of the affaire.")
    demande_message_id: uuid.UUID = Field(description="Original demand id.")
    pds: str = Field(description="Full PDS reference.")
    contrat_id: str | None = Field(default=None, description="Contract created or changed by the demand.")
    express: bool = Field(default=False, description="Express demand.")
    intervention: BesoinIntervention | None = Field(default=None, description="Intervention needed, if any.")
    date_effet: date | None = Field(default=None, description="Date d'effet of the contractual change.")
    resume: str = Field(description="One French line describing the demand, for the généralités view.")
    contexte: ContextePds = Field(description="PDS snapshot.")
    demandeur: Contact | None = Field(default=None, description="Requester's contact data, for the généralités view.")


class DemandeAccepteeV1(WireModel):
    """Outcome of a demand: accepted, with the affaire reference (published to the supplier)."""

    demande_message_id: uuid.UUID = Field(description="Original demand id.")
    demande_type: str = Field(description="Original demand type.")
    reference_affaire: str | None = Field(default=None, description="Reference of the affaire opened or acted on (none for an access declaration).")
    pds: str = Field(description="Full PDS reference.")
    message: str = Field(description="French confirmation message.")


class DemandeRefuseeV1(WireModel):
    """Outcome of a demand: refused, with a stable code and a French message."""

    demande_message_id: uuid.UUID | None = Field(description="Original demand id, when it could be read.")
    demande_type: str | None = Field(description="Original demand type, when it could be read.")
    pds: str | None = Field(default=None, description="PDS reference, when known.")
    code: str = Field(
        description="Stable refusal code, e.g. NIVEAU_ACCES_INSUFFISANT (the codes emitted: contracts.refus.CodeRefus; new ones may be added).",
        examples=[c.value for c in CodeRefus],
    )
    message: str = Field(description="French message explaining the refusal and what to do.")
    etape: str = Field(
        description="Service that refused: passerelle, referentiel, contrats, affaires, planification (contracts.refus.Etape).",
        examples=[e.value for e in Etape],
    )


class AffaireStatutChangeV1(WireModel):
    """An affaire was created or changed status."""

    reference_affaire: str = Field(description="Affaire reference.")
    type_affaire: TypeAffaire = Field(description="Affaire type.")
    pds: str = Field(description="Full PDS reference.")
    statut: StatutAffaire = Field(description="Coarse status.")
    etat: str = Field(
        description="Finer state, e.g. creee, en_attente_intervention, etude_technique, soldee (values: contracts.common.EtatAffaire).",
        examples=[e.value for e in EtatAffaire],
    )
    motif: str | None = Field(default=None, description="Reason of the change, in French.")
    express: bool = Field(default=False, description="Express affaire.")


class ContratEtatChangeV1(WireModel):
    """A contrat d'acheminement changed state."""

    contrat_id: str = Field(description="Contract id.")
    pds: str = Field(description="Full PDS reference.")
    titulaire: str = Field(description="Supplier holding the contract.")
    etat: EtatContrat = Field(description="New state.")
    reference_affaire: str | None = Field(default=None, description="Affaire that caused the change.")
    date_effet: date | None = Field(default=None, description="Date the state takes effect.")
    service: str | None = Field(default=None, description="Service (tariff option).")
    puissance_souscrite_kva: float | None = Field(default=None, description="Subscribed power.")
    re_code: str | None = Field(default=None, description="Responsable d'équilibre.")
    occupant: Contact | None = Field(default=None, description="Occupant of the PDS under this contract.")
    releve: Releve | None = Field(default=None, description="Reading at the change, when there is one.")


class InterventionDemandeeV1(WireModel):
    """Command from affaires to planification: carry out an intervention for an affaire."""

    reference_affaire: str = Field(description="Affaire reference.")
    pds: str = Field(description="Full PDS reference.")
    besoin: BesoinIntervention = Field(description="What is needed.")
    zone: str = Field(description="Technician zone.")
    compteur: CompteurInfo = Field(description="Meter of the PDS.")


class AnnulationInterventionDemandeeV1(WireModel):
    """Command from affaires to planification: cancel an affaire's intervention (and free its slot)."""

    reference_affaire: str = Field(description="Affaire reference.")
    pds: str = Field(description="Full PDS reference.")


class InterventionStatutChangeV1(WireModel):
    """An intervention changed state (planned, done, not done, cancelled, technical study)."""

    reference_affaire: str = Field(description="Affaire reference.")
    pds: str = Field(description="Full PDS reference.")
    statut: StatutIntervention = Field(description="New state.")
    mode: ModeIntervention = Field(description="How it is carried out.")
    creneau_id: str | None = Field(default=None, description="Slot reserved, when planned on a slot.")
    debut: datetime | None = Field(default=None, description="Start of the appointment.")
    fin: datetime | None = Field(default=None, description="End of the appointment.")
    date_realisation: date | None = Field(default=None, description="Date it was done.")
    releve: Releve | None = Field(default=None, description="Real reading taken, when done.")
    motif: str | None = Field(default=None, description="Reason (not done, study, cancellation), French.")
    compte_rendu: str | None = Field(default=None, description="Technician's report, when done on site.")


class ReleveEnregistreeV1(WireModel):
    """A reading was recorded on a PDS."""

    pds: str = Field(description="Full PDS reference.")
    releve: Releve = Field(description="The reading.")
    motif: str = Field(
        description="Why it was taken: mise_en_service, changement_fournisseur, cyclique, ... (values: contracts.common.MotifReleve).",
        examples=[m.value for m in MotifReleve],
    )
    titulaire: str | None = Field(default=None, description="Supplier holding the PDS on the reading date.")
    reference_affaire: str | None = Field(default=None, description="Affaire that produced it.")


class NotificationEnvoyeeV1(WireModel):
    """An e-mail was handed to the SMTP relay."""

    email_message_id: str = Field(description="RFC 5322 Message-ID, derived from the causing event id.")
    destinataires: tuple[str, ...] = Field(description="Recipients.")
    sujet: str = Field(description="Subject.")
    modele: str = Field(description="Template name.")
    reference_affaire: str | None = Field(default=None, description="Affaire concerned.")


class FluxC15V1(WireModel):
    """C15-like flux: contractual situation change of a point (entry or exit of a supplier's perimeter)."""

    pds: str = Field(description="Full PDS reference.")
    evenement: str = Field(
        description="MES, CFNE (CF entrant), CFNS (CF sortant) or RES (cessation) (values: contracts.common.EvenementC15).",
        examples=[e.value for e in EvenementC15],
    )
    fournisseur: str = Field(description="Supplier entering or leaving.")
    re_code: str | None = Field(description="Responsable d'équilibre.")
    reference_affaire: str = Field(description="Affaire id.")
    date_effet: date = Field(description="Date of the change.")
    segment: Segment | None = Field(default=None, description="Segment of the point.")
    puissance_souscrite_kva: float | None = Field(default=None, description="Subscribed power.")
    releve_avant: Releve | None = Field(default=None, description="Reading before the change.")
    releve_apres: Releve | None = Field(default=None, description="Reading after the change.")


class FluxR15V1(WireModel):
    """R15-like flux: a reading published to the supplier holding the point."""

    pds: str = Field(description="Full PDS reference.")
    fournisseur: str | None = Field(description="Supplier holding the point at the reading date.")
    releve: Releve = Field(description="The reading.")
    motif: str = Field(description="Reason of the reading (values: contracts.common.MotifReleve).", examples=[m.value for m in MotifReleve])


class TeleOperationDemandeeV1(WireModel):
    """Command to the meter head-end system: tele-operate an AMM meter at a date."""

    reference_affaire: str = Field(description="Affaire reference.")
    pds: str = Field(description="Full PDS reference.")
    compteur: str = Field(description="Meter reference.")
    operation: OperationTechnique = Field(description="Operation to perform.")
    date_effet: date = Field(description="Date to perform it.")
    tentative: int = Field(default=1, ge=1, description="Attempt number (a lost or failed tele-operation is sent again, a bounded number of times).")
    puissance_kva: float | None = Field(default=None, description="New breaker setting (kVA) of a power change.")


class ResultatTeleOperationV1(WireModel):
    """GRD-side input: result of a tele-operation from the meter head-end system."""

    reference_affaire: str = Field(description="Affaire reference.")
    pds: str = Field(description="Full PDS reference.")
    succes: bool = Field(description="True if the operation was done.")
    date_realisation: date | None = Field(default=None, description="Date it was done.")
    index: tuple[IndexCadran, ...] | None = Field(default=None, description="Real index read by the meter.")
    motif_echec: str | None = Field(default=None, description="Why it failed (then an appointment is needed).")
    tentative: int | None = Field(default=None, description="Attempt number of the command answered.")


class InterventionRealiseeV1(WireModel):
    """GRD-side input: a technician did the intervention."""

    reference_affaire: str = Field(description="Affaire reference.")
    pds: str = Field(description="Full PDS reference.")
    date_realisation: date = Field(description="Date it was done.")
    index: tuple[IndexCadran, ...] = Field(min_length=1, description="Real index read.")
    compte_rendu: str = Field(min_length=1, max_length=4000, description="Technician's report.")


class InterventionNonRealiseeV1(WireModel):
    """GRD-side input: the intervention could not be done."""

    reference_affaire: str = Field(description="Affaire reference.")
    pds: str = Field(description="Full PDS reference.")
    motif: str = Field(min_length=1, max_length=400, description="Why (absent customer, access impossible, ...).")


class AffaireSoldeeV1(WireModel):
    """GRD-side input: the GRD closes (solde) an affaire."""

    reference_affaire: str = Field(description="Affaire reference.")
    pds: str = Field(description="Full PDS reference.")
    commentaire: str | None = Field(default=None, max_length=2000, description="Closing comment.")


class EtudeTechniqueConclueV1(WireModel):
    """GRD-side input: the GRD concluded the technical study of an intervention (favourable: planning resumes)."""

    reference_affaire: str = Field(description="Affaire reference.")
    pds: str = Field(description="Full PDS reference.")
    favorable: bool = Field(description="True: the intervention may be planned; False: the affaire is refused.")
    commentaire: str = Field(min_length=1, max_length=2000, description="The GRD's conclusion, in French (mailed to the supplier).")
    operateur: str | None = Field(default=None, max_length=80, description="GRD operator who concluded.")


class RealisationRefuseeV1(WireModel):
    """A reported realisation the platform does not apply (dated in the future or before the date d'effet), with a code."""

    reference_affaire: str = Field(description="Affaire reference.")
    pds: str = Field(description="Full PDS reference.")
    code: str = Field(
        description="Stable code: REALISATION_DATE_FUTURE, REALISATION_AVANT_DATE_EFFET (contracts.refus.CodeRefus).",
        examples=[CodeRefus.REALISATION_DATE_FUTURE.value, CodeRefus.REALISATION_AVANT_DATE_EFFET.value],
    )
    message: str = Field(description="French message saying what is wrong and what to send instead.")
    date_realisation: date | None = Field(default=None, description="Date reported.")
