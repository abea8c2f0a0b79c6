"""`AlibabaCloud-AutoNLBs`'s parameters: NLBs created on demand as the set grows, one
LoadBalancer Service per line (`EipIspTypes`) and block of ordinals, each ordinal's ports at a
fixed place in its block's NLB port range (the agent's part is `agent.core.network.auto_nlbs`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from . import alibaba, checks, params

if TYPE_CHECKING:
    from collections.abc import Sequence

NETWORK_TYPE = "AlibabaCloud-AutoNLBs"
ISP_TYPES = ("BGP", "BGP_PRO", "ChinaTelecom", "ChinaMobile", "ChinaUnicom", "intranet")
SECURITY_PROTECTION = ("AntiDDoS_Enhanced",)


def _zone_maps(value: str) -> str | None:
    vpc, sep, zones = value.partition("@")
    pairs = [z.partition(":") for z in zones.split(",")]
    if sep and vpc.strip() and zones and all(z.strip() and s and v.strip() for z, s, v in pairs):
        return None
    return "is not <vpc-id>@<zone>:<vswitch>,…"


def _count(value: str) -> str | None:
    return None if value.isdigit() else "is not a whole number 0 or more"


KNOWN = {
    "PortProtocols": checks.port_protocols,
    "ZoneMaps": _zone_maps,
    "MinPort": checks.port,
    "MaxPort": checks.port,
    "BlockPorts": checks.ports,
    "ReserveNlbNum": _count,
    "EipIspTypes": checks.listed(*ISP_TYPES),
    "ExternalTrafficPolicyType": checks.choice("Local", "Cluster"),
    "RetainNLBOnDelete": checks.boolean,
    "SecurityProtectionTypes": checks.listed(*SECURITY_PROTECTION),
    **alibaba.nlb_health_checks(),
}


@dataclasses.dataclass(frozen=True)
class AutoNlbsConf:
    ports: tuple[params.PortProtocol, ...]
    zone_maps: str
    port_range: tuple[int, int] = (1000, 1499)
    blocked: tuple[int, ...] = ()
    reserve: int = 1
    isp_types: tuple[str, ...] = ("BGP",)
    traffic_policy: str = "Local"
    retain: bool = True
    security_protection: tuple[str, ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    """The NLB health-check annotations."""

    @property
    def usable(self) -> list[int]:
        """The NLB ports handed out, in order: the range less the blocked ports."""
        low, high = self.port_range
        return [p for p in range(low, high + 1) if p not in self.blocked]

    @property
    def per_service(self) -> int:
        """Servers per Service (per NLB)."""
        return len(self.usable) // max(1, len(self.ports))

    def block(self, ordinal: int) -> int:
        return ordinal // max(1, self.per_service)

    def lb_ports(self, ordinal: int) -> list[int]:
        """The server's NLB port per `PortProtocols` entry."""
        usable, first = self.usable, (ordinal % max(1, self.per_service)) * len(self.ports)
        return [usable[first + j] for j in range(len(self.ports))]


def parse(found: Sequence[tuple[int, str, str]]) -> tuple[AutoNlbsConf, list[params.Problem]]:
    table, problems = checks.parse_table(
        NETWORK_TYPE, found, KNOWN, required=("PortProtocols", "ZoneMaps")
    )
    ports, _ = params.port_protocols(0, table.get("PortProtocols", "0"))
    reserve = table.get("ReserveNlbNum", "1")
    blocked = tuple(params.port(p) or 0 for p in table.items("BlockPorts"))
    port_range, bad = checks.port_range(table, (1000, 1499), blocked)
    problems += bad
    conf = AutoNlbsConf(
        ports=tuple(ports),
        zone_maps=table.get("ZoneMaps"),
        port_range=port_range,
        blocked=blocked,
        reserve=int(reserve) if reserve.isdigit() else 1,
        isp_types=table.items("EipIspTypes") or ("BGP",),
        traffic_policy=table.get("ExternalTrafficPolicyType", "Local"),
        retain=table.flag("RetainNLBOnDelete", True),
        security_protection=table.items("SecurityProtectionTypes"),
        annotations=alibaba.nlb_health_annotations(table),
    )
    if not bad and ports and conf.per_service < 1:
        at = table.index("PortProtocols")
        problems.append(
            (at, f"{params.field(at, 'PortProtocols')}: {len(ports)} ports do not fit in"
                 f" {port_range[0]}-{port_range[1]} less BlockPorts")
        )  # fmt: skip
    return conf, problems
