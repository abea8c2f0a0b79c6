"""Background tasks that outlive their failures.

A supervised task that raises is logged, counted (``gamefleet_hub_task_restarts``) and started
again after a pause that doubles while it keeps failing, so a store outage or a bug in one loop
does not silently stop the hub following its store or ticking its clusters' health.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

FIRST_PAUSE_S = 0.5
MAX_PAUSE_S = 30.0
# A task that ran this long before it failed starts again after the first pause.
HEALTHY_RUN_S = 60.0


class Supervisor:
    """Runs named coroutines until stopped, restarting each one that fails."""

    def __init__(
        self,
        restarts: dict[str, int],
        first_pause: float = FIRST_PAUSE_S,
        max_pause: float = MAX_PAUSE_S,
    ) -> None:
        self._restarts = restarts
        self._first_pause = first_pause
        self._max_pause = max_pause
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, run: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run ``run()`` as the task ``name``; a new call of ``run`` after each failure.
        Cancelling the task returned stops it for good (``stop`` stops every task)."""
        self._restarts.setdefault(name, 0)
        task = asyncio.create_task(self._keep(name, run), name=name)
        self._tasks.append(task)
        return task

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _keep(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        pause = self._first_pause
        while True:
            began = time.monotonic()
            try:
                await run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task %s failed; restarting in %.1f s", name, pause)
            else:
                log.error("background task %s returned; restarting in %.1f s", name, pause)
            self._restarts[name] += 1
            if time.monotonic() - began >= HEALTHY_RUN_S:
                pause = self._first_pause
            await asyncio.sleep(pause)
            pause = min(pause * 2, self._max_pause)
