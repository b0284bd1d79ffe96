"""Single-writer cost of lookups and versioned updates by _id on FerretDB (or MongoDB): p50 / p99 in ms.

Usage: `python infra/ferretdb/bench_update.py [--url mongodb://127.0.0.1:27017/] [--docs 20000] [--ops 2000] [--pid PID]`
(default URL: $MONGODB_URL; `--pid`: the server's process id, to also print its CPU time per operation, a figure that
other load on the machine disturbs much less than latencies). Loads `--docs` documents of ~3 kB into a throw-away database, then times, one at a time,
`--ops` `find_one({_id})` and `--ops` `update_one({_id, _v: v}, {$set: {_v: v+1}, $inc: {n: 1}})` on random documents.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from pymongo import MongoClient


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (0 without a pid)."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(op: Callable[[int], None], ids: list[int], pid: int | None) -> tuple[float, float, float]:
    """Time op(i) for each i, one after the other; (p50 ms, p99 ms, server CPU ms per op)."""
    latencies = []
    cpu = cpu_seconds(pid)
    for i in ids:
        start = time.perf_counter()
        op(i)
        latencies.append(time.perf_counter() - start)
    cpu = cpu_seconds(pid) - cpu
    q = statistics.quantiles(latencies, n=100)
    return q[49] * 1000, q[98] * 1000, cpu * 1000 / len(ids)


def main() -> None:
    """Load the collection, run both measurements, print them, drop the database."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/"))
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--ops", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pid", type=int, default=None, help="the server's pid: print its CPU time per operation")
    args = parser.parse_args()

    client: MongoClient[dict[str, Any]] = MongoClient(args.url)
    name = f"grd_bench_update_{uuid.uuid4().hex[:6]}"
    coll = client[name]["pds"]
    rng = random.Random(args.seed)
    try:
        pad = "x" * 3000
        for start in range(0, args.docs, 1000):
            coll.insert_many([{"_id": f"3{i:013d}", "_v": 1, "n": 0, "pad": pad} for i in range(start, min(start + 1000, args.docs))])
        versions = dict.fromkeys(range(args.docs), 1)

        def find(i: int) -> None:
            assert coll.find_one({"_id": f"3{i:013d}"}) is not None

        def update(i: int) -> None:
            v = versions[i]
            assert coll.update_one({"_id": f"3{i:013d}", "_v": v}, {"$set": {"_v": v + 1}, "$inc": {"n": 1}}).matched_count == 1
            versions[i] = v + 1

        print(f"{args.url}  {args.docs} docs of ~3 kB, {args.ops} ops each, one at a time")
        for label, op in (("find_one({_id})", find), ("update_one({_id, _v}, $set/$inc)", update)):
            p50, p99, cpu = measure(op, [rng.randrange(args.docs) for _ in range(args.ops)], args.pid)
            print(f"{label:34} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms" + (f"   server CPU {cpu:5.2f} ms/op" if args.pid else ""))
    finally:
        client.drop_database(name)
        client.close()


if __name__ == "__main__":
    main()
