"""Allocation with the real hub and agents on the local clusters: the GameServer in the cluster
turns Allocated and carries the request_id, a repeated request_id gets it again, and a
scale-down keeps it."""

from __future__ import annotations

from gamefleet import protocol
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

from .world import World


async def _hub_ready(world: World, counts: tuple[int, int]) -> None:
    async def check() -> bool:
        async with world.channel() as channel:
            listed = await world.game_servers(channel).ListGameServers(
                gameserver_pb2.ListGameServersRequest(
                    namespace=world.namespace, fleet="arena", state="Ready"
                )
            )
            clusters = await cluster_pb2_grpc.ClusterServiceStub(channel).ListClusters(
                cluster_pb2.ListClustersRequest()
            )
        phases = {c.metadata.name: c.status.phase for c in clusters.clusters}
        ready = all(phases.get(m.name) == "Ready" for m in world.members)
        seen = tuple(
            len([s for s in listed.game_servers if s.cluster == m.name]) for m in world.members
        )
        return ready and seen == counts

    await eventually(check, 120.0, f"both clusters Ready, {counts} Ready servers in the hub")


async def test_allocation_writes_the_cluster_replays_and_survives_a_scale_down(
    world: World,
) -> None:
    first, second = world.members
    async with world.channel() as channel:
        await world.fleets(channel).ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=world.fleet(3)))
        await _hub_ready(world, (2, 1))
        stub = allocation_pb2_grpc.AllocationServiceStub(channel)
        request = allocation_pb2.AllocateRequest(
            namespace=world.namespace,
            fleet="arena",
            request_id="match-1",
            preferred_clusters=[second.name],
            labels={"match": "m1"},
        )
        response = await stub.Allocate(request)
        server = response.game_server
        assert (server.cluster, server.ops_state, response.replayed) == (
            second.name,
            "Allocated",
            False,
        )

        # Answered once the agent's allocation ledger holds it; the GameServer follows.
        async def written() -> bool:
            found = await second.namespace.get_gs(server.name)
            return bool(found["spec"].get("opsState") == "Allocated")

        await eventually(written, 30.0, f"{server.name} Allocated in its cluster")
        in_cluster = await second.namespace.get_gs(server.name)
        assert views.meta(in_cluster)["labels"]["match"] == "m1"
        stamp = views.meta(in_cluster)["annotations"][protocol.ALLOCATION_REQUEST_ANNOTATION]
        assert (stamp, server.allocation_request_id) == ("match-1", "match-1")
        pod_uid = views.meta(await second.kube.get(resources.POD, world.namespace, server.name))[
            "uid"
        ]

        again = await stub.Allocate(request)
        assert again.replayed and again.game_server.name == server.name

        ref = fleet_pb2.FleetRef(namespace=world.namespace, name="arena")
        await world.fleets(channel).ScaleFleet(fleet_pb2.ScaleFleetRequest(ref=ref, replicas=0))

    async def only_the_allocated_one_left() -> bool:
        kept = await second.namespace.game_servers("arena")
        gone = await first.namespace.game_servers("arena")
        return list(kept) == [server.name] and not gone

    await eventually(only_the_allocated_one_left, 90.0, "only the allocated server left")
    kept = await second.namespace.get_gs(server.name)
    assert kept["spec"]["opsState"] == "Allocated"
    assert (
        views.meta(await second.kube.get(resources.POD, world.namespace, server.name))["uid"]
        == pod_uid
    )
