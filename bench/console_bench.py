"""The hub's web console: what a page weighs and how soon it shows a fleet; what open consoles
cost the hub.

    .venv/bin/python -m bench.console_bench page [--servers 1000] [--runs 5]
    .venv/bin/python -m bench.console_bench cpu [--clusters 100] [--servers 1000] [--consoles 10]

`page`: a hub process with its console, 10 simulated clusters holding a fleet of `servers`
game servers (each with an address and a probe result), and headless Chromium (a fresh profile
each run, so nothing is cached) opening the fleet's page: the bytes it fetched (document,
script, style sheet, and the live stream up to the full table) and the time from navigation to
the frame showing every server painted.

`cpu`: a hub process, `clusters` simulated agents with one fleet of `servers` servers each
(clusters x servers in all), and the hub's CPU over 30 s at rest and with 1,000 server changes
a second, without consoles and with `consoles` open ones (server-sent-event clients reading the
stream as the page does, each on another fleet's servers, all on the overview). With
`--one-fleet`: one fleet over every cluster, and every console on all of its servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import statistics
import tempfile
import time
from typing import Any

import aiohttp
import grpc
from gamefleet.v1 import agent_pb2, fleet_pb2, fleet_pb2_grpc, gameserver_pb2
from google.protobuf import struct_pb2

from bench import machine
from bench.machine import emit
from tests.integration.hub.fleet_docs import fleet
from tests.support.agent_sim import SimulatedAgent, game_server, set_status
from tests.support.browser import browser
from tests.support.hub_process import HubProcess

BATCH = 500
WINDOW_S = 30.0
CHANGES_PER_SECOND = 1000


def _server(fleet_name: str, ordinal: int, cluster_index: int) -> gameserver_pb2.GameServer:
    server = game_server("games", fleet_name, ordinal)
    server.node = f"node-{ordinal % 3}"
    server.network_status.update(
        {
            "networkType": "Kubernetes-HostPort",
            "currentNetworkState": "Ready",
            "externalAddresses": [
                {
                    "ip": f"203.0.113.{cluster_index}",
                    "ports": [{"name": "game", "port": 8000 + ordinal}],
                }
            ],
        }
    )
    probe = struct_pb2.Struct()
    probe.update({"name": "healthy", "status": "True", "result": "ok"})
    server.quality_conditions.append(probe)
    return server


async def _fleet_on_clusters(
    hub: HubProcess, clusters: int, per_cluster: int, fleets: int
) -> list[SimulatedAgent]:
    """`fleets` == 1: one fleet `arena` over every cluster; else fleet f-i on cluster c-i."""
    sims = [
        SimulatedAgent(hub.address, f"c-{i}", {"idx": str(i), "region": f"r-{i % 4}"}, 2.0)
        for i in range(clusters)
    ]
    for sim in sims:
        await sim.start()
    async with grpc.aio.insecure_channel(hub.address) as channel:
        stub: fleet_pb2_grpc.FleetServiceAsyncStub = fleet_pb2_grpc.FleetServiceStub(channel)
        if fleets == 1:
            await stub.ApplyFleet(
                fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=clusters * per_cluster))
            )
        else:
            for i in range(fleets):
                selector = {"clusterSelector": {"matchLabels": {"idx": str(i)}}}
                doc = fleet(name=f"f-{i}", replicas=per_cluster, placement=selector)
                await stub.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=doc))
    for i, sim in enumerate(sims):
        name = "arena" if fleets == 1 else f"f-{i}"
        await sim.wait_for(functools.partial(dict.__contains__, sim.sets, ("games", name)), 300)
        desired = sim.sets[("games", name)]
        sim.report(agent_pb2.StatusDelta(sets=[set_status(desired, ready=per_cluster)]))
        servers = [_server(name, n, i) for n in range(per_cluster)]
        for start in range(0, per_cluster, BATCH):
            sim.report(agent_pb2.StatusDelta(game_servers=servers[start : start + BATCH]))
    return sims


async def _wait_ready(hub: HubProcess, name: str, ready: int) -> None:
    ref = fleet_pb2.FleetRef(namespace="games", name=name)
    async with grpc.aio.insecure_channel(hub.address) as channel:
        stub: fleet_pb2_grpc.FleetServiceAsyncStub = fleet_pb2_grpc.FleetServiceStub(channel)
        for _ in range(6000):
            got = await stub.GetFleet(fleet_pb2.GetFleetRequest(ref=ref))
            if got.status.counts.ready == ready:
                return
            await asyncio.sleep(0.1)
    raise TimeoutError(f"fleet {name} never had {ready} Ready servers")


async def page(servers: int, runs: int) -> None:
    clusters = 10
    with tempfile.TemporaryDirectory() as workdir:
        hub = HubProcess(f"sqlite:///{workdir}/hub.db", ["--console-listen", "127.0.0.1:0"]).start()
        try:
            await _page_runs(hub, servers, runs, clusters)
        finally:
            hub.kill()


async def _page_runs(hub: HubProcess, servers: int, runs: int, clusters: int) -> None:
    sims = await _fleet_on_clusters(hub, clusters, servers // clusters, 1)
    await _wait_ready(hub, "arena", servers)
    url = f"http://127.0.0.1:{hub.console_port}/#fleet=games/arena"
    results: list[dict[str, Any]] = []
    for _ in range(runs):
        async with browser() as tab:
            await tab.navigate(url)
            entry = await tab.wait_for(
                "window.gamefleet.serverRenders.find("
                f"e => e.servers === {servers} && e.painted !== null) || null",
                120.0,
                f"{servers} servers painted",
            )
            rows = await tab.evaluate(
                "document.querySelectorAll('#servers tr[data-server]').length"
            )
            assert rows == servers, rows
            loaded = await tab.evaluate(
                "performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
            )
            # Bytes on the wire (headers and bodies) of the document and what it loaded.
            sizes = await tab.evaluate(
                "Object.fromEntries(performance.getEntriesByType('navigation')"
                ".concat(performance.getEntriesByType('resource'))"
                ".filter(e => !e.name.includes('/api/stream'))"
                ".map(e => [new URL(e.name).pathname, e.transferSize]))"
            )
        results.append({"painted_ms": entry["painted"], "dom_ms": entry["dom"],
                        "dom_content_loaded_ms": loaded, "bytes": sizes,
                        "stream_bytes": entry["streamBytes"]})  # fmt: skip
    params = {"servers": servers, "clusters": clusters, "runs": runs}
    painted = [r["painted_ms"] for r in results]
    emit("console: navigation to every server painted, median", statistics.median(painted),
         "ms", all=[round(p) for p in painted], **params)  # fmt: skip
    emit(
        "console: navigation to DOMContentLoaded, median",
        statistics.median(r["dom_content_loaded_ms"] for r in results),
        "ms",
        **params,
    )
    files = results[-1]["bytes"]
    stream = results[-1]["stream_bytes"]
    emit("console: page weight (document, script, style sheet, session check)",
         sum(files.values()) / 1024, "KiB", files=files, **params)  # fmt: skip
    emit("console: live stream until every server shown", stream / 1024, "KiB", **params)
    emit("console: total bytes to every server shown",
         (sum(files.values()) + stream) / 1024, "KiB", **params)  # fmt: skip
    for sim in sims:
        await sim.stop()


class StreamReader:
    """A console page's stream, read and counted (what a browser would parse)."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.bytes = 0
        self.frames = 0
        self.kinds: dict[str, int] = {}
        self._task = asyncio.create_task(self._read(session, url))

    async def _read(self, session: aiohttp.ClientSession, url: str) -> None:
        # Chunks, not lines: a fleet's snapshot is one line of many megabytes.
        partial = b""
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as answer:
            async for chunk in answer.content.iter_any():
                self.bytes += len(chunk)
                *lines, partial = (partial + chunk).split(b"\n")
                # Only `event:` lines are read; a data line's megabytes need not be kept.
                partial = partial[:64]
                for line in lines:
                    if line.startswith(b"event: "):
                        kind = line[7:].decode()
                        self.kinds[kind] = self.kinds.get(kind, 0) + 1
                        self.frames += 1

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
            await self._task


async def _churn(sims: list[SimulatedAgent], per_second: int, seconds: float, fleets: int) -> None:
    """Flip servers between opsState None and Allocated, `per_second` in all, for `seconds`."""
    per_agent = max(per_second // len(sims), 1)
    flip = False
    cursor = 0
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        began = time.monotonic()
        flip = not flip
        for i, sim in enumerate(sims):
            name = "arena" if fleets == 1 else f"f-{i}"
            changed = []
            for n in range(cursor, cursor + per_agent):
                server = _server(name, n % 1000, i)
                server.ops_state = "Allocated" if flip else "None"
                changed.append(server)
            sim.report(agent_pb2.StatusDelta(game_servers=changed))
        cursor += per_agent
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - began)))


async def _cpu_over(pid: int, seconds: float, work: Any = None) -> float:
    before = machine.cpu_seconds(pid)
    if work is None:
        await asyncio.sleep(seconds)
    else:
        await work
    return (machine.cpu_seconds(pid) - before) / seconds


async def cpu(clusters: int, servers: int, consoles: int, one_fleet: bool) -> None:
    fleets = 1 if one_fleet else clusters
    with tempfile.TemporaryDirectory() as workdir:
        hub = HubProcess(f"sqlite:///{workdir}/hub.db", ["--console-listen", "127.0.0.1:0"]).start()
        try:
            await _cpu_runs(hub, clusters, servers, consoles, one_fleet, fleets)
        finally:
            hub.kill()


async def _cpu_runs(
    hub: HubProcess, clusters: int, servers: int, consoles: int, one_fleet: bool, fleets: int
) -> None:
    assert hub.process is not None
    pid = hub.process.pid
    sims = await _fleet_on_clusters(hub, clusters, servers, fleets)
    if one_fleet:
        await _wait_ready(hub, "arena", clusters * servers)
    else:
        await _wait_ready(hub, f"f-{clusters - 1}", servers)
    await asyncio.sleep(5)
    params = {"clusters": clusters, "servers": clusters * servers, "consoles": consoles,
              "fleets": fleets, "changes_per_second": CHANGES_PER_SECOND,
              "window_s": WINDOW_S}  # fmt: skip
    rest = await _cpu_over(pid, WINDOW_S)
    churn = await _cpu_over(pid, WINDOW_S, _churn(sims, CHANGES_PER_SECOND, WINDOW_S, fleets))
    emit("hub CPU at rest, no console", rest, "cores", **params)
    emit("hub CPU with server changes, no console", churn, "cores", **params)
    base = f"http://127.0.0.1:{hub.console_port}/api/stream"
    async with aiohttp.ClientSession() as session:
        opened_cpu = machine.cpu_seconds(pid)
        opened = time.monotonic()
        names = ["arena"] * consoles if one_fleet else [f"f-{i}" for i in range(consoles)]
        readers = [StreamReader(session, f"{base}?fleet=games/{name}") for name in names]
        for _ in range(3000):
            if all(r.kinds.get("servers") for r in readers):
                break
            await asyncio.sleep(0.05)
        emit("hub CPU to open the consoles (every snapshot sent)",
             machine.cpu_seconds(pid) - opened_cpu, "cpu-s",
             seconds=round(time.monotonic() - opened, 2), **params)  # fmt: skip
        await asyncio.sleep(5)
        rest_with = await _cpu_over(pid, WINDOW_S)
        before = sum(r.bytes for r in readers)
        churn_with = await _cpu_over(
            pid, WINDOW_S, _churn(sims, CHANGES_PER_SECOND, WINDOW_S, fleets)
        )
        sent = sum(r.bytes for r in readers) - before
        emit("hub CPU at rest, consoles open", rest_with, "cores", **params)
        emit("hub CPU with server changes, consoles open", churn_with, "cores", **params)
        emit("stream bytes per console per second during the changes",
             sent / consoles / WINDOW_S / 1024, "KiB/s", **params)  # fmt: skip
        emit("hub RSS with the consoles open", machine.rss_mib(pid), "MiB", **params)
        for reader in readers:
            await reader.close()
    for sim in sims:
        await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.console_bench")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("page")
    p.add_argument("--servers", type=int, default=1000)
    p.add_argument("--runs", type=int, default=5)
    c = sub.add_parser("cpu")
    c.add_argument("--clusters", type=int, default=100)
    c.add_argument("--servers", type=int, default=1000, help="per cluster")
    c.add_argument("--consoles", type=int, default=10)
    c.add_argument(
        "--one-fleet", action="store_true", help="one fleet over every cluster, every console on it"
    )
    args = parser.parse_args()
    if args.command == "page":
        asyncio.run(page(args.servers, args.runs))
    else:
        asyncio.run(cpu(args.clusters, args.servers, args.consoles, args.one_fleet))


if __name__ == "__main__":
    main()
