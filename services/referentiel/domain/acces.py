"""Access levels of a supplier on a PDS, access declarations and the qualification of supplier demands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from contracts import demandes as d
from contracts.base import WireModel
from contracts.common import NiveauAcces
from contracts.refus import CodeRefus, Refus
from services.referentiel.domain.commun import LIBELLES_NIVEAUX, State, au_moins, iso, plus_fort

#: The level each demand type needs; CF and MES carry their contrat conclu inline.
NIVEAU_REQUIS: dict[type[WireModel], NiveauAcces] = {
    d.DemandeChangementFournisseurV1: NiveauAcces.CONTRAT_CONCLU,
    d.DemandeMiseEnServiceV1: NiveauAcces.CONTRAT_CONCLU,
    d.DemandeModificationREV1: NiveauAcces.TITULAIRE,
    d.DemandeModificationContratV1: NiveauAcces.TITULAIRE,
    d.DemandeCessationV1: NiveauAcces.TITULAIRE,
    d.DemandeReclamationV1: NiveauAcces.TITULAIRE,
    d.DemandeDiverseV1: NiveauAcces.TITULAIRE,
    d.DemandeInterventionTechniqueV1: NiveauAcces.TITULAIRE,
    d.DemandeAnnulationV1: NiveauAcces.AUCUN,
    d.ReservationCreneauV1: NiveauAcces.AUCUN,
    d.DeplanificationV1: NiveauAcces.AUCUN,
}

LIBELLES_DEMANDES: dict[type[WireModel], str] = {
    d.DemandeChangementFournisseurV1: "un changement de fournisseur",
    d.DemandeMiseEnServiceV1: "une mise en service",
    d.DemandeModificationREV1: "une modification de responsable d'équilibre",
    d.DemandeModificationContratV1: "une modification de contrat",
    d.DemandeCessationV1: "une cessation",
    d.DemandeReclamationV1: "une réclamation",
    d.DemandeDiverseV1: "une demande diverse",
    d.DemandeInterventionTechniqueV1: "une intervention technique",
    d.DemandeAnnulationV1: "une annulation",
    d.ReservationCreneauV1: "une réservation de créneau",
    d.DeplanificationV1: "une déplanification",
}


@dataclass(frozen=True)
class Qualification:
    """A demand that passed the access check: the PDS state to save (declarations recorded) and the level held."""

    state: State
    niveau: NiveauAcces


def titulaire_actuel(state: State) -> str | None:
    """The supplier whose holding period is open (the contract in service), if any."""
    ouverts = [t for t in state.get("titulaires", []) if t.get("fin") is None]
    return str(ouverts[-1]["fournisseur"]) if ouverts else None


def est_titulaire(state: State, fournisseur: str) -> bool:
    """True when the supplier holds the PDS now or is becoming its holder (contract en cours de souscription)."""
    if titulaire_actuel(state) == fournisseur:
        return True
    return any(p.get("fournisseur") == fournisseur for p in state.get("en_souscription", []))


def niveau_acces(state: State, fournisseur: str) -> NiveauAcces:
    """The strongest level the supplier holds on the PDS: titulaire, else its declarations, else aucun."""
    if est_titulaire(state, fournisseur):
        return NiveauAcces.TITULAIRE
    niveau = NiveauAcces.AUCUN
    for declare in state.get("declarations", {}).get(fournisseur, {}):
        plus = NiveauAcces(declare)
        niveau = plus_fort(niveau, plus)
    return niveau


def _avec_declaration(state: State, fournisseur: str, niveau: NiveauAcces, detail: dict[str, str | None]) -> State:
    declarations = {k: dict(v) for k, v in state.get("declarations", {}).items()}
    declarations.setdefault(fournisseur, {})[niveau.value] = detail
    return {**state, "declarations": declarations}


def declarer_acces(state: State, fournisseur: str, decl: d.DeclarationAccesV1, today: date) -> State | Refus:
    """Record a contrat conclu or mandat declaration, or refuse it when a mandatory attribute is missing."""
    if decl.niveau == NiveauAcces.CONTRAT_CONCLU:
        if not decl.reference_contrat or decl.date_signature_contrat is None:
            return Refus(
                CodeRefus.DECLARATION_INCOMPLETE,
                "Le niveau « contrat conclu » exige la référence et la date de signature du contrat conclu avec le client : "
                "renseignez reference_contrat et date_signature_contrat.",
            )
        signe = decl.date_signature_contrat
        detail = {"reference_contrat": decl.reference_contrat, "date_signature": iso(signe), "declare_le": iso(today)}
    elif decl.niveau == NiveauAcces.MANDAT:
        if decl.date_signature_mandat is None:
            return Refus(
                CodeRefus.DECLARATION_INCOMPLETE,
                "Le niveau « mandat » exige la date de signature du mandat donné par le client : renseignez date_signature_mandat.",
            )
        signe = decl.date_signature_mandat
        detail = {"date_signature": iso(signe), "declare_le": iso(today)}
    else:
        return Refus(
            CodeRefus.NIVEAU_NON_DECLARABLE,
            f"Le niveau « {LIBELLES_NIVEAUX[decl.niveau]} » ne se déclare pas : déclarez « contrat_conclu » ou « mandat ». "
            "Le niveau titulaire découle du contrat d'acheminement.",
        )
    if signe > today:
        return Refus(
            CodeRefus.DATE_SIGNATURE_FUTURE,
            f"La date de signature déclarée ({signe.isoformat()}) est dans le futur : déclarez l'accès une fois le document signé.",
        )
    return _avec_declaration(state, fournisseur, decl.niveau, detail)


def refus_sans_pds(adresse_grd: str) -> Refus:
    """The refusal of a demand without PDS (chantier, provisoire), pointing to the GRD team's address."""
    return Refus(
        CodeRefus.DEMANDE_SANS_PDS,
        "Les demandes sans PDS (raccordement de chantier, branchement provisoire) ne sont pas traitées par la plateforme : "
        f"adressez votre demande par e-mail à l'équipe acheminement du GRD ({adresse_grd}).",
    )


def refus_pds_inconnu(pds: str) -> Refus:
    """The refusal of a demand on a PDS the GRD does not know."""
    return Refus(
        CodeRefus.PDS_INCONNU,
        f"Le PDS {pds} est inconnu du GRD : vérifiez la référence complète (14 chiffres suivis du suffixe d'activité, "
        "par exemple EC1) ou retrouvez le PDS par une recherche par adresse.",
    )


def refus_fournisseur_absent() -> Refus:
    """The refusal of a demand whose envelope does not name the acting supplier."""
    return Refus(
        CodeRefus.FOURNISSEUR_ABSENT,
        "Le message ne précise pas le fournisseur émetteur : renseignez votre code fournisseur dans le champ "
        "« fournisseur » de l'enveloppe et renvoyez la demande.",
    )


def refus_cle_incoherente(cle: str, pds: str) -> Refus:
    """The refusal of a demand whose Kafka key is not the PDS it is about (its order with the PDS's messages is lost)."""
    return Refus(
        CodeRefus.CLE_INCOHERENTE,
        f"La clé du message ({cle[:64]}) ne correspond pas au PDS de la demande ({pds}) : publiez la demande avec "
        "la référence du PDS comme clé.",
    )


def refus_trop_volumineux(taille: int, maximum: int) -> Refus:
    """The refusal of a demand too large for its qualification to travel on the bus."""
    return Refus(
        CodeRefus.MESSAGE_TROP_VOLUMINEUX,
        f"La demande fait {taille} octets, au-delà des {maximum} octets acceptés : réduisez les pièces jointes ou le "
        "texte libre puis renvoyez-la.",
    )


def refus_horodatage_futur(emise: datetime, recue: datetime) -> Refus:
    """The refusal of a demand dated ahead of its receipt: the sender's clock or the message is wrong."""
    return Refus(
        CodeRefus.HORODATAGE_FUTUR,
        f"La demande est datée du {emise.isoformat(timespec='seconds')}, après sa réception par le GRD "
        f"({recue.isoformat(timespec='seconds')}) : corrigez l'horloge de votre système puis renvoyez la demande.",
    )


def refus_message_invalide(type_message: str, detail: str) -> Refus:
    """The refusal of a demand whose payload does not match its schema."""
    return Refus(
        CodeRefus.MESSAGE_INVALIDE,
        f"Le message {type_message} est invalide ({detail}) : corrigez les champs indiqués puis renvoyez la demande.",
    )


def qualifier_demande(state: State, fournisseur: str, demande: WireModel, today: date) -> Qualification | Refus:
    """Check the supplier's level for a demand on a known PDS; CF and MES record their inline contrat conclu."""
    requis = NIVEAU_REQUIS[type(demande)]
    niveau = niveau_acces(state, fournisseur)
    if isinstance(demande, d.DemandeChangementFournisseurV1 | d.DemandeMiseEnServiceV1):
        conclu = demande.contrat_conclu
        if conclu.date_signature > today:
            return Refus(
                CodeRefus.DATE_SIGNATURE_FUTURE,
                f"La date de signature du contrat conclu ({conclu.date_signature.isoformat()}) est dans le futur : "
                "renvoyez la demande une fois le contrat signé par le client.",
            )
        detail = {"reference_contrat": conclu.reference, "date_signature": iso(conclu.date_signature), "declare_le": iso(today)}
        state = _avec_declaration(state, fournisseur, NiveauAcces.CONTRAT_CONCLU, detail)
        niveau = plus_fort(niveau, NiveauAcces.CONTRAT_CONCLU)
    if not au_moins(niveau, requis):
        return Refus(
            CodeRefus.NIVEAU_ACCES_INSUFFISANT,
            f"Le niveau d'accès « {LIBELLES_NIVEAUX[requis]} » est requis pour {LIBELLES_DEMANDES[type(demande)]} "
            f"sur le PDS {state.get('reference', '')} ; votre niveau est « {LIBELLES_NIVEAUX[niveau]} ». "
            "Seul le fournisseur titulaire du contrat d'acheminement peut faire cette demande.",
        )
    return Qualification(state=state, niveau=niveau)
