"""`AlibabaCloud-Multi-NLBs`'s parameters: one server reachable through several existing NLBs
at once (one per line), on the same ports on each. `NlbIdNames=<id>/<line>,…` lists the NLBs
with their line; the i-th NLB of every line form group i (the agent's part is
`agent.core.network.multi_nlbs`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from . import alibaba, checks, params

if TYPE_CHECKING:
    from collections.abc import Sequence

NETWORK_TYPE = "AlibabaCloud-Multi-NLBs"
DEFAULT_RANGE = (1000, 1502)
DEFAULT_BLOCKED = (1025, 1434, 1068)
"""OKG's NLB port range and blocked ports (its controller's configuration)."""


def _id_names(value: str) -> str | None:
    pairs = [item.strip().partition("/") for item in value.split(",") if item.strip()]
    if not pairs or not all(i.strip() and s and n.strip() for i, s, n in pairs):
        return "is not <nlb-id>/<line>,…"
    ids = [i.strip() for i, _, _ in pairs]
    if len(set(ids)) != len(ids):
        return "lists an NLB more than once"
    counts: dict[str, int] = {}
    for _, _, name in pairs:
        counts[name.strip()] = counts.get(name.strip(), 0) + 1
    if len(set(counts.values())) != 1:
        return "does not list the same number of NLBs for every line"
    return None


KNOWN = {
    "NlbIdNames": _id_names,
    "PortProtocols": checks.port_protocols,
    "Fixed": checks.boolean,
    "ExternalTrafficPolicyType": checks.choice("Local", "Cluster"),
    "AllocatePolicy": checks.choice("default", "balanced"),
    "MinPort": checks.port,
    "MaxPort": checks.port,
    "BlockPorts": checks.ports,
    **alibaba.nlb_health_checks(),
}


@dataclasses.dataclass(frozen=True)
class MultiNlbsConf:
    lines: tuple[str, ...]
    """The line names, in the order first listed."""
    groups: tuple[tuple[str, ...], ...]
    """Group i: the i-th NLB of each line, in the order of `lines`."""
    ports: tuple[params.PortProtocol, ...]
    port_range: tuple[int, int] = DEFAULT_RANGE
    blocked: tuple[int, ...] = DEFAULT_BLOCKED
    fixed: bool = False
    balanced: bool = False
    traffic_policy: str = "Local"
    annotations: tuple[tuple[str, str], ...] = ()


def parse(found: Sequence[tuple[int, str, str]]) -> tuple[MultiNlbsConf, list[params.Problem]]:
    table, problems = checks.parse_table(
        NETWORK_TYPE, found, KNOWN, required=("NlbIdNames", "PortProtocols")
    )
    lines: list[str] = []
    per_line: dict[str, list[str]] = {}
    if _id_names(table.get("NlbIdNames")) is None:
        for item in table.items("NlbIdNames"):
            lb_id, _, line = item.partition("/")
            if line.strip() not in per_line:
                lines.append(line.strip())
            per_line.setdefault(line.strip(), []).append(lb_id.strip())
    width = min((len(v) for v in per_line.values()), default=0)
    groups = tuple(tuple(per_line[line][i] for line in lines) for i in range(width))
    ports, _ = params.port_protocols(0, table.get("PortProtocols", "0"))
    blocked = (
        tuple(params.port(p) or 0 for p in table.items("BlockPorts"))
        if table.has("BlockPorts")
        else DEFAULT_BLOCKED
    )
    port_range, bad = checks.port_range(table, DEFAULT_RANGE, blocked)
    conf = MultiNlbsConf(
        lines=tuple(lines),
        groups=groups,
        ports=tuple(ports),
        port_range=port_range,
        blocked=blocked,
        fixed=table.flag("Fixed"),
        balanced=table.get("AllocatePolicy") == "balanced",
        traffic_policy=table.get("ExternalTrafficPolicyType", "Local"),
        annotations=alibaba.nlb_health_annotations(table),
    )
    return conf, problems + bad
