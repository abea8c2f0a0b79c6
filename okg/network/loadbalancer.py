"""Cloud load-balancer plugins' parameters: one generic path, a profile per cloud.

Each game server gets its own ports on an existing load balancer (one of the ids the set lists)
from the cloud's port range; the profile says which parameters the cloud takes, OKG's defaults
and checks, and the Service annotations they become. The agent's planning (ports, Service
bodies) is in `agent.core.network.loadbalancer`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from . import gcp_global, hwcloud, jdcloud, params
from .checks import between as _between
from .checks import boolean as _boolean
from .checks import choice as _choice
from .checks import text as _text

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


@dataclasses.dataclass(frozen=True)
class CloudProfile:
    """How one cloud's plugin maps onto the generic load-balancer path."""

    network_type: str
    ids_param: str
    """The parameter listing the existing load balancers (comma-separated)."""
    id_annotation: str
    """The Service annotation that binds it to one of them."""
    port_range: tuple[int, int]
    """Ports handed out on each load balancer (inclusive) unless MinPort/MaxPort say otherwise."""
    blocked_ports: tuple[int, ...] = ()
    max_ports: int | None = None
    """A cloud's limit on listeners per load balancer, which bounds the range."""
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Annotations every Service of this cloud carries."""
    load_balancer_class: str = ""
    options: Mapping[str, tuple[str, Callable[[str], str | None]]] = dataclasses.field(
        default_factory=dict
    )
    """Parameter -> (the Service annotation it sets, its check)."""
    required: tuple[str, ...] = ()
    """Parameters besides the ids and PortProtocols that must be given."""
    extra: Mapping[str, Callable[[str], str | None]] = dataclasses.field(default_factory=dict)
    """Parameters kept in `LoadBalancerConf.settings` for the cloud's own objects."""
    load_balancer_service: bool = True
    """The server's Service is of type LoadBalancer (so `ExternalTrafficPolicyType` applies)."""
    max_ports_per_protocol: int | None = None
    """A cloud's limit on one Service's ports of one protocol (GKE forwards at most 5 single
    ports per forwarding rule, and a range beyond that would overlap other servers' ports)."""
    option_defaults: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Options whose annotation is set (to this value) when the parameter is not given."""
    finish: Callable[[dict[str, str]], dict[str, str]] | None = None
    """The options' annotations as the cloud wants them (OKG's conditional ones)."""
    spec_options: Mapping[str, tuple[str, Callable[[str], str | None]]] = dataclasses.field(
        default_factory=dict
    )
    """Parameter -> (the Service spec field it sets, a boolean, its check)."""
    spec_defaults: Mapping[str, bool] = dataclasses.field(default_factory=dict)
    passthrough: Callable[[str], str | None] | None = None
    """Parameters named after one of the cloud's annotations, set as given (the name -> the
    annotation, or None for a name that is not one)."""
    auto_create: str = ""
    """A parameter that, given instead of the ids, asks the cloud for a new load balancer per
    server (its value an annotation of that name)."""
    one_id: bool = False
    """The ids parameter names exactly one load balancer."""
    cross_check: (
        Callable[
            [Mapping[str, int], Mapping[str, str], tuple[params.PortProtocol, ...]],
            list[params.Problem],
        ]
        | None
    ) = None
    """Checks across parameters (name -> index, the extra parameters' values, the ports)."""


_ALIBABA = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
_ALIBABA_OPTIONS: dict[str, tuple[str, Callable[[str], str | None]]] = {
    "LBHealthCheckSwitch": (f"{_ALIBABA}health-check-switch", _choice("on", "off")),
    "LBHealthCheckFlag": (f"{_ALIBABA}health-check-flag", _choice("on", "off")),
    "LBHealthCheckType": (f"{_ALIBABA}health-check-type", _choice("tcp", "http")),
    "LBHealthCheckConnectTimeout": (f"{_ALIBABA}health-check-connect-timeout", _between(1, 300)),
    "LBHealthCheckInterval": (f"{_ALIBABA}health-check-interval", _between(1, 50)),
    "LBHealthCheckUri": (f"{_ALIBABA}health-check-uri", _text),
    "LBHealthCheckDomain": (f"{_ALIBABA}health-check-domain", _text),
    "LBHealthCheckMethod": (f"{_ALIBABA}health-check-method", _choice("head", "get")),
    "LBHealthyThreshold": (f"{_ALIBABA}healthy-threshold", _between(2, 10)),
    "LBUnhealthyThreshold": (f"{_ALIBABA}unhealthy-threshold", _between(2, 10)),
}

ALIBABA_SLB = CloudProfile(
    network_type="AlibabaCloud-SLB",
    ids_param="SlbIds",
    id_annotation=f"{_ALIBABA}id",
    port_range=(500, 700),
    blocked_ports=(593,),
    annotations={f"{_ALIBABA}force-override-listeners": "true"},
    options=_ALIBABA_OPTIONS,
)
ALIBABA_NLB = CloudProfile(
    network_type="AlibabaCloud-NLB",
    ids_param="NlbIds",
    id_annotation=f"{_ALIBABA}id",
    port_range=(1000, 1502),
    blocked_ports=(1025, 1434, 1068),
    annotations={f"{_ALIBABA}force-override-listeners": "true"},
    load_balancer_class="alibabacloud.com/nlb",
    options=_ALIBABA_OPTIONS,
)
TENCENT_CLB = CloudProfile(
    network_type="TencentCloud-CLB",
    ids_param="ClbIds",
    id_annotation="service.kubernetes.io/tke-existed-lbid",
    port_range=(700, 750),
)
VOLCENGINE_CLB = CloudProfile(
    network_type="Volcengine-CLB",
    ids_param="ClbIds",
    id_annotation="service.beta.kubernetes.io/volcengine-loadbalancer-id",
    port_range=(550, 600),
    blocked_ports=(593,),
)

# Google Cloud: a backend-service-based external passthrough Network Load Balancer per server,
# on one of the studio's reserved regional static addresses (named), several servers sharing an
# address on distinct ports.
GOOGLE_CLOUD_NLB = CloudProfile(
    network_type="GoogleCloud-NLB",
    ids_param="AddressNames",
    id_annotation="networking.gke.io/load-balancer-ip-addresses",
    port_range=(7000, 7999),
    annotations={"cloud.google.com/l4-rbs": "enabled"},
    options={"NetworkTier": ("cloud.google.com/network-tier", _choice("Premium", "Standard"))},
    max_ports_per_protocol=5,
    extra={
        gcp_global.PARAM: _choice("true", "false"),
        gcp_global.PROJECT: gcp_global.project_id,
    },
    cross_check=gcp_global.problems,
)
# Azure: rules on the cluster's Standard Load Balancer, on one of the studio's public IPs (by
# name), which cloud-provider-azure lets several Services share on distinct ports.
_AZURE = "service.beta.kubernetes.io/azure-"
AZURE_SLB = CloudProfile(
    network_type="Azure-SLB",
    ids_param="PipNames",
    id_annotation=f"{_AZURE}pip-name",
    port_range=(7000, 7999),
    options={
        "PipResourceGroup": (f"{_AZURE}load-balancer-resource-group", _text),
        "TcpIdleTimeout": (f"{_AZURE}load-balancer-tcp-idle-timeout", _between(4, 30)),
        "SharedSecurityRule": (f"{_AZURE}shared-securityrule", _choice("true", "false")),
    },
)

# Huawei Cloud: an existing ELB (OKG's HwCloud-ELB parameters, CCE's annotations); on CCE, the
# cluster's own annotations as parameters, on one existing ELB or one made per server.
HWCLOUD_ELB = CloudProfile(
    network_type="HwCloud-ELB",
    ids_param="ElbIds",
    id_annotation=hwcloud.ID,
    port_range=(500, 700),
    options=hwcloud.ELB_OPTIONS,
    option_defaults=hwcloud.ELB_DEFAULTS,
    finish=hwcloud.finish_elb,
    spec_options={"PublishNotReadyAddresses": ("publishNotReadyAddresses", _boolean)},
)
HWCLOUD_CCE_ELB = CloudProfile(
    network_type="HwCloud-CCE-ELB",
    ids_param=hwcloud.ID,
    id_annotation=hwcloud.ID,
    port_range=(32768, 65535),
    passthrough=hwcloud.cce_option,
    auto_create=hwcloud.AUTO_CREATE,
    one_id=True,
)


JDCLOUD_NLB = CloudProfile(
    network_type="JdCloud-NLB",
    ids_param="NlbIds",
    id_annotation=jdcloud.ID,
    port_range=(500, 700),
    extra=jdcloud.SETTINGS,
    spec_options={"AllocateLoadBalancerNodePorts": ("allocateLoadBalancerNodePorts", _boolean)},
)

_AWS_HEALTH_CHECK = {
    # Targets of type ip are always health-checked: AWS refuses a target group that is not.
    "healthCheckEnabled": _choice("true"),
    "healthCheckIntervalSeconds": _between(5, 300),
    "healthCheckPath": _text,
    "healthCheckPort": _text,
    "healthCheckProtocol": _choice("TCP", "HTTP", "HTTPS"),
    "healthCheckTimeoutSeconds": _between(2, 120),
    "healthyThresholdCount": _between(2, 10),
    "unhealthyThresholdCount": _between(2, 10),
}


def _aws_health_check(value: str) -> str | None:
    pairs, problems = params.key_values(0, "NlbHealthCheck", value)
    if problems:
        return "is not <key>:<value>,…"
    for key, text in pairs:
        check = _AWS_HEALTH_CHECK.get(key)
        if check is None:
            return f"{key!r} is not one of {', '.join(_AWS_HEALTH_CHECK)}"
        problem = check(text)
        if problem:
            return f"{key} {problem}"
    return None


def _vpc_id(value: str) -> str | None:
    return None if value.startswith("vpc-") else "is not a VPC id (vpc-…)"


AWS_NLB = CloudProfile(
    network_type="AmazonWebServices-NLB",
    ids_param="NlbARNs",
    id_annotation="gamefleet.io/nlb-arn",
    port_range=(30001, 30050),
    max_ports=50,
    required=("NlbVPCId",),
    extra={
        "NlbVPCId": _vpc_id,
        "NlbHealthCheck": _aws_health_check,
        "GlobalAccelerator": _choice("true", "false"),
    },
    load_balancer_service=False,
)

PROFILES: dict[str, CloudProfile] = {
    p.network_type: p
    for p in (
        ALIBABA_SLB,
        ALIBABA_NLB,
        TENCENT_CLB,
        VOLCENGINE_CLB,
        AWS_NLB,
        GOOGLE_CLOUD_NLB,
        AZURE_SLB,
        HWCLOUD_ELB,
        HWCLOUD_CCE_ELB,
        JDCLOUD_NLB,
    )
}

_COMMON = (
    "PortProtocols",
    "Fixed",
    "AllocatePolicy",
    "MinPort",
    "MaxPort",
    "BlockPorts",
    "ExternalTrafficPolicyType",
    "Annotations",
)


def known_params(profile: CloudProfile) -> tuple[str, ...]:
    common = tuple(
        p for p in _COMMON if profile.load_balancer_service or p != "ExternalTrafficPolicyType"
    )
    auto = (profile.auto_create,) if profile.auto_create else ()
    return (
        profile.ids_param,
        *auto,
        *common,
        *profile.options,
        *profile.extra,
        *profile.spec_options,
    )


@dataclasses.dataclass(frozen=True)
class LoadBalancerConf:
    """A set's parameters for one cloud's load balancers."""

    network_type: str
    lb_ids: tuple[str, ...]
    ports: tuple[params.PortProtocol, ...]
    port_range: tuple[int, int]
    blocked_ports: tuple[int, ...] = ()
    fixed: bool = False
    balanced: bool = False
    """`AllocatePolicy=balanced`: the load balancer with the most free ports, not the first."""
    external_traffic_policy: str = ""
    annotations: tuple[tuple[str, str], ...] = ()
    """The options' annotations, then the user's `Annotations` (which win over the profile's,
    but not over the load balancer id)."""
    settings: tuple[tuple[str, str], ...] = ()
    """The profile's extra parameters as given (e.g. the AWS VPC id and health check)."""
    spec: tuple[tuple[str, bool], ...] = ()
    """Service spec fields the parameters set (e.g. `publishNotReadyAddresses`)."""
    auto: bool = False
    """The cloud makes a load balancer per server (`auto_create`): no id to bind."""

    @property
    def profile(self) -> CloudProfile:
        return PROFILES[self.network_type]

    def setting(self, name: str) -> str:
        return dict(self.settings).get(name, "")


def parse_load_balancer(
    profile: CloudProfile, found: list[tuple[int, str, str]]
) -> tuple[LoadBalancerConf, list[params.Problem]]:
    """The conf from well-formed `(index, name, value)` entries, and every problem."""
    known = known_params(profile)
    problems: list[params.Problem] = []
    seen: dict[str, int] = {}
    lb_ids: list[str] = []
    ports: list[params.PortProtocol] = []
    fixed = balanced = False
    low, high = profile.port_range
    blocked: tuple[int, ...] = profile.blocked_ports
    traffic = ""
    option_notes: list[tuple[str, str]] = []
    user_notes: list[tuple[str, str]] = []
    settings: list[tuple[str, str]] = []
    spec: dict[str, bool] = dict(profile.spec_defaults)
    for index, name, value in found:
        where = params.field(index, name)
        passed = profile.passthrough(name) if profile.passthrough is not None else None
        if name not in known and passed is None:
            problems.append(params.unknown(index, name, profile.network_type, known))
            continue
        if name in seen:
            problems.append((index, f"{where}: given more than once"))
            continue
        seen[name] = index
        if passed is not None or name == profile.auto_create:
            option_notes.append((passed or name, value))
        elif name in profile.spec_options:
            field, check = profile.spec_options[name]
            problem = check(value)
            if problem:
                problems.append((index, f'{where}: "{value}" {problem}'))
            spec[field] = value.lower() == "true"
        elif name == profile.ids_param:
            lb_ids = [i.strip() for i in value.split(",") if i.strip()]
            if not lb_ids:
                problems.append((index, f"{where}: lists no load balancer"))
            elif len(set(lb_ids)) != len(lb_ids):
                problems.append((index, f"{where}: a load balancer is listed more than once"))
            elif profile.one_id and len(lb_ids) != 1:
                problems.append((index, f"{where}: names one load balancer"))
        elif name == "PortProtocols":
            found_ports, bad = params.port_protocols(index, value)
            ports, problems = found_ports, problems + bad
            numbers = [p.port for p in found_ports]
            if len(set(numbers)) != len(numbers):
                problems.append((index, f"{where}: a port is listed more than once"))
        elif name == "Fixed":
            fixed, bad = params.boolean(index, name, value)
            problems += bad
        elif name == "AllocatePolicy":
            if value not in ("default", "balanced", ""):
                problems.append((index, f'{where}: "{value}" is not default or balanced'))
            balanced = value == "balanced"
        elif name in ("MinPort", "MaxPort"):
            number = params.port(value)
            if number is None:
                problems.append((index, f'{where}: "{value}" is not a port 1-65535'))
            elif name == "MinPort":
                low = number
            else:
                high = number
        elif name == "BlockPorts":
            texts = [t.strip() for t in value.split(",") if t.strip()]
            numbers_or_none = [params.port(t) for t in texts]
            if any(n is None for n in numbers_or_none):
                problems.append((index, f'{where}: "{value}" is not a list of ports 1-65535'))
            blocked = tuple(n for n in numbers_or_none if n is not None)
        elif name == "ExternalTrafficPolicyType":
            if value not in ("Local", "Cluster"):
                problems.append((index, f'{where}: "{value}" is not Local or Cluster'))
            traffic = value
        elif name == "Annotations":
            pairs, bad = params.key_values(index, name, value)
            user_notes += pairs
            problems += bad
        elif name in profile.options:
            annotation, check = profile.options[name]
            problem = check(value)
            if problem:
                problems.append((index, f'{where}: "{value}" {problem}'))
            option_notes.append((annotation, value))
        else:
            problem = profile.extra[name](value)
            if problem:
                problems.append((index, f'{where}: "{value}" {problem}'))
            settings.append((name, value))
    auto = bool(profile.auto_create) and profile.auto_create in seen
    problems += _ids_or_auto(profile, seen)
    for needed in ("PortProtocols", *profile.required):
        if needed not in seen:
            problems.append((-1, f"network.networkConf: {profile.network_type} needs {needed}"))
    option_notes = _with_defaults(profile, option_notes, seen)
    if profile.max_ports_per_protocol is not None:
        problems += _ports_per_protocol(profile, ports, seen.get("PortProtocols", -1))
    if profile.cross_check is not None:
        problems += profile.cross_check(seen, dict(settings), tuple(ports))
    range_at = seen.get("MaxPort", seen.get("MinPort", -1))
    range_name = "network.networkConf" if range_at < 0 else params.field(range_at, "MaxPort")
    if low > high:
        problems.append((range_at, f"{range_name}: MinPort {low} is above MaxPort {high}"))
    elif profile.max_ports is not None and high - low + 1 > profile.max_ports:
        problems.append(
            (
                range_at,
                f"{range_name}: {low}-{high} is {high - low + 1} ports; a load balancer of"
                f" {profile.network_type} takes at most {profile.max_ports} listeners",
            )
        )
    conf = LoadBalancerConf(
        network_type=profile.network_type,
        lb_ids=tuple(lb_ids),
        ports=tuple(ports),
        port_range=(low, high),
        blocked_ports=blocked,
        fixed=fixed,
        balanced=balanced,
        external_traffic_policy=traffic,
        annotations=tuple(option_notes + user_notes),
        settings=tuple(settings),
        spec=tuple(spec.items()),
        auto=auto,
    )
    return conf, problems


def _ids_or_auto(profile: CloudProfile, seen: Mapping[str, int]) -> list[params.Problem]:
    ids, auto = profile.ids_param, profile.auto_create
    if auto and ids in seen and auto in seen:
        at = max(seen[ids], seen[auto])
        return [(at, f"{params.field(at, auto)}: not with {ids} (one or the other)")]
    if ids in seen or (auto and auto in seen):
        return []
    either = f"{ids} or {auto}" if auto else ids
    return [(-1, f"network.networkConf: {profile.network_type} needs {either}")]


def _with_defaults(
    profile: CloudProfile, notes: list[tuple[str, str]], seen: Mapping[str, int]
) -> list[tuple[str, str]]:
    """The options' annotations, OKG's defaults for those not given, as the cloud wants them."""
    found = list(notes)
    for name, default in profile.option_defaults.items():
        if name not in seen and default:
            found.append((profile.options[name][0], default))
    if profile.finish is None:
        return found
    return list(profile.finish(dict(found)).items())


def _ports_per_protocol(
    profile: CloudProfile, ports: list[params.PortProtocol], index: int
) -> list[params.Problem]:
    limit = profile.max_ports_per_protocol or 0
    for proto in ("TCP", "UDP"):
        count = sum(1 for p in ports if proto in p.protocol.kube())
        if count > limit:
            return [
                (
                    index,
                    f"{params.field(index, 'PortProtocols')}: {count} {proto} ports; a server of"
                    f" {profile.network_type} takes at most {limit} per protocol",
                )
            ]
    return []
