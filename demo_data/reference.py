"""Demo identities over the GRD's reference data: each configured supplier with its public demo API secret.

The reference data itself is configuration (`platform_kit.reference`, file `config/reference-grd.toml`) and the
wire vocabulary is in `contracts.listes`; this module adds only what the demo, the tools and the tests need (the
demo secrets, the demo operator's) and re-exports the rest for them. Services do not import it.
"""

from dataclasses import dataclass

from contracts.listes import (
    MOTIFS_CESSATION,
    NATURES_RECLAMATION,
    SERVICES,
    SOUS_TYPES_DEMANDE_DIVERSE,
    SOUS_TYPES_INTERVENTION_TECHNIQUE,
    SOUS_TYPES_RECLAMATION,
    TYPES_REDEVANCE_COMPTAGE,
    TYPES_TENSION,
    USAGES,
    VERSIONS_BT_PLUS,
)
from platform_kit.reference import reference

__all__ = [
    "FOURNISSEURS",
    "GRD_EMAIL",
    "GRD_OPERATEUR_SECRET_DEMO",
    "MOTIFS_CESSATION",
    "NATURES_RECLAMATION",
    "RE_INDEPENDANTS",
    "SERVICES",
    "SOUS_TYPES_DEMANDE_DIVERSE",
    "SOUS_TYPES_INTERVENTION_TECHNIQUE",
    "SOUS_TYPES_RECLAMATION",
    "TYPES_REDEVANCE_COMPTAGE",
    "TYPES_TENSION",
    "USAGES",
    "VERSIONS_BT_PLUS",
    "ZONES",
    "Fournisseur",
    "fournisseur",
    "res_par_segment",
    "secret_demo",
    "tous_les_re",
]

#: The demo GRD operator's HTTP secret (account GRD; platform_kit.auth.DEMO_ACCOUNTS holds its hash).
GRD_OPERATEUR_SECRET_DEMO = "demo-operateur-grd"


def secret_demo(code: str) -> str:
    """A supplier's public demo HTTP secret (`demo-elec-azur` for ELEC_AZUR); platform_kit.auth.DEMO_ACCOUNTS hashes the shipped ones."""
    return "demo-" + code.lower().replace("_", "-")


@dataclass(frozen=True)
class Fournisseur:
    """A supplier of the reference data, with its demo API secret."""

    code: str
    nom: str
    email: str
    secret_demo: str
    re_c1: str
    re_c2: str


_REFERENCE = reference()

FOURNISSEURS: tuple[Fournisseur, ...] = tuple(
    Fournisseur(f.code, f.nom, f.email, secret_demo(f.code), f.re_c1, f.re_c2) for f in _REFERENCE.fournisseurs
)
#: Independent balance-responsible parties, usable by any supplier.
RE_INDEPENDANTS: tuple[str, ...] = _REFERENCE.re_independants
GRD_EMAIL = _REFERENCE.grd_email
ZONES: tuple[str, ...] = _REFERENCE.zones


def fournisseur(code: str) -> Fournisseur | None:
    """Look a supplier up by code."""
    return next((f for f in FOURNISSEURS if f.code == code), None)


def tous_les_re() -> tuple[str, ...]:
    """Every RE code known to the GRD."""
    return _REFERENCE.tous_les_re()


def res_par_segment() -> dict[str, tuple[str, ...]]:
    """RE codes by segment suffix: « C1 » for customers > 36 kVA (C1–C4), « C2 » for C5 (≤ 36 kVA)."""
    return _REFERENCE.res_par_segment()
