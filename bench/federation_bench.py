"""The hub under many agents: memory, CPU and resync time; status propagation latency.

    .venv/bin/python -m bench.federation_bench scale [--agents 100] [--servers 1000]
    .venv/bin/python -m bench.federation_bench propagation [--samples 30]

`scale` runs a hub process and a load generator that speaks the agent protocol (one stream per
simulated cluster) and reports `servers` game servers per cluster, then kills the hub with -9,
restarts it on the same store and times the resync. `propagation` needs the two local clusters
(`make clusters`): a hub and real agents, a fleet, and the time from a GameServer's change in a
cluster to the change in the hub's WatchFleets stream.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import statistics
import tempfile
import time
from pathlib import Path

import grpc
from gamefleet.v1 import agent_pb2, fleet_pb2, fleet_pb2_grpc, gameserver_pb2, gameserver_pb2_grpc

from bench.machine import emit
from hub.core import paging
from tests.integration.hub.fleet_docs import fleet
from tests.support.agent_sim import SimulatedAgent, game_server, set_status
from tests.support.hub_process import HubProcess

from . import machine

BATCH = 500


def _desired_messages(sim: SimulatedAgent) -> int:
    return len([m for m in sim.received if m.HasField("desired")])


def _holds_arena(sim: SimulatedAgent) -> bool:
    return ("games", "arena") in sim.sets


def _deltas(servers: int) -> list[agent_pb2.StatusDelta]:
    all_servers = [game_server("games", "arena", i) for i in range(servers)]
    return [
        agent_pb2.StatusDelta(game_servers=all_servers[start : start + BATCH])
        for start in range(0, servers, BATCH)
    ]


async def _total_servers(hub: HubProcess, clusters: int, per_cluster: int, timeout: float) -> None:
    """Return once the hub holds every cluster's game servers.

    Each agent's stream is taken in order, so a cluster's last server being held means all of
    it is: the wait asks for that one server only (listing every server while waiting would
    cost the hub more than a second of CPU at 1,000,000); ``_check_counts`` counts them all
    afterwards.
    """
    started = time.monotonic()
    pending = [f"c-{i}" for i in range(clusters)]
    last = f"arena-{per_cluster - 1}"
    async with grpc.aio.insecure_channel(hub.address) as channel:
        stub: gameserver_pb2_grpc.GameServerServiceAsyncStub = (
            gameserver_pb2_grpc.GameServerServiceStub(channel)
        )
        while pending:
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"the hub did not hold every server in {timeout}s")
            try:
                held = await _holds(stub, pending[0], last)
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.5)
                continue
            if held:
                pending.pop(0)
            else:
                await asyncio.sleep(0.2)


async def _check_counts(hub: HubProcess, clusters: int, per_cluster: int) -> None:
    """Fail unless the hub holds every server of every cluster (after the timing)."""
    async with grpc.aio.insecure_channel(hub.address) as channel:
        stub: gameserver_pb2_grpc.GameServerServiceAsyncStub = (
            gameserver_pb2_grpc.GameServerServiceStub(channel)
        )
        for cluster in (f"c-{i}" for i in range(clusters)):
            held_all = await _count_pages(stub, cluster)
            if held_all != per_cluster:
                raise AssertionError(f"{cluster}: the hub holds {held_all} of {per_cluster}")


async def _holds(
    stub: gameserver_pb2_grpc.GameServerServiceAsyncStub, cluster: str, name: str
) -> bool:
    """Whether the hub holds ``name`` of ``cluster`` as Maintaining: a page of one that starts
    just before it (a position between the name before it in sort order and the name)."""
    before = name[:-1] + chr(ord(name[-1]) - 1) + "~"
    listed = await stub.ListGameServers(
        gameserver_pb2.ListGameServersRequest(
            namespace="games",
            cluster=cluster,
            ops_state="Maintaining",
            page_size=1,
            page_token=paging.encode_token((cluster, "games", before)),
        ),
        timeout=60,
    )
    return [s.name for s in listed.game_servers] == [name]


async def _count_pages(stub: gameserver_pb2_grpc.GameServerServiceAsyncStub, cluster: str) -> int:
    """How many Maintaining servers of ``cluster`` the hub holds, following every page."""
    held, token = 0, ""
    while True:
        listed = await stub.ListGameServers(
            gameserver_pb2.ListGameServersRequest(
                namespace="games",
                cluster=cluster,
                ops_state="Maintaining",
                page_size=5000,
                page_token=token,
            ),
            timeout=60,
        )
        held += len(listed.game_servers)
        token = listed.next_page_token
        if not token:
            return held


async def scale(agents: int, servers: int) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        store = f"sqlite:///{workdir}/hub.db"
        hub = HubProcess(store).start()
        assert hub.process is not None
        sims = [
            SimulatedAgent(hub.address, f"c-{i}", heartbeat_interval=2.0) for i in range(agents)
        ]
        for sim in sims:
            sim.reconnect = True
            await sim.start()
        async with grpc.aio.insecure_channel(hub.address) as channel:
            stub: fleet_pb2_grpc.FleetServiceAsyncStub = fleet_pb2_grpc.FleetServiceStub(channel)
            await stub.ApplyFleet(
                fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=min(agents * servers, 100_000)))
            )
        for sim in sims:
            await sim.wait_for(functools.partial(_holds_arena, sim), timeout=120)
        cpu_before = machine.cpu_seconds(hub.process.pid)
        own_before = time.process_time()
        started = time.monotonic()
        # Every server Maintaining marks the batch, so counting them tells what has arrived.
        for sim in sims:
            desired = sim.sets[("games", "arena")]
            sim.report(agent_pb2.StatusDelta(sets=[set_status(desired, ready=servers)]))
            for delta in _deltas(servers):
                for server in delta.game_servers:
                    server.ops_state = "Maintaining"
                sim.report(delta)
        await _total_servers(hub, agents, servers, timeout=600)
        ingest = time.monotonic() - started
        cpu = machine.cpu_seconds(hub.process.pid) - cpu_before
        params = {"agents": agents, "servers_per_agent": servers}
        emit("hub ingest of every server's status", ingest, "s", **params)
        emit("hub CPU during ingest", cpu, "cpu-s", **params)
        emit("load generator CPU during ingest (the simulated agents, same machine)",
             time.process_time() - own_before, "cpu-s", **params)  # fmt: skip
        emit("hub RSS holding every status", machine.rss_mib(hub.process.pid), "MiB", **params)
        idle_cpu = machine.cpu_seconds(hub.process.pid)
        await asyncio.sleep(10)
        at_rest = (machine.cpu_seconds(hub.process.pid) - idle_cpu) / 10
        emit("hub CPU at rest (heartbeats only)", at_rest, "cores", **params)
        await _check_counts(hub, agents, servers)

        # kill -9 and restart on the same store and port: the agents reconnect and resync.
        port = hub.port
        sent_before = sum(_desired_messages(s) for s in sims)
        hub.kill()
        restarted = time.monotonic()
        own_before = time.process_time()
        hub = HubProcess(store, port=port).start()
        await _total_servers(hub, agents, servers, timeout=600)
        emit("resync after hub kill -9 (restart to every status held)",
              time.monotonic() - restarted, "s", **params)  # fmt: skip
        emit("every agent reconnected (hub restart to its last hello answered)",
             max(s.hashes_received_at for s in sims) - restarted, "s", **params)  # fmt: skip
        emit("load generator CPU during the resync", time.process_time() - own_before, "cpu-s",
             **params)  # fmt: skip
        assert hub.process is not None
        emit("restarted hub CPU until every status held",
             machine.cpu_seconds(hub.process.pid), "cpu-s", **params)  # fmt: skip
        emit("hub RSS after resync", machine.rss_mib(hub.process.pid), "MiB", **params)
        await _check_counts(hub, agents, servers)
        sent = sum(_desired_messages(s) for s in sims) - sent_before
        emit("desired-set messages sent by the restarted hub", float(sent), "messages",
              **params)  # fmt: skip
        for sim in sims:
            await sim.stop()
        hub.kill()


async def propagation(samples: int) -> None:
    from agent.kube import client as kclient
    from agent.kube import crds
    from tests.e2e.federation.conftest import NAMESPACES
    from tests.localcluster import manager

    clusters, _ = manager.ensure(count=2, nodes=3)
    with tempfile.TemporaryDirectory() as workdir:
        namespace = f"bench-prop-{os.getpid()}"
        kube = await kclient.KubeClient.connect(str(clusters[0].kubeconfig))
        await crds.install(kube)
        await kube.create(NAMESPACES, None, {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": namespace}})  # fmt: skip
        hub = HubProcess(f"sqlite:///{workdir}/hub.db").start()
        from tests.e2e.agent.harness import Namespace
        from tests.e2e.federation.world import Member

        member = Member(clusters[0].name, clusters[0].kubeconfig, kube, Namespace(kube, namespace),
                        clusters[0].region, Path(workdir) / "agent.log")  # fmt: skip
        member.start_agent(hub.address, "bench-prop")
        latencies: list[float] = []
        try:
            async with grpc.aio.insecure_channel(hub.address) as channel:
                stub: fleet_pb2_grpc.FleetServiceAsyncStub = fleet_pb2_grpc.FleetServiceStub(
                    channel
                )
                doc = fleet(replicas=3)
                doc.metadata.namespace = namespace
                doc.spec.placement.cluster_selector.match_labels["region"] = clusters[0].region
                await stub.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=doc))
                watch = stub.WatchFleets(fleet_pb2.WatchFleetsRequest(namespace=namespace))
                events = aiter(watch)
                while (await anext(events)).fleet.status.counts.ready != 3:
                    pass
                for sample in range(samples):
                    allocated = sample % 2 == 0
                    started = time.monotonic()
                    await member.namespace.patch_gs(
                        "arena-0", spec={"opsState": "Allocated" if allocated else "None"}
                    )
                    while (await anext(events)).fleet.status.counts.allocated != int(allocated):
                        pass
                    latencies.append(time.monotonic() - started)
                watch.cancel()
        finally:
            member.kill_agent()
            hub.kill()
            await kube.request("DELETE", f"/api/v1/namespaces/{namespace}")
            await kube.close()
        ordered = sorted(latencies)
        params = {"samples": samples, "path": "GameServer patch -> agent -> hub WatchFleets"}
        emit("status propagation p50", statistics.median(ordered) * 1000, "ms", **params)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        emit("status propagation p99", p99 * 1000, "ms", **params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    scale_parser = sub.add_parser("scale")
    scale_parser.add_argument("--agents", type=int, default=100)
    scale_parser.add_argument("--servers", type=int, default=1000)
    prop = sub.add_parser("propagation")
    prop.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    if args.what == "scale":
        asyncio.run(scale(args.agents, args.servers))
    else:
        asyncio.run(propagation(args.samples))


if __name__ == "__main__":
    main()
