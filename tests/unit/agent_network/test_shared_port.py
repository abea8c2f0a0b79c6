"""AlibabaCloud-SLB-SharedPort / -NLB-SharedPort: the shared Service per load balancer, the
pod's labels (and their removal for isolation), the choice of SLB, readiness, parameters."""

from __future__ import annotations

import pytest

from agent.core.network import shared_port
from okg import vocabulary
from okg.network import conf as nconf
from okg.network import shared_port as shared_port_conf

LABEL = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id"
OWNER = {"kind": "GameServerSet", "name": "gs", "uid": "set-uid"}


def _c(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": n, "value": v} for n, v in pairs]


def _parse(network_type: str, *pairs: tuple[str, str]) -> shared_port_conf.SharedPortConf:
    parsed = nconf.parse_network(network_type, _c(*pairs))
    assert isinstance(parsed, shared_port_conf.SharedPortConf)
    return parsed


def test_slb_with_the_fewest_servers_below_200() -> None:
    conf = _parse(shared_port_conf.SLB, ("SlbIds", "lb-a,lb-b"), ("PortProtocols", "7777/UDP"))
    assert shared_port.choose(conf, {}) == "lb-a"
    assert shared_port.choose(conf, {"lb-a": 3, "lb-b": 1}) == "lb-b"
    assert shared_port.choose(conf, {"lb-a": 200, "lb-b": 199}) == "lb-b"
    assert shared_port.choose(conf, {"lb-a": 200, "lb-b": 200}) is None
    nlb = _parse(shared_port_conf.NLB, ("NlbIds", "nlb-1"), ("PortProtocols", "7777"))
    assert shared_port.choose(nlb, {"nlb-1": 5000}) == "nlb-1"


def test_the_shared_service_and_the_pod_labels() -> None:
    conf = _parse(
        shared_port_conf.SLB,
        ("SlbIds", "lb-a"),
        ("PortProtocols", "7777/TCPUDP"),
        ("ManagedServiceNames", "gate-a,gate-b"),
        ("ManagedServiceSelector", "game=gate"),
    )
    body = shared_port.service_body(conf, "ns", "gs", OWNER, "lb-a")
    assert body["metadata"]["name"] == "lb-a"
    assert body["metadata"]["annotations"][LABEL] == "lb-a"
    assert body["spec"]["selector"] == {LABEL: "lb-a"}
    assert [(p["name"], p["port"], p["protocol"]) for p in body["spec"]["ports"]] == [
        ("7777-tcp", 7777, "TCP"),
        ("7777-udp", 7777, "UDP"),
    ]
    assert shared_port.pod_labels(conf, "lb-a") == {LABEL: "lb-a", "game": "gate"}
    pod = {"metadata": {"labels": {LABEL: "lb-a", "game": "gate", "app": "x"}}}
    assert shared_port.label_patch(conf, pod, "lb-a", disabled=True) == {LABEL: None, "game": None}
    bare = {"metadata": {"labels": {"app": "x"}}}
    assert shared_port.label_patch(conf, bare, "lb-a", disabled=True) == {}
    assert shared_port.label_patch(conf, bare, "lb-a", disabled=False) == {
        LABEL: "lb-a",
        "game": "gate",
    }
    nlb = _parse(shared_port_conf.NLB, ("NlbIds", "nlb-1"), ("PortProtocols", "7777"))
    assert (
        shared_port.service_body(nlb, "ns", "gs", OWNER, "nlb-1")["spec"]["loadBalancerClass"]
        == "alibabacloud.com/nlb"
    )


def test_ready_once_the_address_is_there_and_the_pod_is_labelled() -> None:
    conf = _parse(shared_port_conf.SLB, ("SlbIds", "lb-a"), ("PortProtocols", "7777/UDP"))
    svc = shared_port.service_body(conf, "ns", "gs", OWNER, "lb-a")
    answered = {**svc, "status": {"loadBalancer": {"ingress": [{"ip": "47.0.0.9"}]}}}
    pod = {"metadata": {"labels": {LABEL: "lb-a"}}}
    _, external, state = shared_port.observed(answered, pod, "lb-a", "10.0.0.1", True)
    assert state is vocabulary.NetworkState.READY
    assert [a.as_dict() for a in external] == [
        {"ip": "47.0.0.9", "ports": [{"name": "7777", "protocol": "UDP", "port": 7777}]}
    ]
    unlabelled: dict[str, dict[str, dict[str, str]]] = {"metadata": {"labels": {}}}
    assert shared_port.observed(answered, unlabelled, "lb-a", "10.0.0.1", True)[2] is (
        vocabulary.NetworkState.NOT_READY
    )
    assert shared_port.observed(svc, pod, "lb-a", "10.0.0.1", True)[2] is (
        vocabulary.NetworkState.NOT_READY
    )


@pytest.mark.parametrize(
    ("network_type", "pairs", "expected"),
    [
        (shared_port_conf.SLB, [("PortProtocols", "7777")],
         [(-1, "network.networkConf: AlibabaCloud-SLB-SharedPort needs SlbIds")]),
        (shared_port_conf.SLB, [("SlbIds", "a"), ("PortProtocols", "7777"),
                           ("ManagedServiceSelector", "game")],
         [(2, 'network.networkConf[2] ManagedServiceSelector: "game" is not <key>=<value>')]),
        (shared_port_conf.NLB, [("NlbIds", "a,b"), ("PortProtocols", "7777")],
         [(0, "network.networkConf[0] NlbIds: names one NLB")]),
        (shared_port_conf.NLB, [("NlbIds", "a"), ("PortProtocols", "7777"),
                           ("AllowNotReadyContainers", "sidecar")],
         [(2, "network.networkConf[2] AllowNotReadyContainers: unknown parameter for"
              " AlibabaCloud-NLB-SharedPort (known: NlbIds, PortProtocols)")]),
    ],
)  # fmt: skip
def test_each_bad_parameter_is_named(
    network_type: str, pairs: list[tuple[str, str]], expected: list[tuple[int, str]]
) -> None:
    assert nconf.validate_network_conf(network_type, _c(*pairs)) == expected
