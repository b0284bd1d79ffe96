"""Load the demo contracts (demo_data.generator) into the `contrats_pds` partitions: `python -m services.contrats.seed [--count N]`."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from demo_data.generator import PdsGen, generate_many
from platform_kit.listing import SupplierIndex
from platform_kit.store import AggregateStore, make_client
from services.contrats.domain import EtatPds, contrats_par_fournisseur
from services.contrats.settings import Settings
from services.contrats.store import COLLECTION, INDEX_CONTRATS


def document(p: PdsGen) -> dict[str, Any]:
    """The aggregate document of one generated PDS (its current contract, its last reading)."""
    contrats = []
    if p.contrat is not None:
        c = p.contrat
        debut = c["date_debut"]
        contrats.append(
            {
                "id": c["id"],
                "titulaire": c["titulaire"],
                "etat": "en_service",
                "service": c["service"],
                "puissance_souscrite_kva": c["puissance_souscrite_kva"],
                "usage": c["usage"],
                "re_code": c["re_code"],
                "parametres_bt_plus": None,
                "occupant": p.occupant,
                "contrat_conclu": None,
                "date_debut": debut.isoformat() if hasattr(debut, "isoformat") else str(debut),
                "date_fin": None,
                "references_affaires": [],
            }
        )
    derniere = None
    if p.releves:
        r = p.releves[-1]
        derniere = {
            "date_releve": r.date_releve.isoformat(),
            "index": [{"cadran": k, "valeur": v} for k, v in r.index.items()],
            "nature": r.nature,
        }
    return {
        "_id": p.reference,
        "pds": p.reference,
        "segment": p.segment,
        "contrats": contrats,
        "changements": [],
        "cf_non_soldees": {},
        "derniere_releve": derniere,
        "prochaine_echeance": None,
        "_v": 1,
        "_inbox": [],
        "_outbox": {},
        "_pending": False,
    }


async def seed(settings: Settings, count: int, start: int = 1) -> int:
    """Insert the missing demo PDS (existing ones are left untouched, so a rerun is harmless); return how many were new."""
    client = make_client(settings.mongodb_url)
    try:
        store = AggregateStore.partitioned(client[settings.database_name], COLLECTION, settings.partitions)
        inserted = await store.bulk_load(document(p) for p in generate_many(count, start))
        # The holders' contract index: lines inserted only where absent, so live changes win over a rerun of the seed.
        par_fournisseur: dict[str, dict[str, dict[str, Any]]] = {}
        for p in generate_many(count, start):
            etat = EtatPds.model_validate({k: v for k, v in document(p).items() if not k.startswith("_")})
            for fournisseur, lignes in contrats_par_fournisseur(etat).items():
                par_fournisseur.setdefault(fournisseur, {}).update(lignes)
        index = SupplierIndex(client[settings.database_name], INDEX_CONTRATS)
        for fournisseur, lignes in par_fournisseur.items():
            await index.add_missing(fournisseur, lignes)
        return inserted
    finally:
        await client.close()


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000, help="Number of demo PDS to load.")
    parser.add_argument("--start", type=int, default=1, help="Index of the first demo PDS.")
    args = parser.parse_args()
    debut = time.monotonic()
    n = asyncio.run(seed(Settings(), args.count, args.start))
    print(f"contrats : {n} PDS ajoutés sur {args.count} en {time.monotonic() - debut:.1f} s")


if __name__ == "__main__":
    main()
