"""Create the platform's Kafka topics from the registry: `python -m platform_kit.topics create`."""

import argparse
import asyncio
import os
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from contracts.topics import ALL_TOPICS, Topic
from platform_kit.kafka_client import kafka_options

#: Largest record a producer of ours sends (platform_kit.settings.max_message_bytes has the same default): a
#: réclamation's 2 MB attachment is 2.8 MB of base64, and the qualified demand carries it again.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

#: Configuration of every topic. `max.message.bytes` is above the producers' limit (headers, batch overhead), so a
#: record our producers accept is never refused by the topic. `LogAppendTime`: the record timestamp is the broker's
#: append time, monotonic within a partition, which lets an aggregate tell a redelivered record from a new record of
#: a recreated topic (platform_kit.store.Loaded.applied), and gives decisions a receipt time nobody can forge.
TOPIC_CONFIG = {"max.message.bytes": str(MAX_MESSAGE_BYTES + 256 * 1024), "message.timestamp.type": "LogAppendTime"}


async def create_topics(bootstrap: str, topics: Sequence[Topic] = ALL_TOPICS) -> list[str]:
    """Create missing topics with their registered partition counts, align every topic's config; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if missing:
            # KAFKA_REPLICATION_FACTOR=3 on the 3-node cluster (infra/kafka_cluster.sh; min.insync.replicas 2 there).
            rf = int(os.environ.get("KAFKA_REPLICATION_FACTOR", "1"))
            await admin.create_topics([NewTopic(t.name, t.partitions, rf, topic_configs=dict(TOPIC_CONFIG)) for t in missing])
        present = [t for t in topics if t.name in existing]
        if present:
            await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, t.name, configs=dict(TOPIC_CONFIG)) for t in present])
        return [t.name for t in missing]
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: Sequence[str]) -> list[str]:
    """Delete those of these topics that exist; return the names deleted."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_options())
    await admin.start()
    try:
        present = [n for n in names if n in set(await admin.list_topics())]
        if present:
            await admin.delete_topics(present)
        return present
    finally:
        await admin.close()


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["create", "list"])
    args = parser.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    if args.command == "list":
        for t in ALL_TOPICS:
            print(f"{t.name}\t{t.partitions}\t{t.description}")
        return
    created = asyncio.run(create_topics(bootstrap))
    print(f"topics: {len(created)} created, {len(ALL_TOPICS) - len(created)} already present")


if __name__ == "__main__":
    main()
