"""Pure rules of an affaire: opening, supplier demands (réclamation, diverse, intervention technique, annulation), follow-up."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.base import WireModel
from contracts.common import (
    Contact,
    EtatAffaire,
    EtatContractuelPds,
    EtatContrat,
    ModeIntervention,
    NiveauAcces,
    OperationTechnique,
    Releve,
    StatutAffaire,
    StatutIntervention,
    TypeAffaire,
)
from contracts.demandes import (
    DemandeAnnulationV1,
    DemandeDiverseV1,
    DemandeInterventionTechniqueV1,
    DemandeReclamationV1,
)
from contracts.evenements import (
    AffaireSoldeeV1,
    AffaireStatutChangeV1,
    AnnulationInterventionDemandeeV1,
    BesoinIntervention,
    ContextePds,
    ContratEtatChangeV1,
    DemandeAccepteeV1,
    DemandeQualifieeV1,
    InterventionDemandeeV1,
    InterventionStatutChangeV1,
    OuvertureAffaireDemandeeV1,
)
from contracts.listes import SOUS_TYPES_INTERVENTION_TECHNIQUE
from contracts.programmation import mode_rendez_vous, planification_libre_service
from contracts.references import reference_affaire
from contracts.refus import REFUS_DEMANDEUR_MANQUANT, CodeRefus
from contracts.refus import Refus as Refus  # re-exported: what a rule of this module answers when it refuses
from platform_kit.decision import Decided, Emission

DUREE_CRENEAU_MINUTES = 60
DUREE_DEMI_JOURNEE_MINUTES = 240

LIBELLES_TYPE: dict[TypeAffaire, str] = {
    TypeAffaire.CHANGEMENT_FOURNISSEUR: "changement de fournisseur",
    TypeAffaire.MISE_EN_SERVICE: "mise en service",
    TypeAffaire.MODIFICATION_RE: "modification du responsable d'équilibre",
    TypeAffaire.MODIFICATION_CONTRAT: "modification de contrat",
    TypeAffaire.CESSATION: "cessation",
    TypeAffaire.RECLAMATION: "réclamation",
    TypeAffaire.DEMANDE_DIVERSE: "demande diverse",
    TypeAffaire.INTERVENTION_TECHNIQUE: "intervention technique",
}

#: Type of the supplier demand behind each contract affaire (OuvertureAffaireDemandee does not carry it).
DEMANDE_PAR_TYPE: dict[TypeAffaire, str] = {
    TypeAffaire.CHANGEMENT_FOURNISSEUR: "DemandeChangementFournisseur",
    TypeAffaire.MISE_EN_SERVICE: "DemandeMiseEnService",
    TypeAffaire.MODIFICATION_RE: "DemandeModificationRE",
    TypeAffaire.MODIFICATION_CONTRAT: "DemandeModificationContrat",
    TypeAffaire.CESSATION: "DemandeCessation",
    TypeAffaire.RECLAMATION: "DemandeReclamation",
    TypeAffaire.DEMANDE_DIVERSE: "DemandeDiverse",
    TypeAffaire.INTERVENTION_TECHNIQUE: "DemandeInterventionTechnique",
}

#: The contract state that ends a contract affaire of each type.
ETAT_FINAL_CONTRAT: dict[TypeAffaire, EtatContrat] = {
    TypeAffaire.CHANGEMENT_FOURNISSEUR: EtatContrat.EN_SERVICE,
    TypeAffaire.MISE_EN_SERVICE: EtatContrat.EN_SERVICE,
    TypeAffaire.MODIFICATION_RE: EtatContrat.EN_SERVICE,
    TypeAffaire.MODIFICATION_CONTRAT: EtatContrat.EN_SERVICE,
    TypeAffaire.CESSATION: EtatContrat.CESSE,
}

DEMANDES_TRAITEES: dict[str, type[WireModel]] = {
    "DemandeReclamation": DemandeReclamationV1,
    "DemandeDiverse": DemandeDiverseV1,
    "DemandeInterventionTechnique": DemandeInterventionTechniqueV1,
    "DemandeAnnulation": DemandeAnnulationV1,
}


class Action(BaseModel):
    """One line of the actions view: what happened to the affaire, when."""

    date: datetime = Field(description="When it happened.")
    libelle: str = Field(description="French label of the action.")
    statut: StatutAffaire = Field(description="Status of the affaire after the action.")
    etat: str = Field(description="Finer state of the affaire after the action.")


class PieceJointeInfo(BaseModel):
    """Metadata of a réclamation's attachment (its content lives in a separate collection)."""

    id: str = Field(description="Id of the stored content.")
    nom: str = Field(description="File name.")
    type_mime: str = Field(description="MIME type.")
    taille_octets: int = Field(description="Decoded size in bytes.")


class Generalites(BaseModel):
    """Généralités view: what was asked, by whom, with which details."""

    resume: str = Field(description="One French line describing the demand.")
    demande_type: str = Field(description="Type of the supplier demand behind the affaire.")
    demande_message_id: str = Field(description="message_id of that demand.")
    contrat_id: str | None = Field(default=None, description="Contract created or changed, for contract affaires.")
    date_effet: date | None = Field(default=None, description="Date d'effet of the contractual change.")
    sous_type: str | None = Field(default=None, description="Sous-type (réclamation, demande diverse, intervention technique).")
    nature: str | None = Field(default=None, description="Nature of a réclamation.")
    libelle: str | None = Field(default=None, description="Short title given by the supplier.")
    observations: str | None = Field(default=None, description="Observations or comment of the supplier.")
    date_souhaitee: date | None = Field(default=None, description="Desired date (demande diverse, intervention technique).")
    demandeur: Contact | None = Field(default=None, description="Requester's contact data.")
    piece_jointe: PieceJointeInfo | None = Field(default=None, description="Attachment of a réclamation, if any.")
    motif_annulation: str | None = Field(default=None, description="Reason given when the affaire was cancelled.")


class Programmation(BaseModel):
    """Programmation view: the intervention's state and appointment."""

    statut: StatutIntervention = Field(description="State of the intervention.")
    mode: ModeIntervention = Field(description="How it is carried out.")
    date_souhaitee: date = Field(description="Desired date.")
    creneau_id: str | None = Field(default=None, description="Slot reserved.")
    debut: datetime | None = Field(default=None, description="Start of the appointment.")
    fin: datetime | None = Field(default=None, description="End of the appointment.")
    motif: str | None = Field(default=None, description="Reason of the last change (study, not done, cancellation).")


class Prestation(BaseModel):
    """Prestations view: an operation the GRD carries out for the affaire."""

    operation: OperationTechnique = Field(description="Technical operation.")
    mode: ModeIntervention = Field(description="How it is carried out.")
    duree_minutes: int = Field(description="Planned duration.")
    augmentation_puissance_kva: float = Field(default=0, description="Power increase asked.")


class CompteRendu(BaseModel):
    """Compte-rendu view: outcome of the intervention."""

    resultat: StatutIntervention = Field(description="realisee or non_realisee.")
    mode: ModeIntervention = Field(description="How it was carried out.")
    date_realisation: date | None = Field(default=None, description="Date it was done.")
    motif: str | None = Field(default=None, description="Reason when not done.")
    texte: str | None = Field(default=None, description="The technician's compte-rendu, when done on site.")


class Affaire(BaseModel):
    """The affaire aggregate with its views: généralités, programmation, prestations, compte-rendu, relève, actions."""

    model_config = ConfigDict(extra="ignore")

    reference: str = Field(description="Affaire reference.")
    type_affaire: TypeAffaire = Field(description="Type of the affaire.")
    fournisseur: str = Field(description="Supplier who asked for it.")
    pds: str = Field(description="Full PDS reference.")
    statut: StatutAffaire = Field(description="Coarse status.")
    etat: str = Field(description="Finer state.")
    express: bool = Field(default=False, description="Express affaire.")
    annulable: bool = Field(description="True while the supplier may still cancel it.")
    cree_le: datetime = Field(description="When it was created.")
    maj_le: datetime = Field(description="Last change.")
    generalites: Generalites = Field(description="Généralités view.")
    besoin_intervention: BesoinIntervention | None = Field(default=None, description="Intervention asked, if any.")
    programmation: Programmation | None = Field(default=None, description="Programmation view.")
    prestations: list[Prestation] = Field(default_factory=list, description="Prestations view.")
    compte_rendu: CompteRendu | None = Field(default=None, description="Compte-rendu view.")
    releve: Releve | None = Field(default=None, description="Relève view: reading taken by the intervention.")
    actions: list[Action] = Field(default_factory=list, description="Actions view: history of the affaire.")


@dataclass(frozen=True)
class PieceJointeStockee:
    """An attachment to store beside the affaire."""

    info: PieceJointeInfo
    contenu: bytes


@dataclass
class Decision:
    """New state of an affaire and the events it causes (payloads; the handler wraps them in envelopes)."""

    affaire: Affaire
    evenements: list[WireModel] = field(default_factory=list)
    piece_jointe: PieceJointeStockee | None = None

    def decided(self) -> Decided:
        """The kit's form of the decision: the stored affaire, its events keyed by its PDS and sent to its supplier."""
        affaire = self.affaire
        return Decided(
            affaire.model_dump(mode="json"), [Emission(e, key=affaire.pds, fournisseur=affaire.fournisseur) for e in self.evenements]
        )


def _annulable(affaire: Affaire) -> bool:
    realisee = affaire.programmation is not None and affaire.programmation.statut == StatutIntervention.REALISEE
    return affaire.statut == StatutAffaire.EN_COURS and not realisee


def _transition(affaire: Affaire, at: datetime, libelle: str, *, statut: StatutAffaire | None = None, etat: str | None = None) -> Affaire:
    """Return the affaire with a new status/state and one more line in its history."""
    changes: dict[str, Any] = {"maj_le": at}
    if statut is not None:
        changes["statut"] = statut
    if etat is not None:
        changes["etat"] = etat
    nouvelle = affaire.model_copy(update=changes)
    nouvelle = nouvelle.model_copy(
        update={
            "annulable": _annulable(nouvelle),
            "actions": [*affaire.actions, Action(date=at, libelle=libelle, statut=nouvelle.statut, etat=nouvelle.etat)],
        }
    )
    return nouvelle


def statut_change(affaire: Affaire, motif: str | None = None) -> AffaireStatutChangeV1:
    """The event telling the affaire's current status."""
    return AffaireStatutChangeV1(
        reference_affaire=affaire.reference,
        type_affaire=affaire.type_affaire,
        pds=affaire.pds,
        statut=affaire.statut,
        etat=affaire.etat,
        motif=motif,
        express=affaire.express,
    )


def _nouvelle(
    reference: str,
    type_affaire: TypeAffaire,
    fournisseur: str,
    pds: str,
    generalites: Generalites,
    at: datetime,
    *,
    express: bool = False,
) -> Affaire:
    affaire = Affaire(
        reference=reference,
        type_affaire=type_affaire,
        fournisseur=fournisseur,
        pds=pds,
        statut=StatutAffaire.EN_COURS,
        etat=EtatAffaire.CREEE,
        express=express,
        annulable=True,
        cree_le=at,
        maj_le=at,
        generalites=generalites,
    )
    return _transition(affaire, at, f"Affaire de {LIBELLES_TYPE[type_affaire]} créée")


def _acceptee(affaire: Affaire, demande_message_id: uuid.UUID) -> DemandeAccepteeV1:
    return DemandeAccepteeV1(
        demande_message_id=demande_message_id,
        demande_type=affaire.generalites.demande_type,
        reference_affaire=affaire.reference,
        pds=affaire.pds,
        message=(
            f"Votre demande de {LIBELLES_TYPE[affaire.type_affaire]} sur le PDS {affaire.pds} "
            f"a été enregistrée sous la référence {affaire.reference}."
        ),
    )


def _demander_intervention(affaire: Affaire, besoin: BesoinIntervention, contexte: ContextePds, at: datetime) -> Decision:
    """Attach an intervention to a new affaire: programmation and prestation views, command to planification."""
    affaire = affaire.model_copy(
        update={
            "besoin_intervention": besoin,
            "programmation": Programmation(statut=StatutIntervention.DEMANDEE, mode=besoin.mode, date_souhaitee=besoin.date_souhaitee),
            "prestations": [
                Prestation(
                    operation=besoin.operation,
                    mode=besoin.mode,
                    duree_minutes=besoin.duree_minutes,
                    augmentation_puissance_kva=besoin.augmentation_puissance_kva,
                )
            ],
        }
    )
    affaire = _transition(affaire, at, f"Intervention demandée pour le {besoin.date_souhaitee:%d/%m/%Y}", etat=EtatAffaire.EN_ATTENTE_INTERVENTION)
    commande = InterventionDemandeeV1(
        reference_affaire=affaire.reference, pds=affaire.pds, besoin=besoin, zone=contexte.zone, compteur=contexte.compteur
    )
    return Decision(affaire, [commande, statut_change(affaire)])


def ouvrir(cmd: OuvertureAffaireDemandeeV1, fournisseur: str, today: date, at: datetime) -> Decision:
    """Open the affaire of a contract demand validated by contrats: accept the demand, ask for the intervention if any."""
    generalites = Generalites(
        resume=cmd.resume,
        demande_type=DEMANDE_PAR_TYPE[cmd.type_affaire],
        demande_message_id=str(cmd.demande_message_id),
        contrat_id=cmd.contrat_id,
        date_effet=cmd.date_effet,
        demandeur=cmd.demandeur,
    )
    affaire = _nouvelle(cmd.reference_affaire, cmd.type_affaire, fournisseur, cmd.pds, generalites, at, express=cmd.express)
    debut: list[WireModel] = [_acceptee(affaire, cmd.demande_message_id), statut_change(affaire)]
    if cmd.intervention is not None:
        suite = _demander_intervention(affaire, cmd.intervention, cmd.contexte, at)
        return Decision(suite.affaire, debut + suite.evenements)
    if cmd.date_effet is None or cmd.date_effet <= today:
        affaire = _transition(
            affaire,
            at,
            "Changement appliqué sans intervention : affaire terminée",
            statut=StatutAffaire.TERMINEE,
            etat=EtatAffaire.TERMINEE,
        )
        return Decision(affaire, [*debut, statut_change(affaire)])
    affaire = _transition(affaire, at, f"En attente de la date d'effet du {cmd.date_effet:%d/%m/%Y}", etat=EtatAffaire.EN_ATTENTE_DATE_EFFET)
    return Decision(affaire, [*debut, statut_change(affaire)])


def lire_demande(q: DemandeQualifieeV1) -> WireModel | Refus | None:
    """The typed demand inside a qualified demand, a refusal when it is unreadable, or None when affaires does not handle it."""
    model = DEMANDES_TRAITEES.get(q.demande_type)
    if model is None:
        return None
    try:
        return model.model_validate(q.demande)
    except ValidationError as exc:
        champs = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()[:5])
        return Refus(CodeRefus.MESSAGE_INVALIDE, f"La demande est incomplète ou mal formée ({champs}) : corrigez ces champs et renvoyez-la.")


def _controle_commun(fournisseur: str | None, q: DemandeQualifieeV1) -> Refus | None:
    if not fournisseur:
        return Refus(CodeRefus.FOURNISSEUR_ABSENT, "Le fournisseur à l'origine de la demande est inconnu : renseignez votre code fournisseur.")
    if q.niveau_acces != NiveauAcces.TITULAIRE:
        return Refus(
            CodeRefus.NIVEAU_ACCES_INSUFFISANT,
            f"Seul le fournisseur titulaire du contrat sur le PDS {q.contexte.pds} peut faire cette demande (votre niveau : {q.niveau_acces.value}).",
        )
    return None


def taille_decodee(contenu_base64: str) -> int | None:
    """Decoded size of base64 content, or None when it is not valid base64."""
    try:
        return len(base64.b64decode(contenu_base64, validate=True))
    except (binascii.Error, ValueError):
        return None


def creer_reclamation(
    q: DemandeQualifieeV1, d: DemandeReclamationV1, fournisseur: str | None, taille_max_octets: int, at: datetime
) -> Decision | Refus:
    """Open a réclamation affaire (attachment size-checked against `taille_max_octets`)."""
    refus = _controle_commun(fournisseur, q)
    if refus is not None:
        return refus
    assert fournisseur is not None
    reference = reference_affaire(q.demande_message_id)
    stockee: PieceJointeStockee | None = None
    if d.piece_jointe is not None:
        try:
            contenu = base64.b64decode(d.piece_jointe.contenu_base64, validate=True)
        except (binascii.Error, ValueError):
            return Refus(
                CodeRefus.PIECE_JOINTE_INVALIDE,
                "La pièce jointe n'est pas encodée en base64 valide : encodez le fichier et renvoyez la demande.",
            )
        if len(contenu) > taille_max_octets:
            return Refus(
                CodeRefus.PIECE_JOINTE_TROP_VOLUMINEUSE,
                f"La pièce jointe « {d.piece_jointe.nom} » fait {len(contenu)} octets, au-delà de la limite de "
                f"{taille_max_octets} octets : réduisez-la ou envoyez-la par e-mail au GRD avec la référence de l'affaire.",
            )
        info = PieceJointeInfo(id=f"{reference}-PJ1", nom=d.piece_jointe.nom, type_mime=d.piece_jointe.type_mime, taille_octets=len(contenu))
        stockee = PieceJointeStockee(info, contenu)
    generalites = Generalites(
        resume=d.libelle or f"Réclamation {d.sous_type} : {d.nature}",
        demande_type=q.demande_type,
        demande_message_id=str(q.demande_message_id),
        sous_type=d.sous_type,
        nature=d.nature,
        libelle=d.libelle,
        observations=d.observations,
        demandeur=d.demandeur,
        piece_jointe=stockee.info if stockee else None,
    )
    affaire = _nouvelle(reference, TypeAffaire.RECLAMATION, fournisseur, d.pds, generalites, at)
    return Decision(affaire, [_acceptee(affaire, q.demande_message_id), statut_change(affaire)], stockee)


def _date_passee(date_souhaitee: date, today: date) -> Refus | None:
    if date_souhaitee < today:
        return Refus(
            CodeRefus.DATE_SOUHAITEE_PASSEE,
            f"La date souhaitée du {date_souhaitee:%d/%m/%Y} est passée : choisissez une date à partir du {today:%d/%m/%Y}.",
        )
    return None


def creer_demande_diverse(q: DemandeQualifieeV1, d: DemandeDiverseV1, fournisseur: str | None, today: date, at: datetime) -> Decision | Refus:
    """Open a demande diverse affaire (the desired date may not be in the past)."""
    refus = _controle_commun(fournisseur, q) or _date_passee(d.date_souhaitee, today)
    if refus is not None:
        return refus
    assert fournisseur is not None
    generalites = Generalites(
        resume=d.libelle or f"Demande diverse {d.sous_type} pour le {d.date_souhaitee:%d/%m/%Y}",
        demande_type=q.demande_type,
        demande_message_id=str(q.demande_message_id),
        sous_type=d.sous_type,
        libelle=d.libelle,
        observations=d.observations,
        date_souhaitee=d.date_souhaitee,
    )
    affaire = _nouvelle(reference_affaire(q.demande_message_id), TypeAffaire.DEMANDE_DIVERSE, fournisseur, d.pds, generalites, at)
    return Decision(affaire, [_acceptee(affaire, q.demande_message_id), statut_change(affaire)])


def besoin_intervention_technique(contexte: ContextePds, date_souhaitee: date, sous_type: str) -> BesoinIntervention:
    """The mode by the shared rule (présence non obligatoire only for a reading on an accessible meter); above 36 kVA the GRD plans."""
    releve_seule = SOUS_TYPES_INTERVENTION_TECHNIQUE.get(sous_type, False)
    mode = mode_rendez_vous(en_service=contexte.etat == EtatContractuelPds.EN_SERVICE, compteur=contexte.compteur, releve_seule=releve_seule)
    return BesoinIntervention(
        mode=mode,
        operation=OperationTechnique.INTERVENTION_TECHNIQUE,
        date_souhaitee=date_souhaitee,
        duree_minutes=DUREE_CRENEAU_MINUTES if mode == ModeIntervention.CRENEAU else DUREE_DEMI_JOURNEE_MINUTES,
        planification_grd=not planification_libre_service(contexte.segment),
    )


def _demandeur_manquant(demandeur: Contact | None) -> Refus | None:
    """DEMANDEUR_MANQUANT: « il est impératif de saisir l'intégralité des coordonnées personnelles du demandeur »."""
    return REFUS_DEMANDEUR_MANQUANT if demandeur is None else None


def creer_intervention_technique(
    q: DemandeQualifieeV1, d: DemandeInterventionTechniqueV1, fournisseur: str | None, today: date, at: datetime
) -> Decision | Refus:
    """Open an intervention technique affaire and ask planification for the intervention."""
    refus = _controle_commun(fournisseur, q) or _demandeur_manquant(d.demandeur) or _date_passee(d.date_souhaitee, today)
    if refus is not None:
        return refus
    assert fournisseur is not None
    generalites = Generalites(
        resume=d.libelle or f"Intervention technique {d.sous_type} souhaitée le {d.date_souhaitee:%d/%m/%Y}",
        demande_type=q.demande_type,
        demande_message_id=str(q.demande_message_id),
        sous_type=d.sous_type,
        libelle=d.libelle,
        observations=d.commentaire,
        date_souhaitee=d.date_souhaitee,
        demandeur=d.demandeur,
    )
    affaire = _nouvelle(
        reference_affaire(q.demande_message_id),
        TypeAffaire.INTERVENTION_TECHNIQUE,
        fournisseur,
        d.pds,
        generalites,
        at,
        express=d.express,
    )
    debut: list[WireModel] = [_acceptee(affaire, q.demande_message_id), statut_change(affaire)]
    suite = _demander_intervention(affaire, besoin_intervention_technique(q.contexte, d.date_souhaitee, d.sous_type), q.contexte, at)
    return Decision(suite.affaire, debut + suite.evenements)


def annuler(affaire: Affaire | None, q: DemandeQualifieeV1, d: DemandeAnnulationV1, fournisseur: str | None, at: datetime) -> Decision | Refus:
    """Cancel one of the supplier's own affaires while it is still cancellable."""
    if affaire is None:
        return Refus(
            CodeRefus.AFFAIRE_INCONNUE,
            f"L'affaire {d.reference_affaire} est introuvable : vérifiez la référence (recherche par référence ou par type parmi vos affaires).",
        )
    if not fournisseur or affaire.fournisseur != fournisseur:
        return Refus(
            CodeRefus.AFFAIRE_AUTRE_FOURNISSEUR,
            f"L'affaire {d.reference_affaire} n'a pas été demandée par vous : vous ne pouvez annuler que vos propres affaires.",
        )
    if not affaire.annulable:
        raison = {
            StatutAffaire.TERMINEE: "elle est terminée",
            StatutAffaire.ANNULEE: "elle est déjà annulée",
        }.get(affaire.statut, "son intervention a déjà été réalisée")
        return Refus(
            CodeRefus.AFFAIRE_NON_ANNULABLE,
            f"L'affaire {affaire.reference} ne peut plus être annulée : {raison}. Contactez le GRD si une correction est nécessaire.",
        )
    motif = d.motif or "Annulation demandée par le fournisseur"
    avait_intervention = affaire.programmation is not None and affaire.programmation.statut != StatutIntervention.ANNULEE
    affaire = affaire.model_copy(update={"generalites": affaire.generalites.model_copy(update={"motif_annulation": d.motif})})
    libelle = f"Affaire annulée à la demande du fournisseur : {motif}"
    affaire = _transition(affaire, at, libelle, statut=StatutAffaire.ANNULEE, etat=EtatAffaire.ANNULEE)
    evenements: list[WireModel] = [statut_change(affaire, motif)]
    if avait_intervention:
        evenements.append(AnnulationInterventionDemandeeV1(reference_affaire=affaire.reference, pds=affaire.pds))
    evenements.append(
        DemandeAccepteeV1(
            demande_message_id=q.demande_message_id,
            demande_type=q.demande_type,
            reference_affaire=affaire.reference,
            pds=d.pds,
            message=f"Votre demande d'annulation a été enregistrée : l'affaire {affaire.reference} est annulée.",
        )
    )
    return Decision(affaire, evenements)


def suivre_intervention(affaire: Affaire, evt: InterventionStatutChangeV1, at: datetime) -> Decision:
    """Follow the intervention of an affaire: programmation, compte-rendu and relève views, and the affaire's state."""
    base = affaire.programmation or Programmation(statut=evt.statut, mode=evt.mode, date_souhaitee=evt.date_realisation or at.date())
    programmation = base.model_copy(update={"statut": evt.statut, "mode": evt.mode, "motif": evt.motif})
    if evt.statut == StatutIntervention.PLANIFIEE:
        programmation = programmation.model_copy(update={"creneau_id": evt.creneau_id, "debut": evt.debut, "fin": evt.fin})
    elif evt.statut == StatutIntervention.DEMANDEE:
        programmation = programmation.model_copy(update={"creneau_id": None, "debut": None, "fin": None})
    changes: dict[str, Any] = {"programmation": programmation}
    if evt.statut in (StatutIntervention.REALISEE, StatutIntervention.NON_REALISEE):
        changes["compte_rendu"] = CompteRendu(
            resultat=evt.statut, mode=evt.mode, date_realisation=evt.date_realisation, motif=evt.motif, texte=evt.compte_rendu
        )
    if evt.statut == StatutIntervention.REALISEE and evt.releve is not None:
        changes["releve"] = evt.releve
    suivie = affaire.model_copy(update=changes)
    if affaire.etat == EtatAffaire.ETUDE_TECHNIQUE and evt.statut == StatutIntervention.ANNULEE and affaire.statut == StatutAffaire.EN_COURS:
        # The GRD concluded the technical study unfavourably: the affaire is refused (its pending change undone).
        motif = evt.motif or "Étude technique défavorable"
        libelle = f"Affaire refusée par le GRD après étude technique : {motif}"
        nouvelle = _transition(suivie, at, libelle, statut=StatutAffaire.ANNULEE, etat=EtatAffaire.REFUSEE_ETUDE_TECHNIQUE)
        return Decision(nouvelle, [statut_change(nouvelle, motif)])
    libelle, statut, etat = _suite_intervention(affaire, evt)
    if affaire.statut != StatutAffaire.EN_COURS:
        return Decision(_transition(suivie, at, libelle))
    nouvelle = _transition(suivie, at, libelle, statut=statut, etat=etat)
    if nouvelle.etat == affaire.etat and evt.statut != StatutIntervention.PLANIFIEE:
        return Decision(nouvelle)
    return Decision(nouvelle, [statut_change(nouvelle, evt.motif)])


def _suite_intervention(affaire: Affaire, evt: InterventionStatutChangeV1) -> tuple[str, StatutAffaire, EtatAffaire]:
    """French label, status and state of an en-cours affaire after an intervention event."""
    motif = f" : {evt.motif}" if evt.motif else ""
    en_cours = StatutAffaire.EN_COURS
    match evt.statut:
        case StatutIntervention.PLANIFIEE:
            quand = f" le {evt.debut:%d/%m/%Y à %H:%M}" if evt.debut else ""
            return f"Intervention planifiée{quand}", en_cours, EtatAffaire.INTERVENTION_PLANIFIEE
        case StatutIntervention.DEMANDEE:
            teleoperation = affaire.programmation is not None and affaire.programmation.mode == ModeIntervention.TELEOPERATION
            if teleoperation and evt.mode != ModeIntervention.TELEOPERATION:
                # « il faudra alors convenir d'un rendez-vous avec le client »: the supplier is told (event + e-mail).
                return f"Télé-opération impossible, intervention à planifier{motif}", en_cours, EtatAffaire.A_PLANIFIER
            return "Intervention à planifier", en_cours, EtatAffaire.EN_ATTENTE_INTERVENTION
        case StatutIntervention.ETUDE_TECHNIQUE:
            return f"Étude technique nécessaire{motif}", en_cours, EtatAffaire.ETUDE_TECHNIQUE
        case StatutIntervention.NON_REALISEE:
            return f"Intervention non réalisée{motif}", en_cours, EtatAffaire.INTERVENTION_NON_REALISEE
        case StatutIntervention.ANNULEE:
            return f"Intervention annulée{motif}", en_cours, EtatAffaire.INTERVENTION_ANNULEE
        case StatutIntervention.REALISEE:
            quand = f" le {evt.date_realisation:%d/%m/%Y}" if evt.date_realisation else ""
            if affaire.type_affaire in ETAT_FINAL_CONTRAT:
                return f"Intervention réalisée{quand}", en_cours, EtatAffaire.INTERVENTION_REALISEE
            return f"Intervention réalisée{quand} : affaire terminée", StatutAffaire.TERMINEE, EtatAffaire.TERMINEE
    raise ValueError(evt.statut)


def suivre_contrat(affaire: Affaire, evt: ContratEtatChangeV1, at: datetime) -> Decision | None:
    """End a contract affaire when its contract reaches its final state for this supplier; None when not concerned."""
    final = ETAT_FINAL_CONTRAT.get(affaire.type_affaire)
    if (
        final is None
        or evt.etat != final
        or affaire.statut != StatutAffaire.EN_COURS
        or evt.pds != affaire.pds
        or evt.titulaire != affaire.fournisseur
    ):
        return None
    quand = f" au {evt.date_effet:%d/%m/%Y}" if evt.date_effet else ""
    libelle = "Contrat en service" if final == EtatContrat.EN_SERVICE else "Contrat cessé"
    nouvelle = _transition(affaire, at, f"{libelle}{quand} : affaire terminée", statut=StatutAffaire.TERMINEE, etat=EtatAffaire.TERMINEE)
    return Decision(nouvelle, [statut_change(nouvelle)])


def solder(affaire: Affaire, evt: AffaireSoldeeV1, at: datetime) -> Decision | None:
    """Close (solde) an affaire at the GRD's request; None when it is cancelled or already soldée."""
    if affaire.statut == StatutAffaire.ANNULEE or affaire.etat == EtatAffaire.SOLDEE:
        return None
    commentaire = f" : {evt.commentaire}" if evt.commentaire else ""
    nouvelle = _transition(affaire, at, f"Affaire soldée par le GRD{commentaire}", statut=StatutAffaire.TERMINEE, etat=EtatAffaire.SOLDEE)
    return Decision(nouvelle, [statut_change(nouvelle, evt.commentaire)])
