"""The meter head-end simulator against the real Kafka and FerretDB: one deterministic result per command."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI

from contracts.common import OperationTechnique
from contracts.envelope import new_envelope
from contracts.evenements import TeleOperationDemandeeV1
from contracts.topics import SI_COMMANDES, SI_RESULTATS
from demo_data.generator import pds_reference
from platform_kit.runtime import Runtime
from simulators.si_comptage.app import create_app
from simulators.si_comptage.settings import Settings
from tests.support import Bus, unique_db, wait_for_messages

pytestmark = pytest.mark.integration
EN_ECHEC = pds_reference(34)


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


def commande(pds: str) -> TeleOperationDemandeeV1:
    return TeleOperationDemandeeV1(
        reference_affaire=f"T{uuid.uuid4().hex[:10].upper()}",
        pds=pds,
        compteur="CPT",
        operation=OperationTechnique.CHANGEMENT_FOURNISSEUR,
        date_effet=date(2026, 12, 1),
    )


async def resultats(ref: str, count: int = 1) -> list[dict[str, Any]]:
    return await wait_for_messages(
        SI_RESULTATS.name,
        lambda m: m.get("type") == "ResultatTeleOperation" and m["payload"]["reference_affaire"] == ref,
        count=count,
        timeout=30,
    )


async def test_success_with_a_real_index_and_redelivery_gives_the_same_result(simulateur: FastAPI, bus: Bus) -> None:
    cmd = commande(pds_reference(35))
    env = new_envelope(cmd, key=cmd.pds, fournisseur="LUMEN")
    await bus.send_envelope(env, SI_COMMANDES.name)
    await bus.send_envelope(env, SI_COMMANDES.name)
    [first] = await resultats(cmd.reference_affaire)
    assert first["payload"]["succes"] is True
    assert first["payload"]["date_realisation"] == "2026-12-01"
    assert first["payload"]["index"]
    assert first["causation_id"] == str(env.message_id)
    await asyncio.sleep(2)
    assert {m["message_id"] for m in await resultats(cmd.reference_affaire)} == {first["message_id"]}


async def test_configured_pds_fails(simulateur: FastAPI, bus: Bus) -> None:
    cmd = commande(EN_ECHEC)
    await bus.send(cmd, fournisseur="LUMEN")
    [res] = await resultats(cmd.reference_affaire)
    assert res["payload"]["succes"] is False and res["payload"]["motif_echec"]
