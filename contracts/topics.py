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
# Platform control, not a business flow: the offset of the demo/test clock (platform_kit.clock), read by every service
# whose clock control is on (GRD_CLOCK_CONTROL=1), written by `python -m platform_kit.clock`. One partition: in order.
HORLOGE = Topic("grd.horloge.v1", 1, "Demo/test clock offset, keyed by clock name (read only when GRD_CLOCK_CONTROL=1).")

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
    HORLOGE,
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


# Per-supplier topics: a supplier's identity on the bus is the channel it uses. Its system writes demands only on
# its own inbound topic and reads only its own outbound ones (Kafka ACLs, platform_kit.acl); the passerelle
# service checks each demand against its channel, forwards it to DEMANDES and fans the outcomes out.
FOURNISSEURS_PREFIXE = "grd.fournisseurs."
#: Supplier codes usable in topic names and as Kafka principals (Kafka topic names allow [a-zA-Z0-9._-]).
CODE_FOURNISSEUR_MOTIF = r"^[A-Z][A-Z0-9_]{1,31}$"
#: Inbound topic names, for the passerelle's pattern subscription.
FOURNISSEUR_DEMANDES_MOTIF = r"^grd\.fournisseurs\.[A-Z][A-Z0-9_]{1,31}\.demandes\.v1$"


def fournisseur_demandes(code: str) -> Topic:
    """The supplier's inbound topic: its demands, written by its system only."""
    return Topic(f"{FOURNISSEURS_PREFIXE}{code}.demandes.v1", 3, f"Demands of supplier {code} (checked and forwarded by the passerelle).")


def fournisseur_resultats(code: str) -> Topic:
    """The supplier's outcomes (DemandeAcceptee / DemandeRefusee of its own demands)."""
    return Topic(f"{FOURNISSEURS_PREFIXE}{code}.resultats.v1", 3, f"Outcomes of the demands of supplier {code}.")


def fournisseur_affaires(code: str) -> Topic:
    """The events of the supplier's affaires."""
    return Topic(f"{FOURNISSEURS_PREFIXE}{code}.affaires.v1", 3, f"Events of the affaires of supplier {code}.")


def fournisseur_flux(code: str) -> Topic:
    """The C15/R15 flux addressed to the supplier (entries, exits and readings of its points)."""
    return Topic(f"{FOURNISSEURS_PREFIXE}{code}.flux.v1", 3, f"C15/R15 flux addressed to supplier {code}.")


def topics_sortants(code: str) -> tuple[Topic, ...]:
    """The supplier's outbound topics (what it may read)."""
    return (fournisseur_resultats(code), fournisseur_affaires(code), fournisseur_flux(code))


def topics_fournisseur(code: str) -> tuple[Topic, ...]:
    """Every topic of one supplier: inbound first, then outbound."""
    return (fournisseur_demandes(code), *topics_sortants(code))
