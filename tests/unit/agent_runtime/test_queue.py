"""The agent's work queue: dedup, one worker per key, settle barriers, retries."""

from __future__ import annotations

import asyncio
import collections
from typing import TYPE_CHECKING

from agent.controllers.queue import WorkQueue

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import pytest


class Recorder:
    """A process function that records calls and per-key concurrency."""

    def __init__(self, hold: float = 0.0) -> None:
        self.calls: list[str] = []
        self.running: collections.Counter[str] = collections.Counter()
        self.max_running: collections.Counter[str] = collections.Counter()
        self.max_total = 0
        self.hold = hold
        self.barriers: dict[str, Callable[[], Awaitable[object]]] = {}
        self.fail: collections.Counter[str] = collections.Counter()

    async def __call__(self, key: str) -> Callable[[], Awaitable[object]] | None:
        self.calls.append(key)
        self.running[key] += 1
        self.max_running[key] = max(self.max_running[key], self.running[key])
        self.max_total = max(self.max_total, sum(self.running.values()))
        try:
            await asyncio.sleep(self.hold)
            if self.fail[key] > 0:
                self.fail[key] -= 1
                raise RuntimeError("boom")
        finally:
            self.running[key] -= 1
        return self.barriers.pop(key, None)


async def test_keys_queued_twice_are_processed_once() -> None:
    recorder = Recorder()
    queue: WorkQueue[str] = WorkQueue(recorder, workers=2)
    for _ in range(5):
        queue.add("a")
    queue.add("b")
    queue.start()
    try:
        assert await queue.join(2.0)
    finally:
        await queue.stop()
    assert sorted(recorder.calls) == ["a", "b"]
    assert queue.stats.deduplicated == 4


async def test_one_worker_per_key_and_a_rerun_after_changes_during_processing() -> None:
    recorder = Recorder(hold=0.05)
    queue: WorkQueue[str] = WorkQueue(recorder, workers=4)
    queue.start()
    try:
        queue.add("a")
        await asyncio.sleep(0.01)
        assert queue.active == frozenset({"a"})
        for _ in range(3):
            queue.add("a")  # changes while "a" is processed: one more run afterwards
        assert await queue.join(2.0)
    finally:
        await queue.stop()
    assert recorder.calls == ["a", "a"]
    assert recorder.max_running["a"] == 1


async def test_different_keys_run_in_parallel_up_to_the_worker_count() -> None:
    recorder = Recorder(hold=0.05)
    queue: WorkQueue[str] = WorkQueue(recorder, workers=3)
    queue.start()
    try:
        for key in "abcdef":
            queue.add(key)
        assert await queue.join(2.0)
    finally:
        await queue.stop()
    assert sorted(recorder.calls) == list("abcdef")
    assert recorder.max_total == 3


async def test_next_run_waits_for_the_settle_barrier() -> None:
    recorder = Recorder()
    settled = asyncio.Event()

    async def barrier() -> bool:
        await settled.wait()
        return True

    recorder.barriers["a"] = barrier
    queue: WorkQueue[str] = WorkQueue(recorder, workers=1, settle_timeout=5.0)
    queue.start()
    try:
        queue.add("a")
        assert await queue.join(1.0)
        queue.add("a")
        await asyncio.sleep(0.05)
        assert recorder.calls == ["a"]  # waiting for its own write to show in the cache
        settled.set()
        assert await queue.join(1.0)
    finally:
        await queue.stop()
    assert recorder.calls == ["a", "a"]
    assert queue.stats.settle_timeouts == 0


async def test_settle_wait_is_bounded() -> None:
    recorder = Recorder()

    async def never() -> None:
        await asyncio.Event().wait()

    recorder.barriers["a"] = never
    queue: WorkQueue[str] = WorkQueue(recorder, workers=1, settle_timeout=0.05)
    queue.start()
    try:
        queue.add("a")
        assert await queue.join(1.0)
        queue.add("a")
        assert await queue.join(1.0)
    finally:
        await queue.stop()
    assert recorder.calls == ["a", "a"]
    assert queue.stats.settle_timeouts == 1


async def test_failures_are_retried_with_backoff(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    recorder.fail["a"] = 2
    queue: WorkQueue[str] = WorkQueue(recorder, workers=1, backoff_base=0.02)
    queue.start()
    try:
        queue.add("a")
        for _ in range(100):
            if len(recorder.calls) == 3:
                break
            await asyncio.sleep(0.02)
        assert await queue.join(1.0)
    finally:
        await queue.stop()
    assert recorder.calls == ["a", "a", "a"]
    assert queue.stats.failed == 2
    assert queue.stats.processed == 1
    assert "processing a failed" in caplog.text


async def test_add_after_keeps_the_earliest_timer() -> None:
    recorder = Recorder()
    queue: WorkQueue[str] = WorkQueue(recorder, workers=1)
    queue.start()
    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        queue.add_after("a", 5.0)
        queue.add_after("a", 0.05)
        queue.add_after("a", 1.0)
        for _ in range(100):
            if recorder.calls:
                break
            await asyncio.sleep(0.01)
        assert recorder.calls == ["a"]
        assert loop.time() - began < 0.5
    finally:
        await queue.stop()
