"""Agones' REST allocation, POST /gameserverallocation, served by a hub process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from gamefleet.v1 import (
    agent_pb2,
    fleet_pb2,
    fleet_pb2_grpc,
    gameserver_pb2,
    gameserver_pb2_grpc,
)

from tests.support.agent_sim import SimulatedAgent, game_server
from tests.support.hub_process import HubProcess

from .fleet_docs import fleet
from .test_agones_allocation import network_status

TOKEN = (("authorization", "Bearer s3cret"),)
ALLOCATE = {
    "namespace": "games",
    "gameServerSelectors": [{"matchLabels": {"agones.dev/fleet": "arena"}}],
    "scheduling": "Distributed",
    "metadata": {"labels": {"match": "m1"}, "annotations": {"players": "8"}},
    "multiClusterSetting": {"enabled": True},
}


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text("s3cret,alice\n")
    args = ["--token-file", str(tokens), "--insecure", "--agones-rest-listen", "127.0.0.1:0"]
    process = HubProcess(f"sqlite:///{tmp_path}/hub.db", args).start()
    yield process
    process.kill()


@pytest.fixture
async def agent(hub: HubProcess) -> AsyncIterator[SimulatedAgent]:
    """One cluster with one Ready server of arena, as the hub sees it."""
    async with grpc.aio.insecure_channel(hub.address) as channel:
        await fleet_pb2_grpc.FleetServiceStub(channel).ApplyFleet(
            fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0)), metadata=TOKEN
        )
        sim = SimulatedAgent(hub.address, "eu-1", heartbeat_interval=0.2)
        await sim.start()
        server = game_server("games", "arena", 0)
        server.node = "eu-1-node"
        server.network_status.update(network_status(0))
        sim.report(agent_pb2.StatusDelta(game_servers=[server]))
        listing = gameserver_pb2_grpc.GameServerServiceStub(channel)
        async with asyncio.timeout(20):
            while True:
                listed = await listing.ListGameServers(
                    gameserver_pb2.ListGameServersRequest(namespace="games", state="Ready"),
                    metadata=TOKEN,
                )
                if listed.game_servers:
                    break
                await asyncio.sleep(0.05)
        yield sim
        await sim.stop()


async def post(hub: HubProcess, body: object, token: str | None = "s3cret") -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"http://127.0.0.1:{hub.agones_rest_port}/gameserverallocation"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_allocates_with_agones_json_and_answers_like_agones(
    hub: HubProcess, agent: SimulatedAgent
) -> None:
    status, answer = await post(hub, ALLOCATE)
    assert status == 200, answer
    assert answer["gameServerName"] == "arena-0"
    assert answer["source"] == "eu-1"
    assert answer["nodeName"] == "eu-1-node"
    assert answer["address"] == "203.0.113.7"
    assert answer["ports"] == [{"name": "game", "port": 7000}]
    assert answer["metadata"]["labels"]["match"] == "m1"
    assert answer["metadata"]["annotations"]["players"] == "8"
    [operation] = agent.operations
    assert operation.labels["match"] == "m1"
    status, answer = await post(hub, ALLOCATE)
    assert status == 429
    assert answer["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert "games/arena" in answer["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ALLOCATE, "metadata": {"labels": {"a b": "c"}}}, 'metadata.labels["a b"]: '),
        ({**ALLOCATE, "gameServerSelectors": [{"matchLabels": {}}]}, "gameServerSelectors[0]"),
        ({**ALLOCATE, "noSuchField": 1}, "request: is not a valid allocation.AllocationRequest"),
        ({**ALLOCATE, "scheduling": "Sideways"}, "request: "),
    ],
    ids=["label", "no fleet", "unknown field", "bad enum"],
)
async def test_bad_input_is_400_naming_the_field(
    hub: HubProcess, body: dict[str, object], field: str
) -> None:
    status, answer = await post(hub, body)
    assert status == 400, answer
    assert answer["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert answer["message"].startswith(field), answer


@pytest.mark.parametrize("token", [None, "wrong"])
async def test_needs_a_bearer_token(hub: HubProcess, token: str | None) -> None:
    status, answer = await post(hub, ALLOCATE, token)
    assert status == 401
    assert answer["code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]
