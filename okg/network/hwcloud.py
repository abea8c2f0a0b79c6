"""Huawei Cloud's ELB annotations (CCE's `kubernetes.io/elb.*`), as OKG's HwCloud-ELB sets
them from its parameters, with OKG's defaults. Pure data for the load-balancer profiles."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from . import checks

if TYPE_CHECKING:
    from collections.abc import Callable

ELB = "kubernetes.io/elb."
ID = f"{ELB}id"
AUTO_CREATE = f"{ELB}autocreate"
CLASS = f"{ELB}class"
CONNECTION_LIMIT = f"{ELB}connection-limit"
HEALTH_CHECK_FLAG = f"{ELB}health-check-flag"
HEALTH_CHECK_OPTION = f"{ELB}health-check-option"


def _json(value: str) -> str | None:
    try:
        json.loads(value)
    except ValueError:
        return "is not JSON"
    return None


def _upper_choice(*allowed: str) -> Callable[[str], str | None]:
    inner = checks.choice(*allowed)
    return lambda value: inner(value.upper())


def _integer(low: int, high: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        text = value.removeprefix("-")
        if text.isdigit() and low <= int(value) <= high:
            return None
        return f"is not a whole number {low}-{high}"

    return check


# Parameter -> (annotation, check). OKG's ElbSessionAffinityOption and LBHealthCheckOption are
# JSON documents passed as they are.
ELB_OPTIONS: dict[str, tuple[str, Callable[[str], str | None]]] = {
    "ElbClass": (CLASS, checks.choice("dedicated", "shared")),
    "ElbConnLimit": (CONNECTION_LIMIT, _integer(-1, 2147483647)),
    "ElbLbAlgorithm": (
        f"{ELB}lb-algorithm",
        _upper_choice("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"),
    ),
    "ElbSessionAffinityFlag": (f"{ELB}session-affinity-flag", checks.choice("on", "off")),
    "ElbSessionAffinityOption": (f"{ELB}session-affinity-option", _json),
    "ElbTransparentClientIP": (f"{ELB}enable-transparent-client-ip", checks.boolean),
    "ElbXForwardedHost": (f"{ELB}x-forwarded-host", checks.boolean),
    "ElbIdleTimeout": (f"{ELB}idle-timeout", checks.between(0, 4000)),
    "ElbRequestTimeout": (f"{ELB}request-timeout", checks.between(1, 300)),
    "ElbResponseTimeout": (f"{ELB}response-timeout", checks.between(1, 300)),
    "LBHealthCheckFlag": (HEALTH_CHECK_FLAG, checks.choice("on", "off")),
    "LBHealthCheckOption": (HEALTH_CHECK_OPTION, _json),
}
ELB_DEFAULTS = {
    "ElbClass": "dedicated",
    "ElbConnLimit": "-1",
    "ElbLbAlgorithm": "ROUND_ROBIN",
    "ElbSessionAffinityFlag": "off",
    "ElbSessionAffinityOption": "",
    "ElbTransparentClientIP": "false",
    "ElbXForwardedHost": "false",
    "LBHealthCheckFlag": "on",
    "LBHealthCheckOption": "",
}
"""What OKG writes when a parameter is not given (the timeouts are left out then)."""


def finish_elb(notes: dict[str, str]) -> dict[str, str]:
    """OKG's rules: the connection limit only for a shared ELB, the health-check option only
    with the check on; the algorithm upper-case."""
    done = dict(notes)
    if done.get(CLASS) != "shared":
        done.pop(CONNECTION_LIMIT, None)
    if done.get(HEALTH_CHECK_FLAG) != "on":
        done.pop(HEALTH_CHECK_OPTION, None)
    key = f"{ELB}lb-algorithm"
    if key in done:
        done[key] = done[key].upper()
    return done


def cce_option(name: str) -> str | None:
    """HwCloud-CCE-ELB takes CCE's own annotations as parameters (`kubernetes.io/elb.*`)."""
    return name if name.startswith(ELB) and name not in (ID, AUTO_CREATE) else None
