"""Cluster drain over loopback gRPC with simulated agents: the other cluster's share rises
before the drained one's falls, Allocated servers stay, uncordon ends it."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from gamefleet.v1 import (
    agent_pb2,
    cluster_pb2,
    cluster_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    gameserver_pb2,
)

from hub.api.server import Hub
from hub.registry.assignments import AssignmentRegistry
from tests.support.agent_sim import SimulatedAgent, game_server, set_status

from .conftest import TEST_HEALTH, StartAgent, start_hub, wait_phase
from .fleet_docs import fleet

US = cluster_pb2.ClusterRef(name="us-1")
REF = fleet_pb2.FleetRef(namespace="games", name="arena")
KEY = ("games", "arena")
WEIGHTS = {"clusters": [{"name": "eu-1", "weight": 2}, {"name": "us-1", "weight": 1}]}


async def _apply(fleets: fleet_pb2_grpc.FleetServiceAsyncStub) -> None:
    request = fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=9, placement=WEIGHTS))
    await fleets.ApplyFleet(request)


def _settle(agent: SimulatedAgent, allocated: int = 0) -> None:
    """Report the set the agent holds as fully Ready, ``allocated`` of them Allocated."""
    desired = agent.sets[("games", "arena")]
    ready = agent.replicas("games", "arena") or 0
    servers = [
        game_server("games", "arena", i, ops_state="Allocated" if i < allocated else "None")
        for i in range(ready)
    ]
    agent.report(
        agent_pb2.StatusDelta(
            sets=[set_status(desired, ready=ready, allocated=allocated)], game_servers=servers
        )
    )


def _replicas_sent(agent: SimulatedAgent) -> list[int]:
    """The replicas of every desired set of games/arena the hub sent the agent, in order."""
    return [
        int(desired.spec.fields["replicas"].number_value)
        for message in agent.received
        if message.WhichOneof("body") == "desired"
        for desired in message.desired.sets
        if (desired.namespace, desired.name) == ("games", "arena") and not desired.deleted
    ]


async def _two_clusters(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> tuple[SimulatedAgent, SimulatedAgent]:
    """eu-1 runs 6 Ready servers of games/arena; us-1 runs 3, 1 of them Allocated."""
    eu, us = await start_agent("eu-1"), await start_agent("us-1")
    await _apply(fleets)
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 6)
    await us.wait_for(lambda: us.replicas("games", "arena") == 3)
    _settle(eu)
    _settle(us, allocated=1)
    return eu, us


async def _drain_of(clusters: cluster_pb2_grpc.ClusterServiceAsyncStub) -> cluster_pb2.Cluster:
    return await clusters.GetCluster(US)


async def test_drain_moves_ready_capacity_first_and_keeps_allocated_servers(
    hub: Hub,
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
    clusters: cluster_pb2_grpc.ClusterServiceAsyncStub,
    start_agent: StartAgent,
) -> None:
    eu, us = await _two_clusters(fleets, start_agent)

    drained = await clusters.DrainCluster(US)
    assert (drained.spec.cordoned, drained.spec.draining) == (True, True)
    assert drained.status.phase == "Cordoned"
    # Make before break: eu-1 takes us-1's 2 idle servers while us-1 keeps its 3.
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 8)
    assert us.replicas("games", "arena") == 3
    cluster = await _drain_of(clusters)
    assert (cluster.status.drain.to_move, cluster.status.drain.moved) == (2, 0)
    condition = next(c for c in cluster.status.conditions if c.type == "Drained")
    assert (condition.status, condition.reason) == ("False", "MovingIdleServers")

    # eu-1's 8 are Ready: us-1 falls to its 1 Allocated server, never below.
    _settle(eu)
    await us.wait_for(lambda: us.replicas("games", "arena") == 1)
    assert eu.replicas("games", "arena") == 8
    assert _replicas_sent(us) == [3, 1]
    assert us.operations == []  # nothing targeted at its servers
    _settle(us, allocated=1)
    await _wait_drained(clusters, "True")
    cluster = await _drain_of(clusters)
    assert (cluster.status.drain.idle, cluster.status.drain.allocated) == (0, 1)

    # Uncordon ends the drain: us-1 gets its share back.
    uncordoned = await clusters.UncordonCluster(US)
    assert (uncordoned.spec.cordoned, uncordoned.spec.draining) == (False, False)
    await us.wait_for(lambda: us.replicas("games", "arena") == 3)
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 6)
    assert not any(c.type == "Drained" for c in (await _drain_of(clusters)).status.conditions)


async def test_games_ending_in_a_drained_cluster_are_made_up_first_then_it_empties(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
    clusters: cluster_pb2_grpc.ClusterServiceAsyncStub,
    start_agent: StartAgent,
) -> None:
    eu, us = await _two_clusters(fleets, start_agent)
    await clusters.DrainCluster(US)
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 8)
    _settle(eu)
    await us.wait_for(lambda: us.replicas("games", "arena") == 1)
    _settle(us, allocated=1)

    # The game ends: its server is idle now, so eu-1 rises first, then us-1 goes to 0.
    _settle(us, allocated=0)
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 9)
    assert us.replicas("games", "arena") == 1
    _settle(eu)
    await us.wait_for(lambda: us.replicas("games", "arena") is None)
    assert us.retiring == {("games", "arena")}


async def test_draining_an_unknown_cluster_raises_the_others_and_lowers_it_once_back(
    hub: Hub,
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
    clusters: cluster_pb2_grpc.ClusterServiceAsyncStub,
    start_agent: StartAgent,
) -> None:
    eu, us = await _two_clusters(fleets, start_agent)
    us.heartbeats = False
    await wait_phase(hub, "us-1", "Unknown")
    sent_before = len(us.received)

    await clusters.DrainCluster(US)
    # Failover is off, but the drain raises eu-1 at once; us-1 is sent nothing and keeps 3.
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 8)
    _settle(eu)
    await _wait_drained(clusters, "Unknown")
    status = (await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))).status
    assert {c.cluster: c.desired_replicas for c in status.clusters} == {"eu-1": 8, "us-1": 3}
    assert len(us.received) == sent_before

    # Back: only now is its share lowered, to its Allocated server.
    us.heartbeats = True
    await us.wait_for(lambda: us.replicas("games", "arena") == 1)
    assert _replicas_sent(us) == [3, 1]


async def test_drain_bad_input_and_unknown_cluster(
    clusters: cluster_pb2_grpc.ClusterServiceAsyncStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await clusters.DrainCluster(cluster_pb2.ClusterRef(name="Not_A_Name"))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith("name")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await clusters.DrainCluster(cluster_pb2.ClusterRef(name="nowhere"))
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


async def test_a_server_holding_players_stays_in_a_drained_cluster_like_an_allocated_one(
    hub: Hub,
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
    clusters: cluster_pb2_grpc.ClusterServiceAsyncStub,
    start_agent: StartAgent,
) -> None:
    """us-1's servers are all Ready with opsState None, one with players on its counter
    (issue 17): the drain lowers us-1 to that one, and says it waits for it."""
    eu, us = await start_agent("eu-1"), await start_agent("us-1")
    await _apply(fleets)
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 6)
    await us.wait_for(lambda: us.replicas("games", "arena") == 3)
    _settle(eu)
    servers = [game_server("games", "arena", i) for i in range(3)]
    servers[0].counters["players"].CopyFrom(gameserver_pb2.CounterStatus(count=2, capacity=8))
    desired = us.sets[KEY]
    us.report(agent_pb2.StatusDelta(sets=[set_status(desired, ready=3)], game_servers=servers))

    await clusters.DrainCluster(US)
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 8)
    _settle(eu)
    await us.wait_for(lambda: us.replicas("games", "arena") == 1)
    us.report(agent_pb2.StatusDelta(sets=[set_status(us.sets[KEY], ready=1)]))
    await _wait_drained(clusters, "True")
    cluster = await _drain_of(clusters)
    assert (cluster.status.drain.idle, cluster.status.drain.allocated) == (0, 1)
    condition = next(c for c in cluster.status.conditions if c.type == "Drained")
    assert condition.reason == "WaitingForAllocated"
    assert condition.message.startswith("1 servers in use (Allocated, or players")
    assert us.operations == []


async def _wait_drain(
    clusters: cluster_pb2_grpc.ClusterServiceAsyncStub, *, to_move: int, moved: int
) -> None:
    """Wait until us-1's drain has ``to_move`` idle servers, ``moved`` of them made up."""
    async with asyncio.timeout(10.0):
        while True:
            drain = (await clusters.GetCluster(US)).status.drain
            if (drain.to_move, drain.moved) == (to_move, moved):
                return
            await asyncio.sleep(0.05)


async def _wait_drained(
    clusters: cluster_pb2_grpc.ClusterServiceAsyncStub, status: str, timeout: float = 10.0
) -> None:
    """Wait until us-1's Drained condition has ``status``."""
    async with asyncio.timeout(timeout):
        while True:
            cluster = await clusters.GetCluster(US)
            found = [c.status for c in cluster.status.conditions if c.type == "Drained"]
            if found == [status]:
                return
            await asyncio.sleep(0.05)


async def test_a_drain_carries_on_across_a_hub_restart(tmp_path: Path) -> None:
    hub = await start_hub(tmp_path / "hub.db")
    address = f"127.0.0.1:{hub.port}"
    agents = [SimulatedAgent(address, name, heartbeat_interval=0.2) for name in ("eu-1", "us-1")]
    try:
        for agent in agents:
            await agent.start()
        eu, us = agents
        async with grpc.aio.insecure_channel(address) as channel:
            await _apply(fleet_pb2_grpc.FleetServiceStub(channel))
            await us.wait_for(lambda: us.replicas("games", "arena") == 3)
            await eu.wait_for(lambda: eu.replicas("games", "arena") == 6)
            _settle(us, allocated=1)
            await cluster_pb2_grpc.ClusterServiceStub(channel).DrainCluster(US)
            await eu.wait_for(lambda: eu.replicas("games", "arena") == 8)
        # The drain's state is the cluster record and the fleet's assignment record (written
        # off the reconcile path): both in the store before the hub stops.
        assert hub.store is not None
        records = AssignmentRegistry(hub.store)
        async with asyncio.timeout(10.0):
            while True:
                if (await records.load()).get(KEY) == {"eu-1": 8, "us-1": 3}:
                    break
                await asyncio.sleep(0.05)
        held = {agent.cluster: dict(agent.sets) for agent in agents}
        for agent in agents:
            await agent.stop()
        await hub.stop(grace=0)

        # Within this grace both agents are back before the hub places anything.
        hub = await start_hub(tmp_path / "hub.db", health=replace(TEST_HEALTH, grace=10.0))
        address = f"127.0.0.1:{hub.port}"
        agents = [SimulatedAgent(address, name, heartbeat_interval=0.2) for name in held]
        for agent in agents:
            agent.sets = dict(held[agent.cluster])
            await agent.start()
        eu, us = agents
        await wait_phase(hub, "us-1", "Cordoned")
        await wait_phase(hub, "eu-1", "Ready")
        # Status is soft: until us-1 reports again, its Allocated server is not known, so eu-1
        # makes up all 3 of its servers; us-1 keeps them all until it has reported.
        await eu.wait_for(lambda: eu.replicas("games", "arena") == 9)
        _settle(eu)
        async with grpc.aio.insecure_channel(address) as channel:
            await _wait_drain(cluster_pb2_grpc.ClusterServiceStub(channel), to_move=3, moved=3)
        assert (us.replicas("games", "arena"), us.retiring) == (3, set())
        _settle(us, allocated=1)
        await us.wait_for(lambda: us.replicas("games", "arena") == 1)
        await eu.wait_for(lambda: eu.replicas("games", "arena") == 8)
        assert _replicas_sent(us) == [1]
        async with grpc.aio.insecure_channel(address) as channel:
            cluster = await cluster_pb2_grpc.ClusterServiceStub(channel).GetCluster(US)
        assert (cluster.spec.cordoned, cluster.spec.draining) == (True, True)
    finally:
        for agent in agents:
            await agent.stop()
        await hub.stop(grace=0)
