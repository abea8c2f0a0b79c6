"""`GameServer.status.networkStatus` (and the pod's `game.kruise.io/network-status`)."""

from __future__ import annotations

import dataclasses
import json

from agent.core import bodies
from okg import vocabulary


@dataclasses.dataclass(frozen=True)
class Port:
    name: str
    protocol: str
    port: int


@dataclasses.dataclass(frozen=True)
class Address:
    ip: str
    ports: tuple[Port, ...]
    end_point: str = ""

    def as_dict(self) -> bodies.NetworkAddress:
        found: bodies.NetworkAddress = {
            "ip": self.ip,
            "ports": [{"name": p.name, "protocol": p.protocol, "port": p.port} for p in self.ports],
        }
        if self.end_point:
            found["endPoint"] = self.end_point
        return found


def port_name(port: int, protocol: str, both: bool) -> str:
    """OKG's names: the port number, with `-tcp`/`-udp` when one port carries both."""
    return f"{port}-{protocol.lower()}" if both else str(port)


def network_status(
    network_type: str,
    internal: list[Address],
    external: list[Address],
    desired: vocabulary.NetworkState,
    current: vocabulary.NetworkState,
    previous: bodies.NetworkStatus | None,
    now_text: str,
    global_addresses: list[Address] | None = None,
) -> bodies.NetworkStatus:
    """The status; `createTime` is kept, `lastTransitionTime` moves only when the current
    state changes, so an unchanged network writes nothing. `globalAddresses` (gamefleet's,
    not OKG's): the server's global entry addresses, once it has had any."""
    previous = previous or {}
    changed = previous.get("currentNetworkState") != current.value
    found: bodies.NetworkStatus = {
        "networkType": network_type,
        "internalAddresses": [a.as_dict() for a in internal],
        "externalAddresses": [a.as_dict() for a in external],
        "desiredNetworkState": desired.value,
        "currentNetworkState": current.value,
        "createTime": previous.get("createTime") or now_text,
        "lastTransitionTime": now_text
        if changed or not previous.get("lastTransitionTime")
        else previous["lastTransitionTime"],
    }
    if global_addresses or "globalAddresses" in previous:
        # Once written, kept (empty when gone): a merge patch cannot drop a key it omits.
        found["globalAddresses"] = [a.as_dict() for a in global_addresses or ()]
    return found


def status_annotation(status: bodies.NetworkStatus) -> str:
    """The pod annotation: the same status as compact JSON with sorted keys (stable)."""
    return json.dumps(status, sort_keys=True, separators=(",", ":"))
