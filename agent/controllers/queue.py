"""A work queue in kopf's style: one worker per key at a time, queued keys deduplicated.

A key added while it is queued is not queued twice; a key added while a worker processes it
is queued again once that worker finishes, so the latest state is always reconciled. The
process function may return a *settle barrier*: an awaitable factory that resolves when the
caches show the worker's own writes. The next run of that key first awaits it (bounded by
`settle_timeout`), so a worker never acts on a cache that predates its own writes.

A key may be added with a *part* (for a GameServerSet: one of its game servers): the run then
covers only the parts added since the last run began (`parts(key)`), unless the whole key was
added meanwhile (without a part, by a timer or by a retry), which covers every part.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Hashable

K = TypeVar("K", bound="Hashable")

_log = logging.getLogger(__name__)


@dataclasses.dataclass
class QueueStats:
    processed: int = 0
    failed: int = 0
    deduplicated: int = 0
    settle_timeouts: int = 0
    busy_seconds: float = 0.0


class WorkQueue(Generic[K]):
    """Process keys with `workers` concurrent workers, never two for one key."""

    def __init__(
        self,
        process: Callable[[K], Awaitable[Callable[[], Awaitable[object]] | None]],
        *,
        workers: int = 4,
        settle_timeout: float = 5.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self._process = process
        self._workers = workers
        self.settle_timeout = settle_timeout
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._active: set[K] = set()
        self._dirty: set[K] = set()
        self._barriers: dict[K, Callable[[], Awaitable[object]]] = {}
        self._failures: dict[K, int] = {}
        self._timers: dict[tuple[K, Hashable | None], asyncio.TimerHandle] = {}
        # Parts added since the key's last run began (None: the whole key), and the parts the
        # running call covers.
        self._parts: dict[K, set[Hashable] | None] = {}
        self._running_parts: dict[K, frozenset[Hashable] | None] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._idle = asyncio.Event()
        self._idle.set()
        self.stats = QueueStats()

    def add(self, key: K, part: Hashable | None = None) -> None:
        """Queue `key` unless it is queued already; `part`: only that part of it changed."""
        if part is None:
            self._parts[key] = None
        elif key not in self._parts:
            self._parts[key] = {part}
        else:
            pending = self._parts[key]
            if pending is not None:
                pending.add(part)
        self._enqueue(key)

    def _enqueue(self, key: K) -> None:
        if key in self._queued:
            self.stats.deduplicated += 1
            return
        if key in self._active:
            self._dirty.add(key)
            return
        self._queued.add(key)
        self._idle.clear()
        self._queue.put_nowait(key)

    def add_after(self, key: K, delay: float, part: Hashable | None = None) -> None:
        """Queue `key` (or only its `part`) after `delay` seconds (the earliest pending timer
        of that key and part wins)."""
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        timer = self._timers.get((key, part))
        if timer is not None and not timer.cancelled() and timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timers[(key, part)] = loop.call_at(when, self._fire, key, part)

    def _fire(self, key: K, part: Hashable | None) -> None:
        self._timers.pop((key, part), None)
        self.add(key, part)

    def parts(self, key: K) -> frozenset[Hashable] | None:
        """The parts of `key` its running process call covers; None: the whole key."""
        return self._running_parts.get(key)

    def __len__(self) -> int:
        return len(self._queued)

    @property
    def active(self) -> frozenset[K]:
        return frozenset(self._active)

    def start(self) -> None:
        for n in range(self._workers):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"worker-{n}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    async def join(self, seconds: float) -> bool:
        """Wait until nothing is queued or processing; False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _settle(self, key: K) -> None:
        barrier = self._barriers.pop(key, None)
        if barrier is None:
            return
        try:
            await asyncio.wait_for(barrier(), self.settle_timeout)
        except TimeoutError:
            self.stats.settle_timeouts += 1
            _log.warning(
                "cache did not show the writes for %s within %ss", key, self.settle_timeout
            )

    async def _worker(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._active.add(key)
            began = time.monotonic()
            try:
                await self._settle(key)
                # What was added until now (while it waited for its barrier, too) is this
                # run's; only later adds call for another run.
                self._dirty.discard(key)
                taken = self._parts.pop(key, None)
                self._running_parts[key] = None if taken is None else frozenset(taken)
                barrier = await self._process(key)
                if barrier is not None:
                    self._barriers[key] = barrier
                self._failures.pop(key, None)
                self.stats.processed += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                self.stats.failed += 1
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                delay = min(self._backoff_max, self._backoff_base * 2 ** (failures - 1))
                _log.exception("processing %s failed (retry in %.1fs)", key, delay)
                self.add_after(key, delay)
            finally:
                self.stats.busy_seconds += time.monotonic() - began
                self._active.discard(key)
                self._running_parts.pop(key, None)
                self._queue.task_done()
                if key in self._dirty:
                    self._dirty.discard(key)
                    self._enqueue(key)
                if not self._queued and not self._active:
                    self._idle.set()
