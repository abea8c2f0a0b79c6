"""A progressive rollout on the two local clusters with the real agents: two waves; the new
revision's service quality fails in the second wave's cluster, which pauses the rollout with a
condition naming it; undo brings the previous template back everywhere. The Allocated servers'
pods keep their UIDs throughout."""

from __future__ import annotations

import pathlib
from typing import Any

from gamefleet.v1 import (
    allocation_pb2,
    allocation_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    gameserver_pb2,
)

from agent.controllers import views
from agent.kube import resources
from hub.core import documents
from tests.e2e.agent.harness import eventually

from .world import Member, World

EXEC = resources.Resource("kwok.x-k8s.io/v1alpha1", "execs", "Exec")
SERVERS = 6  # 4 on the first cluster, 2 on the second
HEALTHY_V1 = ["true"]
# The new revision's probe: fails where the pod's directory holds a file `broken`.
HEALTHY_V2 = ["sh", "-c", "test ! -e broken"]


def _fleet(world: World, image: str, probe: list[str]) -> fleet_pb2.Fleet:
    doc: dict[str, Any] = documents.to_document(world.fleet(SERVERS, image=image))
    doc["spec"]["template"]["serviceQualities"] = [
        {"name": "healthy", "exec": {"command": probe}, "initialDelaySeconds": 0,
         "periodSeconds": 1},
    ]  # fmt: skip
    doc["spec"]["rollout"] = {
        "waves": [{"clusters": [world.members[0].name]}, {"clusters": [world.members[1].name]}],
        # Long enough that the failing probe (3 runs 1 s apart, then its report) lands within
        # the second wave's soak on a loaded machine: a shorter soak can let the wave succeed.
        "minSuccessTime": "30s",
    }
    return documents.from_document(doc, fleet_pb2.Fleet)


async def _pod_dirs(member: Member, root: pathlib.Path, broken: bool) -> None:
    """A kwok Exec per pod: an exec probe runs on this machine in the pod's own directory."""
    for ordinal in range(SERVERS):
        pod = f"arena-{ordinal}"
        workdir = root / member.name / pod
        workdir.mkdir(parents=True, exist_ok=True)
        if broken:
            (workdir / "broken").write_text("")
        await member.kube.create(EXEC, member.namespace.name, {
            "apiVersion": EXEC.api_version, "kind": "Exec", "metadata": {"name": pod},
            "spec": {"execs": [{"local": {"workDir": str(workdir)}}]},
        })  # fmt: skip


async def _fleet_now(world: World) -> fleet_pb2.Fleet:
    async with world.channel() as channel:
        ref = fleet_pb2.FleetRef(namespace=world.namespace, name="arena")
        return await world.fleets(channel).GetFleet(fleet_pb2.GetFleetRequest(ref=ref))


async def _images(member: Member) -> set[str]:
    pods = await member.namespace.pods("arena")
    return {str(p["spec"]["containers"][0]["image"]) for p in pods.values()}


async def _allocated_uids(world: World) -> dict[str, str]:
    """Each Allocated server's pod uid (a pod whose GameServer is not made yet is not one)."""
    found = {}
    for member in world.members:
        servers = await member.namespace.game_servers("arena")
        for name, pod in (await member.namespace.pods("arena")).items():
            gs = servers.get(name)
            if gs is not None and gs["spec"].get("opsState") == "Allocated":
                found[f"{member.name}/{name}"] = str(views.meta(pod)["uid"])
    return found


async def _ready_in_hub(world: World, count: int) -> bool:
    async with world.channel() as channel:
        listed = await world.game_servers(channel).ListGameServers(
            gameserver_pb2.ListGameServersRequest(
                namespace=world.namespace, fleet="arena", state="Ready"
            )
        )
    return len(listed.game_servers) == count


async def _complete(world: World, generation: int) -> bool:
    rollout = (await _fleet_now(world)).status.rollout
    return rollout.generation == generation and rollout.phase == "Complete"


async def test_a_failing_second_wave_pauses_and_undo_restores_it(
    world: World, tmp_path: pathlib.Path
) -> None:
    first, second = world.members
    await _pod_dirs(first, tmp_path, broken=False)
    await _pod_dirs(second, tmp_path, broken=True)
    async with world.channel() as channel:
        fleets = world.fleets(channel)
        await fleets.ApplyFleet(
            fleet_pb2.ApplyFleetRequest(fleet=_fleet(world, "arena:1.0", HEALTHY_V1))
        )
        await eventually(lambda: _complete(world, 1), 180.0, "the first template everywhere")
        await eventually(lambda: _ready_in_hub(world, SERVERS), 120.0, "every server Ready")
        allocator = allocation_pb2_grpc.AllocationServiceStub(channel)
        for member in world.members:
            await allocator.Allocate(allocation_pb2.AllocateRequest(
                namespace=world.namespace, fleet="arena", request_id=f"match-{member.name}",
                preferred_clusters=[member.name],
            ))  # fmt: skip

    async def both_allocated() -> bool:
        return len(await _allocated_uids(world)) == 2

    await eventually(both_allocated, 60.0, "one Allocated server in each cluster")
    games = await _allocated_uids(world)

    async with world.channel() as channel:
        await world.fleets(channel).ApplyFleet(
            fleet_pb2.ApplyFleetRequest(fleet=_fleet(world, "arena:2.0", HEALTHY_V2))
        )

    async def first_wave_only() -> bool:
        return "arena:2.0" in await _images(first)

    await eventually(first_wave_only, 120.0, "the first wave updating")
    assert await _images(second) == {"arena:1.0"}, "the second wave started with the first"

    async def paused() -> bool:
        fleet = await _fleet_now(world)
        return fleet.rollout_control.failure.cluster == second.name

    await eventually(paused, 240.0, "the rollout paused by the second wave's failing quality")
    fleet = await _fleet_now(world)
    condition = next(c for c in fleet.status.conditions if c.type == "RolloutPaused")
    assert (condition.status, condition.reason) == ("True", "QualityFailing")
    assert condition.message.startswith(f"cluster {second.name}: service quality failing on ")
    assert [c.state for c in fleet.status.rollout.clusters] == ["Succeeded", "Failed"]

    async with world.channel() as channel:
        stub = fleet_pb2_grpc.RolloutServiceStub(channel)
        ref = fleet_pb2.FleetRef(namespace=world.namespace, name="arena")
        undone = await stub.UndoRollout(fleet_pb2.RolloutRequest(ref=ref))

    async def restored() -> bool:
        if not await _complete(world, undone.metadata.generation):
            return False
        async with world.channel() as channel:
            listed = await world.game_servers(channel).ListGameServers(
                gameserver_pb2.ListGameServersRequest(namespace=world.namespace, fleet="arena")
            )
        idle = [s for s in listed.game_servers if s.ops_state != "Allocated"]
        return len(idle) == SERVERS - 2 and all(
            s.state == "Ready" and dict(s.images) == {"arena": "arena:1.0"} for s in idle
        )

    await eventually(restored, 240.0, "the previous template back on every idle server")
    assert await _allocated_uids(world) == games, "an Allocated server was restarted or deleted"
