"""The wire vocabulary of the demands: the values their free-text fields carry (the portal's drop-down lists).

Pure data, the same for every GRD using the platform: the lists `GET /listes` of the référentiel serves and the
services check demands against. What differs between GRDs (suppliers, responsables d'équilibre, zones) is
configuration, read by `platform_kit.reference`, not here.
"""

from typing import Final

#: Services (tariff options): `service` of `DemandeMiseEnServiceV1`, `DemandeChangementFournisseurV1`, `DemandeModificationContratV1`.
SERVICES: Final[tuple[str, ...]] = ("BASE", "HPHC", "EJP", "TEMPO", "CU4", "MU4", "LU")

#: Usages of the supply (`usage` of `DemandeMiseEnServiceV1`, `DemandeModificationContratV1`).
USAGES: Final[tuple[str, ...]] = ("residentiel", "professionnel", "eclairage_public", "agricole")

#: Motifs of `DemandeCessationV1.motif`.
MOTIFS_CESSATION: Final[tuple[str, ...]] = ("demenagement", "fin_de_contrat_client", "resiliation_fournisseur", "local_vacant", "autre")

#: Sous-types of `DemandeReclamationV1.sous_type`.
SOUS_TYPES_RECLAMATION: Final[tuple[str, ...]] = ("qualite_fourniture", "releve_facturation", "raccordement", "intervention", "accueil", "autre")

#: Natures of `DemandeReclamationV1.nature`.
NATURES_RECLAMATION: Final[tuple[str, ...]] = ("ecrite", "telephonique")

#: Sous-types of `DemandeDiverseV1.sous_type`.
SOUS_TYPES_DEMANDE_DIVERSE: Final[tuple[str, ...]] = ("information", "duplicata", "donnees_de_comptage", "autre")

#: Sous-types of `DemandeInterventionTechniqueV1.sous_type`, each with whether « présence non obligatoire » is
#: possible: True when the intervention only needs a meter reading (relève seule), so the customer need not be there.
SOUS_TYPES_INTERVENTION_TECHNIQUE: Final[dict[str, bool]] = {
    "releve_speciale": True,
    "verification_compteur": False,
    "changement_compteur": False,
    "deplacement_compteur": False,
    "coupure": False,
    "retablissement": False,
    "autre": False,
}

#: Tariff versions (formules d'acheminement) of `ParametresBtPlus.version` (BT > 36 kVA and HTA).
VERSIONS_BT_PLUS: Final[tuple[str, ...]] = ("CU4", "MU4", "CU", "LU", "HTA5", "HTA8")

#: Types de tension of `ParametresBtPlus.type_tension`.
TYPES_TENSION: Final[tuple[str, ...]] = ("BT", "HTA")

#: Types de redevance de comptage of `ParametresBtPlus.type_redevance_comptage`: meter rented, or owned by the customer.
TYPES_REDEVANCE_COMPTAGE: Final[tuple[str, ...]] = ("location", "propriete_client")
