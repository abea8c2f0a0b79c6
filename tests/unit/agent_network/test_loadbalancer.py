"""Cloud load-balancer plugins: parameters per cloud, the Service, the status read back."""

from __future__ import annotations

from typing import Any

import pytest

from agent.core.network import lbports
from agent.network import loadbalancer, plugin
from okg import vocabulary
from okg.network import conf as nconf

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "gs-3", "uid": "pod-uid"},
    "status": {"phase": "Running", "podIP": "10.0.0.7"},
}
GSS = {"apiVersion": "game.kruise.io/v1alpha1", "metadata": {"name": "gs", "uid": "set-uid"}}
SLB = "AlibabaCloud-SLB"
CLB = "TencentCloud-CLB"
AWS = "AmazonWebServices-NLB"


def _c(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": n, "value": v} for n, v in pairs]


def _parse(network_type: str, *pairs: tuple[str, str]) -> nconf.LoadBalancerConf:
    parsed = nconf.parse_network(network_type, _c(*pairs))
    assert isinstance(parsed, nconf.LoadBalancerConf)
    return parsed


def _server(disabled: bool = False) -> plugin.Server:
    return plugin.Server("ns", "gs", GSS, POD, network_disabled=disabled)


def test_alibaba_slb_defaults_and_health_check_annotations() -> None:
    conf = _parse(
        SLB,
        ("SlbIds", "lb-a,lb-b"),
        ("PortProtocols", "7777/UDP,8080/TCPUDP"),
        ("LBHealthCheckType", "http"),
        ("LBHealthCheckUri", "/healthz"),
        ("ExternalTrafficPolicyType", "Local"),
        ("Annotations", "team:arena,cost:a:b"),
    )
    assert conf.lb_ids == ("lb-a", "lb-b")
    assert conf.port_range == (500, 700)
    assert conf.blocked_ports == (593,)
    body = loadbalancer.service_body(conf, _server(), lbports.Allocation("lb-b", (501, 502)))
    notes = body["metadata"]["annotations"]
    prefix = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
    assert notes[f"{prefix}id"] == "lb-b"
    assert notes[f"{prefix}force-override-listeners"] == "true"
    assert notes[f"{prefix}health-check-type"] == "http"
    assert notes[f"{prefix}health-check-uri"] == "/healthz"
    assert (notes["team"], notes["cost"]) == ("arena", "a:b")
    assert notes["gamefleet.io/lb-ports"] == '{"lb":"lb-b","ports":[501,502]}'
    spec = body["spec"]
    assert spec["type"] == "LoadBalancer"
    assert spec["externalTrafficPolicy"] == "Local"
    assert spec["selector"] == {"statefulset.kubernetes.io/pod-name": "gs-3"}
    assert spec["ports"] == [
        {"name": "7777", "port": 501, "protocol": "UDP", "targetPort": 7777},
        {"name": "8080-tcp", "port": 502, "protocol": "TCP", "targetPort": 8080},
        {"name": "8080-udp", "port": 502, "protocol": "UDP", "targetPort": 8080},
    ]
    assert body["metadata"]["ownerReferences"][0]["uid"] == "pod-uid"


def test_tencent_clb_binds_an_existing_clb_and_fixed_is_owned_by_the_set() -> None:
    conf = _parse(
        CLB, ("ClbIds", "lb-1"), ("PortProtocols", "7777"), ("Fixed", "true"), ("MinPort", "800"),
        ("MaxPort", "810"),
    )  # fmt: skip
    assert conf.port_range == (800, 810)
    body = loadbalancer.service_body(conf, _server(), lbports.Allocation("lb-1", (800,)))
    assert body["metadata"]["annotations"]["service.kubernetes.io/tke-existed-lbid"] == "lb-1"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "set-uid"
    assert "loadBalancerClass" not in body["spec"]


def test_network_disabled_makes_the_service_cluster_ip() -> None:
    conf = _parse(SLB, ("SlbIds", "lb"), ("PortProtocols", "7777/UDP"))
    body = loadbalancer.service_body(conf, _server(True), lbports.Allocation("lb", (500,)))
    assert body["spec"]["type"] == "ClusterIP"
    # The allocation is kept (same ports) for when the server is enabled again.
    assert body["spec"]["ports"][0]["port"] == 500


def _svc(kind: str, ingress: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "spec": {
            "type": kind,
            "selector": {"statefulset.kubernetes.io/pod-name": "gs-3"},
            "ports": [{"name": "7777", "port": 501, "protocol": "UDP", "targetPort": 7777}],
        },
        "status": {"loadBalancer": {"ingress": ingress}},
    }


def test_address_is_read_back_from_the_service_status() -> None:
    seen = loadbalancer.observed(_svc("LoadBalancer", [{"ip": "47.1.2.3"}]), _server())
    assert seen.current is vocabulary.NetworkState.READY
    assert [a.as_dict() for a in seen.external] == [
        {"ip": "47.1.2.3", "ports": [{"name": "7777", "protocol": "UDP", "port": 501}]}
    ]
    assert [a.as_dict() for a in seen.internal] == [
        {"ip": "10.0.0.7", "ports": [{"name": "7777", "protocol": "UDP", "port": 7777}]}
    ]
    named = loadbalancer.observed(_svc("LoadBalancer", [{"hostname": "a.elb.example"}]), _server())
    assert named.external[0].as_dict()["endPoint"] == "a.elb.example"


@pytest.mark.parametrize(
    "svc",
    [
        _svc("LoadBalancer", []),
        _svc("ClusterIP", [{"ip": "47.1.2.3"}]),
        _svc("LoadBalancer", [{"ip": "47.1.2.3", "ports": [{"port": 501, "error": "Pending"}]}]),
        None,
    ],
    ids=["no address yet", "isolated", "a listener failing", "no service"],
)
def test_not_ready_until_the_cloud_has_answered(svc: dict[str, Any] | None) -> None:
    assert loadbalancer.observed(svc, _server()).current is vocabulary.NetworkState.NOT_READY


@pytest.mark.parametrize(
    ("network_type", "pairs", "expected"),
    [
        (SLB, [("PortProtocols", "7777/UDP")],
         [(-1, "network.networkConf: AlibabaCloud-SLB needs SlbIds")]),
        (SLB, [("SlbIds", "lb"), ("PortProtocols", "7777/UDP"), ("LBHealthCheckType", "udp")],
         [(2, 'network.networkConf[2] LBHealthCheckType: "udp" is not one of tcp, http')]),
        (SLB, [("SlbIds", "lb,lb"), ("PortProtocols", "7777/UDP,7777/TCP")],
         [(0, "network.networkConf[0] SlbIds: a load balancer is listed more than once"),
          (1, "network.networkConf[1] PortProtocols: a port is listed more than once")]),
        (CLB, [("ClbIds", "lb"), ("PortProtocols", "7777"), ("MinPort", "900"), ("MaxPort", "800")],
         [(3, "network.networkConf[3] MaxPort: MinPort 900 is above MaxPort 800")]),
        (CLB, [("ClbIds", "lb"), ("PortProtocols", "7777"), ("SlbIds", "x")],
         [(2, "network.networkConf[2] SlbIds: unknown parameter for TencentCloud-CLB (known:"
              " ClbIds, PortProtocols, Fixed, AllocatePolicy, MinPort, MaxPort, BlockPorts,"
              " ExternalTrafficPolicyType, Annotations)")]),
        (AWS, [("NlbARNs", "arn:1"), ("NlbVPCId", "vpc-1"), ("PortProtocols", "7777"),
               ("MinPort", "30000"), ("MaxPort", "30100")],
         [(4, "network.networkConf[4] MaxPort: 30000-30100 is 101 ports; a load balancer of"
              " AmazonWebServices-NLB takes at most 50 listeners")]),
        (AWS, [("NlbARNs", "arn:1"), ("NlbVPCId", "subnet-1"), ("PortProtocols", "7777"),
               ("NlbHealthCheck", "healthCheckIntervalSeconds:1")],
         [(1, 'network.networkConf[1] NlbVPCId: "subnet-1" is not a VPC id (vpc-…)'),
          (3, 'network.networkConf[3] NlbHealthCheck: "healthCheckIntervalSeconds:1"'
              " healthCheckIntervalSeconds is not a whole number 5-300")]),
        (AWS, [("NlbARNs", "arn:1"), ("NlbVPCId", "vpc-1"), ("PortProtocols", "7777"),
               ("NlbHealthCheck", "healthCheckEnabled:false"),
               ("ExternalTrafficPolicyType", "Local")],
         [(3, 'network.networkConf[3] NlbHealthCheck: "healthCheckEnabled:false"'
              " healthCheckEnabled is not one of true"),
          (4, "network.networkConf[4] ExternalTrafficPolicyType: unknown parameter for"
              " AmazonWebServices-NLB (known: NlbARNs, PortProtocols, Fixed, AllocatePolicy,"
              " MinPort, MaxPort, BlockPorts, Annotations, NlbVPCId, NlbHealthCheck,"
              " GlobalAccelerator)")]),
    ],
)  # fmt: skip
def test_each_bad_parameter_is_named(
    network_type: str, pairs: list[tuple[str, str]], expected: list[tuple[int, str]]
) -> None:
    assert nconf.validate_network_conf(network_type, _c(*pairs)) == expected


def test_the_user_cannot_rebind_the_load_balancer_through_annotations() -> None:
    conf = _parse(
        CLB, ("ClbIds", "lb-1"), ("PortProtocols", "7777"),
        ("Annotations", "service.kubernetes.io/tke-existed-lbid:lb-9"),
    )  # fmt: skip
    body = loadbalancer.service_body(conf, _server(), lbports.Allocation("lb-1", (700,)))
    assert body["metadata"]["annotations"]["service.kubernetes.io/tke-existed-lbid"] == "lb-1"
