"""Pod addresses end to end: AlibabaCloud-EIP and -NATGW (the address in a PodEIP / PodDNAT
named like the pod: a session fixture installs minimal CRDs of the two kinds, and the test
creates them as Alibaba Cloud's network controller does), HwCloud-CCE-EIP, JdCloud-EIP and
Volcengine-EIP (the address in pod annotations, which the test writes as each cloud's CNI
does). The pod carries the cloud's annotations from its creation."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from agent.kube import client as kclient
from agent.kube import ready, resources
from tests.e2e.network.helpers import crd, wait_network

if TYPE_CHECKING:
    from tests.e2e.agent.harness import Namespace

Obj = dict[str, Any]
KINDS = (resources.POD_EIP, resources.POD_DNAT)


@pytest.fixture(scope="session")
async def alibaba_crds(kube: kclient.KubeClient) -> None:
    """PodEIP and PodDNAT, applied idempotently and left in place."""
    for resource in KINDS:
        await kube.apply(resources.CRD, None, crd(resource))
    await ready.wait_serving(kube, KINDS, 60.0)


def _network(network_type: str, *pairs: tuple[str, str]) -> Obj:
    return {"networkType": network_type, "networkConf": [{"name": n, "value": v} for n, v in pairs]}


async def _answer_with(
    namespace: Namespace, resource: resources.Resource, name: str, status: Obj
) -> None:
    """The cloud's controller made the object for the pod and reports what it bound."""
    body = {
        "apiVersion": resource.group_version,
        "kind": resource.kind,
        "metadata": {"name": name, "namespace": namespace.name},
        "spec": {},
    }
    await namespace.kube.create(resource, namespace.name, body)
    await namespace.kube.patch(
        resource, namespace.name, name, {"status": status}, subresource="status"
    )


@pytest.mark.usefixtures("alibaba_crds", "agent")
async def test_alibaba_eip_from_podeip_and_no_isolation(namespace: Namespace) -> None:
    network = _network("AlibabaCloud-EIP", ("ReleaseStrategy", "Never"), ("Bandwidth", "10"))
    await namespace.create_set("gs", 2, network=network)
    await namespace.wait_servers("gs", {0, 1})
    pods = await namespace.pods("gs")
    notes = pods["gs-0"]["metadata"]["annotations"]
    assert notes["k8s.aliyun.com/pod-with-eip"] == "true"
    assert notes["k8s.aliyun.com/pod-eip-release-strategy"] == "Never"
    assert notes["k8s.aliyun.com/eip-bandwidth"] == "10"
    assert notes["k8s.aliyun.com/eip-name"] == f"{namespace.name}/gs-0"
    await wait_network(namespace, "gs-0", "Ready", "NotReady")
    ip = pods["gs-0"]["status"]["podIP"]
    await _answer_with(
        namespace, resources.POD_EIP, "gs-0", {"eipAddress": "47.9.9.9", "privateIPAddress": ip}
    )
    status = await wait_network(namespace, "gs-0", "Ready", "Ready")
    assert status["externalAddresses"] == [{"ip": "47.9.9.9", "ports": []}]
    assert status["internalAddresses"] == [{"ip": ip, "ports": []}]
    await wait_network(namespace, "gs-1", "Ready", "NotReady")
    # The address is the pod's: networkDisabled asks for NotReady but cannot take it away.
    await namespace.patch_gs("gs-0", {"networkDisabled": True})
    await wait_network(namespace, "gs-0", "NotReady", "Ready")


@pytest.mark.usefixtures("alibaba_crds", "agent")
async def test_natgw_ready_once_every_port_has_a_dnat_entry(namespace: Namespace) -> None:
    network = _network("AlibabaCloud-NATGW", ("Ports", "7777,8080"), ("Protocol", "udp"),
                       ("Fixed", "true"))  # fmt: skip
    await namespace.create_set("gs", 1, network=network)
    await namespace.wait_servers("gs", {0})
    pod = (await namespace.pods("gs"))["gs-0"]
    notes = pod["metadata"]["annotations"]
    assert (notes["k8s.aliyun.com/pod-dnat"], notes["k8s.aliyun.com/pod-dnat-expose-port"]) == (
        "true", "7777,8080",
    )  # fmt: skip
    assert notes["k8s.aliyun.com/pod-dnat-fixed"] == "true"
    ip = pod["status"]["podIP"]
    entry = {"externalIP": "39.1.1.1", "externalPort": "30001", "internalIP": ip,
             "internalPort": "7777", "ipProtocol": "udp"}  # fmt: skip
    await _answer_with(namespace, resources.POD_DNAT, "gs-0", {"entries": [entry]})
    await wait_network(namespace, "gs-0", "Ready", "NotReady")
    both = [entry, {**entry, "externalPort": "30002", "internalPort": "8080"}]
    await namespace.kube.patch(
        resources.POD_DNAT, namespace.name, "gs-0", {"status": {"entries": both}},
        subresource="status",
    )  # fmt: skip
    status = await wait_network(namespace, "gs-0", "Ready", "Ready")
    assert status["externalAddresses"] == [
        {"ip": "39.1.1.1", "ports": [{"name": "7777", "protocol": "UDP", "port": 30001}]},
        {"ip": "39.1.1.1", "ports": [{"name": "8080", "protocol": "UDP", "port": 30002}]},
    ]


@pytest.mark.parametrize(
    ("network_type", "conf", "expected_notes", "cloud_notes", "eip"),
    [
        ("HwCloud-CCE-EIP",
         [("yangtse.io/pod-with-eip", "true"), ("yangtse.io/eip-bandwidth-size", "5")],
         {"yangtse.io/pod-with-eip": "true", "yangtse.io/eip-bandwidth-size": "5"},
         {"yangtse.io/allocated-eip-id": "3a52ca79", "yangtse.io/allocated-ipv4-eip": "94.74.0.1"},
         "94.74.0.1"),
        ("JdCloud-EIP", [("Bandwidth", "20"), ("Fixed", "true")],
         {"jdos.jd.com/eip.enable": "true", "jdos.jd.com/eip.bandwith": "20",
          "jdos.jd.com/eip.static": "true"},
         {"jdos.jd.com/eip.id": "eip-1", "jdos.jd.com/eip.ip": "116.0.0.1"}, "116.0.0.1"),
        ("Volcengine-EIP", [("bandwidth", "3")],
         {"vke.volcengine.com/primary-eip-allocate": '{"type": "Elastic"}',
          "vke.volcengine.com/primary-eip-attributes": '{"bandwidth":3}'},
         {"vke.volcengine.com/allocated-eips": json.dumps(
             [{"EipId": "eip-v", "EipAddress": "106.0.0.1", "EniId": "eni-1"}])},
         "106.0.0.1"),
    ],
    ids=["hwcloud", "jdcloud", "volcengine"],
)  # fmt: skip
@pytest.mark.usefixtures("agent")
async def test_eip_reported_on_the_pod(
    namespace: Namespace,
    network_type: str,
    conf: list[tuple[str, str]],
    expected_notes: dict[str, str],
    cloud_notes: dict[str, str],
    eip: str,
) -> None:
    await namespace.create_set("gs", 1, network=_network(network_type, *conf))
    await namespace.wait_servers("gs", {0})
    pod = (await namespace.pods("gs"))["gs-0"]
    notes = pod["metadata"]["annotations"]
    assert {k: notes.get(k) for k in expected_notes} == expected_notes
    await wait_network(namespace, "gs-0", "Ready", "NotReady")
    # The cloud's CNI bound the EIP and wrote it on the pod.
    await namespace.kube.patch(
        resources.POD, namespace.name, "gs-0", {"metadata": {"annotations": cloud_notes}}
    )
    status = await wait_network(namespace, "gs-0", "Ready", "Ready")
    assert status["externalAddresses"] == [{"ip": eip, "ports": []}]
    assert status["internalAddresses"] == [{"ip": pod["status"]["podIP"], "ports": []}]
