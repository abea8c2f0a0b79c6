"""`Kubernetes-HostPort`: host ports chosen per (node, port) before the pod exists.

The pod is pinned to the chosen node (a required node-affinity field match, as DaemonSets do), so
a port needs to be unique only on its node; the scheduler still checks capacity, taints and
host-port conflicts with pods outside the agent's view. The pod's own annotation
`gamefleet.io/host-ports` (`{"node": …, "ports": […]}`) is the record: the table is rebuilt from
the pods cache when the agent starts.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from agent.core import bodies
from agent.core.network import hostport, nodes
from agent.core.network import status as nstatus
from okg import vocabulary
from okg.network import conf as nconf

from . import plugin

if TYPE_CHECKING:
    from agent.kube.cache import EventType, WatchCache

_log = logging.getLogger(__name__)

HOST_PORTS = "gamefleet.io/host-ports"
"""Pod annotation: the node and host ports allocated to the pod (the allocation's record)."""


def pod_allocation(pod: bodies.Json) -> hostport.Allocation | None:
    """The node and host ports a pod holds: its record, else its spec (nodeName + hostPorts)."""
    meta = bodies.meta(pod)
    spec = pod.get("spec") or {}
    uid = str(meta.get("uid") or "") or None
    node = str(spec.get("nodeName") or "")
    ports: list[int] = []
    record = (meta.get("annotations") or {}).get(HOST_PORTS)
    if record:
        try:
            loaded = json.loads(record)
            node = node or str(loaded.get("node") or "")
            ports = [int(p) for p in loaded.get("ports") or []]
        except (ValueError, TypeError, AttributeError):
            ports = []
    if not ports:
        found = {
            int(p["hostPort"])
            for c in spec.get("containers") or []
            for p in c.get("ports") or []
            if p.get("hostPort")
        }
        ports = sorted(found)
    if not ports or (not node and not record):
        return None
    return hostport.Allocation(node, tuple(ports), uid)


class HostPortPlugin:
    """Allocates host ports and reports pod IP + container port, node IP + host port."""

    def __init__(self, nodes_cache: WatchCache, port_range: tuple[int, int]) -> None:
        self._nodes = nodes_cache
        self.table = hostport.PortTable(port_range)

    def on_pod(self, kind: EventType, pod: bodies.Json) -> None:
        """Pods cache handler: keep the table equal to what the pods hold."""
        meta = bodies.meta(pod)
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        if kind == "DELETED":
            self.table.release(key, str(meta.get("uid") or "") or None)
            return
        allocation = pod_allocation(pod)
        if allocation is not None:
            self.table.observe(key, allocation)

    def prepare_pod(self, conf: nconf.NetworkConf, pod: bodies.Json) -> None:
        assert isinstance(conf, nconf.HostPortConf)
        meta = bodies.meta(pod)
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        spec = pod.setdefault("spec", {})
        if conf.least_used:
            allocation = self.table.allocate_least_used(key, len(conf.container_ports))
        else:
            candidates = [
                str(bodies.meta(n).get("name")) for n in self._nodes.all() if nodes.fits(n, spec)
            ]
            allocation = self.table.allocate(key, len(conf.container_ports), candidates)
        containers = {str(c.get("name")): c for c in spec.get("containers") or []}
        for cp, host in zip(conf.container_ports, allocation.ports, strict=True):
            container = containers[cp.container]
            ports = container.setdefault("ports", [])
            for proto in cp.protocol.kube():
                entry = next(
                    (
                        p
                        for p in ports
                        if p.get("containerPort") == cp.port
                        and (p.get("protocol") or "TCP") == proto
                    ),
                    None,
                )
                if entry is None:
                    ports.append({"containerPort": cp.port, "hostPort": host, "protocol": proto})
                else:
                    entry["hostPort"] = host
        if allocation.node:
            nodes.pin_to_node(spec, allocation.node)
        meta.setdefault("annotations", {})[HOST_PORTS] = json.dumps(
            {"node": allocation.node, "ports": list(allocation.ports)}, separators=(",", ":")
        )

    def forget_pod(self, pod: bodies.Json) -> None:
        meta = bodies.meta(pod)
        self.table.forget((str(meta.get("namespace", "")), str(meta.get("name", ""))))

    async def sync_server(
        self, conf: nconf.NetworkConf, server: plugin.Server, expect: plugin.Expect
    ) -> plugin.Observed:
        assert isinstance(conf, nconf.HostPortConf)
        allocation = pod_allocation(server.pod)
        if allocation is None:
            return plugin.Observed([], [], vocabulary.NetworkState.NOT_READY)
        scheduled = str((server.pod.get("spec") or {}).get("nodeName") or "")
        node_name = scheduled or allocation.node
        node = self._nodes.get(("", node_name))
        if allocation.node and not scheduled and node is None and self._nodes.synced.is_set():
            return plugin.Observed([], [], vocabulary.NetworkState.NOT_READY, stranded=True)
        node_ip = nodes.node_ip(node)
        inner: list[nstatus.Port] = []
        outer: list[nstatus.Port] = []
        for cp, host in zip(conf.container_ports, allocation.ports, strict=False):
            # OKG's HostPort names a port `<container>-<port>`, one name for TCP and UDP alike.
            name = f"{cp.container}-{cp.port}"
            for proto in cp.protocol.kube():
                inner.append(nstatus.Port(name, proto, cp.port))
                outer.append(nstatus.Port(name, proto, host))
        internal = [nstatus.Address(server.pod_ip, tuple(inner))] if server.pod_ip else []
        external = [nstatus.Address(node_ip, tuple(outer))] if node_ip else []
        ready = server.running and bool(node_ip)
        return plugin.Observed(
            internal,
            external,
            vocabulary.NetworkState.READY if ready else vocabulary.NetworkState.NOT_READY,
        )

    async def sync_set(
        self, conf: nconf.NetworkConf, gss: bodies.Json, target: set[int], expect: plugin.Expect
    ) -> None:
        return None
