"""Pure planification rules: capacity calendar, mode decision, intervention lifecycle, reservation checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from contracts.base import WireModel
from contracts.common import ModeIntervention, NatureReleve, OperationTechnique, Releve, StatutIntervention
from contracts.demandes import DeplanificationV1, ReservationCreneauV1
from contracts.evenements import (
    BesoinIntervention,
    CompteurInfo,
    DemandeAccepteeV1,
    DemandeQualifieeV1,
    DemandeRefuseeV1,
    InterventionDemandeeV1,
    InterventionNonRealiseeV1,
    InterventionRealiseeV1,
    InterventionStatutChangeV1,
    RealisationRefuseeV1,
    ResultatTeleOperationV1,
    TeleOperationDemandeeV1,
)
from contracts.programmation import mode_rendez_vous
from contracts.refus import CodeRefus, Etape, Refus, demande_refusee

#: The qualified demands planification handles (its qualified-demand topic carries only these).
DEMANDES_TRAITEES = ("ReservationCreneau", "Deplanification")
SEUIL_ETUDE_TECHNIQUE_KVA = 6.0
MATIN = "AM"
APRES_MIDI = "PM"
SUFFIXE_MODE = {ModeIntervention.CRENEAU: "CR", ModeIntervention.PRESENCE_NON_OBLIGATOIRE: "PNO"}
MODE_DU_SUFFIXE = {v: k for k, v in SUFFIXE_MODE.items()}
LIBELLE_MODE = {
    ModeIntervention.CRENEAU: "sur créneau horaire (présence du client obligatoire)",
    ModeIntervention.PRESENCE_NON_OBLIGATOIRE: "présence non obligatoire (demi-journée)",
    ModeIntervention.TELEOPERATION: "par télé-opération (sans déplacement)",
}
#: Planned duration of each intervention nature when the demand gives none.
DUREES_MINUTES: Mapping[OperationTechnique, int] = {
    OperationTechnique.MISE_EN_SERVICE: 45,
    OperationTechnique.CHANGEMENT_FOURNISSEUR: 30,
    OperationTechnique.MODIFICATION: 60,
    OperationTechnique.CESSATION: 45,
    OperationTechnique.INTERVENTION_TECHNIQUE: 90,
}
#: Operations that only need a reading (no cut, no equipment change).
RELEVE_SEULE = frozenset({OperationTechnique.CHANGEMENT_FOURNISSEUR})
#: Statuses from which the supplier may (re)reserve a slot.
RESERVABLES = frozenset({StatutIntervention.DEMANDEE, StatutIntervention.PLANIFIEE, StatutIntervention.NON_REALISEE})
CLOSES = frozenset({StatutIntervention.REALISEE, StatutIntervention.ANNULEE})
MOTIF_PLANIFICATION_GRD = (
    "Point BT > 36 kVA ou HTA : la prise de rendez-vous en libre-service ne s'applique pas, l'équipe du GRD planifie l'intervention et vous contacte."
)


@dataclass(frozen=True)
class Calendrier:
    """Technician capacity model: zones, places per slot, working days and half-day hours."""

    zones: tuple[str, ...]
    places_par_defaut: int = 3
    places_par_zone: Mapping[str, int] = field(default_factory=dict)
    jours_ouvres: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    matin: tuple[time, time] = (time(8, 0), time(12, 0))
    apres_midi: tuple[time, time] = (time(13, 30), time(17, 30))
    fuseau: str = "Europe/Paris"
    delai_minimum_jours: int = 1
    horizon_jours: int = 60
    #: « Sur créneau horaire » (customer present) is a window of this length (product-owner decision: 2 hours); the
    #: half-day is kept for « présence non obligatoire ».
    creneau_horaire_minutes: int = 120

    def fenetres(self, mode: ModeIntervention) -> dict[str, tuple[time, time]]:
        """The slots of one day for a mode, by code: AM/PM half-days, or Hhhmm windows of `creneau_horaire_minutes`."""
        if mode != ModeIntervention.CRENEAU:
            return {MATIN: self.matin, APRES_MIDI: self.apres_midi}
        out: dict[str, tuple[time, time]] = {}
        pas = timedelta(minutes=self.creneau_horaire_minutes)
        for debut, fin in (self.matin, self.apres_midi):
            t = datetime.combine(date.min, debut)
            while t + pas <= datetime.combine(date.min, fin):
                out[f"H{t:%H%M}"] = (t.time(), (t + pas).time())
                t += pas
        return out

    def capacite(self, zone: str) -> int:
        """Places of one slot of a zone."""
        return self.places_par_zone.get(zone, self.places_par_defaut)

    def ouvre(self, jour: date) -> bool:
        """True when technicians work that day."""
        return jour.weekday() in self.jours_ouvres

    def premier_jour(self, today: date) -> date:
        """Earliest day a slot may be reserved."""
        return today + timedelta(days=self.delai_minimum_jours)

    def dernier_jour(self, today: date) -> date:
        """Last day slots exist."""
        return today + timedelta(days=self.horizon_jours)


@dataclass(frozen=True)
class Creneau:
    """One slot: a zone's 2-hour window (créneau horaire) or half-day (présence non obligatoire), with its capacity."""

    id: str
    zone: str
    jour: date
    demi_journee: str
    mode: ModeIntervention
    debut: datetime
    fin: datetime
    capacite: int


def creneau_id(zone: str, jour: date, demi_journee: str, mode: ModeIntervention) -> str:
    """Slot id, e.g. ``Z01-20261105-H0800-CR`` (créneau horaire) or ``Z01-20261105-AM-PNO`` (half-day)."""
    return f"{zone}-{jour:%Y%m%d}-{demi_journee}-{SUFFIXE_MODE[mode]}"


def creneau(cal: Calendrier, zone: str, jour: date, demi_journee: str, mode: ModeIntervention) -> Creneau:
    """Build a slot of the calendar (`demi_journee`: the slot's code in `cal.fenetres(mode)`)."""
    heures = cal.fenetres(mode)[demi_journee]
    tz = ZoneInfo(cal.fuseau)
    return Creneau(
        id=creneau_id(zone, jour, demi_journee, mode),
        zone=zone,
        jour=jour,
        demi_journee=demi_journee,
        mode=mode,
        debut=datetime.combine(jour, heures[0], tz),
        fin=datetime.combine(jour, heures[1], tz),
        capacite=cal.capacite(zone),
    )


def lire_creneau(cal: Calendrier, ident: str) -> Creneau | None:
    """Parse a slot id; None when malformed, in an unknown zone, or on a non-working day."""
    zone, _, reste = ident.rpartition("-")
    zone, _, demi = zone.rpartition("-")
    zone, _, jour_txt = zone.rpartition("-")
    mode = MODE_DU_SUFFIXE.get(reste)
    if mode is None or demi not in cal.fenetres(mode) or zone not in cal.zones:
        return None
    try:
        jour = datetime.strptime(jour_txt, "%Y%m%d").date()
    except ValueError:
        return None
    if not cal.ouvre(jour) or creneau_id(zone, jour, demi, mode) != ident:
        return None
    return creneau(cal, zone, jour, demi, mode)


def creneaux_a_partir(cal: Calendrier, zone: str, mode: ModeIntervention, depuis: date, today: date, jours: int) -> list[Creneau]:
    """Slots of a zone and mode over `jours` days from `depuis`, never before the earliest day nor past the horizon."""
    if mode not in SUFFIXE_MODE or zone not in cal.zones:
        return []
    debut = max(depuis, cal.premier_jour(today))
    fin = min(debut + timedelta(days=jours - 1), cal.dernier_jour(today))
    out: list[Creneau] = []
    jour = debut
    while jour <= fin:
        if cal.ouvre(jour):
            out.extend(creneau(cal, zone, jour, code, mode) for code in cal.fenetres(mode))
        jour += timedelta(days=1)
    return out


def decider_mode(besoin: BesoinIntervention, compteur: CompteurInfo) -> ModeIntervention:
    """TO when asked and possible (BT ≤ 36 kVA), else the appointment mode the sender decided (contracts.programmation)."""
    if besoin.mode != ModeIntervention.TELEOPERATION:
        return besoin.mode
    if compteur.amm and compteur.teleoperable and not besoin.planification_grd:
        return ModeIntervention.TELEOPERATION
    if besoin.mode_repli is not None:
        return besoin.mode_repli
    releve_seule = besoin.operation in RELEVE_SEULE and besoin.augmentation_puissance_kva <= 0
    return mode_rendez_vous(en_service=True, compteur=compteur, releve_seule=releve_seule)


def duree_prevue(besoin: BesoinIntervention) -> int:
    """Planned duration in minutes: the demand's, or the nature's default."""
    return besoin.duree_minutes or DUREES_MINUTES.get(besoin.operation, 60)


@dataclass(frozen=True)
class Intervention:
    """State of one affaire's intervention (aggregate id = reference_affaire)."""

    reference_affaire: str
    pds: str
    fournisseur: str | None
    zone: str
    compteur: CompteurInfo
    operation: OperationTechnique
    date_souhaitee: date
    duree_minutes: int
    mode: ModeIntervention
    statut: StatutIntervention
    augmentation_puissance_kva: float = 0
    creneau_id: str | None = None
    debut: datetime | None = None
    fin: datetime | None = None
    motif: str | None = None
    date_realisation: date | None = None
    releve: Releve | None = None
    #: BT > 36 kVA or HTA: the GRD team plans, the supplier does not reserve.
    planification_grd: bool = False
    compte_rendu: str | None = None
    #: Tele-operation: attempts sent, when the due job acts next (send, time out, retry), a result parked until its day.
    to_tentatives: int = 0
    prochaine_echeance: datetime | None = None
    releve_differee: Releve | None = None
    puissance_cible_kva: float | None = None
    correlation_id: str | None = None

    def to_doc(self) -> dict[str, Any]:
        """Store representation (dates as ISO text: the store keeps only datetimes)."""
        doc = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        doc["compteur"] = self.compteur.model_dump(mode="json")
        doc["releve"] = self.releve.model_dump(mode="json") if self.releve else None
        doc["releve_differee"] = self.releve_differee.model_dump(mode="json") if self.releve_differee else None
        # UTC and whole seconds: the due job compares these as text.
        doc["prochaine_echeance"] = horodatage(self.prochaine_echeance) if self.prochaine_echeance else None
        for name in ("date_souhaitee", "date_realisation", "debut", "fin"):
            value = doc[name]
            doc[name] = value.isoformat() if value is not None else None
        doc["operation"] = str(self.operation)
        doc["mode"] = str(self.mode)
        doc["statut"] = str(self.statut)
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Intervention | None:
        """Rebuild from the store; None for an empty aggregate."""
        if not doc.get("reference_affaire"):
            return None

        def opt(name: str, parse: Any) -> Any:
            value = doc.get(name)
            return parse(value) if value is not None else None

        return cls(
            reference_affaire=doc["reference_affaire"],
            pds=doc["pds"],
            fournisseur=doc.get("fournisseur"),
            zone=doc["zone"],
            compteur=CompteurInfo.model_validate(doc["compteur"]),
            operation=OperationTechnique(doc["operation"]),
            date_souhaitee=date.fromisoformat(doc["date_souhaitee"]),
            duree_minutes=int(doc["duree_minutes"]),
            mode=ModeIntervention(doc["mode"]),
            statut=StatutIntervention(doc["statut"]),
            augmentation_puissance_kva=float(doc.get("augmentation_puissance_kva") or 0),
            creneau_id=doc.get("creneau_id"),
            debut=opt("debut", datetime.fromisoformat),
            fin=opt("fin", datetime.fromisoformat),
            motif=doc.get("motif"),
            date_realisation=opt("date_realisation", date.fromisoformat),
            releve=opt("releve", Releve.model_validate),
            planification_grd=bool(doc.get("planification_grd", False)),
            compte_rendu=doc.get("compte_rendu"),
            to_tentatives=int(doc.get("to_tentatives") or 0),
            prochaine_echeance=opt("prochaine_echeance", datetime.fromisoformat),
            releve_differee=opt("releve_differee", Releve.model_validate),
            puissance_cible_kva=opt("puissance_cible_kva", float),
            correlation_id=doc.get("correlation_id"),
        )

    def statut_change(self) -> InterventionStatutChangeV1:
        """The event announcing this state."""
        return InterventionStatutChangeV1(
            reference_affaire=self.reference_affaire,
            pds=self.pds,
            statut=self.statut,
            mode=self.mode,
            creneau_id=self.creneau_id,
            debut=self.debut,
            fin=self.fin,
            date_realisation=self.date_realisation,
            releve=self.releve,
            motif=self.motif,
            compte_rendu=self.compte_rendu,
        )


@dataclass(frozen=True)
class Decision:
    """New state and the events it causes; `candidats` are half-days to claim, first free wins."""

    etat: Intervention
    evenements: list[WireModel] = field(default_factory=list)
    candidats: list[Creneau] = field(default_factory=list)


def recevoir_intervention(cmd: InterventionDemandeeV1, fournisseur: str | None, cal: Calendrier, today: date) -> Decision:
    """Decide how an intervention is carried out: technical study, tele-operation, automatic half-day or appointment."""
    besoin = cmd.besoin
    etat = Intervention(
        reference_affaire=cmd.reference_affaire,
        pds=cmd.pds,
        fournisseur=fournisseur,
        zone=cmd.zone,
        compteur=cmd.compteur,
        operation=besoin.operation,
        date_souhaitee=besoin.date_souhaitee,
        duree_minutes=duree_prevue(besoin),
        mode=decider_mode(besoin, cmd.compteur),
        statut=StatutIntervention.DEMANDEE,
        augmentation_puissance_kva=besoin.augmentation_puissance_kva,
        planification_grd=besoin.planification_grd,
    )
    # « passage à une puissance supérieure à 6 kVA »: the sender decides it on the new power (etude_technique_requise);
    # an increase of more than 6 kVA always reaches a new power above 6 kVA.
    if besoin.etude_technique_requise or besoin.augmentation_puissance_kva > SEUIL_ETUDE_TECHNIQUE_KVA:
        etat = dataclasses.replace(
            etat,
            statut=StatutIntervention.ETUDE_TECHNIQUE,
            motif=(
                f"Passage à une puissance supérieure à 6 kVA (+{besoin.augmentation_puissance_kva:g} kVA) : "
                "une étude technique par les services du GRD est nécessaire avant toute planification."
            ),
        )
        return Decision(etat, [etat.statut_change()])
    if etat.mode == ModeIntervention.TELEOPERATION:
        # Sent on the date d'effet by the due job (see `echoir`; at once when that day has come).
        etat = dataclasses.replace(etat, prochaine_echeance=debut_du_jour(etat.date_souhaitee, cal.fuseau))
        return Decision(etat, [etat.statut_change()])
    if etat.planification_grd:
        etat = dataclasses.replace(etat, motif=MOTIF_PLANIFICATION_GRD)
        return Decision(etat, [etat.statut_change()])
    if besoin.mode == ModeIntervention.TELEOPERATION:
        etat = dataclasses.replace(etat, motif="Télé-opération non proposée pour ce compteur : un rendez-vous est nécessaire.")
    if etat.mode == ModeIntervention.PRESENCE_NON_OBLIGATOIRE:
        candidats = creneaux_a_partir(cal, etat.zone, etat.mode, etat.date_souhaitee, today, (cal.dernier_jour(today) - today).days + 1)
        return Decision(etat, [], candidats)
    return Decision(etat, [etat.statut_change()])


def planifier(etat: Intervention, slot: Creneau) -> Decision:
    """The intervention holds a place on `slot`."""
    nouveau = dataclasses.replace(etat, statut=StatutIntervention.PLANIFIEE, creneau_id=slot.id, debut=slot.debut, fin=slot.fin, motif=None)
    return Decision(nouveau, [nouveau.statut_change()])


def sans_demi_journee(etat: Intervention) -> Decision:
    """No half-day was free over the horizon: the intervention waits, the supplier may reserve later."""
    nouveau = dataclasses.replace(
        etat,
        statut=StatutIntervention.DEMANDEE,
        motif="Aucune demi-journée disponible dans la zone sur l'horizon de planification : réservez un créneau plus tard.",
    )
    return Decision(nouveau, [nouveau.statut_change()])


def _controle_commun(etat: Intervention | None, reference: str, fournisseur: str | None) -> Refus | Intervention:
    if etat is None:
        return Refus(
            CodeRefus.INTERVENTION_INCONNUE,
            f"Aucune intervention n'est connue pour l'affaire {reference} : vérifiez la référence de l'affaire.",
        )
    if etat.fournisseur is not None and fournisseur != etat.fournisseur:
        return Refus(
            CodeRefus.AFFAIRE_AUTRE_FOURNISSEUR,
            f"L'affaire {reference} appartient à un autre fournisseur : vous ne pouvez agir que sur vos propres affaires.",
        )
    if etat.planification_grd:
        return Refus(CodeRefus.PLANIFICATION_PAR_LE_GRD, MOTIF_PLANIFICATION_GRD)
    if etat.statut == StatutIntervention.ETUDE_TECHNIQUE:
        return Refus(
            CodeRefus.ETUDE_TECHNIQUE_REQUISE,
            "Une augmentation de puissance de plus de 6 kVA nécessite une étude technique : "
            "le GRD vous contactera, aucune planification n'est possible avant.",
        )
    if etat.mode == ModeIntervention.TELEOPERATION:
        return Refus(
            CodeRefus.INTERVENTION_NON_PLANIFIABLE,
            "Cette intervention est réalisée par télé-opération à la date d'effet : il n'y a pas de rendez-vous à gérer.",
        )
    if etat.statut in CLOSES:
        return Refus(
            CodeRefus.INTERVENTION_NON_PLANIFIABLE,
            f"L'intervention de l'affaire {reference} est {etat.statut.value} : elle ne peut plus être planifiée.",
        )
    return etat


def verifier_reservation(
    etat: Intervention | None, cmd: ReservationCreneauV1, fournisseur: str | None, cal: Calendrier, today: date
) -> Refus | Creneau:
    """Check a (re)reservation; the slot to claim, or the refusal."""
    controle = _controle_commun(etat, cmd.reference_affaire, fournisseur)
    if isinstance(controle, Refus):
        return controle
    if controle.pds != cmd.pds:
        return Refus(CodeRefus.INTERVENTION_INCONNUE, f"L'affaire {cmd.reference_affaire} ne concerne pas le PDS {cmd.pds}.")
    slot = lire_creneau(cal, cmd.creneau_id)
    if slot is None or slot.zone != controle.zone:
        return Refus(
            CodeRefus.CRENEAU_INCONNU,
            f"Le créneau {cmd.creneau_id} n'existe pas pour ce PDS : recherchez les créneaux disponibles de l'affaire et "
            "reprenez l'identifiant proposé.",
        )
    if slot.mode != controle.mode:
        return Refus(
            CodeRefus.MODE_PLANIFICATION_INCOMPATIBLE,
            f"Le créneau {cmd.creneau_id} est un créneau {LIBELLE_MODE[slot.mode]} alors que cette intervention se fait "
            f"{LIBELLE_MODE[controle.mode]} : choisissez un créneau de ce mode.",
        )
    if slot.jour < cal.premier_jour(today) or slot.jour > cal.dernier_jour(today):
        return Refus(
            CodeRefus.CRENEAU_HORS_DELAI,
            f"Le créneau du {slot.jour:%d/%m/%Y} est hors de la période réservable "
            f"(du {cal.premier_jour(today):%d/%m/%Y} au {cal.dernier_jour(today):%d/%m/%Y}).",
        )
    if slot.jour < controle.date_souhaitee:
        return Refus(
            CodeRefus.CRENEAU_AVANT_DATE_EFFET,
            f"Le créneau du {slot.jour:%d/%m/%Y} précède la date d'effet souhaitée "
            f"({controle.date_souhaitee:%d/%m/%Y}) : choisissez un créneau à partir de cette date.",
        )
    return slot


def creneau_complet(slot: Creneau) -> Refus:
    """Refusal when every place of the slot is taken."""
    return Refus(
        CodeRefus.CRENEAU_COMPLET,
        f"Le créneau du {slot.jour:%d/%m/%Y} de {slot.debut:%H:%M} à {slot.fin:%H:%M} est complet : choisissez un autre créneau disponible.",
    )


def verifier_deplanification(etat: Intervention | None, cmd: DeplanificationV1, fournisseur: str | None) -> Refus | Intervention:
    """Check a déplanification; the intervention to déplanifier, or the refusal."""
    controle = _controle_commun(etat, cmd.reference_affaire, fournisseur)
    if isinstance(controle, Refus):
        return controle
    if controle.statut != StatutIntervention.PLANIFIEE:
        return Refus(
            CodeRefus.INTERVENTION_NON_PLANIFIEE,
            f"L'intervention de l'affaire {cmd.reference_affaire} n'est pas planifiée : il n'y a rien à déplanifier.",
        )
    return controle


def deplanifier(etat: Intervention) -> Decision:
    """Back to the start of the planification: no slot held."""
    nouveau = dataclasses.replace(
        etat,
        statut=StatutIntervention.DEMANDEE,
        creneau_id=None,
        debut=None,
        fin=None,
        motif="Déplanifiée à la demande du fournisseur.",
    )
    return Decision(nouveau, [nouveau.statut_change()])


def annuler(etat: Intervention) -> Decision | None:
    """Cancel the intervention (its place is freed); None when already closed."""
    if etat.statut in CLOSES:
        return None
    nouveau = dataclasses.replace(etat, statut=StatutIntervention.ANNULEE, creneau_id=None, debut=None, fin=None, motif="Affaire annulée.")
    return Decision(nouveau, [nouveau.statut_change()])


def horodatage(moment: datetime) -> str:
    """An instant as the store keeps due dates: UTC ISO text, whole seconds (so that text order is time order)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def debut_du_jour(jour: date, fuseau: str = "Europe/Paris") -> datetime:
    """Midnight of a local day, as an aware instant."""
    return datetime.combine(jour, time(0, 0), ZoneInfo(fuseau))


@dataclass(frozen=True)
class ReglesTeleoperation:
    """Bounded retries of a tele-operation: attempts, how long an answer may take, the pause after a failure."""

    tentatives_max: int = 3
    delai_reponse: timedelta = timedelta(hours=1)
    delai_nouvel_essai: timedelta = timedelta(minutes=15)


MOTIF_A_PLANIFIER = "il faut convenir d'un rendez-vous avec le client et réserver un créneau"


def _envoyer(etat: Intervention, now: datetime, regles: ReglesTeleoperation) -> Decision:
    tentative = etat.to_tentatives + 1
    to = TeleOperationDemandeeV1(
        reference_affaire=etat.reference_affaire,
        pds=etat.pds,
        compteur=etat.compteur.reference,
        operation=etat.operation,
        date_effet=etat.date_souhaitee,
        tentative=tentative,
        puissance_kva=etat.puissance_cible_kva,
    )
    return Decision(dataclasses.replace(etat, to_tentatives=tentative, prochaine_echeance=now + regles.delai_reponse), [to])


def _a_planifier(etat: Intervention, raison: str) -> Decision:
    """Tele-operation given up: the intervention needs an appointment, which the supplier books (« à planifier »)."""
    nouveau = dataclasses.replace(
        etat,
        mode=ModeIntervention.CRENEAU,
        statut=StatutIntervention.DEMANDEE,
        prochaine_echeance=None,
        motif=f"Télé-opération impossible après {etat.to_tentatives} tentative(s) ({raison}) : {MOTIF_A_PLANIFIER}.",
    )
    return Decision(nouveau, [nouveau.statut_change()])


def _attend_teleoperation(etat: Intervention) -> bool:
    return etat.mode == ModeIntervention.TELEOPERATION and etat.statut == StatutIntervention.DEMANDEE


def _realiser_par_teleoperation(etat: Intervention, releve: Releve) -> Decision:
    nouveau = dataclasses.replace(
        etat,
        statut=StatutIntervention.REALISEE,
        date_realisation=releve.date_releve,
        releve=releve,
        releve_differee=None,
        prochaine_echeance=None,
        motif=None,
    )
    return Decision(nouveau, [nouveau.statut_change()])


def echoir(etat: Intervention, now: datetime, today: date, regles: ReglesTeleoperation) -> Decision | None:
    """The due job's step for one tele-operation: send it (date d'effet reached), send it again (lost or failed), give
    up (« à planifier »), or apply a result parked until its day; None when nothing is due at `now`."""
    if not _attend_teleoperation(etat) or etat.prochaine_echeance is None or etat.prochaine_echeance > now:
        return None
    if etat.releve_differee is not None:
        if etat.releve_differee.date_releve > today:
            return None
        return _realiser_par_teleoperation(etat, etat.releve_differee)
    if etat.date_souhaitee > today:
        return None
    if etat.to_tentatives >= regles.tentatives_max:
        raison = etat.motif or "aucune réponse du système de télé-opération"
        return _a_planifier(etat, raison)
    return _envoyer(etat, now, regles)


def resultat_teleoperation(
    etat: Intervention, res: ResultatTeleOperationV1, now: datetime, today: date, regles: ReglesTeleoperation
) -> Decision | None:
    """Apply a head-end result: done with a real reading (parked while dated in the future), a retry later after a
    failure, or « à planifier » once the attempts are used up; None when not awaited (stale or duplicate)."""
    if not _attend_teleoperation(etat) or etat.to_tentatives == 0 or etat.releve_differee is not None:
        return None
    courante = res.tentative is None or res.tentative == etat.to_tentatives
    jour = res.date_realisation or today
    if res.succes and res.index and jour >= etat.date_souhaitee:
        releve = Releve(date_releve=jour, index=res.index, nature=NatureReleve.REELLE)
        if jour > today:
            # Never applied before its day: parked, the due job applies it then.
            return Decision(dataclasses.replace(etat, releve_differee=releve, prochaine_echeance=debut_du_jour(jour)))
        return _realiser_par_teleoperation(etat, releve)
    if not courante:
        return None  # a late failure of an attempt already replaced
    evenements: list[WireModel] = []
    if res.succes and res.index:
        refus = refus_date_realisation(etat, jour, today)
        assert refus is not None
        evenements.append(realisation_refusee(etat, refus, jour))
        raison = refus.message
    else:
        raison = res.motif_echec or ("index absent" if res.succes else "raison non précisée")
    if etat.to_tentatives >= regles.tentatives_max:
        abandon = _a_planifier(dataclasses.replace(etat, motif=raison), raison)
        return Decision(abandon.etat, [*evenements, *abandon.evenements])
    attente = dataclasses.replace(etat, prochaine_echeance=now + regles.delai_nouvel_essai, motif=f"téléopération en échec : {raison}")
    return Decision(attente, evenements)


def refus_date_realisation(etat: Intervention, jour: date, today: date) -> Refus | None:
    """A realisation is never dated in the future, nor before the date d'effet it was asked for."""
    if jour > today:
        return Refus(
            CodeRefus.REALISATION_DATE_FUTURE,
            f"La réalisation est datée du {jour:%d/%m/%Y}, dans le futur (nous sommes le {today:%d/%m/%Y}) : "
            "renvoyez-la le jour où l'intervention a eu lieu.",
        )
    if jour < etat.date_souhaitee:
        return Refus(
            CodeRefus.REALISATION_AVANT_DATE_EFFET,
            f"La réalisation est datée du {jour:%d/%m/%Y}, avant la date d'effet demandée ({etat.date_souhaitee:%d/%m/%Y}) : "
            "une intervention se fait à partir de sa date d'effet ; corrigez la date.",
        )
    return None


def realisation_refusee(etat: Intervention, refus: Refus, jour: date | None) -> RealisationRefuseeV1:
    """The event telling that a reported realisation was not applied, with its code."""
    return RealisationRefuseeV1(
        reference_affaire=etat.reference_affaire, pds=etat.pds, code=refus.code.value, message=refus.message, date_realisation=jour
    )


def realisee(etat: Intervention, msg: InterventionRealiseeV1) -> Decision | None:
    """A technician did the intervention and read the meter; None when already closed."""
    if etat.statut in CLOSES or etat.statut == StatutIntervention.ETUDE_TECHNIQUE:
        return None
    nouveau = dataclasses.replace(
        etat,
        statut=StatutIntervention.REALISEE,
        date_realisation=msg.date_realisation,
        releve=Releve(date_releve=msg.date_realisation, index=msg.index, nature=NatureReleve.REELLE),
        motif=None,
        compte_rendu=msg.compte_rendu,
    )
    return Decision(nouveau, [nouveau.statut_change()])


def non_realisee(etat: Intervention, msg: InterventionNonRealiseeV1) -> Decision | None:
    """The intervention could not be done: its place is freed; None when already closed."""
    if etat.statut in CLOSES or etat.statut == StatutIntervention.ETUDE_TECHNIQUE:
        return None
    nouveau = dataclasses.replace(etat, statut=StatutIntervention.NON_REALISEE, creneau_id=None, debut=None, fin=None, motif=msg.motif)
    return Decision(nouveau, [nouveau.statut_change()])


def acceptation(q: DemandeQualifieeV1, pds: str, reference_affaire: str, message: str) -> DemandeAccepteeV1:
    """The outcome of an accepted reservation or déplanification."""
    return DemandeAccepteeV1(
        demande_message_id=q.demande_message_id,
        demande_type=q.demande_type,
        reference_affaire=reference_affaire,
        pds=pds,
        message=message,
    )


def refus(q: DemandeQualifieeV1, pds: str | None, r: Refus) -> DemandeRefuseeV1:
    """The outcome of a refused reservation or déplanification."""
    return demande_refusee(q.demande_message_id, q.demande_type, pds, r, Etape.PLANIFICATION)


def message_planifiee(slot: Creneau) -> str:
    """French confirmation of a reservation."""
    return f"Intervention planifiée le {slot.jour:%d/%m/%Y} de {slot.debut:%H:%M} à {slot.fin:%H:%M} ({LIBELLE_MODE[slot.mode]})."


def conclure_etude(etat: Intervention, favorable: bool, commentaire: str, cal: Calendrier, today: date) -> Decision | None:
    """The GRD concluded the technical study: planning resumes (automatic half-day when no presence is needed) or the
    intervention is cancelled (the affaire is refused); None when no study is pending."""
    if etat.statut != StatutIntervention.ETUDE_TECHNIQUE:
        return None
    if not favorable:
        nouveau = dataclasses.replace(etat, statut=StatutIntervention.ANNULEE, motif=f"Étude technique défavorable : {commentaire}")
        return Decision(nouveau, [nouveau.statut_change()])
    nouveau = dataclasses.replace(etat, statut=StatutIntervention.DEMANDEE, motif=f"Étude technique favorable : {commentaire}")
    if nouveau.planification_grd:
        return Decision(nouveau, [nouveau.statut_change()])
    if nouveau.mode == ModeIntervention.PRESENCE_NON_OBLIGATOIRE:
        jours = (cal.dernier_jour(today) - today).days + 1
        return Decision(nouveau, [], creneaux_a_partir(cal, nouveau.zone, nouveau.mode, nouveau.date_souhaitee, today, jours))
    return Decision(nouveau, [nouveau.statut_change()])
