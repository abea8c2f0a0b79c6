"""`AmazonWebServices-NLB`: listeners on existing Network Load Balancers, one per port of a
game server, through the AWS controllers' custom resources. Pure: names, bodies, the DNS name,
the readiness rule, and which CRDs a cluster lacks.

AWS cannot bind a LoadBalancer Service to an existing NLB, so, per server and per
`PortProtocols` entry, the plugin writes:

- an ACK elbv2 `TargetGroup` (target type `ip`, the container's port and protocol, the set's VPC
  and health check);
- an ACK elbv2 `Listener` on the NLB at the allocated port, forwarding to that target group
  (by reference to the TargetGroup object: ACK resolves its ARN);
- once the target group has an ARN, an aws-load-balancer-controller `TargetGroupBinding` that
  registers the endpoints of the server's ClusterIP Service (the one carrying the allocation
  record) as the group's targets.

The external address is the NLB's DNS name, derived from its ARN.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from typing import TYPE_CHECKING, Any

from agent.core import bodies, wire
from okg import vocabulary
from okg.network import params

from . import status

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from okg.network.loadbalancer import LoadBalancerConf

    from . import lbports


ACK_GROUP_VERSION = "elbv2.services.k8s.aws/v1alpha1"
LBC_GROUP_VERSION = "elbv2.k8s.aws/v1beta1"
SERVER_LABEL = "statefulset.kubernetes.io/pod-name"
"""Label naming the game server an object serves (OKG labels its AWS objects the same way)."""
TAG_KEY = "managed-by"
TAG_VALUE = "gamefleet.io"
SERVER_TAG = "gamefleet.io/game-server"
TARGET_GROUP_NAME_MAX = 32
"""AWS: a target group name has at most 32 characters (letters, digits, hyphens)."""

SYNCED_CONDITIONS = ("ACK.ResourceSynced", "Ready")
"""ACK's conditions saying the AWS resource matches the spec (`Ready` is its newer alias)."""
TERMINAL_CONDITION = "ACK.Terminal"


@dataclasses.dataclass(frozen=True)
class Crd:
    group_version: str
    plural: str
    kind: str

    @property
    def name(self) -> str:
        return f"{self.plural}.{self.group_version.split('/', 1)[0]}"


TARGET_GROUP = Crd(ACK_GROUP_VERSION, "targetgroups", "TargetGroup")
LISTENER = Crd(ACK_GROUP_VERSION, "listeners", "Listener")
TARGET_GROUP_BINDING = Crd(LBC_GROUP_VERSION, "targetgroupbindings", "TargetGroupBinding")
CRDS = (TARGET_GROUP, LISTENER, TARGET_GROUP_BINDING)


def missing_crds(served: Mapping[str, Collection[str]]) -> list[str]:
    """The CRDs (by name) the API server does not serve; `served` maps each group version the
    discovery found to the resources (plurals) it lists. A group version missing from it is not
    served at all."""
    return [c.name for c in CRDS if c.plural not in served.get(c.group_version, ())]


def missing_message(missing: Sequence[str]) -> str:
    return (
        "network.networkType: AmazonWebServices-NLB needs the custom resources"
        f" {', '.join(missing)}, which this cluster does not serve (install the ACK"
        " elbv2-controller and the aws-load-balancer-controller)"
    )


def aws_protocol(protocol: params.Protocol) -> str:
    """The ELBv2 protocol of a `PortProtocols` entry (`TCPUDP` is AWS's `TCP_UDP`)."""
    return "TCP_UDP" if protocol is params.Protocol.TCPUDP else protocol.value


def object_name(server: str, nlb_port: int) -> str:
    """The Kubernetes name of a server's TargetGroup, Listener and TargetGroupBinding for one
    NLB port."""
    return f"{server}-{nlb_port}"


def target_group_name(
    lb_arn: str, nlb_port: int, owner_uid: str, vpc_id: str, protocol: str, port: int
) -> str:
    """The AWS name of a target group: `gf-` and 29 hex digits of a hash of the listener it
    serves (NLB and port), its owner's uid, and the fields AWS cannot change on a target group.
    Deterministic; unique per region and account as long as the listener and the owner are; a
    different owner (a recreated pod) or a changed port, protocol or VPC gives a new name, so a
    replacement never meets its predecessor's name while AWS is still deleting it."""
    text = "\n".join((lb_arn, str(nlb_port), owner_uid, vpc_id, protocol, str(port)))
    digest = hashlib.sha256(text.encode()).hexdigest()
    return f"gf-{digest[: TARGET_GROUP_NAME_MAX - 3]}"


_HEALTH_CHECK_INTS = frozenset(
    (
        "healthCheckIntervalSeconds",
        "healthCheckTimeoutSeconds",
        "healthyThresholdCount",
        "unhealthyThresholdCount",
    )
)


def health_check(conf: LoadBalancerConf) -> bodies.Json:
    """The TargetGroup spec fields of `NlbHealthCheck` (validated when the set was parsed)."""
    pairs, _ = params.key_values(0, "NlbHealthCheck", conf.setting("NlbHealthCheck") or "")
    fields: bodies.Json = {}
    for key, text in pairs:
        if key == "healthCheckEnabled":
            fields[key] = text == "true"
        elif key in _HEALTH_CHECK_INTS:
            fields[key] = int(text)
        else:
            fields[key] = text
    return fields


def endpoint(lb_arn: str) -> str:
    """An NLB's DNS name from its ARN: `arn:<partition>:elasticloadbalancing:<region>:<account>:
    loadbalancer/net/<name>/<id>` is `<name>-<id>.elb.<region>.amazonaws.com` (`.com.cn` in
    the China partition); "" for anything else."""
    parts = lb_arn.split(":")
    prefix = "loadbalancer/net/"
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "elasticloadbalancing":
        return ""
    partition, region, resource = parts[1], parts[3], parts[5]
    name_id = resource.removeprefix(prefix).split("/")
    if not resource.startswith(prefix) or len(name_id) != 2 or not all(name_id) or not region:
        return ""
    domain = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"{name_id[0]}-{name_id[1]}.elb.{region}.{domain}"


@dataclasses.dataclass(frozen=True)
class Listen:
    """One `PortProtocols` entry of a server and the NLB port it got."""

    entry: params.PortProtocol
    nlb_port: int

    @property
    def protocol(self) -> str:
        return aws_protocol(self.entry.protocol)


@dataclasses.dataclass(frozen=True)
class Placement:
    """A server's objects: where they live, who owns them, the NLB and its ports."""

    namespace: str
    set_name: str
    server: str
    owner: Mapping[str, Any]
    """The owner reference of every object (the pod, or the set with `Fixed=true`)."""
    lb_arn: str
    listens: tuple[Listen, ...]
    vpc_id: str
    health_check: Mapping[str, Any]

    @property
    def owner_uid(self) -> str:
        return str(self.owner.get("uid", ""))

    def name(self, listen: Listen) -> str:
        return object_name(self.server, listen.nlb_port)

    def names(self) -> list[str]:
        return [self.name(listen) for listen in self.listens]


def placement(
    conf: LoadBalancerConf,
    allocation: lbports.Allocation,
    *,
    namespace: str,
    set_name: str,
    server: str,
    owner: Mapping[str, Any],
) -> Placement:
    return Placement(
        namespace=namespace,
        set_name=set_name,
        server=server,
        owner=dict(owner),
        lb_arn=allocation.lb_id,
        listens=tuple(
            Listen(entry, port) for entry, port in zip(conf.ports, allocation.ports, strict=True)
        ),
        vpc_id=conf.setting("NlbVPCId"),
        health_check=health_check(conf),
    )


def _meta(where: Placement, name: str) -> bodies.Json:
    return {
        "name": name,
        "namespace": where.namespace,
        "labels": {wire.OWNER_GSS: where.set_name, SERVER_LABEL: where.server},
        "ownerReferences": [dict(where.owner)],
    }


def _tags(where: Placement) -> list[bodies.Json]:
    return [
        {"key": TAG_KEY, "value": TAG_VALUE},
        {"key": SERVER_TAG, "value": f"{where.namespace}/{where.server}"},
    ]


def target_group_body(where: Placement, listen: Listen) -> bodies.Json:
    spec: bodies.Json = {
        "name": target_group_name(
            where.lb_arn,
            listen.nlb_port,
            where.owner_uid,
            where.vpc_id,
            listen.protocol,
            listen.entry.port,
        ),
        "protocol": listen.protocol,
        "port": listen.entry.port,
        "targetType": "ip",
        "vpcID": where.vpc_id,
        **where.health_check,
        "tags": _tags(where),
    }
    return {
        "apiVersion": ACK_GROUP_VERSION,
        "kind": TARGET_GROUP.kind,
        "metadata": _meta(where, where.name(listen)),
        "spec": spec,
    }


def listener_body(where: Placement, listen: Listen) -> bodies.Json:
    action = {"type": "forward", "targetGroupRef": {"from": {"name": where.name(listen)}}}
    return {
        "apiVersion": ACK_GROUP_VERSION,
        "kind": LISTENER.kind,
        "metadata": _meta(where, where.name(listen)),
        "spec": {
            "loadBalancerARN": where.lb_arn,
            "port": listen.nlb_port,
            "protocol": listen.protocol,
            "defaultActions": [action],
            "tags": _tags(where),
        },
    }


def binding_body(where: Placement, listen: Listen, target_group_arn: str) -> bodies.Json:
    """Registers the endpoints of the server's Service port (the NLB port) as targets."""
    return {
        "apiVersion": LBC_GROUP_VERSION,
        "kind": TARGET_GROUP_BINDING.kind,
        "metadata": _meta(where, where.name(listen)),
        "spec": {
            "targetGroupARN": target_group_arn,
            "targetType": "ip",
            "serviceRef": {"name": where.server, "port": listen.nlb_port},
        },
    }


# Keeping the objects.

_REPLACED_ON = {
    TARGET_GROUP.kind: ("name", "protocol", "port", "targetType", "vpcID"),
    LISTENER.kind: ("loadBalancerARN",),
    TARGET_GROUP_BINDING.kind: ("targetGroupARN", "targetType", "serviceRef"),
}
"""Spec fields AWS (or the load-balancer controller's webhook) cannot change in place."""
_PATCHED_ON = {
    TARGET_GROUP.kind: tuple(
        sorted(
            (
                "healthCheckEnabled",
                "healthCheckIntervalSeconds",
                "healthCheckPath",
                "healthCheckPort",
                "healthCheckProtocol",
                "healthCheckTimeoutSeconds",
                "healthyThresholdCount",
                "unhealthyThresholdCount",
            )
        )
    ),
    LISTENER.kind: ("port", "protocol", "defaultActions"),
    TARGET_GROUP_BINDING.kind: (),
}


@dataclasses.dataclass(frozen=True)
class Change:
    """What bringing an existing object to the wanted one takes."""

    replace: bool = False
    """Delete it (a new one is created once it is gone)."""
    spec: bodies.Json = dataclasses.field(default_factory=dict)
    """Else, a merge patch of these spec fields (empty: nothing to do)."""


def _same(name: str, have: object, want: object) -> bool:
    """A spec field as the plugin wrote it. An action is compared on the keys the plugin sets,
    as the controllers may fill in others (a resolved target group)."""
    if name != "defaultActions" or not isinstance(have, list) or not isinstance(want, list):
        return have == want
    return len(have) == len(want) and all(
        isinstance(h, dict) and all(h.get(k) == v for k, v in w.items())
        for h, w in zip(have, want, strict=True)
    )


def change(current: bodies.Json, wanted: bodies.Json) -> Change:
    """Replace an object owned by someone else or differing in a field that cannot change in
    place; else patch the fields the plugin sets that differ. Fields the plugin does not set
    (ACK fills defaults into the spec) are left alone."""
    kind = str(wanted["kind"])
    owner = str(wanted["metadata"]["ownerReferences"][0]["uid"])
    owners = [str(r.get("uid")) for r in bodies.meta(current).get("ownerReferences") or []]
    have = current.get("spec") or {}
    want = wanted["spec"]
    if owner not in owners or any(have.get(f) != want.get(f) for f in _REPLACED_ON[kind]):
        return Change(replace=True)
    return Change(
        spec={
            f: want[f]
            for f in _PATCHED_ON[kind]
            if f in want and not _same(f, have.get(f), want[f])
        }
    )


# What the objects say.


class Sync(enum.Enum):
    PENDING = "pending"
    SYNCED = "synced"
    TERMINAL = "terminal"


def arn_of(obj: bodies.Json | None) -> str:
    """The ARN ACK reports for the AWS resource behind an object ("" until it exists)."""
    metadata = ((obj or {}).get("status") or {}).get("ackResourceMetadata") or {}
    return str(metadata.get("arn") or "")


def ack_sync(obj: bodies.Json | None) -> tuple[Sync, str]:
    """An ACK object's state and, when terminal, ACK's message."""
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    for cond in conditions:
        if cond.get("type") == TERMINAL_CONDITION and cond.get("status") == "True":
            return Sync.TERMINAL, str(cond.get("message") or cond.get("reason") or "")
    synced = any(
        c.get("type") in SYNCED_CONDITIONS and c.get("status") == "True" for c in conditions
    )
    return (Sync.SYNCED if synced and arn_of(obj) else Sync.PENDING), ""


def binding_ready(binding: bodies.Json | None, target_group_arn: str) -> bool:
    """The binding names the target group and the load-balancer controller has acted on its
    latest spec (`status.observedGeneration`, what the controller itself waits for)."""
    if binding is None or not target_group_arn:
        return False
    spec = binding.get("spec") or {}
    observed = int((binding.get("status") or {}).get("observedGeneration") or 0)
    generation = bodies.generation(binding)
    return spec.get("targetGroupARN") == target_group_arn and observed >= generation > 0


@dataclasses.dataclass(frozen=True)
class PortObjects:
    """The objects seen for one listen of a server (None: absent)."""

    name: str
    target_group: bodies.Json | None
    listener: bodies.Json | None
    binding: bodies.Json | None


@dataclasses.dataclass(frozen=True)
class Readiness:
    state: vocabulary.NetworkState
    listening: bool
    """Every listener exists on the NLB (the external address is real)."""
    waiting_for: str
    """Why not Ready ("" when Ready)."""


def readiness(ports: Sequence[PortObjects], selected: bool, running: bool) -> Readiness:
    """Ready when every TargetGroup and Listener is synced by ACK with its ARN, every
    TargetGroupBinding names its group's ARN and is observed by the load-balancer controller,
    the Service selects the pod and the pod runs. A terminal ACK condition is NotReady."""
    reasons: list[str] = []
    listening = bool(ports)
    for port in ports:
        for kind, obj in (("TargetGroup", port.target_group), ("Listener", port.listener)):
            sync, message = ack_sync(obj)
            if obj is None:
                reasons.append(f"{kind} {port.name} missing")
            elif sync is Sync.TERMINAL:
                reasons.append(f"{kind} {port.name} failed: {message}")
            elif sync is Sync.PENDING:
                reasons.append(f"{kind} {port.name} not synced")
        listening = listening and bool(arn_of(port.listener))
        if not binding_ready(port.binding, arn_of(port.target_group)):
            reasons.append(f"TargetGroupBinding {port.name} not bound")
    if not selected:
        reasons.append("Service does not select the pod")
    if not running:
        reasons.append("pod not running")
    state = vocabulary.NetworkState.NOT_READY if reasons else vocabulary.NetworkState.READY
    return Readiness(state, listening, "; ".join(reasons))


def addresses(
    where: Placement, pod_ip: str, listening: bool
) -> tuple[list[status.Address], list[status.Address]]:
    """Internal: the pod IP and the container ports. External (once the listeners exist): the
    NLB's DNS name as `endPoint` (ip "") and the NLB ports, named after the container ports."""
    inner: list[status.Port] = []
    outer: list[status.Port] = []
    for listen in where.listens:
        protos = listen.entry.protocol.kube()
        for proto in protos:
            name = status.port_name(listen.entry.port, proto, len(protos) > 1)
            inner.append(status.Port(name, proto, listen.entry.port))
            outer.append(status.Port(name, proto, listen.nlb_port))
    internal = [status.Address(pod_ip, tuple(inner))] if pod_ip else []
    dns = endpoint(where.lb_arn)
    external = [status.Address("", tuple(outer), dns)] if listening and dns else []
    return internal, external
