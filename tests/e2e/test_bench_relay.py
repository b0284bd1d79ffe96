"""The benchmark's competent relay, short: 20 demands through its three processes produce every effect, once."""

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from devtools import raw_relay
from devtools.bench_e2e import mixed_demands, relay_system, run_phase
from devtools.processes import ROOT
from platform_kit.kafka_client import kafka_options
from tests.support import bootstrap, mail_dir, mongodb_url

pytestmark = pytest.mark.e2e

SEEDED = 300
DEMANDS = 20
PARTITIONS = 4


async def _committed_everywhere(run: str) -> dict[str, tuple[int, int]]:
    """Per stage: (offsets committed by its group, records in its input topics)."""
    out: dict[str, tuple[int, int]] = {}
    inputs = {"referentiel": ["demandes"], "affaires": ["qualifiees"], "notifications": ["resultats", "affaires"]}
    for stage, suffixes in inputs.items():
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap(), group_id=f"relay-{run}-{stage}", enable_auto_commit=False, **kafka_options())
        await consumer.start()
        try:
            tps = [TopicPartition(raw_relay.topic(run, s), p) for s in suffixes for p in range(raw_relay.PARTITIONS)]
            ends = await consumer.end_offsets(tps)
            committed = [await consumer.committed(tp) or 0 for tp in tps]
            out[stage] = (sum(committed), sum(ends.values()))
        finally:
            await consumer.stop()
    return out


async def test_competent_relay_produces_every_effect_of_every_demand(tmp_path: Path) -> None:
    """Every demand gets its outcome, opening, e-mail, "e-mail sent" event and follow-up; writes as the platform's."""
    bootstrap(), mail_dir()
    run_id = f"relay{uuid.uuid4().hex[:6]}"
    pds_db = f"grd_{run_id}_referentiel"
    env = dict(os.environ, REFERENTIEL_DATABASE=pds_db, REFERENTIEL_PARTITIONS=str(PARTITIONS))
    seed = [sys.executable, "-m", "services.referentiel.seed", "--count", str(SEEDED)]
    await asyncio.to_thread(subprocess.run, seed, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    run = uuid.uuid4().hex[:6]
    await raw_relay.create_topics(run)
    procs = raw_relay.start_stages(run, pds_db, PARTITIONS, tmp_path)
    try:
        phase = await run_phase(relay_system(run), mixed_demands(DEMANDS, SEEDED), None, 120)
        # Handled records' offsets are committed in batches, the tail by the 0.5 s timer: wait for it (bounded).
        for _ in range(50):
            committed = await _committed_everywhere(run)
            if all(c == e for c, e in committed.values()):
                break
            await asyncio.sleep(0.2)
    finally:
        counts = await asyncio.to_thread(raw_relay.stop_stages, procs, tmp_path)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url())
    try:
        db = mongo[raw_relay.database(run)]
        stored = {name: await db[name].count_documents({}) for name in ("audit", "qualifications", "affaires", "mails", "suivis")}
        outboxes_left = sum([await db[name].count_documents({"outbox.0": {"$exists": True}}) for name in ("qualifications", "affaires", "mails")])
        await mongo.drop_database(raw_relay.database(run))
        await mongo.drop_database(pds_db)
    finally:
        await mongo.close()
        await raw_relay.create_topics(run, create=False)

    assert phase.complete == DEMANDS, f"effects observed: {phase.last}, {phase.complete}/{DEMANDS} complete"
    assert len(phase.outcome_ms) == DEMANDS
    assert stored == {"audit": DEMANDS, "qualifications": DEMANDS, "affaires": DEMANDS, "mails": DEMANDS, "suivis": DEMANDS}
    assert outboxes_left == 0
    # The platform's writes per demand (référentiel 3, affaires 2, notifications 3) and its one business read (the PDS).
    per_stage = {(stage, command): 0 for stage, command, _ in counts}
    for (stage, command, _), n in counts.items():
        per_stage[(stage, command)] += n
    assert per_stage.get(("relay referentiel", "find")) == DEMANDS
    assert per_stage.get(("relay referentiel", "insert")) == 2 * DEMANDS
    assert per_stage.get(("relay referentiel", "update")) == DEMANDS
    assert per_stage.get(("relay affaires", "insert")) == DEMANDS
    assert per_stage.get(("relay affaires", "update")) == DEMANDS
    assert per_stage.get(("relay notifications", "insert")) == 2 * DEMANDS
    assert per_stage.get(("relay notifications", "update")) == DEMANDS
    assert all(c == e for c, e in committed.values()), committed
