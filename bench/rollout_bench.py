"""A progressive rollout with simulated agents: time per wave and in total, pods recreated and
Allocated servers restarted.

    .venv/bin/python -m bench.rollout_bench [--servers 1000] [--allocated 100] [--soak 5]
        [--updates-per-second 172]

A hub process and two simulated clusters, `eu` and `us`, each running half of a fleet of
`--servers`, `--allocated` of them (split evenly) in a game. The fleet's rollout has two waves
(`eu`, then `us`) and a soak of `--soak` seconds. Each simulated agent updates as the real one
does, without Kubernetes: in place (same pod UID), idle servers only, `--updates-per-second`
of them (172/s: the real agent's 1,000 in-place updates in 5.8 s, docs/agent.md); an Allocated
server stays on its template. Then an image change is applied and timed to: each wave's
cluster Succeeded in the fleet's status, and the rollout Complete. Pod UIDs and the Allocated
servers are compared before and after; the hub's targeted operations and set deletions counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from typing import Any

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
from hub.core import documents
from tests.integration.hub.fleet_docs import fleet_document
from tests.support.agent_sim import SimulatedAgent, set_status
from tests.support.hub_process import HubProcess

KEY = ("games", "arena")
BATCH = 500


class UpdatingCluster:
    """A simulated agent that runs its share and updates it in place when the template changes."""

    def __init__(self, address: str, name: str, allocated: int, per_second: float) -> None:
        self.agent = SimulatedAgent(address, name, {"bench": "rollout"})
        self.name = name
        self.allocated = allocated
        self.per_second = per_second
        # ordinal -> (pod uid, template hash it runs, opsState)
        self.servers: dict[int, tuple[str, str, str]] = {}
        self.got: dict[str, float] = {}  # template hash -> when it arrived
        self.done: dict[str, float] = {}  # template hash -> when every idle server ran it
        self._task: asyncio.Task[None] | None = None
        self._template = ""

    async def start(self) -> None:
        await self.agent.start()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.agent.stop()

    def uids(self, ops_state: str | None = None) -> dict[int, str]:
        return {i: s[0] for i, s in self.servers.items() if ops_state in (None, s[2])}

    def _changed(self) -> bool:
        desired = self.agent.sets.get(KEY)
        return desired is not None and desired.hash.rpartition("-")[0] != self._template

    async def _run(self) -> None:
        while True:
            await self.agent.wait_for(self._changed, timeout=3600)
            desired = self.agent.sets[KEY]
            self._template = desired.hash.rpartition("-")[0]
            self.got.setdefault(self._template, time.monotonic())
            if not self.servers:
                self._create(int(desired.spec.fields["replicas"].number_value))
            else:
                await self._update()

    def _create(self, replicas: int) -> None:
        for ordinal in range(replicas):
            ops = "Allocated" if ordinal < self.allocated else "None"
            self.servers[ordinal] = (f"{self.name}-{ordinal}", self._template, ops)
        self._report(list(self.servers))

    async def _update(self) -> None:
        """In place, idle servers only, at the agent's pace; Allocated ones wait for their
        games to end (not within the benchmark)."""
        # Applied: the set's status carries the new hash, every server is on an older revision.
        self._report(list(self.servers))
        idle = [i for i, s in self.servers.items() if s[2] != "Allocated"]
        step = max(1, int(self.per_second / 10))
        for start in range(0, len(idle), step):
            chunk = idle[start : start + step]
            await asyncio.sleep(len(chunk) / self.per_second)
            for ordinal in chunk:
                uid, _, ops = self.servers[ordinal]
                self.servers[ordinal] = (uid, self._template, ops)
            self._report(chunk)
        self.done[self._template] = time.monotonic()

    def _report(self, ordinals: list[int]) -> None:
        desired = self.agent.sets[KEY]
        updated = sum(s[1] == self._template for s in self.servers.values())
        status = set_status(desired, ready=len(self.servers), allocated=self.allocated)
        status.counts.updated = status.counts.updated_ready = updated
        servers = [self._server(i) for i in ordinals]
        batches = [servers[i : i + BATCH] for i in range(0, len(servers), BATCH)] or [[]]
        for index, batch in enumerate(batches):
            delta = agent_pb2.StatusDelta(game_servers=batch)
            if index == len(batches) - 1:
                delta.sets.append(status)
            self.agent.report(delta)

    def _server(self, ordinal: int) -> gameserver_pb2.GameServer:
        uid, template, ops = self.servers[ordinal]
        return gameserver_pb2.GameServer(
            namespace=KEY[0],
            name=f"arena-{ordinal}",
            fleet=KEY[1],
            state="Ready",
            ops_state=ops,
            pod_uid=uid,
            updated=template == self._template,
        )


def _fleet(servers: int, image: str, soak: float) -> fleet_pb2.Fleet:
    rollout: dict[str, Any] = {
        "waves": [{"clusters": ["eu"]}, {"clusters": ["us"]}],
        "minSuccessTime": f"{soak}s",
    }
    placement = {"strategy": "Spread", "clusterSelector": {"matchLabels": {"bench": "rollout"}}}
    doc = fleet_document(replicas=servers, placement=placement, rollout=rollout)
    doc["spec"]["template"]["gameServerTemplate"]["spec"]["containers"][0]["image"] = image
    return documents.from_document(doc, fleet_pb2.Fleet)


async def _status(fleets: fleet_pb2_grpc.FleetServiceAsyncStub) -> fleet_pb2.RolloutStatus:
    ref = fleet_pb2.FleetRef(namespace=KEY[0], name=KEY[1])
    return (await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=ref))).status.rollout


async def _until(fleets: fleet_pb2_grpc.FleetServiceAsyncStub, check: Any, what: str) -> float:
    started = time.monotonic()
    while not check(await _status(fleets)):
        if time.monotonic() - started > 600:
            raise TimeoutError(f"{what} not within 600 s")
        await asyncio.sleep(0.02)
    return time.monotonic()


async def _both_ready(clusters: cluster_pb2_grpc.ClusterServiceAsyncStub) -> None:
    """Both agents connected and Ready: the fleet is placed on both from the start."""
    started = time.monotonic()
    while True:
        listed = await clusters.ListClusters(cluster_pb2.ListClustersRequest())
        if sorted(c.metadata.name for c in listed.clusters if c.status.phase == "Ready") == [
            "eu",
            "us",
        ]:
            return
        if time.monotonic() - started > 60:
            raise TimeoutError("the two simulated clusters not Ready within 60 s")
        await asyncio.sleep(0.05)


def _succeeded(cluster: str) -> Any:
    return lambda status: any(
        c.cluster == cluster and c.state == "Succeeded" for c in status.clusters
    )


async def run(servers: int, allocated: int, soak: float, per_second: float) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        hub = HubProcess(f"sqlite:///{workdir}/hub.db").start()
        eu = UpdatingCluster(hub.address, "eu", allocated // 2, per_second)
        us = UpdatingCluster(hub.address, "us", allocated - allocated // 2, per_second)
        try:
            await eu.start()
            await us.start()
            async with grpc.aio.insecure_channel(hub.address) as channel:
                fleets = fleet_pb2_grpc.FleetServiceStub(channel)
                await _both_ready(cluster_pb2_grpc.ClusterServiceStub(channel))
                first = fleet_pb2.ApplyFleetRequest(fleet=_fleet(servers, "arena:1.0", soak))
                await fleets.ApplyFleet(first)
                await _until(fleets, lambda s: s.phase == "Complete", "the fleet up")
                before = {c.name: c.uids() for c in (eu, us)}
                games = {c.name: c.uids("Allocated") for c in (eu, us)}

                started = time.monotonic()
                change = fleet_pb2.ApplyFleetRequest(fleet=_fleet(servers, "arena:2.0", soak))
                await fleets.ApplyFleet(change)
                await _until(fleets, _succeeded("eu"), "wave 1")
                second_done = await _until(fleets, _succeeded("us"), "wave 2")
                complete = await _until(fleets, lambda s: s.phase == "Complete", "Complete")
                template = eu._template
        finally:
            await eu.stop()
            await us.stop()
            hub.kill()
    params = {
        "servers": servers,
        "allocated": allocated,
        "soak_s": soak,
        "updates_per_second": per_second,
        "clusters": 2,
        "waves": 2,
        "agents": "simulated",
    }
    second_start = us.got[template]
    emit("rollout: wave 1 (eu), apply → the second wave starts", second_start - started, "s",
         **params)  # fmt: skip
    emit("rollout: wave 1 cluster updating its idle servers", eu.done[template] - eu.got[template],
         "s", **params)  # fmt: skip
    emit("rollout: gate, end of wave 1's soak → wave 2 has the template",
         second_start - (eu.done[template] + soak), "s", **params)  # fmt: skip
    emit("rollout: wave 2 (us), start → Succeeded (soak included)", second_done - second_start,
         "s", **params)  # fmt: skip
    emit("rollout: total, apply → Complete", complete - started, "s", **params)
    recreated = sum(uid != before[c.name].get(i) for c in (eu, us) for i, uid in c.uids().items())
    emit("rollout: pods recreated", float(recreated), "pods", **params)
    restarted = sum(
        c.uids("Allocated") != games[c.name]
        or any(c.servers[i][1] == template for i in games[c.name])
        for c in (eu, us)
    )
    emit("rollout: clusters where an Allocated server was restarted or updated",
         float(restarted), "clusters", **params)  # fmt: skip
    sent = [m for c in (eu, us) for m in c.agent.received if m.HasField("operation")]
    deleted = [
        s
        for c in (eu, us)
        for m in c.agent.received
        if m.HasField("desired")
        for s in m.desired.sets
        if s.deleted
    ]
    emit("rollout: targeted operations and set deletions the hub sent",
         float(len(sent) + len(deleted)), "messages", **params)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--allocated", type=int, default=100)
    parser.add_argument("--soak", type=float, default=5.0)
    parser.add_argument("--updates-per-second", type=float, default=172.0)
    args = parser.parse_args()
    asyncio.run(run(args.servers, args.allocated, args.soak, args.updates_per_second))


if __name__ == "__main__":
    main()
