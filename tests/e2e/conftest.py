"""End-to-end fixture: the whole platform as separate OS processes on the real Kafka, FerretDB and SMTP sink."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.processes import ROOT, Platform
from tests.support import bootstrap, mail_dir, mongodb_url

SEED_COUNT = 3000


@pytest.fixture(scope="session")
def platform() -> Iterator[Platform]:
    """Seed every service's database, start the six processes, wait for /health 200 on each; stop them at the end."""
    bootstrap(), mongodb_url(), mail_dir()  # fail fast (never skip) when the infrastructure is missing
    run_id = f"e2e{uuid.uuid4().hex[:6]}"
    offset = int(os.environ.get("GRD_TEST_PORT_OFFSET", "0"))
    p = Platform(run_id, Path(os.environ.get("GRD_DATA_DIR", ROOT / ".data")) / "logs" / run_id, port_offset=offset)
    p.seed(SEED_COUNT)
    p.start()
    yield p
    p.stop()
