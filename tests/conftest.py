"""Shared fixtures: the real-infrastructure bus for integration and end-to-end tests."""

from collections.abc import AsyncIterator

import pytest

from tests.support import Bus


@pytest.fixture(scope="session")
async def bus() -> AsyncIterator[Bus]:
    """A producer on the real Kafka broker (fails the run when KAFKA_BOOTSTRAP_SERVERS is missing)."""
    b = Bus()
    await b.start()
    yield b
    await b.stop()
