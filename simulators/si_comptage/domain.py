"""Pure head-end behaviour: which tele-operations fail and what real index a meter reads at a date."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from datetime import date

from contracts.common import IndexCadran
from contracts.evenements import ResultatTeleOperationV1, TeleOperationDemandeeV1
from demo_data.generator import generate

MOTIF_INJOIGNABLE = "compteur injoignable par le système de télé-opération"


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


def index_reel(pds: str, jour: date, kwh_par_jour: int) -> tuple[IndexCadran, ...]:
    """Deterministic index at `jour`: the demo PDS's last reading plus daily consumption (or a hash for other PDS)."""
    numero = numero_pds(pds)
    if numero is not None and numero > 0:
        gen = generate(numero)
        dernier = max(gen.releves, key=lambda r: r.date_releve)
        jours = max(0, (jour - dernier.date_releve).days)
        return tuple(IndexCadran(cadran=c, valeur=v + jours * kwh_par_jour) for c, v in sorted(dernier.index.items()))
    graine = int.from_bytes(hashlib.sha256(f"{pds}/{jour.isoformat()}".encode()).digest()[:4], "big")
    return (IndexCadran(cadran="BASE", valeur=1_000 + graine % 90_000),)


def executer(cmd: TeleOperationDemandeeV1, pds_en_echec: Collection[str], echec_modulo: int, kwh_par_jour: int) -> ResultatTeleOperationV1:
    """The head-end's answer to a tele-operation command."""
    if en_echec(cmd.pds, pds_en_echec, echec_modulo):
        return ResultatTeleOperationV1(reference_affaire=cmd.reference_affaire, pds=cmd.pds, succes=False, motif_echec=MOTIF_INJOIGNABLE)
    return ResultatTeleOperationV1(
        reference_affaire=cmd.reference_affaire,
        pds=cmd.pds,
        succes=True,
        date_realisation=cmd.date_effet,
        index=index_reel(cmd.pds, cmd.date_effet, kwh_par_jour),
    )
