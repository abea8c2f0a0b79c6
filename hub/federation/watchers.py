"""Fan-out of "this changed" to every watch stream, coalesced per key: a fleet's status for
WatchFleets, a game server for WatchGameServers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from typing import Generic, TypeVar

from hub.core.desired_sets import SetKey

Key = TypeVar("Key", bound=Hashable)

# (cluster, namespace, name) of a game server.
ServerKey = tuple[str, str, str]


class KeyWatcher(Generic[Key]):
    def __init__(self) -> None:
        self._pending: dict[Key, None] = {}
        self._ready = asyncio.Event()
        self.closed = False

    def notify(self, key: Key) -> None:
        self._pending[key] = None
        self._ready.set()

    async def changes(self) -> AsyncIterator[Key]:
        while not self.closed:
            await self._ready.wait()
            self._ready.clear()
            pending, self._pending = self._pending, {}
            for key in pending:
                yield key


class KeyBroadcast(Generic[Key]):
    def __init__(self) -> None:
        self._watchers: set[KeyWatcher[Key]] = set()

    @property
    def watched(self) -> bool:
        """True while some stream watches: callers skip building keys nobody reads."""
        return bool(self._watchers)

    def subscribe(self) -> KeyWatcher[Key]:
        watcher: KeyWatcher[Key] = KeyWatcher()
        self._watchers.add(watcher)
        return watcher

    def unsubscribe(self, watcher: KeyWatcher[Key]) -> None:
        watcher.closed = True
        self._watchers.discard(watcher)

    def notify(self, key: Key) -> None:
        for watcher in self._watchers:
            watcher.notify(key)


StatusWatcher = KeyWatcher[SetKey]
StatusBroadcast = KeyBroadcast[SetKey]
ServerWatcher = KeyWatcher[ServerKey]
ServerBroadcast = KeyBroadcast[ServerKey]
