"""`AlibabaCloud-SLB-SharedPort` and `AlibabaCloud-NLB-SharedPort`'s parameters: every server
of the set behind the same ports of an existing load balancer (the agent's part is
`agent.core.network.shared_port`)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from . import checks, params

if TYPE_CHECKING:
    from collections.abc import Sequence

SLB = "AlibabaCloud-SLB-SharedPort"
NLB = "AlibabaCloud-NLB-SharedPort"


def _selector(value: str) -> str | None:
    key, sep, label = value.partition("=")
    return None if sep and key.strip() and label.strip() else "is not <key>=<value>"


KNOWN = {
    SLB: {
        "SlbIds": checks.ids,
        "PortProtocols": checks.port_protocols,
        "ManagedServiceNames": checks.ids,
        "ManagedServiceSelector": _selector,
    },
    NLB: {"NlbIds": checks.text, "PortProtocols": checks.port_protocols},
}
_IDS = {SLB: "SlbIds", NLB: "NlbIds"}


@dataclasses.dataclass(frozen=True)
class SharedPortConf:
    network_type: str
    lb_ids: tuple[str, ...]
    ports: tuple[params.PortProtocol, ...]
    managed_services: tuple[str, ...] = ()
    managed_selector: tuple[str, str] | None = None

    @property
    def nlb(self) -> bool:
        return self.network_type == NLB


def parse(
    network_type: str, found: Sequence[tuple[int, str, str]]
) -> tuple[SharedPortConf, list[params.Problem]]:
    ids_param = _IDS[network_type]
    table, problems = checks.parse_table(
        network_type, found, KNOWN[network_type], required=(ids_param, "PortProtocols")
    )
    if network_type == NLB and "," in table.get(ids_param):
        at = table.index(ids_param)
        problems.append((at, f"{params.field(at, ids_param)}: names one NLB"))
    ports, _ = params.port_protocols(0, table.get("PortProtocols", "0"))
    selector = table.get("ManagedServiceSelector")
    key, _, value = selector.partition("=")
    return SharedPortConf(
        network_type=network_type,
        lb_ids=table.items(ids_param),
        ports=tuple(ports),
        managed_services=table.items("ManagedServiceNames"),
        managed_selector=(key.strip(), value.strip()) if selector else None,
    ), problems
