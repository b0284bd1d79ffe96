"""Vocabulary shared by several messages: enumerations and small value objects."""

from datetime import date
from enum import StrEnum

from pydantic import Field

from contracts.base import WireModel


class NiveauAcces(StrEnum):
    """Access level (niveau ICS) of a supplier on a PDS, from the weakest to the strongest."""

    AUCUN = "aucun"
    MANDAT = "mandat"
    CONTRAT_CONCLU = "contrat_conclu"
    TITULAIRE = "titulaire"


class Segment(StrEnum):
    """Market segment of a PDS."""

    C1 = "C1"
    C2 = "C2"
    C4 = "C4"
    C5 = "C5"


class ChoixReleve(StrEnum):
    """How the index at the date d'effet is obtained."""

    AUTORELEVE = "autoreleve"
    ESTIMATION = "estimation"
    RELEVE_SPECIALE = "releve_speciale"


class ModeIntervention(StrEnum):
    """How an intervention is carried out."""

    TELEOPERATION = "teleoperation"
    CRENEAU = "creneau"
    PRESENCE_NON_OBLIGATOIRE = "presence_non_obligatoire"


class ModaliteIntervention(StrEnum):
    """Modalité d'intervention asked for an operation on a communicating (AMM) meter: « standard ou urgent »."""

    STANDARD = "standard"
    URGENT = "urgent"


class OperationTechnique(StrEnum):
    """Nature of the technical operation an affaire needs."""

    MISE_EN_SERVICE = "mise_en_service"
    CHANGEMENT_FOURNISSEUR = "changement_fournisseur"
    MODIFICATION = "modification"
    CESSATION = "cessation"
    INTERVENTION_TECHNIQUE = "intervention_technique"


class TypeAffaire(StrEnum):
    """Type of an affaire."""

    CHANGEMENT_FOURNISSEUR = "changement_fournisseur"
    MISE_EN_SERVICE = "mise_en_service"
    MODIFICATION_RE = "modification_re"
    MODIFICATION_CONTRAT = "modification_contrat"
    CESSATION = "cessation"
    RECLAMATION = "reclamation"
    DEMANDE_DIVERSE = "demande_diverse"
    INTERVENTION_TECHNIQUE = "intervention_technique"


class StatutAffaire(StrEnum):
    """Coarse status of an affaire (Enedis SGE vocabulary)."""

    EN_COURS = "en_cours"
    TERMINEE = "terminee"
    ANNULEE = "annulee"


class EtatContrat(StrEnum):
    """Lifecycle state of a contrat d'acheminement."""

    EN_COURS_DE_SOUSCRIPTION = "en_cours_de_souscription"
    EN_SERVICE = "en_service"
    EN_COURS_DE_MODIFICATION = "en_cours_de_modification"
    EN_COURS_DE_CESSATION = "en_cours_de_cessation"
    CESSE = "cesse"
    ANNULE = "annule"


class StatutIntervention(StrEnum):
    """Lifecycle state of an intervention."""

    DEMANDEE = "demandee"
    PLANIFIEE = "planifiee"
    REALISEE = "realisee"
    NON_REALISEE = "non_realisee"
    ANNULEE = "annulee"
    ETUDE_TECHNIQUE = "etude_technique"


class EtatAffaire(StrEnum):
    """Finer state of an affaire (`AffaireStatutChangeV1.etat`); the wire field stays a string so that a new state is
    not a breaking change for older consumers."""

    CREEE = "creee"
    EN_ATTENTE_INTERVENTION = "en_attente_intervention"
    EN_ATTENTE_DATE_EFFET = "en_attente_date_effet"
    A_PLANIFIER = "a_planifier"
    INTERVENTION_PLANIFIEE = "intervention_planifiee"
    ETUDE_TECHNIQUE = "etude_technique"
    INTERVENTION_NON_REALISEE = "intervention_non_realisee"
    INTERVENTION_ANNULEE = "intervention_annulee"
    INTERVENTION_REALISEE = "intervention_realisee"
    REFUSEE_ETUDE_TECHNIQUE = "refusee_etude_technique"
    ANNULEE = "annulee"
    TERMINEE = "terminee"
    SOLDEE = "soldee"


class EtatContractuelPds(StrEnum):
    """Contractual state of a PDS in the référentiel (`ContextePds.etat`; a string on the wire)."""

    EN_SERVICE = "en_service"
    EN_COURS_DE_RESILIATION = "en_cours_de_resiliation"
    RESILIE = "resilie"
    EN_COURS_DE_RACCORDEMENT = "en_cours_de_raccordement"


class EvenementC15(StrEnum):
    """The contractual event a C15 flux reports (`FluxC15V1.evenement`; a string on the wire)."""

    MES = "MES"
    CFNE = "CFNE"
    CFNS = "CFNS"
    RES = "RES"


class MotifReleve(StrEnum):
    """Why a reading was taken (`ReleveEnregistreeV1.motif`, `FluxR15V1.motif`; a string on the wire)."""

    MISE_EN_SERVICE = "mise_en_service"
    CHANGEMENT_FOURNISSEUR = "changement_fournisseur"
    MODIFICATION_CONTRACTUELLE = "modification_contractuelle"
    CESSATION = "cessation"
    INTERVENTION = "intervention"
    CYCLIQUE = "cyclique"


class NatureReleve(StrEnum):
    """Nature of a meter reading."""

    REELLE = "reelle"
    ESTIMEE = "estimee"
    AUTORELEVE = "autoreleve"


class IndexCadran(WireModel):
    """One register value of a meter reading."""

    cadran: str = Field(description="Register name, e.g. BASE, HP, HC.", min_length=1, max_length=20)
    valeur: int = Field(ge=0, description="Index value in kWh.")


class Releve(WireModel):
    """A meter reading: date, index per cadran and nature."""

    date_releve: date = Field(description="Date of the reading.")
    index: tuple[IndexCadran, ...] = Field(min_length=1, description="Index per cadran.")
    nature: NatureReleve = Field(description="Real, estimated or supplier-given reading.")


class ContratConclu(WireModel):
    """Declaration that the supplier signed a supply contract with the customer (required by CF and MES)."""

    reference: str = Field(min_length=1, max_length=64, description="Supplier's reference of the supply contract.")
    date_signature: date = Field(description="Signature date of the supply contract.")


class Contact(WireModel):
    """Contact data of a person (occupant, requester)."""

    civilite: str | None = Field(default=None, max_length=10, description="Civilité (M., Mme).")
    nom: str = Field(min_length=1, max_length=80, description="Last name.")
    prenom: str = Field(min_length=1, max_length=80, description="First name.")
    telephone: str = Field(min_length=6, max_length=20, description="Phone number.")
    email: str | None = Field(default=None, max_length=200, description="E-mail address.")


class ParametresBtPlus(WireModel):
    """Parameters mandatory for BT > 36 kVA and HTA contracts."""

    version: str = Field(min_length=1, max_length=40, description="Tariff version (formule d'acheminement).")
    type_tension: str = Field(min_length=1, max_length=40, description="Type de tension.")
    type_redevance_comptage: str = Field(min_length=1, max_length=40, description="Type de redevance de comptage.")


class PieceJointe(WireModel):
    """An attachment to a réclamation, base64-encoded, size-limited."""

    nom: str = Field(min_length=1, max_length=200, description="File name.")
    type_mime: str = Field(min_length=1, max_length=100, description="MIME type.")
    contenu_base64: str = Field(max_length=2_800_000, description="Content, base64 (at most about 2 MB decoded).")
