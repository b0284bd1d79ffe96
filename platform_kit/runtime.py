"""The composition root every service builds on: broker, store, consumers, outbox relay, HTTP app with health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import date, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Response
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pymongo.asynchronous.collection import AsyncCollection

from contracts.envelope import Envelope
from contracts.topics import Topic
from platform_kit.auth import authenticator_from_settings
from platform_kit.clock import Clock
from platform_kit.errors import INFRASTRUCTURE_ERRORS, PERMANENT_KAFKA_ERRORS, PermanentPublishError
from platform_kit.kafka_client import bootstrap_list, faststream_security
from platform_kit.logs import configure_logging
from platform_kit.messaging import DLQ_BODY_LIMIT, DLQ_TOPIC, Consumer, FailureHook, HandlerContext, InvalidHook, Outgoing, dead_letter_headers
from platform_kit.metrics import Metrics
from platform_kit.outbox import OutboxRelay
from platform_kit.periodic import Job, Periodic
from platform_kit.ports import Aggregates, create_by_commit
from platform_kit.producer import Producer
from platform_kit.settings import KitSettings
from platform_kit.store import AggregateStore, CommandCounter, Inbox, Indexes, IndexKeys, IndexSpec, Loaded, UnitOfWork, make_client

log = logging.getLogger(__name__)
T = TypeVar("T")

StartupHook = Callable[[], Awaitable[None]]


class Runtime:
    """Everything a service needs at run time, built once from its settings."""

    def __init__(self, settings: KitSettings, *, transient_budget_s: float = 600.0) -> None:
        self.settings = settings
        self.transient_budget_s = transient_budget_s
        self.metrics = Metrics(settings.service_name)
        self.clock = Clock.from_settings(settings, self.metrics.registry)
        self.broker = KafkaBroker(
            # A list: faststream takes a string for ONE host, so "a:9092,b:9092,c:9092" (a cluster) would not resolve.
            bootstrap_list(settings.kafka_bootstrap_servers),
            acks="all",
            enable_idempotence=True,
            linger_ms=0,  # no wait for more records: a handler sends its events at once and awaits them
            client_id=f"grd-{settings.service_name}",
            request_timeout_ms=15000,
            logger=logging.getLogger(f"faststream.{settings.service_name}"),
            security=faststream_security(),
            allow_auto_create_topics=False,  # topics come from infra/up.sh; services may not create any
        )
        self.auth = authenticator_from_settings(settings.api_accounts)
        self.mongo = make_client(settings.mongodb_url, [CommandCounter(self._count_store_command)])
        self.db = self.mongo[settings.database_name]
        self.inbox = Inbox(self.db, settings.inbox_partitions)
        self.producer = Producer(settings.kafka_bootstrap_servers, f"grd-{settings.service_name}", max_request_size=settings.max_message_bytes)
        self.relay = OutboxRelay(
            self.producer,
            self.metrics,
            settings.outbox_sweep_interval_s,
            settings.outbox_full_sweep_interval_s,
            initial_delay_s=settings.outbox_first_sweep_delay_s,
            pace_s=0.02,
            sweep_min_age_s=settings.outbox_sweep_min_age_s,
            undeliverable=self._undeliverable,
        )
        self.consumers: list[Consumer] = []
        #: Every index of the service, declared with `index()` and created at start before the startup hooks.
        self.indexes = Indexes()
        self.startup_hooks: list[StartupHook] = []
        self.shutdown_hooks: list[StartupHook] = []
        self.background: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self.broker_ready = asyncio.Event()
        self.store_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def aggregates(self, collection: str, partitions: int = 1, *, swept: bool = True) -> AggregateStore:
        """An aggregate store on one of the service's collections (or `partitions` of them).

        `swept`: the outbox relay's full sweep (at start and every `outbox_full_sweep_interval_s`) scans it for
        events left unpublished. A store written only by consumer handlers does not need it (`swept=False`): what a
        crash leaves there is published when the message is redelivered, and on FerretDB a sweep of a big store is
        a scan of every document (100,000 PDS: minutes of CPU).
        """
        store = AggregateStore.partitioned(self.db, collection, partitions) if partitions > 1 else AggregateStore(self.db[collection])
        if swept:
            self.relay.register(store)
            # The `_pending` index serves the sweep only: unswept stores go without it (one index less per write).
            self.index(store, "_pending")
        return store

    def index(self, target: AggregateStore | AsyncCollection[dict[str, Any]], keys: IndexKeys, **options: Any) -> IndexSpec:
        """Declare an index of the service (a store: on every partition), created at start: the one place for indexes.

        `keys`: a field name (ascending) or [(field, ASCENDING|DESCENDING), ...]; `options` as pymongo's create_index
        (unique=True, ...). Call it where the collection is defined (the service's store.py).
        """
        return self.indexes.declare(target, keys, **options)

    def every(self, name: str, interval_s: float, job: Job, *, full_every_s: float | None = None, needs_broker: bool = True) -> Periodic:
        """Run `job(full)` every `interval_s` seconds in the background (see platform_kit.periodic).

        Started once the indexes exist and (`needs_broker`) the broker is connected; woken early when the platform
        clock moves (demo/test control); a failure is logged and retried with back-off; cancelled at stop.
        """
        periodic = Periodic(name, interval_s, job, full_every_s, max_backoff_s=max(60.0, interval_s))

        async def run() -> None:
            if needs_broker:
                await self.broker_ready.wait()
            await periodic.run(self.clock.attendre_changement)

        self.background.append(run)
        return periodic

    def consumer(
        self, name: str, *topics: Topic, on_invalid: InvalidHook | None = None, inbox: bool = True, on_failure: FailureHook | None = None
    ) -> Consumer:
        """A consumer group of this service over some topics (`inbox=False`: see Consumer.inbox; `on_failure`: the
        outcome owed to the sender of a message given up for good, see messaging.FailureHook)."""
        consumer = Consumer(self, name, topics, on_invalid, inbox, on_failure)
        self.consumers.append(consumer)
        return consumer

    def _count_store_command(self, command: str, collection: str, seconds: float) -> None:
        self.metrics.store_commands.labels(self.metrics.service, command, collection).inc()
        self.metrics.store_seconds.labels(self.metrics.service, command).inc(seconds)

    def now(self) -> datetime:
        """The platform clock (moved forward in demo/test mode, see platform_kit.clock)."""
        return self.clock.now()

    def today(self) -> date:
        """Today by the platform clock, in the GRD's time zone."""
        return self.clock.today()

    def day_of(self, instant: datetime) -> date:
        """The GRD's local date of an instant of the platform clock (e.g. `ctx.received_at`)."""
        return instant.astimezone(self.clock.fuseau).date()

    async def commit(self, aggregates: Aggregates, loaded: Loaded, state: dict[str, Any], ctx: HandlerContext, events: list[Outgoing]) -> None:
        """Write state + processed mark + events atomically, then publish the events at once (the sweeper is the safety net)."""
        store = _real(aggregates)
        work = ctx.work
        cause = str(ctx.envelope.message_id)
        self.relay.begin(store, loaded.id)
        try:
            version, entries = await store.commit(loaded, state, ctx.envelope.message_id, events)
            if work.leftovers.pop(store.ref(loaded.id), None) is not None:
                # An earlier handling of this message left events here: publish them and ours, in the order queued.
                await self._publish_in_order(store, loaded.id, lambda: self.relay.flush(store, loaded.id, cause=cause), cause)
            elif entries and any(e.get("cause") != cause for e in loaded.outbox.values()):
                # An earlier commit's events are still in the outbox (their publisher is retrying, slow, on another
                # instance, or dead): publish every pending entry in the aggregate's order, theirs first, so the topic
                # never shows this commit's events before them. Their publisher may add a copy afterwards (same
                # message id: consumers drop it); a reordering could not be undone downstream.
                await self._publish_in_order(store, loaded.id, lambda: self.relay.flush(store, loaded.id), cause)
            elif entries:
                await self._publish_in_order(
                    store, loaded.id, lambda: self.relay.publish_committed(store, loaded.id, version, entries, others_pending=False), cause
                )
        finally:
            self.relay.end(store, loaded.id)

    @contextlib.asynccontextmanager
    async def unit_of_work(self, work: UnitOfWork) -> AsyncIterator[None]:
        """Scope of one message's handling (or one item of a background job): at its end, publish what an earlier
        handling of the same message committed but a crash kept from being published (the `leftovers` its loads found).

        Broker or store outages are waited out.
        """
        yield
        if work.message_id:
            for store, aggregate_id in list(work.leftovers.values()):
                await self.wait_out_outages(functools.partial(self.relay.flush, store, aggregate_id, cause=work.message_id))
        work.leftovers.clear()

    @contextlib.asynccontextmanager
    async def publishing_leftovers(self) -> AsyncIterator[UnitOfWork]:
        """One item of a background job as a unit of work whose cause is known only once the item is decided.

        Load with the yielded work (`store.load(id, work)`: every aggregate holding outbox entries is noted), set
        `work.message_id` to the item's deterministic cause and build the HandlerContext with `work=work`; at the end,
        what an earlier run of the same item left unpublished goes out.
        """
        work = UnitOfWork(message_id="")
        async with self.unit_of_work(work):
            yield work

    async def wait_out_outages(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run a plumbing call, waiting out broker/store outages (capped backoff) instead of failing the work."""
        while True:
            try:
                return await call()
            except PERMANENT_KAFKA_ERRORS:
                raise  # not an outage: waiting would not help
            except INFRASTRUCTURE_ERRORS as exc:
                log.warning("infrastructure unavailable, retrying: %r", exc)
                await asyncio.sleep(self.settings.backoff_max_s)

    async def create(self, store: Aggregates, aggregate_id: str, state: dict[str, Any], ctx: HandlerContext, events: list[Outgoing]) -> bool:
        """Commit a new aggregate without reading it first (its id derives from the message): one insert.

        Returns False when it exists already because this message created it (a redelivery: nothing to do). Any other
        existing aggregate is a real conflict (ConcurrencyConflict: the handler runs again and should load it).
        """
        return await create_by_commit(self.commit, store, aggregate_id, state, ctx, events)

    async def _publish_in_order(self, store: AggregateStore, aggregate_id: str, publish: Callable[[], Awaitable[None]], cause: str) -> None:
        """Publish what a commit queued before the consumer moves on, so a later message's events never overtake these.

        The events are durable in the outbox already: while the broker is unreachable we wait here (the consumer could
        not go on anyway). If this process dies meanwhile, the message is redelivered (its offset is not committed)
        and the consumer publishes the leftovers of the aggregates it loads before going on. Entries Kafka refuses for
        good are dead-lettered by the relay, not retried.
        """
        attempt = 0
        while True:
            try:
                await publish()
                return
            except asyncio.CancelledError:
                self.relay.remember(store, aggregate_id, cause)
                raise
            except Exception:
                attempt += 1
                log.warning("outbox flush failed (attempt %d); retrying before the next message", attempt, exc_info=True)
                await asyncio.sleep(min(self.settings.backoff_initial_s * 2 ** min(attempt, 10), self.settings.backoff_max_s))

    async def publish(self, topic: str, envelope: Envelope) -> None:
        """Publish one envelope directly (for effects that need no store write, e.g. a refusal of an unreadable demand)."""
        try:
            await self.producer.send_all([(topic, envelope.model_dump_json().encode(), envelope.key.encode(), {"content-type": "application/json"})])
        except PermanentPublishError as exc:
            body = envelope.model_dump_json().encode()
            await self.dead_letter(body, envelope.key.encode(), f"publication:{topic}", self.settings.service_name, str(exc), 1)

    async def _undeliverable(self, store: AggregateStore, aggregate_id: str, entry: dict[str, Any], error: BaseException) -> None:
        """An outbox entry Kafka refuses for good: a dead letter (truncated copy, pointer to the aggregate) instead."""
        self.metrics.undeliverable.labels(self.metrics.service).inc()
        await self.dead_letter(
            str(entry.get("value", "")).encode(),
            str(entry.get("key", "")).encode()[:256],
            f"outbox:{store.name}/{aggregate_id}/{entry.get('topic')}",
            self.settings.service_name,
            f"publication impossible: {error!r}",
            1,
        )

    async def dead_letter(self, body: bytes, key: bytes | None, origin: str, consumer: str, error: str, attempts: int) -> None:
        """Send the original bytes to the dead-letter topic with error, origin and attempt headers.

        A body over DLQ_BODY_LIMIT, or one Kafka refuses for good, is cut (header `x-truncated`: the original size):
        the origin header says where the whole record is. Broker outages are waited out.
        """
        log.error("dead letter", extra={"fields": {"origin": origin[:200], "consumer": consumer, "error": error[:500], "attempts": attempts}})
        reason = error.split(":", 1)[0][:40]
        self.metrics.dead_letters.labels(self.metrics.service, reason).inc()
        headers = dead_letter_headers(origin[:500], consumer, error, attempts)
        if len(body) > DLQ_BODY_LIMIT:
            headers["x-truncated"] = str(len(body))
            body = body[:DLQ_BODY_LIMIT]
        key = key[:256] if key is not None else None
        while True:
            try:
                await self.producer.send_all([(DLQ_TOPIC, body, key, headers)])
                return
            except PermanentPublishError:
                if "x-truncated" in headers and len(body) <= 4096:
                    log.error("dead letter refused even truncated; dropped", extra={"fields": {"origin": origin[:200]}})
                    return
                headers["x-truncated"] = headers.get("x-truncated", str(len(body)))
                body = body[:4096]
            except Exception:
                log.warning("dead-letter publish failed, retrying", exc_info=True)
                await asyncio.sleep(self.settings.backoff_max_s)

    async def health(self) -> dict[str, bool]:
        """Check the broker and the store."""
        status = {"broker": False, "store": False, "lanes": not any(c.stalled_lanes() for c in self.consumers)}
        try:
            await asyncio.wait_for(self.db.command("ping"), 2)
            status["store"] = True
        except Exception:
            log.debug("store ping failed", exc_info=True)
        if self.broker_ready.is_set():
            try:
                status["broker"] = bool(await self.broker.ping(timeout=2))
            except Exception:
                log.debug("broker ping failed", exc_info=True)
        return status

    async def _start_broker(self) -> None:
        for consumer in self.consumers:
            consumer.bind()
        while True:
            try:
                await self.producer.start()
                await self.broker.start()
                break
            except Exception:
                log.warning("broker not reachable yet, retrying", exc_info=True)
                with contextlib.suppress(Exception):
                    await self.broker.stop()
                await self.producer.stop()
                await asyncio.sleep(2)
        self.broker_ready.set()
        # What a crash left in outboxes goes out when its message is redelivered (Consumer); the sweep is the last net.
        self.relay.start()

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the broker is connected and every consumer has partitions assigned (tests publish after this)."""

        async def ready() -> None:
            await self.broker_ready.wait()
            while True:
                clients = [getattr(c.subscriber, "consumer", None) for c in self.consumers]
                if all(client is not None and client.assignment() for client in clients):
                    # Resolve the starting offsets now: with "latest", a message published before this would be skipped.
                    for client in clients:
                        assert client is not None
                        for tp in client.assignment():
                            await client.position(tp)
                    return
                await asyncio.sleep(0.1)

        await asyncio.wait_for(ready(), timeout)

    async def _lag_loop(self) -> None:
        while True:
            await asyncio.sleep(5)
            for consumer in self.consumers:
                client = getattr(consumer.subscriber, "consumer", None)
                if client is None:
                    continue
                for tp, lane in consumer.lanes().items():
                    stalled = lane.stalled(self.settings.lane_stall_s)
                    self.metrics.lane_stalled.labels(self.metrics.service, consumer.group_id, tp.topic, str(tp.partition)).set(1 if stalled else 0)
                try:
                    for tp in client.assignment():
                        high = client.highwater(tp)
                        pos = await client.position(tp)
                        if high is not None:
                            self.metrics.lag.labels(self.metrics.service, consumer.group_id, tp.topic, str(tp.partition)).set(max(0, high - pos))
                except Exception:
                    log.debug("lag probe failed", exc_info=True)

    async def _commit_loop(self) -> None:
        """Commit what idle consumers handled since their last batch (a busy one commits inline)."""
        while True:
            await asyncio.sleep(self.settings.commit_interval_s)
            for consumer in self.consumers:
                try:
                    await consumer.flush_offsets()
                except Exception:
                    log.debug("offset flush failed", exc_info=True)

    async def _ensure_indexes(self) -> None:
        while True:
            try:
                await self.indexes.create()
                for hook in self.startup_hooks:
                    await hook()
                return
            except Exception:
                log.warning("store not reachable yet, retrying", exc_info=True)
                await asyncio.sleep(2)

    async def _boot(self) -> None:
        await self._ensure_indexes()
        self.store_ready.set()
        for job in self.background:
            self._tasks.append(asyncio.create_task(job()))
        await self._start_broker()

    async def start(self) -> None:
        """Prepare the store, connect to the broker and start consuming, in the background (/health says 503 meanwhile)."""
        self._tasks.append(asyncio.create_task(self.clock.run()))
        self._tasks.append(asyncio.create_task(self._boot()))
        self._tasks.append(asyncio.create_task(self._lag_loop()))
        self._tasks.append(asyncio.create_task(self._commit_loop()))

    async def stop(self) -> None:
        """Stop consuming and publishing."""
        for task in self._tasks:
            task.cancel()
        for consumer in self.consumers:
            await consumer.stop_lanes()
            with contextlib.suppress(Exception):
                await consumer.flush_offsets()
        await self.relay.stop()
        with contextlib.suppress(Exception):
            await self.broker.stop()
        await self.producer.stop()
        for hook in self.shutdown_hooks:
            with contextlib.suppress(Exception):
                await hook()
        await self.mongo.close()

    def asyncapi(self, title: str) -> dict[str, Any]:
        """The AsyncAPI document of the service's subscribers."""
        spec = AsyncAPI(self.broker, title=title, version="1.0.0").to_specification()
        result: dict[str, Any] = spec.to_jsonable()
        return result

    def http_app(self, title: str, *routers: APIRouter) -> FastAPI:
        """The service's ASGI app: /health, /metrics, /asyncapi.json plus the service's own routes."""
        configure_logging(self.settings.service_name, self.settings.log_level)

        @contextlib.asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            await self.start()
            yield
            await self.stop()

        app = FastAPI(title=title, lifespan=lifespan)

        @app.get("/health", tags=["exploitation"])
        async def health(response: Response) -> dict[str, Any]:
            status = await self.health()
            ok = all(status.values())
            response.status_code = 200 if ok else 503
            return {"status": "ok" if ok else "degrade", **status}

        @app.get("/metrics", tags=["exploitation"])
        async def metrics() -> Response:
            return Response(self.metrics.render(), media_type="text/plain; version=0.0.4")

        @app.get("/asyncapi.json", tags=["exploitation"])
        async def asyncapi() -> dict[str, Any]:
            return self.asyncapi(title)

        for router in routers:
            app.include_router(router)
        return app

    def app(self, title: str, *routers: APIRouter, **state: Any) -> FastAPI:
        """The composition root's last line: the HTTP app (see http_app) with `app.state.runtime` and each `state` item
        set (`rt.app("GRD — contrats", router, store=store, handlers=handlers)`: tests reach them as app.state.store...)."""
        app = self.http_app(title, *routers)
        app.state.runtime = self
        for name, value in state.items():
            setattr(app.state, name, value)
        return app


def _real(store: Aggregates) -> AggregateStore:
    """The runtime commits to real stores only (a fake store belongs with testing.MemoryKit)."""
    if not isinstance(store, AggregateStore):
        raise TypeError(f"Runtime.commit needs an AggregateStore, not {type(store).__name__} (use platform_kit.testing.MemoryKit with fakes)")
    return store
