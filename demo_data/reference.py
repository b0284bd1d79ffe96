"""Reference data: suppliers (with contact e-mails and demo API secrets), responsables d'équilibre, technician zones."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Fournisseur:
    """A supplier known to the GRD."""

    code: str
    nom: str
    email: str
    secret_demo: str
    re_c1: str
    re_c2: str


FOURNISSEURS: tuple[Fournisseur, ...] = (
    Fournisseur("ELEC_AZUR", "Élec Azur", "flux@elec-azur.example", "demo-elec-azur", "RE_ELECAZUR_C1", "RE_ELECAZUR_C2"),
    Fournisseur("VOLTA", "Volta Énergie", "operations@volta.example", "demo-volta", "RE_VOLTA_C1", "RE_VOLTA_C2"),
    Fournisseur("LUMEN", "Lumen", "gestion@lumen.example", "demo-lumen", "RE_LUMEN_C1", "RE_LUMEN_C2"),
    Fournisseur("WATTPLUS", "Watt Plus", "backoffice@wattplus.example", "demo-wattplus", "RE_WATTPLUS_C1", "RE_WATTPLUS_C2"),
)

#: Independent balance-responsible parties, usable by any supplier.
RE_INDEPENDANTS: tuple[str, ...] = ("RE_NORDEQUILIBRE_C1", "RE_NORDEQUILIBRE_C2", "RE_SUDBALANCE_C2")

GRD_EMAIL = "equipe-acheminement@grd.example"
GRD_OPERATEUR_SECRET_DEMO = "demo-operateur-grd"

ZONES: tuple[str, ...] = ("Z01", "Z02", "Z03", "Z04", "Z05")


def fournisseur(code: str) -> Fournisseur | None:
    """Look a supplier up by code."""
    return next((f for f in FOURNISSEURS if f.code == code), None)


def tous_les_re() -> tuple[str, ...]:
    """Every RE code known to the GRD."""
    return tuple(r for f in FOURNISSEURS for r in (f.re_c1, f.re_c2)) + RE_INDEPENDANTS

#: The lists a supplier's forms offer (the portal's drop-down lists). Values are what the demands carry.
SERVICES: tuple[str, ...] = ("BASE", "HPHC", "EJP", "TEMPO", "CU4", "MU4", "LU")
USAGES: tuple[str, ...] = ("residentiel", "professionnel", "eclairage_public", "agricole")
MOTIFS_CESSATION: tuple[str, ...] = ("demenagement", "fin_de_contrat_client", "resiliation_fournisseur", "local_vacant", "autre")
SOUS_TYPES_RECLAMATION: tuple[str, ...] = ("qualite_fourniture", "releve_facturation", "raccordement", "intervention", "accueil", "autre")
NATURES_RECLAMATION: tuple[str, ...] = ("ecrite", "telephonique")
SOUS_TYPES_DEMANDE_DIVERSE: tuple[str, ...] = ("information", "duplicata", "donnees_de_comptage", "autre")
#: Intervention technique sous-types; True when it only needs a meter reading (« présence non obligatoire » possible).
SOUS_TYPES_INTERVENTION_TECHNIQUE: dict[str, bool] = {
    "releve_speciale": True,
    "verification_compteur": False,
    "changement_compteur": False,
    "deplacement_compteur": False,
    "coupure": False,
    "retablissement": False,
    "autre": False,
}
VERSIONS_BT_PLUS: tuple[str, ...] = ("CU4", "MU4", "CU", "LU", "HTA5", "HTA8")
TYPES_TENSION: tuple[str, ...] = ("BT", "HTA")
TYPES_REDEVANCE_COMPTAGE: tuple[str, ...] = ("location", "propriete_client")


def res_par_segment() -> dict[str, tuple[str, ...]]:
    """RE codes by segment suffix: « C1 » for customers > 36 kVA (C1–C4), « C2 » for C5 (≤ 36 kVA)."""
    res = tous_les_re()
    return {"C1": tuple(r for r in res if r.endswith("C1")), "C2": tuple(r for r in res if r.endswith("C2"))}
