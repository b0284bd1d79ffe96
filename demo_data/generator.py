"""Deterministic generator of fictional EDL/PDS with meters, occupants, holders, contracts and readings.

The same index always gives the same PDS, so every service can seed its own collections from it independently
and the demo data agree across services.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from demo_data.reference import FOURNISSEURS, ZONES

NOMS = (
    "MARTIN",
    "BERNARD",
    "DUBOIS",
    "THOMAS",
    "ROBERT",
    "RICHARD",
    "PETIT",
    "DURAND",
    "LEROY",
    "MOREAU",
    "SIMON",
    "LAURENT",
    "LEFEBVRE",
    "MICHEL",
    "GARCIA",
    "DAVID",
    "BERTRAND",
    "ROUX",
    "VINCENT",
    "FOURNIER",
)
PRENOMS = (
    "Marie",
    "Jean",
    "Camille",
    "Louis",
    "Léa",
    "Hugo",
    "Chloé",
    "Lucas",
    "Emma",
    "Nathan",
    "Inès",
    "Paul",
    "Manon",
    "Arthur",
    "Sarah",
    "Jules",
    "Zoé",
    "Théo",
    "Alice",
    "Gabriel",
)
VOIES = (
    "RUE DE LA REPUBLIQUE",
    "AVENUE JEAN JAURES",
    "RUE VICTOR HUGO",
    "BOULEVARD PASTEUR",
    "RUE DES LILAS",
    "CHEMIN DU MOULIN",
    "PLACE DE LA MAIRIE",
    "RUE DU STADE",
    "ALLEE DES CHENES",
    "RUE NATIONALE",
)
COMMUNES = (
    ("69001", "LYON"),
    ("13001", "MARSEILLE"),
    ("31000", "TOULOUSE"),
    ("44000", "NANTES"),
    ("67000", "STRASBOURG"),
    ("33000", "BORDEAUX"),
    ("59000", "LILLE"),
    ("35000", "RENNES"),
)
PUISSANCES_C5 = (3.0, 6.0, 9.0, 12.0, 15.0, 18.0, 24.0, 36.0)
TODAY_ANCHOR = date(2026, 11, 1)
#: Points per block of addresses (see `generate`): three rounds of the 8,400 (numero, voie, commune) combinations.
BLOC_ADRESSES = 25_200


def pds_reference(i: int) -> str:
    """The PDS reference of generated point `i`: 14 digits and the electricity suffix EC1."""
    return f"3{i:013d}EC1"


def compteur_reference(i: int) -> str:
    """The meter reference of generated point `i`."""
    return f"CPT{i:011d}"


@dataclass(frozen=True)
class ReleveGen:
    """A generated reading."""

    date_releve: date
    index: dict[str, int]
    nature: str
    motif: str
    titulaire: str | None


@dataclass(frozen=True)
class PdsGen:
    """Everything about one generated PDS."""

    index: int
    reference: str
    edl_id: str
    adresse: dict[str, str]
    segment: str
    niveau_tension: str
    etat: str
    coupe_pour_non_paiement: bool
    date_premiere_mes: date
    zone: str
    compteur: dict[str, object]
    branchement: dict[str, object]
    occupant: dict[str, str] | None
    occupant_precedent: dict[str, str]
    titulaire: str | None
    titulaire_precedent: str
    date_debut_titulaire: date
    contrat: dict[str, object] | None
    releves: tuple[ReleveGen, ...] = field(default_factory=tuple)


def generate(i: int) -> PdsGen:
    """Generate PDS number `i` (deterministic)."""
    rng = random.Random(i * 7919 + 17)
    cp, commune = COMMUNES[i % len(COMMUNES)]
    adresse = {
        # The first 25,200 points use 8,400 addresses (1 to 3 points each); each next block of 25,200 has its own
        # house numbers, so an address never holds more than 3 points, at 1,000,000 points as at 10,000.
        "numero": str(1 + (i // len(COMMUNES)) % 150 + 150 * (i // BLOC_ADRESSES)),
        "voie": VOIES[(i // 7) % len(VOIES)],
        "code_postal": cp,
        "commune": commune,
        "complement": f"LOGEMENT {1 + i % 9}" if i % 3 == 0 else "",
    }
    roll = rng.random()
    segment = "C5" if roll < 0.9 else ("C4" if roll < 0.98 else "C2")
    tension = "HTA" if segment == "C2" else "BT"
    etat = "en_service" if rng.random() < 0.85 else "resilie"
    amm = segment == "C5" and rng.random() < 0.7
    cadrans = ["HP", "HC"] if i % 2 else ["BASE"]
    localisation = "exterieur" if rng.random() < 0.4 else "interieur"
    compteur: dict[str, object] = {
        "reference": compteur_reference(i),
        "type": "AMM" if amm else "electronique",
        "amm": amm,
        "localisation": localisation,
        "mode_releve": "telereleve" if amm else "sur_site",
        "teleoperable": amm and i % 17 != 0,
        "cadrans": cadrans,
    }
    puissance = rng.choice(PUISSANCES_C5) if segment == "C5" else float(rng.choice((42, 60, 120, 250)))
    branchement: dict[str, object] = {
        "type": "aerosouterrain" if i % 2 else "souterrain",
        "puissance_raccordement_kva": 36.0 if segment == "C5" else puissance * 1.5,
        "protection": f"disjoncteur {int(puissance * 5)} A" if segment == "C5" else "cellule HTA" if segment == "C2" else "TGBT",
    }
    fournisseurs = [f.code for f in FOURNISSEURS]
    titulaire = fournisseurs[i % len(fournisseurs)] if etat == "en_service" else None
    precedent = fournisseurs[(i + 1) % len(fournisseurs)]
    occupant = None
    if etat == "en_service":
        occupant = {"nom": NOMS[i % len(NOMS)], "prenom": PRENOMS[(i // 3) % len(PRENOMS)], "telephone": f"06{i % 10**8:08d}"}
    occupant_precedent = {"nom": NOMS[(i + 5) % len(NOMS)], "prenom": PRENOMS[(i + 2) % len(PRENOMS)]}
    debut = TODAY_ANCHOR - timedelta(days=200 + i % 400)
    first_mes = debut - timedelta(days=900 + i % 3000)
    contrat: dict[str, object] | None = None
    if titulaire is not None:
        four = next(f for f in FOURNISSEURS if f.code == titulaire)
        contrat = {
            "id": f"CT-{pds_reference(i)}-1",
            "titulaire": titulaire,
            "service": "HPHC" if cadrans == ["HP", "HC"] else "BASE",
            "puissance_souscrite_kva": puissance,
            "usage": "residentiel" if segment == "C5" else "professionnel",
            "re_code": four.re_c2 if segment == "C5" else four.re_c1,
            "date_debut": debut,
        }
    releves = []
    base = 10_000 + (i % 5000) * 3
    for k in range(6):
        d = debut + timedelta(days=60 * k + 30) - timedelta(days=200)
        holder = titulaire if d >= debut else precedent
        nature = "reelle" if (k % 2 == 0 or amm) else "estimee"
        releves.append(ReleveGen(d, {c: base + 400 * k + j * 111 for j, c in enumerate(cadrans)}, nature, "cyclique", holder))
    return PdsGen(
        index=i,
        reference=pds_reference(i),
        edl_id=f"EDL{i:011d}",
        adresse=adresse,
        segment=segment,
        niveau_tension=tension,
        etat=etat,
        coupe_pour_non_paiement=etat == "en_service" and i % 97 == 0,
        date_premiere_mes=first_mes,
        zone=ZONES[i % len(ZONES)],
        compteur=compteur,
        branchement=branchement,
        occupant=occupant,
        occupant_precedent=occupant_precedent,
        titulaire=titulaire,
        titulaire_precedent=precedent,
        date_debut_titulaire=debut,
        contrat=contrat,
        releves=tuple(releves),
    )


def generate_many(count: int, start: int = 1) -> Iterator[PdsGen]:
    """Generate points start .. start+count-1."""
    for i in range(start, start + count):
        yield generate(i)


def find(predicate: object, limit: int = 10_000) -> PdsGen:
    """First generated PDS matching a predicate (for tests and demo scripts)."""
    assert callable(predicate)
    for p in generate_many(limit):
        if predicate(p):
            return p
    raise LookupError("no generated PDS matches")
