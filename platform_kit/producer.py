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

log = logging.getLogger(__name__)

Record = tuple[str, bytes, bytes | None, dict[str, str]]
_NEEDS_NEW_PRODUCER = (OutOfOrderSequenceNumber, UnknownProducerId, ProducerFenced, InvalidProducerEpoch, ProducerClosed)


class Producer:
    """Sends records in order and waits for every acknowledgement; resets itself on unrecoverable producer state."""

    def __init__(self, bootstrap_servers: str, client_id: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self.resets = 0

    def _new(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=1,
            request_timeout_ms=15000,
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
        """Enqueue every record (order kept per partition), then wait for every acknowledgement."""
        if self._producer is None:
            await self.start()
        producer = self._producer
        assert producer is not None
        try:
            futures = [
                await producer.send(topic, value, key=key, headers=[(k, v.encode()) for k, v in headers.items()])
                for topic, value, key, headers in records
            ]
            for future in futures:
                await future
        except _NEEDS_NEW_PRODUCER as exc:
            await self._reset(exc)
            raise KafkaError(f"producer reset after {exc!r}; retry") from exc
