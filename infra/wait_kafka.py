"""Wait until a Kafka broker answers a metadata request with itself registered (infra/kafka.sh readiness)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time

from aiokafka.admin import AIOKafkaAdminClient

from platform_kit.kafka_client import kafka_options


def _pid_alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _probe(bootstrap: str, request_timeout_ms: int, coordinator: bool) -> dict:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="infra-wait-kafka",
        request_timeout_ms=request_timeout_ms,
        **kafka_options(),
    )
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        if cluster.get("brokers") and coordinator:
            # Also wait for the group coordinator (creates/loads __consumer_offsets on a fresh
            # cluster), so the services' first consumer-group join does not race the broker boot.
            await admin.find_coordinator("infra-wait-kafka")
        return cluster
    finally:
        try:
            await admin.close()
        except Exception:
            pass


async def wait(bootstrap: str, timeout_s: float, pid: int | None, coordinator: bool) -> int:
    deadline = time.monotonic() + timeout_s
    last_error = "no attempt made"
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            print(f"wait_kafka: broker process {pid} exited before becoming ready", file=sys.stderr)
            return 2
        try:
            cluster = await asyncio.wait_for(_probe(bootstrap, 5000, coordinator), timeout=10)
            brokers = cluster.get("brokers") or []
            if brokers:
                print(
                    f"wait_kafka: ready at {bootstrap} (cluster_id={cluster.get('cluster_id')}, "
                    f"brokers={len(brokers)}, controller={cluster.get('controller_id')})"
                )
                return 0
            last_error = "metadata returned no broker yet"
        except Exception as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        await asyncio.sleep(0.5)
    print(f"wait_kafka: not ready after {timeout_s:.0f}s at {bootstrap}: {last_error}", file=sys.stderr)
    return 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds")
    parser.add_argument("--pid", type=int, default=None, help="give up early if this process dies")
    parser.add_argument("--no-coordinator", action="store_true", help="only wait for metadata, not for the group coordinator")
    args = parser.parse_args()
    # aiokafka logs every refused connection at ERROR while the broker boots; keep the output short.
    logging.basicConfig(level=logging.CRITICAL)
    return asyncio.run(wait(args.bootstrap, args.timeout, args.pid, not args.no_coordinator))


if __name__ == "__main__":
    sys.exit(main())
