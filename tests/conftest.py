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


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Under the test command (GRD_FORBID_SKIP=1) a skipped test is a failure: a green run must have tested everything."""
    import os

    if os.environ.get("GRD_FORBID_SKIP") == "1" and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped tests are forbidden in this run: {report.longrepr}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Chaos tests (services killed, broker and store restarted) run last, after every other test."""
    items.sort(key=lambda item: item.get_closest_marker("chaos") is not None)
