"""An operator's day with the real hub and agents on the local clusters: a fleet in a namespace
no agent serves, `kubectl scale` and `kubectl edit` on a hub-managed set (drift), a set an
older agent labelled, and deleting a fleet that still has an Allocated server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from typing import Any

import grpc
from gamefleet.v1 import cluster_pb2, cluster_pb2_grpc, fleet_pb2

from agent.controllers import views
from agent.hublink import translate
from agent.kube import resources
from hub.core import fleet_status
from tests.e2e.agent.harness import eventually
from tests.localcluster.versions import binary_path
from tests.support.hub_process import run_cli

from .world import Member, World

CORRECTED_WITHIN_S = 30.0
HPA = resources.Resource("autoscaling/v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler")


async def _apply(world: World, fleet: fleet_pb2.Fleet) -> fleet_pb2.Fleet:
    async with world.channel() as channel:
        applied = await world.fleets(channel).ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet))
    return applied.fleet


async def _get(world: World, name: str, namespace: str = "") -> fleet_pb2.Fleet | None:
    ref = fleet_pb2.FleetRef(namespace=namespace or world.namespace, name=name)
    async with world.channel() as channel:
        try:
            return await world.fleets(channel).GetFleet(fleet_pb2.GetFleetRequest(ref=ref))
        except grpc.aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.NOT_FOUND:
                return None
            raise


def _condition(fleet: fleet_pb2.Fleet, kind: str) -> tuple[str, str, str] | None:
    found = fleet_status.condition_of(fleet, kind)
    return None if found is None else (found.status, found.reason, found.message)


async def _ready(member: Member, gss: str) -> dict[str, str]:
    """Ready pod name → uid."""
    return {
        name: str(views.meta(pod)["uid"])
        for name, pod in (await member.namespace.pods(gss)).items()
        if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (pod.get("status") or {}).get("conditions") or []
        )
    }


async def _up(world: World, name: str, counts: tuple[int, int]) -> None:
    async def check() -> bool:
        fleet = await _get(world, name)
        by_cluster = {c.cluster: c.counts.ready for c in fleet.status.clusters} if fleet else {}
        wanted = {m.name: n for m, n in zip(world.members, counts, strict=True)}
        pods = tuple([len(await _ready(m, name)) for m in world.members])
        return by_cluster == wanted and pods == counts

    await eventually(check, 120.0, f"{name}: {counts} Ready servers, at the hub and in clusters")


def _kubectl(member: Member, *args: str, editor: str | None = None) -> str:
    """The pinned kubectl, as an operator runs it against the cluster."""
    env = {**os.environ, "KUBECONFIG": str(member.kubeconfig)}
    if editor is not None:
        env["KUBE_EDITOR"] = editor
    done = subprocess.run(
        [str(binary_path("kubectl")), "-n", member.namespace.name, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def _clusters_ready(world: World) -> None:
    async def check() -> bool:
        async with world.channel() as channel:
            listed = await cluster_pb2_grpc.ClusterServiceStub(channel).ListClusters(
                cluster_pb2.ListClustersRequest()
            )
        phases = {c.metadata.name: c.status.phase for c in listed.clusters}
        return all(phases.get(m.name) == "Ready" for m in world.members)

    await eventually(check, 60.0, "both clusters Ready at the hub")


def _managers(gss: dict[str, Any]) -> set[str]:
    entries: list[dict[str, Any]] = (gss.get("metadata") or {}).get("managedFields") or []
    return {str(e.get("manager")) for e in entries}


async def test_a_fleet_in_a_namespace_no_agent_serves_is_not_written_and_says_so(
    world: World,
) -> None:
    await _clusters_ready(world)
    stray = f"stray-{uuid.uuid4().hex[:5]}"
    applied = await _apply(world, world.fleet(3, name="arena", namespace=stray))
    assert applied.status.replicas == 0
    condition = _condition(applied, fleet_status.NAMESPACE_SERVED)
    assert condition is not None and condition[:2] == ("False", "NamespaceNotServed")
    for member in world.members:
        assert f"{member.name} (its agent serves {world.namespace})" in condition[2]
    assert f"namespace {stray}" in condition[2]

    done = await asyncio.to_thread(
        run_cli, "get", "fleets", "-n", stray, "-o", "wide", "--hub", world.hub.address
    )
    header, row = done.stdout.splitlines()[:2]
    assert dict(zip(header.split(), row.split(), strict=True))["PROBLEM"] == "NamespaceNotServed"
    # Nothing was written into the clusters: no namespace, no set.
    for member in world.members:
        listed = await member.kube.request("GET", resources.GAME_SERVER_SET.collection(stray))
        assert listed.get("items") == []
    done = await asyncio.to_thread(
        run_cli, "delete", "fleet", "arena", "-n", stray, "--hub", world.hub.address
    )
    assert (done.returncode, done.stdout) == (0, "fleet/arena deleted\n")
    assert await _get(world, "arena", stray) is None


async def test_kubectl_scale_and_edit_of_a_hub_managed_set_are_put_back(world: World) -> None:
    first = world.members[0]
    await _apply(world, world.fleet(3, name="drift"))
    await _up(world, "drift", (2, 1))
    async with world.channel() as channel:
        watch = world.fleets(channel).WatchFleets(
            fleet_pb2.WatchFleetsRequest(namespace=world.namespace)
        )
        seen: list[str] = []

        async def follow() -> None:
            async for event in watch:
                if event.fleet.metadata.name == "drift":
                    found = _condition(event.fleet, fleet_status.DRIFTED)
                    if found is not None:
                        seen.append(found[2])

        follower = asyncio.create_task(follow())
        try:
            await asyncio.to_thread(_kubectl, first, "scale", "gss", "drift", "--replicas", "5")

            async def replicas_back() -> bool:
                gss = await first.namespace.get_set("drift")
                return gss["spec"]["replicas"] == 2 and "kubectl" not in _managers(gss)

            await eventually(replicas_back, CORRECTED_WITHIN_S, "spec.replicas put back to 2")
            await eventually(
                lambda: _some(seen, f"{first.name}: spec.replicas by kubectl (scale)"),
                10.0,
                "the drift shown in the fleet's status",
            )

            edit = "sed -i -e s/drift:1.0/drift:9.9/"
            await asyncio.to_thread(_kubectl, first, "edit", "gss", "drift", editor=edit)

            async def image_back() -> bool:
                gss = await first.namespace.get_set("drift")
                containers = gss["spec"]["gameServerTemplate"]["spec"]["containers"]
                return containers[0]["image"] == "drift:1.0" and "kubectl-edit" not in _managers(
                    gss
                )

            await eventually(image_back, CORRECTED_WITHIN_S, "the image put back to drift:1.0")
            await eventually(
                lambda: _some(seen, "spec.gameServerTemplate.spec.containers by kubectl-edit"),
                10.0,
                "the edit shown in the fleet's status",
            )
        finally:
            follower.cancel()
    await _up(world, "drift", (2, 1))
    fleet = await _get(world, "drift")
    assert fleet is not None and _condition(fleet, fleet_status.DRIFTED) is None
    for pod in (await first.namespace.pods("drift")).values():
        assert pod["spec"]["containers"][0]["image"] == "drift:1.0"
    assert "DriftDetected" in (world.hub.log_path.read_text() if world.hub.log_path else "")


async def _some(seen: list[str], text: str) -> bool:
    return any(text in message for message in seen)


async def test_a_set_an_older_agent_labelled_gamefleet_dev_stays_the_hubs(world: World) -> None:
    first = world.members[0]
    await _apply(world, world.fleet(3, name="legacy"))
    await _up(world, "legacy", (2, 1))
    uids = await _ready(first, "legacy")
    first.kill_agent()
    # What an agent before the rename wrote: the gamefleet.dev/ keys only.
    gss = await first.namespace.get_set("legacy")
    labels, notes = views.meta(gss)["labels"], views.meta(gss)["annotations"]
    legacy = translate.LEGACY_DOMAIN
    await first.kube.patch(
        resources.GAME_SERVER_SET,
        first.namespace.name,
        "legacy",
        {
            "metadata": {
                "labels": {
                    translate.MANAGED_BY: None,
                    legacy + "managed-by": labels[translate.MANAGED_BY],
                },
                "annotations": {
                    translate.SPEC_HASH: None,
                    translate.FLEET_GENERATION: None,
                    legacy + "spec-hash": notes[translate.SPEC_HASH],
                    legacy + "fleet-generation": notes[translate.FLEET_GENERATION],
                },
            }
        },
    )
    first.start_agent(world.hub.address, world.lease)
    async with world.channel() as channel:
        ref = fleet_pb2.FleetRef(namespace=world.namespace, name="legacy")
        await world.fleets(channel).ScaleFleet(fleet_pb2.ScaleFleetRequest(ref=ref, replicas=6))
    # The upgraded agent still manages it: the new share is applied, no server restarted.
    await _up(world, "legacy", (4, 2))
    gss = await first.namespace.get_set("legacy")
    assert translate.managed(gss)
    assert views.meta(gss)["labels"][translate.MANAGED_BY] == translate.MANAGED_BY_HUB
    still = await _ready(first, "legacy")
    assert {name: still[name] for name in uids} == uids


async def test_deleting_a_fleet_waits_for_its_allocated_server_and_never_touches_it(
    world: World,
) -> None:
    first, second = world.members
    await _apply(world, world.fleet(3, name="doomed"))
    await _up(world, "doomed", (2, 1))
    # A player joins: the game server allocates itself, as under OKG.
    await first.namespace.patch_gs("doomed-0", spec={"opsState": "Allocated"})

    async def hub_sees_allocated() -> bool:
        fleet = await _get(world, "doomed")
        return fleet is not None and fleet.status.counts.allocated == 1

    await eventually(hub_sees_allocated, 30.0, "1 Allocated server at the hub")
    uid = (await _ready(first, "doomed"))["doomed-0"]

    done = await asyncio.to_thread(
        run_cli, "delete", "fleet", "doomed", "-n", world.namespace, "--hub", world.hub.address
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"fleet {world.namespace}/doomed deleting: waiting for ")
    assert f"{first.name} (1 Allocated server)" in done.stdout

    async def only_the_allocated_left() -> bool:
        fleet = await _get(world, "doomed")
        gone = await second.namespace.find(resources.GAME_SERVER_SET, "doomed") is None
        pods = await first.namespace.pods("doomed")
        return (
            fleet is not None
            and _condition(fleet, fleet_status.TERMINATING)
            == ("True", "WaitingForClusters", f"waiting for {first.name} (1 Allocated server)")
            and gone
            and set(pods) == {"doomed-0"}
        )

    await eventually(only_the_allocated_left, 60.0, "the fleet waiting on the Allocated server")
    held = await first.namespace.get_set("doomed")
    assert held["spec"]["replicas"] == 0
    assert (await _ready(first, "doomed")) == {"doomed-0": uid}
    assert (await first.namespace.get_gs("doomed-0"))["spec"]["opsState"] == "Allocated"
    # Re-applying a deleting fleet is refused, as Kubernetes does.
    refused = await asyncio.to_thread(
        run_cli, "scale", "fleet", "doomed", "-n", world.namespace, "--replicas", "4",
        "--hub", world.hub.address,
    )  # fmt: skip
    assert refused.returncode == 1 and "FAILED_PRECONDITION" in refused.stderr

    # The player leaves: the server is released, and everything goes.
    await first.namespace.patch_gs("doomed-0", spec={"opsState": "None"})

    async def all_gone() -> bool:
        return (
            await _get(world, "doomed") is None
            and await first.namespace.find(resources.GAME_SERVER_SET, "doomed") is None
            and not await first.namespace.pods("doomed", terminating=True)
        )

    await eventually(all_gone, 60.0, "the set, its pods and the fleet gone")


async def test_replicas_an_hpa_owns_are_shown_and_not_fought_over(world: World) -> None:
    """KEDA scales a GameServerSet through an HPA (its ScaledObject creates one): the real HPA
    controller of the local cluster holds the set at 3 while the hub places 1 there."""
    second = world.members[1]
    await _apply(world, world.fleet(3, name="scaled"))
    await _up(world, "scaled", (2, 1))
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "keda-hpa-scaled", "namespace": second.namespace.name},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "game.kruise.io/v1alpha1",
                "kind": "GameServerSet",
                "name": "scaled",
            },
            "minReplicas": 3,
            "maxReplicas": 3,
            "metrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": {"name": "s0-gssReplicas"},
                        "target": {"type": "AverageValue", "averageValue": "1"},
                    },
                }
            ],
        },
    }
    await second.kube.create(HPA, second.namespace.name, hpa)

    async def owner_shown() -> bool:
        fleet = await _get(world, "scaled")
        condition = _condition(fleet, fleet_status.REPLICAS_OWNED_LOCALLY) if fleet else None
        return condition is not None and condition[2] == (
            f"{second.name}: HorizontalPodAutoscaler sets replicas (3; the hub placed 1)"
        )

    # The HPA controller syncs every 15 s (and may first have to discover the CRD).
    await eventually(owner_shown, 120.0, "the HPA shown as the owner of replicas")
    await _up(world, "scaled", (2, 3))
    # The hub changes its placement: the new spec goes out, the HPA's count stays.
    async with world.channel() as channel:
        ref = fleet_pb2.FleetRef(namespace=world.namespace, name="scaled")
        await world.fleets(channel).ScaleFleet(fleet_pb2.ScaleFleetRequest(ref=ref, replicas=6))
    await _up(world, "scaled", (4, 3))
    gss = await second.namespace.get_set("scaled")
    assert gss["spec"]["replicas"] == 3
    assert views.meta(gss)["annotations"][translate.SPEC_HASH].endswith("-2")
    fleet = await _get(world, "scaled")
    assert fleet is not None and _condition(fleet, fleet_status.DRIFTED) is None
    assert "scaled changed in the cluster" not in second.log.read_text()
