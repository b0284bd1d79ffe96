"""Benchmark of the slot claim on the real store: reservations/s and p99 latency, with a raw insert baseline.

Usage: `python scripts/bench_planification.py [--reservations 2000] [--concurrence 20]` (MONGODB_URL, default local).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta

from platform_kit.store import make_client
from services.planification.store import Places


async def mesurer(n: int, concurrence: int, op: Callable[[int], Awaitable[object]]) -> tuple[float, float, float]:
    """Run `op(i)` for i < n with `concurrence` workers; (ops/s, p50 ms, p99 ms)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    latences: list[float] = []

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            start = time.perf_counter()
            await op(i)
            latences.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrence)))
    total = time.perf_counter() - start
    q = statistics.quantiles(latences, n=100)
    return n / total, q[49] * 1000, q[98] * 1000


async def main(n: int, concurrence: int, capacite: int) -> None:
    """Run the baseline then the claim benchmark on a throw-away database."""
    client = make_client(os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/"))
    name = f"grd_planification_bench_{uuid.uuid4().hex[:6]}"
    db = client[name]
    try:
        brut = db["brut"]
        await brut.create_index("titulaire", unique=True)
        places = Places(db)
        await places.ensure_indexes()
        jour0 = date(2030, 1, 7)
        slots = [f"Z01-{jour0 + timedelta(days=k):%Y%m%d}-{d}-CR" for k in range(n // (2 * capacite) + 1) for d in ("AM", "PM")]

        async def inserer(i: int) -> None:
            await brut.insert_one({"_id": f"b#{i}", "creneau_id": "x", "n": i, "titulaire": f"A{i}"})

        async def reserver(i: int) -> None:
            # Neighbouring reservations aim at the same slot, so workers really compete for its places.
            await places.reserver(slots[i // capacite], capacite, f"A{i}", f"m{i}")

        base = await mesurer(n, concurrence, inserer)
        claim = await mesurer(n, concurrence, reserver)
        taken = await places.collection.count_documents({})
        print(f"{n} opérations, {concurrence} concurrents, {capacite} places par créneau")
        print(f"insert_one brut (baseline) : {base[0]:8.0f} op/s   p50 {base[1]:6.1f} ms   p99 {base[2]:6.1f} ms")
        print(f"réservation (claim)        : {claim[0]:8.0f} op/s   p50 {claim[1]:6.1f} ms   p99 {claim[2]:6.1f} ms")
        print(f"places prises : {taken} (attendu {n}); surréservation : {'NON' if taken <= len(slots) * capacite else 'OUI'}")
    finally:
        await client.drop_database(name)
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reservations", type=int, default=2000)
    parser.add_argument("--concurrence", type=int, default=20)
    parser.add_argument("--capacite", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.reservations, args.concurrence, args.capacite))
