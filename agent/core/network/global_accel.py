"""Global acceleration: besides its regional address, each game server of an
`AmazonWebServices-NLB` set with `GlobalAccelerator=true` gets a global entry address, an AWS
Global Accelerator's anycast IPs on the same port as its NLB port. Pure: which sets ask for it,
the accelerator objects, their readiness, the servers' global addresses.

Per NLB the set lists, one `GlobalAccelerator` of the aws-load-balancer-controller
(`aga.k8s.aws/v1beta1`): a listener per protocol of `PortProtocols` over the set's port range
(`MinPort`-`MaxPort`), forwarding to one endpoint group in the cluster's region whose only
endpoint is the NLB (by ARN). A standard accelerator keeps the destination port, so a player
reaching `<accelerator IP>:<port>` arrives at `<NLB>:<port>`, which is exactly one server's
listener: the same per-server mapping as the regional address, entered at the AWS edge
nearest the player. One accelerator per NLB, because an endpoint group spreads a port over all
its endpoints.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from agent.core import bodies, wire

from . import status

if TYPE_CHECKING:
    from collections.abc import Mapping

    from okg.network.loadbalancer import LoadBalancerConf


GROUP_VERSION = "aga.k8s.aws/v1beta1"
KIND = "GlobalAccelerator"
PLURAL = "globalaccelerators"
CRD_NAME = f"{PLURAL}.aga.k8s.aws"
PARAM = "GlobalAccelerator"
NLB_LABEL = "gamefleet.io/nlb"
"""Label: a hash of the NLB ARN the accelerator fronts (an ARN is no label value)."""
AWS_NAME_MAX = 64


def wanted(conf: object) -> bool:
    """The set asks for global addresses (only `AmazonWebServices-NLB` takes the parameter)."""
    setting = getattr(conf, "setting", None)
    return callable(setting) and setting(PARAM) == "true"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def object_name(set_name: str, lb_id: str) -> str:
    return f"{set_name}-ga-{_digest(lb_id)[:10]}"


def aws_name(namespace: str, set_name: str, lb_id: str) -> str:
    """The accelerator's AWS name: at most 64 of letters, digits, `-` and `_`; unique per
    namespace, set and NLB."""
    head = re.sub(r"[^a-zA-Z0-9-]", "-", set_name)[: AWS_NAME_MAX - 16]
    return f"gf-{head}-{_digest(namespace, set_name, lb_id)[:12]}"


def body(
    conf: LoadBalancerConf, namespace: str, set_name: str, owner: Mapping[str, Any], lb_id: str
) -> bodies.Json:
    protocols = sorted({proto for entry in conf.ports for proto in entry.protocol.kube()})
    low, high = conf.port_range
    listeners = [
        {
            "protocol": proto,
            "portRanges": [{"fromPort": low, "toPort": high}],
            "clientAffinity": "NONE",
            "endpointGroups": [{"endpoints": [{"type": "EndpointID", "endpointID": lb_id}]}],
        }
        for proto in protocols
    ]
    return {
        "apiVersion": GROUP_VERSION,
        "kind": KIND,
        "metadata": {
            "name": object_name(set_name, lb_id),
            "namespace": namespace,
            "labels": {wire.OWNER_GSS: set_name, NLB_LABEL: _digest(lb_id)[:40]},
            "ownerReferences": [owner],
        },
        "spec": {
            "name": aws_name(namespace, set_name, lb_id),
            "ipAddressType": "IPV4",
            "tags": {"managed-by": "gamefleet.io", "gamefleet.io/game-server-set":
                     f"{namespace}.{set_name}"},
            "listeners": listeners,
        },
    }  # fmt: skip


def spec_patch(current: bodies.Json, wanted_body: bodies.Json) -> bodies.Json:
    """The spec fields to write ({} when the object is as wanted)."""
    have = current.get("spec") or {}
    want = wanted_body["spec"]
    return {k: v for k, v in want.items() if have.get(k) != v}


def deployed(obj: bodies.Json | None) -> tuple[str, str]:
    """(first static IPv4 address, DNS name) once the controller has made the accelerator for
    the object's current spec; ("", "") before."""
    if obj is None:
        return "", ""
    meta = bodies.meta(obj)
    found = obj.get("status") or {}
    if int(found.get("observedGeneration") or 0) < int(meta.get("generation") or 1):
        return "", ""
    ips = [
        str(ip)
        for ip_set in found.get("ipSets") or []
        if str(ip_set.get("ipAddressFamily") or "IPv4").lower() == "ipv4"
        for ip in ip_set.get("ipAddresses") or []
    ]
    return (ips[0] if ips else ""), str(found.get("dnsName") or "")


def global_addresses(
    accelerator: bodies.Json | None, external: list[status.Address]
) -> list[status.Address]:
    """The server's global address: the accelerator's IP and DNS name with the server's NLB
    ports (its regional external ports); [] until the accelerator is deployed."""
    ip, dns = deployed(accelerator)
    if not (ip or dns) or not external:
        return []
    return [status.Address(ip, external[0].ports, dns)]
