"""Load one closed affaire per demo PDS (holder's entry or last holder's cessation): `python -m services.affaires.seed`."""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from datetime import time as heure
from typing import Any

from contracts.common import EtatAffaire, StatutAffaire, TypeAffaire
from contracts.references import reference_affaire
from demo_data.generator import PdsGen, generate_many
from platform_kit.listing import SupplierIndex
from platform_kit.store import AggregateStore, Indexes, make_client
from services.affaires.domain import DEMANDE_PAR_TYPE, LIBELLES_TYPE, Action, Affaire, Generalites
from services.affaires.settings import Settings
from services.affaires.store import AFFAIRES, INDEX_FOURNISSEUR, entree_index, index_affaires


def affaire_demo(p: PdsGen) -> Affaire:
    """The closed affaire that explains the demo PDS's current situation (deterministic)."""
    if p.titulaire is not None:
        type_affaire = TypeAffaire.MISE_EN_SERVICE if p.index % 2 else TypeAffaire.CHANGEMENT_FOURNISSEUR
        fournisseur, jour = p.titulaire, p.date_debut_titulaire
    else:
        type_affaire, fournisseur, jour = TypeAffaire.CESSATION, p.titulaire_precedent, p.date_debut_titulaire
    at = datetime.combine(jour, heure(9), tzinfo=UTC)
    libelle = LIBELLES_TYPE[type_affaire]
    return Affaire(
        reference=reference_affaire(f"demo:{p.reference}"),
        type_affaire=type_affaire,
        fournisseur=fournisseur,
        pds=p.reference,
        statut=StatutAffaire.TERMINEE,
        etat=EtatAffaire.SOLDEE,
        annulable=False,
        cree_le=at,
        maj_le=at,
        generalites=Generalites(
            resume=f"{libelle.capitalize()} (données de démonstration)",
            demande_type=DEMANDE_PAR_TYPE[type_affaire],
            demande_message_id=f"demo:{p.reference}",
            contrat_id=str(p.contrat["id"]) if p.contrat else None,
            date_effet=jour,
        ),
        actions=[
            Action(date=at, libelle=f"Affaire de {libelle} créée", statut=StatutAffaire.EN_COURS, etat=EtatAffaire.CREEE),
            Action(date=at, libelle="Affaire soldée par le GRD", statut=StatutAffaire.TERMINEE, etat=EtatAffaire.SOLDEE),
        ],
    )


def document(p: PdsGen) -> dict[str, Any]:
    """The stored form of a demo affaire, with the aggregate's reserved fields so handlers can update it like any other."""
    affaire = affaire_demo(p)
    return {"_id": affaire.reference, **affaire.model_dump(mode="json"), "_v": 1, "_inbox": [], "_outbox": {}, "_pending": False}


async def seed(settings: Settings, count: int) -> int:
    """Insert the demo affaires in bulk into their partitions (idempotent); return how many were inserted."""
    client = make_client(settings.mongodb_url)
    try:
        store = AggregateStore.partitioned(client[settings.database_name], AFFAIRES, settings.partitions)
        indexes = Indexes()
        index_affaires(indexes.declare, store)
        await indexes.create()
        inserted = await store.bulk_load(document(p) for p in generate_many(count))
        # The per-supplier listing index: entries inserted only where absent, so live changes win over a rerun of the seed.
        par_fournisseur: dict[str, dict[str, dict[str, Any]]] = {}
        for p in generate_many(count):
            affaire = affaire_demo(p)
            par_fournisseur.setdefault(affaire.fournisseur, {})[affaire.reference] = entree_index(affaire)
        index = SupplierIndex(client[settings.database_name], INDEX_FOURNISSEUR)
        for fournisseur, entrees in par_fournisseur.items():
            await index.add_missing(fournisseur, entrees)
        return inserted
    finally:
        await client.close()


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000, help="Number of demo PDS (one affaire each).")
    args = parser.parse_args()
    start = time.perf_counter()
    inserted = asyncio.run(seed(Settings(), args.count))
    print(f"affaires: {inserted} inserted for {args.count} PDS in {time.perf_counter() - start:.2f}s")


if __name__ == "__main__":
    main()
