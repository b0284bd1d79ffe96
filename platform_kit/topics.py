"""Create the platform's Kafka topics from the registry: `python -m platform_kit.topics create`."""

import argparse
import asyncio
import os

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.topics import ALL_TOPICS


async def create_topics(bootstrap: str) -> list[str]:
    """Create missing topics with their registered partition counts; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in ALL_TOPICS if t.name not in existing]
        if missing:
            await admin.create_topics([NewTopic(t.name, t.partitions, 1) for t in missing])
        return [t.name for t in missing]
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
