"""Tracing overhead on ApplyFleet and Allocate: the same rounds on a hub without tracing and on
one exporting every span over OTLP, side by side.

    .venv/bin/python -m bench.tracing_bench [--clusters 4] [--servers 1000]
        [--applies 300] [--requests 1500] [--concurrency 1,16] [--rounds 3]

For each mode (off, then on; ``rounds`` times, alternating, so a busy moment of a shared
machine falls on both) it starts a hub process on a new SQLite store (with on:
``--otlp-endpoint`` to an OTLP receiver in this process, which keeps what it is sent), connects
``clusters`` simulated agents that report ``servers`` Ready game servers each (they speak the
real agent stream and answer allocations without a Kubernetes write), and runs at each
concurrency: ``applies`` ApplyFleet calls that each store a change (a new replica count of one
of 50 fleets, so each is also placed and sent to the agents), then ``requests`` Allocate calls.
Reported per mode: calls/s, p50/p99 latency as the client sees it, and the hub's CPU time per
call; with on, the spans the receiver got. First, in this process: microseconds per span with
tracing off (the no-op path) and on (recorded and exported).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable

import grpc
from gamefleet import telemetry
from gamefleet.v1 import fleet_pb2, fleet_pb2_grpc

from bench.allocation_bench import native_client, serve_ready
from bench.machine import cpu_seconds, emit
from tests.integration.hub.fleet_docs import fleet
from tests.support.agent_sim import SimulatedAgent
from tests.support.hub_process import HubProcess
from tests.support.otlp_receiver import OtlpReceiver

FLEETS = 50
# Spans made between flushes when timing one span: within the SDK's queue (2,048), beyond which
# spans made faster than they are sent are dropped.
QUEUED = 2000
Call = Callable[[int], Awaitable[object]]


async def _calls(call: Call, count: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    numbers = iter(range(count))

    async def worker() -> None:
        for number in numbers:
            began = time.perf_counter()
            await call(number)
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - began, latencies


def _emit(
    api: str, mode: str, elapsed: float, latencies: list[float], cpu: float, **params: object
) -> None:
    ordered = sorted(latencies)
    count = len(ordered)
    params = {**params, "api": api, "tracing": mode}
    emit(f"{api} per second", count / elapsed, "1/s", **params)
    emit(f"{api} latency p50", statistics.median(ordered) * 1000, "ms", **params)
    p99 = ordered[min(count - 1, int(0.99 * count))]
    emit(f"{api} latency p99", p99 * 1000, "ms", **params)
    emit(f"{api} hub CPU per call", cpu / count * 1000, "ms", **params)


async def _mode(
    mode: str,
    number: int,
    clusters: int,
    servers: int,
    applies: int,
    requests: int,
    concurrencies: list[int],
) -> None:
    receiver = OtlpReceiver().start() if mode == "on" else None
    extra = ["--otlp-endpoint", receiver.endpoint] if receiver is not None else []
    with tempfile.TemporaryDirectory() as workdir:
        hub = HubProcess(f"sqlite:///{workdir}/hub.db", extra).start()
        assert hub.process is not None
        pid = hub.process.pid
        sims = [
            SimulatedAgent(hub.address, f"c-{i}", heartbeat_interval=2.0) for i in range(clusters)
        ]
        try:
            async with grpc.aio.insecure_channel(hub.address) as channel:
                fleets: fleet_pb2_grpc.FleetServiceAsyncStub = fleet_pb2_grpc.FleetServiceStub(
                    channel
                )
                await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0)))
                await serve_ready(hub.address, sims, servers)
                allocate = native_client(channel)
                applied = 0
                for concurrency in concurrencies:
                    params = {"clusters": clusters, "servers_per_cluster": servers}
                    params.update(concurrency=concurrency, round=number)

                    async def apply(number: int) -> object:
                        nonlocal applied
                        applied += 1
                        # A replica count not stored before: every call commits and places.
                        replicas = 1 + applied // FLEETS
                        changed = fleet(f"load-{number % FLEETS}", replicas=replicas)
                        return await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=changed))

                    cpu = cpu_seconds(pid)
                    elapsed, latencies = await _calls(apply, applies, concurrency)
                    _emit("ApplyFleet", mode, elapsed, latencies, cpu_seconds(pid) - cpu, **params)

                    async def allocated(number: int, concurrency: int = concurrency) -> object:
                        return await allocate(f"c{concurrency}-{number}")

                    cpu = cpu_seconds(pid)
                    elapsed, latencies = await _calls(allocated, requests, concurrency)
                    _emit("Allocate", mode, elapsed, latencies, cpu_seconds(pid) - cpu, **params)
        finally:
            for sim in sims:
                await sim.stop()
            hub.stop()  # SIGTERM: a hub with tracing on sends the spans it still holds
    if receiver is not None:
        emit("spans received", len(receiver.spans), "span", tracing=mode, round=number)
        receiver.stop()


def _span_cost(count: int) -> None:
    """Microseconds per span in this process: the no-op path of tracing off, and a recorded and
    exported span of tracing on (each with its traceparent made, as for an agent's message)."""
    for mode in ("off", "on"):
        receiver = None
        if mode == "on":
            # In its own process: what it does to read the spans is not charged to sending them.
            receiver = subprocess.Popen(
                [sys.executable, "-m", "tests.support.otlp_receiver"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert receiver.stdout is not None
            port = int(receiver.stdout.readline())
            endpoint = f"http://127.0.0.1:{port}"
            telemetry.start(telemetry.TracingConfig(endpoint, "gamefleet-bench"))
        try:
            with telemetry.span("warm-up"):
                pass
            telemetry.flush()  # the exporter's connection made before the timing
            began = time.perf_counter()
            for _ in range(count // QUEUED):
                for _ in range(QUEUED):
                    with telemetry.span("bench", {"cluster": "c-0"}):
                        telemetry.traceparent()
                telemetry.flush()  # their export counted too
            elapsed = time.perf_counter() - began
        finally:
            telemetry.stop()
        timed = count // QUEUED * QUEUED
        emit("span cost", elapsed / timed * 1e6, "us", tracing=mode, spans=timed)
        if receiver is not None:
            receiver.communicate("")


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clusters", type=int, default=4)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--applies", type=int, default=300)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=_ints, default=[1, 16])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--spans", type=int, default=20000, help="spans timed in this process")
    args = parser.parse_args()
    needed = args.requests * len(args.concurrency)
    if needed > args.clusters * args.servers:
        parser.error(f"--requests: {needed} allocations need that many servers in all")
    _span_cost(args.spans)
    for number in range(args.rounds):
        for mode in ("off", "on"):
            asyncio.run(
                _mode(
                    mode,
                    number,
                    args.clusters,
                    args.servers,
                    args.applies,
                    args.requests,
                    args.concurrency,
                )
            )


if __name__ == "__main__":
    main()
