"""Short fault-injection run (the long one: `python -m devtools.fault_run --demands 2000`): nothing lost, nothing doubled."""

import pytest

from devtools.fault_run import run
from devtools.processes import Platform
from tests.e2e import test_walking_skeleton
from tests.e2e.conftest import SEED_COUNT

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]


async def test_mixed_demands_survive_sigkills_and_broker_and_store_restarts(platform: Platform) -> None:
    report = await run(
        platform,
        demands=120,
        seed_count=SEED_COUNT,
        kills_per_service=2,
        seed=11,
        timeout=300,
        exclude=frozenset(test_walking_skeleton._used),
    )
    print(report.render())
    assert report.failures == [], report.render()
