"""What feeds the read models: one plain consumer group (a "tap") per topic, each batch handled at once.

The topics are read by taps, not by the kit's Consumer:
- batches: the read models are group-committed (SupervisionStore), and a tap hands a whole batch of records to one
  flush, where a kit lane has one record in hand at a time (and, with a backlog, the kit's lanes take their partitions
  one after the other): a flush then held a write or two, and each write cost its own commands;
- no second dead letter: the kit dead-letters what it cannot read, so a kit consumer on grd.demandes.v1 would
  dead-letter every poison demand a second time, one on grd.dlq.v1 would send an unreadable dead letter back to the
  dead-letter topic, forever, and those on the outcomes and affaire events would copy the dead letters of the
  services that own these flows (notifications, contrats). An unreadable outcome or affaire event is skipped here
  (logged); an unreadable demand is counted (under its place in the log).

A tap's fetch waits for `tap_fetch_min_bytes` or `tap_fetch_max_wait_ms` (64 KiB, 250 ms), whichever comes first, where
aiokafka's default answers as soon as one record is there: at low load the taps then wake a few times a second instead
of with every record, i.e. not at the moment the demand's next hops handle it. Nothing here depends on when a record is
read: the counts, the latencies and the affaires' times come from the events' `occurred_at` (or the record's
timestamp), so a figure only shows up at most that wait later.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from contracts.base import WireModel
from contracts.catalogue import spec_for
from contracts.envelope import Envelope
from contracts.evenements import AffaireStatutChangeV1, DemandeAccepteeV1, DemandeRefuseeV1
from contracts.topics import AFFAIRES_EVENEMENTS, DEMANDES, DEMANDES_RESULTATS, DLQ
from platform_kit.errors import INFRASTRUCTURE_ERRORS
from platform_kit.kafka_client import kafka_options
from platform_kit.messaging import HandlerContext
from platform_kit.runtime import Runtime
from services.supervision.domain import A_TRAITER
from services.supervision.metrics import SupervisionMetrics
from services.supervision.settings import Settings
from services.supervision.store import SupervisionStore

log = logging.getLogger(__name__)

DERNIERES = 20
RecordHandler = Callable[[ConsumerRecord[bytes, bytes]], Awaitable[None]]
EventHandler = Callable[[HandlerContext, Any], Awaitable[None]]


class Tap:
    """A plain consumer group over one topic: each batch's records handled concurrently (the store group-commits their
    writes), then the batch committed. A batch whose handling meets a store or broker outage is handled again, whole
    and in order, once it is over (the writes are idempotent); another failure restarts the tap from its last commit.

    Its fetches wait for `fetch_min_bytes` or `fetch_max_wait_ms`, whichever comes first (see the module)."""

    def __init__(self, rt: Runtime, name: str, topic: str, handler: RecordHandler, *, fetch_min_bytes: int, fetch_max_wait_ms: int) -> None:
        self.rt = rt
        self.group_id = f"{rt.settings.service_name}.{name}"
        self.topic = topic
        self.handler = handler
        self.fetch_min_bytes = fetch_min_bytes
        self.fetch_max_wait_ms = fetch_max_wait_ms

    def consumer(self) -> AIOKafkaConsumer:
        """The tap's consumer (not started): its group, offsets committed by the tap, fetches that wait (see the module)."""
        return AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.rt.settings.kafka_bootstrap_servers,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset=self.rt.settings.consumer_offset_reset,
            client_id=f"grd-{self.group_id}",
            fetch_min_bytes=self.fetch_min_bytes,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            **kafka_options(),
        )

    async def run(self) -> None:
        """Consume until cancelled; reconnects after a broker outage."""
        while True:
            consumer = self.consumer()
            try:
                await consumer.start()
                while True:
                    batch = await consumer.getmany(timeout_ms=1000, max_records=200)
                    records = [record for part in batch.values() for record in part]
                    if records:
                        await self._handle(records)
                        await consumer.commit()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("tap %s interrupted, reconnecting", self.group_id, exc_info=True)
                await asyncio.sleep(self.rt.settings.backoff_max_s)
            finally:
                await consumer.stop()

    async def _handle(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """Handle a batch, its records concurrently: each requests its write in the batch's order (nothing is awaited
        before), so a flush applies an affaire's events in order. Every handler ends before this returns or raises."""
        while True:
            fins = await asyncio.gather(*(self.handler(r) for r in records), return_exceptions=True)
            erreurs = [fin for fin in fins if isinstance(fin, BaseException)]
            if not erreurs:
                return
            if not isinstance(erreurs[0], INFRASTRUCTURE_ERRORS):
                raise erreurs[0]
            log.warning("tap %s: infrastructure unavailable, handling the batch again: %r", self.group_id, erreurs[0])
            await asyncio.sleep(self.rt.settings.backoff_max_s)


def _horodatage(record: ConsumerRecord[bytes, bytes]) -> datetime:
    return datetime.fromtimestamp(record.timestamp / 1000, UTC)


class Alimentation:
    """The handlers behind the read models (each write is idempotent: a redelivered record changes nothing).

    Not on the handler port (`platform_kit.ports`): they keep no aggregate and decide nothing; each is one write to a
    read model (SupervisionStore, which group-commits the writes of concurrent handlers), so `handling.decide` has
    nothing to do here.
    """

    def __init__(self, rt: Runtime, store: SupervisionStore, metrics: SupervisionMetrics) -> None:
        self.rt = rt
        self.store = store
        self.metrics = metrics
        # The last outcomes this instance counted, newest first (kept in memory: a restart starts it afresh).
        self.dernieres: deque[dict[str, Any]] = deque(maxlen=DERNIERES)
        self.taps: list[Tap] = []  # built by register()

    def register(self, settings: Settings) -> None:
        """Start the taps with the runtime's background jobs (groups `<service>.resultats`, `.affaires`, `.demandes`,
        `.lettres_mortes`: the first two are the names the kit's consumers had, so their committed offsets carry on)."""
        resultats = self._evenements("resultats", {DemandeAccepteeV1: self.acceptee, DemandeRefuseeV1: self.refusee})
        affaires = self._evenements("affaires", {AffaireStatutChangeV1: self.affaire})
        for nom, topic, handler in (
            ("resultats", DEMANDES_RESULTATS.name, resultats),
            ("affaires", AFFAIRES_EVENEMENTS.name, affaires),
            ("demandes", DEMANDES.name, self.demande),
            ("lettres_mortes", DLQ.name, self.lettre_morte),
        ):
            tap = Tap(self.rt, nom, topic, handler, fetch_min_bytes=settings.tap_fetch_min_bytes, fetch_max_wait_ms=settings.tap_fetch_max_wait_ms)
            self.taps.append(tap)
            self.rt.background.append(tap.run)
        self.rt.shutdown_hooks.append(self.store.fermer)

    def _evenements(self, nom: str, handlers: dict[type[WireModel], EventHandler]) -> RecordHandler:
        """A record handler that reads an envelope and hands its typed payload to the handler of its type.

        Types without a handler are ignored; an unreadable record is skipped with a warning (see the module).
        """
        consommateur = f"{self.rt.settings.service_name}.{nom}"

        async def handle(record: ConsumerRecord[bytes, bytes]) -> None:
            try:
                env = Envelope.model_validate_json(record.value or b"")
                spec = spec_for(env.type, env.version)
                handler = handlers.get(spec.model) if spec is not None else None
                if spec is None or handler is None:
                    return
                payload = spec.model.model_validate(env.payload)
            except ValueError as exc:  # pydantic's ValidationError is one
                log.warning("%s: unreadable record %s/%s/%s skipped: %s", consommateur, record.topic, record.partition, record.offset, str(exc)[:300])
                return
            await handler(HandlerContext(env, consommateur), payload)

        return handle

    async def acceptee(self, ctx: HandlerContext, evt: DemandeAccepteeV1) -> None:
        """Count an accepted demand (and its latency)."""
        await self._issue(str(evt.demande_message_id), evt.demande_type, None, ctx.envelope.occurred_at)

    async def refusee(self, ctx: HandlerContext, evt: DemandeRefuseeV1) -> None:
        """Count a refused demand by code (and its latency)."""
        demande = str(evt.demande_message_id or ctx.envelope.correlation_id)
        await self._issue(demande, evt.demande_type, evt.code, ctx.envelope.occurred_at)

    async def _issue(self, demande: str, type_: str | None, code: str | None, at: datetime) -> None:
        compte, latence = await self.store.issue(demande, type_, code is None, code, at)
        if compte:
            self._latence(latence)
            self.dernieres.appendleft(
                {"demande": demande, "type": type_ or "inconnu", "acceptee": code is None, "code": code, "le": at.isoformat(), "latence_s": latence}
            )

    async def affaire(self, ctx: HandlerContext, evt: AffaireStatutChangeV1) -> None:
        """Follow an affaire's state (open ones only)."""
        champs = {
            "type_affaire": evt.type_affaire.value,
            "statut": evt.statut.value,
            "etat": evt.etat,
            "pds": evt.pds,
            "express": evt.express,
            "fournisseur": ctx.envelope.fournisseur,
        }
        await self.store.affaire(evt.reference_affaire, champs, ctx.envelope.occurred_at)

    async def demande(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """Count a demand published by a supplier; an unreadable one counts under its record's place and time."""
        try:
            data = json.loads(record.value or b"")
            demande_id, type_, at = str(data["message_id"]), str(data["type"]), datetime.fromisoformat(data["occurred_at"])
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
        except (ValueError, KeyError, TypeError):
            demande_id, type_, at = f"{record.topic}/{record.partition}/{record.offset}", "illisible", _horodatage(record)
        latence = await self.store.demande_recue(demande_id, type_, at)
        self._latence(latence)

    async def lettre_morte(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """Record a dead letter with its headers, key and original bytes."""
        headers = {k: v.decode(errors="replace") for k, v in (record.headers or [])}
        origine = headers.get("x-origin", "?")
        doc: dict[str, Any] = {
            "_id": f"{record.partition}-{record.offset}",
            "origine": origine,
            "topic_origine": origine.split("/", 1)[0],
            "consommateur": headers.get("x-consumer", "?"),
            "erreur": headers.get("x-error", ""),
            "tentatives": int(headers["x-attempts"]) if headers.get("x-attempts", "").isdigit() else None,
            "le": headers.get("x-dead-lettered-at") or _horodatage(record).isoformat(),
            "cle": record.key,
            "contenu": record.value or b"",
            "etat": A_TRAITER,
            "historique": [],
        }
        await self.store.lettre_recue(doc)

    def _latence(self, secondes: float | None) -> None:
        if secondes is not None:
            self.metrics.latence.observe(max(secondes, 0.0))
