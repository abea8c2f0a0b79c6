"""A cluster drain with the real hub and agents on the local clusters: the other cluster takes
the drained cluster's idle servers first, then the idle ones there go, and the Allocated one
stays untouched (same pod, never restarted) until uncordon."""

from __future__ import annotations

from gamefleet.v1 import (
    allocation_pb2,
    allocation_pb2_grpc,
    cluster_pb2,
    cluster_pb2_grpc,
    fleet_pb2,
    gameserver_pb2,
)

from agent.controllers import views
from agent.kube import resources
from tests.e2e.agent.harness import eventually

from .world import Member, World


async def _ready_servers(member: Member) -> set[str]:
    servers = await member.namespace.game_servers("arena")
    return {
        name
        for name, gs in servers.items()
        if (gs.get("status") or {}).get("currentState") == "Ready"
    }


async def _pod_identity(world: World, member: Member, name: str) -> tuple[str, int]:
    pod = await member.kube.get(resources.POD, world.namespace, name)
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return views.meta(pod)["uid"], sum(int(s.get("restartCount") or 0) for s in statuses)


async def test_a_drain_moves_idle_servers_first_and_keeps_the_allocated_one(
    world: World,
) -> None:
    stay, leave = world.members
    async with world.channel() as channel:
        clusters = cluster_pb2_grpc.ClusterServiceStub(channel)
        await world.fleets(channel).ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=world.fleet(6)))

        async def placed_and_ready() -> bool:
            """4 and 2 Ready in the clusters, and the hub knows the 2 (it allocates from what
            the agents reported: before that, the preferred cluster has nothing to give)."""
            in_clusters = len(await _ready_servers(stay)), len(await _ready_servers(leave))
            listed = await world.game_servers(channel).ListGameServers(
                gameserver_pb2.ListGameServersRequest(
                    namespace=world.namespace, fleet="arena", state="Ready"
                )
            )
            in_hub = sum(1 for s in listed.game_servers if s.cluster == leave.name)
            return in_clusters == (4, 2) and in_hub == 2

        await eventually(placed_and_ready, 180.0, "4 Ready servers in one cluster, 2 in the other")
        answer = await allocation_pb2_grpc.AllocationServiceStub(channel).Allocate(
            allocation_pb2.AllocateRequest(
                namespace=world.namespace,
                fleet="arena",
                request_id="drain-match",
                preferred_clusters=[leave.name],
            )
        )
        allocated = answer.game_server.name
        assert answer.game_server.cluster == leave.name

        async def written() -> bool:
            gs = await leave.namespace.get_gs(allocated)
            return bool(gs["spec"].get("opsState") == "Allocated")

        await eventually(written, 60.0, f"{allocated} Allocated in {leave.name}")
        before = await _pod_identity(world, leave, allocated)

        async def hub_counts_it() -> bool:
            # The drain moves a cluster's share beyond the Allocated servers the hub knows of:
            # drained before its agent reported this one, the other cluster takes it all.
            got = await world.fleets(channel).GetFleet(
                fleet_pb2.GetFleetRequest(
                    ref=fleet_pb2.FleetRef(namespace=world.namespace, name="arena")
                )
            )
            return any(
                c.cluster == leave.name and c.counts.allocated == 1 for c in got.status.clusters
            )

        await eventually(hub_counts_it, 60.0, f"the hub counting {allocated} Allocated")

        ref = cluster_pb2.ClusterRef(name=leave.name)
        drained = await clusters.DrainCluster(ref)
        assert drained.spec.draining and drained.spec.cordoned
        try:

            async def moved_then_removed() -> bool:
                left = set(await leave.namespace.game_servers("arena"))
                return len(await _ready_servers(stay)) == 5 and left == {allocated}

            await eventually(
                moved_then_removed,
                240.0,
                f"5 Ready in {stay.name}, only {allocated} in {leave.name}",
            )

            async def reported_drained() -> bool:
                cluster = await clusters.GetCluster(ref)
                condition = next(
                    (c for c in cluster.status.conditions if c.type == "Drained"), None
                )
                return (
                    condition is not None
                    and (condition.status, condition.reason) == ("True", "WaitingForAllocated")
                    and cluster.status.drain.allocated == 1
                )

            await eventually(reported_drained, 60.0, f"{leave.name} reported Drained")
            kept = await leave.namespace.get_gs(allocated)
            assert kept["spec"]["opsState"] == "Allocated"
            assert await _pod_identity(world, leave, allocated) == before
        finally:
            await clusters.UncordonCluster(ref)
