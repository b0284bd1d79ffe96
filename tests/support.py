"""Test helpers over the real infrastructure: environment, publishing envelopes, reading topics, reading mails."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.base import WireModel
from contracts.envelope import Envelope, new_envelope
from contracts.topics import Topic
from platform_kit.kafka_client import kafka_options
from platform_kit.runtime import Runtime

# Test apps authenticate with the published demo accounts; without demo mode (or GRD_API_ACCOUNTS) a service refuses to start.
os.environ.setdefault("GRD_DEMO_MODE", "1")


def require_env(name: str) -> str:
    """An infrastructure URL from the environment; a missing one FAILS the test run (never skips)."""
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(
            f"{name} is not set: start the infrastructure with `infra/up.sh` and `source .data/env` "
            "(or run `make test`, which does both). Integration tests never skip."
        )
    return value


def bootstrap() -> str:
    """Kafka bootstrap servers of the test infrastructure."""
    return require_env("KAFKA_BOOTSTRAP_SERVERS")


def mongodb_url() -> str:
    """MongoDB-compatible store URL of the test infrastructure."""
    return require_env("MONGODB_URL")


def mail_dir() -> Path:
    """Folder where the SMTP sink stores one .eml per mail."""
    return Path(require_env("SMTP_SINK_DIR"))


class Bus:
    """Publishes envelopes and reads topics from the beginning, as an external system would."""

    def __init__(self) -> None:
        self.producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect the producer."""
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap(), acks="all", enable_idempotence=True, **kafka_options())
        await self.producer.start()

    async def stop(self) -> None:
        """Disconnect."""
        if self.producer:
            await self.producer.stop()

    async def send(self, payload: WireModel, *, fournisseur: str | None, key: str | None = None, **kw: Any) -> Envelope:
        """Wrap a payload in an envelope and publish it on its catalogue topic."""
        from contracts.catalogue import spec_for_model

        env = new_envelope(payload, key=key or str(getattr(payload, "pds", "SANS-PDS")), fournisseur=fournisseur, **kw)
        await self.send_envelope(env, spec_for_model(type(payload)).topic_for(payload).name)
        return env

    async def send_envelope(self, env: Envelope, topic: str) -> None:
        """Publish an already-built envelope (e.g. the same one twice)."""
        await self.send_raw(topic, env.model_dump_json().encode(), env.key.encode())

    async def send_raw(self, topic: str, value: bytes, key: bytes | None) -> None:
        """Publish raw bytes (malformed messages)."""
        assert self.producer is not None
        await self.producer.send_and_wait(topic, value, key=key)


async def read_topic(topic: str, *, timeout: float = 2.0) -> list[tuple[dict[str, Any] | None, dict[str, str], bytes]]:
    """Every record of a topic from the beginning: (decoded JSON or None, headers, raw value)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap(), enable_auto_commit=False, auto_offset_reset="earliest", **kafka_options())
    await consumer.start()
    try:
        await consumer._client._metadata_update(consumer._client.cluster, [topic])
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            raise AssertionError(f"topic {topic} does not exist")
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: list[tuple[dict[str, Any] | None, dict[str, str], bytes]] = []
        deadline = time.monotonic() + timeout + 10
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= end[tp] for pos, tp in zip(positions, tps, strict=True)):
                break
            batch = await consumer.getmany(timeout_ms=int(timeout * 1000))
            for records in batch.values():
                for r in records:
                    try:
                        data = json.loads(r.value) if r.value else None
                    except ValueError:
                        data = None
                    headers = {k: v.decode(errors="replace") for k, v in (r.headers or [])}
                    out.append((data if isinstance(data, dict) else None, headers, r.value or b""))
        return out
    finally:
        await consumer.stop()


async def wait_for_messages(
    topic: str, predicate: Callable[[dict[str, Any]], bool], *, count: int = 1, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Poll a topic until at least `count` JSON messages match, then return the matches (fails on timeout)."""
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = [d for d, _h, _v in await read_topic(topic) if d is not None and predicate(d)]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.5)
    raise AssertionError(f"expected {count} message(s) on {topic}, found {len(found)} after {timeout}s")


def mails(predicate: Callable[[EmailMessage], bool] | None = None) -> list[EmailMessage]:
    """Every mail the SMTP sink stored (optionally filtered)."""
    out = []
    for path in sorted(mail_dir().glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        if predicate is None or predicate(msg):
            out.append(msg)
    return out


async def wait_for_mails(predicate: Callable[[EmailMessage], bool], *, count: int = 1, timeout: float = 60.0) -> list[EmailMessage]:
    """Wait until at least `count` stored mails match."""
    deadline = time.monotonic() + timeout
    found: list[EmailMessage] = []
    while time.monotonic() < deadline:
        found = mails(predicate)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.5)
    raise AssertionError(f"expected {count} mail(s), found {len(found)} after {timeout}s")


def unique_db(prefix: str) -> str:
    """A fresh database name for an isolated integration test."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


async def skip_history(group_id: str, topics: Sequence[Topic]) -> None:
    """Commit a fresh consumer group at the end of its topics, so an isolated test app ignores earlier traffic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap(), group_id=group_id, enable_auto_commit=False, **kafka_options())
    await consumer.start()
    try:
        tps = [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.commit(dict(ends))
    finally:
        await consumer.stop()


async def skip_runtime_history(rt: Runtime) -> None:
    """skip_history for every consumer group of a runtime (call it before `rt.start()`)."""
    for consumer in rt.consumers:
        await skip_history(consumer.group_id, consumer.topics)
