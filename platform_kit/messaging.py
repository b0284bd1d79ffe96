"""At-least-once consumption: decode, deduplicate, dispatch to a typed handler, retry, dead-letter, then commit.

Offsets are committed in batches (every `commit_every` messages or `commit_interval_s`), and only ever the offset
after a message whose effect is durable: a crash redelivers at most one batch, which the inbox deduplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from aiokafka import TopicPartition
from faststream.kafka import KafkaMessage
from pydantic import ValidationError

from contracts.base import WireModel
from contracts.catalogue import spec_for, spec_for_model
from contracts.envelope import Envelope, new_envelope
from contracts.references import event_id
from contracts.topics import DLQ, Topic
from platform_kit.errors import INFRASTRUCTURE_ERRORS, TransientError
from platform_kit.logs import correlation_id
from platform_kit.store import ConcurrencyConflict, Delivery, current_delivery

if TYPE_CHECKING:
    from platform_kit.runtime import Runtime

log = logging.getLogger(__name__)

M = TypeVar("M", bound=WireModel)
Outgoing = tuple[str, Envelope]
Handler = Callable[["HandlerContext", Any], Awaitable[None]]
InvalidHook = Callable[[Envelope, str], Awaitable[list[Outgoing]]]

_SAME: Any = object()
MAX_CONFLICT_RETRIES = 50


@dataclass
class HandlerContext:
    """What a handler knows of the message it handles, and how it builds the events it causes."""

    envelope: Envelope
    consumer: str
    _emitted: int = field(default=0)

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


class Consumer:
    """One consumer group over some topics, dispatching each catalogue type to its typed handler."""

    def __init__(self, runtime: Runtime, name: str, topics: tuple[Topic, ...], on_invalid: InvalidHook | None, inbox: bool = True) -> None:
        self.runtime = runtime
        # False: the handlers deduplicate through the aggregates they commit (`Loaded.applied`), so the consumer skips
        # its own inbox record (a read and a write per message). Malformed payloads still use the inbox.
        self.inbox = inbox
        self.name = name
        self.group_id = f"{runtime.settings.service_name}.{name}"
        self.topics = topics
        self.on_invalid = on_invalid
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
        self._lanes: dict[TopicPartition, tuple[asyncio.Queue[KafkaMessage], asyncio.Task[None]]] = {}
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
        """Hand a record to its partition's lane (waits while that lane's buffer is full: the fetch loop slows down).

        Each lane handles its records one at a time, in offset order, so per-PDS order holds (a PDS is one partition
        of each topic); the lanes of a consumer run concurrently, so one partition's slow or failing message does not
        hold the others, and the time a handler waits for the store, Kafka or SMTP is used by the other partitions.
        """
        if self._stopping:
            return  # not acknowledged: handled after the restart
        rec: Any = msg.raw_message
        tp = TopicPartition(rec.topic, rec.partition)
        lane = self._lanes.get(tp)
        if lane is None:
            queue: asyncio.Queue[KafkaMessage] = asyncio.Queue(maxsize=self.runtime.settings.lane_buffer)
            # A fresh context: the lane must not inherit the context variables of the record that happened to open it.
            task = asyncio.create_task(self._drain(queue), name=f"{self.group_id}:{tp.topic}/{tp.partition}", context=contextvars.Context())
            lane = (queue, task)
            self._lanes[tp] = lane
        await lane[0].put(msg)

    async def _drain(self, queue: asyncio.Queue[KafkaMessage]) -> None:
        while True:
            msg = await queue.get()
            await self.process(msg)

    async def stop_lanes(self) -> None:
        """Stop handling (records buffered or in progress are not acknowledged: they are redelivered)."""
        self._stopping = True
        lanes, self._lanes = self._lanes, {}
        for _, task in lanes.values():
            task.cancel()
        for _, task in lanes.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def process(self, msg: KafkaMessage) -> None:
        """Handle one record end to end; never raises, commits the offset once the effect is durable."""
        rec = msg.raw_message
        origin = f"{getattr(rec, 'topic', '?')}/{getattr(rec, 'partition', '?')}/{getattr(rec, 'offset', '?')}"
        body: bytes = msg.body if isinstance(msg.body, bytes) else bytes(msg.body)
        metrics = self.runtime.metrics
        svc = metrics.service
        try:
            env = Envelope.model_validate_json(body)
        except (ValueError, ValidationError) as exc:
            await self._dead_letter(body, getattr(rec, "key", None), origin, self.group_id, f"message illisible: {exc}", 1)
            metrics.messages.labels(svc, "-", "illisible").inc()
            await self._ack(msg)
            return
        token = correlation_id.set(str(env.correlation_id))
        delivery = current_delivery.set(
            Delivery(
                self.group_id,
                str(getattr(rec, "topic", "?")),
                int(getattr(rec, "partition", -1)),
                int(getattr(rec, "offset", -1)),
                str(env.message_id),
            )
        )
        try:
            await self._dispatch(msg, env, body, origin)
        finally:
            current_delivery.reset(delivery)
            correlation_id.reset(token)
        await self._ack(msg)

    async def _dispatch(self, msg: KafkaMessage, env: Envelope, body: bytes, origin: str) -> None:
        metrics = self.runtime.metrics
        svc = metrics.service
        spec = spec_for(env.type, env.version)
        if spec is None:
            await self._dead_letter(body, env.key.encode(), origin, self.group_id, f"type inconnu: {env.type} v{env.version}", 1)
            metrics.messages.labels(svc, env.type, "type_inconnu").inc()
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
                hook = self.on_invalid
                events = await hook(env, detail)
                for topic, out in events:
                    await self._publish_retrying(topic, out)
            await self._dead_letter(body, env.key.encode(), origin, self.group_id, f"schéma invalide: {detail}", 1)
            metrics.messages.labels(svc, hname, "schema_invalide").inc()
            await self.runtime.wait_out_outages(lambda: self.runtime.inbox.mark(self.group_id, env.message_id, "invalide"))
            return
        start = time.perf_counter()
        # A redelivered message may find its aggregates already committed, with events a crash kept from publishing.
        async with self.runtime.publishing_leftovers():
            outcome = await self._run_handler(handler, env, payload, body, origin)
        metrics.latency.labels(svc, hname).observe(time.perf_counter() - start)
        metrics.messages.labels(svc, hname, outcome).inc()
        if self.inbox:
            await self.runtime.wait_out_outages(lambda: self.runtime.inbox.mark(self.group_id, env.message_id, outcome))

    async def _run_handler(self, handler: Handler, env: Envelope, payload: WireModel, body: bytes, origin: str) -> str:
        settings = self.runtime.settings
        metrics = self.runtime.metrics
        attempt = 0
        conflicts = 0
        transient_since: float | None = None
        while True:
            attempt += 1
            try:
                await handler(HandlerContext(env, self.group_id), payload)
                return "ok"
            except ConcurrencyConflict:
                conflicts += 1
                attempt -= 1
                metrics.retries.labels(metrics.service, "conflit").inc()
                if conflicts > MAX_CONFLICT_RETRIES:
                    raise
                continue
            except TransientError as exc:
                attempt -= 1
                now = time.monotonic()
                transient_since = transient_since or now
                metrics.retries.labels(metrics.service, "transitoire").inc()
                if now - transient_since > self.runtime.transient_budget_s:
                    await self._dead_letter(body, env.key.encode(), origin, self.group_id, repr(exc), attempt + 1)
                    return "lettre_morte"
                log.warning("transient failure, retrying: %r", exc)
                await asyncio.sleep(settings.backoff_max_s)
            except INFRASTRUCTURE_ERRORS as exc:
                attempt -= 1
                metrics.retries.labels(metrics.service, "infrastructure").inc()
                log.warning("infrastructure unavailable, retrying: %r", exc)
                await asyncio.sleep(settings.backoff_max_s)
            except Exception as exc:
                log.exception("handler failed (attempt %d/%d)", attempt, settings.max_attempts)
                metrics.retries.labels(metrics.service, "echec").inc()
                if attempt >= settings.max_attempts:
                    await self._dead_letter(body, env.key.encode(), origin, self.group_id, repr(exc), attempt)
                    return "lettre_morte"
                await asyncio.sleep(min(settings.backoff_initial_s * 2 ** (attempt - 1), settings.backoff_max_s))

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
            client = getattr(self.subscriber, "consumer", None)
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
