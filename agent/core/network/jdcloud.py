"""JD Cloud's NLB: the `jdcloud-load-balancer-spec` annotation its cloud controller reads, one
listener per Service port, as OKG's JdCloud-NLB writes it. Pure."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from . import checks

if TYPE_CHECKING:
    from collections.abc import Mapping

PREFIX = "service.beta.kubernetes.io/jdcloud-"
ID = f"{PREFIX}loadbalancer-id"
SPEC = f"{PREFIX}load-balancer-spec"
ALGORITHM = f"{PREFIX}lb-algorithm"
IDLE_TIME = f"{PREFIX}lb-idle-time"
ALGORITHMS = ("RoundRobin", "LeastConn", "IpHash")
DEFAULT_IDLE_SECONDS = 600

SETTINGS = {
    ALGORITHM: checks.choice(*ALGORITHMS),
    IDLE_TIME: checks.between(1, 86400),
}
"""OKG names these two parameters after the annotations; they go into the spec annotation."""


def spec_annotation(lb_id: str, protocols: list[str], settings: Mapping[str, str]) -> str:
    """The NLB spec: one listener per Service port (its protocol), the backend algorithm and
    the idle timeout from the settings (OKG's defaults: RoundRobin, 600 s)."""
    algorithm = settings.get(ALGORITHM) or "RoundRobin"
    idle = int(settings.get(IDLE_TIME) or DEFAULT_IDLE_SECONDS)
    listeners = [
        {
            "protocol": proto.upper(),
            "connectionIdleTimeSeconds": idle,
            "backend": {"proxyProtocol": False, "algorithm": algorithm},
        }
        for proto in protocols
    ]
    spec = {
        "version": "v1",
        "loadBalancerId": lb_id,
        "loadBalancerType": "nlb",
        "internal": False,
        "listeners": listeners,
    }
    return json.dumps(spec, separators=(",", ":"))
