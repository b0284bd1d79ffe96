"""The composition-root helpers of the Runtime, without a broker or a store: app, index declarations, periodic jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from fastapi import APIRouter
from pymongo import DESCENDING

from contracts.demandes import DemandeDiverseV1
from platform_kit.runtime import Runtime
from platform_kit.settings import KitSettings
from platform_kit.testing import MemoryAggregates, MemoryKit


@pytest.fixture
async def rt() -> AsyncIterator[Runtime]:
    settings = KitSettings(
        KAFKA_BOOTSTRAP_SERVERS="localhost:1", MONGODB_URL="mongodb://localhost:1", service_name="essai", database="essai", demo_mode=True
    )
    runtime = Runtime(settings)
    yield runtime
    await runtime.mongo.close()


def test_app_sets_the_runtime_the_state_and_the_routes(rt: Runtime) -> None:
    router = APIRouter()

    @router.get("/bonjour")
    async def bonjour() -> str:
        return "bonjour"

    store = rt.aggregates("choses")
    app = rt.app("Essai", router, store=store, handlers="h")
    assert app.state.runtime is rt and app.state.store is store and app.state.handlers == "h"
    assert {"/bonjour", "/health", "/metrics", "/asyncapi.json"} <= set(app.openapi()["paths"])


def test_indexes_are_declared_once_each_with_the_relay_index_of_swept_stores(rt: Runtime) -> None:
    swept = rt.aggregates("balayee")
    rt.aggregates("non_balayee", swept=False)
    rt.index(swept, [("cree_le", DESCENDING)])
    rt.index(swept, [("cree_le", DESCENDING)])
    rt.index(rt.db["places"], "titulaire", unique=True)
    assert [s.label for s in rt.indexes.specs] == ["balayee:_pending:1:{}", "balayee:cree_le:-1:{}", "places:titulaire:1:{'unique': True}"]


def test_the_same_keys_with_other_options_are_another_index(rt: Runtime) -> None:
    places = rt.db["places"]
    rt.index(places, "titulaire")
    rt.index(places, "titulaire", unique=True)
    assert len(rt.indexes.specs) == 2


def test_a_periodic_job_is_registered_as_a_background_job(rt: Runtime) -> None:
    async def job(full: bool) -> None:
        return None

    before = len(rt.background)
    periodic = rt.every("echeances", 5, job, full_every_s=600)
    assert len(rt.background) == before + 1
    assert (periodic.name, periodic.interval_s, periodic.full_every_s) == ("echeances", 5, 600)


def test_runtime_today_is_the_platform_clock_s(rt: Runtime) -> None:
    rt.clock.fixer_jour(date(2025, 3, 3))
    assert rt.today() == date(2025, 3, 3) == rt.clock.today()


async def test_the_runtime_commits_to_real_stores_only(rt: Runtime) -> None:
    kit = MemoryKit()
    ctx = kit.context(DemandeDiverseV1(pds="30001234567890EC1", sous_type="x", observations="o", date_souhaitee=date(2025, 1, 9)))
    fake = MemoryAggregates("pds")
    with pytest.raises(TypeError):
        await rt.commit(fake, await fake.load("x"), {}, ctx, [])
