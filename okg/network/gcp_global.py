"""Global entry addresses on Google Cloud (`GlobalAddress=true` on a `GoogleCloud-NLB` set): the
parameters and their checks. The objects are planned in `agent.core.network.gcp_global`.

A global external proxy Network Load Balancer carries TCP only (Google Cloud has no global load
balancer for UDP), so a set asking for global addresses may list TCP ports only.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from . import params

if TYPE_CHECKING:
    from collections.abc import Mapping

PARAM = "GlobalAddress"
PROJECT = "GlobalProjectId"
_PROJECT_ID = re.compile(r"[a-z][-a-z0-9]{4,28}[a-z0-9]")


def project_id(value: str) -> str | None:
    """Google Cloud's project id shape: 6-30 of lowercase letters, digits and hyphens."""
    if _PROJECT_ID.fullmatch(value):
        return None
    return "is not a Google Cloud project id (6-30 lowercase letters, digits, hyphens)"


def problems(
    seen: Mapping[str, int], settings: Mapping[str, str], ports: tuple[params.PortProtocol, ...]
) -> list[params.Problem]:
    """What `GlobalAddress=true` needs of the rest of the set's parameters."""
    if settings.get(PARAM) != "true":
        return []
    at = seen[PARAM]
    found: list[params.Problem] = []
    if PROJECT not in seen:
        found.append((at, f"{params.field(at, PARAM)}: true needs {PROJECT} (the project of"
                          " the global load balancer's objects)"))  # fmt: skip
    udp = [p.port for p in ports if "UDP" in p.protocol.kube()]
    if udp:
        where = seen.get("PortProtocols", at)
        found.append((where, f"{params.field(where, 'PortProtocols')}: {PARAM}=true supports TCP"
                             f" ports only (Google Cloud has no global load balancer for UDP);"
                             f" UDP on {', '.join(map(str, udp))}"))  # fmt: skip
    return found
