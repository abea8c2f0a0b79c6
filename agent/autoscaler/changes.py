"""Wake whoever follows a GameServerSet when the set, one of its pods or GameServers changes."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, Protocol

from agent.core import bodies, wire

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

Key = tuple[str, str]
"""(namespace, set name)."""


class Watched(Protocol):
    """What a watch cache offers to listeners."""

    def add_handler(self, handler: Callable[[Any, bodies.Json], None]) -> None: ...


class Changes:
    """Per-set wake-ups, fed by the caches' event handlers (one dict lookup per event)."""

    def __init__(self, sets: Watched, children: Iterable[Watched]) -> None:
        self._followers: dict[Key, set[asyncio.Event]] = {}
        sets.add_handler(self._on_set)
        for cache in children:
            cache.add_handler(self._on_child)

    def _on_set(self, _: object, obj: bodies.Json) -> None:
        self._wake(bodies.key(obj))

    def _on_child(self, _: object, obj: bodies.Json) -> None:
        owner = bodies.labels_of(obj).get(wire.OWNER_GSS)
        if owner:
            self._wake((bodies.namespace(obj), owner))

    def _wake(self, key: Key) -> None:
        for event in self._followers.get(key, ()):
            event.set()

    @contextlib.contextmanager
    def follow(self, key: Key) -> Iterator[asyncio.Event]:
        """An event set after each change of this set; the follower clears it before reading."""
        event = asyncio.Event()
        self._followers.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            followers = self._followers.get(key)
            if followers is not None:
                followers.discard(event)
                if not followers:
                    del self._followers[key]

    def following(self) -> int:
        """How many followers are registered."""
        return sum(len(f) for f in self._followers.values())
