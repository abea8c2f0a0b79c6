"""Pod addresses (EIP per pod, DNAT on a NAT gateway): each cloud's pod annotations from OKG's
parameters, the address read back from the pod or the cloud's custom resource, and the checks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.core.network import pod_address
from agent.kube import cache as kcache
from agent.kube import resources
from agent.kube.events import EventRecorder
from agent.network import crd_gate, hooks
from okg import vocabulary
from okg.network import conf as nconf
from okg.network import pod_address as pod_address_conf
from tests.unit.agent_network.test_aws_nlb import FakeKube


def _c(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": n, "value": v} for n, v in pairs]


def _parse(network_type: str, *pairs: tuple[str, str]) -> pod_address_conf.PodAddressConf:
    parsed = nconf.parse_network(network_type, _c(*pairs))
    assert isinstance(parsed, pod_address_conf.PodAddressConf)
    return parsed


def _pod(notes: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "gs-0", "annotations": notes or {}},
        "status": {"phase": "Running", "podIP": "10.0.0.8"},
    }


@pytest.mark.parametrize(
    ("network_type", "pairs", "expected"),
    [
        (pod_address_conf.ALIBABA_EIP,
         [("ReleaseStrategy", "5m30s"), ("Bandwidth", "10"), ("ChargeType", "PayByTraffic")],
         {"k8s.aliyun.com/pod-with-eip": "true",
          "k8s.aliyun.com/pod-eip-release-strategy": "5m30s",
          "k8s.aliyun.com/eip-bandwidth": "10",
          "k8s.aliyun.com/eip-internet-charge-type": "PayByTraffic",
          "k8s.aliyun.com/eip-name": "ns/gs-0"}),
        (pod_address_conf.ALIBABA_NATGW,
         [("Ports", "7777,8080"), ("Protocol", "udp"), ("Fixed", "true")],
         {"k8s.aliyun.com/pod-dnat": "true", "k8s.aliyun.com/pod-dnat-expose-port": "7777,8080",
          "k8s.aliyun.com/pod-dnat-expose-protocol": "udp",
          "k8s.aliyun.com/pod-dnat-fixed": "true"}),
        (pod_address_conf.HW_CCE_EIP,
         [("yangtse.io/pod-with-eip", "true"), ("yangtse.io/eip-bandwidth-size", "5"),
          ("yangtse.io/eip-network-type", "5_bgp")],
         {"yangtse.io/pod-with-eip": "true", "yangtse.io/eip-bandwidth-size": "5",
          "yangtse.io/eip-network-type": "5_bgp"}),
        (pod_address_conf.JD_EIP, [("Bandwidth", "20"), ("Fixed", "true")],
         {"jdos.jd.com/eip.enable": "true", "jdos.jd.com/eip.bandwith": "20",
          "jdos.jd.com/eip.static": "true", "jdos.jd.com/eip-name": "ns/gs-0"}),
        (pod_address_conf.VOLCENGINE_EIP, [("bandwidth", "3"), ("billingType", "3")],
         {"vke.volcengine.com/primary-eip-allocate": '{"type": "Elastic"}',
          "vke.volcengine.com/primary-eip-attributes": '{"bandwidth":3,"billingType":3}'}),
        (pod_address_conf.VOLCENGINE_EIP, [("vke.volcengine.com/primary-eip-id", "eip-123")],
         {"vke.volcengine.com/primary-eip-id": "eip-123"}),
    ],
    ids=["alibaba-eip", "natgw", "hw-cce-eip", "jd-eip", "volcengine-new", "volcengine-existing"],
)  # fmt: skip
def test_pod_annotations_per_cloud(
    network_type: str, pairs: list[tuple[str, str]], expected: dict[str, str]
) -> None:
    conf = _parse(network_type, *pairs)
    assert pod_address.pod_annotations(conf, "ns", "gs-0") == expected


@pytest.mark.parametrize(
    ("network_type", "pairs", "notes", "resource", "eip"),
    [
        (pod_address_conf.ALIBABA_EIP, [], {},
         {"status": {"eipAddress": "47.3.3.3", "privateIPAddress": "10.0.0.8"}}, "47.3.3.3"),
        (pod_address_conf.HW_CCE_EIP, [("yangtse.io/eip-id", "e-1")],
         {"yangtse.io/allocated-ipv4-eip": "94.74.1.1"}, None, "94.74.1.1"),
        (pod_address_conf.JD_EIP, [],
         {"jdos.jd.com/eip.id": "eip-1", "jdos.jd.com/eip.ip": "1.2.3.4"},
         None, "1.2.3.4"),
        (pod_address_conf.VOLCENGINE_EIP, [],
         {"vke.volcengine.com/allocated-eips":
              json.dumps([{"EipId": "e", "EipAddress": "106.1.1.1"}])},
         None, "106.1.1.1"),
    ],
    ids=["alibaba-podeip", "hw-annotation", "jd-annotations", "volcengine-annotation"],
)  # fmt: skip
def test_the_address_is_read_back_and_ready_only_then(
    network_type: str,
    pairs: list[tuple[str, str]],
    notes: dict[str, str],
    resource: dict[str, Any] | None,
    eip: str,
) -> None:
    conf = _parse(network_type, *pairs)
    seen = pod_address.observed(conf, _pod(notes), resource, running=True)
    assert seen.current is vocabulary.NetworkState.READY
    assert [a.as_dict() for a in seen.external] == [{"ip": eip, "ports": []}]
    assert [a.as_dict() for a in seen.internal] == [{"ip": "10.0.0.8", "ports": []}]
    waiting = pod_address.observed(conf, _pod(), None, running=True)
    assert waiting.current is vocabulary.NetworkState.NOT_READY
    assert waiting.external == []
    stopped = pod_address.observed(conf, _pod(notes), resource, running=False)
    assert stopped.current is vocabulary.NetworkState.NOT_READY


def test_natgw_is_ready_once_every_port_has_its_entry() -> None:
    conf = _parse(pod_address_conf.ALIBABA_NATGW, ("Ports", "7777,8080"), ("Protocol", "udp"))
    entry = {"externalIP": "39.1.1.1", "externalPort": "30001", "internalIP": "10.0.0.8",
             "internalPort": "7777", "ipProtocol": "udp"}  # fmt: skip
    half = {"status": {"entries": [entry]}}
    assert (
        pod_address.observed(conf, _pod(), half, True).current is vocabulary.NetworkState.NOT_READY
    )
    both = {"status": {"entries": [entry, {**entry, "externalPort": "30002",
                                           "internalPort": "8080"}]}}  # fmt: skip
    seen = pod_address.observed(conf, _pod(), both, True)
    assert seen.current is vocabulary.NetworkState.READY
    assert [a.as_dict() for a in seen.external] == [
        {"ip": "39.1.1.1", "ports": [{"name": "7777", "protocol": "UDP", "port": 30001}]},
        {"ip": "39.1.1.1", "ports": [{"name": "8080", "protocol": "UDP", "port": 30002}]},
    ]


@pytest.mark.parametrize(
    ("network_type", "pairs", "expected"),
    [
        (pod_address_conf.ALIBABA_EIP, [("ReleaseStrategy", "Sometimes"), ("Bandwidth", "0")],
         [(0, 'network.networkConf[0] ReleaseStrategy: "Sometimes" is not Follow, Never or a'
              " duration (e.g. 5m30s)"),
          (1, 'network.networkConf[1] Bandwidth: "0" is not a whole number above 0')]),
        (pod_address_conf.ALIBABA_NATGW, [("Protocol", "sctp")],
         [(0, 'network.networkConf[0] Protocol: "sctp" is not one of tcp, udp'),
          (-1, "network.networkConf: AlibabaCloud-NATGW needs Ports")]),
        (pod_address_conf.HW_CCE_EIP, [("yangtse.io/eip-bandwidth-size", "5")],
         [(-1, "network.networkConf: HwCloud-CCE-EIP needs yangtse.io/pod-with-eip or"
               " yangtse.io/eip-id")]),
        (pod_address_conf.HW_CCE_EIP,
         [("yangtse.io/pod-with-eip", "true"), ("kubernetes.io/x", "1")],
         [(1, "network.networkConf[1] kubernetes.io/x: unknown parameter for HwCloud-CCE-EIP"
              " (known: yangtse.io/pod-with-eip, yangtse.io/eip-bandwidth-size,"
              " yangtse.io/eip-network-type, yangtse.io/eip-charge-mode,"
              " yangtse.io/eip-bandwidth-name, yangtse.io/eip-bandwidth-id, yangtse.io/eip-id,"
              " yangtse.io/security-group-ids, yangtse.io/additional-security-group-ids)")]),
        (pod_address_conf.VOLCENGINE_EIP,
         [("vke.volcengine.com/primary-eip-id", "eip-1"), ("bandwidth", "5")],
         [(1, "network.networkConf[1] bandwidth: not with vke.volcengine.com/primary-eip-id"
              " (an existing EIP)")]),
    ],
)  # fmt: skip
def test_each_bad_parameter_is_named(
    network_type: str, pairs: list[tuple[str, str]], expected: list[tuple[int, str]]
) -> None:
    assert nconf.validate_network_conf(network_type, _c(*pairs)) == expected


async def test_a_set_without_podeip_is_invalid_naming_it_until_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube = FakeKube({})
    requeued: list[tuple[kcache.Key, float]] = []
    network = hooks.Network(
        kube,
        kcache.WatchCache(kube, resources.POD),
        EventRecorder(kube),
        namespace="ns",
        requeue=lambda key, delay: requeued.append((key, delay)),
    )
    gss = {
        "apiVersion": "game.kruise.io/v1alpha1",
        "kind": "GameServerSet",
        "metadata": {"name": "gs", "namespace": "ns", "uid": "set-uid", "generation": 1},
        "spec": {"network": {"networkType": pod_address_conf.ALIBABA_EIP, "networkConf": []}},
    }
    assert not await network.check(gss)
    (event,) = [b for m, p, b in kube.calls if m == "POST" and p.endswith("/events")]
    assert event["message"] == (
        "network.networkType: AlibabaCloud-EIP needs the custom resources"
        " podeips.alibabacloud.com, which this cluster does not serve (install Alibaba Cloud's"
        " network controller, ack-extend-network-controller)"
    )
    assert requeued == [(("ns", "gs"), crd_gate.RECHECK_SECONDS)]
    # A NATGW-less set of another plugin is not held up by it.
    hw = {**gss, "spec": {"network": {"networkType": pod_address_conf.HW_CCE_EIP,
                                      "networkConf": _c(("yangtse.io/eip-id", "e"))}}}  # fmt: skip
    assert await network.check(hw)
    kube.served["alibabacloud.com/v1beta1"] = ["podeips", "poddnats"]
    monkeypatch.setattr(crd_gate, "REDISCOVER_SECONDS", 0.0)
    assert await network.check(gss)
    listed = {p for m, p, _ in kube.calls if m == "GET" and "/namespaces/ns/" in p}
    assert listed == {"/apis/alibabacloud.com/v1beta1/namespaces/ns/podeips"}
    await network.stop()
