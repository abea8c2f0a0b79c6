"""`AlibabaCloud-SLB-SharedPort` and `AlibabaCloud-NLB-SharedPort`: every server of the set
behind the same ports of an existing load balancer, which balances between them (proxies,
gateways). Pure: the shared Service, the pod's labels, readiness.

Per load balancer one LoadBalancer Service named after it, selecting the pods labelled with it
(`service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id: <id>`); each pod gets that label at
creation (SLB: the listed SLB with the fewest backends, at most 200 each, as OKG) and loses it
while `networkDisabled` (and the `ManagedServiceSelector` label with it), so the load balancer
stops sending it traffic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.core import bodies, wire
from okg import vocabulary
from okg.network import alibaba

from . import loadbalancer, status

if TYPE_CHECKING:
    from collections.abc import Mapping

    from okg.network.shared_port import SharedPortConf


LB_LABEL = alibaba.ID_ANNOTATION
"""The pod label the shared Service selects (the same key as the id annotation, as OKG)."""
CHOSEN = "gamefleet.io/shared-lb"
"""Pod annotation: the load balancer the pod was given (its label comes back from it)."""
SLB_LABEL = "game.kruise.io/AlibabaCloud-SLB-SharedPort"
MAX_BACKENDS = 200
"""OKG's limit of servers behind one SLB."""


def choose(conf: SharedPortConf, backends: Mapping[str, int]) -> str | None:
    """The load balancer a new server joins: the NLB; or the listed SLB with the fewest
    backends below the limit (first listed on a tie); None when every SLB is full."""
    if conf.nlb:
        return conf.lb_ids[0] if conf.lb_ids else None
    open_ = [lb for lb in conf.lb_ids if backends.get(lb, 0) < MAX_BACKENDS]
    return min(open_, key=lambda lb: backends.get(lb, 0)) if open_ else None


def pod_labels(conf: SharedPortConf, lb_id: str) -> dict[str, str]:
    """The labels that put a pod behind its load balancer (and the managed Services)."""
    labels = {LB_LABEL: lb_id}
    if conf.managed_selector is not None:
        labels[conf.managed_selector[0]] = conf.managed_selector[1]
    return labels


def service_body(
    conf: SharedPortConf, namespace: str, set_name: str, owner: Mapping[str, Any], lb_id: str
) -> bodies.Json:
    ports = loadbalancer.ports_of(conf.ports, [entry.port for entry in conf.ports])
    labels = {wire.OWNER_GSS: set_name}
    if not conf.nlb:
        labels[SLB_LABEL] = "true"
    spec: bodies.Json = {"type": "LoadBalancer", "selector": {LB_LABEL: lb_id}, "ports": ports}
    if conf.nlb:
        spec["loadBalancerClass"] = alibaba.NLB_CLASS
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": lb_id,
            "namespace": namespace,
            "labels": labels,
            "annotations": {alibaba.ID_ANNOTATION: lb_id, alibaba.FORCE_OVERRIDE: "true"},
            "ownerReferences": [owner],
        },
        "spec": spec,
    }


def label_patch(
    conf: SharedPortConf, pod: bodies.Json, lb_id: str, disabled: bool
) -> dict[str, str | None]:
    """The pod's label changes: removed while disabled, back when enabled; {} when as wanted."""
    have = bodies.labels_of(pod)
    wanted = pod_labels(conf, lb_id)
    if disabled:
        return {k: None for k in wanted if k in have}
    return {k: v for k, v in wanted.items() if have.get(k) != v}


def observed(
    svc: bodies.Json | None, pod: bodies.Json, lb_id: str, pod_ip: str, running: bool
) -> tuple[list[status.Address], list[status.Address], vocabulary.NetworkState]:
    spec = (svc or {}).get("spec") or {}
    inner: list[status.Port] = []
    outer: list[status.Port] = []
    for port in spec.get("ports") or []:
        name, proto = str(port.get("name", "")), str(port.get("protocol") or "TCP")
        inner.append(status.Port(name, proto, int(port.get("targetPort") or port["port"])))
        outer.append(status.Port(name, proto, int(port["port"])))
    internal = [status.Address(pod_ip, tuple(inner))] if pod_ip and inner else []
    ingress = (((svc or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress")
    entry = (ingress or [{}])[0]
    host, ip = str(entry.get("hostname") or ""), str(entry.get("ip") or "")
    external = [status.Address(ip, tuple(outer), host)] if (ip or host) and outer else []
    labelled = bodies.labels_of(pod).get(LB_LABEL) == lb_id
    ready = bool(external) and labelled and running and spec.get("type") == "LoadBalancer"
    return (
        internal,
        external,
        vocabulary.NetworkState.READY if ready else vocabulary.NetworkState.NOT_READY,
    )
