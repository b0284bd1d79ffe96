"""Registry of Kafka topics: name, partitions and what travels on each. Every topic is keyed by PDS reference."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """A Kafka topic of the platform."""

    name: str
    partitions: int
    description: str


DEMANDES = Topic("grd.demandes.v1", 3, "Supplier demands (commands) — published by suppliers' systems.")
DEMANDES_QUALIFIEES = Topic("grd.demandes.qualifiees.v1", 3, "Demands that passed the access check, with PDS context.")
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
    DEMANDES_QUALIFIEES,
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
