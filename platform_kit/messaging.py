"""At-least-once consumption: decode, deduplicate, dispatch to a typed handler, retry, dead-letter, then commit.

Offsets are committed in batches (every `commit_every` messages or `commit_interval_s`), and only ever the offset
after a message whose effect is durable: a crash redelivers at most one batch, which the aggregates' records
deduplicate. Each partition has a lane that never dies: whatever a record does, it ends with its effect, a refusal
or a dead letter, and the lane takes the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import IllegalStateError
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import ValidationError

from contracts.base import WireModel
from contracts.catalogue import spec_for, spec_for_model
from contracts.envelope import Envelope, new_envelope
from contracts.references import event_id
from contracts.topics import DLQ, Topic
from platform_kit.errors import INFRASTRUCTURE_ERRORS, PERMANENT_KAFKA_ERRORS, TransientError
from platform_kit.logs import correlation_id
from platform_kit.metrics import Metrics
from platform_kit.ports import Aggregates
from platform_kit.settings import KitSettings
from platform_kit.store import ConcurrencyConflict, Delivery, Inbox, Loaded, UnitOfWork

log = logging.getLogger(__name__)

M = TypeVar("M", bound=WireModel)
T = TypeVar("T")
Outgoing = tuple[str, Envelope]
Handler = Callable[["HandlerContext", Any], Awaitable[None]]
InvalidHook = Callable[[Envelope, str], Awaitable[list[Outgoing]]]
#: Called once a message is given up for good (dead-lettered): commits the outcome its sender is owed (a demand's
#: DemandeRefusee ERREUR_TECHNIQUE) in a record keyed by the message, so that no later copy gets a second outcome.
FailureHook = Callable[["HandlerContext", str], Awaitable[None]]

_SAME: Any = object()
MAX_CONFLICT_RETRIES = 50
#: A dead letter keeps the original bytes up to this size (redrive needs them); a larger body is cut, and its origin
#: (topic/partition/offset in the headers) says where the whole record still is.
DLQ_BODY_LIMIT = 1024 * 1024
#: Envelope fields copied into a salvaged envelope (unreadable message) when they are short enough to be sane.
_SALVAGE_MAX = 64


class ConsumerHost(Protocol):
    """What a consumer needs from the runtime that hosts it (the runtime implements it; no import back to it)."""

    settings: KitSettings
    metrics: Metrics
    broker: KafkaBroker
    inbox: Inbox
    transient_budget_s: float

    def now(self) -> datetime:
        """The platform clock."""
        ...

    async def wait_out_outages(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run a plumbing call, waiting out broker/store outages."""
        ...

    def unit_of_work(self, work: UnitOfWork) -> AbstractAsyncContextManager[None]:
        """Scope publishing, at its end, the leftovers of the aggregates the work loaded."""
        ...

    async def dead_letter(self, body: bytes, key: bytes | None, origin: str, consumer: str, error: str, attempts: int) -> None:
        """Send a record to the dead-letter topic."""
        ...

    async def publish(self, topic: str, envelope: Envelope) -> None:
        """Publish one envelope directly."""
        ...


@dataclass
class HandlerContext:
    """What a handler knows of the message it handles, and how it reads aggregates and builds the events it causes.

    `work` is the message's unit of work: pass the context to `load` so that the aggregate knows which record is being
    applied (exact redelivery detection) and what a crash left to publish. `received_at`: when the platform received
    the message, by the platform clock — decisions use it, never the sender's `occurred_at`.
    """

    envelope: Envelope
    consumer: str
    work: UnitOfWork = field(default=None)  # type: ignore[assignment]
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _emitted: int = field(default=0)

    def __post_init__(self) -> None:
        if self.work is None:
            self.work = UnitOfWork(message_id=str(self.envelope.message_id))

    async def load(self, store: Aggregates, aggregate_id: str) -> Loaded:
        """Read an aggregate within this message's unit of work (any `ports.Aggregates`: the real store or the fake)."""
        return await store.load(aggregate_id, self.work)

    def emit(self, payload: WireModel, *, key: str | None = None, fournisseur: Any = _SAME) -> Outgoing:
        """Build an event caused by this message; its id is derived from the message id, so a replay gives the same id."""
        spec = spec_for_model(type(payload))
        mid = event_id(self.envelope.message_id, self.consumer, spec.type, str(self._emitted))
        self._emitted += 1
        env = new_envelope(
            payload,
            key=key or self.envelope.key,
            fournisseur=self.envelope.fournisseur if fournisseur is _SAME else fournisseur,
            correlation_id=self.envelope.correlation_id,
            causation_id=self.envelope.message_id,
            message_id=mid,
        )
        return spec.topic_for(payload).name, env


@dataclass
class Lane:
    """One partition's lane: its buffer, its task, and its progress (what /health and grd_lane_stalled read)."""

    queue: asyncio.Queue[KafkaMessage]
    task: asyncio.Task[None] | None = None
    busy: bool = False
    last_progress: float = field(default_factory=time.monotonic)
    # Set when its partition is revoked: the lane takes no more records (they belong to the partition's next owner).
    closed: bool = False
    # Set while its partition's fetching is paused because the lane holds `lane_buffer` records or more.
    paused: bool = False

    def stalled(self, after_s: float) -> bool:
        """True when the lane holds records and has finished none for `after_s` seconds."""
        return (self.busy or not self.queue.empty()) and time.monotonic() - self.last_progress > after_s


def salvage_envelope(body: bytes) -> Envelope | None:
    """What can be read of an envelope that failed validation: enough to refuse the message, or None.

    Needs a JSON object with a UUID `message_id` and a string `type`; every other field is taken only when sane
    (short strings), so the refusal it leads to stays small whatever the sender put in the message.
    """
    try:
        raw = json.loads(body)
        if not isinstance(raw, dict):
            return None
        message_id = uuid.UUID(str(raw.get("message_id")))
    except (ValueError, TypeError):
        return None
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind or len(kind) > _SALVAGE_MAX:
        return None
    payload = raw.get("payload") if isinstance(raw.get("payload"), dict) else {}
    pds = payload.get("pds") if isinstance(payload, dict) else None
    pds = pds if isinstance(pds, str) and 0 < len(pds) <= _SALVAGE_MAX else None
    fournisseur = raw.get("fournisseur")
    fournisseur = fournisseur if isinstance(fournisseur, str) and 0 < len(fournisseur) <= _SALVAGE_MAX else None
    version = raw.get("version")
    return Envelope.model_construct(
        message_id=message_id,
        type=kind,
        version=version if isinstance(version, int) and 0 < version < 100 else 1,
        occurred_at=datetime.now(UTC),
        correlation_id=message_id,
        causation_id=None,
        fournisseur=fournisseur,
        key=pds or "inconnu",
        payload={"pds": pds} if pds else {},
    )


async def _raw_body(msg: Any) -> Any:
    """faststream decoder: the message body, undecoded."""
    return msg.body


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands partition revocations to the consumer before Kafka gives the partitions to another member."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.consumer.revoke(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.consumer.assigned(assigned)


class Consumer:
    """One consumer group over some topics, dispatching each catalogue type to its typed handler."""

    def __init__(
        self,
        runtime: ConsumerHost,
        name: str,
        topics: tuple[Topic, ...],
        on_invalid: InvalidHook | None,
        inbox: bool = True,
        on_failure: FailureHook | None = None,
    ) -> None:
        self.runtime = runtime
        # False: the handlers deduplicate through the aggregates they commit (`Loaded.applied`), so the consumer skips
        # its own inbox record (a read and a write per message). Malformed payloads still use the inbox.
        self.inbox = inbox
        self.name = name
        self.group_id = f"{runtime.settings.service_name}.{name}"
        self.topics = topics
        self.on_invalid = on_invalid
        self.on_failure = on_failure
        self.handlers: dict[type[WireModel], Handler] = {}
        self.filters: dict[type[WireModel], Callable[[dict[str, Any]], bool]] = {}
        self.subscriber: Any = None
        # Next offset to commit per partition, for messages handled (durably) since the last commit.
        self._offsets: dict[TopicPartition, int] = {}
        self._since_commit = 0
        self._last_commit = time.monotonic()
        self._commit_lock = asyncio.Lock()
        # Set when a record was dead-lettered: its offset is committed at once, so a crash cannot dead-letter it twice.
        self._commit_now = False
        # One lane per partition: records of a partition are handled in order, partitions concurrently.
        self._lanes: dict[TopicPartition, Lane] = {}
        self._stopping = False

    def handles(
        self, model: type[M], *, when: Callable[[dict[str, Any]], bool] | None = None
    ) -> Callable[[Callable[[HandlerContext, M], Awaitable[None]]], Handler]:
        """Register the handler of one message type.

        `when` selects, on the raw payload (a dict: cheap, before any validation), the messages of that type the
        handler is concerned with (e.g. the demand types a service processes); the others are acknowledged without
        validation and without touching the store. A payload the predicate cannot read takes the full path.
        """

        def register(fn: Callable[[HandlerContext, M], Awaitable[None]]) -> Handler:
            self.handlers[model] = fn
            if when is not None:
                self.filters[model] = when
            return fn

        return register

    def bind(self) -> None:
        """Create the faststream subscriber (manual commits, earliest offset for new groups)."""
        from faststream.middlewares import AckPolicy

        self.subscriber = self.runtime.broker.subscriber(
            *[t.name for t in self.topics],
            group_id=self.group_id,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset=self.runtime.settings.consumer_offset_reset,
            max_poll_interval_ms=10 * 60 * 1000,
            listener=_Rebalance(self),
            # The record's bytes as they are: the lane parses the envelope itself, so faststream's JSON decode of
            # every record would be thrown away.
            decoder=_raw_body,
            title=self.group_id,
            description=f"Handles {', '.join(sorted(m.__name__ for m in self.handlers))}",
        )

        context = self.runtime.broker.context

        # The record comes from faststream's context, not from a `msg: KafkaMessage` parameter: resolving that
        # parameter runs a synchronous dependency in a worker thread for every message (a thread hop per record).
        async def on_message(body: Any) -> None:
            await self.enqueue(context.get_local("message"))

        self.subscriber(on_message)

    async def enqueue(self, msg: KafkaMessage) -> None:
        """Hand a record to its partition's lane; never waits.

        Each lane handles its records one at a time, in offset order, so per-PDS order holds (a PDS is one partition
        of each topic); the lanes of a consumer run concurrently, so one partition's slow or failing message does not
        hold the others, and the time a handler waits for the store, Kafka or SMTP is used by the other partitions.

        A lane holding `lane_buffer` records pauses its partition's fetching (aiokafka drops what it fetched ahead for
        it and fetches it again from the same offset on resume), and resumes it once it is down to half. The fetch loop
        itself never waits on one lane: under a backlog, records of the other partitions keep flowing to their lanes
        (waiting on the full lane of the record in hand left them idle: head-of-line blocking).
        """
        if self._stopping:
            return  # not acknowledged: handled after the restart
        rec: Any = msg.raw_message
        tp = TopicPartition(rec.topic, rec.partition)
        lane = self._lanes.get(tp)
        if lane is None:
            client = self._client()
            if client is not None and tp not in client.assignment():
                return  # fetched before its partition was revoked: its next owner handles it
            lane = Lane(asyncio.Queue())
            # A fresh context: the lane must not inherit the context variables of the record that happened to open it.
            lane.task = asyncio.create_task(self._drain(tp, lane), name=f"{self.group_id}:{tp.topic}/{tp.partition}", context=contextvars.Context())
            self._lanes[tp] = lane
        if lane.closed:
            return
        lane.queue.put_nowait(msg)
        if not lane.paused and lane.queue.qsize() >= self.runtime.settings.lane_buffer:
            lane.paused = self._flow(tp, pause=True)

    def _client(self) -> Any:
        """The subscriber's aiokafka consumer, once started."""
        return getattr(self.subscriber, "consumer", None)

    def _flow(self, tp: TopicPartition, *, pause: bool) -> bool:
        """Pause or resume fetching one partition; return whether it is now paused (False if it is no longer ours)."""
        client = self._client()
        if client is None:
            return False
        try:
            if pause:
                client.pause(tp)
            else:
                client.resume(tp)
        except IllegalStateError:
            return False  # revoked meanwhile: a new assignment starts unpaused
        return pause

    def assigned(self, partitions: set[TopicPartition]) -> None:
        """Partitions given to this member: their lanes start clean with their first record."""
        names = sorted(f"{tp.topic}/{tp.partition}" for tp in partitions)
        log.info("partitions assigned", extra={"fields": {"group": self.group_id, "partitions": names}})

    async def revoke(self, partitions: set[TopicPartition]) -> None:
        """Partitions taken away (a member joined or left): before Kafka gives them to another member, their lanes stop
        taking records, finish the one in hand (or abandon it after `rebalance_grace_s`: it was not acknowledged, so
        its next owner gets it again and the aggregates deduplicate it), and the durable offsets are committed."""
        lanes = [(tp, self._lanes.pop(tp)) for tp in partitions if tp in self._lanes]
        for _tp, lane in lanes:
            lane.closed = True
            while not lane.queue.empty():
                lane.queue.get_nowait()  # buffered, not handled, not acknowledged: the next owner's
        for tp, lane in lanes:
            if lane.task is None:
                continue
            if lane.busy:
                done, _ = await asyncio.wait({lane.task}, timeout=self.runtime.settings.rebalance_grace_s)
                if not done:
                    log.warning("record in hand abandoned at revocation", extra={"fields": {"partition": f"{tp.topic}/{tp.partition}"}})
            lane.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lane.task
        await self.flush_offsets()

    async def _drain(self, tp: TopicPartition, lane: Lane) -> None:
        """A lane's loop. It never dies: a record whose handling raises anyway is given up (dead letter, outcome)."""
        metrics = self.runtime.metrics
        progress = metrics.lane_records.labels(metrics.service, self.group_id, tp.topic, str(tp.partition))
        while not lane.closed:
            msg = await lane.queue.get()
            if lane.closed:
                return
            if lane.paused and lane.queue.qsize() <= self.runtime.settings.lane_buffer // 2:
                lane.paused = self._flow(tp, pause=False)
            lane.busy = True
            try:
                await self.process(msg)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("record handling failed outside the retry loop; giving it up")
                await self._give_up_safely(msg, exc)
            finally:
                lane.busy = False
                lane.last_progress = time.monotonic()
            progress.inc()

    async def _give_up_safely(self, msg: KafkaMessage, exc: BaseException) -> None:
        """Dead-letter a record whose handling broke, give its sender the outcome it is owed, acknowledge it."""
        rec: Any = msg.raw_message
        origin = f"{getattr(rec, 'topic', '?')}/{getattr(rec, 'partition', '?')}/{getattr(rec, 'offset', '?')}"
        body: bytes = msg.body if isinstance(msg.body, bytes) else bytes(msg.body)
        try:
            env = Envelope.model_validate_json(body)
        except (ValueError, ValidationError):
            env = None
        try:
            await self._dead_letter(body, getattr(rec, "key", None), origin, self.group_id, f"erreur: {exc!r}", 1)
            if env is not None:
                await self._failure_outcome(self._context(env, rec), repr(exc))
        except Exception:
            log.exception("giving a record up failed too; acknowledging it (its dead letter may be missing)")
        await self._ack(msg)

    def stalled_lanes(self) -> list[TopicPartition]:
        """The partitions whose lane holds records and has made no progress for `lane_stall_s`."""
        after = self.runtime.settings.lane_stall_s
        return [tp for tp, lane in self._lanes.items() if lane.stalled(after)]

    def lanes(self) -> dict[TopicPartition, Lane]:
        """The current lanes, by partition."""
        return dict(self._lanes)

    async def stop_lanes(self) -> None:
        """Stop handling (records buffered or in progress are not acknowledged: they are redelivered)."""
        self._stopping = True
        lanes, self._lanes = self._lanes, {}
        for lane in lanes.values():
            if lane.task is not None:
                lane.task.cancel()
        for lane in lanes.values():
            if lane.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await lane.task

    def _context(self, env: Envelope, rec: Any) -> HandlerContext:
        delivery = Delivery(
            self.group_id,
            str(getattr(rec, "topic", "?")),
            int(getattr(rec, "partition", -1)),
            int(getattr(rec, "offset", -1)),
            str(env.message_id),
            int(getattr(rec, "timestamp", -1) or -1),
            len(getattr(rec, "value", b"") or b""),
        )
        work = UnitOfWork(message_id=str(env.message_id), delivery=delivery)
        return HandlerContext(env, self.group_id, work=work, received_at=self.runtime.now())

    async def process(self, msg: KafkaMessage) -> None:
        """Handle one record end to end and commit its offset once the effect is durable."""
        rec = msg.raw_message
        origin = f"{getattr(rec, 'topic', '?')}/{getattr(rec, 'partition', '?')}/{getattr(rec, 'offset', '?')}"
        body: bytes = msg.body if isinstance(msg.body, bytes) else bytes(msg.body)
        metrics = self.runtime.metrics
        svc = metrics.service
        try:
            env = Envelope.model_validate_json(body)
        except (ValueError, ValidationError) as exc:
            detail = _validation_summary(exc) if isinstance(exc, ValidationError) else str(exc)[:500]
            salvaged = salvage_envelope(body)
            if salvaged is not None and self.on_invalid is not None:
                # Readable enough to owe its sender a refusal (e.g. an oversized key): the refusal is built from the
                # salvaged, bounded fields only.
                await self._refuse_invalid(self._context(salvaged, rec), f"enveloppe invalide: {detail}")
            await self._dead_letter(body, getattr(rec, "key", None), origin, self.group_id, f"message illisible: {detail}", 1)
            metrics.messages.labels(svc, "-", "illisible").inc()
            await self._ack(msg)
            return
        ctx = self._context(env, rec)
        token = correlation_id.set(str(env.correlation_id))
        try:
            await self._dispatch(ctx, body, origin)
        finally:
            correlation_id.reset(token)
        await self._ack(msg)

    async def _refuse_invalid(self, ctx: HandlerContext, detail: str) -> None:
        hook = self.on_invalid
        assert hook is not None
        async with self.runtime.unit_of_work(ctx.work):
            events = await self.runtime.wait_out_outages(lambda: hook(ctx.envelope, detail))
        for topic, out in events:
            await self._publish_retrying(topic, out)

    async def _dispatch(self, ctx: HandlerContext, body: bytes, origin: str) -> None:
        env = ctx.envelope
        metrics = self.runtime.metrics
        svc = metrics.service
        spec = spec_for(env.type, env.version)
        if spec is None:
            await self._dead_letter(body, env.key.encode(), origin, self.group_id, f"type inconnu: {env.type[:100]} v{env.version}", 1)
            metrics.messages.labels(svc, "-", "type_inconnu").inc()
            return
        handler = self.handlers.get(spec.model)
        if handler is None:
            return
        hname = spec.model.__name__
        wanted = self.filters.get(spec.model)
        if wanted is not None:
            try:
                concerned = wanted(env.payload)
            except (KeyError, TypeError, ValueError):
                concerned = True  # let the full path validate it, refuse and dead-letter it
            if not concerned:
                metrics.messages.labels(svc, hname, "non_concerne").inc()
                return
        if self.inbox and await self.runtime.wait_out_outages(lambda: self.runtime.inbox.seen(self.group_id, env.message_id)):
            metrics.messages.labels(svc, hname, "doublon").inc()
            return
        try:
            payload = spec.model.model_validate(env.payload)
        except ValidationError as exc:
            if not self.inbox and await self.runtime.wait_out_outages(lambda: self.runtime.inbox.seen(self.group_id, env.message_id)):
                metrics.messages.labels(svc, hname, "doublon").inc()
                return
            detail = _validation_summary(exc)
            if self.on_invalid is not None:
                await self._refuse_invalid(ctx, detail)
            await self._dead_letter(body, env.key.encode(), origin, self.group_id, f"schéma invalide: {detail}", 1)
            metrics.messages.labels(svc, hname, "schema_invalide").inc()
            await self.runtime.wait_out_outages(lambda: self.runtime.inbox.mark(self.group_id, env.message_id, "invalide"))
            return
        start = time.perf_counter()
        outcome = await self._run_handler(handler, ctx, payload, body, origin)
        metrics.latency.labels(svc, hname).observe(time.perf_counter() - start)
        metrics.messages.labels(svc, hname, outcome).inc()
        # A message given up without an outcome owed is not marked: a redrive of its dead letter must reach the handler.
        if self.inbox and (outcome == "ok" or (outcome == "lettre_morte" and self.on_failure is not None)):
            await self.runtime.wait_out_outages(lambda: self.runtime.inbox.mark(self.group_id, env.message_id, outcome))

    async def _run_handler(self, handler: Handler, ctx: HandlerContext, payload: WireModel, body: bytes, origin: str) -> str:
        """Run the handler until it succeeds, waiting out outages; give the message up after too many failures."""
        settings = self.runtime.settings
        metrics = self.runtime.metrics
        env = ctx.envelope
        attempt = 0
        conflicts = 0
        transient_since: float | None = None
        while True:
            attempt += 1
            error: BaseException | None = None
            try:
                # Each attempt is a unit of work: a redelivered message may find its aggregates already committed, with
                # events a crash kept from publishing; they go out at its end.
                ctx.work.leftovers.clear()
                async with self.runtime.unit_of_work(ctx.work):
                    await handler(ctx, payload)
                return "ok"
            except ConcurrencyConflict as exc:
                conflicts += 1
                attempt -= 1
                metrics.retries.labels(metrics.service, "conflit").inc()
                if conflicts > MAX_CONFLICT_RETRIES:
                    error = exc
                else:
                    # Back off with jitter: the writers that collided must not collide again in lockstep.
                    await asyncio.sleep(min(0.002 * 2 ** min(conflicts, 8), 0.5) * random.uniform(0.5, 1.5))
                    continue
            except PERMANENT_KAFKA_ERRORS as exc:
                error = exc  # the same publication fails whatever we wait: give up now
            except TransientError as exc:
                attempt -= 1
                now = time.monotonic()
                transient_since = transient_since or now
                metrics.retries.labels(metrics.service, "transitoire").inc()
                if now - transient_since <= self.runtime.transient_budget_s:
                    log.warning("transient failure, retrying: %r", exc)
                    await asyncio.sleep(settings.backoff_max_s)
                    continue
                error = exc
            except INFRASTRUCTURE_ERRORS as exc:
                attempt -= 1
                metrics.retries.labels(metrics.service, "infrastructure").inc()
                log.warning("infrastructure unavailable, retrying: %r", exc)
                await asyncio.sleep(settings.backoff_max_s)
                continue
            except Exception as exc:
                log.exception("handler failed (attempt %d/%d)", attempt, settings.max_attempts)
                metrics.retries.labels(metrics.service, "echec").inc()
                if attempt < settings.max_attempts:
                    await asyncio.sleep(min(settings.backoff_initial_s * 2 ** (attempt - 1), settings.backoff_max_s))
                    continue
                error = exc
            await self._dead_letter(body, env.key.encode(), origin, self.group_id, repr(error), max(attempt, 1))
            await self._failure_outcome(ctx, repr(error))
            return "lettre_morte"

    async def _failure_outcome(self, ctx: HandlerContext, error: str) -> None:
        """Give the sender of a message given up for good the outcome it is owed (the consumer's failure hook)."""
        hook = self.on_failure
        if hook is None:
            return
        for attempt in range(1, 4):
            try:
                ctx.work.leftovers.clear()
                async with self.runtime.unit_of_work(ctx.work):
                    await self.runtime.wait_out_outages(lambda: hook(ctx, error))
                return
            except ConcurrencyConflict:
                await asyncio.sleep(0.01 * attempt)
            except Exception:
                log.exception("failure outcome could not be recorded (attempt %d)", attempt)
                await asyncio.sleep(self.runtime.settings.backoff_initial_s * attempt)

    async def _dead_letter(self, body: bytes, key: bytes | None, origin: str, consumer: str, error: str, attempts: int) -> None:
        self._commit_now = True
        await self.runtime.dead_letter(body, key, origin, consumer, error, attempts)

    async def _publish_retrying(self, topic: str, envelope: Envelope) -> None:
        await self.runtime.wait_out_outages(lambda: self.runtime.publish(topic, envelope))

    async def _ack(self, msg: KafkaMessage) -> None:
        """The message's effect is durable: its offset may be committed (with the next batch, or now after a dead letter)."""
        rec: Any = msg.raw_message  # one ConsumerRecord: our subscribers are not batch subscribers
        self._offsets[TopicPartition(rec.topic, rec.partition)] = rec.offset + 1
        self._since_commit += 1
        settings = self.runtime.settings
        if self._commit_now or self._since_commit >= settings.commit_every or time.monotonic() - self._last_commit >= settings.commit_interval_s:
            self._commit_now = False
            await self.flush_offsets()

    async def flush_offsets(self) -> None:
        """Commit the offsets of the messages handled since the last commit (explicit offsets, never the position)."""
        async with self._commit_lock:
            self._last_commit = time.monotonic()
            self._since_commit = 0
            if not self._offsets:
                return
            offsets, self._offsets = self._offsets, {}
            client = self._client()
            if client is None:
                return
            # A partition revoked meanwhile is another member's now: committing it would fail the whole request.
            assigned = client.assignment()
            offsets = {tp: off for tp, off in offsets.items() if tp in assigned}
            if not offsets:
                return
            try:
                await client.commit(offsets)
            except Exception:
                # The effects are durable and deduplicated: a failed commit only means a harmless redelivery.
                log.warning("offset commit failed; the messages may be redelivered", exc_info=True)


def _validation_summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{loc}: {err.get('msg')}")
    return "; ".join(parts)


def dead_letter_headers(origin: str, consumer: str, error: str, attempts: int) -> dict[str, str]:
    """Headers of a dead letter: where it came from, who gave up, why, after how many attempts."""
    return {
        "x-origin": origin,
        "x-consumer": consumer,
        "x-error": error[:1000],
        "x-attempts": str(attempts),
        "x-dead-lettered-at": datetime.now(UTC).isoformat(),
    }


DLQ_TOPIC = DLQ.name
