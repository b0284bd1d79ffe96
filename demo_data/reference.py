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
