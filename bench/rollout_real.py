"""A progressive rollout with the real agents on the two local clusters: time per wave and in
total, pods recreated and Allocated servers restarted.

    .venv/bin/python -m bench.rollout_real [--servers 1000] [--allocated 100] [--soak 5]

A hub process and an agent process per local cluster (started if need be, as the e2e tests
do); a fleet of `--servers` split evenly, `--allocated` of them allocated through the hub (half
in each cluster). Then an image change with `spec.rollout` in two waves (the first cluster,
then the second) and a soak of `--soak` seconds, timed from the apply to: the first cluster
Succeeded, the second cluster given the template, the second Succeeded, and Complete (the hub's
status.rollout). Pod UIDs and the Allocated pods (UID and image) are compared before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from gamefleet.v1 import (
    allocation_pb2,
    allocation_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    gameserver_pb2,
    gameserver_pb2_grpc,
)

from bench.machine import emit
from hub.core import documents
from tests.integration.hub.fleet_docs import fleet_document
from tests.support.hub_process import HubProcess

POLL_S = 0.1


def _fleet(
    namespace: str, clusters: list[str], servers: int, image: str, soak: float
) -> fleet_pb2.Fleet:
    doc = fleet_document(
        replicas=servers,
        placement={"clusters": [{"name": name, "weight": 1} for name in clusters]},
        rollout={
            "waves": [{"clusters": [name]} for name in clusters],
            "minSuccessTime": f"{soak}s",
        },
    )
    doc["metadata"]["namespace"] = namespace
    template = doc["spec"]["template"]
    template["gameServerTemplate"]["spec"]["containers"][0]["image"] = image
    template["updateStrategy"]["rollingUpdate"]["maxUnavailable"] = "100%"
    return documents.from_document(doc, fleet_pb2.Fleet)


async def _rollout(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, namespace: str
) -> fleet_pb2.RolloutStatus:
    ref = fleet_pb2.FleetRef(namespace=namespace, name="arena")
    return (await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=ref))).status.rollout


async def _until(check: Any, what: str, seconds: float = 900.0) -> float:
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > seconds:
            raise TimeoutError(f"{what} not within {seconds} s")
        await asyncio.sleep(POLL_S)
    return time.monotonic()


async def run(servers: int, allocated: int, soak: float) -> None:
    from agent.kube import client as kclient
    from agent.kube import crds
    from tests.e2e.agent.harness import Namespace
    from tests.e2e.federation.conftest import NAMESPACES
    from tests.e2e.federation.world import Member
    from tests.localcluster import manager

    clusters, _ = manager.ensure(count=2, nodes=3)
    namespace = f"bench-rollout-{os.getpid()}"
    with tempfile.TemporaryDirectory() as workdir:
        members = []
        for cluster in clusters[:2]:
            kube = await kclient.KubeClient.connect(str(cluster.kubeconfig))
            await crds.install(kube)
            await kube.create(NAMESPACES, None, {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": namespace}})  # fmt: skip
            members.append(Member(cluster.name, cluster.kubeconfig, kube,
                                  Namespace(kube, namespace), cluster.region,
                                  Path(workdir) / f"agent-{cluster.name}.log"))  # fmt: skip
        hub = HubProcess(f"sqlite:///{workdir}/hub.db").start()
        for member in members:
            member.start_agent(hub.address, f"bench-rollout-{os.getpid()}")
        names = [m.name for m in members]
        try:
            async with grpc.aio.insecure_channel(hub.address) as channel:
                fleets = fleet_pb2_grpc.FleetServiceStub(channel)
                servers_api = gameserver_pb2_grpc.GameServerServiceStub(channel)

                async def ready() -> bool:
                    listed = await servers_api.ListGameServers(
                        gameserver_pb2.ListGameServersRequest(
                            namespace=namespace, fleet="arena", state="Ready", page_size=5000
                        )
                    )
                    return len(listed.game_servers) == servers

                first = _fleet(namespace, names, servers, "arena:1.0", soak)
                await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=first))
                await _until(ready, "every server Ready")
                allocator = allocation_pb2_grpc.AllocationServiceStub(channel)
                for index in range(allocated):
                    await allocator.Allocate(allocation_pb2.AllocateRequest(
                        namespace=namespace, fleet="arena", request_id=f"game-{index}",
                        preferred_clusters=[names[index % 2]],
                    ))  # fmt: skip
                listed = await servers_api.ListGameServers(
                    gameserver_pb2.ListGameServersRequest(
                        namespace=namespace, fleet="arena", ops_state="Allocated", page_size=5000
                    )
                )
                games = {(s.cluster, s.name) for s in listed.game_servers}
                before = {
                    (m.name, name): pod["metadata"]["uid"]
                    for m in members
                    for name, pod in (await m.namespace.pods("arena")).items()
                }

                async def state(cluster: str, wanted: str) -> bool:
                    status = await _rollout(fleets, namespace)
                    return status.generation == 2 and any(
                        c.cluster == cluster and c.state == wanted for c in status.clusters
                    )

                async def complete() -> bool:
                    status = await _rollout(fleets, namespace)
                    return status.generation == 2 and status.phase == "Complete"

                started = time.monotonic()
                second = _fleet(namespace, names, servers, "arena:2.0", soak)
                await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=second))
                first_done = await _until(lambda: state(names[0], "Succeeded"), "wave 1")
                second_start = await _until(lambda: state(names[1], "Updating"), "wave 2 start")
                second_done = await _until(lambda: state(names[1], "Succeeded"), "wave 2")
                done = await _until(complete, "Complete")
                after = {
                    (m.name, name): pod
                    for m in members
                    for name, pod in (await m.namespace.pods("arena")).items()
                }
        finally:
            for member in members:
                member.kill_agent()
            hub.kill()
            for member in members:
                await member.kube.request("DELETE", f"/api/v1/namespaces/{namespace}")
                await member.kube.close()
    params = {"servers": servers, "allocated": len(games), "soak_s": soak, "clusters": 2,
              "waves": 2, "agents": "real, local clusters (kwok nodes)"}  # fmt: skip
    emit("rollout (real agents): wave 1, apply → Succeeded (soak included)",
         first_done - started, "s", **params)  # fmt: skip
    emit("rollout (real agents): wave 2, start → Succeeded (soak included)",
         second_done - second_start, "s", **params)  # fmt: skip
    emit("rollout (real agents): total, apply → Complete", done - started, "s", **params)
    recreated = sum(after.get(key, {}).get("metadata", {}).get("uid") != uid
                    for key, uid in before.items())  # fmt: skip
    emit("rollout (real agents): pods recreated", float(recreated), "pods", **params)
    restarted = sum(
        after.get(key, {}).get("metadata", {}).get("uid") != before[key]
        or after[key]["spec"]["containers"][0]["image"] != "arena:1.0"
        for key in games
    )
    emit("rollout (real agents): Allocated servers restarted or updated", float(restarted),
         "servers", **params)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--allocated", type=int, default=100)
    parser.add_argument("--soak", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(run(args.servers, args.allocated, args.soak))


if __name__ == "__main__":
    main()
