"""JD Cloud's NLB parameters as OKG's JdCloud-NLB names them (after the annotations its cloud
controller reads), with OKG's defaults."""

from __future__ import annotations

from . import checks

PREFIX = "service.beta.kubernetes.io/jdcloud-"
ID = f"{PREFIX}loadbalancer-id"
SPEC = f"{PREFIX}load-balancer-spec"
ALGORITHM = f"{PREFIX}lb-algorithm"
IDLE_TIME = f"{PREFIX}lb-idle-time"
ALGORITHMS = ("RoundRobin", "LeastConn", "IpHash")
DEFAULT_ALGORITHM = "RoundRobin"
DEFAULT_IDLE_SECONDS = 600

SETTINGS = {
    ALGORITHM: checks.choice(*ALGORITHMS),
    IDLE_TIME: checks.between(1, 86400),
}
"""OKG names these two parameters after the annotations; they go into the spec annotation."""
