"""One loop for the periodic jobs of the services (due dates, purges): interval, clock wake-up, failures, shutdown.

A job is `async def job(full: bool) -> object`: `full` says a full pass is due (the first run, then every
`full_every_s`; always True without it), for jobs that read a small agenda most of the time and every document now
and then (a crash between an aggregate write and its agenda write is caught up there). Register it with
`Runtime.every(name, interval_s, job, ...)`; the runtime starts it once the store is ready (and, by default, the
broker connected) and cancels it at stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

Job = Callable[[bool], Awaitable[object]]


#: How the loop waits between runs: `await sleep(seconds)` returns early when something asks for a run sooner
#: (the platform clock moved: `Clock.attendre_changement`). Returns anything.
Sleep = Callable[[float], Awaitable[object]]


@dataclass(frozen=True)
class Periodic:
    """A job run every `interval_s` seconds until cancelled.

    A failed run is logged (with its traceback the first time in a row) and retried after a delay doubling from
    `interval_s` up to `max_backoff_s` (never below `interval_s`); a success resets it. A full pass counts as done
    only when its run succeeded.
    """

    name: str
    interval_s: float
    job: Job
    full_every_s: float | None = None
    max_backoff_s: float = 60.0

    def delay_after(self, failures: int) -> float:
        """Seconds to wait after a run, given how many runs failed in a row (0: the run succeeded)."""
        if failures == 0:
            return self.interval_s
        return max(self.interval_s, min(self.interval_s * 2.0**failures, self.max_backoff_s))

    async def run(self, sleep: Sleep = asyncio.sleep) -> None:
        """Run the job forever (until cancelled), waiting with `sleep` between runs."""
        loop = asyncio.get_running_loop()
        last_full = float("-inf")
        failures = 0
        while True:
            full = self.full_every_s is None or loop.time() - last_full >= self.full_every_s
            try:
                await self.job(full)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                if failures == 1:
                    log.warning("%s: run failed, retrying", self.name, exc_info=True)
                else:
                    log.warning("%s: run failed again (%d in a row): %r", self.name, failures, exc)
            else:
                if failures:
                    log.info("%s: running again after %d failed runs", self.name, failures)
                failures = 0
                if full:
                    last_full = loop.time()
            await sleep(self.delay_after(failures))
