"""ApplyFleet and GetFleet latency and throughput on each store; hub memory with many fleets;
listing them all, a ListFleets page at a time, within gRPC's default 4 MiB message limit.

Runs a hub process per store on loopback and drives it with asyncio gRPC clients.
Prints one JSON object per figure.

    .venv/bin/python -m bench.hub_api_bench [--requests 2000] [--concurrency 1,16] [--fleets 10000]

The cost of metrics: ``--metrics both --rounds 5`` runs the hub without and with
``--metrics-listen``, alternating (so both see the same machine load), and reports each
mode's percentiles over the latencies of every round, then one scrape's time and size.
``--stores sqlite`` and ``--latency-only`` make a short run.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

import grpc
import prometheus_client
from gamefleet.v1 import agent_pb2, fleet_pb2, fleet_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.machine import emit
from hub.api import metrics as hub_metrics
from hub.api.server import LEADER_SERVICE
from hub.core import health
from hub.federation.federation import Federation
from hub.registry.clusters import ClusterRegistry
from hub.registry.fleets import FleetRegistry
from hub.store import interface as store_api
from hub.store import metered
from tests.integration.hub.fleet_docs import fleet
from tests.integration.store.etcd_server import EtcdServer, etcd_binary
from tests.support import agent_sim
from tests.support.hub_process import HubProcess

from . import machine


async def _drive(
    call: Callable[[int], Awaitable[object]], requests: int, concurrency: int
) -> tuple[list[float], float]:
    latencies: list[float] = []
    next_index = iter(range(requests))

    async def worker() -> None:
        for index in next_index:
            started = time.perf_counter()
            await call(index)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


async def _list_all(
    stub: fleet_pb2_grpc.FleetServiceAsyncStub,
) -> tuple[list[fleet_pb2.Fleet], list[int]]:
    """Every fleet, a ListFleets page at a time, and the serialized size of each page."""
    fleets: list[fleet_pb2.Fleet] = []
    page_bytes: list[int] = []
    request = fleet_pb2.ListFleetsRequest()
    while True:
        page = await stub.ListFleets(request, timeout=120)
        fleets += page.fleets
        page_bytes.append(page.ByteSize())
        if not page.next_page_token:
            return fleets, page_bytes
        request.page_token = page.next_page_token


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


Latencies = dict[str, list[float]]


async def _until_leading(channel: grpc.aio.Channel, timeout: float = 30.0) -> None:
    """A hub on etcd listens before it has won the election; wait until it serves."""
    health = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service=LEADER_SERVICE)
    watch = health.Watch(request)
    async with asyncio.timeout(timeout):
        async for response in watch:
            if response.status == health_pb2.HealthCheckResponse.SERVING:
                break
    watch.cancel()


def _scrape(port: int) -> tuple[float, int]:
    """One GET /metrics: seconds and bytes."""
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        size = len(response.read())
    return time.perf_counter() - started, size


async def _run_store(
    store: str, requests: int, concurrency: int, metrics: bool
) -> tuple[Latencies, dict[str, float], tuple[float, int] | None]:
    """Latencies and throughput of each call, and with metrics one scrape's seconds and bytes."""
    hub = HubProcess(store, ["--metrics-listen", "127.0.0.1:0"] if metrics else []).start()
    latencies: Latencies = {}
    throughput: dict[str, float] = {}
    try:
        async with grpc.aio.insecure_channel(hub.address) as channel:
            await _until_leading(channel)
            stub = fleet_pb2_grpc.FleetServiceStub(channel)

            async def apply(index: int) -> object:
                return await stub.ApplyFleet(
                    fleet_pb2.ApplyFleetRequest(fleet=fleet(f"bench-{index}", replicas=3))
                )

            async def get(index: int) -> object:
                ref = fleet_pb2.FleetRef(namespace="games", name=f"bench-{index % requests}")
                return await stub.GetFleet(fleet_pb2.GetFleetRequest(ref=ref))

            for name, call in (("ApplyFleet", apply), ("GetFleet", get)):
                latencies[name], elapsed = await _drive(call, requests, concurrency)
                throughput[name] = requests / elapsed
        scraped = await asyncio.to_thread(_scrape, hub.metrics_port) if hub.metrics_port else None
    finally:
        hub.kill()
    return latencies, throughput, scraped


async def _measure_store(
    store: str, label: str, requests: int, concurrency: int, modes: list[bool], rounds: int
) -> None:
    pooled: dict[bool, Latencies] = {mode: {} for mode in modes}
    rates: dict[bool, dict[str, list[float]]] = {mode: {} for mode in modes}
    scraped: tuple[float, int] | None = None
    for index in range(rounds):
        for mode in modes:
            # A fresh key prefix per run: every ApplyFleet creates a fleet.
            url = f"{store}r{index}{'m' if mode else ''}"
            latencies, throughput, scrape = await _run_store(url, requests, concurrency, mode)
            for name, values in latencies.items():
                pooled[mode].setdefault(name, []).extend(values)
                rates[mode].setdefault(name, []).append(throughput[name])
            scraped = scrape or scraped
    for mode in modes:
        params: dict[str, object] = {
            "store": label, "requests": requests, "concurrency": concurrency,
        }  # fmt: skip
        if len(modes) > 1 or mode:
            params |= {"metrics": "on" if mode else "off", "rounds": rounds}
        for name, values in pooled[mode].items():
            emit(f"{name} p50", _percentile(values, 0.5) * 1000, "ms", **params)
            emit(f"{name} p99", _percentile(values, 0.99) * 1000, "ms", **params)
            median_rate = sorted(rates[mode][name])[len(rates[mode][name]) // 2]
            emit(f"{name} throughput", median_rate, "requests/s", **params)
    if scraped is not None:
        seconds, size = scraped
        params = {"store": label, "fleets": requests, "concurrency": concurrency}
        emit("metrics scrape", seconds * 1000, "ms", **params)
        emit("metrics scrape size", size / 1024, "KiB", **params)


class _Details:
    method = "/gamefleet.v1.FleetService/GetFleet"
    invocation_metadata = ()


class _Context:
    def code(self) -> None:
        return None


class _NoStore:
    async def get(self, key: str) -> store_api.KeyValue | None:
        return None


async def _measure_metrics_cost(calls: int = 100_000) -> None:
    """CPU per call of the metrics interceptor and per store operation of the wrapper, against
    a call and a store that do nothing: the figures the end-to-end runs above drown in noise."""

    async def answer(request: object, context: object) -> object:
        return request

    handler = grpc.unary_unary_rpc_method_handler(answer)

    async def continuation(details: object) -> grpc.RpcMethodHandler[object, object]:
        return handler

    async def follower() -> None:
        return None

    metrics = hub_metrics.HubMetrics(follower)
    interceptor = metrics.interceptor()
    details = cast(grpc.HandlerCallDetails, _Details())
    context = cast(hub_metrics.Context, _Context())
    bare_store = _NoStore()
    store = metered.MeteredStore(cast(store_api.Store, bare_store), "none", metrics.store)

    async def bare_call() -> None:
        await answer(None, context)

    async def metered_call() -> None:
        wrapped = await interceptor.intercept_service(continuation, details)
        behavior = cast(hub_metrics.Behavior, wrapped.unary_unary)
        await behavior(None, context)

    async def bare_get() -> None:
        await bare_store.get("k")

    async def metered_get() -> None:
        await store.get("k")

    async def per_call(run: Callable[[], Awaitable[None]]) -> float:
        started = time.process_time()
        for _ in range(calls):
            await run()
        return (time.process_time() - started) / calls

    grpc_cost = await per_call(metered_call) - await per_call(bare_call)
    store_cost = await per_call(metered_get) - await per_call(bare_get)
    emit("metrics CPU per gRPC call (interceptor)", grpc_cost * 1e6, "us", calls=calls)
    emit("metrics CPU per store operation (wrapper)", store_cost * 1e6, "us", calls=calls)


async def _measure_scrape_at_scale(clusters: int = 100, servers: int = 1000) -> None:
    """One scrape of a federation holding ``clusters`` x ``servers`` game servers, as the
    federation benchmark's simulated agents report them: the scrape walks every server on
    the event loop, a chunk at a time; report its CPU and the longest the loop was held."""
    federation = Federation(
        cast(FleetRegistry, None), cast(ClusterRegistry, None), health.HealthPolicy()
    )
    states = ("Ready", "Ready", "Ready", "NotReady", "Creating")
    for index in range(clusters):
        delta = agent_pb2.StatusDelta()
        for ordinal in range(servers):
            server = agent_sim.game_server("games", f"fleet-{ordinal % 10}", ordinal)
            server.state = states[ordinal % len(states)]
            server.ops_state = "Allocated" if ordinal % 3 == 0 else "None"
            delta.game_servers.append(server)
        federation.report_status(f"cluster-{index}", delta)
    metrics = hub_metrics.HubMetrics(federation.live_counts)
    longest = 0.0
    scraping = True

    async def tick() -> None:
        nonlocal longest
        last = time.perf_counter()
        while scraping:
            await asyncio.sleep(0)
            now = time.perf_counter()
            longest, last = max(longest, now - last), now

    started = time.process_time()
    exposition = await asyncio.to_thread(prometheus_client.generate_latest, metrics.registry)
    cpu = time.process_time() - started
    ticker = asyncio.create_task(tick())  # a second scrape: the ticker spins, using CPU too
    await asyncio.to_thread(prometheus_client.generate_latest, metrics.registry)
    scraping = False
    await ticker
    params = {"game_servers": clusters * servers, "bytes": len(exposition)}
    emit("metrics scrape CPU", cpu * 1000, "ms", **params)
    emit("metrics scrape: longest event-loop stall", longest * 1000, "ms", **params)


async def _measure_memory(store: str, label: str, fleets: int) -> None:
    hub = HubProcess(store).start()
    try:
        assert hub.process is not None
        idle = machine.rss_mib(hub.process.pid)
        # gRPC's default 4 MiB message limit: every page must fit in it.
        async with grpc.aio.insecure_channel(hub.address) as channel:
            await _until_leading(channel)
            stub = fleet_pb2_grpc.FleetServiceStub(channel)

            async def apply(index: int) -> object:
                return await stub.ApplyFleet(
                    fleet_pb2.ApplyFleetRequest(fleet=fleet(f"mem-{index}", replicas=3))
                )

            await _drive(apply, fleets, 16)
            started = time.perf_counter()
            listed, page_bytes = await _list_all(stub)
            list_seconds = time.perf_counter() - started
            names = [f.metadata.name for f in listed]
            assert len(names) == len(set(names)) == fleets
        loaded = machine.rss_mib(hub.process.pid)
        params = {"store": label, "fleets": fleets}
        emit("hub RSS idle", idle, "MiB", store=label)
        emit("hub RSS after fleets applied and listed", loaded, "MiB", **params)
        pages = len(page_bytes)
        emit("ListFleets of all fleets", list_seconds * 1000, "ms", **params, pages=pages)
        emit("ListFleets largest page", max(page_bytes) / 2**20, "MiB", **params)
        emit("ListFleets all pages together", sum(page_bytes) / 2**20, "MiB", **params)
        emit("fleet with status", listed[0].ByteSize(), "bytes", store=label)
    finally:
        hub.kill()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", default="1,16", help="comma-separated client counts")
    parser.add_argument("--fleets", type=int, default=10000)
    parser.add_argument("--memory-only", action="store_true", help="skip the latency runs")
    parser.add_argument("--latency-only", action="store_true", help="skip the memory runs")
    parser.add_argument("--stores", default="sqlite,etcd", help="comma-separated: sqlite, etcd")
    parser.add_argument(
        "--metrics",
        choices=["off", "on", "both"],
        default="off",
        help="run the hub with --metrics-listen (both: without and with, alternating)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="runs of each mode, pooled")
    args = parser.parse_args()
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.metrics]
    wanted = set(args.stores.split(","))
    if True in modes:
        await _measure_metrics_cost()
        await _measure_scrape_at_scale()
    with tempfile.TemporaryDirectory() as workdir:
        etcd_dir = Path(workdir) / "etcd"
        etcd_dir.mkdir()
        etcd = EtcdServer(etcd_binary(), etcd_dir)
        etcd.start()
        try:
            stores = {
                "sqlite": f"sqlite:///{workdir}/api.db",
                "etcd": f"etcd://{etcd.endpoint}/bench-{uuid.uuid4().hex}/",
            }
            for label, url in stores.items() if not args.memory_only else ():
                if label not in wanted:
                    continue
                for concurrency in (int(c) for c in args.concurrency.split(",")):
                    await _measure_store(
                        f"{url}{concurrency}",
                        label,
                        args.requests,
                        concurrency,
                        modes,
                        args.rounds,
                    )
            memory_stores = {
                "sqlite": f"sqlite:///{workdir}/memory.db",
                "etcd": f"etcd://{etcd.endpoint}/mem-{uuid.uuid4().hex}/",
            }
            for label, url in memory_stores.items() if not args.latency_only else ():
                if label in wanted:
                    await _measure_memory(url, label, args.fleets)
        finally:
            etcd.stop()


if __name__ == "__main__":
    asyncio.run(main())
