"""Load the deterministic demo PDS into the référentiel's collections: `python -m services.referentiel.seed --count N`."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import defaultdict
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from demo_data.generator import PdsGen, generate_many
from platform_kit.listing import SupplierIndex
from platform_kit.store import make_client, partition_name, partition_of
from services.referentiel.domain.commun import State, cle_adresse, cle_personne, iso
from services.referentiel.domain.perimetre import entrees_perimetre
from services.referentiel.domain.recherche import entree_index
from services.referentiel.domain.releves import consommations_mensuelles
from services.referentiel.settings import Settings
from services.referentiel.store import PERIMETRES

LOT = 5000
#: Points built and inserted at a time.
TRANCHE = 25_000


def document_pds(p: PdsGen, mois: int) -> State:
    """The aggregate state of one generated PDS (dates as ISO strings)."""
    adresse = dict(p.adresse)
    titulaires: list[dict[str, Any]] = [
        {
            "fournisseur": p.titulaire_precedent,
            "contrat_id": f"CT-{p.reference}-0",
            "debut": iso(p.date_premiere_mes),
            "fin": iso(p.date_debut_titulaire),
        }
    ]
    if p.contrat is not None and p.titulaire is not None:
        contrat = p.contrat
        titulaires.append(
            {
                "fournisseur": p.titulaire,
                "contrat_id": str(contrat["id"]),
                "debut": iso(p.date_debut_titulaire),
                "fin": None,
                "service": contrat["service"],
                "puissance_souscrite_kva": contrat["puissance_souscrite_kva"],
                "re_code": contrat["re_code"],
            }
        )
    releves = [
        {
            "date_releve": iso(r.date_releve),
            "index": dict(r.index),
            "nature": r.nature,
            "motif": r.motif,
            "titulaire": r.titulaire,
            "reference_affaire": None,
        }
        for r in p.releves
    ]
    personnes = [p.occupant_precedent, *([p.occupant] if p.occupant else [])]
    return {
        "reference": p.reference,
        "edl_id": p.edl_id,
        "adresse": adresse,
        "adresse_cle": cle_adresse(adresse["numero"], adresse["voie"], adresse["code_postal"], adresse["commune"]),
        "activite": "electricite",
        "date_premiere_mes": iso(p.date_premiere_mes),
        "etat": p.etat,
        "coupe_pour_non_paiement": p.coupe_pour_non_paiement,
        "niveau_tension": p.niveau_tension,
        "segment": p.segment,
        "zone": p.zone,
        "compteur": dict(p.compteur),
        "branchement": dict(p.branchement),
        "occupant": dict(p.occupant) if p.occupant else None,
        "occupants_precedents": [dict(p.occupant_precedent)],
        "occupant_cles": sorted({cle_personne(x["nom"], x["prenom"]) for x in personnes}),
        "titulaires": titulaires,
        "en_souscription": [],
        "declarations": {},
        "releves": releves,
        "consommations": consommations_mensuelles(releves, mois),
    }


async def _inserer(collection: AsyncCollection[dict[str, Any]], docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert the documents not there yet, in large batches (each write pays a fixed cost); return those already there."""
    deja: list[dict[str, Any]] = []
    for i in range(0, len(docs), LOT):
        lot = docs[i : i + LOT]
        try:
            await collection.insert_many(lot, ordered=False)
        except BulkWriteError as exc:
            erreurs = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in erreurs):
                raise
            deja.extend(lot[int(e["index"])] for e in erreurs)
    return deja


async def _completer_adresses(collection: AsyncCollection[dict[str, Any]], deja: list[dict[str, Any]]) -> None:
    """Give addresses already indexed the entries of their PDS they lack; the entries there (live or seeded) win.

    One update per address, selected by _id (the store's primary key; never a read by `$in`, which FerretDB runs as
    a scan of the collection), applied only when none of its new entries is there: the document is rewritten once
    whatever the number of PDS added. When it does not apply (some entries are there already: a rerun; or another
    writer changed the document in between), the entries still absent are read and the update is tried again.
    """
    for d in deja:
        entrees: dict[str, Any] = d["pds"]
        while entrees:
            ajout = {"$set": {f"pds.{r}": e for r, e in entrees.items()}}
            if (await collection.update_one({"_id": d["_id"], **{f"pds.{r}": {"$exists": False} for r in entrees}}, ajout)).matched_count:
                break
            actuel = await collection.find_one({"_id": d["_id"]}, {"pds": 1})
            if actuel is None:  # removed meanwhile: put the entries back
                await collection.update_one({"_id": d["_id"]}, ajout, upsert=True)
                break
            entrees = {r: e for r, e in entrees.items() if r not in actuel.get("pds", {})}


async def seed(settings: Settings, count: int, start: int = 1) -> dict[str, int]:
    """Load points start..start+count-1 into the PDS partitions, the perimeters and the address index; idempotent.

    The points go in tranches of `TRANCHE` (documents built, inserted, dropped: memory stays bounded), the address
    index once at the end: an address gathers points from up to three places in the range (the generator's addresses
    repeat every 8,400 points within a block of 25,200), and an address document rewritten once per tranche was most
    of the store's work when seeding 1,000,000 PDS (when the generator's 8,400 addresses held ~120 points each).
    """
    client = make_client(settings.mongodb_url)
    db = client[settings.database_name]
    n = settings.partitions
    index: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    index_perimetres = SupplierIndex(db, PERIMETRES)
    presents = 0
    try:
        for debut in range(start, start + count, TRANCHE):
            pds: dict[int, list[dict[str, Any]]] = defaultdict(list)
            perimetres: dict[str, dict[str, Any]] = defaultdict(dict)
            for p in generate_many(min(TRANCHE, start + count - debut), debut):
                state = document_pds(p, settings.mois_consommations)
                index[state["adresse_cle"]][p.reference] = entree_index(state)
                for fournisseur, entree in entrees_perimetre(state).items():
                    perimetres[fournisseur][p.reference] = entree
                pds[partition_of(p.reference, n)].append({"_id": p.reference, **state, "_v": 1, "_inbox": [], "_outbox": {}, "_pending": False})
            for num, docs in pds.items():
                # An existing PDS is kept as it is: live changes win over the seed.
                presents += len(await _inserer(db[partition_name("pds", num, n)], docs))
            # Perimeter entries are set only where absent: live changes win over the seed.
            for fournisseur, entrees in perimetres.items():
                await index_perimetres.add_missing(fournisseur, entrees)
        adresses: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for cle, entrees in index.items():
            adresses[partition_of(cle, n)].append({"_id": cle, "pds": entrees})
        concurrence = asyncio.Semaphore(4)

        async def indexer(num: int, docs: list[dict[str, Any]]) -> None:
            async with concurrence:
                collection = db[partition_name("adresses", num, n)]
                await _completer_adresses(collection, await _inserer(collection, docs))

        # Partitions concurrently (the store spreads them over its cores), each one's documents in turn.
        await asyncio.gather(*(indexer(num, docs) for num, docs in adresses.items()))
    finally:
        await client.close()
    return {"pds_inseres": count - presents, "adresses": len(index)}


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000, help="How many demo PDS to load.")
    parser.add_argument("--start", type=int, default=1, help="Index of the first demo PDS.")
    args = parser.parse_args()
    debut = time.perf_counter()
    resultat = asyncio.run(seed(Settings(), args.count, args.start))
    print(f"référentiel : {resultat['pds_inseres']} PDS insérés, {resultat['adresses']} adresses indexées en {time.perf_counter() - debut:.1f} s")


if __name__ == "__main__":
    main()
