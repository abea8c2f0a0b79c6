"""`AlibabaCloud-Multi-NLBs`: one server reachable through several existing NLBs at once (one
per line, e.g. China Telecom and China Unicom), on the same ports on each. Pure: parameters,
the per-line Services, readiness.

`NlbIdNames=<id>/<line>,…` lists the NLBs with their line; the i-th NLB of every line form
group i. A server's ports are allocated on one group (free on every member, in the table every
load-balancer plugin shares), and it gets one LoadBalancer Service per line,
`<server>-<line>`, bound to that line's NLB of the group, each carrying its allocation record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.core import bodies, wire
from okg import vocabulary
from okg.network import alibaba
from okg.network.multi_nlbs import NETWORK_TYPE

from . import lbports, loadbalancer, status

if TYPE_CHECKING:
    from collections.abc import Mapping

    from okg.network.multi_nlbs import MultiNlbsConf


SERVER_LABEL = "statefulset.kubernetes.io/pod-name"
NETWORK_TYPE_LABEL = "game.kruise.io/network-type"
BELONG_INDEX = "game.kruise.io/lb-belong-index"


def service_name(server: str, line: str) -> str:
    return f"{server}-{line.lower()}"


def service_keys(conf: MultiNlbsConf, namespace: str, server: str) -> list[lbports.ServiceKey]:
    return [(namespace, service_name(server, line)) for line in conf.lines]


def allocate(
    table: lbports.LbPortTable, conf: MultiNlbsConf, namespace: str, server: str
) -> list[lbports.Allocation]:
    return table.allocate_group(
        service_keys(conf, namespace, server),
        conf.groups,
        len(conf.ports),
        conf.port_range,
        conf.blocked,
        balanced=conf.balanced,
    )


def group_index(conf: MultiNlbsConf, lb_id: str) -> int:
    return next((i for i, g in enumerate(conf.groups) if lb_id in g), -1)


def service_body(
    conf: MultiNlbsConf,
    meta: bodies.Json,
    line: str,
    allocation: lbports.Allocation,
    selector: Mapping[str, str],
    disabled: bool,
) -> bodies.Json:
    """The server's Service on one line: `meta` is the server's (owner, set label); its name,
    the server label and the line's annotations are set here."""
    server = str(meta["name"])
    body_meta = {
        **meta,
        "name": service_name(server, line),
        "labels": {
            **meta.get("labels", {}),
            SERVER_LABEL: server,
            NETWORK_TYPE_LABEL: NETWORK_TYPE,
            alibaba.PROXY_NAME_LABEL: "dummy",
        },
        "annotations": {
            alibaba.FORCE_OVERRIDE: "true",
            **dict(conf.annotations),
            alibaba.ID_ANNOTATION: allocation.lb_id,
            BELONG_INDEX: str(group_index(conf, allocation.lb_id)),
            lbports.RECORD: lbports.record_text(allocation),
        },
    }
    ports = loadbalancer.ports_of(conf.ports, allocation.ports)
    spec: bodies.Json = {
        "type": "ClusterIP" if disabled else "LoadBalancer",
        "selector": dict(selector),
        "ports": ports,
    }
    if not disabled:
        spec["loadBalancerClass"] = alibaba.NLB_CLASS
        spec["allocateLoadBalancerNodePorts"] = False
        spec["externalTrafficPolicy"] = conf.traffic_policy
    return {"apiVersion": "v1", "kind": "Service", "metadata": body_meta, "spec": spec}


def observed(
    conf: MultiNlbsConf, lines: Mapping[str, bodies.Json | None], pod_ip: str, running: bool
) -> tuple[list[status.Address], list[status.Address], vocabulary.NetworkState]:
    """Per line, the NLB's address (`<hostname>/<line>` as OKG writes it, or its ip) with the
    server's ports; Ready once every line has one and routes to the running pod."""
    internal: list[status.Address] = []
    external: list[status.Address] = []
    ready = running
    for line in conf.lines:
        svc = lines.get(line)
        spec = (svc or {}).get("spec") or {}
        inner = [
            status.Port(str(p["name"]), str(p.get("protocol") or "TCP"), int(p["targetPort"]))
            for p in spec.get("ports") or []
        ]
        outer = [
            status.Port(str(p["name"]), str(p.get("protocol") or "TCP"), int(p["port"]))
            for p in spec.get("ports") or []
        ]
        if pod_ip and inner and not internal:
            internal.append(status.Address(pod_ip, tuple(inner)))
        ingress = (((svc or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress")
        entry = (ingress or [{}])[0]
        host, ip = str(entry.get("hostname") or ""), str(entry.get("ip") or "")
        failing = any(p.get("error") for p in entry.get("ports") or [])
        selects = SERVER_LABEL in (spec.get("selector") or {})
        up = spec.get("type") == "LoadBalancer" and bool(host or ip) and not failing
        if up:
            external.append(status.Address(ip, tuple(outer), f"{host}/{line}" if host else ""))
        ready = ready and up and selects
    state = vocabulary.NetworkState.READY if ready else vocabulary.NetworkState.NOT_READY
    return internal, external, state


def owner_server(svc: bodies.Json) -> str:
    return bodies.labels_of(svc).get(SERVER_LABEL, "")


def is_mine(svc: bodies.Json) -> bool:
    labels = bodies.labels_of(svc)
    return labels.get(NETWORK_TYPE_LABEL) == NETWORK_TYPE and wire.OWNER_GSS in labels
