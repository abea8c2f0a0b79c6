"""`AlibabaCloud-AutoNLBs`: NLBs created on demand as the set grows. Pure: the set's
Services, each server's ports, readiness.

Per line (`EipIspTypes`) and per block of ordinals the set has one LoadBalancer Service
(`<set>-<isp>-<block>`, class `alibabacloud.com/nlb`, no load-balancer id): Alibaba Cloud's
controller creates a new NLB for it in the `ZoneMaps` zones. The Service selects every pod of
the set and holds, for each ordinal of its block, one port per `PortProtocols` entry whose
target is a container port named after the ordinal (`udp-<ordinal>-<port>`), which only that
ordinal's pod has; so a server's ports follow from its ordinal, and a new block's NLB (with
`ReserveNlbNum` more kept ahead) exists before the set reaches it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from agent.core import bodies, wire
from okg import vocabulary
from okg.network import alibaba

from . import status

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from okg.network.auto_nlbs import AutoNlbsConf


ZONE_MAPS = f"{alibaba.PREFIX}zone-maps"
ADDRESS_TYPE = f"{alibaba.PREFIX}address-type"
DISABLED_PREFIX = "off"
"""A server's ports are isolated by pointing them at a container port name no pod has."""


def service_name(set_name: str, isp: str, block: int) -> str:
    return f"{set_name}-{isp.lower()}-{block}"


def port_name(protocol: str, ordinal: int, port: int) -> str:
    """Kubernetes allows 15 characters: enough for ordinals below 100,000."""
    return f"{protocol.lower()}-{ordinal}-{port}"


def disabled_name(protocol: str, ordinal: int, port: int) -> str:
    return f"{DISABLED_PREFIX}{protocol[0].lower()}-{ordinal}-{port}"


def container_ports(conf: AutoNlbsConf, ordinal: int) -> list[bodies.Json]:
    """The named container ports the server's pod carries (the Services' targets)."""
    return [
        {"name": port_name(proto, ordinal, entry.port), "containerPort": entry.port,
         "protocol": proto}
        for entry in conf.ports
        for proto in entry.protocol.kube()
    ]  # fmt: skip


def blocks_needed(conf: AutoNlbsConf, ordinals: Sequence[int]) -> int:
    """Services per line: up to the highest ordinal's block, and `ReserveNlbNum` more."""
    highest = max(ordinals, default=0)
    return conf.block(highest) + conf.reserve + 1


def service_body(
    conf: AutoNlbsConf,
    namespace: str,
    set_name: str,
    owner: Mapping[str, Any],
    isp: str,
    block: int,
) -> bodies.Json:
    notes = {ZONE_MAPS: conf.zone_maps, **dict(conf.annotations)}
    if "intranet" in isp.lower():
        notes[ADDRESS_TYPE] = "intranet"
    ports: list[bodies.Json] = []
    first = block * conf.per_service
    for ordinal in range(first, first + conf.per_service):
        for entry, lb_port in zip(conf.ports, conf.lb_ports(ordinal), strict=True):
            for proto in entry.protocol.kube():
                name = port_name(proto, ordinal, entry.port)
                ports.append({"name": name, "port": lb_port, "protocol": proto, "targetPort": name})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service_name(set_name, isp, block),
            "namespace": namespace,
            "labels": {wire.OWNER_GSS: set_name, alibaba.PROXY_NAME_LABEL: "dummy"},
            "annotations": notes,
            "ownerReferences": [owner],
        },
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": alibaba.NLB_CLASS,
            "allocateLoadBalancerNodePorts": False,
            "externalTrafficPolicy": conf.traffic_policy,
            "selector": {wire.OWNER_GSS: set_name},
            "ports": ports,
        },
    }


def isolation_patch(svc: bodies.Json, ordinal: int, disabled: bool) -> list[bodies.Json]:
    """JSON-patch operations pointing the server's ports of one Service at its own container
    ports, or with `disabled` at names no pod has; each guarded by a test of the port's name,
    so concurrent changes to other servers' ports cannot be overwritten. [] when nothing to do."""
    ops: list[bodies.Json] = []
    marker = f"-{ordinal}-"
    for i, port in enumerate((svc.get("spec") or {}).get("ports") or []):
        name = str(port.get("name", ""))
        proto, _, rest = name.partition("-")
        if not name.startswith(f"{proto}{marker}") or proto not in ("tcp", "udp"):
            continue
        number = int(rest.rsplit("-", 1)[1])
        wanted = disabled_name(proto, ordinal, number) if disabled else name
        if port.get("targetPort") != wanted:
            ops.append({"op": "test", "path": f"/spec/ports/{i}/name", "value": name})
            ops.append({"op": "replace", "path": f"/spec/ports/{i}/targetPort", "value": wanted})
    return ops


@dataclasses.dataclass(frozen=True)
class Seen:
    internal: list[status.Address]
    external: list[status.Address]
    current: vocabulary.NetworkState


def observed(
    conf: AutoNlbsConf,
    ordinal: int,
    lines: Mapping[str, bodies.Json | None],
    pod_ip: str,
    running: bool,
) -> Seen:
    """Per line, the NLB's address (its DNS name, as `<hostname>/<line>` like OKG) with the
    server's NLB ports; Ready once every line's Service has an address and routes the
    server's ports to its pod, and the pod runs."""
    inner: list[status.Port] = []
    for entry in conf.ports:
        for proto in entry.protocol.kube():
            inner.append(status.Port(port_name(proto, ordinal, entry.port), proto, entry.port))
    internal = [status.Address(pod_ip, tuple(inner))] if pod_ip else []
    external: list[status.Address] = []
    ready = running
    for isp in conf.isp_types:
        svc = lines.get(isp)
        spec = (svc or {}).get("spec") or {}
        mine = {
            str(p.get("name")): p
            for p in spec.get("ports") or []
            if str(p.get("name", "")).split("-")[1:2] == [str(ordinal)]
        }
        outer = [
            status.Port(p.name, p.protocol, int(mine[p.name]["port"]))
            for p in inner
            if p.name in mine
        ]
        routed = len(outer) == len(inner) and all(
            mine[p.name].get("targetPort") == p.name for p in inner
        )
        ingress = (((svc or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress")
        entry = (ingress or [{}])[0]
        host, ip = str(entry.get("hostname") or ""), str(entry.get("ip") or "")
        if (host or ip) and outer:
            external.append(status.Address(ip, tuple(outer), f"{host}/{isp}" if host else ""))
        ready = ready and routed and bool(host or ip) and spec.get("type") == "LoadBalancer"
    state = vocabulary.NetworkState.READY if ready else vocabulary.NetworkState.NOT_READY
    return Seen(internal, external, state)
