"""Parse and validate `spec.network` (`networkType` + `networkConf`) per plugin.

`validate_network_conf(network_type, conf)` is the pure entry point shared with the hub's
validator: it returns `(index, message)` per problem, where `index` is the position in
`networkConf` (-1 for a problem with `networkType` itself), and the message names the field.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

HOST_PORT = "Kubernetes-HostPort"
NODE_PORT = "Kubernetes-NodePort"
INGRESS = "Kubernetes-Ingress"
SUPPORTED = (HOST_PORT, NODE_PORT, INGRESS)
"""The plugins this agent realises."""

_PARAMS = {
    HOST_PORT: ("ContainerPorts",),
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


class Protocol(enum.StrEnum):
    TCP = "TCP"
    UDP = "UDP"
    TCPUDP = "TCPUDP"

    def kube(self) -> tuple[str, ...]:
        """The Kubernetes protocols this stands for (TCPUDP is both on one port)."""
        return ("TCP", "UDP") if self is Protocol.TCPUDP else (self.value,)


@dataclasses.dataclass(frozen=True)
class ContainerPort:
    container: str
    port: int
    protocol: Protocol


@dataclasses.dataclass(frozen=True)
class PortProtocol:
    port: int
    protocol: Protocol


@dataclasses.dataclass(frozen=True)
class HostPortConf:
    container_ports: tuple[ContainerPort, ...]


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


NetworkConf = HostPortConf | NodePortConf | IngressConf


class NetworkConfError(ValueError):
    """One or more problems in `spec.network`, each `(index, message)`."""

    def __init__(self, problems: Sequence[tuple[int, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(message for _, message in self.problems))


def _field(index: int, name: str) -> str:
    return f"network.networkConf[{index}] {name}"


def _port(text: str) -> int | None:
    if not text.isdigit():
        return None
    value = int(text)
    return value if 1 <= value <= 65535 else None


def _protocol(text: str) -> Protocol | None:
    try:
        return Protocol(text)
    except ValueError:
        return None


def _container_ports(
    index: int, value: str, containers: Collection[str] | None
) -> tuple[list[ContainerPort], list[tuple[int, str]]]:
    """`<container>:<port>/<PROTO>[,<port>/<PROTO>|,<container>:<port>/<PROTO>]…`."""
    found: list[ContainerPort] = []
    problems: list[tuple[int, str]] = []
    shape = "<container>:<port>/<protocol>"
    container: str | None = None
    for item in value.split(","):
        text = item.strip()
        name, sep, rest = text.rpartition(":")
        if sep:
            container = name
        elif container is None:
            problems.append((index, f'{_field(index, "ContainerPorts")}: "{text}" is not {shape}'))
            continue
        port_text, _, proto_text = rest.partition("/")
        port = _port(port_text)
        protocol = _protocol(proto_text or "TCP")
        if not container or port is None or protocol is None:
            problems.append(
                (
                    index,
                    f'{_field(index, "ContainerPorts")}: "{text}" is not {shape}'
                    " (port 1-65535, protocol TCP, UDP or TCPUDP)",
                )
            )
            continue
        if containers is not None and container not in containers:
            problems.append(
                (
                    index,
                    f'{_field(index, "ContainerPorts")}: container "{container}" is not in'
                    " the pod template",
                )
            )
            continue
        found.append(ContainerPort(container, port, protocol))
    return found, problems


def _port_protocols(index: int, value: str) -> tuple[list[PortProtocol], list[tuple[int, str]]]:
    found: list[PortProtocol] = []
    problems: list[tuple[int, str]] = []
    for item in value.split(","):
        text = item.strip()
        port_text, _, proto_text = text.partition("/")
        port = _port(port_text)
        protocol = _protocol(proto_text or "TCP")
        if port is None or protocol is None:
            problems.append(
                (
                    index,
                    f'{_field(index, "PortProtocols")}: "{text}" is not <port>/<protocol>'
                    " (port 1-65535, protocol TCP, UDP or TCPUDP)",
                )
            )
            continue
        found.append(PortProtocol(port, protocol))
    return found, problems


def _entries(conf: object) -> tuple[list[tuple[int, str, str]], list[tuple[int, str]]]:
    if conf is None:
        return [], []
    if not isinstance(conf, list):
        return [], [(-1, "network.networkConf: is not a list of {name, value}")]
    entries: list[tuple[int, str, str]] = []
    problems: list[tuple[int, str]] = []
    for index, item in enumerate(conf):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not isinstance(item.get("value", ""), str)
        ):
            problems.append((index, f"network.networkConf[{index}]: is not {{name, value}}"))
            continue
        entries.append((index, str(item["name"]), str(item.get("value", ""))))
    return entries, problems


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
    entries, problems = _entries(conf)
    known = _PARAMS[network_type]
    container_ports: list[ContainerPort] = []
    port_protocols: list[PortProtocol] = []
    fixed = False
    seen: dict[str, int] = {}
    ingress: dict[str, str] = {}
    annotations: list[tuple[str, str]] = []
    for index, name, value in entries:
        if name not in known:
            problems.append(
                (
                    index,
                    f"{_field(index, name)}: unknown parameter for {network_type}"
                    f" (known: {', '.join(known)})",
                )
            )
            continue
        if name == "ContainerPorts":
            found, bad = _container_ports(index, value, containers)
            container_ports += found
            problems += bad
        elif name == "PortProtocols":
            if name in seen:
                problems.append((index, f"{_field(index, name)}: given more than once"))
                continue
            found_pp, bad = _port_protocols(index, value)
            port_protocols += found_pp
            problems += bad
        elif name == "Annotation":
            key, sep, note = value.partition(":")
            if not sep or not key.strip():
                problems.append((index, f'{_field(index, name)}: "{value}" is not <key>: <value>'))
            annotations.append((key.strip(), note.strip()))
        elif name == "Port":
            if _port(value) is None:
                problems.append((index, f'{_field(index, name)}: "{value}" is not a port 1-65535'))
            ingress[name] = value
        elif name == "PathType":
            if value not in _PATH_TYPES:
                problems.append(
                    (
                        index,
                        f'{_field(index, name)}: "{value}" is not one of {", ".join(_PATH_TYPES)}',
                    )
                )
            ingress[name] = value
        elif name == "Path":
            if not value.startswith("/"):
                problems.append((index, f'{_field(index, name)}: "{value}" does not start with /'))
            ingress[name] = value
        elif name in ("IngressClassName", "Host", "TlsHosts", "TlsSecretName"):
            ingress[name] = value
        elif name == "Fixed":
            if value.lower() not in ("true", "false"):
                problems.append((index, f'{_field(index, name)}: "{value}" is not true or false'))
            fixed = value.lower() == "true"
        seen.setdefault(name, index)
    result: NetworkConf
    if network_type == INGRESS:
        for needed in ("Path", "Port"):
            if needed not in seen:
                problems.append((-1, f"network.networkConf: {network_type} needs {needed}"))
        result = IngressConf(
            path=ingress.get("Path", "/"),
            port=_port(ingress.get("Port", "")) or 0,
            path_type=ingress.get("PathType", "ImplementationSpecific"),
            ingress_class=ingress.get("IngressClassName", ""),
            host=ingress.get("Host", ""),
            tls_hosts=tuple(h.strip() for h in ingress.get("TlsHosts", "").split(",") if h.strip()),
            tls_secret=ingress.get("TlsSecretName", ""),
            annotations=tuple(annotations),
            fixed=fixed,
        )
    elif network_type == HOST_PORT:
        pairs = [(p.container, p.port) for p in container_ports]
        if len(set(pairs)) != len(pairs):
            problems.append(
                (
                    seen.get("ContainerPorts", -1),
                    f"{_field(seen.get('ContainerPorts', 0), 'ContainerPorts')}:"
                    " a container port is listed more than once",
                )
            )
        if not container_ports and "ContainerPorts" not in seen:
            problems.append((-1, f"network.networkConf: {network_type} needs ContainerPorts"))
        result = HostPortConf(tuple(container_ports))
    else:
        ports = [p.port for p in port_protocols]
        if len(set(ports)) != len(ports):
            problems.append(
                (
                    seen["PortProtocols"],
                    f"{_field(seen['PortProtocols'], 'PortProtocols')}:"
                    " a port is listed more than once",
                )
            )
        if not port_protocols and "PortProtocols" not in seen:
            problems.append((-1, f"network.networkConf: {network_type} needs PortProtocols"))
        result = NodePortConf(tuple(port_protocols), fixed)
    if problems:
        raise NetworkConfError(problems)
    return result


def validate_network_conf(network_type: str, conf: object) -> list[tuple[int, str]]:
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
