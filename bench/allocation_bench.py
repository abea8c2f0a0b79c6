"""Allocations through the hub: allocations/s and latency at several client concurrencies.

    .venv/bin/python -m bench.allocation_bench [--clusters 10] [--servers 1000]
        [--requests 1000,3000,3000] [--concurrency 1,16,64] [--store etcd|URL]
        [--api native|agones|native,agones]
    .venv/bin/python -m bench.allocation_bench --real --servers 1200 --requests 500,600
        --concurrency 16,64

With --real: a hub process and the real agents on the two local clusters (`make clusters`), a
fleet of `servers` on each, and the same rounds on each: the first agent answers from its
allocation ledger (one ConfigMap write per batch, the GameServer after), the second with
`--allocation-path direct` (a guarded GameServer PATCH per allocation before the answer). Also
reported: the lag from each answer to its GameServer saying Allocated, and the agent's
Kubernetes writes per allocation (its own counter, until the GameServers caught up).

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
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

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
from bench.real_federation import Side, SideSpec, agent_metrics, federation
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
    """A hub process and the real agents on the two local clusters (`make clusters`): the
    first answers allocations from its allocation ledger, the second writes each GameServer
    before it answers (`--allocation-path direct`); the same rounds on each, one after the
    other."""
    specs = [
        SideSpec(path, f"bench-alloc-{path}-{os.getpid()}", f"bench-alloc-{path}")
        for path in ("ledger", "direct")
    ]
    with tempfile.TemporaryDirectory() as workdir:
        async with (
            federation(Path(workdir), specs) as (hub, sides),
            grpc.aio.insecure_channel(hub.address) as channel,
        ):
            for side in sides:
                doc = fleet(replicas=servers)
                doc.metadata.namespace = side.namespace
                doc.spec.placement.cluster_selector.match_labels["region"] = side.member.region
                await fleet_pb2_grpc.FleetServiceStub(channel).ApplyFleet(
                    fleet_pb2.ApplyFleetRequest(fleet=doc)
                )
            for side in sides:
                await _wait_namespace_ready(channel, side.namespace, servers)
            stub = allocation_pb2_grpc.AllocationServiceStub(channel)
            for count, concurrency in zip(requests, concurrencies, strict=True):
                for side in sides:
                    await _real_round(stub, side, count, concurrency, servers)


async def _wait_namespace_ready(channel: grpc.aio.Channel, namespace: str, servers: int) -> None:
    listing = gameserver_pb2_grpc.GameServerServiceStub(channel)
    async with asyncio.timeout(900):
        while True:
            listed = await listing.ListGameServers(
                gameserver_pb2.ListGameServersRequest(
                    namespace=namespace, state="Ready", page_size=5000
                )
            )
            if len(listed.game_servers) >= servers:
                return
            await asyncio.sleep(1.0)


def _writes(found: dict[str, float]) -> float:
    return sum(v for k, v in found.items() if k.startswith("gamefleet_agent_api_writes{"))


async def _real_round(
    stub: allocation_pb2_grpc.AllocationServiceAsyncStub,
    side: Side,
    count: int,
    concurrency: int,
    servers: int,
) -> None:
    """One round on one side: client latencies; the lag from each answer to the GameServer
    saying Allocated (a watch in this process); the agent's writes per allocation, counted
    until every GameServer caught up (and 2 s of follow-ups after)."""
    from agent.kube import cache as kcache
    from agent.kube import resources

    kube = side.member.kube
    answered: dict[str, float] = {}
    allocated: dict[str, float] = {}

    def on_game_server(_: object, obj: dict[str, Any]) -> None:
        name = str(obj["metadata"]["name"])
        if (obj.get("spec") or {}).get("opsState") == "Allocated" and name not in allocated:
            allocated[name] = time.perf_counter()

    watch = kcache.WatchCache(kube, resources.GAME_SERVER, namespace=side.namespace)
    runner = asyncio.create_task(watch.run())
    try:
        await asyncio.wait_for(watch.synced.wait(), 120)
        for obj in watch.all():
            on_game_server(None, obj)
        watch.add_handler(on_game_server)
        before = agent_metrics(side.metrics_port)
        latencies: list[float] = []
        ids = iter(range(count))

        async def worker() -> None:
            for i in ids:
                started = time.perf_counter()
                response = await stub.Allocate(
                    allocation_pb2.AllocateRequest(
                        namespace=side.namespace, fleet="arena",
                        request_id=f"{side.path}-c{concurrency}-{i}",
                    )
                )  # fmt: skip
                now = time.perf_counter()
                latencies.append(now - started)
                answered[response.game_server.name] = now

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        async with asyncio.timeout(120):
            while not all(n in allocated for n in answered):
                await watch.next_change(0.5)
        await asyncio.sleep(2.0)
        after = agent_metrics(side.metrics_port)
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    if len(answered) != count:
        raise SystemExit(f"{side.path}: a server was answered twice in one round")
    params = {"servers": servers, "path": side.path, "store": "sqlite",
              "agents": "real agent per local cluster (kwok nodes)"}  # fmt: skip
    _emit_round(elapsed, latencies, count, concurrency, **params)
    lags = sorted(max(0.0, allocated[n] - t) for n, t in answered.items())
    params = {**params, "requests": count, "concurrency": concurrency}
    emit("answer to GameServer Allocated p50", statistics.median(lags) * 1000, "ms", **params)
    p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))]
    emit("answer to GameServer Allocated p99", p99 * 1000, "ms", **params)
    writes = _writes(after) - _writes(before)
    emit("agent Kubernetes writes per allocation", writes / count, "writes", **params)
    ledger = "gamefleet_agent_allocation_ledger_writes_total"
    emit(
        "allocation ledger writes per allocation",
        (after.get(ledger, 0.0) - before.get(ledger, 0.0)) / count,
        "writes",
        **params,
    )


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
