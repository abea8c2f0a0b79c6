"""Parameters of the plugins that give the pod itself a public address (an EIP, or DNAT entries
on a NAT gateway): per cloud, OKG's parameters, their checks and the pod annotations they become
(the agent's part, reading the address back, is `agent.core.network.pod_address`)."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import TYPE_CHECKING

from . import checks, params

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

ALIBABA_EIP = "AlibabaCloud-EIP"
ALIBABA_NATGW = "AlibabaCloud-NATGW"
HW_CCE_EIP = "HwCloud-CCE-EIP"
JD_EIP = "JdCloud-EIP"
VOLCENGINE_EIP = "Volcengine-EIP"
CR_GROUP_VERSION = "alibabacloud.com/v1beta1"
POD_EIP = "podeips"
POD_DNAT = "poddnats"

_ALI = "k8s.aliyun.com/"
VOLC_EIP_ID = "vke.volcengine.com/primary-eip-id"
VOLC_ALLOCATE = "vke.volcengine.com/primary-eip-allocate"
VOLC_ATTRIBUTES = "vke.volcengine.com/primary-eip-attributes"


def _release_strategy(value: str) -> str | None:
    if value in ("Follow", "Never") or re.fullmatch(r"(\d+(\.\d+)?(h|m|s|ms))+", value):
        return None
    return "is not Follow, Never or a duration (e.g. 5m30s)"


def _whole(value: str) -> str | None:
    return None if value.isdigit() and int(value) > 0 else "is not a whole number above 0"


@dataclasses.dataclass(frozen=True)
class Profile:
    network_type: str
    known: Mapping[str, Callable[[str], str | None]]
    annotations: Callable[[checks.Found], list[tuple[str, str]]]
    """The pod's annotations from the parameters."""
    per_pod: Callable[[str, str], dict[str, str]] = lambda namespace, name: {}
    """Annotations naming the pod's own address (namespace, pod name)."""
    required: tuple[str, ...] = ()
    one_of: tuple[str, ...] = ()
    """At least one of these must be given."""
    resource: str = ""
    """The custom resource (plural, in `CR_GROUP_VERSION`) the address is reported in."""


def _mapped(
    table: Mapping[str, str], *always: tuple[str, str]
) -> Callable[[checks.Found], list[tuple[str, str]]]:
    """`always`, then each given parameter as the annotation `table` names for it."""
    return lambda found: [
        *always,
        *((table[name], found.get(name)) for name in table if found.has(name)),
    ]


_ALIBABA_EIP_NOTES = {
    "ReleaseStrategy": f"{_ALI}pod-eip-release-strategy",
    "PoolId": f"{_ALI}eip-public-ip-address-pool-id",
    "ResourceGroupId": f"{_ALI}eip-resource-group-id",
    "Bandwidth": f"{_ALI}eip-bandwidth",
    "BandwidthPackageId": f"{_ALI}eip-common-bandwidth-package-id",
    "ChargeType": f"{_ALI}eip-internet-charge-type",
    "Description": f"{_ALI}eip-description",
}
_NATGW_NOTES = {
    "Ports": f"{_ALI}pod-dnat-expose-port",
    "Protocol": f"{_ALI}pod-dnat-expose-protocol",
    "Fixed": f"{_ALI}pod-dnat-fixed",
}
_HW_NOTES = (
    "yangtse.io/pod-with-eip",
    "yangtse.io/eip-bandwidth-size",
    "yangtse.io/eip-network-type",
    "yangtse.io/eip-charge-mode",
    "yangtse.io/eip-bandwidth-name",
    "yangtse.io/eip-bandwidth-id",
    "yangtse.io/eip-id",
    "yangtse.io/security-group-ids",
    "yangtse.io/additional-security-group-ids",
)
_JD_NOTES = {
    "Bandwidth": "jdos.jd.com/eip.bandwith",
    "ChargeType": "jdos.jd.com/eip.chargeMode",
    "Fixed": "jdos.jd.com/eip.static",
}
_VOLC_ATTRIBUTES = (
    "name",
    "isp",
    "projectName",
    "bandwidth",
    "bandwidthPackageId",
    "billingType",
    "description",
)


def _volcengine(found: checks.Found) -> list[tuple[str, str]]:
    """An existing EIP by id, or a new one with these attributes (OKG's default when none)."""
    if found.has(VOLC_EIP_ID):
        return [(VOLC_EIP_ID, found.get(VOLC_EIP_ID))]
    attributes: dict[str, object] = {}
    for name in _VOLC_ATTRIBUTES:
        if found.has(name):
            value = found.get(name)
            attributes[name] = int(value) if name in ("bandwidth", "billingType") else value
    if not attributes:
        attributes["description"] = "Created by the gamefleet Volcengine EIP plugin."
    return [
        (VOLC_ALLOCATE, '{"type": "Elastic"}'),
        (VOLC_ATTRIBUTES, json.dumps(attributes, separators=(",", ":"), sort_keys=True)),
    ]


PROFILES: dict[str, Profile] = {
    p.network_type: p
    for p in (
        Profile(
            ALIBABA_EIP,
            known={
                "ReleaseStrategy": _release_strategy,
                "PoolId": checks.text,
                "ResourceGroupId": checks.text,
                "Bandwidth": _whole,
                "BandwidthPackageId": checks.text,
                "ChargeType": checks.choice("PayByTraffic", "PayByBandwidth"),
                "Description": checks.text,
            },
            annotations=_mapped(_ALIBABA_EIP_NOTES, (f"{_ALI}pod-with-eip", "true")),
            per_pod=lambda namespace, name: {f"{_ALI}eip-name": f"{namespace}/{name}"},
            resource=POD_EIP,
        ),
        Profile(
            ALIBABA_NATGW,
            known={
                "Ports": checks.ports,
                "Protocol": checks.choice("tcp", "udp"),
                "Fixed": checks.boolean,
            },
            annotations=_mapped(_NATGW_NOTES, (f"{_ALI}pod-dnat", "true")),
            required=("Ports",),
            resource=POD_DNAT,
        ),
        Profile(
            HW_CCE_EIP,
            known={
                **dict.fromkeys(_HW_NOTES, checks.text),
                "yangtse.io/pod-with-eip": checks.choice("true", "false"),
                "yangtse.io/eip-bandwidth-size": _whole,
            },
            annotations=lambda found: [(n, found.get(n)) for n in _HW_NOTES if found.has(n)],
            one_of=("yangtse.io/pod-with-eip", "yangtse.io/eip-id"),
        ),
        Profile(
            JD_EIP,
            known={"Bandwidth": _whole, "ChargeType": checks.text, "Fixed": checks.boolean},
            annotations=_mapped(_JD_NOTES, ("jdos.jd.com/eip.enable", "true")),
            per_pod=lambda namespace, name: {"jdos.jd.com/eip-name": f"{namespace}/{name}"},
        ),
        Profile(
            VOLCENGINE_EIP,
            known={
                VOLC_EIP_ID: checks.text,
                **dict.fromkeys(_VOLC_ATTRIBUTES, checks.text),
                "bandwidth": _whole,
                "billingType": checks.choice("2", "3"),
            },
            annotations=_volcengine,
        ),
    )
}


@dataclasses.dataclass(frozen=True)
class PodAddressConf:
    network_type: str
    annotations: tuple[tuple[str, str], ...]
    ports: tuple[int, ...] = ()
    """AlibabaCloud-NATGW: the pod ports given DNAT entries."""

    @property
    def profile(self) -> Profile:
        return PROFILES[self.network_type]


def parse(
    network_type: str, found: Sequence[tuple[int, str, str]]
) -> tuple[PodAddressConf, list[params.Problem]]:
    profile = PROFILES[network_type]
    table, problems = checks.parse_table(network_type, found, profile.known, profile.required)
    if profile.one_of and not any(table.has(n) for n in profile.one_of):
        problems.append(
            (-1, f"network.networkConf: {network_type} needs {' or '.join(profile.one_of)}")
        )
    if network_type == VOLCENGINE_EIP and table.has(VOLC_EIP_ID):
        extra = [n for n in _VOLC_ATTRIBUTES if table.has(n)]
        for name in extra:
            at = table.index(name)
            problems.append(
                (at, f"{params.field(at, name)}: not with {VOLC_EIP_ID} (an existing EIP)")
            )
    notes = profile.annotations(table) if not problems else []
    ports = tuple(params.port(p) or 0 for p in table.items("Ports"))
    return PodAddressConf(network_type, tuple(notes), ports), problems
