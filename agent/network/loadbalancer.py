"""Cloud load balancers (`AlibabaCloud-SLB`, `TencentCloud-CLB`, …): one Service of type
LoadBalancer per game server, bound to an existing load balancer by the cloud's annotations.

The plugin allocates the server's ports on one of the set's load balancers when its pod is
created, and records them on the Service (`gamefleet.io/lb-ports`), from which the table is
rebuilt when the agent starts. The cloud's controller makes the listeners and writes the address
to the Service's `status.loadBalancer.ingress`; the network is Ready once it has, and no port
reports an error. `networkDisabled` turns the Service into a ClusterIP one (the listeners go,
the allocation stays) and back.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from agent.core import bodies
from agent.core.network import gcp_global, lbports
from agent.core.network import loadbalancer as lbcore
from agent.core.network import status as nstatus
from okg import vocabulary
from okg.network import conf as nconf
from okg.network import loadbalancer as lbconf

from . import plugin, services

if TYPE_CHECKING:
    from agent.kube.cache import EventType

_log = logging.getLogger(__name__)

LB_PORTS = lbports.RECORD
"""Service annotation: the load balancer and the ports allocated on it (the record)."""


def _key(obj: bodies.Json) -> lbports.ServiceKey:
    meta = bodies.meta(obj)
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))


def service_allocation(svc: bodies.Json) -> lbports.Allocation | None:
    """The load balancer and ports a Service holds, from its record."""
    meta = bodies.meta(svc)
    return lbports.read_record(meta.get("annotations") or {}, str(meta.get("uid") or "") or None)


def service_body(
    conf: lbconf.LoadBalancerConf, server: plugin.Server, allocation: lbports.Allocation
) -> bodies.Json:
    meta = services.service_meta(server, conf.fixed)
    meta["annotations"] = (
        lbcore.service_annotations(conf, allocation.lb_id)
        | lbcore.allocation_annotations(conf, allocation)
        | {LB_PORTS: lbports.record_text(allocation)}
    )
    if gcp_global.wanted(conf):
        meta["annotations"] |= gcp_global.neg_annotation(
            conf, server.namespace, bodies.uid(server.gss), server.name, allocation.ports
        )
    spec: bodies.Json = {
        "type": "ClusterIP" if server.network_disabled else "LoadBalancer",
        "selector": services.selector(server.name, False),
        "ports": lbcore.service_ports(conf, allocation),
    }
    if not server.network_disabled:
        if conf.profile.load_balancer_class:
            spec["loadBalancerClass"] = conf.profile.load_balancer_class
        if conf.external_traffic_policy:
            spec["externalTrafficPolicy"] = conf.external_traffic_policy
        spec.update(conf.spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def observed(svc: bodies.Json | None, server: plugin.Server) -> plugin.Observed:
    """Pod IP + container ports inside; the load balancer's address + its ports outside."""
    spec = (svc or {}).get("spec") or {}
    inner: list[nstatus.Port] = []
    outer: list[nstatus.Port] = []
    for port in spec.get("ports") or []:
        name, proto = str(port.get("name", "")), str(port.get("protocol") or "TCP")
        inner.append(nstatus.Port(name, proto, int(port.get("targetPort") or port["port"])))
        outer.append(nstatus.Port(name, proto, int(port["port"])))
    internal = [nstatus.Address(server.pod_ip, tuple(inner))] if server.pod_ip else []
    balancer = ((svc or {}).get("status") or {}).get("loadBalancer") or {}
    external: list[nstatus.Address] = []
    failing = False
    if spec.get("type") == "LoadBalancer":
        for entry in balancer.get("ingress") or []:
            failing |= any(p.get("error") for p in entry.get("ports") or [])
            if entry.get("ip"):
                external.append(nstatus.Address(str(entry["ip"]), tuple(outer)))
            elif entry.get("hostname"):
                external.append(nstatus.Address("", tuple(outer), str(entry["hostname"])))
    ready = bool(external) and not failing and services.selected(svc) and server.running
    state = vocabulary.NetworkState.READY if ready else vocabulary.NetworkState.NOT_READY
    return plugin.Observed(internal, external, state)


class LoadBalancerPlugin:
    """Every cloud profile of the generic path shares one table: a load balancer's ports are
    handed out once, whichever set or plugin names it."""

    def __init__(self, keeper: services.ServiceKeeper) -> None:
        self._keeper = keeper
        self.table = lbports.LbPortTable()

    def on_service(self, kind: EventType, svc: bodies.Json) -> None:
        """Services cache handler: keep the table equal to what the Services hold."""
        key = _key(svc)
        if kind == "DELETED":
            self.table.release(key, str(bodies.meta(svc).get("uid") or "") or None)
            return
        allocation = service_allocation(svc)
        if allocation is not None:
            self.table.observe(key, allocation)

    def _allocate(
        self, conf: lbconf.LoadBalancerConf, key: lbports.ServiceKey
    ) -> lbports.Allocation:
        return lbcore.allocate(self.table, key, conf)

    def prepare_pod(self, conf: nconf.NetworkConf, pod: bodies.Json) -> None:
        """Reserve the server's ports before its pod exists: no room on any of the set's load
        balancers refuses the pod (as HostPort does), rather than a server without address."""
        assert isinstance(conf, lbconf.LoadBalancerConf)
        self._allocate(conf, _key(pod))

    def forget_pod(self, pod: bodies.Json) -> None:
        self.table.forget(_key(pod))

    async def sync_server(
        self, conf: nconf.NetworkConf, server: plugin.Server, expect: plugin.Expect
    ) -> plugin.Observed:
        assert isinstance(conf, lbconf.LoadBalancerConf)
        key = (server.namespace, server.name)
        current = self._keeper.services.get(key)
        allocation = service_allocation(current) if current is not None else None
        if allocation is None or len(allocation.ports) != len(conf.ports):
            try:
                allocation = self._allocate(conf, key)
            except lbports.NoCapacityError as exc:
                _log.warning("%s/%s: %s", *key, exc)
                return plugin.Observed([], [], vocabulary.NetworkState.NOT_READY)
        svc = await self._keeper.ensure(
            server,
            service_body(conf, server, allocation),
            conf.fixed,
            expect,
            failed=lambda: self.table.forget(key),
        )
        return observed(svc, server)

    async def sync_set(
        self, conf: nconf.NetworkConf, gss: bodies.Json, target: set[int], expect: plugin.Expect
    ) -> None:
        await self._keeper.remove_others(gss, target, expect)
