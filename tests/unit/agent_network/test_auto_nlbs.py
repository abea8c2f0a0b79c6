"""AlibabaCloud-AutoNLBs: parameters and OKG's defaults, the set's Services per line and block,
each server's ports from its ordinal, isolation by its ports' targets, readiness."""

from __future__ import annotations

from typing import Any

import pytest

from agent.core.network import auto_nlbs
from okg import vocabulary
from okg.network import auto_nlbs as auto_nlbs_conf
from okg.network import conf as nconf

ZONES = "vpc-1@cn-hangzhou-h:vsw-a,cn-hangzhou-i:vsw-b"
PREFIX = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
OWNER = {"kind": "GameServerSet", "name": "gs", "uid": "set-uid"}


def _c(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": n, "value": v} for n, v in pairs]


def _parse(*pairs: tuple[str, str]) -> auto_nlbs_conf.AutoNlbsConf:
    parsed = nconf.parse_network(auto_nlbs_conf.NETWORK_TYPE, _c(("ZoneMaps", ZONES), *pairs))
    assert isinstance(parsed, auto_nlbs_conf.AutoNlbsConf)
    return parsed


def test_okg_defaults() -> None:
    conf = _parse(("PortProtocols", "7777/UDP"))
    assert conf.port_range == (1000, 1499)
    assert (conf.reserve, conf.isp_types, conf.traffic_policy) == (1, ("BGP",), "Local")
    assert conf.per_service == 500
    assert dict(conf.annotations) == {
        f"{PREFIX}health-check-flag": "on",
        f"{PREFIX}health-check-type": "tcp",
        f"{PREFIX}health-check-connect-port": "0",
        f"{PREFIX}health-check-connect-timeout": "5",
        f"{PREFIX}health-check-interval": "10",
        f"{PREFIX}healthy-threshold": "2",
        f"{PREFIX}unhealthy-threshold": "2",
    }
    # Three servers' worth of NLBs ahead of nothing: one block and one reserved.
    assert auto_nlbs.blocks_needed(conf, [0, 1, 2]) == 2
    assert auto_nlbs.blocks_needed(conf, [500]) == 3
    assert auto_nlbs.blocks_needed(_parse(("PortProtocols", "7777"), ("ReserveNlbNum", "0")),
                                   [499]) == 1  # fmt: skip


def test_ports_follow_the_ordinal_and_skip_blocked_ports() -> None:
    conf = _parse(
        ("PortProtocols", "7777/UDP,8080/TCPUDP"),
        ("MinPort", "1000"),
        ("MaxPort", "1006"),
        ("BlockPorts", "1002"),
    )
    # 6 usable ports, 2 per server: 3 servers per NLB.
    assert conf.per_service == 3
    assert [conf.lb_ports(i) for i in range(4)] == [[1000, 1001], [1003, 1004], [1005, 1006],
                                                    [1000, 1001]]  # fmt: skip
    assert conf.block(2) == 0 and conf.block(3) == 1
    body = auto_nlbs.service_body(conf, "ns", "gs", OWNER, "ChinaTelecom", 1)
    assert body["metadata"]["name"] == "gs-chinatelecom-1"
    assert body["metadata"]["labels"] == {
        "game.kruise.io/owner-gss": "gs",
        "service.kubernetes.io/service-proxy-name": "dummy",
    }
    assert body["metadata"]["annotations"][f"{PREFIX}zone-maps"] == ZONES
    spec = body["spec"]
    assert (spec["loadBalancerClass"], spec["allocateLoadBalancerNodePorts"]) == (
        "alibabacloud.com/nlb", False,
    )  # fmt: skip
    assert spec["selector"] == {"game.kruise.io/owner-gss": "gs"}
    assert [(p["name"], p["port"], p["protocol"], p["targetPort"]) for p in spec["ports"][:3]] == [
        ("udp-3-7777", 1000, "UDP", "udp-3-7777"),
        ("tcp-3-8080", 1001, "TCP", "tcp-3-8080"),
        ("udp-3-8080", 1001, "UDP", "udp-3-8080"),
    ]
    assert len(spec["ports"]) == 9
    assert auto_nlbs.container_ports(conf, 3) == [
        {"name": "udp-3-7777", "containerPort": 7777, "protocol": "UDP"},
        {"name": "tcp-3-8080", "containerPort": 8080, "protocol": "TCP"},
        {"name": "udp-3-8080", "containerPort": 8080, "protocol": "UDP"},
    ]
    intranet = auto_nlbs.service_body(conf, "ns", "gs", OWNER, "intranet", 0)
    assert intranet["metadata"]["annotations"][f"{PREFIX}address-type"] == "intranet"


def _answered(body: dict[str, Any], host: str = "nlb-1.cn-hangzhou.nlb.aliyuncs.com") -> Any:
    return {**body, "status": {"loadBalancer": {"ingress": [{"hostname": host}]}}}


def test_isolation_touches_only_the_servers_ports_and_readiness_follows() -> None:
    conf = _parse(("PortProtocols", "7777/UDP"), ("MinPort", "1000"), ("MaxPort", "1002"))
    svc = _answered(auto_nlbs.service_body(conf, "ns", "gs", OWNER, "BGP", 0))
    seen = auto_nlbs.observed(conf, 1, {"BGP": svc}, "10.0.0.5", True)
    assert seen.current is vocabulary.NetworkState.READY
    assert [a.as_dict() for a in seen.external] == [
        {"ip": "", "endPoint": "nlb-1.cn-hangzhou.nlb.aliyuncs.com/BGP",
         "ports": [{"name": "udp-1-7777", "protocol": "UDP", "port": 1001}]}
    ]  # fmt: skip
    ops = auto_nlbs.isolation_patch(svc, 1, disabled=True)
    assert ops == [
        {"op": "test", "path": "/spec/ports/1/name", "value": "udp-1-7777"},
        {"op": "replace", "path": "/spec/ports/1/targetPort", "value": "offu-1-7777"},
    ]
    svc["spec"]["ports"][1]["targetPort"] = "offu-1-7777"
    assert auto_nlbs.isolation_patch(svc, 1, disabled=True) == []
    assert auto_nlbs.observed(conf, 1, {"BGP": svc}, "10.0.0.5", True).current is (
        vocabulary.NetworkState.NOT_READY
    )
    assert auto_nlbs.observed(conf, 0, {"BGP": svc}, "10.0.0.4", True).current is (
        vocabulary.NetworkState.READY
    )
    assert auto_nlbs.isolation_patch(svc, 1, disabled=False)[1]["value"] == "udp-1-7777"


@pytest.mark.parametrize(
    "lines",
    [{"BGP": None}, {"BGP": "no address"}],
    ids=["no service yet", "no address yet"],
)
def test_not_ready_until_every_line_has_an_address(lines: dict[str, Any]) -> None:
    conf = _parse(("PortProtocols", "7777/UDP"))
    body = auto_nlbs.service_body(conf, "ns", "gs", OWNER, "BGP", 0)
    found = {k: (body if v else None) for k, v in lines.items()}
    assert auto_nlbs.observed(conf, 0, found, "10.0.0.5", True).current is (
        vocabulary.NetworkState.NOT_READY
    )


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("PortProtocols", "7777")],
         [(-1, "network.networkConf: AlibabaCloud-AutoNLBs needs ZoneMaps")]),
        ([("ZoneMaps", "vpc-1"), ("PortProtocols", "7777")],
         [(0, 'network.networkConf[0] ZoneMaps: "vpc-1" is not <vpc-id>@<zone>:<vswitch>,…')]),
        ([("ZoneMaps", ZONES), ("PortProtocols", "7777"), ("EipIspTypes", "BGP,Mars")],
         [(2, 'network.networkConf[2] EipIspTypes: "BGP,Mars" is not a comma list of BGP,'
              " BGP_PRO, ChinaTelecom, ChinaMobile, ChinaUnicom, intranet")]),
        ([("ZoneMaps", ZONES), ("PortProtocols", "7777,7778"), ("MinPort", "1000"),
          ("MaxPort", "1000")],
         [(1, "network.networkConf[1] PortProtocols: 2 ports do not fit in 1000-1000 less"
              " BlockPorts")]),
        ([("ZoneMaps", ZONES), ("PortProtocols", "7777"), ("LBHealthCheckInterval", "99"),
          ("NlbIds", "x")],
         [(2, 'network.networkConf[2] LBHealthCheckInterval: "99" is not a whole number 1-50'),
          (3, "network.networkConf[3] NlbIds: unknown parameter for AlibabaCloud-AutoNLBs"
              " (known: PortProtocols, ZoneMaps, MinPort, MaxPort, BlockPorts, ReserveNlbNum,"
              " EipIspTypes, ExternalTrafficPolicyType, RetainNLBOnDelete,"
              " SecurityProtectionTypes, LBHealthCheckFlag, LBHealthCheckType,"
              " LBHealthCheckConnectPort, LBHealthCheckConnectTimeout, LBHealthCheckInterval,"
              " LBHealthyThreshold, LBUnhealthyThreshold, LBHealthCheckUri,"
              " LBHealthCheckDomain, LBHealthCheckMethod)")]),
    ],
)  # fmt: skip
def test_each_bad_parameter_is_named(
    pairs: list[tuple[str, str]], expected: list[tuple[int, str]]
) -> None:
    assert nconf.validate_network_conf(auto_nlbs_conf.NETWORK_TYPE, _c(*pairs)) == expected
