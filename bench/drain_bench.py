"""A cluster drain with simulated agents: how long until the other cluster holds the Ready
capacity, and how many Allocated servers the drain touched.

    .venv/bin/python -m bench.drain_bench [--ready 300] [--allocated 50] [--ready-per-second 0]

A hub process and two simulated clusters, `stay` and `leave`, each running a fleet's share; in
`leave`, `--ready` idle Ready servers and `--allocated` Allocated ones. Each simulated agent
converges as the real one does, without Kubernetes: it adds Ready servers up to its desired
replicas (all at once, or `--ready-per-second`, e.g. 52/s, what the real agent reaches on a
local cluster, docs/agent.md) and removes idle ones down to them, never an Allocated one. Then
`DrainCluster(leave)`, timed to: `stay`'s share raised, `stay` holding it Ready, `leave`'s
share lowered to its Allocated servers, and `Drained` True. The Allocated servers' names are
compared before and after (touched: removed or no longer Allocated).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable

import grpc
from gamefleet.v1 import (
    agent_pb2,
    cluster_pb2,
    cluster_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    gameserver_pb2,
)

from bench.machine import emit
from tests.integration.hub.fleet_docs import fleet
from tests.support.agent_sim import SimulatedAgent, game_server, set_status
from tests.support.hub_process import HubProcess

KEY = ("games", "arena")
BATCH = 500


class ConvergingCluster:
    """A simulated agent whose game servers follow the hub's desired replicas."""

    def __init__(self, address: str, name: str, ready_per_second: float) -> None:
        self.agent = SimulatedAgent(address, name, {"bench": "drain"})
        self.servers: dict[int, str] = {}  # ordinal -> opsState
        self.ready_per_second = ready_per_second
        # When the desired replicas last changed to each value, and when it held that many.
        self.asked: dict[int, float] = {}
        self.held: dict[int, float] = {}
        self._task: asyncio.Task[None] | None = None
        self.seen: int | None = None

    async def start(self) -> None:
        await self.agent.start()
        self._task = asyncio.create_task(self._converge())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.agent.stop()

    def allocated(self) -> set[str]:
        return {f"arena-{i}" for i, ops in self.servers.items() if ops == "Allocated"}

    def allocate(self, count: int) -> None:
        """Games start on ``count`` idle servers (an allocation routed elsewhere)."""
        chosen = sorted(i for i, ops in self.servers.items() if ops == "None")[:count]
        for ordinal in chosen:
            self.servers[ordinal] = "Allocated"
        self._report([game_server(*KEY, i, ops_state="Allocated") for i in chosen])

    async def _converge(self) -> None:
        while True:
            await self.agent.wait_for(self._new_replicas, timeout=3600)
            wanted = self.agent.replicas(*KEY) or 0
            self.seen = wanted
            self.asked.setdefault(wanted, time.monotonic())
            if len(self.servers) < wanted:
                await self._grow(wanted)
            elif len(self.servers) > wanted:
                self._shrink(wanted)
            if len(self.servers) == wanted:
                self.held.setdefault(wanted, time.monotonic())

    def _new_replicas(self) -> bool:
        wanted = self.agent.replicas(*KEY)
        return wanted is not None and wanted != self.seen

    async def _grow(self, wanted: int) -> None:
        step = wanted if not self.ready_per_second else max(1, int(self.ready_per_second / 10))
        while len(self.servers) < wanted:
            count = min(step, wanted - len(self.servers))
            if self.ready_per_second:
                await asyncio.sleep(count / self.ready_per_second)  # until they are Ready
            if self.agent.replicas(*KEY) != wanted:
                return
            start = max(self.servers, default=-1) + 1
            added = list(range(start, start + count))
            for ordinal in added:
                self.servers[ordinal] = "None"
            self._report([game_server(*KEY, i) for i in added])

    def _shrink(self, wanted: int) -> None:
        """The agent's scale-down: idle servers, highest ordinal first, never Allocated."""
        idle = sorted((i for i, ops in self.servers.items() if ops != "Allocated"), reverse=True)
        removed = idle[: len(self.servers) - wanted]
        gone = []
        for ordinal in removed:
            del self.servers[ordinal]
            server = game_server(*KEY, ordinal)
            server.deleted = True
            gone.append(server)
        self._report(gone)

    def _report(self, servers: list[gameserver_pb2.GameServer]) -> None:
        desired = self.agent.sets[KEY]
        status = set_status(desired, ready=len(self.servers), allocated=len(self.allocated()))
        status.counts.replicas = len(self.servers)
        batches = [servers[i : i + BATCH] for i in range(0, len(servers), BATCH)] or [[]]
        for index, batch in enumerate(batches):
            delta = agent_pb2.StatusDelta(game_servers=batch)
            if index == len(batches) - 1:
                delta.sets.append(status)
            self.agent.report(delta)


async def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} not within {timeout} s")
        await asyncio.sleep(0.01)


async def _drained(clusters: cluster_pb2_grpc.ClusterServiceAsyncStub) -> bool:
    found = await clusters.GetCluster(cluster_pb2.ClusterRef(name="leave"))
    return any(c.type == "Drained" and c.status == "True" for c in found.status.conditions)


async def run(ready: int, allocated: int, ready_per_second: float) -> None:
    share = ready + allocated
    with tempfile.TemporaryDirectory() as workdir:
        hub = HubProcess(f"sqlite:///{workdir}/hub.db").start()
        stay = ConvergingCluster(hub.address, "stay", ready_per_second)
        leave = ConvergingCluster(hub.address, "leave", 0)
        try:
            await stay.start()
            await leave.start()
            async with grpc.aio.insecure_channel(hub.address) as channel:
                fleets = fleet_pb2_grpc.FleetServiceStub(channel)
                clusters = cluster_pb2_grpc.ClusterServiceStub(channel)
                placement = {
                    "strategy": "Spread",
                    "clusterSelector": {"matchLabels": {"bench": "drain"}},
                }
                await fleets.ApplyFleet(
                    fleet_pb2.ApplyFleetRequest(
                        fleet=fleet(replicas=2 * share, placement=placement)
                    )
                )
                await _wait(lambda: len(leave.servers) == share, 120, "leave's share")
                await _wait(lambda: len(stay.servers) == share, 120, "stay's share")
                leave.allocate(allocated)
                games = leave.allocated()
                await asyncio.sleep(1.0)  # the hub has the Allocated counts

                started = time.monotonic()
                await clusters.DrainCluster(cluster_pb2.ClusterRef(name="leave"))
                target = 2 * share - allocated
                await _wait(lambda: target in stay.held, 600, "stay holding the capacity")
                await _wait(lambda: allocated in leave.held, 600, "leave lowered")
                while not await _drained(clusters):
                    if time.monotonic() - started > 600:
                        raise TimeoutError("Drained not True within 600 s")
                    await asyncio.sleep(0.02)
                drained_at = time.monotonic()
        finally:
            await stay.stop()
            await leave.stop()
            hub.kill()
    params = {
        "ready": ready,
        "allocated": allocated,
        "ready_per_second": ready_per_second,
        "agents": "simulated",
    }
    emit("drain: the other cluster's share raised", stay.asked[target] - started, "s", **params)
    emit("drain: the other cluster holds the Ready capacity", stay.held[target] - started, "s",
         **params)  # fmt: skip
    emit("drain: the drained cluster lowered to its Allocated servers",
         leave.asked[allocated] - started, "s", **params)  # fmt: skip
    emit("drain: Drained True", drained_at - started, "s", **params)
    lowered_before_held = leave.asked[allocated] < stay.held[target]
    emit("drain: lowered before the capacity was held elsewhere (must be 0)",
         float(lowered_before_held), "bool", **params)  # fmt: skip
    touched = len(games - leave.allocated())
    emit("drain: Allocated servers touched", float(touched), "servers", **params)
    emit("drain: servers left in the drained cluster", float(len(leave.servers)), "servers",
         **params)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ready", type=int, default=300)
    parser.add_argument("--allocated", type=int, default=50)
    parser.add_argument("--ready-per-second", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(run(args.ready, args.allocated, args.ready_per_second))


if __name__ == "__main__":
    main()
