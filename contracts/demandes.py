"""Commands published by suppliers' systems on the demands topic (one PDS each, except DemandeSansPds)."""

from datetime import date

from pydantic import Field

from contracts.base import WireModel
from contracts.common import (
    ChoixReleve,
    Contact,
    ContratConclu,
    IndexCadran,
    ModaliteIntervention,
    NiveauAcces,
    ParametresBtPlus,
    PieceJointe,
)

PDS_DESC = "Full PDS reference, ending with the activity suffix (e.g. 30001234567890EC1)."


class DeclarationAccesV1(WireModel):
    """Declare an access level (contrat conclu or mandat) of the acting supplier on a PDS."""

    pds: str = Field(description=PDS_DESC, min_length=4, max_length=40)
    niveau: NiveauAcces = Field(description="Level claimed: contrat_conclu or mandat.")
    reference_contrat: str | None = Field(default=None, max_length=64, description="Supply contract reference (mandatory for contrat_conclu).")
    date_signature_contrat: date | None = Field(default=None, description="Supply contract signature date (mandatory for contrat_conclu).")
    date_signature_mandat: date | None = Field(default=None, description="Mandate signature date (mandatory for mandat).")


class _DemandeContractuelle(WireModel):
    """Fields shared by the contract processes that need a relève choice and a date d'effet."""

    pds: str = Field(description=PDS_DESC, min_length=4, max_length=40)
    date_effet_souhaitee: date = Field(description="Desired date d'effet.")
    choix_releve: ChoixReleve = Field(description="autoreleve (C5 only), estimation, or releve_speciale (intervention).")
    index_autoreleve: tuple[IndexCadran, ...] | None = Field(default=None, description="Index given by the supplier (mandatory for autoreleve).")
    date_autoreleve: date | None = Field(default=None, description="Date of the supplier-given index (mandatory for autoreleve).")
    express: bool = Field(default=False, description="Express demand: the GRD team is e-mailed with the affaire number.")
    commentaire: str | None = Field(default=None, max_length=2000, description="Free comment for the GRD.")
    demandeur: Contact | None = Field(
        default=None,
        description="Requester's full contact data (« impératif » in the guide: the platform refuses DEMANDEUR_MANQUANT without it).",
    )
    modalite_intervention: ModaliteIntervention | None = Field(
        default=None,
        description="« standard ou urgent »: mandatory when the operation is done by tele-operation on an AMM meter (CF, MES, cessation).",
    )
    configuration_demandee: str | None = Field(
        default=None,
        min_length=1,
        max_length=80,
        description="Meter configuration asked (AMM changement de fournisseur: mandatory when done by tele-operation).",
    )


class DemandeChangementFournisseurV1(_DemandeContractuelle):
    """Changement de fournisseur on a PDS whose occupant does not change."""

    contrat_conclu: ContratConclu = Field(description="The signed supply contract (declares the contrat conclu level).")
    changement_occupant: bool = Field(default=False, description="True if the occupant changes (then a mise en service is required).")
    telephones: tuple[str, ...] = Field(min_length=1, max_length=3, description="Occupant's phone numbers.")
    service: str | None = Field(default=None, max_length=40, description="Service (tariff option); must equal the current one (iso).")
    puissance_souscrite_kva: float | None = Field(default=None, gt=0, description="Subscribed power; if given must equal the current one (iso).")
    re_code: str | None = Field(
        default=None,
        max_length=40,
        description="Responsable d'équilibre; defaults to the supplier's own RE for C5, mandatory for BT > 36 kVA and HTA.",
    )
    parametres_bt_plus: ParametresBtPlus | None = Field(
        default=None, description="Version, type de tension, type de redevance de comptage: mandatory for BT > 36 kVA and HTA."
    )


class DemandeMiseEnServiceV1(_DemandeContractuelle):
    """Mise en service of a PDS for a new occupant."""

    contrat_conclu: ContratConclu = Field(description="The signed supply contract (declares the contrat conclu level).")
    occupant: Contact = Field(description="New occupant's full contact data.")
    service: str = Field(min_length=1, max_length=40, description="Service (tariff option), e.g. BASE, HPHC.")
    puissance_souscrite_kva: float = Field(gt=0, le=100000, description="Subscribed power in kVA.")
    usage: str = Field(default="residentiel", max_length=40, description="Usage of the supply.")
    re_code: str = Field(min_length=3, max_length=40, description="Responsable d'équilibre code (segment suffix C1 or C2).")
    parametres_bt_plus: ParametresBtPlus | None = Field(default=None, description="Mandatory for BT > 36 kVA and HTA.")


class DemandeModificationREV1(WireModel):
    """Change of responsable d'équilibre on the supplier's contract (immediate)."""

    pds: str = Field(description=PDS_DESC, min_length=4, max_length=40)
    re_code: str = Field(min_length=3, max_length=40, description="New RE code; its segment suffix must match the customer's segment.")


class DemandeModificationContratV1(_DemandeContractuelle):
    """Change of service, puissance souscrite or usage on the supplier's contract."""

    service: str | None = Field(default=None, max_length=40, description="New service, if it changes.")
    puissance_souscrite_kva: float | None = Field(default=None, gt=0, le=100000, description="New subscribed power, if it changes.")
    usage: str | None = Field(default=None, max_length=40, description="New usage, if it changes.")
    parametres_bt_plus: ParametresBtPlus | None = Field(default=None, description="Mandatory for BT > 36 kVA and HTA.")


class DemandeCessationV1(_DemandeContractuelle):
    """Cessation of the supplier's contract on a PDS."""

    motif: str = Field(min_length=1, max_length=200, description="Reason of the cessation.")


class DemandeReclamationV1(WireModel):
    """A réclamation about a PDS."""

    pds: str = Field(description=PDS_DESC, min_length=4, max_length=40)
    sous_type: str = Field(min_length=1, max_length=80, description="Sous-type of réclamation.")
    nature: str = Field(min_length=1, max_length=80, description="Nature of the réclamation.")
    libelle: str | None = Field(default=None, max_length=200, description="Short title (advised).")
    observations: str | None = Field(default=None, max_length=4000, description="Observations.")
    piece_jointe: PieceJointe | None = Field(default=None, description="One optional attachment.")
    demandeur: Contact = Field(description="Requester's contact data (mandatory).")


class DemandeDiverseV1(WireModel):
    """A demande diverse about a PDS."""

    pds: str = Field(description=PDS_DESC, min_length=4, max_length=40)
    sous_type: str = Field(min_length=1, max_length=80, description="Sous-type of the demand.")
    libelle: str | None = Field(default=None, max_length=200, description="Short title (advised by the guide).")
    observations: str = Field(min_length=1, max_length=4000, description="Observations (mandatory).")
    date_souhaitee: date = Field(description="Desired date (mandatory).")


class DemandeAnnulationV1(WireModel):
    """Cancel one of the supplier's own affaires while it is still cancellable."""

    pds: str = Field(description=PDS_DESC, min_length=4, max_length=40)
    reference_affaire: str = Field(min_length=2, max_length=40, description="Reference of the affaire to cancel.")
    motif: str | None = Field(default=None, max_length=200, description="Reason of the cancellation.")


class DemandeInterventionTechniqueV1(WireModel):
    """A technical intervention on the installation of a PDS."""

    pds: str = Field(description=PDS_DESC, min_length=4, max_length=40)
    sous_type: str = Field(min_length=1, max_length=80, description="Sous-type of intervention (mandatory).")
    date_souhaitee: date = Field(description="Desired date.")
    express: bool = Field(default=False, description="Express demand.")
    commentaire: str | None = Field(default=None, max_length=2000, description="Free comment.")
    libelle: str | None = Field(default=None, max_length=200, description="Short title (advised by the guide).")
    demandeur: Contact | None = Field(
        default=None,
        description="Requester's full contact data (« impératif » in the guide: the platform refuses DEMANDEUR_MANQUANT without it).",
    )


class ReservationCreneauV1(WireModel):
    """Reserve (or re-reserve) an appointment slot for an affaire's intervention."""

    pds: str = Field(description=PDS_DESC, min_length=4, max_length=40)
    reference_affaire: str = Field(min_length=2, max_length=40, description="Affaire whose intervention is planned.")
    creneau_id: str = Field(min_length=1, max_length=80, description="Slot id as returned by the slot search.")


class DeplanificationV1(WireModel):
    """Undo the reservation of an affaire's intervention."""

    pds: str = Field(description=PDS_DESC, min_length=4, max_length=40)
    reference_affaire: str = Field(min_length=2, max_length=40, description="Affaire whose reservation is undone.")


class DemandeSansPdsV1(WireModel):
    """A demand without a PDS (chantier, provisoire): not handled by the platform, always refused."""

    nature: str = Field(min_length=1, max_length=40, description="chantier or provisoire.")
    adresse: str = Field(min_length=1, max_length=300, description="Address of the site.")
    commentaire: str | None = Field(default=None, max_length=2000, description="Free comment.")
