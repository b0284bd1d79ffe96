"""A full lane's pause and resume when its partition is no longer this member's (a rebalance in between)."""

from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError

from platform_kit.messaging import Consumer

TP = TopicPartition("t", 0)


class _Client:
    def __init__(self, assigned: bool) -> None:
        self.assigned = assigned
        self.calls: list[str] = []

    def pause(self, tp: TopicPartition) -> None:
        if not self.assigned:
            raise IllegalStateError(f"No current assignment for partition {tp}")
        self.calls.append("pause")

    def resume(self, tp: TopicPartition) -> None:
        if not self.assigned:
            raise IllegalStateError(f"No current assignment for partition {tp}")
        self.calls.append("resume")


def _consumer(client: Any) -> Consumer:
    runtime: Any = SimpleNamespace(settings=SimpleNamespace(service_name="kit-test"))
    consumer = Consumer(runtime, "c", (), None)
    consumer.subscriber = SimpleNamespace(consumer=client) if client is not None else None
    return consumer


def test_a_partition_still_assigned_is_paused_then_resumed() -> None:
    client = _Client(assigned=True)
    consumer = _consumer(client)
    assert consumer._flow(TP, pause=True) is True
    assert consumer._flow(TP, pause=False) is False
    assert client.calls == ["pause", "resume"]


def test_a_revoked_partition_is_neither_paused_nor_resumed_and_the_lane_is_not_left_paused() -> None:
    consumer = _consumer(_Client(assigned=False))
    assert consumer._flow(TP, pause=True) is False  # the lane does not believe itself paused: it would never resume
    assert consumer._flow(TP, pause=False) is False


def test_before_the_subscriber_started_nothing_is_paused() -> None:
    assert _consumer(None)._flow(TP, pause=True) is False
