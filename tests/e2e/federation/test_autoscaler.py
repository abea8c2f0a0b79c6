"""A FleetAutoscaler with the real hub, the real agents on the two local clusters and the real
allocation path: allocations in one region grow that region's cluster, a released server's
idle capacity shrinks after the window, and the server still in play is never touched."""

from __future__ import annotations

import time

from gamefleet.v1 import (
    allocation_pb2,
    allocation_pb2_grpc,
    autoscaler_pb2,
    autoscaler_pb2_grpc,
    fleet_pb2,
)

from agent.controllers import views
from agent.kube import resources
from hub.core import documents
from tests.e2e.agent.harness import eventually

from .world import Member, World

WINDOW_S = 5.0


async def _servers(member: Member) -> tuple[set[str], set[str]]:
    """(Ready unallocated, Allocated) GameServers of the fleet in the member's cluster."""
    servers = await member.namespace.game_servers("arena")
    pods = await member.namespace.pods("arena")
    idle, allocated = set(), set()
    for name, server in servers.items():
        if name not in pods:
            continue  # being deleted
        ops = (server.get("spec") or {}).get("opsState") or "None"
        state = (server.get("status") or {}).get("currentState")
        if ops == "Allocated":
            allocated.add(name)
        elif ops == "None" and state == "Ready":
            idle.add(name)
    return idle, allocated


async def _counts(member: Member) -> tuple[int, int]:
    idle, allocated = await _servers(member)
    return len(idle), len(allocated)


async def test_allocations_grow_their_region_and_idle_shrinks_after_the_window(
    world: World,
) -> None:
    # Allocations go to the cluster with the smaller placement weight (world.fleet: 2 to 1), so
    # only the autoscaler's per-region demand, not the weights, puts the capacity there.
    second, first = world.members
    assert first.region != second.region
    scaler = documents.from_document(
        {
            "metadata": {"name": "arena", "namespace": world.namespace},
            "spec": {
                "fleetName": "arena",
                "policy": {
                    "type": "Buffer",
                    "buffer": {
                        "bufferSize": 2,
                        "minReplicas": 0,
                        "maxReplicas": 40,
                        "perClusterLabel": "region",
                    },
                },
                "behavior": {"scaleDown": {"stabilizationWindow": f"{WINDOW_S}s"}},
            },
        },
        autoscaler_pb2.FleetAutoscaler,
    )
    async with world.channel() as channel:
        await world.fleets(channel).ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=world.fleet(0)))
        await autoscaler_pb2_grpc.FleetAutoscalerServiceStub(channel).ApplyFleetAutoscaler(
            autoscaler_pb2.ApplyFleetAutoscalerRequest(fleet_autoscaler=scaler)
        )

        seen: list[object] = []

        async def buffered(counts: tuple[tuple[int, int], tuple[int, int]]) -> bool:
            now = (await _counts(first), await _counts(second))
            seen[:] = [now]
            return now == counts

        async def both_idle() -> bool:
            return await buffered(((2, 0), (2, 0)))

        await eventually(both_idle, 120.0, "2 Ready idle servers in each region")

        allocations = allocation_pb2_grpc.AllocationServiceStub(channel)
        for index in range(2):
            await allocations.Allocate(
                allocation_pb2.AllocateRequest(
                    namespace=world.namespace,
                    fleet="arena",
                    request_id=f"match-{index}",
                    preferred_clusters=[first.name],
                )
            )

        async def first_grew() -> bool:
            return await buffered(((2, 2), (2, 0)))

        try:
            await eventually(first_grew, 180.0, "the first region at 2 idle beside 2 allocated")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; (idle, allocated) per region last seen: {seen}") from None

        _, playing = await _servers(first)
        ended, kept = sorted(playing)
        kept_pod = views.meta(await first.kube.get(resources.POD, world.namespace, kept))["uid"]
        await first.namespace.patch_gs(ended, spec={"opsState": "None"})  # the game ended
        released = time.monotonic()

        async def first_shrunk() -> bool:
            return await _counts(first) == (2, 1)

        await eventually(first_shrunk, 120.0, "the first region shrunk to 2 idle beside 1 playing")
        assert time.monotonic() - released >= WINDOW_S - 0.5, "shrunk before the window"
        still = await first.namespace.get_gs(kept)
        assert (still.get("spec") or {}).get("opsState") == "Allocated"
        pod = await first.kube.get(resources.POD, world.namespace, kept)
        assert views.meta(pod)["uid"] == kept_pod, "the server in play was restarted"
        assert await _counts(second) == (2, 0)

        fleet = await world.fleets(channel).GetFleet(
            fleet_pb2.GetFleetRequest(
                ref=fleet_pb2.FleetRef(namespace=world.namespace, name="arena")
            )
        )
        assert fleet.replicas_owner == "FleetAutoscaler/arena"
        assert dict(fleet.cluster_demand) == {first.name: 3, second.name: 2}
