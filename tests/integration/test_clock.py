"""The controlled clock over the real Kafka: every runtime follows the published offset, without restart nor sleep."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from contracts.common import OperationTechnique
from contracts.evenements import TeleOperationDemandeeV1
from contracts.topics import SI_RESULTATS
from demo_data.generator import pds_reference
from platform_kit.clock import Clock, ClockControl, avancer, decalage_publie, publier_decalage
from platform_kit.runtime import Runtime
from simulators.si_comptage.app import create_app
from simulators.si_comptage.settings import Settings
from tests.support import Bus, bootstrap, unique_db, wait_for_messages

pytestmark = pytest.mark.integration


async def attendre(clock: Clock, decalage: timedelta) -> None:
    for _ in range(200):
        if clock.decalage == decalage:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"clock offset {clock.decalage} != {decalage}")


async def test_clocks_follow_the_offset_of_their_own_name_only() -> None:
    nom, autre = f"essai-{uuid.uuid4().hex[:6]}", f"autre-{uuid.uuid4().hex[:6]}"
    suit, ignore = Clock(controle=ClockControl(bootstrap(), nom)), Clock(controle=ClockControl(bootstrap(), autre))
    taches = [asyncio.create_task(suit.run()), asyncio.create_task(ignore.run())]
    try:
        await asyncio.wait_for(suit.ready.wait(), 30)
        avant = suit.today()
        assert await avancer(bootstrap(), timedelta(days=8), nom) == timedelta(days=8)
        await attendre(suit, timedelta(days=8))
        assert suit.today() == avant + timedelta(days=8)
        assert ignore.decalage == timedelta(0)
        assert await decalage_publie(bootstrap(), nom) == timedelta(days=8)
        # A clock started later (a restarted service) catches up with the offset from the topic.
        tard = Clock(controle=ClockControl(bootstrap(), nom))
        taches.append(asyncio.create_task(tard.run()))
        await asyncio.wait_for(tard.ready.wait(), 30)
        assert tard.decalage == timedelta(days=8)
    finally:
        for tache in taches:
            tache.cancel()
        await asyncio.gather(*taches, return_exceptions=True)


async def test_a_running_service_acts_on_the_moved_date() -> None:
    nom = f"essai-{uuid.uuid4().hex[:6]}"
    settings = Settings(
        service_name=f"si_comptage-horloge-{uuid.uuid4().hex[:6]}",
        database=unique_db("grd_si_comptage"),
        consumer_offset_reset="latest",
        clock_control=True,
        clock_name=nom,
    )
    app = create_app(settings)
    rt: Runtime = app.state.runtime
    await rt.start()
    await rt.wait_ready()
    bus = Bus()
    await bus.start()
    try:
        dans_huit_jours = Clock().today() + timedelta(days=8)
        await publier_decalage(bootstrap(), timedelta(days=8), nom)
        await attendre(rt.clock, timedelta(days=8))
        cmd = TeleOperationDemandeeV1(
            reference_affaire=f"H{uuid.uuid4().hex[:10].upper()}",
            pds=pds_reference(39),
            compteur="CPT",
            operation=OperationTechnique.CHANGEMENT_FOURNISSEUR,
            date_effet=dans_huit_jours,
        )
        await bus.send(cmd, fournisseur="LUMEN")
        [res] = await wait_for_messages(
            SI_RESULTATS.name, lambda m: m["payload"].get("reference_affaire") == cmd.reference_affaire, timeout=30
        )
        assert res["payload"]["succes"] is True
        assert res["payload"]["date_realisation"] == dans_huit_jours.isoformat()
    finally:
        await bus.stop()
        await rt.mongo.drop_database(settings.database_name)
        await rt.stop()
