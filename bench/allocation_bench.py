"""Allocations through the hub: allocations/s and latency at several client concurrencies.

    .venv/bin/python -m bench.allocation_bench [--clusters 10] [--servers 1000]
        [--requests 1000,3000,3000] [--concurrency 1,16,64] [--store etcd|URL]
        [--api native|agones|native,agones] [--mode whole|counter|group|whole,counter,group]
        [--slots 100]
    .venv/bin/python -m bench.allocation_bench --real --servers 1200 --requests 500,600
        --concurrency 16,64
    .venv/bin/python -m bench.allocation_bench --real --mode whole,counter --servers 100
        --room-servers 5 --requests 40 --concurrency 16 [--logs DIR]

With --real --mode whole,counter: a hub process and the real agent (direct path) on the first
local cluster, the two modes below side by side on two fleets in one namespace.

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
runs once per API, one after the other, on the same hub and agents. With --mode
whole,counter each round runs twice, side by side: (a) whole servers (fleet arena), then (b) by
counter with re-allocation (fleet rooms: the same number of servers, each with a `rooms`
counter of `slots`; each request asks for an Allocated server with a free room, else a Ready
one, and takes one room), where no server may end above its capacity. With --mode group, (c)
groups of two (AllocateGroup: one server of fleet arena and one of fleet voice, the same number
of servers, in one cluster); every server of every group must be distinct.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
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

from bench.machine import cpu_seconds, emit
from bench.real_federation import Side, SideSpec, agent_metrics, federation
from tests.integration.hub.fleet_docs import fleet
from tests.support.agent_sim import SimulatedAgent, game_server
from tests.support.hub_process import HubProcess

BATCH = 500
APIS = ("native", "agones")
MODES = ("whole", "counter", "group")

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


def counter_client(channel: grpc.aio.Channel, namespace: str = "games") -> Allocate:
    """One room of a server of fleet rooms: an Allocated one with room first, else Ready."""
    stub: allocation_pb2_grpc.AllocationServiceAsyncStub = (
        allocation_pb2_grpc.AllocationServiceStub(channel)
    )
    room = {"rooms": allocation_pb2.CounterSelector(min_available=1)}
    selectors = [
        allocation_pb2.AllocationSelector(
            game_server_state=allocation_pb2.ALLOCATED, counters=room
        ),
        allocation_pb2.AllocationSelector(counters=room),
    ]

    async def allocate(request_id: str) -> str:
        response = await stub.Allocate(
            allocation_pb2.AllocateRequest(
                namespace=namespace,
                fleet="rooms",
                request_id=request_id,
                selectors=selectors,
                counters={"rooms": allocation_pb2.CounterAction(delta=1)},
            )
        )
        return f"{response.game_server.cluster}/{response.game_server.name}"

    return allocate


def group_client(channel: grpc.aio.Channel, namespace: str = "games") -> Allocate:
    """A group of two: one server of fleet arena and one of fleet voice, in one cluster."""
    stub: allocation_pb2_grpc.AllocationServiceAsyncStub = (
        allocation_pb2_grpc.AllocationServiceStub(channel)
    )
    members = [
        allocation_pb2.GroupMember(
            name=name, request=allocation_pb2.AllocateRequest(namespace=namespace, fleet=fleet)
        )
        for name, fleet in (("game", "arena"), ("voice", "voice"))
    ]

    async def allocate(request_id: str) -> str:
        response = await stub.AllocateGroup(
            allocation_pb2.AllocateGroupRequest(request_id=request_id, members=members)
        )
        return "+".join(
            f"{m.allocation.game_server.cluster}/{m.allocation.game_server.name}"
            for m in response.members
        )

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


async def serve_ready(
    address: str,
    sims: list[SimulatedAgent],
    servers: int,
    fleets: Sequence[str] = ("arena",),
    slots: int = 0,
) -> None:
    """Start ``sims``, each reporting ``servers`` Ready servers of each of ``fleets`` in
    namespace games (on 10 nodes; fleet "rooms" with a rooms counter of ``slots``); return once
    the hub at ``address`` holds them all."""
    for sim in sims:
        await sim.start()
        for name in fleets:
            _report(sim, name, servers, slots if name == "rooms" else 0)
    await _wait_ready(address, len(sims), servers * len(fleets))


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
    modes: tuple[str, ...] = ("whole",),
    slots: int = 100,
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
                names = [
                    n
                    for n, m in (("arena", "whole"), ("rooms", "counter"), ("voice", "group"))
                    if m in modes or (n == "arena" and "group" in modes)
                ]
                for name in names:
                    await fleets.ApplyFleet(
                        fleet_pb2.ApplyFleetRequest(fleet=fleet(name, replicas=0))
                    )
                await serve_ready(hub.address, sims, servers, names, slots)
                clients = {"native": native_client(channel), "agones": agones_client(channel)}
                every: list[str] = []
                rooms: list[str] = []
                for count, concurrency in zip(requests, concurrencies, strict=True):
                    for api in apis:
                        for mode in modes:
                            client = {
                                "whole": clients[api],
                                "counter": counter_client(channel),
                                "group": group_client(channel),
                            }[mode]
                            elapsed, latencies, won = await _round(
                                client, f"{api}-{mode}-c{concurrency}", count, concurrency
                            )
                            if mode == "counter":
                                rooms.extend(won)
                            else:
                                every.extend(s for w in won for s in w.split("+"))
                            # "api" and "mode" only when asked for: the rows stay as they were.
                            named: dict[str, object] = {"api": api} if apis != ["native"] else {}
                            if modes != ("whole",):
                                named["mode"] = mode
                                named["slots_per_server"] = slots if mode == "counter" else 1
                            if mode == "group":
                                named["servers_per_allocation"] = 2
                            _emit_round(elapsed, latencies, count, concurrency,
                                        clusters=clusters, servers_per_cluster=servers,
                                        store=store.partition(":")[0] or "sqlite",
                                        agents="simulated (no Kubernetes write)",
                                        **named)  # fmt: skip
                if len(set(every)) != len(every):
                    raise SystemExit("a server was allocated twice")
                fullest = max(collections.Counter(rooms).values(), default=0)
                if fullest > slots:
                    raise SystemExit(f"a server took {fullest} rooms of {slots}")
                if rooms:
                    emit("servers used by counter allocations", len(set(rooms)), "servers",
                         allocations=len(rooms), slots_per_server=slots)  # fmt: skip
        finally:
            for sim in sims:
                await sim.stop()
            hub.kill()
            if etcd is not None:
                etcd.stop()


def _report(sim: SimulatedAgent, fleet_name: str, servers: int, slots: int) -> None:
    """``servers`` Ready servers of the fleet, each with a rooms counter of ``slots`` (if any)."""
    batch: list[gameserver_pb2.GameServer] = []
    for ordinal in range(servers):
        server = game_server("games", fleet_name, ordinal)
        server.node = f"{sim.cluster}-node-{ordinal % 10}"
        if slots:
            server.counters["rooms"].CopyFrom(gameserver_pb2.CounterStatus(capacity=slots))
        batch.append(server)
        if len(batch) == BATCH:
            sim.report(agent_pb2.StatusDelta(game_servers=batch))
            batch = []
    if batch:
        sim.report(agent_pb2.StatusDelta(game_servers=batch))


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
                    await _real_round(stub, side, count, concurrency, servers, hub)


async def real_by_counter(
    servers: int,
    room_servers: int,
    requests: list[int],
    concurrencies: list[int],
    slots: int,
    modes: tuple[str, ...] = ("whole", "counter"),
    logs: Path | None = None,
) -> None:
    """(a) whole servers and (b) rooms by counter with re-allocation, side by side: a hub
    process and the real agent (direct path) on the first local cluster, fleet arena of
    ``servers`` taken whole and fleet rooms of ``room_servers`` declaring ``slots`` rooms each;
    the same rounds on each, one after the other. At the end every rooms server is read from
    the cluster: none may hold more than ``slots``. With mode group, (c) groups of two (one
    server of arena, one of fleet voice of ``servers``) in the same rounds. The hub's and the
    agent's logs are kept in ``logs`` (hub.log, agent.log) when given."""
    from agent.kube import client as kclient
    from agent.kube import crds, resources
    from hub.core import documents
    from okg import capacity
    from tests.e2e.agent.harness import Namespace
    from tests.e2e.federation.conftest import NAMESPACES
    from tests.e2e.federation.world import Member
    from tests.integration.hub.fleet_docs import fleet_document
    from tests.localcluster import manager

    clusters, _ = manager.ensure(count=2, nodes=3)
    cluster = clusters[0]
    declared = json.dumps({"counters": {"rooms": {"capacity": slots}}})
    with tempfile.TemporaryDirectory() as workdir:
        kept = logs or Path(workdir)
        kept.mkdir(parents=True, exist_ok=True)
        hub = HubProcess(f"sqlite:///{workdir}/hub.db", log=kept / "hub.log").start()
        kube = await kclient.KubeClient.connect(str(cluster.kubeconfig))
        namespace = f"bench-rooms-{os.getpid()}"
        member = Member(cluster.name, cluster.kubeconfig, kube, Namespace(kube, namespace),
                        cluster.region, kept / "agent.log")  # fmt: skip
        try:
            await crds.install(kube)
            await kube.create(NAMESPACES, None, {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": namespace}})  # fmt: skip
            member.start_agent(hub.address, "bench-rooms", ("--allocation-path", "direct"))
            async with grpc.aio.insecure_channel(hub.address) as channel:
                wanted = [("arena", servers)]
                wanted += [("rooms", room_servers)] if "counter" in modes else []
                wanted += [("voice", servers)] if "group" in modes else []
                for name, count in wanted:
                    doc = fleet_document(name, count)
                    doc["metadata"]["namespace"] = namespace
                    template = doc["spec"]["template"]["gameServerTemplate"]
                    if name == "rooms":
                        template["metadata"] = {"annotations": {capacity.DECLARATION: declared}}
                    doc["spec"]["placement"] = {"clusters": [{"name": cluster.name}]}
                    await fleet_pb2_grpc.FleetServiceStub(channel).ApplyFleet(
                        fleet_pb2.ApplyFleetRequest(
                            fleet=documents.from_document(doc, fleet_pb2.Fleet)
                        )
                    )
                await _wait_namespace_ready(channel, namespace, sum(c for _, c in wanted))
                every = {
                    "whole": native_client(channel, namespace),
                    "counter": counter_client(channel, namespace),
                    "group": group_client(channel, namespace),
                }
                clients = {mode: every[mode] for mode in modes}
                for count, concurrency in zip(requests, concurrencies, strict=True):
                    for mode, client in clients.items():
                        elapsed, latencies, won = await _round(
                            client, f"real-{mode}-c{concurrency}", count, concurrency
                        )
                        _emit_round(elapsed, latencies, count, concurrency, mode=mode,
                                    slots_per_server=slots if mode == "counter" else 1,
                                    servers_used=len({s for w in won for s in w.split("+")}),
                                    path="direct", store="sqlite",
                                    agents="real agent, local cluster")  # fmt: skip
            listed = await kube.request("GET", resources.GAME_SERVER.collection(namespace))
            for obj in listed.get("items") or []:
                held = capacity.current(obj["metadata"].get("annotations") or {})
                if held is not None and held.counters["rooms"].count > slots:
                    raise SystemExit(f"{obj['metadata']['name']} holds more than {slots} rooms")
        finally:
            member.kill_agent()
            hub.kill()
            await kube.request("DELETE", f"/api/v1/namespaces/{namespace}")
            await kube.close()


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
    hub: HubProcess,
) -> None:
    """One round on one side: client latencies; the lag from each answer to the GameServer
    saying Allocated (a watch in this process); the agent's writes per allocation, and the CPU
    time per allocation of the hub, the agent and the side's cluster processes, counted until
    every GameServer caught up (and 2 s of follow-ups after)."""
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
        processes = _round_processes(side, hub)
        cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
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
        cpu_used = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
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
    for name, used in sorted(cpu_used.items()):
        emit("CPU time per allocation", used * 1000 / count, "ms", process=name, **params)


def _round_processes(side: Side, hub: HubProcess) -> dict[str, int]:
    """The processes whose CPU a round counts: the hub, the side's agent and its cluster's
    control plane (kube-apiserver, etcd, kwok, …), by name."""
    found = {name: pid for name, (pid, _) in side.cluster.pids.items()}
    for name, process in (("hub", hub.process), ("agent", side.member.process)):
        if process is not None:
            found[name] = process.pid
    return found


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def _apis(text: str) -> list[str]:
    apis = text.split(",")
    unknown = [api for api in apis if api not in APIS]
    if unknown or not apis:
        raise argparse.ArgumentTypeError(f"{text!r}: one or more of {', '.join(APIS)}")
    return apis


def _modes(text: str) -> tuple[str, ...]:
    modes = tuple(text.split(","))
    if not modes or any(mode not in MODES for mode in modes):
        raise argparse.ArgumentTypeError(f"{text!r}: one or more of {', '.join(MODES)}")
    return modes


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
        "--mode",
        type=_modes,
        default=("whole",),
        help="whole (servers), counter (rooms with re-allocation), group (groups of two), or"
        " several, e.g. whole,counter,group",
    )
    parser.add_argument("--slots", type=int, default=100, help="rooms per server (--mode counter)")
    parser.add_argument(
        "--room-servers", type=int, default=20, help="--real --mode whole,counter: rooms servers"
    )
    parser.add_argument(
        "--real", action="store_true", help="the real agent on a local cluster (--servers in it)"
    )
    parser.add_argument(
        "--logs",
        type=Path,
        help="--real --mode whole,counter: keep the hub's and agent's logs in this folder",
    )
    args = parser.parse_args()
    if args.real:
        if args.api != ["native"]:
            parser.error("--api: the real-agent run measures the native API only")
        if args.mode[0] == "whole" and len(args.mode) > 1:
            asyncio.run(
                real_by_counter(
                    args.servers,
                    args.room_servers,
                    args.requests,
                    args.concurrency,
                    args.slots,
                    args.mode,
                    args.logs,
                )
            )
            return
        if args.mode != ("whole",):
            parser.error("--mode: with --real, whole, or whole then counter and/or group")
        asyncio.run(real(args.servers, args.requests, args.concurrency))
        return
    asyncio.run(
        run(
            args.clusters,
            args.servers,
            args.requests,
            args.concurrency,
            args.store,
            args.api,
            args.mode,
            args.slots,
        )
    )


if __name__ == "__main__":
    main()
