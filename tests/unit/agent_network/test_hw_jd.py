"""HwCloud-ELB, HwCloud-CCE-ELB and JdCloud-NLB: OKG's parameters as each cloud's Service
annotations (and OKG's defaults), CCE's per-server ELB, JD Cloud's NLB spec annotation."""

from __future__ import annotations

import json

import pytest

from agent.core.network import lbports
from agent.core.network import loadbalancer as lbcore
from agent.network import loadbalancer, plugin
from okg.network import conf as nconf

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "gs-3", "namespace": "ns", "uid": "pod-uid"},
    "status": {"phase": "Running", "podIP": "10.0.0.7"},
}
GSS = {"apiVersion": "game.kruise.io/v1alpha1", "metadata": {"name": "gs", "uid": "set-uid"}}
ELB = "kubernetes.io/elb."


def _c(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": n, "value": v} for n, v in pairs]


def _parse(network_type: str, *pairs: tuple[str, str]) -> nconf.LoadBalancerConf:
    parsed = nconf.parse_network(network_type, _c(*pairs))
    assert isinstance(parsed, nconf.LoadBalancerConf)
    return parsed


def _body(conf: nconf.LoadBalancerConf, allocation: lbports.Allocation) -> dict:  # type: ignore[type-arg]
    server = plugin.Server("ns", "gs", GSS, POD, network_disabled=False)
    return loadbalancer.service_body(conf, server, allocation)


def test_hwcloud_elb_okg_defaults() -> None:
    conf = _parse("HwCloud-ELB", ("ElbIds", "elb-1"), ("PortProtocols", "7777/UDP"))
    assert conf.port_range == (500, 700)
    body = _body(conf, lbports.Allocation("elb-1", (500,)))
    notes = {k: v for k, v in body["metadata"]["annotations"].items() if k.startswith(ELB)}
    assert notes == {
        f"{ELB}id": "elb-1",
        f"{ELB}class": "dedicated",
        f"{ELB}lb-algorithm": "ROUND_ROBIN",
        f"{ELB}session-affinity-flag": "off",
        f"{ELB}enable-transparent-client-ip": "false",
        f"{ELB}x-forwarded-host": "false",
        f"{ELB}health-check-flag": "on",
    }


def test_hwcloud_elb_parameters() -> None:
    conf = _parse(
        "HwCloud-ELB",
        ("ElbIds", "elb-1,elb-2"),
        ("PortProtocols", "7777/TCP"),
        ("ElbClass", "shared"),
        ("ElbLbAlgorithm", "source_ip"),
        ("ElbIdleTimeout", "300"),
        ("LBHealthCheckOption", '{"delay": 3}'),
        ("PublishNotReadyAddresses", "true"),
    )
    body = _body(conf, lbports.Allocation("elb-2", (501,)))
    notes = body["metadata"]["annotations"]
    assert notes[f"{ELB}connection-limit"] == "-1", "OKG's default, for a shared ELB"
    assert notes[f"{ELB}lb-algorithm"] == "SOURCE_IP"
    assert notes[f"{ELB}idle-timeout"] == "300"
    assert notes[f"{ELB}health-check-option"] == '{"delay": 3}'
    assert body["spec"]["publishNotReadyAddresses"] is True
    off = _parse("HwCloud-ELB", ("ElbIds", "elb-1"), ("PortProtocols", "7777"),
                 ("LBHealthCheckFlag", "off"), ("LBHealthCheckOption", "{}"))  # fmt: skip
    assert f"{ELB}health-check-option" not in dict(off.annotations)


def test_hwcloud_cce_elb_existing_elb_and_passthrough() -> None:
    conf = _parse(
        "HwCloud-CCE-ELB",
        (f"{ELB}id", "elb-9"),
        ("PortProtocols", "7777/UDP"),
        (f"{ELB}lb-algorithm", "LEAST_CONNECTIONS"),
    )
    assert conf.port_range == (32768, 65535)
    notes = _body(conf, lbports.Allocation("elb-9", (32768,)))["metadata"]["annotations"]
    assert (notes[f"{ELB}id"], notes[f"{ELB}lb-algorithm"]) == ("elb-9", "LEAST_CONNECTIONS")


def test_hwcloud_cce_elb_auto_create_gives_each_server_its_own_elb() -> None:
    auto = '{"type":"public","bandwidth_name":"gs","bandwidth_size":5}'
    conf = _parse("HwCloud-CCE-ELB", (f"{ELB}autocreate", auto), ("PortProtocols", "7777"))
    assert conf.auto
    table = lbports.LbPortTable()
    first = lbcore.allocate(table, ("ns", "gs-0"), conf)
    second = lbcore.allocate(table, ("ns", "gs-1"), conf)
    assert first.ports == second.ports == (32768,), "each on its own ELB: the head of the range"
    notes = _body(conf, first)["metadata"]["annotations"]
    assert notes[f"{ELB}autocreate"] == auto
    assert f"{ELB}id" not in notes


def test_jdcloud_nlb_spec_annotation_and_node_ports() -> None:
    conf = _parse(
        "JdCloud-NLB",
        ("NlbIds", "nlb-jd"),
        ("PortProtocols", "7777/UDP,8080/TCP"),
        ("service.beta.kubernetes.io/jdcloud-lb-algorithm", "IpHash"),
        ("AllocateLoadBalancerNodePorts", "false"),
        ("Annotations", "team:arena"),
    )
    body = _body(conf, lbports.Allocation("nlb-jd", (500, 501)))
    notes = body["metadata"]["annotations"]
    assert notes["service.beta.kubernetes.io/jdcloud-loadbalancer-id"] == "nlb-jd"
    assert notes["team"] == "arena"
    assert json.loads(notes["service.beta.kubernetes.io/jdcloud-load-balancer-spec"]) == {
        "version": "v1",
        "loadBalancerId": "nlb-jd",
        "loadBalancerType": "nlb",
        "internal": False,
        "listeners": [
            {"protocol": "UDP", "connectionIdleTimeSeconds": 600,
             "backend": {"proxyProtocol": False, "algorithm": "IpHash"}},
            {"protocol": "TCP", "connectionIdleTimeSeconds": 600,
             "backend": {"proxyProtocol": False, "algorithm": "IpHash"}},
        ],
    }  # fmt: skip
    assert body["spec"]["allocateLoadBalancerNodePorts"] is False


@pytest.mark.parametrize(
    ("network_type", "pairs", "expected"),
    [
        ("HwCloud-ELB", [("ElbIds", "e"), ("PortProtocols", "7777"), ("ElbClass", "gold")],
         [(2, 'network.networkConf[2] ElbClass: "gold" is not one of dedicated, shared')]),
        ("HwCloud-ELB", [("ElbIds", "e"), ("PortProtocols", "7777"),
                         ("ElbSessionAffinityOption", "{oops")],
         [(2, 'network.networkConf[2] ElbSessionAffinityOption: "{oops" is not JSON')]),
        ("HwCloud-CCE-ELB", [("PortProtocols", "7777")],
         [(-1, "network.networkConf: HwCloud-CCE-ELB needs kubernetes.io/elb.id or"
               " kubernetes.io/elb.autocreate")]),
        ("HwCloud-CCE-ELB", [(f"{ELB}id", "a"), (f"{ELB}autocreate", "{}"),
                             ("PortProtocols", "7777")],
         [(1, "network.networkConf[1] kubernetes.io/elb.autocreate: not with kubernetes.io/elb.id"
              " (one or the other)")]),
        ("HwCloud-CCE-ELB", [(f"{ELB}id", "a,b"), ("PortProtocols", "7777")],
         [(0, "network.networkConf[0] kubernetes.io/elb.id: names one load balancer")]),
        ("JdCloud-NLB", [("NlbIds", "n"), ("PortProtocols", "7777"),
                         ("service.beta.kubernetes.io/jdcloud-lb-algorithm", "Random")],
         [(2, "network.networkConf[2] service.beta.kubernetes.io/jdcloud-lb-algorithm:"
              ' "Random" is not one of RoundRobin, LeastConn, IpHash')]),
    ],
)  # fmt: skip
def test_each_bad_parameter_is_named(
    network_type: str, pairs: list[tuple[str, str]], expected: list[tuple[int, str]]
) -> None:
    assert nconf.validate_network_conf(network_type, _c(*pairs)) == expected
