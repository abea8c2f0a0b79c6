"""Allocation under faults (issue 14's chaos run): a steady allocation load while the fleet is
scaled down and up, and the hub, an agent and a kube-apiserver are killed with SIGKILL in turn.

    .venv/bin/python -m bench.allocation_chaos [--seconds 60] [--clients 16]
        [--allocation-path direct,ledger] [--servers 300] [--down 2]

On the two local clusters (`make clusters`), per allocation path (one run after the other, each
with new agents in a new namespace): a hub process on SQLite and the real agent of each cluster
on that path (`bench/real_federation.py`, shared with `allocation_bench --real`), a fleet of
`servers` per cluster. `clients` matchmakers allocate with fresh request ids (Distributed, so
both clusters serve) and retry the same id after any error until answered; every tenth answer
is asked again and must name the same server. Meanwhile the fleet is scaled to the answered
count plus `servers` per cluster, then down by a quarter of that, every few seconds. At 1/4,
2/4 and 3/4 of the run: kill -9 of the hub (started again on its store and port), of the first
cluster's agent (its leader; started again), and of the second cluster's kube-apiserver (started
again with its command line); the load goes on for `seconds`, and at least 5 s after the last
fault is over. An agent that exits on its own (it loses its Lease while its API
server is down) is started again, as its Deployment would.

From the clients' record of answers and a watch of each cluster's GameServers and pods, it
reports (each must be 0): servers answered to two request ids; request ids answered with two
servers; answers not Allocated with their request id (annotation
gamefleet.io/allocation-request-id) within 5 s of the answer, or of the faulty component being
back when a fault was under way then; answered servers whose GameServer or pod was deleted or
restarted afterwards. Also: allocations/s overall and per phase, errors by gRPC code, and per
fault the time from the kill to everything being back and to the next answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from gamefleet.v1 import (
    cluster_pb2,
    cluster_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
)

from agent.kube import resources
from bench import audit_trail
from bench.machine import emit
from bench.real_federation import Side, SideSpec, federation
from tests.integration.hub.fleet_docs import fleet
from tests.localcluster import binary, nodes
from tests.support import allocation_audit as audit
from tests.support.hub_process import HubProcess

PATHS = ("direct", "ledger")
FAULTS = ("hub", "agent", "apiserver")


class Chaos:
    """One run on one allocation path."""

    def __init__(
        self,
        hub: HubProcess,
        sides: list[Side],
        args: argparse.Namespace,
        path: str,
    ) -> None:
        self.hub = hub
        self.sides = sides
        self.args = args
        self.path = path
        self.namespace = sides[0].namespace
        self.record = audit.Record()
        self.kubes = {side.member.name: side.member.kube for side in sides}
        self.observer = audit.Observer(self.kubes, self.namespace, self.record)
        self.agent_exits = 0
        self.scale_downs = 0
        self.scale_errors = 0
        self.stopping = asyncio.Event()
        self.killed: set[str] = set()  # agents this bench killed on purpose (not restarted)
        self.channel = grpc.aio.insecure_channel(hub.address, options=audit.CHANNEL_OPTIONS)

    # The load.

    async def scaler(self) -> None:
        """Up to the answered servers plus `servers` per cluster, then down by a quarter of
        that: the scale-down deletes Ready servers while allocations pick among them."""
        fleets = fleet_pb2_grpc.FleetServiceStub(self.channel)
        ref = fleet_pb2.FleetRef(namespace=self.namespace, name="arena")
        head = self.args.servers * len(self.sides)
        period = self.args.scale_every / 2
        while not self.stopping.is_set():
            for extra, down in ((head, False), (head * 3 // 4, True)):
                answered = len({a.server for a in self.record.answers})
                try:
                    await fleets.ScaleFleet(
                        fleet_pb2.ScaleFleetRequest(ref=ref, replicas=answered + extra),
                        timeout=audit.CALL_TIMEOUT_S,
                    )
                    self.scale_downs += down
                except grpc.aio.AioRpcError:
                    self.scale_errors += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), period)

    async def supervisor(self) -> None:
        """Start again an agent that exited by itself (its Deployment would)."""
        last_start = {side.member.name: 0.0 for side in self.sides}
        while not self.stopping.is_set():
            for side in self.sides:
                name = side.member.name
                process = side.member.process
                gone = process is not None and process.poll() is not None
                # A Deployment backs off between restarts too (here: 2 s at least).
                if gone and name not in self.killed and self.record.now() - last_start[name] > 2:
                    self.agent_exits += 1
                    last_start[name] = self.record.now()
                    side.start_agent(self.hub.address)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 0.5)

    # The faults.

    async def faults(self, seconds: float) -> None:
        for index, kind in enumerate(FAULTS):
            at = seconds * (index + 1) / (len(FAULTS) + 1)
            await asyncio.sleep(max(0.0, at - self.record.now()))
            fault = audit.Fault(kind, self.record.now())
            self.record.faults.append(fault)
            restart = await asyncio.to_thread(self._kill, kind)
            failover = kind == "agent" and self.args.standby
            if not failover:
                await asyncio.sleep(self.args.down)
                await asyncio.to_thread(restart)
            fault.started_at = self.record.now()
            await self.all_back()
            fault.back_at = self.record.now()
            if failover:  # the standby leads now; the killed replica comes back as its standby
                await asyncio.to_thread(restart)
            _say(f"{kind}: killed at {fault.killed_at:.1f} s, all back at {fault.back_at:.1f} s")

    def _kill(self, kind: str) -> Any:
        """Kill the component with SIGKILL; returns what starts it again."""
        if kind == "hub":
            self.hub.kill()
            return self.hub.start
        if kind == "agent":
            side = self.sides[0]
            self.killed.add(side.member.name)
            side.member.kill_agent()

            def start_agent() -> None:
                side.start_agent(self.hub.address)
                self.killed.discard(side.member.name)

            return start_agent
        cluster = self.sides[1].cluster
        command = binary.kill_component(cluster, "kube-apiserver")
        return lambda: binary.start_component(cluster, "kube-apiserver", command)

    async def all_back(self) -> None:
        """Every API server ready, every agent leading, every cluster Ready in the hub."""
        clusters = cluster_pb2_grpc.ClusterServiceStub(self.channel)
        async with asyncio.timeout(300):
            while True:
                if await asyncio.to_thread(self._agents_and_apiservers_up):
                    with contextlib.suppress(grpc.aio.AioRpcError):
                        listed = await clusters.ListClusters(
                            cluster_pb2.ListClustersRequest(), timeout=5
                        )
                        phases = {c.metadata.name: c.status.phase for c in listed.clusters}
                        if all(phases.get(s.member.name) == "Ready" for s in self.sides):
                            return
                await asyncio.sleep(0.2)

    def _agents_and_apiservers_up(self) -> bool:
        for side in self.sides:
            try:
                if not nodes.api_ready(side.cluster) or not side.leading():
                    return False
            except Exception:
                return False
        return True

    # The run.

    async def run(self) -> None:
        seconds = self.args.seconds
        await self.observer.start()
        self.record.started = time.monotonic()
        background = [
            asyncio.create_task(self.scaler()),
            asyncio.create_task(self.supervisor()),
        ]
        matchmakers = audit.Matchmakers(self.channel, self.observer, "arena", self.path)
        load = asyncio.create_task(matchmakers.run(self.args.clients))
        await self.faults(seconds)
        # The load goes on for `seconds`, and at least 5 s after the last fault is back.
        matchmakers.until = max(seconds, self.record.now() + audit.LOST_AFTER_S)
        await load
        self.load_ended = self.record.now()
        self.stopping.set()
        await asyncio.gather(*background)
        await self.observer.settle(60.0)
        await self.observer.stop()
        await self.channel.close(None)

    def report(self, final: audit.Final) -> None:
        record = self.record
        counts = audit.count(record, final)
        for case in counts.cases:  # what to look into when a count is not 0
            _say("case: " + " | ".join(case))
        params: dict[str, Any] = {
            "path": self.path, "seconds": self.args.seconds, "clients": self.args.clients,
            "servers_per_cluster": self.args.servers, "down_s": self.args.down,
            "scale_every_s": self.args.scale_every, "store": "sqlite",
            "agents": "real agent per local cluster (kwok nodes)",
            "agent_fault": "leader killed, standby takes over" if self.args.standby else "restart",
        }  # fmt: skip
        for figure, value, unit in (
            ("servers answered to two request ids", counts.double_servers, "servers"),
            ("request ids answered with two servers", counts.double_ids, "request ids"),
            ("answers not Allocated with their request id within 5 s of recovery", counts.late,
             "answers"),
            ("answers not Allocated with their request id at the end", counts.never, "answers"),
            ("answered servers deleted or restarted", counts.disturbed, "servers"),
            ("servers Allocated for a request id answered with another server", counts.stray,
             "servers"),
            ("servers Allocated for a request id never answered", counts.unanswered, "servers"),
            ("answered allocations", counts.answered, "allocations"),
            ("allocations per second", counts.answered / self.load_ended, "1/s"),
            ("same-id retries after an answer", record.replays, "calls"),
            ("request ids abandoned unanswered at the end", record.abandoned, "request ids"),
            ("agent exits restarted by the bench", self.agent_exits, "exits"),
            ("scale-downs during the load", self.scale_downs, "scale-downs"),
            ("GameServers deleted during the run", record.game_servers_deleted, "GameServers"),
        ):  # fmt: skip
            emit(figure, value, unit, **params)
        first = {a.request_id: a for a in reversed(record.answers)}
        edges = [0.0, *(f.killed_at for f in record.faults), self.load_ended]
        for phase, (start, end) in zip(
            ("steady", *FAULTS), itertools.pairwise(edges), strict=False
        ):
            answered = sum(1 for a in first.values() if start <= a.at < end)
            emit("allocations per second in phase", answered / max(end - start, 1e-9), "1/s",
                 phase=phase, phase_start_s=round(start, 1), phase_end_s=round(end, 1),
                 **params)  # fmt: skip
        for code, calls in sorted(record.errors.items()):
            emit("allocation errors", calls, "calls", code=code, **params)
        for fault in record.faults:
            emit("recovery: kill to everything back", fault.back_at - fault.killed_at, "s",
                 fault=fault.kind, killed_at_s=round(fault.killed_at, 1),
                 restarted_after_s=round(fault.started_at - fault.killed_at, 1),
                 **params)  # fmt: skip
            if fault.first_answer_at is not None:
                emit("recovery: back to next answer", fault.first_answer_at - fault.back_at, "s",
                     fault=fault.kind, **params)  # fmt: skip
        if counts.lags:
            lags = counts.lags
            emit("answer to GameServer Allocated p50", statistics.median(lags) * 1000, "ms",
                 **params)  # fmt: skip
            p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))]
            emit("answer to GameServer Allocated p99", p99 * 1000, "ms", **params)


async def run_path(path: str, args: argparse.Namespace, workdir: Path) -> None:
    namespace = f"bench-chaos-{path}-{os.getpid()}"
    specs = [SideSpec(path, namespace, "bench-chaos") for _ in range(2)]
    async with federation(workdir / path, specs) as (hub, sides):
        async with grpc.aio.insecure_channel(hub.address) as channel:
            # Both clusters Ready first: the fleet is split over both from the start.
            await Chaos(hub, sides, args, path).all_back()
            doc = fleet(replicas=args.servers * len(sides))
            doc.metadata.namespace = namespace
            await fleet_pb2_grpc.FleetServiceStub(channel).ApplyFleet(
                fleet_pb2.ApplyFleetRequest(fleet=doc)
            )
        await _wait_ready(sides, namespace, args.servers)
        if args.standby:
            sides[0].start_standby(hub.address)
        _say(f"{path}: {args.servers} Ready servers per cluster; load for {args.seconds} s")
        chaos = Chaos(hub, sides, args, path)
        await chaos.run()
        _say(f"{path}: load done, every answer settled or 60 s passed")
        chaos.report(await audit.final_state(chaos.kubes, namespace))
        for side in sides:
            kept = audit_trail.keep(side.cluster, namespace, workdir / path)
            for who, deletes in sorted(audit_trail.deleters(kept).items()):
                _say(f"{side.cluster.name}: {deletes} x {who}")


async def _wait_ready(sides: list[Side], namespace: str, servers: int) -> None:
    """Until each cluster has `servers` Ready GameServers."""
    async with asyncio.timeout(900):
        for side in sides:
            while True:
                listed = await side.member.kube.request(
                    "GET", resources.GAME_SERVER.collection(namespace)
                )
                ready = [
                    gs for gs in listed.get("items") or []
                    if (gs.get("status") or {}).get("currentState") == "Ready"
                ]  # fmt: skip
                if len(ready) >= servers:
                    break
                await asyncio.sleep(2.0)


def _say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


def _paths(text: str) -> list[str]:
    paths = text.split(",")
    if not paths or any(path not in PATHS for path in paths):
        raise argparse.ArgumentTypeError(f"{text!r}: one or more of {', '.join(PATHS)}")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--allocation-path", type=_paths, default=list(PATHS))
    parser.add_argument("--servers", type=int, default=300, help="Ready servers per cluster")
    parser.add_argument(
        "--standby",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a second agent replica on the first cluster: the agent fault kills the leader and"
        " the standby takes over (as a DaemonSet's replicas do); --no-standby restarts it",
    )
    parser.add_argument("--down", type=float, default=2.0, help="seconds a killed part stays down")
    parser.add_argument("--scale-every", type=float, default=8.0, help="scale up/down period (s)")
    parser.add_argument("--workdir", type=Path, default=None, help="logs and the hub's store")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="gamefleet-chaos-"))
    _say(f"agents' logs, the hub's store and the API servers' audit trail: {workdir}")
    for path in args.allocation_path:
        (workdir / path).mkdir(parents=True, exist_ok=True)
        asyncio.run(run_path(path, args, workdir))


if __name__ == "__main__":
    main()
