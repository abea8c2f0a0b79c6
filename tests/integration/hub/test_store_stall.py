"""A stalled store: reads still answer, and health says NOT_SERVING until writes go through.

The stall: another connection holds the SQLite database's write lock, as a commit stuck in a
frozen disk's fsync holds it. Every write of the hub then waits inside SQLite (up to its 5 s busy
timeout, then fails) exactly as it would behind the frozen fsync; reads need no write lock in WAL
mode. What this does not model: a freeze that also stalls reads of pages the OS has not cached.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import grpc
import pytest
from gamefleet.v1 import fleet_pb2, fleet_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hub.api.server import Hub, HubConfig
from hub.api.store_health import StoreCheckPolicy

from .conftest import TEST_HEALTH
from .fleet_docs import fleet

REF = fleet_pb2.FleetRef(namespace="games", name="arena")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# A read behind a stalled write waits for the whole stall (5 s here); alone it takes milliseconds.
READ_BOUND_S = 1.5


@pytest.fixture
async def stallable(tmp_path: Path) -> AsyncIterator[tuple[Hub, Path]]:
    store = tmp_path / "hub.db"
    hub = Hub(
        HubConfig(
            store_url=f"sqlite:///{store}",
            listen="127.0.0.1:0",
            health=TEST_HEALTH,
            store_check=StoreCheckPolicy(interval=0.2, deadline=0.5),
        )
    )
    await hub.start()
    yield hub, store
    await hub.stop(grace=0)


async def wait_health(health: health_pb2_grpc.HealthStub, status: int, timeout: float) -> None:
    watch = health.Watch(health_pb2.HealthCheckRequest())
    try:
        async with asyncio.timeout(timeout):
            async for answer in watch:
                if answer.status == status:
                    return
    finally:
        watch.cancel()


async def timed(call: Awaitable[object]) -> float:
    started = time.monotonic()
    await call
    return time.monotonic() - started


async def test_reads_answer_and_health_tells_while_writes_stall(
    stallable: tuple[Hub, Path],
) -> None:
    hub, store = stallable
    async with grpc.aio.insecure_channel(f"127.0.0.1:{hub.port}") as channel:
        fleets = fleet_pb2_grpc.FleetServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet()))
        await wait_health(health, SERVING, 5)

        blocker = sqlite3.connect(store, timeout=5, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            write = asyncio.ensure_future(
                fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=12)))
            )
            await wait_health(health, NOT_SERVING, 3)
            assert not write.done()

            get = fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
            assert await timed(get) < READ_BOUND_S
            listing = fleets.ListFleets(fleet_pb2.ListFleetsRequest(namespace="games"))
            assert await timed(listing) < READ_BOUND_S
            watch = fleets.WatchFleets(fleet_pb2.WatchFleetsRequest(namespace="games"))
            assert await timed(anext(aiter(watch))) < READ_BOUND_S
            watch.cancel()
            assert (await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))).spec.replicas == 9

            # SQLite gives up on the lock after 5 s: the write fails, stores nothing, and the
            # client learns it without the database's path.
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await write
            assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
            assert str(store.parent) not in (caught.value.details() or "")
            assert "sqlite" not in (caught.value.details() or "")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()

        await wait_health(health, SERVING, 5)
        applied = await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=12)))
        assert applied.fleet.spec.replicas == 12
