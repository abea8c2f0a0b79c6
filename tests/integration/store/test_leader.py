"""Leader election on a real etcd, and the single-replica elector of the SQLite store."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import sys
import textwrap
import time
import uuid
from typing import TYPE_CHECKING

from hub import store as hubstore

from .etcd_server import EtcdServer

if TYPE_CHECKING:
    from collections.abc import Callable

REPO = pathlib.Path(__file__).resolve().parents[3]

CANDIDATE = textwrap.dedent(
    """
    import asyncio, sys
    from hub import store

    async def main() -> None:
        elector = await store.open_elector(sys.argv[1], sys.argv[2])
        async for state in elector.changes():
            print(state.is_leader, state.leader, flush=True)

    asyncio.run(main())
    """
)


async def _until(
    elector: hubstore.LeaderElector,
    predicate: Callable[[hubstore.Leadership], bool],
    within: float = 15.0,
) -> hubstore.Leadership:
    async with asyncio.timeout(within):
        async for state in elector.changes():
            if predicate(state):
                return state
    raise AssertionError("elector closed")


def _url(server: EtcdServer) -> str:
    return f"{server.url}/test-{uuid.uuid4().hex}"


async def test_two_candidates_elect_exactly_one_leader(etcd_server: EtcdServer) -> None:
    url = _url(etcd_server)
    a = await hubstore.open_elector(url, "hub-a:7000")
    b = await hubstore.open_elector(url, "hub-b:7000")
    try:
        first = await _until(a, lambda s: s.leader is not None)
        await _until(b, lambda s: s.leader == first.leader)
        await asyncio.sleep(2 * 5 / 3)  # a keepalive round: nothing may change

        states = [a.state, b.state]
    finally:
        await a.close()
        await b.close()

    assert sum(s.is_leader for s in states) == 1
    assert {s.leader for s in states} == {first.leader}
    assert first.leader == ("hub-a:7000" if states[0].is_leader else "hub-b:7000")


async def test_closing_the_leader_hands_over_at_once(etcd_server: EtcdServer) -> None:
    url = _url(etcd_server)
    a = await hubstore.open_elector(url, "hub-a:7000")
    await _until(a, lambda s: s.is_leader)
    b = await hubstore.open_elector(url, "hub-b:7000")
    try:
        await _until(b, lambda s: s.leader == "hub-a:7000" and not s.is_leader)

        started = time.monotonic()
        await a.close()
        state = await _until(b, lambda s: s.is_leader, within=5)
        elapsed = time.monotonic() - started
    finally:
        await b.close()

    assert state == hubstore.Leadership(True, "hub-b:7000")
    assert elapsed < 2


async def test_a_killed_leader_is_replaced_within_10_seconds(etcd_server: EtcdServer) -> None:
    url = _url(etcd_server)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CANDIDATE, url, "hub-a:7000", stdout=asyncio.subprocess.PIPE, env=env
    )
    assert process.stdout is not None
    follower = None
    try:
        async with asyncio.timeout(20):
            while (await process.stdout.readline()).split() != [b"True", b"hub-a:7000"]:
                pass
        follower = await hubstore.open_elector(url, "hub-b:7000")
        await _until(follower, lambda s: s.leader == "hub-a:7000")

        process.send_signal(signal.SIGKILL)
        await process.wait()
        killed = time.monotonic()
        state = await _until(follower, lambda s: s.is_leader, within=10)
        elapsed = time.monotonic() - killed
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        if follower is not None:
            await follower.close()

    assert state == hubstore.Leadership(True, "hub-b:7000")
    assert elapsed < 10


async def test_leader_steps_down_when_etcd_is_gone_and_returns(own_etcd: EtcdServer) -> None:
    elector = await hubstore.open_elector(_url(own_etcd), "hub-a:7000", ttl=3)
    try:
        await _until(elector, lambda s: s.is_leader)

        await asyncio.to_thread(own_etcd.stop, signal.SIGKILL)
        stopped = time.monotonic()
        await _until(elector, lambda s: not s.is_leader, within=5)
        stepped_down = time.monotonic() - stopped
        await asyncio.to_thread(own_etcd.start)
        await _until(elector, lambda s: s.is_leader, within=20)
    finally:
        await elector.close()

    assert stepped_down <= 3


async def test_the_sqlite_store_has_one_replica_that_always_leads(
    tmp_path: pathlib.Path,
) -> None:
    elector = await hubstore.open_elector(f"sqlite://{tmp_path}/hub.db", "hub:7000")
    first = await anext(elector.changes())
    await elector.close()

    assert first == hubstore.Leadership(True, "hub:7000")
