"""HwCloud-ELB, HwCloud-CCE-ELB and JdCloud-NLB end to end: a LoadBalancer Service per server
with the cloud's annotations (CCE: one ELB per server when auto-created), the address written
by the test as each cloud's controller does, isolation to ClusterIP and back."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from agent.kube import resources
from tests.e2e.agent.harness import eventually
from tests.e2e.network.helpers import wait_network

if TYPE_CHECKING:
    from tests.e2e.agent.harness import Namespace

Obj = dict[str, Any]
ELB = "kubernetes.io/elb."
AUTO = '{"type":"public","bandwidth_name":"gs","bandwidth_chargemode":"traffic","bandwidth_size":5}'


async def _balanced(namespace: Namespace, name: str) -> Obj:
    found: Obj = {}

    async def made() -> bool:
        found.clear()
        found.update(await namespace.find(resources.SERVICE, name) or {})
        return bool(found) and found["spec"]["type"] == "LoadBalancer"

    await eventually(made, 30.0, f"Service {name} of type LoadBalancer")
    return found


@pytest.mark.parametrize(
    ("network_type", "conf", "notes", "spec", "port"),
    [
        ("HwCloud-ELB", [("ElbIds", "elb-1"), ("ElbClass", "shared"),
                         ("PublishNotReadyAddresses", "true")],
         {f"{ELB}id": "elb-1", f"{ELB}class": "shared", f"{ELB}connection-limit": "-1",
          f"{ELB}lb-algorithm": "ROUND_ROBIN", f"{ELB}health-check-flag": "on"},
         {"publishNotReadyAddresses": True}, 500),
        ("HwCloud-CCE-ELB", [(f"{ELB}autocreate", AUTO), (f"{ELB}lb-algorithm", "SOURCE_IP")],
         {f"{ELB}autocreate": AUTO, f"{ELB}lb-algorithm": "SOURCE_IP"}, {}, 32768),
        ("JdCloud-NLB", [("NlbIds", "nlb-jd"), ("AllocateLoadBalancerNodePorts", "false")],
         {"service.beta.kubernetes.io/jdcloud-loadbalancer-id": "nlb-jd"},
         {"allocateLoadBalancerNodePorts": False}, 500),
    ],
    ids=["hwcloud-elb", "hwcloud-cce-elb-auto", "jdcloud-nlb"],
)  # fmt: skip
@pytest.mark.usefixtures("agent")
async def test_cloud_service_address_and_isolation(
    namespace: Namespace,
    network_type: str,
    conf: list[tuple[str, str]],
    notes: dict[str, str],
    spec: dict[str, Any],
    port: int,
) -> None:
    pairs = [*conf, ("PortProtocols", "7777/UDP")]
    network = {"networkType": network_type,
               "networkConf": [{"name": n, "value": v} for n, v in pairs]}  # fmt: skip
    await namespace.create_set("gs", 2, network=network)
    await namespace.wait_servers("gs", {0, 1})
    for name, ip in (("gs-0", "121.0.0.1"), ("gs-1", "121.0.0.2")):
        svc = await _balanced(namespace, name)
        found = svc["metadata"]["annotations"]
        assert {k: found.get(k) for k in notes} == notes
        assert {k: svc["spec"].get(k) for k in spec} == spec
        await wait_network(namespace, name, "Ready", "NotReady")
        await namespace.kube.patch(
            resources.SERVICE, namespace.name, name,
            {"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}, subresource="status",
        )  # fmt: skip
        status = await wait_network(namespace, name, "Ready", "Ready")
        assert status["externalAddresses"][0]["ip"] == ip
    ports = {}
    for name in ("gs-0", "gs-1"):
        svc = await _balanced(namespace, name)
        ports[name] = svc["spec"]["ports"][0]["port"]
    if network_type == "HwCloud-CCE-ELB":
        assert ports == {"gs-0": port, "gs-1": port}, "each server on its own ELB"
    else:
        assert sorted(ports.values()) == [port, port + 1], "two servers on one load balancer"
    if network_type == "JdCloud-NLB":
        svc = await _balanced(namespace, "gs-0")
        spec_note = json.loads(
            svc["metadata"]["annotations"]["service.beta.kubernetes.io/jdcloud-load-balancer-spec"]
        )
        assert spec_note["loadBalancerId"] == "nlb-jd"
        assert [listener["protocol"] for listener in spec_note["listeners"]] == ["UDP"]

    await namespace.patch_gs("gs-1", {"networkDisabled": True})
    await wait_network(namespace, "gs-1", "NotReady", "NotReady")
    isolated = await namespace.find(resources.SERVICE, "gs-1")
    assert isolated is not None and isolated["spec"]["type"] == "ClusterIP"
    await namespace.patch_gs("gs-1", {"networkDisabled": False})
    svc = await _balanced(namespace, "gs-1")
    assert svc["spec"]["ports"][0]["port"] == ports["gs-1"]
