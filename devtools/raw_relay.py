"""A competent bare relay for the end-to-end benchmark: the platform's hops, reads and writes in bare aiokafka + PyMongo.

One OS process per stage, as ours has one per service: `python -m devtools.raw_relay <stage> --run R --pds-db D`
(the benchmark starts them; `--stage` is referentiel, affaires or notifications). What a demande diverse or a
réclamation costs in the platform, done by hand:

* referentiel: read the PDS (the référentiel's own seeded documents), check the acting supplier holds it, write an
  audit entry, write the demand's qualification document carrying the qualified message (its "outbox"), publish it,
  clear the outbox;
* affaires: write the affaire carrying the outcome and the affaire's opening, publish both, clear the outbox;
* notifications: for the outcome, send the e-mail over SMTP (one connection per partition task), write the e-mail
  document carrying the "e-mail sent" event, publish it, clear the outbox; for the opening, write the affaire's
  follow-up document.

Competent means what our runtime does for the same guarantees: one task per partition (partitions concurrently,
each in offset order), an idempotent acks=all producer with linger_ms=0 (as the platform) whose acknowledgement is awaited before the
outbox is cleared, offsets committed explicitly for handled records only, in batches (50 records or 0.5 s).
Idempotence comes from unique `_id`s (a redelivered record hits a duplicate key and republishes what its document
still holds), so the platform's idempotence reads (refusal check, "e-mail already sent?", follow-up read) are not
made: the relay does 1 read and 8 writes per demand where the platform does 4 and 8.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiosmtplib
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from platform_kit.kafka_client import kafka_options
from platform_kit.reference import reference

STAGES = ("referentiel", "affaires", "notifications")
#: Topic suffixes of one relay run (bench.relay.<run>.<suffix>), 3 partitions each like the platform's.
TOPICS = ("demandes", "qualifiees", "resultats", "affaires", "notifications")
PARTITIONS = 3
COMMIT_EVERY = 50
COMMIT_INTERVAL_S = 0.5
LANE_BUFFER = 64  # the platform's default lane buffer (platform_kit.settings): a full lane pauses its partition, as there
EXPEDITEUR = "acheminement@grd.local"

Document = dict[str, Any]
Handler = Callable[[ConsumerRecord], Awaitable[None]]
log = logging.getLogger(__name__)


def topic(run: str, suffix: str) -> str:
    """The relay topic `suffix` of run `run`."""
    return f"bench.relay.{run}.{suffix}"


def database(run: str) -> str:
    """The relay's own database for run `run`."""
    return f"bench_relay_{run}"


def mail_message_id(outcome_id: str) -> str:
    """The Message-ID of the e-mail answering outcome `outcome_id` (the benchmark finds it in the SMTP sink by it)."""
    return f"<relay-{outcome_id}@bench.grd.local>"


def now_iso() -> str:
    """The current UTC time as ISO text."""
    return datetime.now(UTC).isoformat()


def envelope(type_: str, correlation_id: str, key: str, supplier: str | None, payload: Document) -> Document:
    """A message shaped like the platform's envelope (same fields, so comparable sizes)."""
    mid = str(uuid.uuid4())
    return {
        "message_id": mid,
        "type": type_,
        "version": 1,
        "occurred_at": now_iso(),
        "correlation_id": correlation_id,
        "causation_id": correlation_id,
        "fournisseur": supplier,
        "key": key,
        "payload": payload,
    }


class Lanes:
    """One consumer; one task per partition handling its records in order; batched explicit offset commits."""

    def __init__(self, consumer: AIOKafkaConsumer, handlers: dict[str, Handler]) -> None:
        self.consumer = consumer
        self.handlers = handlers
        self.queues: dict[TopicPartition, asyncio.Queue[ConsumerRecord]] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.pending: dict[TopicPartition, int] = {}
        self.paused: set[TopicPartition] = set()
        self.since_commit = 0
        self.last_commit = time.monotonic()
        self.lock = asyncio.Lock()

    async def run(self) -> None:
        """Fetch and dispatch forever; a timer commits what a quiet tail leaves pending."""
        self.tasks.append(asyncio.create_task(self._timer()))
        while True:
            batch = await self.consumer.getmany(timeout_ms=200, max_records=500)
            for tp, records in batch.items():
                queue = self.queues.get(tp)
                if queue is None:
                    queue = self.queues[tp] = asyncio.Queue()
                    self.tasks.append(asyncio.create_task(self._lane(tp, queue)))
                for record in records:
                    queue.put_nowait(record)
                if queue.qsize() >= LANE_BUFFER and tp not in self.paused:
                    # A full lane pauses its partition's fetching (resumed at half), so the loop never waits on it.
                    self.consumer.pause(tp)
                    self.paused.add(tp)

    async def _lane(self, tp: TopicPartition, queue: asyncio.Queue[ConsumerRecord]) -> None:
        handler = self.handlers[tp.topic]
        while True:
            record = await queue.get()
            if tp in self.paused and queue.qsize() <= LANE_BUFFER // 2:
                self.paused.discard(tp)
                self.consumer.resume(tp)
            while True:
                try:
                    await handler(record)
                    break
                except Exception:
                    # Store, broker or SMTP hiccup: the record is retried in place, so the partition's order holds.
                    log.warning("relay handler failed on %s:%s; retrying", record.topic, record.offset, exc_info=True)
                    await asyncio.sleep(0.5)
            self.pending[tp] = record.offset + 1
            self.since_commit += 1
            if self.since_commit >= COMMIT_EVERY or time.monotonic() - self.last_commit >= COMMIT_INTERVAL_S:
                await self.commit()

    async def _timer(self) -> None:
        while True:
            await asyncio.sleep(COMMIT_INTERVAL_S)
            if self.pending and time.monotonic() - self.last_commit >= COMMIT_INTERVAL_S:
                await self.commit()

    async def commit(self) -> None:
        """Commit the next offsets of the records handled since the last commit (never the fetch position)."""
        async with self.lock:
            self.since_commit = 0
            self.last_commit = time.monotonic()
            offsets, self.pending = self.pending, {}
            if offsets:
                await self.consumer.commit(offsets)


class Relay:
    """The three stages' handlers over one Kafka producer and one store client per process."""

    def __init__(self, run: str, producer: AIOKafkaProducer, mongo: AsyncMongoClient[Document], pds_db: str, pds_partitions: int) -> None:
        self.run = run
        self.producer = producer
        self.db = mongo[database(run)]
        self.pds_db = mongo[pds_db]
        self.pds_partitions = pds_partitions
        self.smtp: dict[int, aiosmtplib.SMTP] = {}

    def _pds_collection(self, reference: str) -> AsyncCollection[Document]:
        # The référentiel's seeded PDS documents, spread over collections by CRC-32 of the id (its seed's layout).
        if self.pds_partitions == 1:
            return self.pds_db["pds"]
        return self.pds_db[f"pds_{zlib.crc32(reference.encode()) % self.pds_partitions:03d}"]

    async def _publish(self, messages: list[tuple[str, Document]]) -> None:
        futures = [await self.producer.send(topic(self.run, t), json.dumps(m).encode(), key=m["key"].encode()) for t, m in messages]
        for f in futures:
            await f

    async def _outbox(self, collection: AsyncCollection[Document], doc: Document, messages: list[tuple[str, Document]]) -> None:
        """Write the document with its outgoing messages, publish them, clear them: the platform's outbox, by hand."""
        doc["outbox"] = [{"topic": t, "value": json.dumps(m)} for t, m in messages]
        try:
            await collection.insert_one(doc)
        except DuplicateKeyError:
            # A redelivered record: publish what the first delivery's document still holds.
            stored = await collection.find_one({"_id": doc["_id"]}, {"outbox": 1}) or {}
            messages = [(o["topic"], json.loads(o["value"])) for o in stored.get("outbox", [])]
        if messages:
            await self._publish(messages)
            await collection.update_one({"_id": doc["_id"]}, {"$set": {"outbox": []}})

    async def referentiel(self, record: ConsumerRecord) -> None:
        """Access check on the PDS, audit entry, qualification document and the qualified demand."""
        env = json.loads(record.value)
        demand_id, key, supplier = env["message_id"], env["key"], env["fournisseur"]
        pds = await self._pds_collection(key).find_one({"_id": key})
        holders = [t for t in (pds or {}).get("titulaires", []) if t.get("fin") is None]
        held = bool(holders) and holders[-1].get("fournisseur") == supplier
        result = "qualifiee" if held else "refusee"
        audit = {
            "_id": f"audit-{demand_id}",
            "horodatage": datetime.now(UTC),
            "acteur": supplier,
            "role": "fournisseur",
            "action": f"demande:{env['type']}",
            "pds": key,
            "niveau_revendique": "titulaire",
            "niveau_detenu": "titulaire" if held else "aucun",
            "resultat": result,
            "message_id": demand_id,
        }
        try:
            await self.db["audit"].insert_one(audit)
        except DuplicateKeyError:
            pass
        if pds is None or not held:
            refus = {"demande_message_id": demand_id, "demande_type": env["type"], "pds": key, "code": "NIVEAU_ACCES_INSUFFISANT"}
            out = ("resultats", envelope("DemandeRefusee", demand_id, key, supplier, refus))
        else:
            contexte = {k: pds.get(k) for k in ("reference", "etat", "segment", "zone", "adresse", "compteur", "puissance_souscrite_kva")}
            contexte["titulaire"] = supplier
            payload = {
                "demande_message_id": demand_id,
                "demande_type": env["type"],
                "demande": env["payload"],
                "niveau_acces": "titulaire",
                "contexte": contexte,
            }
            out = ("qualifiees", envelope("DemandeQualifiee", demand_id, key, supplier, payload))
        state = {"_id": demand_id, "pds": key, "fournisseur": supplier, "type": env["type"], "niveau": "titulaire" if held else None}
        await self._outbox(self.db["qualifications"], state, [out])

    async def affaires(self, record: ConsumerRecord) -> None:
        """Open the affaire (reference derived from the demand): outcome and opening published through its outbox."""
        q = json.loads(record.value)
        p, demand_id, key, supplier = q["payload"], q["correlation_id"], q["key"], q["fournisseur"]
        reference = f"AFF-{zlib.crc32(demand_id.encode()):08X}-{demand_id[:8].upper()}"
        at = now_iso()
        demande = p["demande"]
        type_affaire = "reclamation" if p["demande_type"] == "DemandeReclamation" else "demande_diverse"
        affaire = {
            "_id": reference,
            "reference": reference,
            "type_affaire": type_affaire,
            "fournisseur": supplier,
            "pds": key,
            "statut": "en_cours",
            "etat": "creee",
            "express": False,
            "annulable": True,
            "cree_le": at,
            "maj_le": at,
            "generalites": {
                "resume": f"{type_affaire} {demande.get('sous_type')}",
                "demande_type": p["demande_type"],
                "demande_message_id": demand_id,
                "sous_type": demande.get("sous_type"),
                "nature": demande.get("nature"),
                "observations": demande.get("observations"),
                "demandeur": demande.get("demandeur"),
                "date_souhaitee": demande.get("date_souhaitee"),
            },
            "actions": [{"date": at, "libelle": f"Affaire de {type_affaire} créée", "statut": "en_cours", "etat": "creee"}],
        }
        acceptee = {
            "demande_message_id": demand_id,
            "demande_type": p["demande_type"],
            "reference_affaire": reference,
            "pds": key,
            "message": f"Votre demande sur le PDS {key} a été enregistrée sous la référence {reference}.",
        }
        ouverture = {
            "reference_affaire": reference,
            "type_affaire": type_affaire,
            "pds": key,
            "statut": "en_cours",
            "etat": "creee",
            "express": False,
        }
        messages = [
            ("resultats", envelope("DemandeAcceptee", demand_id, key, supplier, acceptee)),
            ("affaires", envelope("AffaireStatutChange", demand_id, key, supplier, ouverture)),
        ]
        await self._outbox(self.db["affaires"], affaire, messages)

    async def _smtp(self, lane: int) -> aiosmtplib.SMTP:
        client = self.smtp.get(lane)
        if client is None or not client.is_connected:
            client = aiosmtplib.SMTP(hostname=os.environ.get("SMTP_HOST", "127.0.0.1"), port=int(os.environ.get("SMTP_PORT", "1025")))
            await client.connect()
            self.smtp[lane] = client
        return client

    async def notifications(self, record: ConsumerRecord) -> None:
        """An outcome: the e-mail, its document and the "e-mail sent" event. An opening: the affaire's follow-up."""
        env = json.loads(record.value)
        p, demand_id, key, supplier = env["payload"], env["correlation_id"], env["key"], env["fournisseur"]
        if env["type"] == "AffaireStatutChange":
            suivi = {"_id": p["reference_affaire"], "type_affaire": p["type_affaire"], "rdv_planifie": False, "jalons": []}
            try:
                await self.db["suivis"].insert_one(suivi)
            except DuplicateKeyError:
                await self.db["suivis"].update_one({"_id": suivi["_id"]}, {"$set": {"type_affaire": p["type_affaire"]}})
            return
        ref = reference().fournisseur(supplier) if supplier else None
        if ref is None:
            return
        message_id = mail_message_id(env["message_id"])
        sujet = f"[GRD] Demande enregistrée – affaire {p.get('reference_affaire')}"
        msg = EmailMessage()
        msg["From"] = EXPEDITEUR
        msg["To"] = ref.email
        msg["Subject"] = sujet
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = message_id
        msg.set_content(
            f"Bonjour,\n\nVotre demande sur le PDS {key} a bien été enregistrée.\nRéférence de l'affaire : {p.get('reference_affaire')}\n"
            f"{p.get('message')}\n\nCordialement,\nL'équipe acheminement du GRD\n",
            charset="utf-8",
        )
        await (await self._smtp(record.partition)).send_message(msg)
        sent = {
            "email_message_id": message_id,
            "destinataires": [ref.email],
            "sujet": sujet,
            "modele": "demande_acceptee",
            "reference_affaire": p.get("reference_affaire"),
        }
        doc = {
            "_id": message_id,
            "recipients": [ref.email],
            "subject": sujet,
            "template": "demande_acceptee",
            "reference_affaire": p.get("reference_affaire"),
            "pds": key,
            "fournisseur": supplier,
            "cause_message_id": env["message_id"],
            "cause_type": env["type"],
            "status": "sent",
            "sent_at": datetime.now(UTC),
        }
        await self._outbox(self.db["mails"], doc, [("notifications", envelope("NotificationEnvoyee", demand_id, key, supplier, sent))])


class Commands(monitoring.CommandListener):
    """Counts the store commands this stage sends, by command and collection (the benchmark prints them per demand)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        """Count one command."""
        target = event.command.get(event.command_name)
        # Partitioned collections (the PDS) folded into their family, as the services' metrics do.
        collection = re.sub(r"_\d+$", "", target) if isinstance(target, str) else "-"
        self.counts[f"{event.command_name} {collection}"] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Nothing to do."""

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Nothing to do."""


async def serve(stage: str, run: str, pds_db: str, pds_partitions: int, stats: Path | None) -> None:
    """Run one stage until SIGTERM; then write its store command counts to `stats` (JSON)."""
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0, **kafka_options())
    await producer.start()
    commands = Commands()
    mongo: AsyncMongoClient[Document] = AsyncMongoClient(os.environ["MONGODB_URL"], retryWrites=False, tz_aware=True, event_listeners=[commands])
    relay = Relay(run, producer, mongo, pds_db, pds_partitions)
    sources: dict[str, dict[str, Handler]] = {
        "referentiel": {"demandes": relay.referentiel},
        "affaires": {"qualifiees": relay.affaires},
        "notifications": {"resultats": relay.notifications, "affaires": relay.notifications},
    }
    handlers = {topic(run, suffix): h for suffix, h in sources[stage].items()}
    consumer = AIOKafkaConsumer(
        *handlers,
        bootstrap_servers=bootstrap,
        group_id=f"relay-{run}-{stage}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **kafka_options(),
    )
    await consumer.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    lanes = Lanes(consumer, handlers)
    running = asyncio.create_task(lanes.run())
    await asyncio.wait([running, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    for task in [running, *lanes.tasks]:
        task.cancel()
    if stats is not None:
        await asyncio.to_thread(stats.write_text, json.dumps(commands.counts))
    await consumer.stop()
    await producer.stop()
    await mongo.close()
    for client in relay.smtp.values():
        with contextlib.suppress(aiosmtplib.SMTPException):
            await client.quit()
    if running.done() and not running.cancelled() and running.exception():
        raise running.exception()  # type: ignore[misc]


async def create_topics(run: str, create: bool = True) -> list[str]:
    """Create (or delete) the topics of relay run `run`; return their names."""
    names = [topic(run, s) for s in TOPICS]
    admin = AIOKafkaAdminClient(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"], **kafka_options())
    await admin.start()
    try:
        if create:
            await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in names])
        else:
            await admin.delete_topics(names)
    finally:
        await admin.close()
    return names


def start_stages(run: str, pds_db: str, pds_partitions: int, log_dir: Path) -> dict[str, subprocess.Popen[bytes]]:
    """Start the three stage processes (logs and store command counts go to `log_dir`)."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for stage in STAGES:
        with open(log_dir / f"relay-{stage}.log", "ab") as log_file:
            cmd = [sys.executable, "-m", "devtools.raw_relay", stage, "--run", run, "--pds-db", pds_db, "--pds-partitions", str(pds_partitions)]
            cmd += ["--stats", str(log_dir / f"relay-{stage}.json")]
            procs[stage] = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[1], stdout=log_file, stderr=log_file)
    return procs


def stop_stages(procs: dict[str, subprocess.Popen[bytes]], log_dir: Path) -> Counter[tuple[str, str, str]]:
    """SIGTERM the stages; their store command counts: (stage, command, collection) -> count."""
    for p in procs.values():
        p.send_signal(signal.SIGTERM)
    for p in procs.values():
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
    counts: Counter[tuple[str, str, str]] = Counter()
    for stage in procs:
        with contextlib.suppress(OSError, ValueError):
            for key, n in json.loads((log_dir / f"relay-{stage}.json").read_text()).items():
                command, _, collection = key.partition(" ")
                counts[(f"relay {stage}", command, collection)] += n
    return counts


def main() -> None:
    """Command-line entry point: one stage of the relay."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--run", required=True, help="run id: names the relay's topics and database")
    parser.add_argument("--pds-db", required=True, help="the référentiel database holding the seeded PDS")
    parser.add_argument("--pds-partitions", type=int, default=64, help="collections the PDS are spread over (the seed's)")
    parser.add_argument("--stats", type=Path, help="write the store command counts there (JSON) on SIGTERM")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(serve(args.stage, args.run, args.pds_db, args.pds_partitions, args.stats))


if __name__ == "__main__":
    main()
