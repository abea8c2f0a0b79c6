"""Parts of a key in the work queue: a run covers the parts added since the last run began,
and a whole-key add (a plain add, a timer, a retry) covers them all."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from agent.controllers.queue import WorkQueue

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Hashable


class PartsRecorder:
    """Records, per call, the parts the queue says the call covers."""

    def __init__(self, hold: float = 0.0, fail: int = 0) -> None:
        self.queue: WorkQueue[str] | None = None
        self.seen: list[frozenset[Hashable] | None] = []
        self.hold = hold
        self.fail = fail

    async def __call__(self, key: str) -> Callable[[], Awaitable[object]] | None:
        assert self.queue is not None
        self.seen.append(self.queue.parts(key))
        await asyncio.sleep(self.hold)
        if self.fail > 0:
            self.fail -= 1
            raise RuntimeError("boom")
        return None


def _queue(recorder: PartsRecorder, **options: float) -> WorkQueue[str]:
    queue: WorkQueue[str] = WorkQueue(recorder, workers=2, **options)
    recorder.queue = queue
    return queue


async def test_parts_added_before_a_run_are_its_parts() -> None:
    recorder = PartsRecorder()
    queue = _queue(recorder)
    queue.add("set", "gs-1")
    queue.add("set", "gs-2")
    queue.add("set", "gs-1")
    queue.start()
    try:
        assert await queue.join(2.0)
    finally:
        await queue.stop()
    assert recorder.seen == [frozenset({"gs-1", "gs-2"})]
    assert queue.parts("set") is None  # nothing runs now


async def test_a_whole_add_covers_every_part() -> None:
    recorder = PartsRecorder()
    queue = _queue(recorder)
    queue.add("set", "gs-1")
    queue.add("set")
    queue.add("set", "gs-2")
    queue.start()
    try:
        assert await queue.join(2.0)
    finally:
        await queue.stop()
    assert recorder.seen == [None]


async def test_parts_added_during_a_run_are_the_next_runs_parts() -> None:
    recorder = PartsRecorder(hold=0.05)
    queue = _queue(recorder)
    queue.start()
    try:
        queue.add("set", "gs-1")
        await asyncio.sleep(0.01)
        assert queue.active == frozenset({"set"})
        queue.add("set", "gs-2")  # while gs-1 is processed: one more run, for gs-2 only
        assert await queue.join(2.0)
    finally:
        await queue.stop()
    assert recorder.seen == [frozenset({"gs-1"}), frozenset({"gs-2"})]


async def test_timers_and_retries_are_whole() -> None:
    recorder = PartsRecorder(fail=1)
    queue = _queue(recorder, backoff_base=0.02)
    queue.start()
    try:
        queue.add("set", "gs-1")
        for _ in range(100):
            if len(recorder.seen) == 2:
                break
            await asyncio.sleep(0.02)
        assert await queue.join(1.0)
        queue.add_after("set", 0.01)
        for _ in range(100):
            if len(recorder.seen) == 3:
                break
            await asyncio.sleep(0.02)
    finally:
        await queue.stop()
    # The failed run covered gs-1; its retry covers the whole key, as does the timer.
    assert recorder.seen == [frozenset({"gs-1"}), None, None]


async def test_parts_added_while_waiting_for_the_barrier_belong_to_that_run() -> None:
    settled = asyncio.Event()

    async def barrier() -> bool:
        await settled.wait()
        return True

    calls: list[frozenset[Hashable] | None] = []

    async def process(key: str) -> Callable[[], Awaitable[object]] | None:
        calls.append(queue.parts(key))
        return barrier if len(calls) == 1 else None  # the first run wrote something

    queue: WorkQueue[str] = WorkQueue(process, workers=1)
    queue.start()
    try:
        queue.add("set", "gs-1")
        assert await queue.join(1.0)
        queue.add("set", "gs-2")
        await asyncio.sleep(0.02)
        queue.add("set", "gs-3")  # while the run waits for the caches
        settled.set()
        assert await queue.join(1.0)
    finally:
        await queue.stop()
    # One run for gs-2 and gs-3, and no run after it for nothing (which would be a whole one).
    assert calls == [frozenset({"gs-1"}), frozenset({"gs-2", "gs-3"})]


async def test_a_timer_may_queue_only_a_part() -> None:
    recorder = PartsRecorder()
    queue = _queue(recorder)
    queue.start()
    try:
        queue.add_after("set", 0.01, "status")
        queue.add_after("set", 5.0, "status")  # the earliest timer of a part wins
        for _ in range(100):
            if recorder.seen:
                break
            await asyncio.sleep(0.01)
        assert await queue.join(1.0)
    finally:
        await queue.stop()
    assert recorder.seen == [frozenset({"status"})]
