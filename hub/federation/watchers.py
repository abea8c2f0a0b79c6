"""Fan-out of "this fleet's status changed" to every WatchFleets stream, coalesced per key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hub.core.desired_sets import SetKey


class StatusWatcher:
    def __init__(self) -> None:
        self._pending: dict[SetKey, None] = {}
        self._ready = asyncio.Event()
        self.closed = False

    def notify(self, key: SetKey) -> None:
        self._pending[key] = None
        self._ready.set()

    async def changes(self) -> AsyncIterator[SetKey]:
        while not self.closed:
            await self._ready.wait()
            self._ready.clear()
            pending, self._pending = self._pending, {}
            for key in pending:
                yield key


class StatusBroadcast:
    def __init__(self) -> None:
        self._watchers: set[StatusWatcher] = set()

    def subscribe(self) -> StatusWatcher:
        watcher = StatusWatcher()
        self._watchers.add(watcher)
        return watcher

    def unsubscribe(self, watcher: StatusWatcher) -> None:
        watcher.closed = True
        self._watchers.discard(watcher)

    def notify(self, key: SetKey) -> None:
        for watcher in self._watchers:
            watcher.notify(key)
