"""Where players reach a game server, read from its OKG networkStatus document (pure).

Agones answers an allocation with one address, the node's addresses and the server's ports;
OKG reports ``externalAddresses`` (what players dial: a node, a load balancer) and
``internalAddresses`` (the pod), each with its ports. The external ones win when there are any.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence


@dataclasses.dataclass(frozen=True)
class Endpoints:
    # The first external address (its IP, else its DNS name), else the first internal one.
    address: str = ""
    # (type, address) like a Kubernetes NodeAddress: ExternalIP, ExternalDNS, InternalIP.
    addresses: tuple[tuple[str, str], ...] = ()
    # (name, port) of every port of the addresses ``address`` was taken from, in order, once.
    ports: tuple[tuple[str, int], ...] = ()


def endpoints(network_status: Mapping[str, object]) -> Endpoints:
    external = _entries(network_status.get("externalAddresses"))
    internal = _entries(network_status.get("internalAddresses"))
    addresses: list[tuple[str, str]] = []
    for kind, entries in (("External", external), ("Internal", internal)):
        for entry in entries:
            for suffix, key in (("IP", "ip"), ("DNS", "endPoint")):
                value = entry.get(key)
                if isinstance(value, str) and value and (kind + suffix, value) not in addresses:
                    addresses.append((kind + suffix, value))
    primary = external or internal
    address = str(primary[0].get("ip") or primary[0].get("endPoint") or "") if primary else ""
    ports: list[tuple[str, int]] = []
    for entry in primary:
        for port in _entries(entry.get("ports")):
            number = _port_number(port.get("port"))
            named = (str(port.get("name") or ""), number or 0)
            if number is not None and named not in ports:
                ports.append(named)
    return Endpoints(address, tuple(addresses), tuple(ports))


def _entries(value: object) -> list[Mapping[str, object]]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _port_number(value: object) -> int | None:
    """A port as a number; a protobuf Struct holds numbers as floats, OKG may write a string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return value if isinstance(value, int) and 0 < value < 65536 else None
