"""ApplyFleet and GetFleet latency and throughput on each store; hub memory with many fleets;
listing them all, a ListFleets page at a time, within gRPC's default 4 MiB message limit.

Runs a hub process per store on loopback and drives it with asyncio gRPC clients.
Prints one JSON object per figure.

    .venv/bin/python -m bench.hub_api_bench [--requests 2000] [--concurrency 1,16] [--fleets 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from gamefleet.v1 import fleet_pb2, fleet_pb2_grpc

from bench.machine import emit
from tests.integration.hub.fleet_docs import fleet
from tests.integration.store.etcd_server import EtcdServer, etcd_binary
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


async def _measure_store(store: str, label: str, requests: int, concurrency: int) -> None:
    hub = HubProcess(store).start()
    try:
        async with grpc.aio.insecure_channel(hub.address) as channel:
            stub = fleet_pb2_grpc.FleetServiceStub(channel)

            async def apply(index: int) -> object:
                return await stub.ApplyFleet(
                    fleet_pb2.ApplyFleetRequest(fleet=fleet(f"bench-{index}", replicas=3))
                )

            async def get(index: int) -> object:
                ref = fleet_pb2.FleetRef(namespace="games", name=f"bench-{index % requests}")
                return await stub.GetFleet(fleet_pb2.GetFleetRequest(ref=ref))

            for name, call in (("ApplyFleet", apply), ("GetFleet", get)):
                latencies, elapsed = await _drive(call, requests, concurrency)
                params = {"store": label, "requests": requests, "concurrency": concurrency}
                emit(f"{name} p50", _percentile(latencies, 0.5) * 1000, "ms", **params)
                emit(f"{name} p99", _percentile(latencies, 0.99) * 1000, "ms", **params)
                emit(f"{name} throughput", requests / elapsed, "requests/s", **params)
    finally:
        hub.kill()


async def _measure_memory(store: str, label: str, fleets: int) -> None:
    hub = HubProcess(store).start()
    try:
        assert hub.process is not None
        idle = machine.rss_mib(hub.process.pid)
        # gRPC's default 4 MiB message limit: every page must fit in it.
        async with grpc.aio.insecure_channel(hub.address) as channel:
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
    args = parser.parse_args()
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
                for concurrency in (int(c) for c in args.concurrency.split(",")):
                    await _measure_store(f"{url}{concurrency}", label, args.requests, concurrency)
            memory_stores = {
                "sqlite": f"sqlite:///{workdir}/memory.db",
                "etcd": f"etcd://{etcd.endpoint}/mem-{uuid.uuid4().hex}/",
            }
            for label, url in memory_stores.items():
                await _measure_memory(url, label, args.fleets)
        finally:
            etcd.stop()


if __name__ == "__main__":
    asyncio.run(main())
