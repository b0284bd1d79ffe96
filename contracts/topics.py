"""Registry of Kafka topics: name, partitions and what travels on each. Every topic is keyed by PDS reference."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """A Kafka topic of the platform."""

    name: str
    partitions: int
    description: str


DEMANDES = Topic("grd.demandes.v1", 3, "Supplier demands (commands) — published by suppliers' systems.")
# A qualified demand travels on the topic of the one service whose process it starts: a service receives only its
# own demands (no receive-and-skip), and `qualifiees_pour` is the single routing table.
QUALIFIEES_CONTRATS = Topic(
    "grd.demandes.qualifiees.contrats.v1", 3, "Qualified demands of the contract processes (CF, MES, RE, contract change, cessation)."
)
QUALIFIEES_AFFAIRES = Topic(
    "grd.demandes.qualifiees.affaires.v1", 3, "Qualified claims, miscellaneous requests, technical interventions, cancellations."
)
QUALIFIEES_PLANIFICATION = Topic("grd.demandes.qualifiees.planification.v1", 3, "Qualified appointment bookings (and re-bookings) and un-bookings.")
DEMANDES_RESULTATS = Topic("grd.demandes.resultats.v1", 3, "One outcome per demand: accepted (affaire ref) or refused (code).")
AFFAIRES_COMMANDES = Topic("grd.affaires.commandes.v1", 3, "Contrats asks affaires to open the affaire of a validated demand.")
AFFAIRES_EVENEMENTS = Topic("grd.affaires.evenements.v1", 3, "Affaire created / status changed.")
CONTRATS_EVENEMENTS = Topic("grd.contrats.evenements.v1", 3, "Contract state changes.")
INTERVENTIONS_COMMANDES = Topic("grd.interventions.commandes.v1", 3, "Interventions to carry out or cancel.")
INTERVENTIONS_EVENEMENTS = Topic("grd.interventions.evenements.v1", 3, "Intervention planned / done / not done / cancelled.")
SI_COMMANDES = Topic("grd.si.commandes.v1", 3, "Commands to GRD systems (AMM head-end tele-operations).")
SI_RESULTATS = Topic("grd.si.resultats.v1", 3, "GRD-side inputs: intervention results, tele-operation results, affaire closing.")
RELEVES = Topic("grd.releves.evenements.v1", 3, "Readings recorded.")
NOTIFICATIONS = Topic("grd.notifications.evenements.v1", 3, "E-mails sent.")
FLUX_C15 = Topic("grd.flux.c15.v1", 3, "C15-like flux: entries and exits of suppliers' perimeters.")
FLUX_R15 = Topic("grd.flux.r15.v1", 3, "R15-like flux: readings for suppliers.")
DLQ = Topic("grd.dlq.v1", 3, "Dead letters: original bytes, with error/origin/attempt headers.")

ALL_TOPICS: tuple[Topic, ...] = (
    DEMANDES,
    QUALIFIEES_CONTRATS,
    QUALIFIEES_AFFAIRES,
    QUALIFIEES_PLANIFICATION,
    DEMANDES_RESULTATS,
    AFFAIRES_COMMANDES,
    AFFAIRES_EVENEMENTS,
    CONTRATS_EVENEMENTS,
    INTERVENTIONS_COMMANDES,
    INTERVENTIONS_EVENEMENTS,
    SI_COMMANDES,
    SI_RESULTATS,
    RELEVES,
    NOTIFICATIONS,
    FLUX_C15,
    FLUX_R15,
    DLQ,
)

#: Which qualified-demand topic each demand type goes to (the demand's `type` in the catalogue).
QUALIFIEES_PAR_TYPE: dict[str, Topic] = {
    "DemandeChangementFournisseur": QUALIFIEES_CONTRATS,
    "DemandeMiseEnService": QUALIFIEES_CONTRATS,
    "DemandeModificationRE": QUALIFIEES_CONTRATS,
    "DemandeModificationContrat": QUALIFIEES_CONTRATS,
    "DemandeCessation": QUALIFIEES_CONTRATS,
    "DemandeReclamation": QUALIFIEES_AFFAIRES,
    "DemandeDiverse": QUALIFIEES_AFFAIRES,
    "DemandeInterventionTechnique": QUALIFIEES_AFFAIRES,
    "DemandeAnnulation": QUALIFIEES_AFFAIRES,
    "ReservationCreneau": QUALIFIEES_PLANIFICATION,
    "Deplanification": QUALIFIEES_PLANIFICATION,
}


def qualifiees_pour(demande_type: str) -> Topic:
    """The topic of a qualified demand of this type (KeyError for a type no process handles: a catalogue bug)."""
    return QUALIFIEES_PAR_TYPE[demande_type]
