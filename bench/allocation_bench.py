"""Allocations through the hub: allocations/s and latency at several client concurrencies.

    .venv/bin/python -m bench.allocation_bench [--clusters 10] [--servers 1000]
        [--requests 1000,3000,3000] [--concurrency 1,16,64] [--store etcd|URL]
        [--api native|agones|native,agones]
    .venv/bin/python -m bench.allocation_bench --real --servers 300 --requests 100,150
        --concurrency 1,16

With --real: a hub process and the real agent on the first local cluster (`make clusters`),
a fleet of `servers` there, and the same rounds: each allocation is a GameServer PATCH.

Runs a hub process on its own store and, in this process, `clusters` simulated agents that
report `servers` Ready game servers each and apply allocations to their own lists (they answer
without a Kubernetes write). For each concurrency it sends that many allocation requests at
once, each with its own request_id, and reports allocations/s and p50/p99 latency as the client
sees them (request sent to the agent-confirmed answer). Every allocated server must be distinct.
With --api agones the requests go to Agones' AllocationService (package allocation) on the
same port, the fleet named by matchLabels agones.dev/fleet; with --api native,agones each round
runs once per API, one after the other, on the same hub and agents.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from agones.allocation import allocation_pb2 as agones_pb2
from agones.allocation import allocation_pb2_grpc as agones_pb2_grpc
from gamefleet.v1 import (
    agent_pb2,
    allocation_pb2,
    allocation_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    gameserver_pb2,
    gameserver_pb2_grpc,
)

from bench.machine import emit
from tests.integration.hub.fleet_docs import fleet
from tests.support.agent_sim import SimulatedAgent, game_server
from tests.support.hub_process import HubProcess

BATCH = 500
APIS = ("native", "agones")

# One allocation: request id in, "cluster/name" of the allocated server out.
Allocate = Callable[[str], Awaitable[str]]


def native_client(channel: grpc.aio.Channel, namespace: str = "games") -> Allocate:
    stub: allocation_pb2_grpc.AllocationServiceAsyncStub = (
        allocation_pb2_grpc.AllocationServiceStub(channel)
    )

    async def allocate(request_id: str) -> str:
        response = await stub.Allocate(
            allocation_pb2.AllocateRequest(
                namespace=namespace, fleet="arena", request_id=request_id
            )
        )
        return f"{response.game_server.cluster}/{response.game_server.name}"

    return allocate


def agones_client(channel: grpc.aio.Channel, namespace: str = "games") -> Allocate:
    """Agones' request has no request id: each call is a new allocation."""
    stub: agones_pb2_grpc.AllocationServiceAsyncStub = agones_pb2_grpc.AllocationServiceStub(
        channel
    )
    request = agones_pb2.AllocationRequest(
        namespace=namespace,
        gameServerSelectors=[
            agones_pb2.GameServerSelector(matchLabels={"agones.dev/fleet": "arena"})
        ],
    )

    async def allocate(request_id: str) -> str:
        response = await stub.Allocate(request)
        return f"{response.source}/{response.gameServerName}"

    return allocate


async def _wait_ready(address: str, clusters: int, servers: int) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub: gameserver_pb2_grpc.GameServerServiceAsyncStub = (
            gameserver_pb2_grpc.GameServerServiceStub(channel)
        )
        for i in range(clusters):
            async with asyncio.timeout(120):
                while True:
                    listed = await stub.ListGameServers(
                        gameserver_pb2.ListGameServersRequest(
                            namespace="games", cluster=f"c-{i}", state="Ready", page_size=5000
                        )
                    )
                    if len(listed.game_servers) >= servers:
                        break
                    await asyncio.sleep(0.2)


async def _round(
    allocate: Allocate, prefix: str, requests: int, concurrency: int
) -> tuple[float, list[float], list[str]]:
    latencies: list[float] = []
    won: list[str] = []
    ids = iter(range(requests))

    async def worker() -> None:
        for i in ids:
            started = time.perf_counter()
            server = await allocate(f"{prefix}-{i}")
            latencies.append(time.perf_counter() - started)
            won.append(server)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, won


async def run(
    clusters: int,
    servers: int,
    requests: list[int],
    concurrencies: list[int],
    store: str,
    apis: list[str],
) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        etcd = None
        url = store or f"sqlite:///{workdir}/hub.db"
        if store == "etcd":
            from tests.integration.store import etcd_server

            (Path(workdir) / "etcd").mkdir()
            etcd = etcd_server.EtcdServer(etcd_server.etcd_binary(), Path(workdir) / "etcd")
            etcd.start()
            url = f"{etcd.url}/bench-allocation"
        hub = HubProcess(url).start()
        sims = [
            SimulatedAgent(hub.address, f"c-{i}", heartbeat_interval=2.0) for i in range(clusters)
        ]
        try:
            async with grpc.aio.insecure_channel(hub.address) as channel:
                fleets: fleet_pb2_grpc.FleetServiceAsyncStub = fleet_pb2_grpc.FleetServiceStub(
                    channel
                )
                await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0)))
                for sim in sims:
                    await sim.start()
                    batch: list[gameserver_pb2.GameServer] = []
                    for ordinal in range(servers):
                        server = game_server("games", "arena", ordinal)
                        server.node = f"{sim.cluster}-node-{ordinal % 10}"
                        batch.append(server)
                        if len(batch) == BATCH:
                            sim.report(agent_pb2.StatusDelta(game_servers=batch))
                            batch = []
                    if batch:
                        sim.report(agent_pb2.StatusDelta(game_servers=batch))
                await _wait_ready(hub.address, clusters, servers)
                clients = {"native": native_client(channel), "agones": agones_client(channel)}
                every: list[str] = []
                for count, concurrency in zip(requests, concurrencies, strict=True):
                    for api in apis:
                        elapsed, latencies, won = await _round(
                            clients[api], f"{api}-c{concurrency}", count, concurrency
                        )
                        every += won
                        # "api" only when asked for: the native rows stay as they were.
                        named = {"api": api} if apis != ["native"] else {}
                        _emit_round(elapsed, latencies, count, concurrency, clusters=clusters,
                                    servers_per_cluster=servers,
                                    store=store.partition(":")[0] or "sqlite",
                                    agents="simulated (no Kubernetes write)", **named)  # fmt: skip
                if len(set(every)) != len(every):
                    raise SystemExit("a server was allocated twice")
        finally:
            for sim in sims:
                await sim.stop()
            hub.kill()
            if etcd is not None:
                etcd.stop()


def _emit_round(
    elapsed: float, latencies: list[float], count: int, concurrency: int, **params: object
) -> None:
    ordered = sorted(latencies)
    params = {**params, "requests": count, "concurrency": concurrency}
    emit("allocations per second", count / elapsed, "1/s", **params)
    emit("allocation latency p50", statistics.median(ordered) * 1000, "ms", **params)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    emit("allocation latency p99", p99 * 1000, "ms", **params)


async def real(servers: int, requests: list[int], concurrencies: list[int]) -> None:
    """A hub process and the real agent on the first local cluster (`make clusters`)."""
    from agent.kube import client as kclient
    from agent.kube import crds
    from tests.e2e.agent.harness import Namespace
    from tests.e2e.federation.conftest import NAMESPACES
    from tests.e2e.federation.world import Member
    from tests.localcluster import manager

    clusters, _ = manager.ensure(count=2, nodes=3)
    cluster = clusters[0]
    namespace = f"bench-alloc-{os.getpid()}"
    kube = await kclient.KubeClient.connect(str(cluster.kubeconfig))
    await crds.install(kube)
    await kube.create(NAMESPACES, None, {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": namespace}})  # fmt: skip
    with tempfile.TemporaryDirectory() as workdir:
        hub = HubProcess(f"sqlite:///{workdir}/hub.db").start()
        member = Member(cluster.name, cluster.kubeconfig, kube, Namespace(kube, namespace),
                        cluster.region, Path(workdir) / "agent.log")  # fmt: skip
        member.start_agent(hub.address, "bench-alloc")
        try:
            async with grpc.aio.insecure_channel(hub.address) as channel:
                doc = fleet(replicas=servers)
                doc.metadata.namespace = namespace
                doc.spec.placement.cluster_selector.match_labels["region"] = cluster.region
                await fleet_pb2_grpc.FleetServiceStub(channel).ApplyFleet(
                    fleet_pb2.ApplyFleetRequest(fleet=doc)
                )
                listing = gameserver_pb2_grpc.GameServerServiceStub(channel)
                async with asyncio.timeout(300):
                    while True:
                        listed = await listing.ListGameServers(
                            gameserver_pb2.ListGameServersRequest(
                                namespace=namespace, state="Ready", page_size=5000
                            )
                        )
                        if len(listed.game_servers) >= servers:
                            break
                        await asyncio.sleep(0.5)
                allocate = native_client(channel, namespace)
                for count, concurrency in zip(requests, concurrencies, strict=True):
                    elapsed, latencies, _ = await _round(
                        allocate, f"c{concurrency}", count, concurrency
                    )
                    _emit_round(elapsed, latencies, count, concurrency, servers=servers,
                                agents="real agent, one local cluster (kwok nodes)",
                                store="sqlite")  # fmt: skip
        finally:
            member.kill_agent()
            hub.kill()
            await kube.request("DELETE", f"/api/v1/namespaces/{namespace}")
            await kube.close()


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def _apis(text: str) -> list[str]:
    apis = text.split(",")
    unknown = [api for api in apis if api not in APIS]
    if unknown or not apis:
        raise argparse.ArgumentTypeError(f"{text!r}: one or more of {', '.join(APIS)}")
    return apis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--requests", type=_ints, default=[1000, 3000, 3000])
    parser.add_argument("--concurrency", type=_ints, default=[1, 16, 64])
    parser.add_argument(
        "--store", default="", help="etcd (a private one), or a store URL; default: a new SQLite"
    )
    parser.add_argument(
        "--api",
        type=_apis,
        default=["native"],
        help="native, agones (Agones' AllocationService), or native,agones: each round per API",
    )
    parser.add_argument(
        "--real", action="store_true", help="the real agent on a local cluster (--servers in it)"
    )
    args = parser.parse_args()
    if args.real:
        if args.api != ["native"]:
            parser.error("--api: the real-agent run measures the native API only")
        asyncio.run(real(args.servers, args.requests, args.concurrency))
        return
    asyncio.run(
        run(args.clusters, args.servers, args.requests, args.concurrency, args.store, args.api)
    )


if __name__ == "__main__":
    main()
