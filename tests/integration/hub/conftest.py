"""An in-process hub on a fresh SQLite store per test, reached over loopback gRPC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from gamefleet.v1 import cluster_pb2, cluster_pb2_grpc, fleet_pb2_grpc

from hub.api.server import Hub, HubConfig


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    server = Hub(HubConfig(store_url=f"sqlite:///{tmp_path}/hub.db", listen="127.0.0.1:0"))
    await server.start()
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
def clusters(channel: grpc.aio.Channel) -> cluster_pb2_grpc.ClusterServiceAsyncStub:
    return cluster_pb2_grpc.ClusterServiceStub(channel)


def ready(hub: Hub, name: str) -> None:
    """Record the health a connected agent would report for ``name``."""
    assert hub.clusters is not None
    hub.clusters.report(name, cluster_pb2.ClusterStatus(phase="Ready", agent_version="test"))
