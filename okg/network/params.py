"""The pieces of `networkConf` every plugin shares: `{name, value}` entries, ports, protocols,
booleans, and the problem messages that name the parameter (`network.networkConf[i] Name`)."""

from __future__ import annotations

import dataclasses
import enum


class Protocol(enum.StrEnum):
    TCP = "TCP"
    UDP = "UDP"
    TCPUDP = "TCPUDP"

    def kube(self) -> tuple[str, ...]:
        """The Kubernetes protocols this stands for (TCPUDP is both on one port)."""
        return ("TCP", "UDP") if self is Protocol.TCPUDP else (self.value,)


@dataclasses.dataclass(frozen=True)
class PortProtocol:
    port: int
    protocol: Protocol


Problem = tuple[int, str]
"""(index in networkConf, message); index -1 is the network as a whole."""

PORT_PROTOCOL_SHAPE = "<port>/<protocol> (port 1-65535, protocol TCP, UDP or TCPUDP)"


def field(index: int, name: str) -> str:
    return f"network.networkConf[{index}] {name}"


def port(text: str) -> int | None:
    if not text.isdigit():
        return None
    value = int(text)
    return value if 1 <= value <= 65535 else None


def protocol(text: str) -> Protocol | None:
    try:
        return Protocol(text)
    except ValueError:
        return None


def boolean(index: int, name: str, value: str) -> tuple[bool, list[Problem]]:
    if value.lower() not in ("true", "false"):
        return False, [(index, f'{field(index, name)}: "{value}" is not true or false')]
    return value.lower() == "true", []


def port_protocols(index: int, value: str) -> tuple[list[PortProtocol], list[Problem]]:
    """`<port>/<PROTO>,…` (the protocol defaults to TCP)."""
    found: list[PortProtocol] = []
    problems: list[Problem] = []
    for item in value.split(","):
        text = item.strip()
        port_text, _, proto_text = text.partition("/")
        number = port(port_text)
        proto = protocol(proto_text or "TCP")
        if number is None or proto is None:
            problems.append(
                (index, f'{field(index, "PortProtocols")}: "{text}" is not {PORT_PROTOCOL_SHAPE}')
            )
            continue
        found.append(PortProtocol(number, proto))
    return found, problems


def entries(conf: object) -> tuple[list[tuple[int, str, str]], list[Problem]]:
    """`(index, name, value)` of each well-formed entry, and a problem for each other one."""
    if conf is None:
        return [], []
    if not isinstance(conf, list):
        return [], [(-1, "network.networkConf: is not a list of {name, value}")]
    found: list[tuple[int, str, str]] = []
    problems: list[Problem] = []
    for index, item in enumerate(conf):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not isinstance(item.get("value", ""), str)
        ):
            problems.append((index, f"network.networkConf[{index}]: is not {{name, value}}"))
            continue
        found.append((index, str(item["name"]), str(item.get("value", ""))))
    return found, problems


def unknown(index: int, name: str, network_type: str, known: tuple[str, ...]) -> Problem:
    return (
        index,
        f"{field(index, name)}: unknown parameter for {network_type} (known: {', '.join(known)})",
    )


def key_values(index: int, name: str, value: str) -> tuple[list[tuple[str, str]], list[Problem]]:
    """`key1:value1,key2:value2` (OKG's `Annotations`); the key is everything before the
    first colon, so values may hold colons."""
    found: list[tuple[str, str]] = []
    problems: list[Problem] = []
    for item in value.split(","):
        key, sep, text = item.partition(":")
        if not sep or not key.strip():
            problems.append((index, f'{field(index, name)}: "{item}" is not <key>:<value>'))
            continue
        found.append((key.strip(), text.strip()))
    return found, problems
