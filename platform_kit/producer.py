"""The one Kafka producer of a service: idempotent, acks=all, and able to replace itself when Kafka loses its state.

aiokafka's idempotent producer never recovers from `OutOfOrderSequenceNumber` (what a broker restart with
in-flight batches leaves behind): every later send fails. Such an error, or a fenced/unknown producer id, makes
this wrapper close the producer and open a fresh one (new producer id, sequences from zero) before the caller
retries. Consumers deduplicate by message id, so a resend after the reset is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    UnknownProducerId,
)

from platform_kit.errors import PERMANENT_KAFKA_ERRORS, PermanentPublishError
from platform_kit.kafka_client import kafka_options

log = logging.getLogger(__name__)

Record = tuple[str, bytes, bytes | None, dict[str, str]]
_NEEDS_NEW_PRODUCER = (OutOfOrderSequenceNumber, UnknownProducerId, ProducerFenced, InvalidProducerEpoch, ProducerClosed)


class Producer:
    """Sends records in order and waits for every acknowledgement; resets itself on unrecoverable producer state."""

    def __init__(self, bootstrap_servers: str, client_id: str, max_request_size: int = 4 * 1024 * 1024) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.client_id = client_id
        self.max_request_size = max_request_size
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self.resets = 0

    def _new(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            **kafka_options(),
            acks="all",
            enable_idempotence=True,
            linger_ms=0,  # no wait for more records: a handler sends its events at once and awaits them
            request_timeout_ms=15000,
            max_request_size=self.max_request_size,
        )

    async def start(self) -> None:
        """Connect (raises when the broker is unreachable)."""
        producer = self._new()
        try:
            await producer.start()
        except Exception:
            await producer.stop()
            raise
        self._producer = producer

    async def stop(self) -> None:
        """Flush and disconnect."""
        if self._producer is not None:
            try:
                await self._producer.stop()
            except Exception:
                log.debug("producer stop failed", exc_info=True)
            self._producer = None

    async def _reset(self, reason: BaseException) -> None:
        async with self._lock:
            log.warning("resetting the Kafka producer after %r", reason)
            self.resets += 1
            await self.stop()
            await self.start()

    async def send_all(self, records: Sequence[Record]) -> None:
        """Enqueue every record (order kept per partition), then wait for every acknowledgement.

        Records refused for what they are (too large, forbidden or invalid topic) do not stop the others: once every
        acknowledgement is in, PermanentPublishError names them. Outages and lost producer state raise as before.
        """
        if self._producer is None:
            await self.start()
        producer = self._producer
        assert producer is not None
        failed: list[tuple[int, BaseException]] = []
        try:
            futures = []
            for index, (topic, value, key, headers) in enumerate(records):
                try:
                    futures.append((index, await producer.send(topic, value, key=key, headers=[(k, v.encode()) for k, v in headers.items()])))
                except PERMANENT_KAFKA_ERRORS as exc:
                    failed.append((index, exc))
            for index, future in futures:
                try:
                    await future
                except PERMANENT_KAFKA_ERRORS as exc:
                    failed.append((index, exc))
        except _NEEDS_NEW_PRODUCER as exc:
            await self._reset(exc)
            raise KafkaError(f"producer reset after {exc!r}; retry") from exc
        if failed:
            raise PermanentPublishError(sorted(failed, key=lambda f: f[0]))
