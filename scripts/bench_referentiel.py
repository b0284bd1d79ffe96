"""Benchmark of the référentiel's read path on 100,000 PDS: search by reference, by address + meter, dossier.

Seeds the bench database if needed, then times requests through the real HTTP app in-process (httpx ASGI transport,
HTTP Basic, audit writes included) and a raw pymongo lookup for comparison. Usage:
`python -m scripts.bench_referentiel [--count 100000] [--requests 500] [--database grd_referentiel_bench] [--partitions 64] [--drop]`
(`--drop` removes the bench database afterwards instead of keeping it for the next run).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import platform
import random
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx

from demo_data.generator import generate, pds_reference
from demo_data.reference import FOURNISSEURS
from platform_kit.store import AggregateStore, make_client
from services.referentiel.app import create_app
from services.referentiel.seed import seed
from services.referentiel.settings import Settings

SECRETS = {f.code: f.secret_demo for f in FOURNISSEURS}
#: PDS seeded per call of the référentiel's seed, which holds the call's address index entries and writes each address
#: document once at its end: ten of the generator's blocks of addresses, so a call rewrites almost none of another's.
TRANCHE = 252_000


def _auth(code: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{code}:{SECRETS[code]}".encode()).decode()}


def _percentiles(durees: list[float]) -> tuple[float, float, float]:
    qs = statistics.quantiles(durees, n=100, method="inclusive")
    return qs[49] * 1000, qs[98] * 1000, max(durees) * 1000


async def _mesurer(nom: str, n: int, appel: Callable[[int], Awaitable[None]]) -> tuple[str, float, float, float]:
    for i in range(min(50, n)):
        await appel(i)
    durees = []
    for i in range(n):
        debut = time.perf_counter()
        await appel(i)
        durees.append(time.perf_counter() - debut)
    p50, p99, pmax = _percentiles(durees)
    print(f"{nom:<42} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   max {pmax:7.2f} ms   ({n} requêtes)")
    return nom, p50, p99, pmax


async def main(count: int, requetes: int, database: str, partitions: int, drop: bool = False, tirage: int = 42) -> None:
    """Seed if needed, then run the scenarios and print p50/p99."""
    # The in-process app takes the published demo accounts (the suppliers' secrets above); a service refuses to start
    # without accounts otherwise.
    if not os.environ.get("GRD_API_ACCOUNTS"):
        os.environ["GRD_DEMO_MODE"] = "1"
    settings = Settings(service_name="referentiel-bench", database=database, partitions=partitions)
    client = make_client(settings.mongodb_url)
    db = client[settings.database_name]
    pds = AggregateStore.partitioned(db, "pds", settings.partitions)
    derniere = pds_reference(count)
    if await pds.collection_for(derniere).find_one({"_id": derniere}, {"_id": 1}) is None:
        debut = time.perf_counter()
        inseres = 0
        # In slices, for the progress lines (and the index entries held in memory: ~0.4 GB per 250,000 PDS).
        for premier in range(1, count + 1, TRANCHE):
            inseres += (await seed(settings, min(TRANCHE, count - premier + 1), premier))["pds_inseres"]
            print(f"seed : {premier + min(TRANCHE, count - premier + 1) - 1}/{count} PDS ({time.perf_counter() - debut:.0f} s)", flush=True)
        print(f"seed : {inseres} PDS en {time.perf_counter() - debut:.1f} s")
    rng = random.Random(tirage)
    points = [generate(rng.randint(1, count)) for _ in range(requetes)]
    app = create_app(settings)
    # The app logs every request at INFO through httpx: thousands of lines that would bury the results.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    print(f"machine : {platform.processor() or platform.machine()}, {os.cpu_count()} cœurs, Python {platform.python_version()}")
    print(f"base : {count} PDS répartis sur {settings.partitions} partitions")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:

        async def par_reference(i: int) -> None:
            p = points[i]
            r = await http.get("/pds/recherche", params={"reference": p.reference}, headers=_auth("LUMEN"))
            assert r.status_code == 200 and r.json()["nombre"] == 1, r.text

        async def par_adresse(i: int) -> None:
            p = points[i]
            adresse = {k: p.adresse[k] for k in ("numero", "voie", "code_postal", "commune")}
            params = {**adresse, "compteur": str(p.compteur["reference"])}
            r = await http.get("/pds/recherche", params=params, headers=_auth("LUMEN"))
            assert r.status_code == 200 and r.json()["nombre"] == 1, r.text

        async def consultation(i: int) -> None:
            p = points[i]
            r = await http.get(f"/pds/{p.reference}/dossier", headers=_auth(p.titulaire or "LUMEN"))
            assert r.status_code == 200, r.text

        async def brut(i: int) -> None:
            ref = points[i].reference
            assert await pds.collection_for(ref).find_one({"_id": ref}) is not None

        await _mesurer("pymongo find_one par _id (référence brute)", requetes, brut)
        await _mesurer("GET /pds/recherche?reference=", requetes, par_reference)
        await _mesurer("GET /pds/recherche adresse + compteur", requetes, par_adresse)
        await _mesurer("GET /pds/{ref}/dossier (toutes les vues)", requetes, consultation)
    await app.state.runtime.mongo.close()
    if drop:
        await client.drop_database(database)
    await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--database", default="grd_referentiel_bench")
    parser.add_argument("--partitions", type=int, default=Settings().partitions, help="Must match the seeded database.")
    parser.add_argument("--drop", action="store_true", help="Drop the bench database at the end.")
    parser.add_argument("--tirage", type=int, default=42, help="Random seed of the points requested (another value: other points).")
    args = parser.parse_args()
    asyncio.run(main(args.count, args.requests, args.database, args.partitions, args.drop, args.tirage))
