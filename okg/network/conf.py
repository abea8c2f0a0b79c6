"""Parse and validate `spec.network` (`networkType` + `networkConf`) per plugin.

`validate_network_conf(network_type, conf)` is the pure entry point shared with the hub's
validator: it returns `(index, message)` per problem, where `index` is the position in
`networkConf` (-1 for a problem with `networkType` itself), and the message names the field.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import TYPE_CHECKING, Any

from . import auto_nlbs, loadbalancer, multi_nlbs, params, pod_address, shared_port
from .auto_nlbs import AutoNlbsConf
from .loadbalancer import LoadBalancerConf
from .multi_nlbs import MultiNlbsConf
from .params import PortProtocol, Protocol
from .pod_address import PodAddressConf
from .shared_port import SharedPortConf

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Sequence

__all__ = [
    "AutoNlbsConf",
    "LoadBalancerConf",
    "MultiNlbsConf",
    "PodAddressConf",
    "PortProtocol",
    "Protocol",
    "SharedPortConf",
]

HOST_PORT = "Kubernetes-HostPort"
NODE_PORT = "Kubernetes-NodePort"
INGRESS = "Kubernetes-Ingress"
LOAD_BALANCERS = tuple(loadbalancer.PROFILES)
"""The cloud plugins realised by the generic load-balancer path."""
_OWN_PARSERS: dict[str, Callable[[list[tuple[int, str, str]]], tuple[Any, list[params.Problem]]]]
_OWN_PARSERS = {
    auto_nlbs.NETWORK_TYPE: auto_nlbs.parse,
    multi_nlbs.NETWORK_TYPE: multi_nlbs.parse,
    **{name: functools.partial(pod_address.parse, name) for name in pod_address.PROFILES},
    **{name: functools.partial(shared_port.parse, name) for name in shared_port.KNOWN},
}
"""Plugins with their own parameter tables (each module's `parse`)."""
SUPPORTED = (HOST_PORT, NODE_PORT, INGRESS, *LOAD_BALANCERS, *_OWN_PARSERS)
"""The plugins this agent realises."""

_PARAMS = {
    HOST_PORT: ("ContainerPorts", "AllocatePolicy"),
    NODE_PORT: ("PortProtocols", "Fixed"),
    INGRESS: (
        "PathType",
        "Path",
        "Port",
        "IngressClassName",
        "Host",
        "TlsHosts",
        "TlsSecretName",
        "Annotation",
        "Fixed",
    ),
}
_PATH_TYPES = ("Exact", "Prefix", "ImplementationSpecific")


@dataclasses.dataclass(frozen=True)
class ContainerPort:
    container: str
    port: int
    protocol: Protocol


HOST_PORT_POLICIES = ("per-node", "least-used")
"""`per-node`: the agent picks the node and ports unique on it; `least-used`: OKG v1.1's ports
least used across the cluster, no node picked (the scheduler keeps them apart)."""


@dataclasses.dataclass(frozen=True)
class HostPortConf:
    container_ports: tuple[ContainerPort, ...]
    least_used: bool = False


@dataclasses.dataclass(frozen=True)
class NodePortConf:
    ports: tuple[PortProtocol, ...]
    fixed: bool = False


@dataclasses.dataclass(frozen=True)
class IngressConf:
    path: str
    """With `<id>` standing for the server's ordinal."""
    port: int
    path_type: str = "ImplementationSpecific"
    ingress_class: str = ""
    host: str = ""
    tls_hosts: tuple[str, ...] = ()
    tls_secret: str = ""
    annotations: tuple[tuple[str, str], ...] = ()
    fixed: bool = False


NetworkConf = (
    HostPortConf
    | NodePortConf
    | IngressConf
    | LoadBalancerConf
    | AutoNlbsConf
    | MultiNlbsConf
    | PodAddressConf
    | SharedPortConf
)


class NetworkConfError(ValueError):
    """One or more problems in `spec.network`, each `(index, message)`."""

    def __init__(self, problems: Sequence[params.Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(message for _, message in self.problems))


def _container_ports(
    index: int, value: str, containers: Collection[str] | None
) -> tuple[list[ContainerPort], list[params.Problem]]:
    """`<container>:<port>/<PROTO>[,<port>/<PROTO>|,<container>:<port>/<PROTO>]…`."""
    found: list[ContainerPort] = []
    problems: list[params.Problem] = []
    shape = "<container>:<port>/<protocol>"
    where = params.field(index, "ContainerPorts")
    container: str | None = None
    for item in value.split(","):
        text = item.strip()
        name, sep, rest = text.rpartition(":")
        if sep:
            container = name
        elif container is None:
            problems.append((index, f'{where}: "{text}" is not {shape}'))
            continue
        port_text, _, proto_text = rest.partition("/")
        port = params.port(port_text)
        protocol = params.protocol(proto_text or "TCP")
        if not container or port is None or protocol is None:
            problems.append(
                (
                    index,
                    f'{where}: "{text}" is not {shape} (port 1-65535, protocol TCP, UDP or TCPUDP)',
                )
            )
            continue
        if containers is not None and container not in containers:
            problems.append((index, f'{where}: container "{container}" is not in the pod template'))
            continue
        found.append(ContainerPort(container, port, protocol))
    return found, problems


def _host_port(
    found: list[tuple[int, str, str]], containers: Collection[str] | None
) -> tuple[HostPortConf, list[params.Problem]]:
    problems: list[params.Problem] = []
    ports: list[ContainerPort] = []
    first = -1
    least_used = False
    for index, name, value in found:
        if name == "AllocatePolicy":
            if value not in HOST_PORT_POLICIES:
                where = params.field(index, name)
                problems.append((index, f'{where}: "{value}" is not one of per-node, least-used'))
            least_used = value == "least-used"
            continue
        if name != "ContainerPorts":
            problems.append(params.unknown(index, name, HOST_PORT, _PARAMS[HOST_PORT]))
            continue
        first = index if first < 0 else first
        parsed, bad = _container_ports(index, value, containers)
        ports += parsed
        problems += bad
    pairs = [(p.container, p.port) for p in ports]
    if len(set(pairs)) != len(pairs):
        problems.append(
            (
                first,
                f"{params.field(max(first, 0), 'ContainerPorts')}:"
                " a container port is listed more than once",
            )
        )
    if first < 0:
        problems.append((-1, f"network.networkConf: {HOST_PORT} needs ContainerPorts"))
    return HostPortConf(tuple(ports), least_used), problems


def _node_port(found: list[tuple[int, str, str]]) -> tuple[NodePortConf, list[params.Problem]]:
    problems: list[params.Problem] = []
    ports: list[PortProtocol] = []
    fixed = False
    seen: dict[str, int] = {}
    for index, name, value in found:
        if name not in _PARAMS[NODE_PORT]:
            problems.append(params.unknown(index, name, NODE_PORT, _PARAMS[NODE_PORT]))
            continue
        if name == "PortProtocols":
            if name in seen:
                problems.append((index, f"{params.field(index, name)}: given more than once"))
                continue
            ports, bad = params.port_protocols(index, value)
            problems += bad
            numbers = [p.port for p in ports]
            if len(set(numbers)) != len(numbers):
                problems.append(
                    (index, f"{params.field(index, name)}: a port is listed more than once")
                )
        else:
            fixed, bad = params.boolean(index, name, value)
            problems += bad
        seen.setdefault(name, index)
    if "PortProtocols" not in seen:
        problems.append((-1, f"network.networkConf: {NODE_PORT} needs PortProtocols"))
    return NodePortConf(tuple(ports), fixed), problems


def _ingress(found: list[tuple[int, str, str]]) -> tuple[IngressConf, list[params.Problem]]:
    problems: list[params.Problem] = []
    values: dict[str, str] = {}
    annotations: list[tuple[str, str]] = []
    fixed = False
    for index, name, value in found:
        where = params.field(index, name)
        if name not in _PARAMS[INGRESS]:
            problems.append(params.unknown(index, name, INGRESS, _PARAMS[INGRESS]))
            continue
        values[name] = value
        if name == "Annotation":
            key, sep, note = value.partition(":")
            if not sep or not key.strip():
                problems.append((index, f'{where}: "{value}" is not <key>: <value>'))
            annotations.append((key.strip(), note.strip()))
        elif name == "Port" and params.port(value) is None:
            problems.append((index, f'{where}: "{value}" is not a port 1-65535'))
        elif name == "PathType" and value not in _PATH_TYPES:
            problems.append((index, f'{where}: "{value}" is not one of {", ".join(_PATH_TYPES)}'))
        elif name == "Path" and not value.startswith("/"):
            problems.append((index, f'{where}: "{value}" does not start with /'))
        elif name == "Fixed":
            fixed, bad = params.boolean(index, name, value)
            problems += bad
    for needed in ("Path", "Port"):
        if needed not in values:
            problems.append((-1, f"network.networkConf: {INGRESS} needs {needed}"))
    conf = IngressConf(
        path=values.get("Path", "/"),
        port=params.port(values.get("Port", "")) or 0,
        path_type=values.get("PathType", "ImplementationSpecific"),
        ingress_class=values.get("IngressClassName", ""),
        host=values.get("Host", ""),
        tls_hosts=tuple(h.strip() for h in values.get("TlsHosts", "").split(",") if h.strip()),
        tls_secret=values.get("TlsSecretName", ""),
        annotations=tuple(annotations),
        fixed=fixed,
    )
    return conf, problems


def parse_network(
    network_type: str, conf: object, containers: Collection[str] | None = None
) -> NetworkConf:
    """The plugin's parameters; raises NetworkConfError naming every bad parameter.

    `containers`, when given, are the pod template's container names (checked by HostPort).
    """
    if network_type not in SUPPORTED:
        raise NetworkConfError(
            [
                (
                    -1,
                    f"network.networkType: {network_type!r} is not supported"
                    f" (supported: {', '.join(SUPPORTED)})",
                )
            ]
        )
    found, problems = params.entries(conf)
    result: NetworkConf
    if network_type == HOST_PORT:
        result, bad = _host_port(found, containers)
    elif network_type == NODE_PORT:
        result, bad = _node_port(found)
    elif network_type == INGRESS:
        result, bad = _ingress(found)
    elif network_type in _OWN_PARSERS:
        result, bad = _OWN_PARSERS[network_type](found)
    else:
        result, bad = loadbalancer.parse_load_balancer(loadbalancer.PROFILES[network_type], found)
    problems += bad
    if problems:
        raise NetworkConfError(problems)
    return result


def validate_network_conf(network_type: str, conf: object) -> list[params.Problem]:
    """Every problem of `spec.network` as `(index in networkConf, message)`; [] when valid.

    Index -1 is a problem with `networkType` or the list as a whole. Pure: the hub's validator
    calls it as the agent does at apply time.
    """
    try:
        parse_network(network_type, conf)
    except NetworkConfError as exc:
        return exc.problems
    return []


def conf_annotation(conf: object) -> str:
    """`game.kruise.io/network-conf`: the set's networkConf as JSON."""
    items: list[Any] = conf if isinstance(conf, list) else []
    return json.dumps(items, separators=(",", ":"))
