"""The meter head-end simulator against the real Kafka and FerretDB: one result per command, per-meter state, losses."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from contracts.common import OperationTechnique
from contracts.envelope import new_envelope
from contracts.evenements import TeleOperationDemandeeV1
from contracts.topics import SI_COMMANDES, SI_RESULTATS
from demo_data.generator import pds_reference
from platform_kit.clock import Clock
from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore
from simulators.si_comptage.app import create_app
from simulators.si_comptage.settings import Settings
from tests.support import Bus, unique_db, wait_for_messages

pytestmark = pytest.mark.integration
EN_ECHEC = pds_reference(34)
AUJOURDHUI = Clock().today()


@pytest.fixture(scope="module")
async def simulateur() -> AsyncIterator[FastAPI]:
    """An isolated simulator instance whose PDS 34 always fails."""
    settings = Settings(
        service_name=f"si_comptage-test-{uuid.uuid4().hex[:6]}",
        database=unique_db("grd_si_comptage"),
        pds_en_echec=(EN_ECHEC,),
        consumer_offset_reset="latest",
    )
    app = create_app(settings)
    rt: Runtime = app.state.runtime
    await rt.start()
    await rt.wait_ready()
    yield app
    await rt.mongo.drop_database(settings.database_name)
    await rt.stop()


def commande(pds: str, op: OperationTechnique = OperationTechnique.CHANGEMENT_FOURNISSEUR, **kw: Any) -> TeleOperationDemandeeV1:
    base = {
        "reference_affaire": f"T{uuid.uuid4().hex[:10].upper()}",
        "pds": pds,
        "compteur": "CPT",
        "operation": op,
        "date_effet": AUJOURDHUI,
    }
    return TeleOperationDemandeeV1.model_validate(base | kw)


async def resultats(ref: str, count: int = 1) -> list[dict[str, Any]]:
    return await wait_for_messages(
        SI_RESULTATS.name,
        lambda m: m.get("type") == "ResultatTeleOperation" and m["payload"]["reference_affaire"] == ref,
        count=count,
        timeout=30,
    )


async def test_success_with_a_real_index_of_the_day_and_redelivery_gives_the_same_result(simulateur: FastAPI, bus: Bus) -> None:
    cmd = commande(pds_reference(35))
    env = new_envelope(cmd, key=cmd.pds, fournisseur="LUMEN")
    await bus.send_envelope(env, SI_COMMANDES.name)
    await bus.send_envelope(env, SI_COMMANDES.name)
    [first] = await resultats(cmd.reference_affaire)
    assert first["payload"]["succes"] is True
    assert first["payload"]["date_realisation"] == AUJOURDHUI.isoformat()
    assert first["payload"]["index"] and first["payload"]["tentative"] == 1
    assert first["causation_id"] == str(env.message_id)
    await asyncio.sleep(2)
    assert {m["message_id"] for m in await resultats(cmd.reference_affaire)} == {first["message_id"]}


async def test_configured_pds_fails(simulateur: FastAPI, bus: Bus) -> None:
    cmd = commande(EN_ECHEC)
    await bus.send(cmd, fournisseur="LUMEN")
    [res] = await resultats(cmd.reference_affaire)
    assert res["payload"]["succes"] is False and res["payload"]["motif_echec"]


async def test_the_meter_keeps_its_state_between_operations(simulateur: FastAPI, bus: Bus) -> None:
    pds = pds_reference(36)
    cessation = commande(pds, OperationTechnique.CESSATION)
    await bus.send(cessation, fournisseur="LUMEN")
    [coupe] = await resultats(cessation.reference_affaire)
    assert coupe["payload"]["succes"] is True
    cf = commande(pds)
    await bus.send(cf, fournisseur="LUMEN")
    [refuse] = await resultats(cf.reference_affaire)
    assert refuse["payload"]["succes"] is False and "coupé" in refuse["payload"]["motif_echec"]
    mes = commande(pds, OperationTechnique.MISE_EN_SERVICE)
    await bus.send(mes, fournisseur="LUMEN")
    [remis] = await resultats(mes.reference_affaire)
    assert remis["payload"]["succes"] is True and remis["payload"]["index"] == coupe["payload"]["index"]


async def test_a_command_for_a_later_day_is_not_executed(simulateur: FastAPI, bus: Bus) -> None:
    cmd = commande(pds_reference(37), date_effet=AUJOURDHUI + timedelta(days=7))
    await bus.send(cmd, fournisseur="LUMEN")
    [res] = await resultats(cmd.reference_affaire)
    assert res["payload"]["succes"] is False and res["payload"]["date_realisation"] is None


async def test_a_lost_command_is_applied_but_never_answered() -> None:
    # Another simulator (the module's) consumes the same commands: this one's store tells what it did with them.
    settings = Settings(
        service_name=f"si_comptage-perte-{uuid.uuid4().hex[:6]}",
        database=unique_db("grd_si_comptage"),
        taux_perte=1.0,
        consumer_offset_reset="latest",
    )
    app = create_app(settings)
    rt: Runtime = app.state.runtime
    await rt.start()
    await rt.wait_ready()
    bus = Bus()
    await bus.start()
    try:
        cmd = commande(pds_reference(38))
        env = await bus.send(cmd, fournisseur="LUMEN")
        store = AggregateStore.partitioned(rt.db, "compteurs", 16)
        for _ in range(60):
            loaded = await store.load(cmd.pds)
            if str(env.message_id) in loaded.inbox:
                break
            await asyncio.sleep(0.5)
        assert str(env.message_id) in loaded.inbox, "the command was consumed"
        assert loaded.outbox == {} and "etat" not in loaded.state, "lost: no answer queued, the meter untouched"
    finally:
        await bus.stop()
        await rt.mongo.drop_database(settings.database_name)
        await rt.stop()
