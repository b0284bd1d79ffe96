"""Which e-mails an event causes: pure decisions (template, recipients, subject, context) and per-affaire follow-up state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from contracts.common import EtatAffaire, EtatContrat, ModeIntervention, StatutAffaire, StatutIntervention, TypeAffaire
from contracts.evenements import (
    AffaireStatutChangeV1,
    ContratEtatChangeV1,
    DemandeAccepteeV1,
    DemandeRefuseeV1,
    InterventionStatutChangeV1,
)
from contracts.references import event_id

FUSEAU = ZoneInfo("Europe/Paris")
PREFIXE = "[GRD]"

#: Demands whose acceptance needs no e-mail: an access declaration is answered on the bus, and is frequent.
DEMANDES_SANS_ACCUSE = frozenset({"DeclarationAcces"})

_JOURS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MOIS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
_TYPES_DEMANDE = {
    "DemandeChangementFournisseur": "changement de fournisseur",
    "DemandeMiseEnService": "mise en service",
    "DemandeModificationRE": "modification du responsable d'équilibre",
    "DemandeModificationContrat": "modification de contrat",
    "DemandeCessation": "cessation",
    "DemandeReclamation": "réclamation",
    "DemandeDiverse": "demande diverse",
    "DemandeAnnulation": "annulation",
    "DemandeInterventionTechnique": "intervention technique",
    "ReservationCreneau": "réservation de rendez-vous",
    "Deplanification": "déplanification de rendez-vous",
    "DeclarationAcces": "déclaration d'accès",
    "DemandeSansPds": "demande sans PDS",
}

Evenement = DemandeAccepteeV1 | DemandeRefuseeV1 | AffaireStatutChangeV1 | InterventionStatutChangeV1 | ContratEtatChangeV1


@dataclass(frozen=True)
class MailPrevu:
    """One e-mail to send: template name, recipients, subject and the values the template shows."""

    modele: str
    destinataires: tuple[str, ...]
    sujet: str
    contexte: dict[str, Any]
    reference_affaire: str | None = None


@dataclass(frozen=True)
class SuiviAffaire:
    """What notifications remembers of one affaire: its type, whether an appointment is planned, milestones mailed."""

    type_affaire: str | None = None
    rdv_planifie: bool = False
    jalons: tuple[str, ...] = ()

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> SuiviAffaire:
        """Rebuild the follow-up state from its stored form."""
        return cls(
            type_affaire=doc.get("type_affaire"),
            rdv_planifie=bool(doc.get("rdv_planifie", False)),
            jalons=tuple(doc.get("jalons", ())),
        )

    def to_doc(self) -> dict[str, Any]:
        """The stored form of the follow-up state."""
        return {"type_affaire": self.type_affaire, "rdv_planifie": self.rdv_planifie, "jalons": list(self.jalons)}


@dataclass(frozen=True)
class Decision:
    """The e-mails an event causes, the new follow-up state, and why some e-mail was skipped (for the logs)."""

    mails: tuple[MailPrevu, ...] = ()
    suivi: SuiviAffaire = field(default_factory=SuiviAffaire)
    ignores: tuple[str, ...] = ()


def fournisseur_concerne(evenement: Evenement, fournisseur_enveloppe: str | None) -> str | None:
    """The supplier an event is about: the contract's holder for a contract change, else the envelope's supplier."""
    if isinstance(evenement, ContratEtatChangeV1):
        return evenement.titulaire
    return fournisseur_enveloppe


def date_fr(jour: date) -> str:
    """A date in French words, e.g. ``mardi 3 mars 2026``."""
    return f"{_JOURS[jour.weekday()]} {jour.day} {_MOIS[jour.month - 1]} {jour.year}"


def _local(moment: datetime) -> datetime:
    # Appointments are stored in UTC; suppliers read them in the local time of the installation.
    return moment.astimezone(FUSEAU) if moment.tzinfo else moment


def _heure(moment: datetime) -> str:
    return f"{moment.hour:02d}h{moment.minute:02d}"


def horaire_rdv(evenement: InterventionStatutChangeV1) -> dict[str, str]:
    """The appointment's date and time range (or half-day) in French, for the templates."""
    if evenement.debut is None:
        jour = evenement.date_realisation
        return {"date": date_fr(jour) if jour else "date à confirmer", "plage": "horaire à confirmer"}
    debut = _local(evenement.debut)
    fin = _local(evenement.fin) if evenement.fin else None
    heures = f"de {_heure(debut)} à {_heure(fin)}" if fin else f"à partir de {_heure(debut)}"
    if evenement.mode is ModeIntervention.PRESENCE_NON_OBLIGATOIRE:
        demi_journee = "du matin" if debut.hour < 12 else "de l'après-midi"
        plage = f"demi-journée {demi_journee} ({heures}), présence non obligatoire"
    else:
        plage = f"{heures}, présence du client obligatoire"
    return {"date": date_fr(debut.date()), "plage": plage}


def libelle_demande(demande_type: str | None) -> str:
    """The French name of a demand type."""
    if demande_type is None:
        return "demande"
    return _TYPES_DEMANDE.get(demande_type, demande_type)


def decider(
    evenement: Evenement,
    *,
    fournisseur: str | None,
    adresse_fournisseur: str | None,
    adresse_grd: str,
    suivi: SuiviAffaire,
    fournisseur_enveloppe: str | None = None,
) -> Decision:
    """Decide the e-mails an event causes, given the supplier's address (None when unknown) and the affaire's follow-up."""
    if isinstance(evenement, DemandeAccepteeV1):
        return _demande_acceptee(evenement, fournisseur, adresse_fournisseur, suivi)
    if isinstance(evenement, DemandeRefuseeV1):
        return _demande_refusee(evenement, fournisseur, adresse_fournisseur, suivi)
    if isinstance(evenement, AffaireStatutChangeV1):
        return _affaire(evenement, fournisseur, adresse_fournisseur, adresse_grd, suivi)
    if isinstance(evenement, InterventionStatutChangeV1):
        return _intervention(evenement, fournisseur, adresse_fournisseur, suivi)
    return _contrat(evenement, fournisseur_enveloppe, adresse_fournisseur, suivi)


def _pour_fournisseur(mail: MailPrevu | None, adresse: str | None, fournisseur: str | None, suivi: SuiviAffaire) -> Decision:
    if mail is None:
        return Decision(suivi=suivi)
    if adresse is None:
        return Decision(suivi=suivi, ignores=(f"{mail.modele}: adresse inconnue pour le fournisseur {fournisseur!r}",))
    return Decision(mails=(MailPrevu(mail.modele, (adresse,), mail.sujet, mail.contexte, mail.reference_affaire),), suivi=suivi)


def _demande_acceptee(ev: DemandeAccepteeV1, fournisseur: str | None, adresse: str | None, suivi: SuiviAffaire) -> Decision:
    if ev.demande_type in DEMANDES_SANS_ACCUSE:
        return Decision(suivi=suivi)
    ref = ev.reference_affaire
    sujet = f"{PREFIXE} Demande enregistrée – affaire {ref}" if ref else f"{PREFIXE} Demande enregistrée – PDS {ev.pds}"
    contexte = {
        "fournisseur": fournisseur,
        "demande": libelle_demande(ev.demande_type),
        "reference_affaire": ref,
        "pds": ev.pds,
        "message": ev.message,
    }
    return _pour_fournisseur(MailPrevu("demande_acceptee", (), sujet, contexte, ref), adresse, fournisseur, suivi)


def _demande_refusee(ev: DemandeRefuseeV1, fournisseur: str | None, adresse: str | None, suivi: SuiviAffaire) -> Decision:
    quoi = libelle_demande(ev.demande_type)
    sujet = f"{PREFIXE} Demande refusée – {ev.code}" + (f" – PDS {ev.pds}" if ev.pds else "")
    contexte = {
        "fournisseur": fournisseur,
        "demande": quoi,
        "pds": ev.pds,
        "code": ev.code,
        "message": ev.message,
        "demande_message_id": str(ev.demande_message_id) if ev.demande_message_id else None,
    }
    return _pour_fournisseur(MailPrevu("demande_refusee", (), sujet, contexte), adresse, fournisseur, suivi)


def _jalon(suivi: SuiviAffaire, jalon: str) -> SuiviAffaire:
    return SuiviAffaire(suivi.type_affaire, suivi.rdv_planifie, (*suivi.jalons, jalon))


def _affaire(ev: AffaireStatutChangeV1, fournisseur: str | None, adresse: str | None, adresse_grd: str, suivi: SuiviAffaire) -> Decision:
    suivi = SuiviAffaire(ev.type_affaire.value, suivi.rdv_planifie, suivi.jalons)
    ref = ev.reference_affaire
    contexte = {
        "fournisseur": fournisseur,
        "reference_affaire": ref,
        "type_affaire": ev.type_affaire.value.replace("_", " "),
        "pds": ev.pds,
        "motif": ev.motif,
    }
    # Each milestone is mailed once per affaire, even if affaires reports it again with a finer state.
    if ev.etat == EtatAffaire.CREEE and ev.express and "express" not in suivi.jalons:
        mail = MailPrevu("demande_express", (adresse_grd,), f"{PREFIXE} Demande express – affaire {ref}", contexte, ref)
        return Decision(mails=(mail,), suivi=_jalon(suivi, "express"))
    if ev.statut is StatutAffaire.TERMINEE and "terminee" not in suivi.jalons:
        mail = MailPrevu("affaire_terminee", (), f"{PREFIXE} Affaire {ref} terminée", contexte, ref)
        return _pour_fournisseur(mail, adresse, fournisseur, _jalon(suivi, "terminee"))
    if ev.statut is StatutAffaire.ANNULEE and "annulee" not in suivi.jalons:
        mail = MailPrevu("affaire_annulee", (), f"{PREFIXE} Affaire {ref} annulée", contexte, ref)
        return _pour_fournisseur(mail, adresse, fournisseur, _jalon(suivi, "annulee"))
    if ev.etat == EtatAffaire.A_PLANIFIER and "a_planifier" not in suivi.jalons:
        # A tele-operation failed for good: « il faudra alors convenir d'un rendez-vous avec le client ».
        mail = MailPrevu("rdv_a_convenir", (), f"{PREFIXE} Affaire {ref} – rendez-vous à convenir avec le client", contexte, ref)
        return _pour_fournisseur(mail, adresse, fournisseur, _jalon(suivi, "a_planifier"))
    planning = ev.etat in (EtatAffaire.EN_ATTENTE_INTERVENTION, EtatAffaire.INTERVENTION_PLANIFIEE)
    if planning and "etude_technique" in suivi.jalons and "etude_conclue" not in suivi.jalons:
        # The GRD concluded the study favourably: planning resumes (an unfavourable one ends the affaire: annulée).
        mail = MailPrevu("etude_technique_conclue", (), f"{PREFIXE} Affaire {ref} – étude technique conclue", contexte, ref)
        return _pour_fournisseur(mail, adresse, fournisseur, _jalon(suivi, "etude_conclue"))
    if ev.etat == EtatAffaire.ETUDE_TECHNIQUE and "etude_technique" not in suivi.jalons:
        mail = MailPrevu("etude_technique", (), f"{PREFIXE} Affaire {ref} – étude technique nécessaire", contexte, ref)
        return _pour_fournisseur(mail, adresse, fournisseur, _jalon(suivi, "etude_technique"))
    return Decision(suivi=suivi)


def _intervention(ev: InterventionStatutChangeV1, fournisseur: str | None, adresse: str | None, suivi: SuiviAffaire) -> Decision:
    # A tele-operation needs nobody on site: the supplier hears of it through the affaire's outcome.
    if ev.mode is ModeIntervention.TELEOPERATION:
        return Decision(suivi=suivi)
    ref = ev.reference_affaire
    contexte: dict[str, Any] = {"fournisseur": fournisseur, "reference_affaire": ref, "pds": ev.pds, "motif": ev.motif}
    if ev.statut is StatutIntervention.PLANIFIEE:
        contexte.update(horaire_rdv(ev))
        nouveau = SuiviAffaire(suivi.type_affaire, True, suivi.jalons)
        if suivi.rdv_planifie:
            mail = MailPrevu("rdv_modifie", (), f"{PREFIXE} Rendez-vous modifié – affaire {ref}", contexte, ref)
        else:
            mail = MailPrevu("rdv_planifie", (), f"{PREFIXE} Rendez-vous planifié – affaire {ref}", contexte, ref)
        return _pour_fournisseur(mail, adresse, fournisseur, nouveau)
    if ev.statut is StatutIntervention.ANNULEE:
        nouveau = SuiviAffaire(suivi.type_affaire, False, suivi.jalons)
        mail = MailPrevu("rdv_annule", (), f"{PREFIXE} Rendez-vous annulé – affaire {ref}", contexte, ref)
        return _pour_fournisseur(mail, adresse, fournisseur, nouveau)
    if ev.statut is StatutIntervention.NON_REALISEE:
        nouveau = SuiviAffaire(suivi.type_affaire, False, suivi.jalons)
        mail = MailPrevu("intervention_non_realisee", (), f"{PREFIXE} Intervention non réalisée – affaire {ref}", contexte, ref)
        return _pour_fournisseur(mail, adresse, fournisseur, nouveau)
    if ev.statut is StatutIntervention.REALISEE:
        return Decision(suivi=SuiviAffaire(suivi.type_affaire, False, suivi.jalons))
    return Decision(suivi=suivi)


def perte_par_changement_fournisseur(ev: ContratEtatChangeV1, fournisseur_enveloppe: str | None, suivi: SuiviAffaire) -> bool:
    """True when a contract ends because another supplier took the PDS over (CF), not by its holder's own cessation."""
    if ev.etat is not EtatContrat.CESSE:
        return False
    if suivi.type_affaire is not None:
        return suivi.type_affaire == TypeAffaire.CHANGEMENT_FOURNISSEUR.value
    # Without the affaire's type, the acting supplier tells: in a CF it is the new supplier, not the holder.
    return fournisseur_enveloppe is not None and fournisseur_enveloppe != ev.titulaire


def _contrat(ev: ContratEtatChangeV1, fournisseur_enveloppe: str | None, adresse: str | None, suivi: SuiviAffaire) -> Decision:
    if not perte_par_changement_fournisseur(ev, fournisseur_enveloppe, suivi):
        return Decision(suivi=suivi)
    contexte = {
        "fournisseur": ev.titulaire,
        "reference_affaire": ev.reference_affaire,
        "pds": ev.pds,
        "contrat_id": ev.contrat_id,
        "date_effet": date_fr(ev.date_effet) if ev.date_effet else "date non communiquée",
    }
    sujet = f"{PREFIXE} Fin de votre contrat sur le PDS {ev.pds} – changement de fournisseur"
    mail = MailPrevu("perte_pds_changement_fournisseur", (), sujet, contexte, ev.reference_affaire)
    return _pour_fournisseur(mail, adresse, ev.titulaire, suivi)


def message_id_mail(cause: object, modele: str) -> str:
    """The RFC 5322 Message-ID of the e-mail `modele` caused by message `cause`: the same on every redelivery."""
    return f"<{event_id(str(cause), 'mail', modele)}@notifications.grd.local>"
