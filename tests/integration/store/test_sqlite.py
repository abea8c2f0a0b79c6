"""SQLite-only behaviour: durability under kill -9, bounded history."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import signal
import sys
import textwrap

import pytest

from hub.store import CompactedError, sqlite

from .helpers import take

REPO = pathlib.Path(__file__).resolve().parents[3]

WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from hub.store import sqlite

    async def main() -> None:
        store = await sqlite.SqliteStore.open(sys.argv[1], synchronous=sys.argv[2])
        i = 0
        while True:
            await store.put(f"k/{i:06d}", str(i).encode())
            print(i, flush=True)
            i += 1

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("synchronous", ["full", "normal"])
async def test_acknowledged_writes_survive_kill_9(tmp_path: pathlib.Path, synchronous: str) -> None:
    path = str(tmp_path / "hub.db")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, path, synchronous, stdout=asyncio.subprocess.PIPE, env=env
    )
    assert writer.stdout is not None
    acked = -1
    async with asyncio.timeout(60):
        while acked < 200:
            acked = int(await writer.stdout.readline())
    writer.send_signal(signal.SIGKILL)
    await writer.wait()

    store = await sqlite.SqliteStore.open(path)
    try:
        items, revision = await store.list("k/")
    finally:
        await store.close()

    assert writer.returncode == -signal.SIGKILL
    assert len(items) >= acked + 1
    assert [kv.value for kv in items[: acked + 1]] == [str(i).encode() for i in range(acked + 1)]
    assert revision == len(items)


async def test_history_keeps_the_last_revisions_only(tmp_path: pathlib.Path) -> None:
    store = await sqlite.SqliteStore.open(str(tmp_path / "hub.db"), history=5)
    try:
        revisions = [await store.put(f"k{i}", b"v") for i in range(10)]

        with pytest.raises(CompactedError):
            await take(store.watch("", revisions[0]), 1)
        kept = await take(store.watch("", revisions[-5]), 5)
    finally:
        await store.close()

    assert [e.revision for e in kept] == revisions[-5:]


async def test_revision_and_history_survive_reopen(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "hub.db")
    store = await sqlite.SqliteStore.open(path)
    first = await store.put("a", b"1")
    await store.delete("a")
    await store.close()

    reopened = await sqlite.SqliteStore.open(path)
    try:
        after = await reopened.put("b", b"2")
        events = await take(reopened.watch("", first), 3)
    finally:
        await reopened.close()

    assert after == first + 2
    assert [(e.kv.key, e.type.value) for e in events] == [
        ("a", "PUT"),
        ("a", "DELETE"),
        ("b", "PUT"),
    ]


async def test_close_ends_running_watches(tmp_path: pathlib.Path) -> None:
    store = await sqlite.SqliteStore.open(str(tmp_path / "hub.db"))
    events = store.watch("", 1)
    pending = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0.05)

    await store.close()

    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(pending, 5)


async def test_watch_waits_quietly_while_other_prefixes_change(tmp_path: pathlib.Path) -> None:
    """A watch reads once per change at most, not in a loop, when its prefix is idle."""
    store = await sqlite.SqliteStore.open(str(tmp_path / "hub.db"))
    reads = 0
    original = store._events_after

    def counted(*args: object) -> object:
        nonlocal reads
        reads += 1
        return original(*args)  # type: ignore[arg-type]

    store._events_after = counted  # type: ignore[method-assign,assignment]
    try:
        events = store.watch("a/", 1)
        first = asyncio.ensure_future(anext(events))
        for index in range(20):
            await store.put(f"b/{index}", b"x")
        await store.put("a/0", b"y")
        event = await asyncio.wait_for(first, 5)
        assert event.kv.key == "a/0"
        waiting = asyncio.ensure_future(anext(events))
        for index in range(20, 40):
            await store.put(f"b/{index}", b"x")
        before = reads
        # Quiet is the absence of work, so it can only be observed over time.
        await asyncio.sleep(0.3)
        assert reads - before <= 1
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await waiting
        await events.aclose()
    finally:
        await store.close()
