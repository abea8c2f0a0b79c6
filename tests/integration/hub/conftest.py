"""An in-process hub on a fresh SQLite store per test, reached over loopback gRPC."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from gamefleet.v1 import (
    autoscaler_pb2_grpc,
    cluster_pb2_grpc,
    fleet_pb2_grpc,
    gameserver_pb2_grpc,
)

from hub.api.server import Hub, HubConfig
from hub.core.health import HealthPolicy
from tests.support.agent_sim import SimulatedAgent
from tests.support.fleet_sim import FollowingCluster

# Short periods keep health tests fast; the defaults are 2 s heartbeats and 10 s grace.
TEST_HEALTH = HealthPolicy(heartbeat_interval=0.2, grace=1.0, recovery_heartbeats=2)

StartAgent = Callable[..., Awaitable[SimulatedAgent]]


async def start_hub(
    store_path: Path, listen: str = "127.0.0.1:0", health: HealthPolicy = TEST_HEALTH
) -> Hub:
    hub = Hub(HubConfig(store_url=f"sqlite:///{store_path}", listen=listen, health=health))
    await hub.start()
    await hub.wait_until_leading()
    return hub


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    server = await start_hub(tmp_path / "hub.db")
    yield server
    await server.stop(grace=0)


@pytest.fixture
async def channel(hub: Hub) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{hub.port}") as chan:
        yield chan


@pytest.fixture
def fleets(channel: grpc.aio.Channel) -> fleet_pb2_grpc.FleetServiceAsyncStub:
    return fleet_pb2_grpc.FleetServiceStub(channel)


@pytest.fixture
def autoscalers(channel: grpc.aio.Channel) -> autoscaler_pb2_grpc.FleetAutoscalerServiceAsyncStub:
    return autoscaler_pb2_grpc.FleetAutoscalerServiceStub(channel)


@contextlib.asynccontextmanager
async def following_regions(
    start_agent: StartAgent, **options: Any
) -> AsyncIterator[tuple[FollowingCluster, FollowingCluster]]:
    """eu-1 (region eu) and us-1 (region us), their servers following the desired sets
    (``options``: FollowingCluster's, e.g. the counters or lists each server has)."""
    followers = (
        FollowingCluster(await start_agent("eu-1", region="eu"), **options).start(),
        FollowingCluster(await start_agent("us-1", region="us"), **options).start(),
    )
    try:
        yield followers
    finally:
        for follower in followers:
            await follower.stop()


@pytest.fixture
def clusters(channel: grpc.aio.Channel) -> cluster_pb2_grpc.ClusterServiceAsyncStub:
    return cluster_pb2_grpc.ClusterServiceStub(channel)


@pytest.fixture
def game_servers(channel: grpc.aio.Channel) -> gameserver_pb2_grpc.GameServerServiceAsyncStub:
    return gameserver_pb2_grpc.GameServerServiceStub(channel)


@pytest.fixture
async def start_agent(hub: Hub) -> AsyncIterator[StartAgent]:
    """Start protocol-level agents against the hub; each is Ready once this returns."""
    started: list[SimulatedAgent] = []

    async def start(
        cluster: str,
        *,
        namespaces: list[str] | None = None,
        reads_spec_json: bool = False,
        **labels: str,
    ) -> SimulatedAgent:
        agent = SimulatedAgent(
            f"127.0.0.1:{hub.port}",
            cluster,
            labels,
            heartbeat_interval=0.2,
            namespaces=namespaces,
        )
        agent.reads_spec_json = reads_spec_json
        await agent.start()
        started.append(agent)
        await wait_phase(hub, cluster, "Ready")
        return agent

    yield start
    for agent in started:
        await agent.stop()


async def wait_held(hub: Hub, cluster: str, fleet: str, names: set[str]) -> None:
    """Wait until the hub holds the servers ``names`` of ``fleet`` as ``cluster`` reported."""
    async with asyncio.timeout(10):
        while True:
            federation = hub.gate.federation
            assert federation is not None
            held = {
                s.name for s in federation.fleet_servers("games", fleet) if s.cluster == cluster
            }
            if names <= held:
                return
            await asyncio.sleep(0.01)


async def wait_phase(hub: Hub, cluster: str, phase: str, timeout: float = 10.0) -> float:
    """Wait until the hub sees ``cluster`` in ``phase``; return how long that took."""
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        while True:
            federation = hub.gate.federation
            if federation is not None and federation.phase(cluster).value == phase:
                return time.monotonic() - started
            await asyncio.sleep(0.02)
