"""End-to-end benchmark: N mixed demands over M PDS through the running services, against a raw aiokafka+pymongo relay.

`python -m devtools.bench_e2e --demands 5000 --pds 100000` (needs the local stack: `infra/up.sh`, `source .data/env`).
Prints throughput, end-to-end latency p50/p95/p99 (publish → outcome, publish → last effect = the outcome e-mail
recorded by notifications), CPU seconds and peak RSS per process; then a raw baseline doing the same number of hops
and store writes per demand with bare aiokafka + pymongo, and the ratio ours / raw; then p99 at half the measured
maximum throughput. Nothing here is a test: it prints numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform as pyplatform
import re
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient

from contracts.common import Contact
from contracts.demandes import DemandeDiverseV1, DemandeReclamationV1
from contracts.envelope import new_envelope
from contracts.topics import DEMANDES, DEMANDES_RESULTATS, NOTIFICATIONS
from demo_data.generator import generate_many
from demo_data.reference import FOURNISSEURS
from devtools.processes import ROOT, Platform

#: The hops and store writes a demand makes through our services, as the store profile printed by this benchmark
#: counts them: référentiel (audit entry, demand document, outbox clear), affaires (affaire, outbox clear),
#: notifications for the DemandeAcceptee (e-mail document, outbox clear) and for the affaire's opening (follow-up).
#: The raw relay makes the same hops with the same writes per hop, and none of our reads.
RAW_WRITES = (3, 2, 2, 1)
HOPS = len(RAW_WRITES)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of values, in the values' unit."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass
class Phase:
    """The numbers of one measured phase."""

    demands: int
    seconds: float
    outcome_ms: list[float]
    effect_ms: list[float]

    @property
    def throughput(self) -> float:
        """Demands per second, first publish to last effect."""
        return self.demands / self.seconds if self.seconds else float("nan")

    def line(self, label: str) -> str:
        """One line of the report."""
        o, e = self.outcome_ms, self.effect_ms
        return (
            f"{label:<34} {self.throughput:8.1f} demands/s | outcome p50 {percentile(o, 50):7.1f} p95 {percentile(o, 95):7.1f} "
            f"p99 {percentile(o, 99):7.1f} ms | last effect p50 {percentile(e, 50):7.1f} p95 {percentile(e, 95):7.1f} "
            f"p99 {percentile(e, 99):7.1f} ms ({len(e)}/{self.demands} complete)"
        )


def mixed_demands(count: int, pds_count: int) -> list[tuple[Any, str, str]]:
    """(payload, key, supplier): demandes diverses and réclamations by the holders of PDS spread over the seeded range."""
    step = max(1, pds_count // max(1, count))
    held = [p for p in generate_many(pds_count) if p.titulaire][:: max(1, step // 2)]
    out = []
    today = date.today()
    for i in range(count):
        p = held[i % len(held)]
        if i % 3 == 2:
            payload: Any = DemandeReclamationV1(
                pds=p.reference, sous_type="facturation", nature="contestation", demandeur=Contact(nom="MARTIN", prenom="Léa", telephone="0601020304")
            )
        else:
            payload = DemandeDiverseV1(pds=p.reference, sous_type="information", observations=f"bench {i}", date_souhaitee=today + timedelta(days=5))
        out.append((payload, p.reference, p.titulaire or FOURNISSEURS[0].code))
    return out


async def run_ours(demands: list[tuple[Any, str, str]], rate: float | None, timeout: float) -> Phase:
    """Publish the demands (as fast as possible, or at `rate`/s) and time each to its outcome and its outcome e-mail."""
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    consumer = AIOKafkaConsumer(
        DEMANDES_RESULTATS.name, NOTIFICATIONS.name, bootstrap_servers=bootstrap, auto_offset_reset="latest", group_id=f"bench-{uuid.uuid4().hex[:6]}"
    )
    await consumer.start()
    while not consumer.assignment():
        await asyncio.sleep(0.1)
    for tp in consumer.assignment():
        await consumer.position(tp)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2)
    await producer.start()
    sent: dict[str, float] = {}
    outcome: dict[str, float] = {}
    effect: dict[str, float] = {}

    async def collect() -> None:
        while len(effect) < len(demands):
            batch = await consumer.getmany(timeout_ms=500)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    d = json.loads(r.value)
                    cid = d.get("correlation_id")
                    if cid not in sent:
                        continue
                    if r.topic == DEMANDES_RESULTATS.name:
                        outcome.setdefault(cid, now)
                    elif d["payload"].get("modele") in ("demande_acceptee", "demande_refusee"):
                        effect.setdefault(cid, now)

    collector = asyncio.create_task(collect())
    t0 = time.perf_counter()
    for i, (payload, key, supplier) in enumerate(demands):
        env = new_envelope(payload, key=key, fournisseur=supplier)
        sent[str(env.message_id)] = time.perf_counter()
        await producer.send(DEMANDES.name, env.model_dump_json().encode(), key=key.encode())
        if rate:
            await asyncio.sleep(max(0.0, t0 + (i + 1) / rate - time.perf_counter()))
    await producer.flush()
    try:
        await asyncio.wait_for(collector, timeout)
    except TimeoutError:
        pass
    end = max(effect.values(), default=time.perf_counter())
    await producer.stop()
    await consumer.stop()
    return Phase(
        len(demands),
        end - t0,
        [(outcome[m] - sent[m]) * 1000 for m in outcome],
        [(effect[m] - sent[m]) * 1000 for m in effect],
    )


async def run_raw(count: int, timeout: float) -> Phase:
    """The raw baseline: HOPS stages, each consuming, doing RAW_WRITES[i] single-document writes, producing to the next."""
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    run = uuid.uuid4().hex[:6]
    topics = [f"bench.raw.{run}.{i}" for i in range(HOPS + 1)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(t, 3, 1) for t in topics])
    await admin.close()
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URL"])
    db = mongo[f"bench_raw_{run}"]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2)
    await producer.start()
    done: dict[str, float] = {}
    ready = [asyncio.Event() for _ in range(HOPS)]

    async def stage(i: int) -> None:
        consumer = AIOKafkaConsumer(
            topics[i], bootstrap_servers=bootstrap, group_id=f"raw-{run}-{i}", auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        coll = db[f"stage{i}"]
        for name in [f"stage{i}", *(f"stage{i}_w{w}" for w in range(2, RAW_WRITES[i]))]:
            await db[name].insert_one({"_id": "warm-up"})  # create the collections before the clock starts, as ours are
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        for tp in consumer.assignment():
            await consumer.position(tp)
        ready[i].set()
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for r in records:
                        d = json.loads(r.value)
                        await coll.insert_one({"_id": d["id"], "v": 1, "outbox": [d]})
                        if RAW_WRITES[i] >= 2:
                            await coll.update_one({"_id": d["id"]}, {"$set": {"outbox": []}})
                        for w in range(2, RAW_WRITES[i]):
                            await db[f"stage{i}_w{w}"].insert_one({"_id": d["id"], "w": w})
                        if i + 1 < HOPS:
                            await producer.send_and_wait(topics[i + 1], r.value, key=r.key)
                        else:
                            done[d["id"]] = time.perf_counter()
                        await consumer.commit()
        finally:
            await consumer.stop()

    stages = [asyncio.create_task(stage(i)) for i in range(HOPS)]
    # Same footing as ours (warmed up, partitions assigned): the clock starts once every stage is consuming.
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), 60)
    sent: dict[str, float] = {}
    t0 = time.perf_counter()
    for n in range(count):
        mid = uuid.uuid4().hex
        sent[mid] = time.perf_counter()
        await producer.send(topics[0], json.dumps({"id": mid, "n": n}).encode(), key=str(n % 1000).encode())
    await producer.flush()
    deadline = time.monotonic() + timeout
    while len(done) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    end = max(done.values(), default=time.perf_counter())
    for s in stages:
        s.cancel()
    await asyncio.gather(*stages, return_exceptions=True)
    await producer.stop()
    await mongo.drop_database(f"bench_raw_{run}")
    await mongo.close()
    lat = [(done[m] - sent[m]) * 1000 for m in done]
    return Phase(count, end - t0, lat, lat)


class ProcessMeter:
    """CPU seconds and peak RSS of the platform's processes during a phase."""

    def __init__(self, platform: Platform | None) -> None:
        self.procs = {n: psutil.Process(sp.proc.pid) for n, sp in platform.processes.items() if sp.proc} if platform else {}
        # The shared infrastructure too (from infra/*.sh pid files), to show where the CPU goes, and this process
        # (the raw relay runs in it).
        pids = Path(os.environ.get("GRD_DATA_DIR", ROOT / ".data")) / "pids"
        for name in ("ferretdb", "kafka", "smtp"):
            with contextlib.suppress(OSError, ValueError, psutil.Error):
                self.procs[f"[{name}]"] = psutil.Process(int((pids / f"{name}.pid").read_text().strip()))
        self.procs["[bench]"] = psutil.Process()
        self.cpu0 = {n: sum(p.cpu_times()[:2]) for n, p in self.procs.items()}
        self.peak = {n: 0 for n in self.procs}
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            for n, p in self.procs.items():
                self.peak[n] = max(self.peak[n], p.memory_info().rss)
            await asyncio.sleep(0.25)

    async def stop(self) -> list[str]:
        """Stop sampling; one line per process."""
        self._task.cancel()
        lines = []
        for n, p in self.procs.items():
            cpu = sum(p.cpu_times()[:2]) - self.cpu0[n]
            lines.append(f"  {n:<14} CPU {cpu:7.1f} s   peak RSS {self.peak[n] / 2**20:6.1f} MB")
        return lines


def store_commands(platform: Platform) -> Counter[tuple[str, str, str]]:
    """Every service's store command counters, scraped from its /metrics: (service, command, collection) -> count."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for sp in platform.processes.values():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{sp.port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            continue
        for m in re.finditer(r"^grd_store_commands_total\{([^}]*)\} ([0-9.e+]+)$", text, re.M):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            counts[(sp.name, labels.get("command", "?"), labels.get("collection", "?"))] += int(float(m.group(2)))
    return counts


def store_profile(before: Counter[tuple[str, str, str]], after: Counter[tuple[str, str, str]], demands: int) -> list[str]:
    """Store commands per demand, per service and command, for the lines that matter."""
    diff = after - before
    per_service: Counter[str] = Counter()
    for (svc, _cmd, _coll), n in diff.items():
        per_service[svc] += n
    lines = [f"store commands per demand during the max-rate phase: {sum(diff.values()) / demands:.1f} in all"]
    for svc, total in per_service.most_common():
        detail = ", ".join(f"{cmd} {coll} {n / demands:.2f}" for (s, cmd, coll), n in diff.most_common() if s == svc and n / demands >= 0.05)
        lines.append(f"  {svc:<14} {total / demands:5.1f}  ({detail})")
    return lines


async def bench_raw(demands: int, timeout: float) -> tuple[Phase, list[str]]:
    """The raw relay alone on the machine (our services not started yet), with the infrastructure's CPU."""
    raw_meter = ProcessMeter(None)
    raw = await run_raw(demands, timeout)
    return raw, await raw_meter.stop()


async def bench(platform: Platform, demands: int, pds: int, timeout: float, raw: Phase, raw_per_process: list[str]) -> list[str]:
    """Our phases (the raw one ran before the services started); returns the report lines."""
    work = mixed_demands(demands, pds)
    warm = mixed_demands(50, pds)
    await run_ours(warm, None, 120)
    meter = ProcessMeter(platform)
    commands_before = store_commands(platform)
    ours = await run_ours(work, None, timeout)
    per_process = await meter.stop()
    profile = store_profile(commands_before, store_commands(platform), demands)
    half_rate = ours.throughput / 2
    half = await run_ours(mixed_demands(max(200, demands // 4), pds), half_rate, timeout)
    cpu = psutil.cpu_count()
    mem = psutil.virtual_memory().total / 2**30
    return [
        f"machine: {pyplatform.platform()}, {cpu} CPU, {mem:.0f} GiB; store: FerretDB 1.24 (SQLite); Kafka 3.9.1 single node",
        f"workload: {demands} mixed demands (2/3 demandes diverses, 1/3 réclamations) over {pds} seeded PDS",
        ours.line("ours, max rate"),
        raw.line(f"raw relay ({HOPS} hops, {sum(RAW_WRITES)} writes)"),
        f"ratio ours / raw throughput: {ours.throughput / raw.throughput:.2f}",
        half.line(f"ours at half max ({half_rate:.0f}/s)"),
        f"per process during the max-rate phase ({ours.seconds:.0f} s):",
        *per_process,
        *profile,
        f"per process during the raw relay ({raw.seconds:.0f} s, run first, our services not started; [bench] is the relay):",
        *raw_per_process,
    ]


def drop_databases(run_id: str) -> None:
    """Remove the run's databases (every service's), so runs do not pile up in the store."""

    async def drop() -> None:
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URL"])
        for name in await mongo.list_database_names():
            if name.startswith(f"grd_{run_id}_"):
                await mongo.drop_database(name)
        await mongo.close()

    asyncio.run(drop())


def main() -> None:
    """Command-line entry point: seed, start the services, run the phases, print and save the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demands", type=int, default=5000)
    parser.add_argument("--pds", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--partitions", type=int, default=256, help="collections per partitioned store")
    parser.add_argument("--inbox-partitions", type=int, default=32, help="collections of each service's inbox")
    parser.add_argument("--keep", action="store_true", help="keep the run's databases (dropped by default)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-latest.txt")
    args = parser.parse_args()
    run_id = f"bench{uuid.uuid4().hex[:6]}"
    data = Path(os.environ.get("GRD_DATA_DIR", ROOT / ".data"))
    platform = Platform(run_id, data / "logs" / run_id, port_offset=int(os.environ.get("GRD_TEST_PORT_OFFSET", "0")))
    for sp in platform.processes.values():
        sp.env[f"{sp.name.upper()}_LOG_LEVEL"] = "WARNING"
        # Collections per partitioned store (the services' default is 64; lookups by _id use the index either way).
        sp.env[f"{sp.name.upper()}_PARTITIONS"] = str(args.partitions)
        sp.env[f"{sp.name.upper()}_INBOX_PARTITIONS"] = str(args.inbox_partitions)
    print(f"[bench] seeding {args.pds} PDS into every service and starting them ({run_id})...", flush=True)
    t = time.perf_counter()
    platform.seed(args.pds)
    print(f"[bench] seeded in {time.perf_counter() - t:.0f} s", flush=True)
    print(f"[bench] raw relay baseline: {args.demands} messages x {HOPS} hops, nothing else running...", flush=True)
    raw, raw_per_process = asyncio.run(bench_raw(args.demands, args.timeout))
    platform.start()
    try:
        lines = asyncio.run(bench(platform, args.demands, args.pds, args.timeout, raw, raw_per_process))
    finally:
        platform.stop()
        if not args.keep:
            drop_databases(run_id)
    text = "\n".join(lines)
    print(text)
    args.out.write_text(text + "\n")
    print(f"[bench] written to {args.out}; median of a run is noisy on 2 cores: run it twice.")


if __name__ == "__main__":
    main()
