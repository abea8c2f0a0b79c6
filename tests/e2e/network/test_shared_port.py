"""AlibabaCloud-SLB-SharedPort / -NLB-SharedPort end to end: one LoadBalancer Service per load
balancer selecting the pods labelled with it; pods spread over the SLBs; isolation takes the
label away (the Service stops selecting the pod) and gives it back. The test writes each
Service's address as Alibaba Cloud's controller does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from agent.kube import resources
from tests.e2e.agent.harness import eventually
from tests.e2e.network.helpers import wait_network

if TYPE_CHECKING:
    from tests.e2e.agent.harness import Namespace

Obj = dict[str, Any]
LABEL = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id"


async def _service(namespace: Namespace, name: str) -> Obj:
    found: Obj = {}

    async def made() -> bool:
        found.update(await namespace.find(resources.SERVICE, name) or {})
        return bool(found)

    await eventually(made, 30.0, f"Service {name}")
    return found


async def _answer_as_cloud(namespace: Namespace, name: str, ingress: Obj) -> None:
    await _service(namespace, name)
    await namespace.kube.patch(
        resources.SERVICE, namespace.name, name,
        {"status": {"loadBalancer": {"ingress": [ingress]}}}, subresource="status",
    )  # fmt: skip


@pytest.mark.usefixtures("agent")
async def test_slb_shared_port_spread_ready_and_isolated(namespace: Namespace) -> None:
    network = {
        "networkType": "AlibabaCloud-SLB-SharedPort",
        "networkConf": [
            {"name": "SlbIds", "value": "lb-a,lb-b"},
            {"name": "PortProtocols", "value": "7777/UDP,8080/TCP"},
            {"name": "ManagedServiceSelector", "value": "gate=yes"},
        ],
    }
    gss = await namespace.create_set("gs", 4, network=network)
    await namespace.wait_servers("gs", {0, 1, 2, 3})
    for name in ("lb-a", "lb-b"):
        svc = await _service(namespace, name)
        assert svc["spec"]["type"] == "LoadBalancer"
        assert svc["spec"]["selector"] == {LABEL: name}
        assert svc["metadata"]["annotations"][LABEL] == name
        assert svc["metadata"]["ownerReferences"][0]["uid"] == gss["metadata"]["uid"]
        assert [(p["port"], p["protocol"], p["targetPort"]) for p in svc["spec"]["ports"]] == [
            (7777, "UDP", 7777), (8080, "TCP", 8080),
        ]  # fmt: skip
    pods = await namespace.pods("gs")
    behind = {name: pod["metadata"]["labels"][LABEL] for name, pod in pods.items()}
    assert sorted(behind.values()) == ["lb-a", "lb-a", "lb-b", "lb-b"], "the fewest first"
    assert all(p["metadata"]["labels"]["gate"] == "yes" for p in pods.values())

    await wait_network(namespace, "gs-0", "Ready", "NotReady")
    for name, ip in (("lb-a", "47.0.1.1"), ("lb-b", "47.0.1.2")):
        await _answer_as_cloud(namespace, name, {"ip": ip})
    status = await wait_network(namespace, "gs-0", "Ready", "Ready")
    ip = "47.0.1.1" if behind["gs-0"] == "lb-a" else "47.0.1.2"
    assert status["externalAddresses"] == [
        {"ip": ip, "ports": [{"name": "7777", "protocol": "UDP", "port": 7777},
                             {"name": "8080", "protocol": "TCP", "port": 8080}]}
    ]  # fmt: skip

    # Isolation: the pod loses both labels (no Service selects it), then gets them back.
    await namespace.patch_gs("gs-0", {"networkDisabled": True})
    await wait_network(namespace, "gs-0", "NotReady", "NotReady")
    labels = (await namespace.pods("gs"))["gs-0"]["metadata"]["labels"]
    assert LABEL not in labels and "gate" not in labels
    await namespace.patch_gs("gs-0", {"networkDisabled": False})
    await wait_network(namespace, "gs-0", "Ready", "Ready")
    labels = (await namespace.pods("gs"))["gs-0"]["metadata"]["labels"]
    assert (labels[LABEL], labels["gate"]) == (behind["gs-0"], "yes")

    # Scale-down keeps both Services (the other servers are behind them).
    await namespace.scale("gs", 1)
    await namespace.wait_servers("gs", {0})
    assert await namespace.find(resources.SERVICE, "lb-a") is not None
    assert await namespace.find(resources.SERVICE, "lb-b") is not None


@pytest.mark.usefixtures("agent")
async def test_nlb_shared_port_behind_one_nlb(namespace: Namespace) -> None:
    network = {
        "networkType": "AlibabaCloud-NLB-SharedPort",
        "networkConf": [
            {"name": "NlbIds", "value": "nlb-1"},
            {"name": "PortProtocols", "value": "7777/TCP"},
        ],
    }
    await namespace.create_set("gs", 2, network=network)
    await namespace.wait_servers("gs", {0, 1})
    svc = await _service(namespace, "nlb-1")
    assert svc["spec"]["loadBalancerClass"] == "alibabacloud.com/nlb"
    await _answer_as_cloud(namespace, "nlb-1", {"hostname": "nlb-1.cn-hangzhou.nlb.aliyuncs.com"})
    for name in ("gs-0", "gs-1"):
        status = await wait_network(namespace, name, "Ready", "Ready")
        assert status["externalAddresses"][0]["endPoint"] == "nlb-1.cn-hangzhou.nlb.aliyuncs.com"
