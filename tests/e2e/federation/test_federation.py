"""One hub and two clusters, each with its agent, as separate processes: a fleet's life.

The tests run in order as one story (a fleet comes up, scales, updates, survives the hub and a
cluster going away); each asserts what its name says, and allocated servers are checked to be
untouched wherever the story could have disturbed them.
"""

from __future__ import annotations

import time

from gamefleet.v1 import cluster_pb2, cluster_pb2_grpc, fleet_pb2, gameserver_pb2

from agent.controllers import views
from tests.e2e.agent.harness import eventually
from tests.support.hub_process import HubProcess

from .world import World

UNKNOWN_WITHIN_S = 15.0
RESYNC_WITHIN_S = 10.0


async def _fleet(world: World) -> fleet_pb2.Fleet:
    async with world.channel() as channel:
        ref = fleet_pb2.FleetRef(namespace=world.namespace, name="arena")
        return await world.fleets(channel).GetFleet(fleet_pb2.GetFleetRequest(ref=ref))


async def _ready_pods(world: World, member: int) -> dict[str, str]:
    """Ready pod name → uid in one cluster."""
    pods = await world.members[member].namespace.pods("arena")
    return {
        name: str(views.meta(pod)["uid"])
        for name, pod in pods.items()
        if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (pod.get("status") or {}).get("conditions") or []
        )
    }


async def _wait_ready(world: World, counts: tuple[int, int], seconds: float = 90.0) -> None:
    async def check() -> bool:
        fleet = await _fleet(world)
        by_cluster = {c.cluster: c.counts.ready for c in fleet.status.clusters}
        wanted = {m.name: n for m, n in zip(world.members, counts, strict=True)}
        in_clusters = [len(await _ready_pods(world, i)) for i in range(2)]
        return by_cluster == wanted and tuple(in_clusters) == counts

    await eventually(check, seconds, f"{counts} ready servers, seen by the hub and in clusters")


async def _uids(world: World) -> dict[tuple[int, str], str]:
    return {
        (index, name): uid
        for index in range(2)
        for name, uid in (await _ready_pods(world, index)).items()
    }


async def test_fleet_of_9_weighted_2_to_1_comes_up_6_and_3(world: World) -> None:
    async with world.channel() as channel:
        await world.fleets(channel).ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=world.fleet(9)))
    await _wait_ready(world, (6, 3))
    fleet = await _fleet(world)
    assert fleet.status.counts.ready == 9
    assert {c.cluster: c.desired_replicas for c in fleet.status.clusters} == {
        world.members[0].name: 6,
        world.members[1].name: 3,
    }
    conditions = {c.type: c.status for c in fleet.status.conditions}
    assert conditions["Available"] == "True"


async def test_clusters_report_their_nodes_to_the_hub(world: World) -> None:
    async with world.channel() as channel:
        stub: cluster_pb2_grpc.ClusterServiceAsyncStub = cluster_pb2_grpc.ClusterServiceStub(
            channel
        )
        listed = await stub.ListClusters(cluster_pb2.ListClustersRequest())
    by_name = {c.metadata.name: c for c in listed.clusters}
    for member in world.members:
        cluster = by_name[member.name]
        assert cluster.status.phase == "Ready"
        assert cluster.status.capacity.nodes == 3
        assert cluster.status.capacity.pods >= 3000
        assert cluster.metadata.labels["region"] == member.region


async def test_scale_to_12_places_8_and_4(world: World) -> None:
    async with world.channel() as channel:
        ref = fleet_pb2.FleetRef(namespace=world.namespace, name="arena")
        await world.fleets(channel).ScaleFleet(fleet_pb2.ScaleFleetRequest(ref=ref, replicas=12))
    await _wait_ready(world, (8, 4))


async def test_image_update_reaches_both_clusters_in_place(world: World) -> None:
    """A rolling in-place update as the demo's fleet makes it (25% at a time) finishes: every
    server is Ready again running the new image, in the same pod. The local clusters' kwok
    stage restarts each patched container on its new image, as a kubelet does (and as in the
    demo): without it the servers stay Updating and the rollout stops after the first ones."""
    before = await _uids(world)
    async with world.channel() as channel:
        await world.fleets(channel).ApplyFleet(
            fleet_pb2.ApplyFleetRequest(
                fleet=world.fleet(12, image="arena:2.0", max_unavailable="25%")
            )
        )

    async def updated() -> bool:
        fleet = await _fleet(world)
        if fleet.status.counts.updated_ready != 12:
            return False
        async with world.channel() as channel:
            listed = await world.game_servers(channel).ListGameServers(
                gameserver_pb2.ListGameServersRequest(namespace=world.namespace, fleet="arena")
            )
        servers = [(s.state, dict(s.images)) for s in listed.game_servers]
        if servers != [("Ready", {"arena": "arena:2.0"})] * 12:
            return False
        for member in world.members:
            for pod in (await member.namespace.pods("arena")).values():
                statuses = pod["status"].get("containerStatuses") or []
                running = [status.get("image") for status in statuses]
                if pod["spec"]["containers"][0]["image"] != "arena:2.0" or running != ["arena:2.0"]:
                    return False
        return True

    await eventually(updated, 120.0, "every server Ready, running arena:2.0")
    assert await _uids(world) == before, "an in-place update recreated pods"
    conditions = {c.type: (c.status, c.reason) for c in (await _fleet(world)).status.conditions}
    assert conditions["Progressing"] == ("False", "Complete")


async def test_targeted_ops_by_name_and_selector_reach_the_right_servers(world: World) -> None:
    first, second = world.members
    await first.namespace.patch_gs("arena-2", labels={"tier": "vip"})
    async with world.channel() as channel:
        stub = world.game_servers(channel)
        allocated = await stub.UpdateGameServers(
            gameserver_pb2.UpdateGameServersRequest(
                namespace=world.namespace,
                fleet="arena",
                names=[f"{first.name}/arena-1", f"{second.name}/arena-1"],
                patch=gameserver_pb2.GameServerPatch(ops_state="Allocated"),
            )
        )
        assert sorted(allocated.updated) == sorted(
            [f"{first.name}/arena-1", f"{second.name}/arena-1"]
        )

        async def vip_visible() -> bool:
            listed = await stub.ListGameServers(
                gameserver_pb2.ListGameServersRequest(
                    namespace=world.namespace, label_selector="tier=vip"
                )
            )
            return [s.cluster for s in listed.game_servers] == [first.name]

        await eventually(vip_visible, 30.0, "the vip label reported to the hub")
        by_selector = await stub.UpdateGameServers(
            gameserver_pb2.UpdateGameServersRequest(
                namespace=world.namespace,
                label_selector="tier=vip",
                patch=gameserver_pb2.GameServerPatch(deletion_priority=50),
            )
        )
        assert list(by_selector.updated) == [f"{first.name}/arena-2"]
    assert (await first.namespace.get_gs("arena-1"))["spec"]["opsState"] == "Allocated"
    assert (await second.namespace.get_gs("arena-1"))["spec"]["opsState"] == "Allocated"
    assert (await first.namespace.get_gs("arena-2"))["spec"]["deletionPriority"] == 50
    assert (await second.namespace.get_gs("arena-2"))["spec"].get("deletionPriority") in (None, 0)

    async def hub_sees_allocated() -> bool:
        return (await _fleet(world)).status.counts.allocated == 2

    await eventually(hub_sees_allocated, 30.0, "2 allocated servers in the fleet's status")


async def test_hub_kill_9_and_restart_rebuilds_status_without_writing_to_clusters(
    world: World,
) -> None:
    sets_before = [await m.namespace.get_set("arena") for m in world.members]
    pods_before = await _uids(world)
    port = world.hub.port
    world.hub.kill()
    # The bound is on the hub's resync, from when it listens: its process start (4-10 s on a
    # loaded 2-vCPU machine) is the interpreter's, bounded by HubProcess.start.
    world.hub = HubProcess(world.store_url, log=world.hub.log_path, port=port).start()

    async def complete() -> bool:
        fleet = await _fleet(world)
        counts = fleet.status.counts
        return (counts.ready, counts.allocated, counts.updated) == (12, 2, 12)

    await eventually(complete, RESYNC_WITHIN_S + 5, "status rebuilt after the hub restart")
    sets_after = [await m.namespace.get_set("arena") for m in world.members]
    for before, after in zip(sets_before, sets_after, strict=True):
        assert views.meta(after)["generation"] == views.meta(before)["generation"]
        assert views.meta(after)["resourceVersion"] == views.meta(before)["resourceVersion"]
    assert await _uids(world) == pods_before


async def test_silent_agent_makes_its_cluster_unknown_and_failover_moves_only_unallocated(
    world: World,
) -> None:
    first, second = world.members
    allocated_pods = {key: uid for key, uid in (await _uids(world)).items() if key[1] == "arena-1"}
    second.kill_agent()
    killed_at = time.monotonic()

    async def phase(name: str) -> str:
        async with world.channel() as channel:
            stub: cluster_pb2_grpc.ClusterServiceAsyncStub = cluster_pb2_grpc.ClusterServiceStub(
                channel
            )
            cluster = await stub.GetCluster(cluster_pb2.ClusterRef(name=name))
            return cluster.status.phase

    async def unknown() -> bool:
        return await phase(second.name) == "Unknown"

    await eventually(unknown, UNKNOWN_WITHIN_S + 5, f"{second.name} Unknown")
    assert time.monotonic() - killed_at <= UNKNOWN_WITHIN_S
    # Failover after 3 s: the 3 unallocated servers of the silent cluster are replaced.
    await eventually(
        lambda: _count_ready(world, 0, 11), 90.0, f"{first.name} running 8 + 3 replacements"
    )
    assert len(await second.namespace.pods("arena")) == 4, "the silent cluster was touched"

    second.start_agent(world.hub.address, world.lease)

    async def ready_again() -> bool:
        return await phase(second.name) == "Ready"

    await eventually(ready_again, 60.0, f"{second.name} Ready again")
    await _wait_ready(world, (8, 4))
    still = {key: uid for key, uid in (await _uids(world)).items() if key[1] == "arena-1"}
    assert still == allocated_pods, "an allocated server was disturbed"


async def _count_ready(world: World, member: int, count: int) -> bool:
    return len(await _ready_pods(world, member)) == count
