"""Supervised background tasks: a failure is counted and the task runs again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from hub.federation.supervisor import Supervisor


async def test_a_task_that_fails_runs_again_and_is_counted() -> None:
    restarts: dict[str, int] = {}
    supervisor = Supervisor(restarts, first_pause=0.001, max_pause=0.002)
    runs = 0
    steady = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise RuntimeError(f"failure {runs}")
        steady.set()
        await asyncio.Event().wait()

    supervisor.start("flaky", flaky)
    await asyncio.wait_for(steady.wait(), 10.0)
    await supervisor.stop()
    assert (runs, restarts) == (4, {"flaky": 3})


async def test_a_task_that_returns_is_started_again() -> None:
    restarts: dict[str, int] = {}
    supervisor = Supervisor(restarts, first_pause=0.001, max_pause=0.002)
    second = asyncio.Event()
    runs = 0

    async def quits() -> None:
        nonlocal runs
        runs += 1
        if runs == 2:
            second.set()
            await asyncio.Event().wait()

    supervisor.start("quits", quits)
    await asyncio.wait_for(second.wait(), 10.0)
    await supervisor.stop()
    assert restarts == {"quits": 1}


async def test_stop_cancels_every_task() -> None:
    supervisor = Supervisor({})
    cancelled = asyncio.Event()
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    supervisor.start("forever", forever)
    await asyncio.wait_for(started.wait(), 10.0)
    await supervisor.stop()
    assert cancelled.is_set()


async def test_a_task_cancelled_by_its_owner_stops_for_good_and_alone() -> None:
    restarts: dict[str, int] = {}
    supervisor = Supervisor(restarts, first_pause=0.001, max_pause=0.002)
    started = {"owned": asyncio.Event(), "other": asyncio.Event()}
    runs = {"owned": 0, "other": 0}

    def waiting(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            runs[name] += 1
            started[name].set()
            await asyncio.Event().wait()

        return run

    owned = supervisor.start("owned", waiting("owned"))
    other = supervisor.start("other", waiting("other"))
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started.values())), 10.0)
    owned.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await owned
    assert owned.cancelled() and not other.done()
    await supervisor.stop()
    assert other.cancelled()
    assert (runs, restarts) == ({"owned": 1, "other": 1}, {"owned": 0, "other": 0})
