"""`Kubernetes-NodePort`: one NodePort Service per game server, named after it.

The Service selects `statefulset.kubernetes.io/pod-name: <name>`; `networkDisabled` swaps the
key to `game.kruise.io/svc-selector-disabled` (the server is isolated, desired NotReady). It is
owned by the pod, or with `Fixed=true` by the set, so it (and its node ports) outlive the pod.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.core import bodies
from agent.core.network import nodes
from agent.core.network import status as nstatus
from okg import vocabulary
from okg.network import conf as nconf

from . import plugin, services

if TYPE_CHECKING:
    from agent.kube.cache import WatchCache


SELECTOR = services.SELECTOR
SELECTOR_DISABLED = services.SELECTOR_DISABLED


def service_ports(conf: nconf.NodePortConf) -> list[bodies.Json]:
    ports: list[bodies.Json] = []
    for pp in conf.ports:
        protos = pp.protocol.kube()
        for proto in protos:
            ports.append(
                {
                    "name": nstatus.port_name(pp.port, proto, len(protos) > 1),
                    "port": pp.port,
                    "protocol": proto,
                    "targetPort": pp.port,
                }
            )
    return ports


def service_body(conf: nconf.NodePortConf, server: plugin.Server) -> bodies.Json:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": services.service_meta(server, conf.fixed),
        "spec": {
            "type": "NodePort",
            "selector": services.selector(server.name, server.network_disabled),
            "ports": service_ports(conf),
        },
    }


class NodePortPlugin:
    """Keeps each server's Service and reports pod IP + port, node IP + node port."""

    def __init__(self, keeper: services.ServiceKeeper, nodes_cache: WatchCache) -> None:
        self._keeper = keeper
        self._nodes = nodes_cache

    def prepare_pod(self, conf: nconf.NetworkConf, pod: bodies.Json) -> None:
        return None

    def forget_pod(self, pod: bodies.Json) -> None:
        return None

    async def sync_server(
        self, conf: nconf.NetworkConf, server: plugin.Server, expect: plugin.Expect
    ) -> plugin.Observed:
        assert isinstance(conf, nconf.NodePortConf)
        svc = await self._keeper.ensure(server, service_body(conf, server), conf.fixed, expect)
        if svc is None:
            return plugin.Observed([], [], vocabulary.NetworkState.NOT_READY)
        return self._observed(svc.get("spec") or {}, server)

    def _observed(self, spec: bodies.Json, server: plugin.Server) -> plugin.Observed:
        node_name = str((server.pod.get("spec") or {}).get("nodeName") or "")
        node_ip = nodes.node_ip(self._nodes.get(("", node_name))) if node_name else ""
        inner: list[nstatus.Port] = []
        outer: list[nstatus.Port] = []
        for port in spec.get("ports") or []:
            name, proto = str(port.get("name", "")), str(port.get("protocol") or "TCP")
            inner.append(nstatus.Port(name, proto, int(port.get("targetPort") or port["port"])))
            if port.get("nodePort"):
                outer.append(nstatus.Port(name, proto, int(port["nodePort"])))
        internal = [nstatus.Address(server.pod_ip, tuple(inner))] if server.pod_ip else []
        external = [nstatus.Address(node_ip, tuple(outer))] if node_ip and outer else []
        ready = (
            services.selected({"spec": spec})
            and server.running
            and bool(external)
            and len(outer) == len(spec.get("ports") or [])
        )
        state = vocabulary.NetworkState.READY if ready else vocabulary.NetworkState.NOT_READY
        return plugin.Observed(internal, external, state)

    async def sync_set(
        self, conf: nconf.NetworkConf, gss: bodies.Json, target: set[int], expect: plugin.Expect
    ) -> None:
        await self._keeper.remove_others(gss, target, expect)
