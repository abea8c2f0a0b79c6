"""Deleting a fleet: its sets are retired in every cluster, and the fleet stays, deleting and
saying what it waits for, until every cluster reports its set gone — across a hub restart too."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from gamefleet.v1 import agent_pb2, cluster_pb2, cluster_pb2_grpc, fleet_pb2, fleet_pb2_grpc

from hub.api.server import Hub
from hub.core import fleet_status
from tests.e2e.agent.harness import eventually
from tests.support.agent_sim import SimulatedAgent, set_status

from .conftest import StartAgent, start_hub, wait_phase
from .fleet_docs import fleet

REF = fleet_pb2.FleetRef(namespace="games", name="arena")
WEIGHTS = {"clusters": [{"name": "eu-1", "weight": 2}, {"name": "us-1", "weight": 1}]}
KEY = ("games", "arena")


def _terminating(fleet: fleet_pb2.Fleet) -> str:
    found = fleet_status.condition_of(fleet, fleet_status.TERMINATING)
    return found.message if found is not None and found.status == "True" else ""


async def _placed_and_settled(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, eu: SimulatedAgent, us: SimulatedAgent
) -> None:
    """9 placed 6 and 3; eu-1 has 2 Allocated servers."""
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(placement=WEIGHTS)))
    await eu.wait_for(lambda: eu.replicas(*KEY) == 6)
    await us.wait_for(lambda: us.replicas(*KEY) == 3)
    eu.report(agent_pb2.StatusDelta(sets=[set_status(eu.sets[KEY], ready=6, allocated=2)]))
    us.report(agent_pb2.StatusDelta(sets=[set_status(us.sets[KEY], ready=3)]))

    async def reported() -> bool:
        got = await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
        return (got.status.counts.ready, got.status.counts.allocated) == (9, 2)

    await eventually(reported, 10.0, "both clusters' status at the hub")


async def _gone(fleets: fleet_pb2_grpc.FleetServiceAsyncStub) -> bool:
    try:
        await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
    except grpc.aio.AioRpcError as exc:
        return exc.code() is grpc.StatusCode.NOT_FOUND
    return False


async def test_delete_waits_for_every_cluster_and_refuses_changes_meanwhile(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> None:
    eu, us = await start_agent("eu-1"), await start_agent("us-1")
    await _placed_and_settled(fleets, eu, us)

    deleted = await fleets.DeleteFleet(fleet_pb2.DeleteFleetRequest(ref=REF))
    assert not deleted.removed
    assert deleted.fleet.metadata.HasField("deletion_time")
    assert _terminating(deleted.fleet) == (
        "waiting for eu-1 (2 Allocated servers), us-1 (3 servers leaving)"
    )
    # Both agents are told to retire their set.
    await eu.wait_for(lambda: KEY in eu.retiring)
    await us.wait_for(lambda: KEY in us.retiring)

    # Still listed, deleting; no change is taken until it is gone.
    listed = await fleets.ListFleets(fleet_pb2.ListFleetsRequest(namespace="games"))
    assert [f.metadata.HasField("deletion_time") for f in listed.fleets] == [True]
    for call in (
        fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(placement=WEIGHTS))),
        fleets.ScaleFleet(fleet_pb2.ScaleFleetRequest(ref=REF, replicas=3)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "being deleted" in (refused.value.details() or "")
    again = await fleets.DeleteFleet(fleet_pb2.DeleteFleetRequest(ref=REF))
    assert again.fleet.metadata.deletion_time == deleted.fleet.metadata.deletion_time

    # us-1's set goes; eu-1 keeps its 2 Allocated servers (scaled to 0, they stay).
    us.retired(*KEY)
    eu_left = agent_pb2.GameServerSetStatus(namespace="games", name="arena")
    eu_left.counts.replicas = eu_left.counts.ready = eu_left.counts.allocated = 2
    eu.report(agent_pb2.StatusDelta(sets=[eu_left]))

    async def only_eu() -> bool:
        got = await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
        return _terminating(got) == "waiting for eu-1 (2 Allocated servers)"

    await eventually(only_eu, 10.0, "the deletion waiting for eu-1 alone")
    eu.retired(*KEY)
    await eventually(lambda: _gone(fleets), 10.0, "the fleet removed from the store")
    # Gone for good: applying it again creates a new fleet.
    applied = await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(placement=WEIGHTS)))
    assert applied.created


async def test_a_deleting_fleet_survives_a_hub_restart_and_finishes_after_it(
    tmp_path: Path,
) -> None:
    hub = await start_hub(tmp_path / "hub.db")
    agents: list[SimulatedAgent] = []
    try:
        address = f"127.0.0.1:{hub.port}"
        for name in ("eu-1", "us-1"):
            agent = SimulatedAgent(address, name, heartbeat_interval=0.2)
            agent.reconnect = True
            agents.append(await agent.start())
            await wait_phase(hub, name, "Ready")
        eu, us = agents
        async with grpc.aio.insecure_channel(address) as channel:
            fleets = fleet_pb2_grpc.FleetServiceStub(channel)
            await _placed_and_settled(fleets, eu, us)
            await fleets.DeleteFleet(fleet_pb2.DeleteFleetRequest(ref=REF))
            await eu.wait_for(lambda: KEY in eu.retiring)
            await us.wait_for(lambda: KEY in us.retiring)
            us.retired(*KEY)

            async def us_gone() -> bool:
                got = await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
                return "us-1" not in _terminating(got)

            await eventually(us_gone, 10.0, "us-1's set reported gone")

        await hub.stop(grace=0)
        hub = await start_hub(tmp_path / "hub.db", listen=address)
        await wait_phase(hub, "eu-1", "Ready")
        async with grpc.aio.insecure_channel(address) as channel:
            fleets = fleet_pb2_grpc.FleetServiceStub(channel)

            async def still_waiting_for_eu() -> bool:
                got = await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
                return _terminating(got) == "waiting for eu-1 (2 Allocated servers)"

            await eventually(still_waiting_for_eu, 10.0, "the restarted hub waiting for eu-1")
            eu.retired(*KEY)
            await eventually(lambda: _gone(fleets), 10.0, "the fleet removed after the restart")
    finally:
        for agent in agents:
            await agent.stop()
        await hub.stop(grace=0)


async def test_removing_a_silent_cluster_lets_the_deletion_finish(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
    start_agent: StartAgent,
    hub: Hub,
) -> None:
    eu, us = await start_agent("eu-1"), await start_agent("us-1")
    await _placed_and_settled(fleets, eu, us)
    await us.stop()
    await fleets.DeleteFleet(fleet_pb2.DeleteFleetRequest(ref=REF))
    await eu.wait_for(lambda: KEY in eu.retiring)
    eu.retired(*KEY)

    async def waits_for_silent_us() -> bool:
        got = await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
        return _terminating(got) == "waiting for us-1 (not connected)"

    await eventually(waits_for_silent_us, 10.0, "the deletion waiting for the silent us-1")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{hub.port}") as channel:
        clusters: cluster_pb2_grpc.ClusterServiceAsyncStub = cluster_pb2_grpc.ClusterServiceStub(
            channel
        )
        await clusters.RemoveCluster(cluster_pb2.ClusterRef(name="us-1"))
    await eventually(lambda: _gone(fleets), 10.0, "the fleet removed with the cluster")
