"""Is the store taking writes? A check with a deadline, repeated, whose answer feeds health.

A stalled store (a frozen disk, an etcd without quorum) does not fail: its calls hang. So the
hub runs ``Store.check`` every ``interval`` seconds; a check that has not answered within
``deadline`` marks the store stalled at once, and the store is live again when a check answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from hub.store import interface as store_api

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class StoreCheckPolicy:
    interval: float = 1.0
    deadline: float = 2.0


class StoreLiveness:
    """Runs the checks; calls ``on_change(live)`` whenever the answer changes."""

    def __init__(
        self,
        store: store_api.Store,
        policy: StoreCheckPolicy,
        on_change: Callable[[bool], Awaitable[None]],
    ) -> None:
        self._store = store
        self._policy = policy
        self._on_change = on_change
        self.live = True

    async def run(self) -> None:
        while True:
            check = asyncio.ensure_future(self._store.check())
            try:
                done, _ = await asyncio.wait({check}, timeout=self._policy.deadline)
                if not done:
                    log.warning(
                        "store check: no answer within %.1fs: the store is stalled",
                        self._policy.deadline,
                    )
                    await self._set(False)
                    # One check at a time: the stalled one answers when the store does.
                    await asyncio.wait({check})
            finally:
                check.cancel()
            failure = check.exception()
            if failure is not None:
                log.warning("store check failed: %s", failure)
            await self._set(failure is None)
            await asyncio.sleep(self._policy.interval)

    async def _set(self, live: bool) -> None:
        if live == self.live:
            return
        self.live = live
        if live:
            log.info("store check: the store answers again")
        await self._on_change(live)
