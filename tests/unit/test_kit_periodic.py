"""The one periodic-job loop: full passes, back-off after failures, wake-up when the platform clock moves, shutdown."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from platform_kit.clock import Clock
from platform_kit.periodic import Periodic


class Recorder:
    """A job that records its `full` flags, fails on the runs listed, and stops the test after `stop_after` runs."""

    def __init__(self, fail_on: set[int] | None = None, stop_after: int = 4) -> None:
        self.fulls: list[bool] = []
        self.fail_on = fail_on or set()
        self.stop_after = stop_after
        self.done = asyncio.Event()

    async def __call__(self, full: bool) -> None:
        self.fulls.append(full)
        if len(self.fulls) >= self.stop_after:
            self.done.set()
        if len(self.fulls) in self.fail_on:
            raise RuntimeError(f"échec {len(self.fulls)}")


async def run_until_done(periodic: Periodic, job: Recorder, sleeps: list[float]) -> None:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0)

    task = asyncio.create_task(periodic.run(sleep))
    await job.done.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_first_run_is_a_full_pass_then_incremental_ones_until_the_full_interval() -> None:
    job, sleeps = Recorder(stop_after=3), list[float]()
    await run_until_done(Periodic("echeances", 5, job, full_every_s=3600), job, sleeps)
    assert job.fulls[:3] == [True, False, False] and sleeps[:2] == [5, 5]


async def test_without_full_interval_every_run_is_full() -> None:
    job, sleeps = Recorder(stop_after=2), list[float]()
    await run_until_done(Periodic("purge", 3600, job), job, sleeps)
    assert job.fulls[:2] == [True, True]


async def test_a_failed_full_pass_is_tried_again_in_full_after_a_growing_delay(caplog: pytest.LogCaptureFixture) -> None:
    job, sleeps = Recorder(fail_on={1, 2}, stop_after=4), list[float]()
    with caplog.at_level(logging.WARNING, logger="platform_kit.periodic"):
        await run_until_done(Periodic("echeances", 5, job, full_every_s=3600, max_backoff_s=60), job, sleeps)
    assert job.fulls[:4] == [True, True, True, False]
    assert sleeps[:3] == [10, 20, 5]
    failures = [r for r in caplog.records if "run failed" in r.getMessage()]
    assert len(failures) == 2 and failures[0].exc_info is not None and failures[1].exc_info is None


def test_the_back_off_is_capped_and_never_below_the_interval() -> None:
    periodic = Periodic("x", 5, Recorder(), max_backoff_s=30)
    assert [periodic.delay_after(n) for n in range(6)] == [5, 10, 20, 30, 30, 30]
    assert Periodic("lent", 3600, Recorder(), max_backoff_s=60).delay_after(3) == 3600


async def test_moving_the_clock_wakes_a_job_that_sleeps_for_an_hour() -> None:
    clock = Clock()
    job = Recorder(stop_after=2)
    task = asyncio.create_task(Periodic("echeances", 3600, job).run(clock.attendre_changement))
    while len(job.fulls) < 1:
        await asyncio.sleep(0)
    clock.avancer(timedelta(days=8))
    await job.done.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert job.fulls == [True, True]


async def test_the_clock_wait_times_out_when_nothing_moves_and_setting_the_same_offset_is_no_change() -> None:
    clock = Clock()
    clock.regler(timedelta(0))
    assert await clock.attendre_changement(0) is False
