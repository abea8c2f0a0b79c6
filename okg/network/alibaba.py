"""What Alibaba Cloud's NLB plugins share (AutoNLBs, Multi-NLBs): the NLB health-check
parameters as OKG defines them, turned into the cloud controller manager's Service annotations.
Pure."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from . import checks

if TYPE_CHECKING:
    from collections.abc import Callable

PREFIX = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
NLB_CLASS = "alibabacloud.com/nlb"
ID_ANNOTATION = f"{PREFIX}id"
FORCE_OVERRIDE = f"{PREFIX}force-override-listeners"
PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name"
"""A Service labelled with a proxy name kube-proxy does not serve: the load balancer reaches
the pods directly (OKG labels its NLB Services `dummy`)."""


def _lower_choice(*allowed: str) -> Callable[[str], str | None]:
    inner = checks.choice(*allowed)
    return lambda value: inner(value.lower())


def _uri(value: str) -> str | None:
    return None if value.startswith("/") and 1 <= len(value) <= 80 else "is not /path (1-80)"


def _domain(value: str) -> str | None:
    if (
        1 <= len(value) <= 80
        and re.fullmatch(r"[a-z0-9.-]+", value)
        and value[0] not in "-."
        and value[-1] not in "-."
        and not re.search(r"--|\.\.", value)
    ):
        return None
    return "is not a domain (1-80 of a-z, 0-9, - and .)"


def _port_or_zero(value: str) -> str | None:
    return None if value.isdigit() and int(value) <= 65535 else "is not a port 0-65535"


# Parameter -> (annotation suffix, check, OKG's default when the check is on).
NLB_HEALTH: dict[str, tuple[str, Callable[[str], str | None], str]] = {
    "LBHealthCheckFlag": ("health-check-flag", _lower_choice("on", "off"), "on"),
    "LBHealthCheckType": ("health-check-type", _lower_choice("tcp", "http"), "tcp"),
    "LBHealthCheckConnectPort": ("health-check-connect-port", _port_or_zero, "0"),
    "LBHealthCheckConnectTimeout": ("health-check-connect-timeout", checks.between(1, 300), "5"),
    "LBHealthCheckInterval": ("health-check-interval", checks.between(1, 50), "10"),
    "LBHealthyThreshold": ("healthy-threshold", checks.between(2, 10), "2"),
    "LBUnhealthyThreshold": ("unhealthy-threshold", checks.between(2, 10), "2"),
    "LBHealthCheckUri": ("health-check-uri", _uri, ""),
    "LBHealthCheckDomain": ("health-check-domain", _domain, ""),
    "LBHealthCheckMethod": ("health-check-method", _lower_choice("get", "head"), ""),
}
_HTTP_ONLY = ("LBHealthCheckUri", "LBHealthCheckDomain", "LBHealthCheckMethod")


def nlb_health_checks() -> dict[str, Callable[[str], str | None]]:
    return {name: check for name, (_, check, _) in NLB_HEALTH.items()}


def nlb_health_annotations(found: checks.Found) -> tuple[tuple[str, str], ...]:
    """As OKG writes them: the flag always; with the check on, its settings (OKG's defaults
    where not given), and the HTTP ones for an HTTP check."""
    flag = found.get("LBHealthCheckFlag", "on").lower()
    notes = [(f"{PREFIX}health-check-flag", flag)]
    if flag != "on":
        return tuple(notes)
    http = found.get("LBHealthCheckType", "tcp").lower() == "http"
    for name, (suffix, _, default) in NLB_HEALTH.items():
        if name == "LBHealthCheckFlag" or (name in _HTTP_ONLY and not http):
            continue
        value = found.get(name, default)
        if value:
            lowered = name in ("LBHealthCheckType", "LBHealthCheckMethod")
            notes.append((f"{PREFIX}{suffix}", value.lower() if lowered else value))
    return tuple(notes)
