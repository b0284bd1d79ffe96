"""The refusal vocabulary: every code the platform refuses with, the refusal value, the step that refused, one builder.

A refusal is a normal outcome (style guide): a stable UPPER_SNAKE_CASE code a supplier's system can branch on and a
French message saying what is wrong and what to do. On the wire `DemandeRefuseeV1.code` stays a plain string (a new
code must not make an older consumer reject the outcome); `CodeRefus` is the list of the codes we emit, and the
services build their refusals from it so that a code is never spelled twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # contracts.evenements documents its code fields with CodeRefus: the builder imports the model when called.
    from contracts.evenements import DemandeRefuseeV1


class CodeRefus(StrEnum):
    """Every refusal code the platform emits (DemandeRefusee, RealisationRefusee, HTTP search errors)."""

    # --- Any step: the message itself -----------------------------------------------------------------------------
    MESSAGE_INVALIDE = "MESSAGE_INVALIDE"  # the message or its payload does not match its schema: fix the fields named
    MESSAGE_TROP_VOLUMINEUX = "MESSAGE_TROP_VOLUMINEUX"  # the demand is too big for its qualification to travel on the bus
    CLE_INCOHERENTE = "CLE_INCOHERENTE"  # the Kafka key is not the demand's PDS (its order with the PDS's messages is lost)
    HORODATAGE_FUTUR = "HORODATAGE_FUTUR"  # the demand is dated after its receipt: the sender's clock is wrong
    ERREUR_TECHNIQUE = "ERREUR_TECHNIQUE"  # the platform gave the demand up after its retries (it is in the dead letters)

    # --- Passerelle: the supplier's channel ------------------------------------------------------------------------
    FOURNISSEUR_ABSENT = "FOURNISSEUR_ABSENT"  # the envelope names no acting supplier (`fournisseur` empty or missing)
    FOURNISSEUR_NON_CONFORME = "FOURNISSEUR_NON_CONFORME"  # the envelope names another supplier than the channel's owner
    TYPE_NON_ACCEPTE = "TYPE_NON_ACCEPTE"  # the message type (or version) is not a supplier demand

    # --- Référentiel: PDS, access level, access declarations -------------------------------------------------------
    DEMANDE_SANS_PDS = "DEMANDE_SANS_PDS"  # demands without PDS (chantier, provisoire) go to the GRD by e-mail
    PDS_INCONNU = "PDS_INCONNU"  # the GRD does not know the PDS reference
    NIVEAU_ACCES_INSUFFISANT = "NIVEAU_ACCES_INSUFFISANT"  # the supplier's access level on the PDS is below what the demand needs
    DECLARATION_INCOMPLETE = "DECLARATION_INCOMPLETE"  # an access declaration lacks its contract reference or signature date
    NIVEAU_NON_DECLARABLE = "NIVEAU_NON_DECLARABLE"  # only contrat_conclu and mandat are declared (titulaire follows the contract)
    DATE_SIGNATURE_FUTURE = "DATE_SIGNATURE_FUTURE"  # a declared contract or mandate signature date is in the future

    # --- Référentiel: PDS search over HTTP (400 answers) -----------------------------------------------------------
    CRITERES_INSUFFISANTS = "CRITERES_INSUFFISANTS"  # not one of the search criteria combinations the guide allows
    CARACTERE_JOKER_INTERDIT = "CARACTERE_JOKER_INTERDIT"  # `*` is not allowed in a search value
    REFERENCE_PDS_INCOMPLETE = "REFERENCE_PDS_INCOMPLETE"  # a PDS reference that is not 14 digits plus the activity suffix
    ADRESSE_INCOMPLETE = "ADRESSE_INCOMPLETE"  # the address lacks numéro, voie, code postal or commune (or a 5-digit code postal)

    # --- Contrats: common checks of the contract processes ---------------------------------------------------------
    DEMANDEUR_MANQUANT = "DEMANDEUR_MANQUANT"  # the requester's contact data (« impératif » in the guide) is missing
    DATE_EFFET_PASSEE = "DATE_EFFET_PASSEE"  # the date d'effet asked is before today
    DATE_EFFET_TROP_LOINTAINE = "DATE_EFFET_TROP_LOINTAINE"  # the date d'effet asked is beyond the planning horizon
    DATE_EFFET_CF_HORS_DELAI = "DATE_EFFET_CF_HORS_DELAI"  # a changement de fournisseur takes effect within the legal delay (L224-14)
    RE_INCONNU = "RE_INCONNU"  # the responsable d'équilibre is unknown (or the supplier has no default RE)
    RE_SEGMENT_INCOMPATIBLE = "RE_SEGMENT_INCOMPATIBLE"  # the RE's code does not match the PDS's segment
    RE_MANQUANT = "RE_MANQUANT"  # BT > 36 kVA and HTA contracts need an explicit RE
    AUTORELEVE_HORS_C5 = "AUTORELEVE_HORS_C5"  # an autorelève is only possible for C5 customers
    AUTORELEVE_INDEX_MANQUANT = "AUTORELEVE_INDEX_MANQUANT"  # an autorelève needs the index and its date
    MODALITE_INTERVENTION_MANQUANTE = "MODALITE_INTERVENTION_MANQUANTE"  # a tele-operated AMM meter needs « standard » or « urgent »
    CONFIGURATION_MANQUANTE = "CONFIGURATION_MANQUANTE"  # a CF by tele-operation needs the meter configuration asked
    PARAMETRES_BT_PLUS_MANQUANTS = "PARAMETRES_BT_PLUS_MANQUANTS"  # BT > 36 kVA and HTA need version, type de tension, redevance
    PUISSANCE_HORS_SEGMENT = "PUISSANCE_HORS_SEGMENT"  # the power asked exceeds the segment's maximum (a connection study is needed)

    # --- Contrats: process rules -----------------------------------------------------------------------------------
    SOUSCRIPTION_EN_COURS = "SOUSCRIPTION_EN_COURS"  # a subscription (CF or MES) is already under way on the PDS
    CF_CHANGEMENT_OCCUPANT = "CF_CHANGEMENT_OCCUPANT"  # the occupant changes: a mise en service is needed, not a CF
    CF_DEJA_TITULAIRE = "CF_DEJA_TITULAIRE"  # the supplier already holds the PDS's contract
    CF_PDS_SANS_CONTRAT = "CF_PDS_SANS_CONTRAT"  # no contract in service to take over: a mise en service is needed
    CF_NON_ISO = "CF_NON_ISO"  # a CF keeps the current service and subscribed power (a change is a modification)
    NON_TITULAIRE = "NON_TITULAIRE"  # only the holder of the contract may modify or end it
    OPERATION_EN_COURS = "OPERATION_EN_COURS"  # a subscription, modification or cessation of the contract is under way
    MODIFICATION_VIDE = "MODIFICATION_VIDE"  # the modification changes nothing
    MODIFICATION_AVANT_SOLDE_CF = "MODIFICATION_AVANT_SOLDE_CF"  # a power or tariff change waits until the CF affaire is soldée

    # --- Affaires ----------------------------------------------------------------------------------------------------
    AFFAIRE_INCONNUE = "AFFAIRE_INCONNUE"  # no affaire has this reference
    AFFAIRE_AUTRE_FOURNISSEUR = "AFFAIRE_AUTRE_FOURNISSEUR"  # the affaire belongs to another supplier
    AFFAIRE_NON_ANNULABLE = "AFFAIRE_NON_ANNULABLE"  # the affaire is finished or its intervention done: too late to cancel
    DATE_SOUHAITEE_PASSEE = "DATE_SOUHAITEE_PASSEE"  # the date asked for an intervention is before today
    PIECE_JOINTE_INVALIDE = "PIECE_JOINTE_INVALIDE"  # the attachment is not valid base64
    PIECE_JOINTE_TROP_VOLUMINEUSE = "PIECE_JOINTE_TROP_VOLUMINEUSE"  # the attachment exceeds the size limit

    # --- Planification: appointments -------------------------------------------------------------------------------
    INTERVENTION_INCONNUE = "INTERVENTION_INCONNUE"  # no intervention for this affaire (or it concerns another PDS)
    PLANIFICATION_PAR_LE_GRD = "PLANIFICATION_PAR_LE_GRD"  # BT > 36 kVA or HTA: the GRD team plans, no self-service booking
    ETUDE_TECHNIQUE_REQUISE = "ETUDE_TECHNIQUE_REQUISE"  # a technical study comes first: nothing can be booked yet
    INTERVENTION_NON_PLANIFIABLE = "INTERVENTION_NON_PLANIFIABLE"  # done by tele-operation, or already done or cancelled
    INTERVENTION_NON_PLANIFIEE = "INTERVENTION_NON_PLANIFIEE"  # nothing to unbook: the intervention holds no slot
    CRENEAU_INCONNU = "CRENEAU_INCONNU"  # the slot does not exist for this PDS's zone
    MODE_PLANIFICATION_INCOMPATIBLE = "MODE_PLANIFICATION_INCOMPATIBLE"  # the slot's mode is not the intervention's
    CRENEAU_HORS_DELAI = "CRENEAU_HORS_DELAI"  # the slot is outside the bookable period
    CRENEAU_AVANT_DATE_EFFET = "CRENEAU_AVANT_DATE_EFFET"  # the slot is before the date d'effet asked
    CRENEAU_COMPLET = "CRENEAU_COMPLET"  # the slot has no place left

    # --- Planification: realisations reported by the GRD (RealisationRefuseeV1) -------------------------------------
    REALISATION_DATE_FUTURE = "REALISATION_DATE_FUTURE"  # a realisation dated after today
    REALISATION_AVANT_DATE_EFFET = "REALISATION_AVANT_DATE_EFFET"  # a realisation dated before the date d'effet asked


class Etape(StrEnum):
    """The service that refused a demand (`DemandeRefuseeV1.etape`)."""

    PASSERELLE = "passerelle"
    REFERENTIEL = "referentiel"
    CONTRATS = "contrats"
    AFFAIRES = "affaires"
    PLANIFICATION = "planification"


@dataclass(frozen=True)
class Refus:
    """A refusal decided by a pure rule: a stable code and a French message saying what is wrong and what to do."""

    code: CodeRefus
    message: str


#: The refusal owed to a demand the platform gave up on after its retries (the original is in the dead letters).
REFUS_ERREUR_TECHNIQUE = Refus(
    CodeRefus.ERREUR_TECHNIQUE,
    "Votre demande n'a pas pu être traitée à la suite d'une erreur technique du GRD ; elle a été mise de côté pour "
    "analyse. Renvoyez-la sous un nouvel identifiant si le GRD ne vous recontacte pas.",
)

#: The requester's contact data is missing: « il est impératif de saisir l'intégralité des coordonnées personnelles du
#: demandeur » (guide: CF, MES, modification, cessation, intervention technique). One text for every service.
REFUS_DEMANDEUR_MANQUANT = Refus(
    CodeRefus.DEMANDEUR_MANQUANT,
    "Les coordonnées du demandeur (nom, prénom, téléphone) sont obligatoires : complétez le champ « demandeur » "
    "et renvoyez la demande.",
)


def demande_refusee(demande_message_id: uuid.UUID | None, demande_type: str | None, pds: str | None, refus: Refus, etape: Etape) -> DemandeRefuseeV1:
    """The DemandeRefusee outcome of a demand (ids None when the demand could not even be read)."""
    from contracts.evenements import DemandeRefuseeV1

    return DemandeRefuseeV1(
        demande_message_id=demande_message_id,
        demande_type=demande_type,
        pds=pds,
        code=refus.code.value,
        message=refus.message,
        etape=etape.value,
    )
