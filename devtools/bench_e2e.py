"""End-to-end benchmark: N mixed demands over M PDS through the platform, a competent bare relay and a serial one.

`python -m devtools.bench_e2e --demands 5000 --pds 100000` (needs the local stack: `infra/up.sh`, `source .data/env`).
Seeds the PDS, then runs, one system at a time on an otherwise idle stack: the serial relay (in this process), the
competent relay (devtools/raw_relay.py, one process per stage), the platform (five services + simulator). Each of the
last two gets a warm-up, a max-rate phase (every demand published at once) and a phase at half its measured maximum.

Latency is measured to the TRUE last effect of each demand: every effect the platform produces for a demande diverse
or a réclamation (outcome published, affaire's opening published, e-mail recorded by the SMTP sink, "e-mail sent"
published, affaire follow-up written), observed the same way for the platform and the competent relay. Prints
throughput and ratios, the latency table, store commands per demand, CPU and peak RSS per process (FerretDB, Kafka
and the SMTP sink included) and Python CPU per demand per service. Nothing here is a test: it prints numbers.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import bson
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from contracts.common import Contact
from contracts.demandes import DemandeDiverseV1, DemandeReclamationV1
from contracts.envelope import new_envelope
from contracts.topics import AFFAIRES_EVENEMENTS, DEMANDES, DEMANDES_RESULTATS, NOTIFICATIONS
from demo_data.generator import generate_many
from devtools import raw_relay
from devtools.processes import ROOT, Platform
from platform_kit.clock import aujourdhui_reel
from platform_kit.kafka_client import kafka_options
from platform_kit.reference import reference
from platform_kit.store import partition_name, partition_of
from services.notifications.domain import message_id_mail

#: The serial relay's stages and single-document writes per stage (the session-2 baseline, kept for comparison).
SERIAL_WRITES = (3, 2, 2, 1)
HOPS = len(SERIAL_WRITES)
#: The effects of an accepted demande diverse or réclamation (services/affaires creer_*, services/notifications decider):
#: the outcome and the affaire's opening (published together by affaires, after the affaire is written), the e-mail
#: acknowledging the demand recorded by the SMTP sink, its "e-mail sent" event, the affaire's follow-up written by
#: notifications. A non-express affaire's opening causes no e-mail. A refused demand has no affaire.
EFFETS_ACCEPTEE = ("outcome", "opening", "mail", "sent", "followup")
EFFETS_REFUSEE = ("outcome", "mail", "sent")
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]+")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of values, in the values' unit."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def sink_name(message_id: str) -> str:
    """The Message-ID as the SMTP sink writes it in its file names (infra/smtp_sink.py sanitize_message_id)."""
    return _UNSAFE.sub("_", message_id.strip().strip("<>")).strip("._")[:100] or "no-message-id"


#: Follow-up probes: reads in flight at once, and the longest pause between two probes of one demand.
PROBES_IN_FLIGHT = 8
PROBE_MAX_PAUSE_S = 1.0


@dataclass
class Phase:
    """The numbers of one measured phase (times in seconds since the epoch, latencies in ms)."""

    demands: int
    seconds: float
    outcome_ms: list[float]
    effect_ms: list[float]
    last: Counter[str] = field(default_factory=Counter)
    probes: int = 0
    rate: float | None = None
    missing: Counter[str] = field(default_factory=Counter)
    #: Publish → each effect (ms), over the demands that had it: where the time to the last effect goes.
    per_effect: dict[str, list[float]] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        """Demands per second, first publish to the last effect of the last demand."""
        return self.demands / self.seconds if self.seconds else float("nan")

    @property
    def complete(self) -> int:
        """Demands whose every effect was observed."""
        return len(self.effect_ms)


@dataclass(frozen=True)
class System:
    """Where a system takes demands and where its effects show."""

    name: str
    demand_topic: str
    outcome_topic: str
    opening_topic: str
    sent_topic: str
    mail_id: Callable[[dict[str, Any]], str]
    followups: Callable[[AsyncMongoClient[dict[str, Any]], str], AsyncCollection[dict[str, Any]]]


class Observer:
    """Watches one system's effects: its topics (from the latest offsets), the SMTP sink's folder, its follow-ups."""

    def __init__(self, system: System, mongo: AsyncMongoClient[dict[str, Any]], mail_dir: Path) -> None:
        self.system = system
        self.mongo = mongo
        self.mail_dir = mail_dir
        self.sent: dict[str, float] = {}
        self.times: dict[str, dict[str, float]] = {}
        self.expected: dict[str, tuple[str, ...]] = {}
        self.mail_wanted: dict[str, str] = {}
        self.mail_seen: dict[str, float] = {}
        self.refs: dict[str, str | None] = {}
        self.probes = 0
        self.probing = asyncio.Semaphore(PROBES_IN_FLIGHT)
        self.tasks: set[asyncio.Task[None]] = set()
        self.consumer = AIOKafkaConsumer(
            system.outcome_topic,
            system.opening_topic,
            system.sent_topic,
            bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
            group_id=f"bench-watch-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="latest",
            **kafka_options(),
        )

    async def start(self) -> None:
        """Join, take the current end of every partition as start, note the mails already in the sink."""
        await self.consumer.start()
        while not self.consumer.assignment():
            await asyncio.sleep(0.05)
        for tp in self.consumer.assignment():
            await self.consumer.position(tp)
        self.known = set(await asyncio.to_thread(os.listdir, self.mail_dir))
        self._spawn(self._consume())
        self._spawn(self._scan_mails())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        """Stop watching."""
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.consumer.stop()

    def _effect(self, demand: str, name: str, at: float) -> None:
        if demand in self.times:
            self.times[demand].setdefault(name, at)

    async def _consume(self) -> None:
        s = self.system
        while True:
            batch = await self.consumer.getmany(timeout_ms=200)
            now = time.time()
            for records in batch.values():
                for r in records:
                    env = json.loads(r.value)
                    demand = str(env.get("correlation_id"))
                    if demand not in self.times:
                        continue
                    if r.topic == s.outcome_topic:
                        accepted = env["type"] == "DemandeAcceptee"
                        self.expected[demand] = EFFETS_ACCEPTEE if accepted else EFFETS_REFUSEE
                        self._effect(demand, "outcome", now)
                        self.refs[demand] = env["payload"].get("reference_affaire")
                        self._probe_when_ready(demand)
                        name = sink_name(s.mail_id(env))
                        if name in self.mail_seen:
                            self._effect(demand, "mail", self.mail_seen.pop(name))
                        else:
                            self.mail_wanted[name] = demand
                    elif r.topic == s.opening_topic:
                        self._effect(demand, "opening", now)
                    elif r.topic == s.sent_topic and env["payload"].get("modele") in ("demande_acceptee", "demande_refusee"):
                        self._effect(demand, "sent", now)
                        self._probe_when_ready(demand)

    def _probe_when_ready(self, demand: str) -> None:
        """Start probing the follow-up once both the affaire's reference (from the outcome) and the e-mail-sent event
        are in: topics are fetched independently, so either may be read first; whichever comes second starts it."""
        ref = self.refs.get(demand)
        if ref and "sent" in self.times[demand]:
            self._spawn(self._probe(demand, ref))

    async def _probe(self, demand: str, ref: str) -> None:
        # The follow-up document's write time is not recorded anywhere: it is probed by _id once the e-mail is
        # out (both are handled by notifications for the same affaire), again with backoff until it is there; the
        # time taken is the probe's answer, an upper bound (by at most the last pause, ≤ PROBE_MAX_PAUSE_S).
        # At most PROBES_IN_FLIGHT reads at once, and pauses up to 1 s: with a backlog of thousands of demands, probes
        # every 100 ms each put tens of thousands of reads per second on the store the measured system writes to,
        # slowing the slower system most (session 6: 57.6 probes per demand for the platform, 7.9 for the relay).
        delay = 0.005
        collection = self.system.followups(self.mongo, ref)
        while True:
            self.probes += 1
            async with self.probing:
                found = await collection.find_one({"_id": ref}, {"_id": 1}) is not None
            if found:
                self._effect(demand, "followup", time.time())
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, PROBE_MAX_PAUSE_S)

    async def _scan_mails(self) -> None:
        # The sink renames each mail into place once fsynced, before it answers 250: the file's ctime is when the
        # e-mail was recorded, whenever this scan sees it.
        while True:
            await asyncio.to_thread(self._scan_once)
            await asyncio.sleep(0.2)

    def _scan_once(self) -> None:
        for entry in os.scandir(self.mail_dir):
            name = entry.name
            if name in self.known or not name.endswith(".eml"):
                continue
            self.known.add(name)
            parts = name[:-4].split("-", 2)
            if len(parts) != 3:
                continue
            at = entry.stat().st_ctime
            demand = self.mail_wanted.pop(parts[2], None)
            if demand is None:
                self.mail_seen[parts[2]] = at
            else:
                self._effect(demand, "mail", at)

    def watch(self, demand: str, at: float) -> None:
        """Start tracking a demand published at `at`."""
        self.sent[demand] = at
        self.times[demand] = {}

    def done(self, demand: str) -> bool:
        """True when every effect of the demand was observed."""
        expected = self.expected.get(demand)
        return expected is not None and all(e in self.times[demand] for e in expected)

    async def wait(self, demands: list[str], timeout: float) -> None:
        """Wait until every demand is done, or the timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(self.done(d) for d in demands):
            await asyncio.sleep(0.1)

    def phase(self, demands: list[str], t0: float, rate: float | None) -> Phase:
        """The phase's numbers from what was observed."""
        outcome, effect, last = [], [], Counter[str]()
        ends = []
        per_effect: dict[str, list[float]] = {}
        for d in demands:
            times = self.times[d]
            for name, at in times.items():
                per_effect.setdefault(name, []).append((at - self.sent[d]) * 1000)
            if "outcome" in times:
                outcome.append((times["outcome"] - self.sent[d]) * 1000)
            if self.done(d):
                name, end = max(((e, times[e]) for e in self.expected[d]), key=lambda kv: kv[1])
                last[name] += 1
                ends.append(end)
                effect.append((end - self.sent[d]) * 1000)
        seconds = (max(ends) - t0) if len(ends) == len(demands) else float("nan")
        missing = Counter(e for d in demands if not self.done(d) for e in self.expected.get(d, EFFETS_ACCEPTEE) if e not in self.times[d])
        return Phase(len(demands), seconds, outcome, effect, last, self.probes, rate, missing, per_effect)


def mixed_demands(count: int, pds_count: int) -> list[tuple[Any, str, str]]:
    """(payload, key, supplier): demandes diverses and réclamations by the holders of PDS spread over the seeded range."""
    step = max(1, pds_count // max(1, count))
    held = [p for p in generate_many(pds_count) if p.titulaire][:: max(1, step // 2)]
    out = []
    today = aujourdhui_reel()
    for i in range(count):
        p = held[i % len(held)]
        if i % 3 == 2:
            payload: Any = DemandeReclamationV1(
                pds=p.reference, sous_type="facturation", nature="contestation", demandeur=Contact(nom="MARTIN", prenom="Léa", telephone="0601020304")
            )
        else:
            payload = DemandeDiverseV1(pds=p.reference, sous_type="information", observations=f"bench {i}", date_souhaitee=today + timedelta(days=5))
        out.append((payload, p.reference, p.titulaire or reference().fournisseurs[0].code))
    return out


async def run_phase(system: System, demands: list[tuple[Any, str, str]], rate: float | None, timeout: float) -> Phase:
    """Publish the demands (at once, or at `rate`/s) to the system and time each to its outcome and its last effect."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URL"])
    observer = Observer(system, mongo, Path(os.environ["SMTP_SINK_DIR"]))
    await observer.start()
    producer = AIOKafkaProducer(
        bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"], acks="all", enable_idempotence=True, linger_ms=1, **kafka_options()
    )
    await producer.start()
    ids = []
    t0 = time.time()
    for i, (payload, key, supplier) in enumerate(demands):
        env = new_envelope(payload, key=key, fournisseur=supplier)
        ids.append(str(env.message_id))
        observer.watch(ids[-1], time.time())
        await producer.send(system.demand_topic, env.model_dump_json().encode(), key=key.encode())
        if rate:
            await asyncio.sleep(max(0.0, t0 + (i + 1) / rate - time.time()))
    await producer.flush()
    await observer.wait(ids, timeout)
    await producer.stop()
    await observer.stop()
    await mongo.close()
    return observer.phase(ids, t0, rate)


async def run_serial(count: int, timeout: float) -> Phase:
    """The serial relay: HOPS stages in this process, each record alone (send_and_wait, commit per record)."""
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    run = uuid.uuid4().hex[:6]
    topics = [f"bench.raw.{run}.{i}" for i in range(HOPS + 1)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_options())
    await admin.start()
    await admin.create_topics([NewTopic(t, 3, 1) for t in topics])
    await admin.close()
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URL"])
    db = mongo[f"bench_raw_{run}"]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2, **kafka_options())
    await producer.start()
    done: dict[str, float] = {}
    ready = [asyncio.Event() for _ in range(HOPS)]

    async def stage(i: int) -> None:
        consumer = AIOKafkaConsumer(
            topics[i],
            bootstrap_servers=bootstrap,
            group_id=f"raw-{run}-{i}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            **kafka_options(),
        )
        await consumer.start()
        coll = db[f"stage{i}"]
        for name in [f"stage{i}", *(f"stage{i}_w{w}" for w in range(2, SERIAL_WRITES[i]))]:
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
                        if SERIAL_WRITES[i] >= 2:
                            await coll.update_one({"_id": d["id"]}, {"$set": {"outbox": []}})
                        for w in range(2, SERIAL_WRITES[i]):
                            await db[f"stage{i}_w{w}"].insert_one({"_id": d["id"], "w": w})
                        if i + 1 < HOPS:
                            await producer.send_and_wait(topics[i + 1], r.value, key=r.key)
                        else:
                            done[d["id"]] = time.perf_counter()
                        await consumer.commit()
        finally:
            await consumer.stop()

    stages = [asyncio.create_task(stage(i)) for i in range(HOPS)]
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
    return Phase(count, end - t0, lat, lat, Counter({"stage 4 written": len(done)}))


Usage = dict[str, tuple[float, float]]


class ProcessMeter:
    """CPU seconds and peak RSS of named processes during a phase, plus the infrastructure's and this process's."""

    def __init__(self, procs: dict[str, psutil.Process]) -> None:
        self.procs = dict(procs)
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
                with contextlib.suppress(psutil.Error):
                    self.peak[n] = max(self.peak[n], p.memory_info().rss)
            await asyncio.sleep(0.25)

    async def stop(self) -> Usage:
        """Stop sampling; (CPU seconds, peak RSS MB) per process."""
        self._task.cancel()
        out: Usage = {}
        for n, p in self.procs.items():
            with contextlib.suppress(psutil.Error):
                out[n] = (sum(p.cpu_times()[:2]) - self.cpu0[n], self.peak[n] / 2**20)
        return out


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


@dataclass
class Measured:
    """What one system's run gave: phases, process usage during the max-rate phase, store commands, document sizes."""

    maximum: Phase
    half: Phase | None = None
    usage: Usage = field(default_factory=dict)
    commands: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    sizes: dict[str, float] = field(default_factory=dict)


async def document_sizes(db_name: str, bases: list[str], sample: int = 50) -> dict[str, float]:
    """Mean BSON size (bytes) of up to `sample` documents per collection family (partitions folded), outbox cleared."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URL"])
    db = mongo[db_name]
    names = await db.list_collection_names()
    out: dict[str, float] = {}
    for base in bases:
        sizes: list[int] = []
        for name in sorted(n for n in names if n == base or re.fullmatch(rf"{base}_\d+", n)):
            sizes += [len(bson.encode(doc)) async for doc in db[name].find({"_id": {"$ne": "warm-up"}}).limit(sample - len(sizes))]
            if len(sizes) >= sample:
                break
        if sizes:
            out[base] = sum(sizes) / len(sizes)
    await mongo.close()
    return out


def relay_system(run: str) -> System:
    """The competent relay's topics and follow-up collection."""
    t = {s: raw_relay.topic(run, s) for s in raw_relay.TOPICS}
    system = System(
        "competent relay",
        t["demandes"],
        t["resultats"],
        t["affaires"],
        t["notifications"],
        lambda env: raw_relay.mail_message_id(env["message_id"]),
        lambda mongo, ref: mongo[raw_relay.database(run)]["suivis"],
    )
    return system


def platform_system(run_id: str, partitions: int) -> System:
    """The platform's topics and notifications' follow-up collections."""

    def mail_id(env: dict[str, Any]) -> str:
        return message_id_mail(env["message_id"], "demande_acceptee" if env["type"] == "DemandeAcceptee" else "demande_refusee")

    def followups(mongo: AsyncMongoClient[dict[str, Any]], ref: str) -> AsyncCollection[dict[str, Any]]:
        return mongo[f"grd_{run_id}_notifications"][partition_name("suivi_affaires", partition_of(ref, partitions), partitions)]

    return System("platform", DEMANDES.name, DEMANDES_RESULTATS.name, AFFAIRES_EVENEMENTS.name, NOTIFICATIONS.name, mail_id, followups)


async def measure(
    system: System,
    named: dict[str, psutil.Process],
    args: argparse.Namespace,
    pds: int,
    before: Callable[[], Counter[tuple[str, str, str]]] | None = None,
) -> Measured:
    """Warm-up, max-rate phase (metered), half-rate phase."""
    warm = await run_phase(system, mixed_demands(50, pds), None, args.timeout)
    if warm.complete < warm.demands:
        raise RuntimeError(f"{system.name}: warm-up incomplete ({warm.complete}/{warm.demands}; effects missing: {dict(warm.missing)}), see the logs")
    commands0 = before() if before else Counter()
    meter = ProcessMeter(named)
    maximum = await run_phase(system, mixed_demands(args.demands, pds), None, args.timeout)
    usage = await meter.stop()
    commands = (before() - commands0) if before else Counter()
    half_rate = maximum.throughput / 2
    half = await run_phase(system, mixed_demands(max(200, args.demands // 4), pds), half_rate, args.timeout) if args.half else None
    return Measured(maximum, half, usage, commands)


def bench_competent(args: argparse.Namespace, run_id: str, log_dir: Path) -> Measured:
    """Start the relay's three processes, measure, stop them (their store command counts come back in files)."""
    run = uuid.uuid4().hex[:6]
    system = relay_system(run)
    asyncio.run(raw_relay.create_topics(run))
    procs = raw_relay.start_stages(run, f"grd_{run_id}_referentiel", args.partitions, log_dir)
    try:
        named = {f"relay {s}": psutil.Process(p.pid) for s, p in procs.items()}
        measured = asyncio.run(measure(system, named, args, args.pds))
    finally:
        counts = raw_relay.stop_stages(procs, log_dir)
    # The stages count from their start (warm-up and half-rate phase included): scaled to the max-rate phase's demands.
    total = 50 + args.demands + (max(200, args.demands // 4) if args.half else 0)
    measured.commands = Counter({k: round(v * args.demands / total) for k, v in counts.items()})
    sizes = asyncio.run(document_sizes(raw_relay.database(run), ["audit", "qualifications", "affaires", "mails", "suivis"]))
    measured.sizes = {f"relay {base}": size for base, size in sizes.items()}

    async def cleanup() -> None:
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URL"])
        await mongo.drop_database(raw_relay.database(run))
        await mongo.close()
        await raw_relay.create_topics(run, create=False)

    asyncio.run(cleanup())
    return measured


def start_platform(platform: Platform, timeout: float) -> None:
    """Start every process, then wait for each to be healthy (a loaded machine needs more than Platform.start's 90 s)."""
    for sp in platform.processes.values():
        sp.start()
    for sp in platform.processes.values():
        sp.wait_healthy(timeout)


def bench_platform(args: argparse.Namespace, run_id: str, platform: Platform) -> Measured:
    """Start the platform, measure, keep it running (the caller stops it)."""
    start_platform(platform, args.start_timeout)
    named = {n: psutil.Process(sp.proc.pid) for n, sp in platform.processes.items() if sp.proc}
    measured = asyncio.run(measure(platform_system(run_id, args.partitions), named, args, args.pds, lambda: store_commands(platform)))
    # The collections the demands wrote (from the store profile) and the PDS they read, wherever they live now.
    families: dict[str, set[str]] = {"referentiel": {"pds"}}
    for (service, command, collection), count in measured.commands.items():
        if command in ("insert", "update") and count >= args.demands:
            families.setdefault(service, set()).add(collection)
    for service, bases in families.items():
        sizes = asyncio.run(document_sizes(f"grd_{run_id}_{service}", sorted(bases)))
        measured.sizes |= {f"{service} {base}": size for base, size in sizes.items()}
    return measured


def report(args: argparse.Namespace, serial: Phase, serial_usage: Usage, relay: Measured, ours: Measured, console: Console) -> None:
    """Print the tables."""
    cpu, mem = psutil.cpu_count(), psutil.virtual_memory().total / 2**30
    console.print(f"machine: {pyplatform.platform()}, {cpu} CPU, {mem:.0f} GiB; store: FerretDB 1.24 (SQLite, patched); Kafka 3.9.1 single node")
    console.print(f"workload: {args.demands} mixed demands (2/3 demandes diverses, 1/3 réclamations) over {args.pds} seeded PDS")
    n: int = args.demands

    def ms(usage: Usage, names: list[str]) -> float:
        return sum(usage[k][0] for k in names if k in usage) * 1000 / n

    ours_py = [k for k in ours.usage if not k.startswith("[")]
    relay_py = [k for k in relay.usage if k.startswith("relay ")]
    t = Table(title="Throughput (max-rate phase, to the last effect of the last demand)")
    for col in ("system", "demands/s", "platform / system", "store commands / demand", "Python CPU ms / demand", "FerretDB CPU ms / demand"):
        t.add_column(col, justify="right" if col != "system" else "left")
    rows = (
        ("platform (every process)", ours.maximum, sum(ours.commands.values()) / n, ms(ours.usage, ours_py), ms(ours.usage, ["[ferretdb]"])),
        (
            "competent relay (3 processes)",
            relay.maximum,
            sum(relay.commands.values()) / n,
            ms(relay.usage, relay_py),
            ms(relay.usage, ["[ferretdb]"]),
        ),
        ("serial relay (1 process)", serial, float(sum(SERIAL_WRITES)), ms(serial_usage, ["[bench]"]), ms(serial_usage, ["[ferretdb]"])),
    )
    for label, phase, commands, py, fdb in rows:
        ratio = ours.maximum.throughput / phase.throughput
        t.add_row(label, f"{phase.throughput:.1f}", f"{ratio:.2f}", f"{commands:.1f}", f"{py:.1f}", f"{fdb:.1f}")
    console.print(t)

    t = Table(title="Latency, publish → outcome and publish → true last effect (ms)")
    for col in ("system, phase", "rate/s", "complete", "outcome p50", "p95", "p99", "last effect p50", "p95", "p99", "last effect is", "probes"):
        t.add_column(col, justify="left" if col in ("system, phase", "last effect is") else "right")
    phases = [("platform, max", ours.maximum), ("platform, half", ours.half), ("competent relay, max", relay.maximum)]
    phases += [("competent relay, half", relay.half), ("serial relay, max", serial)]
    for label, ph in phases:
        if ph is None:
            continue
        o, e = ph.outcome_ms, ph.effect_ms
        rate = f"{ph.rate:.1f}" if ph.rate else "all at once"
        lasts = ", ".join(f"{k} {v * 100 / max(1, ph.complete):.0f}%" for k, v in ph.last.most_common(3))
        cells = [f"{percentile(o, q):.1f}" for q in (50, 95, 99)] + [f"{percentile(e, q):.1f}" for q in (50, 95, 99)]
        t.add_row(label, rate, f"{ph.complete}/{ph.demands}", *cells, lasts, f"{ph.probes / max(1, ph.demands):.2f}")
    console.print(t)

    t = Table(title="Half load: publish → each effect, p50 / p99 (ms); the follow-up is probed, an upper bound")
    t.add_column("system", justify="left")
    for name in EFFETS_ACCEPTEE:
        t.add_column(name, justify="right")
    for label, ph in (("platform", ours.half), ("competent relay", relay.half)):
        if ph is not None:
            cells = [f"{percentile(v, 50):.0f} / {percentile(v, 99):.0f}" if (v := ph.per_effect.get(e)) else "-" for e in EFFETS_ACCEPTEE]
            t.add_row(label, *cells)
    console.print(t)

    t = Table(title="Per process during the max-rate phase (CPU seconds, ms of CPU per demand, peak RSS)")
    for col in ("system", "process", "CPU s", "CPU ms / demand", "peak RSS MB"):
        t.add_column(col, justify="left" if col in ("system", "process") else "right")
    for label, usage, phase in (
        ("platform", ours.usage, ours.maximum),
        ("competent relay", relay.usage, relay.maximum),
        ("serial relay", serial_usage, serial),
    ):
        for name, (cpu_s, rss) in usage.items():
            t.add_row(label, escape(name), f"{cpu_s:.1f}", f"{cpu_s * 1000 / phase.demands:.2f}", f"{rss:.1f}")
        t.add_row(label, "phase wall time", f"{phase.seconds:.1f}", "", "", end_section=True)
    console.print(t)

    t = Table(title="Store commands per demand (max-rate phase for the platform; every phase for the relay, per demand sent)")
    for col in ("process", "command", "collection", "per demand"):
        t.add_column(col, justify="right" if col == "per demand" else "left")
    for (svc, command, collection), count in sorted((ours.commands + relay.commands).items()):
        if count / n >= 0.05:
            t.add_row(escape(svc), command, collection, f"{count / n:.2f}")
    console.print(t)

    t = Table(title="Mean document size of what each system writes per demand (and the PDS read), bytes; sampled after the run")
    t.add_column("database / collection")
    t.add_column("bytes", justify="right")
    for name, size in [*ours.sizes.items(), *relay.sizes.items()]:
        t.add_row(name, f"{size:.0f}")
    console.print(t)


def progress(label: str, phase: Phase | None) -> None:
    """One line as soon as a phase is measured (the tables come at the end)."""
    if phase is not None:
        e = phase.effect_ms
        print(
            f"[bench] {label}: {phase.throughput:.1f} demands/s, {phase.complete}/{phase.demands} complete, last effect "
            f"p50/p95/p99 {percentile(e, 50):.0f}/{percentile(e, 95):.0f}/{percentile(e, 99):.0f} ms"
            + (f"; effects missing: {dict(phase.missing)}" if phase.missing else ""),
            flush=True,
        )


def drop_databases(run_id: str) -> None:
    """Remove the run's databases (every service's), so runs do not pile up in the store."""

    async def drop() -> None:
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URL"])
        for name in await mongo.list_database_names():
            if name.startswith(f"grd_{run_id}_"):
                await mongo.drop_database(name)
        await mongo.close()

    asyncio.run(drop())


async def bench_serial(demands: int, timeout: float) -> tuple[Phase, Usage]:
    """The serial relay alone on the machine, with the infrastructure's CPU."""
    meter = ProcessMeter({})
    phase = await run_serial(demands, timeout)
    return phase, await meter.stop()


def main() -> None:
    """Command-line entry point: seed, run the three systems one after the other, print and save the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demands", type=int, default=5000)
    parser.add_argument("--pds", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--partitions", type=int, default=64, help="collections per partitioned store (the services' default)")
    parser.add_argument("--inbox-partitions", type=int, default=32, help="collections of each service's inbox")
    parser.add_argument("--start-timeout", type=float, default=300, help="seconds each service may take to be healthy")
    parser.add_argument("--no-half", dest="half", action="store_false", help="skip the half-rate phases")
    parser.add_argument("--keep", action="store_true", help="keep the run's databases (dropped by default)")
    parser.add_argument("--seed-only", action="store_true", help="seed, keep the databases, print the run id for --reuse, stop")
    parser.add_argument("--reuse", metavar="RUN_ID", help="reuse (and keep) the databases of a --seed-only or --keep run (same --pds, --partitions)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-latest.txt")
    args = parser.parse_args()
    run_id = args.reuse or f"bench{uuid.uuid4().hex[:6]}"
    data = Path(os.environ.get("GRD_DATA_DIR", ROOT / ".data"))
    log_dir = data / "logs" / run_id
    platform = Platform(run_id, log_dir, port_offset=int(os.environ.get("GRD_TEST_PORT_OFFSET", "0")))
    for sp in platform.processes.values():
        sp.env[f"{sp.name.upper()}_LOG_LEVEL"] = "WARNING"
        # Collections per partitioned store (the services' default is 64; lookups by _id use the index either way).
        sp.env[f"{sp.name.upper()}_PARTITIONS"] = str(args.partitions)
        sp.env[f"{sp.name.upper()}_INBOX_PARTITIONS"] = str(args.inbox_partitions)
    if not args.reuse:
        print(f"[bench] seeding {args.pds} PDS into every service ({run_id})...", flush=True)
        t = time.perf_counter()
        platform.seed(args.pds)
        print(f"[bench] seeded in {time.perf_counter() - t:.0f} s", flush=True)
        if args.seed_only:
            print(f"[bench] kept: run the benchmark with --reuse {run_id} --pds {args.pds} --partitions {args.partitions}", flush=True)
            return
    try:
        print(f"[bench] serial relay: {args.demands} messages x {HOPS} stages in one process, nothing else running...", flush=True)
        serial, serial_usage = asyncio.run(bench_serial(args.demands, args.timeout))
        progress("serial relay, max rate", serial)
        print("[bench] competent relay: 3 processes, warm-up, max rate, half rate...", flush=True)
        relay = bench_competent(args, run_id, log_dir)
        progress("competent relay, max rate", relay.maximum)
        progress("competent relay, half rate", relay.half)
        print("[bench] platform: starting the services, warm-up, max rate, half rate...", flush=True)
        try:
            ours = bench_platform(args, run_id, platform)
            progress("platform, max rate", ours.maximum)
            progress("platform, half rate", ours.half)
        finally:
            platform.stop()
    finally:
        if not args.keep and not args.reuse:  # a reused run's databases stay for the next run
            drop_databases(run_id)
    console = Console(record=True, width=200)
    report(args, serial, serial_usage, relay, ours, console)
    args.out.write_text(console.export_text())
    print(f"[bench] written to {args.out}; a run is noisy on 2 cores: run it twice.")


if __name__ == "__main__":
    main()
