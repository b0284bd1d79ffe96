"""Benchmark of the notifications service: e-mails/s of raw aiosmtplib sends vs. the full path (render + send + record).

Run: python scripts/bench_notifications.py [--count 300] [--real-sink]

By default a private copy of the local SMTP sink (infra/smtp_sink.py: one fsynced .eml per mail) is started on a
free port with a temporary folder, so the benchmark does not flood the shared sink the tests read; --real-sink
uses SMTP_HOST/SMTP_PORT instead. Kafka and the MongoDB-compatible store come from the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
from aiokafka import AIOKafkaConsumer, TopicPartition

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contracts import topics  # noqa: E402
from contracts.envelope import new_envelope  # noqa: E402
from contracts.evenements import DemandeAccepteeV1  # noqa: E402
from platform_kit.kafka_client import kafka_options  # noqa: E402
from platform_kit.messaging import HandlerContext  # noqa: E402
from platform_kit.runtime import Runtime  # noqa: E402
from services.notifications.app import create_app  # noqa: E402
from services.notifications.domain import message_id_mail  # noqa: E402
from services.notifications.handlers import Notifications  # noqa: E402
from services.notifications.settings import Settings  # noqa: E402

CONSUMED = (topics.DEMANDES_RESULTATS, topics.AFFAIRES_EVENEMENTS, topics.INTERVENTIONS_EVENEMENTS, topics.CONTRATS_EVENEMENTS)


def free_port() -> int:
    """A TCP port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def private_sink() -> AsyncIterator[int]:
    """Run infra/smtp_sink.py on a free port with a temporary folder; yield the port."""
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "infra" / "smtp_sink.py"),
            "--port",
            str(port),
            "--dir",
            folder,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    break
                except OSError:
                    await asyncio.sleep(0.1)
            yield port
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 10)


async def skip_history(settings: Settings) -> None:
    """Start the bench's consumer group at the end of its topics, so it handles only the bench's events."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=f"{settings.service_name}.mails", enable_auto_commit=False, **kafka_options()
    )
    await consumer.start()
    try:
        tps = [TopicPartition(t.name, p) for t in CONSUMED for p in range(t.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        await consumer.commit({tp: await consumer.position(tp) for tp in tps})
    finally:
        await consumer.stop()


def message(i: int) -> EmailMessage:
    """A small French e-mail like the ones the service sends."""
    msg = EmailMessage()
    msg["From"] = "portail-fournisseurs@grd.example"
    msg["To"] = "gestion@lumen.example"
    msg["Subject"] = f"[GRD] Demande enregistrée – affaire BENCH{i:05d}"
    msg["Message-ID"] = f"<bench-{uuid.uuid4()}@notifications.grd.local>"
    msg.set_content("Bonjour,\n\nVotre demande a bien été enregistrée.\n")
    return msg


async def raw_one_connection_per_mail(host: str, port: int, count: int) -> float:
    """aiosmtplib.send per mail (what the service does): e-mails/s."""
    start = time.perf_counter()
    for i in range(count):
        await aiosmtplib.send(message(i), hostname=host, port=port, start_tls=False)
    return count / (time.perf_counter() - start)


async def raw_reused_connection(host: str, port: int, count: int) -> float:
    """One SMTP session for every mail (upper bound of a pooled sender): e-mails/s."""
    start = time.perf_counter()
    async with aiosmtplib.SMTP(hostname=host, port=port, start_tls=False) as smtp:
        for i in range(count):
            await smtp.send_message(message(i))
    return count / (time.perf_counter() - start)


def acceptee(i: int) -> DemandeAccepteeV1:
    """An accepted-demand event for a distinct affaire."""
    return DemandeAccepteeV1(
        demande_message_id=uuid.uuid4(),
        demande_type="DemandeChangementFournisseur",
        reference_affaire=f"ABENCH{i:05d}",
        pds=f"BENCH{i:09d}EC1",
        message="Votre changement de fournisseur est enregistré.",
    )


async def full_path_direct(notifications: Notifications, count: int) -> float:
    """The handler's use case called directly: decide, render, send, record with outbox and publish: e-mails/s."""
    start = time.perf_counter()
    for i in range(count):
        env = new_envelope(acceptee(i), key=f"BENCH{i:09d}EC1", fournisseur="LUMEN")
        await notifications.handle(HandlerContext(env, "bench"), DemandeAccepteeV1.model_validate(env.payload))
    return count / (time.perf_counter() - start)


async def full_path_through_kafka(rt: Runtime, count: int) -> float:
    """Events published on Kafka and consumed by the `mails` consumer until every mail is recorded: e-mails/s."""
    envs = [new_envelope(acceptee(i), key=f"BENCH{i:09d}EC1", fournisseur="LUMEN") for i in range(count)]
    start = time.perf_counter()
    for env in envs:
        await rt.publish(topics.DEMANDES_RESULTATS.name, env)
    # Polling by _id keeps the measuring cheap: a count over the collection would compete with the consumer.
    remaining = [message_id_mail(env.message_id, "demande_acceptee") for env in envs]
    deadline = time.monotonic() + 600
    while remaining:
        if await rt.db["mails"].find_one({"_id": remaining[-1], "status": "sent"}, {"_id": 1}):
            remaining.pop()
            continue
        if time.monotonic() > deadline:
            raise TimeoutError("the consumer did not send every e-mail within 10 minutes")
        await asyncio.sleep(0.2)
    return count / (time.perf_counter() - start)


def mean_handler_ms(rt: Runtime) -> float:
    """Mean latency of the `mails` handler as measured by the kit (inside the consumer, without inbox and commit)."""
    labels = {"service": rt.metrics.service, "handler": "DemandeAccepteeV1"}
    total = rt.metrics.registry.get_sample_value("grd_handler_seconds_sum", labels) or 0.0
    count = rt.metrics.registry.get_sample_value("grd_handler_seconds_count", labels) or 1.0
    return 1000 * total / count


async def run(count: int, real_sink: bool) -> None:
    """Run the three measures and print them."""
    async with contextlib.AsyncExitStack() as stack:
        base = Settings()
        port = base.smtp_port if real_sink else await stack.enter_async_context(private_sink())
        host = base.smtp_host if real_sink else "127.0.0.1"
        print(f"SMTP sink {host}:{port}, {count} e-mails per measure")
        print(f"raw aiosmtplib, one connection per mail : {await raw_one_connection_per_mail(host, port, count):8.1f} e-mails/s")
        print(f"raw aiosmtplib, one reused connection   : {await raw_reused_connection(host, port, count):8.1f} e-mails/s")
        settings = Settings(
            smtp_host=host,
            smtp_port=port,
            service_name=f"notifications-bench-{uuid.uuid4().hex[:6]}",
            database=f"grd_notifications_bench_{uuid.uuid4().hex[:8]}",
        )
        await skip_history(settings)
        app = create_app(settings)
        rt: Runtime = app.state.runtime
        await rt.start()
        await asyncio.wait_for(rt.broker_ready.wait(), 60)
        try:
            notifications: Notifications = app.state.notifications
            print(f"full path (render + send + record)      : {await full_path_direct(notifications, count):8.1f} e-mails/s")
            print(f"full path through Kafka (consumer)      : {await full_path_through_kafka(rt, count):8.1f} e-mails/s")
            print(f"  mean handler latency in the consumer  : {mean_handler_ms(rt):8.1f} ms")
        finally:
            await rt.mongo.drop_database(settings.database_name)
            await rt.stop()


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=300, help="E-mails per measure.")
    parser.add_argument("--real-sink", action="store_true", help="Use SMTP_HOST/SMTP_PORT instead of a private sink.")
    args = parser.parse_args()
    asyncio.run(run(args.count, args.real_sink))


if __name__ == "__main__":
    main()
