"""Hub ↔ agents over loopback gRPC: desired sets, resync, status, health, failover, routing."""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import pytest
from gamefleet.v1 import agent_pb2, fleet_pb2, fleet_pb2_grpc, gameserver_pb2, gameserver_pb2_grpc
from google.protobuf import json_format

from hub.api.server import Hub
from hub.core import documents
from tests.support.agent_sim import SimulatedAgent, game_server, set_status

from .conftest import TEST_HEALTH, StartAgent, start_hub, wait_phase
from .fleet_docs import fleet, fleet_document

REF = fleet_pb2.FleetRef(namespace="games", name="arena")
WEIGHTS = {"clusters": [{"name": "eu-1", "weight": 2}, {"name": "us-1", "weight": 1}]}


async def _apply(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, replicas: int = 9, **placement: object
) -> fleet_pb2.Fleet:
    response = await fleets.ApplyFleet(
        fleet_pb2.ApplyFleetRequest(
            fleet=fleet(replicas=replicas, placement={**WEIGHTS, **placement})
        )
    )
    return response.fleet


def _holds_arena(agent: SimulatedAgent) -> bool:
    return agent.replicas("games", "arena") is not None


async def _settle(agent: SimulatedAgent, allocated: int = 0) -> None:
    """Report the set the agent holds as fully ready, as a converged agent would."""
    desired = agent.sets[("games", "arena")]
    agent.report(
        agent_pb2.StatusDelta(
            sets=[
                set_status(
                    desired, ready=agent.replicas("games", "arena") or 0, allocated=allocated
                )
            ]
        )
    )


async def test_weights_split_the_fleet_and_status_aggregates(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> None:
    eu, us = await start_agent("eu-1"), await start_agent("us-1")
    await _apply(fleets)
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 6)
    await us.wait_for(lambda: us.replicas("games", "arena") == 3)
    spec = json_format.MessageToDict(eu.sets[("games", "arena")].spec)
    assert spec["gameServerTemplate"]["spec"]["containers"][0]["image"] == "arena:1.0"

    await _settle(eu, allocated=2)
    await _settle(us)
    stream = fleets.WatchFleets(fleet_pb2.WatchFleetsRequest(namespace="games"))
    async for event in stream:
        counts = event.fleet.status.counts
        if counts.ready == 9:
            break
    stream.cancel()
    status = (await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))).status
    assert (status.counts.replicas, status.counts.ready, status.counts.allocated) == (9, 9, 2)
    by_cluster = {c.cluster: c for c in status.clusters}
    assert by_cluster["eu-1"].counts.ready == 6
    assert by_cluster["eu-1"].observed_generation == 1
    conditions = {c.type: (c.status, c.reason) for c in status.conditions}
    assert conditions["Progressing"] == ("False", "Complete")
    assert conditions["Available"][0] == "True"
    assert conditions["Degraded"] == ("False", "Healthy")

    await fleets.ScaleFleet(fleet_pb2.ScaleFleetRequest(ref=REF, replicas=12))
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 8)
    await us.wait_for(lambda: us.replicas("games", "arena") == 4)


async def test_reconnect_with_held_sets_sends_nothing_new(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent, hub: Hub
) -> None:
    eu = await start_agent("eu-1")
    await _apply(fleets, replicas=4)
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 4)
    await eu.stop()

    again = SimulatedAgent(f"127.0.0.1:{hub.port}", "eu-1", heartbeat_interval=0.2)
    again.sets = dict(eu.sets)
    await again.start()
    try:
        await again.wait_for(lambda: any(m.HasField("status_hashes") for m in again.received))
        await wait_phase(hub, "eu-1", "Ready")
        await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
        assert not [m for m in again.received if m.HasField("desired")]
    finally:
        await again.stop()


async def test_hub_restart_rebuilds_status_and_sends_no_change(tmp_path: Path) -> None:
    hub = await start_hub(tmp_path / "hub.db")
    address = f"127.0.0.1:{hub.port}"
    agents = [SimulatedAgent(address, name, heartbeat_interval=0.2) for name in ("eu-1", "us-1")]
    try:
        for agent in agents:
            await agent.start()
        async with grpc.aio.insecure_channel(address) as channel:
            await _apply(fleet_pb2_grpc.FleetServiceStub(channel))
        for agent in agents:
            await agent.wait_for(partial(_holds_arena, agent))
        held = {agent.cluster: dict(agent.sets) for agent in agents}
        for agent in agents:
            await agent.stop()
        await hub.stop(grace=0)

        # Both agents are back well within this grace, also on a loaded machine: the hub
        # waits for them before placing anything.
        patient = dataclasses.replace(TEST_HEALTH, grace=10.0)
        hub = await start_hub(tmp_path / "hub.db", health=patient)
        address = f"127.0.0.1:{hub.port}"
        agents = [SimulatedAgent(address, name, heartbeat_interval=0.2) for name in held]
        for agent in agents:
            agent.sets = dict(held[agent.cluster])
            await agent.start()
        for agent in agents:
            await wait_phase(hub, agent.cluster, "Ready")
            await _settle(agent)
        async with grpc.aio.insecure_channel(address) as channel:
            stub = fleet_pb2_grpc.FleetServiceStub(channel)
            stream = stub.WatchFleets(fleet_pb2.WatchFleetsRequest(namespace="games"))
            async for event in stream:
                if event.fleet.status.counts.ready == 9:
                    break
            stream.cancel()
        assert all(not [m for m in a.received if m.HasField("desired")] for a in agents)
    finally:
        for agent in agents:
            await agent.stop()
        await hub.stop(grace=0)


async def test_a_cluster_out_of_reach_across_a_hub_restart_keeps_its_share(
    tmp_path: Path,
) -> None:
    """The hub keeps each cluster's last assignment in its store: us-1 does not come back after
    the restart, and still keeps its 3 when the fleet grows (nothing is moved onto eu-1 for
    servers that may well be running where the hub cannot see)."""
    hub = await start_hub(tmp_path / "hub.db")
    address = f"127.0.0.1:{hub.port}"
    eu = SimulatedAgent(address, "eu-1", heartbeat_interval=0.2)
    us = SimulatedAgent(address, "us-1", heartbeat_interval=0.2)
    try:
        await eu.start()
        await us.start()
        async with grpc.aio.insecure_channel(address) as channel:
            await _apply(fleet_pb2_grpc.FleetServiceStub(channel))
        await eu.wait_for(lambda: eu.replicas("games", "arena") == 6)
        await us.wait_for(lambda: us.replicas("games", "arena") == 3)
        held = dict(eu.sets)
        await eu.stop()
        await us.stop()
        await hub.stop(grace=0)

        hub = await start_hub(tmp_path / "hub.db")
        address = f"127.0.0.1:{hub.port}"
        eu = SimulatedAgent(address, "eu-1", heartbeat_interval=0.2)
        eu.sets = held
        await eu.start()
        await wait_phase(hub, "eu-1", "Ready")
        await wait_phase(hub, "us-1", "Unknown")
        async with grpc.aio.insecure_channel(address) as channel:
            stub = fleet_pb2_grpc.FleetServiceStub(channel)
            await stub.ScaleFleet(fleet_pb2.ScaleFleetRequest(ref=REF, replicas=12))
            await eu.wait_for(lambda: eu.replicas("games", "arena") == 9)
            status = (await stub.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))).status
        assert {c.cluster: c.desired_replicas for c in status.clusters} == {"eu-1": 9, "us-1": 3}
    finally:
        await eu.stop()
        await hub.stop(grace=0)


async def test_silent_cluster_turns_unknown_and_keeps_its_share(
    hub: Hub, fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> None:
    eu, us = await start_agent("eu-1"), await start_agent("us-1")
    await _apply(fleets)
    await us.wait_for(lambda: us.replicas("games", "arena") == 3)
    us.heartbeats = False
    took = await wait_phase(hub, "us-1", "Unknown")
    assert took <= TEST_HEALTH.grace + 1.0
    status = (await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))).status
    assert {c.cluster: c.desired_replicas for c in status.clusters} == {"eu-1": 6, "us-1": 3}
    degraded = next(c for c in status.conditions if c.type == "Degraded")
    assert (degraded.status, degraded.reason) == ("True", "ClusterUnknown")
    assert eu.replicas("games", "arena") == 6

    # One heartbeat is not enough to be Ready again (hysteresis); a steady stream is.
    us.heartbeats = True
    await wait_phase(hub, "us-1", "Ready")


async def test_failover_moves_unallocated_replicas_and_gives_them_back(
    hub: Hub, fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> None:
    eu, us = await start_agent("eu-1"), await start_agent("us-1")
    await _apply(fleets, failover={"enabled": True, "after": "1s"})
    await us.wait_for(lambda: us.replicas("games", "arena") == 3)
    await _settle(us, allocated=1)
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 6)

    us.heartbeats = False
    await wait_phase(hub, "us-1", "Unknown")
    # The 2 unallocated servers of us-1 are replaced in eu-1; nothing is sent to us-1.
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 8)
    assert us.replicas("games", "arena") == 3

    us.heartbeats = True
    await wait_phase(hub, "us-1", "Ready")
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 6)
    assert us.replicas("games", "arena") == 3


async def test_game_servers_listed_and_targeted_ops_routed_to_their_cluster(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
    game_servers: gameserver_pb2_grpc.GameServerServiceAsyncStub,
    start_agent: StartAgent,
) -> None:
    eu, us = await start_agent("eu-1"), await start_agent("us-1")
    await _apply(fleets, replicas=3)
    eu.report(
        agent_pb2.StatusDelta(
            game_servers=[
                game_server("games", "arena", 0),
                game_server("games", "arena", 1, ops_state="Allocated"),
            ]
        )
    )
    us.report(agent_pb2.StatusDelta(game_servers=[game_server("games", "arena", 2)]))

    async def listed(**filters: Any) -> list[str]:
        response = await game_servers.ListGameServers(
            gameserver_pb2.ListGameServersRequest(namespace="games", **filters)
        )
        return [f"{s.cluster}/{s.name}" for s in response.game_servers]

    await eu.wait_for(lambda: True)
    for _ in range(50):
        if len(await listed()) == 3:
            break
    assert await listed() == ["eu-1/arena-0", "eu-1/arena-1", "us-1/arena-2"]
    first_page = await game_servers.ListGameServers(
        gameserver_pb2.ListGameServersRequest(namespace="games", page_size=2)
    )
    assert [s.name for s in first_page.game_servers] == ["arena-0", "arena-1"]
    second_page = await game_servers.ListGameServers(
        gameserver_pb2.ListGameServersRequest(
            namespace="games", page_size=2, page_token=first_page.next_page_token
        )
    )
    assert [f"{s.cluster}/{s.name}" for s in second_page.game_servers] == ["us-1/arena-2"]
    assert second_page.next_page_token == ""
    assert await listed(ops_state="Allocated") == ["eu-1/arena-1"]
    assert await listed(cluster="us-1") == ["us-1/arena-2"]

    patch = gameserver_pb2.GameServerPatch(ops_state="Maintaining", images={"server": "arena:1.1"})
    response = await game_servers.UpdateGameServers(
        gameserver_pb2.UpdateGameServersRequest(
            namespace="games", fleet="arena", names=["arena-0", "arena-2"], patch=patch
        )
    )
    assert list(response.updated) == ["eu-1/arena-0", "us-1/arena-2"]
    assert [list(op.game_servers) for op in eu.operations] == [["arena-0"]]
    assert [list(op.game_servers) for op in us.operations] == [["arena-2"]]
    assert eu.operations[0].patch.ops_state == "Maintaining"

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await game_servers.UpdateGameServers(
            gameserver_pb2.UpdateGameServersRequest(namespace="games", names=["arena-0"])
        )
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith("patch")


async def test_first_message_must_be_hello_and_name_must_be_valid(hub: Hub) -> None:
    agent = SimulatedAgent(f"127.0.0.1:{hub.port}", "Not_Valid")
    # Only the hello is written, so the refusal is not raced by a heartbeat write.
    agent.heartbeats = False
    await agent.start()
    await agent.wait_for(lambda: agent.error is not None)
    assert isinstance(agent.error, grpc.aio.AioRpcError)
    assert agent.error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (agent.error.details() or "").startswith("hello.cluster")
    await agent.stop()


async def test_sequential_update_policy_rolls_one_cluster_at_a_time(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> None:
    eu, us = await start_agent("eu-1"), await start_agent("us-1")

    def sequential(image: str) -> fleet_pb2.Fleet:
        doc = fleet_document(replicas=9, placement=WEIGHTS, updatePolicy={"type": "Sequential"})
        doc["spec"]["template"]["gameServerTemplate"]["spec"]["containers"][0]["image"] = image
        return documents.from_document(doc, fleet_pb2.Fleet)

    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=sequential("arena:1.0")))
    await eu.wait_for(partial(_holds_arena, eu))
    await us.wait_for(partial(_holds_arena, us))
    await _settle(eu)
    await _settle(us)
    old_us = us.sets[("games", "arena")].hash

    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=sequential("arena:2.0")))
    await eu.wait_for(lambda: _image(eu) == "arena:2.0")
    assert us.sets[("games", "arena")].hash == old_us
    # us-1 gets the new set only after eu-1 reports it settled.
    before_settled = len(us.received)
    await _settle(eu)
    await us.wait_for(lambda: _image(us) == "arena:2.0")
    first_new = next(
        index
        for index, message in enumerate(us.received)
        if message.HasField("desired") and "arena:2.0" in str(message.desired)
    )
    assert first_new >= before_settled


def _image(agent: SimulatedAgent) -> str:
    spec = json_format.MessageToDict(agent.sets[("games", "arena")].spec)
    return str(spec["gameServerTemplate"]["spec"]["containers"][0]["image"])
