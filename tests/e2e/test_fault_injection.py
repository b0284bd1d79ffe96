"""Short fault-injection run (the long one: `python -m devtools.fault_run --demands 2000`): two instances of every
service, SIGKILLs of instances, of Kafka and of the store; demands of every process type; one outcome per demand and
final states that agree across services."""

from collections.abc import Iterator

import pytest

from devtools.fault_run import run
from devtools.processes import SCALABLE, Platform, ServiceProcess
from tests.e2e import test_walking_skeleton
from tests.e2e.conftest import SEED_COUNT

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]


@pytest.fixture
def second_instances(platform: Platform) -> Iterator[list[ServiceProcess]]:
    """A second instance of every service beside the session's first (same database, same consumer groups)."""
    extra = [platform.add_instance(name) for name in SCALABLE]
    for sp in extra:
        sp.start()
    for sp in extra:
        sp.wait_healthy()  # GRD_HEALTH_TIMEOUT_S
    yield extra
    for sp in extra:
        sp.stop()
        del platform.processes[sp.label]


async def test_demands_of_every_kind_survive_sigkills_of_instances_broker_and_store(
    platform: Platform, second_instances: list[ServiceProcess]
) -> None:
    report = await run(
        platform,
        demands=120,
        seed_count=SEED_COUNT,
        kills_per_service=2,
        seed=11,
        timeout=300,
        exclude=test_walking_skeleton._used,
    )
    print(report.render())
    assert len(platform.instances_of("contrats")) == 2
    assert report.failures == [], report.render()
