"""Google Cloud (GKE) and Azure (AKS): the Service each cloud's controller turns into a
forwarding rule / load-balancing rule on the studio's existing address, and the checks."""

from __future__ import annotations

import pytest

from agent.core.network import lbports
from agent.network import loadbalancer, plugin
from okg.network import conf as nconf

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "gs-3", "uid": "pod-uid"},
    "status": {"phase": "Running", "podIP": "10.0.0.7"},
}
GSS = {"apiVersion": "game.kruise.io/v1alpha1", "metadata": {"name": "gs", "uid": "set-uid"}}
GCP = "GoogleCloud-NLB"
AZURE = "Azure-SLB"


def _c(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": n, "value": v} for n, v in pairs]


def _parse(network_type: str, *pairs: tuple[str, str]) -> nconf.LoadBalancerConf:
    parsed = nconf.parse_network(network_type, _c(*pairs))
    assert isinstance(parsed, nconf.LoadBalancerConf)
    return parsed


def _server() -> plugin.Server:
    return plugin.Server("ns", "gs", GSS, POD, network_disabled=False)


def test_google_cloud_service_names_the_reserved_address_and_asks_for_rbs() -> None:
    conf = _parse(
        GCP,
        ("AddressNames", "game-ip-a,game-ip-b"),
        ("PortProtocols", "7777/UDP,7778/TCP"),
        ("NetworkTier", "Standard"),
        ("ExternalTrafficPolicyType", "Local"),
    )
    assert conf.lb_ids == ("game-ip-a", "game-ip-b")
    assert conf.port_range == (7000, 7999)
    body = loadbalancer.service_body(conf, _server(), lbports.Allocation("game-ip-b", (7000, 7001)))
    notes = body["metadata"]["annotations"]
    assert notes["networking.gke.io/load-balancer-ip-addresses"] == "game-ip-b"
    assert notes["cloud.google.com/l4-rbs"] == "enabled"
    assert notes["cloud.google.com/network-tier"] == "Standard"
    assert body["spec"]["type"] == "LoadBalancer"
    assert body["spec"]["externalTrafficPolicy"] == "Local"
    assert [(p["port"], p["protocol"], p["targetPort"]) for p in body["spec"]["ports"]] == [
        (7000, "UDP", 7777),
        (7001, "TCP", 7778),
    ]


def test_azure_service_names_the_public_ip_and_its_options() -> None:
    conf = _parse(
        AZURE,
        ("PipNames", "game-pip-1"),
        ("PortProtocols", "7777/TCPUDP"),
        ("PipResourceGroup", "rg-network"),
        ("TcpIdleTimeout", "10"),
        ("SharedSecurityRule", "true"),
        ("Fixed", "true"),
    )
    body = loadbalancer.service_body(conf, _server(), lbports.Allocation("game-pip-1", (7005,)))
    notes = body["metadata"]["annotations"]
    prefix = "service.beta.kubernetes.io/azure-"
    assert notes[f"{prefix}pip-name"] == "game-pip-1"
    assert notes[f"{prefix}load-balancer-resource-group"] == "rg-network"
    assert notes[f"{prefix}load-balancer-tcp-idle-timeout"] == "10"
    assert notes[f"{prefix}shared-securityrule"] == "true"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "set-uid"
    assert [(p["name"], p["port"], p["protocol"]) for p in body["spec"]["ports"]] == [
        ("7777-tcp", 7005, "TCP"),
        ("7777-udp", 7005, "UDP"),
    ]


@pytest.mark.parametrize(
    ("network_type", "pairs", "expected"),
    [
        (GCP, [("PortProtocols", "7777/UDP")],
         [(-1, "network.networkConf: GoogleCloud-NLB needs AddressNames")]),
        (GCP, [("AddressNames", "a"), ("PortProtocols", "1/UDP,2/UDP,3/UDP,4/TCPUDP,5/UDP,6/UDP")],
         [(1, "network.networkConf[1] PortProtocols: 6 UDP ports; a server of GoogleCloud-NLB"
              " takes at most 5 per protocol")]),
        (GCP, [("AddressNames", "a"), ("PortProtocols", "7777"), ("NetworkTier", "Gold")],
         [(2, 'network.networkConf[2] NetworkTier: "Gold" is not one of Premium, Standard')]),
        (AZURE, [("PipNames", "p"), ("PortProtocols", "7777"), ("TcpIdleTimeout", "2")],
         [(2, 'network.networkConf[2] TcpIdleTimeout: "2" is not a whole number 4-30')]),
        (AZURE, [("PipNames", "p"), ("PortProtocols", "7777"), ("SlbIds", "x")],
         [(2, "network.networkConf[2] SlbIds: unknown parameter for Azure-SLB (known: PipNames,"
              " PortProtocols, Fixed, AllocatePolicy, MinPort, MaxPort, BlockPorts,"
              " ExternalTrafficPolicyType, Annotations, PipResourceGroup, TcpIdleTimeout,"
              " SharedSecurityRule)")]),
    ],
)  # fmt: skip
def test_each_bad_parameter_is_named(
    network_type: str, pairs: list[tuple[str, str]], expected: list[tuple[int, str]]
) -> None:
    assert nconf.validate_network_conf(network_type, _c(*pairs)) == expected
