"""Each fleet's assignment (replicas per cluster) written to the store off the reconcile path:
the latest value per fleet, each write retried until it lands."""

from __future__ import annotations

import asyncio
import logging

from hub.core.desired_sets import SetKey
from hub.registry.assignments import AssignmentRegistry

log = logging.getLogger(__name__)

RETRY_PAUSE_S = 1.0
FLUSH_TIMEOUT_S = 5.0


class AssignmentWriter:
    """Queues assignments (None: forget the fleet's) and writes them in ``run``."""

    def __init__(self, registry: AssignmentRegistry) -> None:
        self._registry = registry
        self._unsaved: dict[SetKey, dict[str, int] | None] = {}
        self._changed = asyncio.Event()

    def save(self, key: SetKey, assigned: dict[str, int] | None) -> None:
        self._unsaved[key] = dict(assigned) if assigned is not None else None
        self._changed.set()

    async def run(self) -> None:
        """Write what changed, latest value per fleet. An entry leaves the queue only once
        written (or replaced by a newer one meanwhile), so a cancelled or failed write is
        retried, at ``flush`` or here a second later."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            while self._unsaved:
                key = next(iter(self._unsaved))
                assigned = self._unsaved[key]
                try:
                    await self._write(key, assigned)
                except Exception:
                    log.exception("saving the assignment of %s/%s; retrying", *key)
                    await asyncio.sleep(RETRY_PAUSE_S)
                    continue
                if key in self._unsaved and self._unsaved[key] is assigned:
                    del self._unsaved[key]

    async def flush(self) -> None:
        """On a graceful stop, write what ``run`` had not written yet."""
        batch, self._unsaved = self._unsaved, {}
        if not batch:
            return
        try:
            async with asyncio.timeout(FLUSH_TIMEOUT_S):
                for key, assigned in batch.items():
                    await self._write(key, assigned)
        except Exception:
            log.exception("saving %d assignments at stop", len(batch))

    async def _write(self, key: SetKey, assigned: dict[str, int] | None) -> None:
        if assigned is None:
            await self._registry.forget(key)
        else:
            await self._registry.save(key, assigned)
