"""Pure head-end behaviour: each meter's small state, what a tele-operation does to it, which ones fail or get lost."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from contracts.common import IndexCadran, OperationTechnique
from contracts.evenements import ResultatTeleOperationV1, TeleOperationDemandeeV1
from demo_data.generator import generate

MOTIF_INJOIGNABLE = "compteur injoignable par le système de télé-opération"
ACTIF = "actif"
COUPE = "coupe"


@dataclass(frozen=True)
class Regles:
    """How the simulated head-end misbehaves: configured failures and loss rates, deterministic for a seed."""

    pds_en_echec: Collection[str] = ()
    echec_modulo: int = 0
    taux_echec: float = 0.0
    taux_perte: float = 0.0
    graine: int = 0
    kwh_par_jour: int = 9


@dataclass(frozen=True)
class Compteur:
    """What the head-end knows of one meter: supply state, breaker setting, index per cadran and the day it was read."""

    etat: str
    index: Mapping[str, int]
    jour: date
    puissance_kva: float | None = None
    operations: tuple[str, ...] = field(default=())

    def to_doc(self) -> dict[str, Any]:
        """Stored form."""
        return {
            "etat": self.etat,
            "index": dict(self.index),
            "jour": self.jour.isoformat(),
            "puissance_kva": self.puissance_kva,
            "operations": list(self.operations),
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Compteur | None:
        """Rebuild from the store; None for a meter never tele-operated."""
        if not doc.get("etat"):
            return None
        return cls(
            etat=str(doc["etat"]),
            index={str(k): int(v) for k, v in doc["index"].items()},
            jour=date.fromisoformat(doc["jour"]),
            puissance_kva=doc.get("puissance_kva"),
            operations=tuple(doc.get("operations", ())),
        )


def numero_pds(pds: str) -> int | None:
    """The demo generator's number of a PDS reference (``3`` + 13 digits + suffix), or None."""
    digits = pds[1:14]
    if len(pds) < 14 or not pds.startswith("3") or not digits.isdigit():
        return None
    return int(digits)


def en_echec(pds: str, pds_en_echec: Collection[str], echec_modulo: int) -> bool:
    """True when the configured rule makes this PDS's tele-operations fail."""
    if pds in pds_en_echec:
        return True
    numero = numero_pds(pds)
    return echec_modulo > 0 and numero is not None and numero % echec_modulo == 0


def tirage(graine: int, *parts: str) -> float:
    """A deterministic draw in [0, 1) for a seed and a few words (the same command always draws the same)."""
    digest = hashlib.sha256("/".join([str(graine), *parts]).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def index_reel(pds: str, jour: date, kwh_par_jour: int) -> tuple[IndexCadran, ...]:
    """Deterministic first index of a meter at `jour`: the demo PDS's last reading plus daily use (a hash for other PDS)."""
    numero = numero_pds(pds)
    if numero is not None and numero > 0:
        gen = generate(numero)
        dernier = max(gen.releves, key=lambda r: r.date_releve)
        jours = max(0, (jour - dernier.date_releve).days)
        return tuple(IndexCadran(cadran=c, valeur=v + jours * kwh_par_jour) for c, v in sorted(dernier.index.items()))
    graine = int.from_bytes(hashlib.sha256(f"{pds}/{jour.isoformat()}".encode()).digest()[:4], "big")
    return (IndexCadran(cadran="BASE", valeur=1_000 + graine % 90_000),)


def compteur_initial(pds: str, jour: date, kwh_par_jour: int) -> Compteur:
    """A meter the head-end has not operated yet: supplied, read at `jour`."""
    return Compteur(etat=ACTIF, index={i.cadran: i.valeur for i in index_reel(pds, jour, kwh_par_jour)}, jour=jour)


def releve(compteur: Compteur, jour: date, kwh_par_jour: int) -> Compteur:
    """The meter read at `jour`: the index only grows (energy is used while supplied), never goes back."""
    jours = max(0, (jour - compteur.jour).days)
    conso = jours * kwh_par_jour if compteur.etat == ACTIF else 0
    return replace(compteur, index={c: v + conso for c, v in compteur.index.items()}, jour=max(jour, compteur.jour))


def _echec(cmd: TeleOperationDemandeeV1, motif: str) -> ResultatTeleOperationV1:
    return ResultatTeleOperationV1(reference_affaire=cmd.reference_affaire, pds=cmd.pds, succes=False, motif_echec=motif, tentative=cmd.tentative)


def _operer(cmd: TeleOperationDemandeeV1, lu: Compteur) -> Compteur | str:
    """The meter after the operation, or why the head-end refuses it."""
    op = cmd.operation
    if op == OperationTechnique.CHANGEMENT_FOURNISSEUR:
        return lu if lu.etat == ACTIF else "compteur coupé : un changement de fournisseur demande un point alimenté"
    if op == OperationTechnique.MISE_EN_SERVICE:
        return replace(lu, etat=ACTIF)
    if op == OperationTechnique.CESSATION:
        return replace(lu, etat=COUPE)
    if op == OperationTechnique.MODIFICATION:
        if cmd.puissance_kva is None:
            return "puissance cible absente : le disjoncteur ne peut pas être reparamétré"
        return replace(lu, puissance_kva=cmd.puissance_kva)
    return f"opération {op.value} non télé-opérable"


def executer(
    cmd: TeleOperationDemandeeV1, compteur: Compteur | None, jour: date, regles: Regles
) -> tuple[Compteur | None, ResultatTeleOperationV1 | None]:
    """Execute a command on `jour` (the day the head-end receives it): the meter's new state and the answer (None: lost)."""
    cle = (cmd.reference_affaire, str(cmd.tentative))
    if tirage(regles.graine, *cle, "perte") < regles.taux_perte:
        return compteur, None
    if en_echec(cmd.pds, regles.pds_en_echec, regles.echec_modulo) or tirage(regles.graine, *cle, "echec") < regles.taux_echec:
        return compteur, _echec(cmd, MOTIF_INJOIGNABLE)
    if cmd.date_effet > jour:
        # A head-end executes on the day it is asked: a command for a later day is a sender's error.
        return compteur, _echec(cmd, f"exécution demandée pour le {cmd.date_effet:%d/%m/%Y}, pas aujourd'hui ({jour:%d/%m/%Y})")
    lu = releve(compteur or compteur_initial(cmd.pds, jour, regles.kwh_par_jour), jour, regles.kwh_par_jour)
    opere = _operer(cmd, lu)
    if isinstance(opere, str):
        return lu, _echec(cmd, opere)
    opere = replace(opere, operations=(*opere.operations, f"{jour.isoformat()} {cmd.operation.value}")[-20:])
    index = tuple(IndexCadran(cadran=c, valeur=v) for c, v in sorted(opere.index.items()))
    resultat = ResultatTeleOperationV1(
        reference_affaire=cmd.reference_affaire, pds=cmd.pds, succes=True, date_realisation=jour, index=index, tentative=cmd.tentative
    )
    return opere, resultat
