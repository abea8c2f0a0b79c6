"""JD Cloud's NLB: the `jdcloud-load-balancer-spec` annotation its cloud controller reads, one
listener per Service port, as OKG's JdCloud-NLB writes it. Pure."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from okg.network import jdcloud

if TYPE_CHECKING:
    from collections.abc import Mapping


def spec_annotation(lb_id: str, protocols: list[str], settings: Mapping[str, str]) -> str:
    """The NLB spec: one listener per Service port (its protocol), the backend algorithm and
    the idle timeout from the settings (OKG's defaults: RoundRobin, 600 s)."""
    algorithm = settings.get(jdcloud.ALGORITHM) or jdcloud.DEFAULT_ALGORITHM
    idle = int(settings.get(jdcloud.IDLE_TIME) or jdcloud.DEFAULT_IDLE_SECONDS)
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
