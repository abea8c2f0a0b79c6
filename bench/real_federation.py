"""The hub and the real agents on the two local clusters, for the benches that run them
(`make clusters`): a hub process on a new SQLite store, and on each cluster a namespace and an
agent process on an allocation path of its own, serving its metrics."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import urllib.request
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from agent.kube import client as kclient
from agent.kube import crds
from tests.e2e.agent.harness import Namespace
from tests.e2e.federation.conftest import NAMESPACES
from tests.e2e.federation.world import Member
from tests.localcluster import manager
from tests.localcluster.state import Cluster
from tests.support.hub_process import HubProcess


@dataclasses.dataclass
class Side:
    """One cluster: its agent (on `path`), the namespace the bench uses, the agent's metrics."""

    path: str
    cluster: Cluster
    member: Member
    namespace: str
    lease: str
    metrics_port: int
    standby_metrics_port: int = 0  # a second replica's, once started

    def start_agent(self, hub_address: str) -> None:
        """Start (or start again, on the same Lease and port) this cluster's agent."""
        self.member.start_agent(hub_address, self.lease, self._flags(self.metrics_port))

    def start_standby(self, hub_address: str) -> None:
        """A second replica of the agent on the same Lease, with metrics of its own."""
        self.standby_metrics_port = self.standby_metrics_port or free_port()
        flags = self._flags(self.standby_metrics_port)
        self.member.start_standby(hub_address, self.lease, flags)

    def leading(self) -> bool:
        """Whether one of the cluster's agent replicas leads (reads their metrics)."""
        ports = [p for p in (self.metrics_port, self.standby_metrics_port) if p]
        for port in ports:
            with contextlib.suppress(OSError):
                if agent_metrics(port).get("gamefleet_agent_leader") == 1.0:
                    return True
        return False

    def _flags(self, metrics_port: int) -> tuple[str, ...]:
        return ("--allocation-path", self.path, "--metrics-listen", f"127.0.0.1:{metrics_port}")


@dataclasses.dataclass(frozen=True)
class SideSpec:
    path: str
    namespace: str
    lease: str


@contextlib.asynccontextmanager
async def federation(
    workdir: Path, specs: Sequence[SideSpec]
) -> AsyncIterator[tuple[HubProcess, list[Side]]]:
    """A hub on `workdir`/hub.db and, on local cluster i, the namespace and agent of specs[i];
    everything is stopped and the namespaces deleted on the way out."""
    clusters, _ = manager.ensure(count=len(specs), nodes=3)
    hub = HubProcess(f"sqlite:///{workdir}/hub.db", log=workdir / "hub.log").start()
    sides: list[Side] = []
    try:
        for cluster, spec in zip(clusters, specs, strict=True):
            kube = await kclient.KubeClient.connect(str(cluster.kubeconfig))
            await crds.install(kube)
            await kube.create(NAMESPACES, None, {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": spec.namespace}})  # fmt: skip
            log = workdir / f"agent-{cluster.name}-{spec.path}.log"
            member = Member(cluster.name, cluster.kubeconfig, kube,
                            Namespace(kube, spec.namespace), cluster.region, log)  # fmt: skip
            side = Side(spec.path, cluster, member, spec.namespace, spec.lease, free_port())
            side.start_agent(hub.address)
            sides.append(side)
        yield hub, sides
    finally:
        for side in sides:
            side.member.kill_every_replica()
        hub.kill()
        for side in sides:
            with contextlib.suppress(kclient.ApiError):
                await side.member.kube.request("DELETE", f"/api/v1/namespaces/{side.namespace}")
            await side.member.kube.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def agent_metrics(port: int) -> dict[str, float]:
    """The agent's counters: writes by verb/kind, ledger writes, allocations."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        found[name] = float(value)
    return found
