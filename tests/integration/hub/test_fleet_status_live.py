"""What a fleet's status says from the servers its agents report: how many an allocation could
get now (`allocatable`), and whether an update is still running or has stalled."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from gamefleet.v1 import agent_pb2, cluster_pb2, fleet_pb2

from tests.support.agent_sim import SimulatedAgent, game_server, set_status
from tests.support.hub_process import run_cli

from .conftest import StartAgent, wait_phase
from .fleet_docs import fleet

if TYPE_CHECKING:
    from collections.abc import Callable

    from gamefleet.v1 import cluster_pb2_grpc, fleet_pb2_grpc

    from hub.api.server import Hub

    FleetStub = fleet_pb2_grpc.FleetServiceAsyncStub
    ClusterStub = cluster_pb2_grpc.ClusterServiceAsyncStub

REF = fleet_pb2.FleetRef(namespace="games", name="arena")


async def _status_until(
    fleets: FleetStub, holds: Callable[[fleet_pb2.FleetStatus], bool], what: str
) -> fleet_pb2.FleetStatus:
    status = fleet_pb2.FleetStatus()
    try:
        async with asyncio.timeout(10):
            while True:
                status = (await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))).status
                if holds(status):
                    return status
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"no fleet status with {what}; last: {status}") from None


def _allocatable(status: fleet_pb2.FleetStatus) -> tuple[int, dict[str, int]]:
    return status.allocatable, {c.cluster: c.allocatable for c in status.clusters}


async def _report_settled(agent: SimulatedAgent, ready: int) -> None:
    """Report the set the hub sent as applied and up to date."""
    await agent.wait_for(lambda: ("games", "arena") in agent.sets)
    agent.report(agent_pb2.StatusDelta(sets=[set_status(agent.sets[("games", "arena")], ready)]))


def _conditions(status: fleet_pb2.FleetStatus) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in status.conditions}


async def test_allocatable_counts_ready_unallocated_servers_on_ready_clusters(
    hub: Hub, fleets: FleetStub, clusters: ClusterStub, start_agent: StartAgent
) -> None:
    placement = {"clusters": [{"name": "eu", "weight": 1}, {"name": "us", "weight": 1}]}
    await fleets.ApplyFleet(
        fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=6, placement=placement))
    )
    eu, us = await start_agent("eu"), await start_agent("us")
    free = [game_server("games", "arena", i) for i in range(3)]
    allocated = game_server("games", "arena", 3, ops_state="Allocated")
    not_ready = game_server("games", "arena", 4, state="NotReady")
    maintaining = game_server("games", "arena", 5, ops_state="Maintaining")
    eu.report(agent_pb2.StatusDelta(game_servers=[*free[:2], allocated, not_ready, maintaining]))
    us.report(agent_pb2.StatusDelta(game_servers=[free[2], game_server("games", "arena", 4)]))
    status = await _status_until(fleets, lambda s: s.allocatable == 4, "4 allocatable")
    assert _allocatable(status) == (4, {"eu": 2, "us": 2})

    code = await asyncio.to_thread(
        run_cli, "get", "fleets", "-n", "games", "--hub", f"127.0.0.1:{hub.port}"
    )
    header, row = code.stdout.splitlines()
    assert code.returncode == 0
    assert row.split()[header.split().index("ALLOCATABLE")] == "4"

    await clusters.CordonCluster(cluster_pb2.ClusterRef(name="us"))
    status = await _status_until(fleets, lambda s: s.allocatable == 2, "us cordoned")
    assert _allocatable(status) == (2, {"eu": 2, "us": 0})

    await eu.cut()
    await wait_phase(hub, "eu", "Unknown")
    status = await _status_until(fleets, lambda s: s.allocatable == 0, "eu Unknown")
    assert _allocatable(status) == (0, {"eu": 0, "us": 0})


async def test_servers_updating_keep_the_fleet_progressing_and_a_stalled_one_degrades_it(
    fleets: FleetStub, start_agent: StartAgent
) -> None:
    """The set's counts say every server is updated (their pods run the new revision), but a
    server still Updating has not restarted on its new image: the update is not complete, and
    once one has been Updating past the deadline (5 minutes) the fleet is Degraded."""
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=3)))
    eu = await start_agent("eu")
    await _report_settled(eu, ready=3)
    servers = [game_server("games", "arena", i) for i in range(3)]
    servers[1].state = "Updating"
    servers[1].last_transition_time.FromSeconds(int(time.time()) - 10)
    eu.report(agent_pb2.StatusDelta(game_servers=servers))
    status = await _status_until(
        fleets, lambda s: _conditions(s)["Progressing"][0] == "True", "Progressing"
    )
    conditions = _conditions(status)
    assert conditions["Progressing"] == (
        "True",
        "RollingOut",
        "clusters are applying the fleet; 1 server Updating (eu: 1)",
    )
    assert conditions["Degraded"][:2] == ("False", "Healthy")

    servers[1].last_transition_time.FromSeconds(int(time.time()) - 400)
    eu.report(agent_pb2.StatusDelta(game_servers=[servers[1]]))
    status = await _status_until(
        fleets, lambda s: _conditions(s)["Degraded"][0] == "True", "Degraded"
    )
    conditions = _conditions(status)
    assert conditions["Progressing"][:2] == ("False", "ProgressDeadlineExceeded")
    assert conditions["Degraded"][:2] == ("True", "UpdateStalled")
    assert conditions["Degraded"][2].startswith("eu/arena-1 has been Updating for 6m4")

    servers[1].state = "Ready"
    eu.report(agent_pb2.StatusDelta(game_servers=[servers[1]]))
    status = await _status_until(
        fleets, lambda s: _conditions(s)["Progressing"][1] == "Complete", "Complete"
    )
    assert _conditions(status)["Degraded"][:2] == ("False", "Healthy")


async def test_watchers_see_an_update_stall_when_the_deadline_passes(
    fleets: FleetStub, start_agent: StartAgent
) -> None:
    """Nothing is reported when the deadline passes; the watch still gets the Degraded fleet."""
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=1)))
    eu = await start_agent("eu")
    await _report_settled(eu, ready=1)
    server = game_server("games", "arena", 0, state="Updating")
    server.last_transition_time.FromSeconds(int(time.time()) - 298)  # the deadline is 300 s
    eu.report(agent_pb2.StatusDelta(game_servers=[server]))
    await _status_until(fleets, lambda s: _conditions(s)["Progressing"][0] == "True", "Progressing")
    stream = fleets.WatchFleets(fleet_pb2.WatchFleetsRequest(namespace="games"))
    async with asyncio.timeout(10):
        async for event in stream:
            degraded = _conditions(event.fleet.status).get("Degraded")
            if degraded is not None and degraded[1] == "UpdateStalled":
                break
    stream.cancel()
