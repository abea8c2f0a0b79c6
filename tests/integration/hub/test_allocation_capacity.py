"""Allocation by capacity with the real hub and simulated agents that check and apply the
counters themselves: re-allocation up to capacity, never beyond, under concurrency."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING

import grpc
import pytest
from gamefleet import protocol
from gamefleet.v1 import (
    agent_pb2,
    allocation_pb2,
    allocation_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    gameserver_pb2,
    gameserver_pb2_grpc,
)

from hub.api.server import Hub
from tests.support.agent_sim import SimulatedAgent, game_server

from .conftest import StartAgent
from .fleet_docs import fleet

if TYPE_CHECKING:
    Stub = allocation_pb2_grpc.AllocationServiceAsyncStub


@pytest.fixture
def allocations(channel: grpc.aio.Channel) -> Stub:
    return allocation_pb2_grpc.AllocationServiceStub(channel)


@pytest.fixture
async def arena(fleets: fleet_pb2_grpc.FleetServiceAsyncStub) -> None:
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0)))


async def reported(hub: Hub, count: int) -> None:
    """Wait until the hub holds ``count`` servers of arena."""
    async with asyncio.timeout(5):
        while True:
            federation = hub.gate.federation
            if federation is not None and len(federation.fleet_servers("games", "arena")) >= count:
                return
            await asyncio.sleep(0.01)


ROOM = {"rooms": allocation_pb2.CounterSelector(min_available=1)}
# The usual pair: an Allocated server with room first, else a Ready one.
WITH_ROOM = [
    allocation_pb2.AllocationSelector(game_server_state=allocation_pb2.ALLOCATED, counters=ROOM),
    allocation_pb2.AllocationSelector(counters=ROOM),
]
TAKE_ONE = {"rooms": allocation_pb2.CounterAction(delta=1)}


def by_room(request_id: str, **fields: object) -> allocation_pb2.AllocateRequest:
    return allocation_pb2.AllocateRequest(
        namespace="games",
        fleet="arena",
        request_id=request_id,
        selectors=WITH_ROOM,
        counters=TAKE_ONE,
        **fields,  # type: ignore[arg-type]
    )


async def serve_rooms(hub: Hub, agent: SimulatedAgent, count: int, capacity: int) -> None:
    """``count`` Ready servers of arena, each with a ``rooms`` counter of ``capacity``."""
    reported = []
    for ordinal in range(count):
        gs = game_server("games", "arena", ordinal)
        gs.ops_state = "None"
        gs.counters["rooms"].CopyFrom(gameserver_pb2.CounterStatus(count=0, capacity=capacity))
        reported.append(gs)
    agent.report(agent_pb2.StatusDelta(game_servers=reported))
    async with asyncio.timeout(5):
        while True:
            federation = hub.gate.federation
            assert federation is not None
            held = [s for s in federation.fleet_servers("games", "arena") if s.counters]
            if len([s for s in held if s.cluster == agent.cluster]) == count:
                return
            await asyncio.sleep(0.01)


def counts(agent: SimulatedAgent) -> dict[str, int]:
    return {
        server.name: server.counters["rooms"].count
        for server in agent.reported.values()
        if isinstance(server, gameserver_pb2.GameServer) and "rooms" in server.counters
    }


@pytest.mark.usefixtures("arena")
async def test_reallocation_fills_servers_to_capacity_and_never_beyond(
    hub: Hub,
    allocations: Stub,
    start_agent: StartAgent,
) -> None:
    agents = [await start_agent("eu-1"), await start_agent("us-1")]
    for agent in agents:
        await serve_rooms(hub, agent, 3, capacity=4)

    async def one(i: int) -> str | None:
        try:
            response = await allocations.Allocate(by_room(f"match-{i}"))
        except grpc.aio.AioRpcError as exc:
            refusals.append(exc.code())
            return None
        server = response.game_server
        assert server.ops_state == "Allocated"
        assert 1 <= server.counters["rooms"].count <= 4
        return f"{server.cluster}/{server.name}"

    refusals: list[grpc.StatusCode] = []
    answers = await asyncio.gather(*(one(i) for i in range(40)))
    assert refusals == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 16
    taken = Counter(a for a in answers if a is not None)
    assert sum(taken.values()) == 24  # 6 servers of 4 rooms, every room used once
    assert set(taken.values()) == {4}
    for agent in agents:
        assert counts(agent) == {f"arena-{i}": 4 for i in range(3)}
    # Re-allocations after the first of each server: the agent was asked for Allocated ones.
    states = Counter(
        op.need.game_server_state for agent in agents for op in agent.operations if op.need
    )
    assert states[allocation_pb2.ALLOCATED] >= 18


@pytest.mark.usefixtures("arena")
async def test_packed_fills_one_server_before_the_next(
    hub: Hub,
    allocations: Stub,
    start_agent: StartAgent,
) -> None:
    eu = await start_agent("eu-1")
    await serve_rooms(hub, eu, 3, capacity=3)
    names = [(await allocations.Allocate(by_room(f"m-{i}"))).game_server.name for i in range(4)]
    assert names[:3] == [names[0]] * 3
    assert names[3] != names[0]
    spread = [
        (
            await allocations.Allocate(by_room(f"d-{i}", scheduling=allocation_pb2.DISTRIBUTED))
        ).game_server.name
        for i in range(2)
    ]
    # The first selector that fits wins (as Agones): an Allocated server with room, the
    # only one; then it is full, and Distributed takes a Ready one.
    assert spread[0] == names[3]


@pytest.mark.usefixtures("arena")
async def test_a_replayed_request_id_applies_its_actions_once(
    hub: Hub,
    allocations: Stub,
    start_agent: StartAgent,
) -> None:
    eu = await start_agent("eu-1")
    await serve_rooms(hub, eu, 1, capacity=10)
    first = await allocations.Allocate(by_room("match-1"))
    again = await allocations.Allocate(by_room("match-1"))
    both = await asyncio.gather(*(allocations.Allocate(by_room("match-2")) for _ in range(5)))
    assert again.replayed and again.game_server.name == first.game_server.name
    assert sum(not b.replayed for b in both) == 1
    assert counts(eu) == {"arena-0": 2}
    assert eu.reported[protocol.game_server_key("games", "arena-0")].ops_state == "Allocated"  # type: ignore[union-attr]


@pytest.mark.usefixtures("arena")
async def test_lists_take_values_and_the_hub_lists_the_counters(
    hub: Hub,
    channel: grpc.aio.Channel,
    allocations: Stub,
    start_agent: StartAgent,
) -> None:
    eu = await start_agent("eu-1")
    gs = game_server("games", "arena", 0)
    gs.ops_state = "None"
    gs.lists["players"].CopyFrom(gameserver_pb2.ListStatus(capacity=2))
    eu.report(agent_pb2.StatusDelta(game_servers=[gs]))
    join = allocation_pb2.AllocationSelector(
        game_server_state=allocation_pb2.ALLOCATED,
        lists={"players": allocation_pb2.ListSelector(min_available=1)},
    )
    fresh = allocation_pb2.AllocationSelector(
        lists={"players": allocation_pb2.ListSelector(min_available=1)}
    )

    def player(i: int) -> allocation_pb2.AllocateRequest:
        return allocation_pb2.AllocateRequest(
            namespace="games",
            fleet="arena",
            request_id=f"p-{i}",
            selectors=[join, fresh],
            lists={"players": allocation_pb2.ListAction(add_values=[f"player-{i}"])},
        )

    stub = gameserver_pb2_grpc.GameServerServiceStub(channel)
    await reported(hub, 1)
    await allocations.Allocate(player(1))
    await allocations.Allocate(player(2))
    with pytest.raises(grpc.aio.AioRpcError) as full:
        await allocations.Allocate(player(3))
    assert full.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    listed = await stub.ListGameServers(gameserver_pb2.ListGameServersRequest(namespace="games"))
    [server] = listed.game_servers
    assert list(server.lists["players"].values) == ["player-1", "player-2"]


@pytest.mark.usefixtures("arena")
async def test_servers_without_counters_are_not_taken_by_capacity(
    hub: Hub,
    allocations: Stub,
    start_agent: StartAgent,
) -> None:
    eu = await start_agent("eu-1")
    gs = game_server("games", "arena", 0)
    gs.ops_state = "None"
    eu.report(agent_pb2.StatusDelta(game_servers=[gs]))
    await reported(hub, 1)
    with pytest.raises(grpc.aio.AioRpcError) as none:
        await allocations.Allocate(by_room("match-1"))
    assert none.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert not eu.operations
