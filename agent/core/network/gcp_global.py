"""Global entry addresses on Google Cloud: besides its regional address, each game server of a
`GoogleCloud-NLB` set with `GlobalAddress=true` gets a global anycast address, on the same TCP
ports as its regional ones. Pure: which sets ask for it, the Config Connector objects, their
readiness, the servers' global addresses.

The objects are Config Connector's (`compute.cnrm.cloud.google.com/v1beta1`), the documented
Kubernetes route to a global external proxy Network Load Balancer (GKE's own Service controllers
make regional load balancers only):

- per set, a global `ComputeHealthCheck` (TCP on the serving port), and per regional address
  the set lists, a global `ComputeAddress`: port P on it is port P on the regional address;
- per server and TCP port P, a `ComputeForwardingRule` (global, `EXTERNAL_MANAGED`, TCP, port P
  on the set's global address) -> `ComputeTargetTCPProxy` -> `ComputeBackendService` whose
  backends are the server's standalone zonal NEGs: GKE's NEG controller makes them from the
  `cloud.google.com/neg` annotation on the server's Service (one NEG per zone, the pod's IP and
  container port as endpoint) and lists their zones in `cloud.google.com/neg-status`.

A backend service spreads a port over all its endpoints, hence one per server port: the proxy
then reaches exactly that server, like its regional port does.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from agent.core import bodies, wire
from okg.network import gcp_global as params
from okg.network import loadbalancer as lbconf

from . import status

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

GROUP_VERSION = "compute.cnrm.cloud.google.com/v1beta1"
ADDRESS, HEALTH_CHECK = "ComputeAddress", "ComputeHealthCheck"
BACKEND_SERVICE, TCP_PROXY, FORWARDING_RULE = (
    "ComputeBackendService",
    "ComputeTargetTCPProxy",
    "ComputeForwardingRule",
)
NEG = "cloud.google.com/neg"
NEG_STATUS = "cloud.google.com/neg-status"
SERVER_LABEL = wire.NETWORK_SERVER
MAX_CONNECTIONS_PER_ENDPOINT = 10000
"""Required with `CONNECTION` balancing on a NEG backend; one game server per endpoint, so the
figure only has to exceed its players."""


def wanted(conf: object) -> bool:
    """The set asks for global addresses (only `GoogleCloud-NLB` takes the parameter)."""
    return (
        isinstance(conf, lbconf.LoadBalancerConf)
        and conf.network_type == lbconf.GOOGLE_CLOUD_NLB.network_type
        and conf.setting(params.PARAM) == "true"
    )


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def google_name(*parts: str) -> str:
    """A Google Cloud resource name (lowercase, starts with a letter, at most 63): Google's
    names are per project, so the parts include a uid of this cluster's objects."""
    return f"gf-{_digest(*parts)[:24]}"


def address_object(set_name: str, address: str) -> str:
    return f"{set_name}-gx-{_digest(address)[:10]}"


def health_check_object(set_name: str) -> str:
    return f"{set_name}-gx"


def server_object(server: str, port: int) -> str:
    return f"{server}-gx-{port}"


def tcp_ports(conf: lbconf.LoadBalancerConf, lb_ports: Sequence[int]) -> list[int]:
    """The server's regional ports that carry TCP (the ones a global proxy can front)."""
    return [p for e, p in zip(conf.ports, lb_ports, strict=True) if "TCP" in e.protocol.kube()]


def neg_name(namespace: str, set_uid: str, server: str, port: int) -> str:
    return google_name("neg", namespace, set_uid, server, str(port))


def neg_annotation(
    conf: lbconf.LoadBalancerConf,
    namespace: str,
    set_uid: str,
    server: str,
    lb_ports: Sequence[int],
) -> dict[str, str]:
    """The Service annotation asking GKE's NEG controller for a standalone NEG per TCP port."""
    exposed = {
        str(p): {"name": neg_name(namespace, set_uid, server, p)} for p in tcp_ports(conf, lb_ports)
    }
    return {NEG: json.dumps({"exposed_ports": exposed}, separators=(",", ":"), sort_keys=True)}


def neg_status(svc: bodies.Json | None) -> tuple[list[str], dict[int, str]]:
    """(zones, port -> NEG name) as GKE's NEG controller reports them on the Service."""
    text = (bodies.meta(svc or {}).get("annotations") or {}).get(NEG_STATUS)
    try:
        found = json.loads(text) if text else {}
    except ValueError:
        return [], {}
    if not isinstance(found, dict):
        return [], {}
    zones = [str(z) for z in found.get("zones") or []]
    groups = found.get("network_endpoint_groups") or {}
    by_port = {int(k): str(v) for k, v in groups.items() if str(k).isdigit()}
    return zones, by_port


def server_index(obj: bodies.Raw) -> str | None:
    """Cache index: `<namespace>/<set>/<server>` for a server's objects, `<namespace>/<set>`
    for the set's."""
    labels = bodies.labels_of(obj)
    owner = labels.get(wire.OWNER_GSS)
    if not owner:
        return None
    server = labels.get(SERVER_LABEL)
    return f"{bodies.namespace(obj)}/{owner}" + (f"/{server}" if server else "")


def _meta(
    name: str, namespace: str, set_name: str, owner: Mapping[str, Any], server: str = ""
) -> bodies.Json:
    labels = {wire.OWNER_GSS: set_name} | ({SERVER_LABEL: server} if server else {})
    return {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": [owner]}


def _object(kind: str, meta: bodies.Json, spec: bodies.Json) -> bodies.Json:
    return {"apiVersion": GROUP_VERSION, "kind": kind, "metadata": meta, "spec": spec}


def set_bodies(
    conf: lbconf.LoadBalancerConf, namespace: str, gss: bodies.Json, owner: Mapping[str, Any]
) -> list[bodies.Json]:
    """The set's objects: its health check and a global address per regional address."""
    set_name, set_uid = bodies.name(gss), bodies.uid(gss)
    check = _object(
        HEALTH_CHECK,
        _meta(health_check_object(set_name), namespace, set_name, owner),
        {
            "location": "global",
            "resourceID": google_name("hc", namespace, set_uid),
            "tcpHealthCheck": {"portSpecification": "USE_SERVING_PORT"},
        },
    )
    addresses = [
        _object(
            ADDRESS,
            _meta(address_object(set_name, address), namespace, set_name, owner),
            {
                "location": "global",
                "resourceID": google_name("ip", namespace, set_uid, address),
                "addressType": "EXTERNAL",
                "ipVersion": "IPV4",
            },
        )
        for address in conf.lb_ids
    ]
    return [check, *addresses]


def server_bodies(
    conf: lbconf.LoadBalancerConf,
    namespace: str,
    gss: bodies.Json,
    svc: bodies.Json,
    address: str,
    lb_ports: Sequence[int],
) -> list[bodies.Json]:
    """Per TCP port of the server, its backend service (once GKE reports the NEG's zones), TCP
    proxy and forwarding rule; owned by the server's Service, so they go with it."""
    set_name, set_uid = bodies.name(gss), bodies.uid(gss)
    server, svc_uid = bodies.name(svc), bodies.uid(svc)
    owner = bodies.owner_reference(svc, "Service", "v1")
    project = conf.setting(params.PROJECT)
    zones, reported = neg_status(svc)
    found: list[bodies.Json] = []
    for port in tcp_ports(conf, lb_ports):
        name = server_object(server, port)
        meta = _meta(name, namespace, set_name, owner, server)
        neg = reported.get(port) or neg_name(namespace, set_uid, server, port)
        if zones:
            backends = [
                {
                    "group": {"networkEndpointGroupRef": {
                        "external": f"projects/{project}/zones/{zone}/networkEndpointGroups/{neg}"
                    }},
                    "balancingMode": "CONNECTION",
                    "maxConnectionsPerEndpoint": MAX_CONNECTIONS_PER_ENDPOINT,
                }
                for zone in sorted(zones)
            ]  # fmt: skip
            found.append(_object(BACKEND_SERVICE, dict(meta), {
                "location": "global",
                "resourceID": google_name("bs", namespace, svc_uid, str(port)),
                "loadBalancingScheme": "EXTERNAL_MANAGED",
                "protocol": "TCP",
                "healthChecks": [{"healthCheckRef": {"name": health_check_object(set_name)}}],
                "backend": backends,
            }))  # fmt: skip
        found.append(_object(TCP_PROXY, dict(meta), {
            "location": "global",
            "resourceID": google_name("tp", namespace, svc_uid, str(port)),
            "backendServiceRef": {"name": name},
            "proxyHeader": "NONE",
        }))  # fmt: skip
        found.append(_object(FORWARDING_RULE, dict(meta), {
            "location": "global",
            "resourceID": google_name("fr", namespace, svc_uid, str(port)),
            "loadBalancingScheme": "EXTERNAL_MANAGED",
            "ipProtocol": "TCP",
            "portRange": str(port),
            "ipAddress": {"addressRef": {"name": address_object(set_name, address)}},
            "target": {"targetTCPProxyRef": {"name": name}},
        }))  # fmt: skip
    return found


MUTABLE = {BACKEND_SERVICE: ("backend", "healthChecks"), HEALTH_CHECK: ("tcpHealthCheck",)}
"""The spec fields kept up to date; the others are immutable in Google Cloud."""


def spec_patch(current: bodies.Json, wanted_body: bodies.Json) -> bodies.Json:
    """The spec fields to write ({} when the object is as wanted)."""
    have = current.get("spec") or {}
    want = wanted_body["spec"]
    return {k: want[k] for k in MUTABLE.get(str(wanted_body["kind"]), ()) if have.get(k) != want[k]}


def ready(obj: bodies.Json | None) -> bool:
    """Config Connector reports the object made in Google Cloud for its current spec."""
    if obj is None:
        return False
    meta = bodies.meta(obj)
    found = obj.get("status") or {}
    if int(found.get("observedGeneration") or 0) < int(meta.get("generation") or 1):
        return False
    condition = bodies.find_condition(found.get("conditions"), "Ready")
    return condition is not None and condition.get("status") == "True"


def address_ip(obj: bodies.Json | None) -> str:
    """The reserved global IP once Config Connector has it ("" before)."""
    if obj is None or not ready(obj):
        return ""
    observed = (obj.get("status") or {}).get("observedState") or {}
    return str(observed.get("address") or (obj.get("spec") or {}).get("address") or "")


def global_addresses(
    address: bodies.Json | None,
    rules: Sequence[bodies.Json | None],
    external: list[status.Address],
) -> list[status.Address]:
    """The server's global address: the set's global IP with the server's TCP ports, once the
    address and every forwarding rule of the server are made; [] before."""
    ip = address_ip(address)
    if not ip or not rules or not all(ready(r) for r in rules) or not external:
        return []
    ports = tuple(p for p in external[0].ports if p.protocol == "TCP")
    return [status.Address(ip, ports)] if ports else []
