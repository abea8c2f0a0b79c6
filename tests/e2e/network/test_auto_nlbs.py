"""AlibabaCloud-AutoNLBs end to end: the set's LoadBalancer Services per line and block of
ordinals (class alibabacloud.com/nlb, no load-balancer id: Alibaba Cloud's controller creates an
NLB for each), kept ahead of the set as it grows; pods carry container ports named after their
ordinal. The test writes each Service's NLB DNS name as the controller does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from agent.kube import resources
from tests.e2e.agent.harness import eventually
from tests.e2e.network.helpers import wait_network

if TYPE_CHECKING:
    from tests.e2e.agent.harness import Namespace

Obj = dict[str, Any]
ZONES = "vpc-1@cn-hangzhou-h:vsw-a,cn-hangzhou-i:vsw-b"
NETWORK = {
    "networkType": "AlibabaCloud-AutoNLBs",
    "networkConf": [
        {"name": "ZoneMaps", "value": ZONES},
        {"name": "PortProtocols", "value": "7777/UDP"},
        {"name": "MinPort", "value": "1000"},
        {"name": "MaxPort", "value": "1003"},
        {"name": "EipIspTypes", "value": "BGP,ChinaTelecom"},
    ],
}


def _host(name: str) -> str:
    return f"nlb-{name}.cn-hangzhou.nlb.aliyuncs.com"


async def _services(namespace: Namespace) -> dict[str, Obj]:
    listed = await namespace.kube.request("GET", resources.SERVICE.collection(namespace.name))
    return {s["metadata"]["name"]: s for s in listed.get("items") or []}


async def _wait_services(namespace: Namespace, names: set[str]) -> dict[str, Obj]:
    found: dict[str, Obj] = {}

    async def made() -> bool:
        found.clear()
        found.update(await _services(namespace))
        return set(found) == names

    await eventually(made, 30.0, f"Services {sorted(names)}")
    return found


async def _answer_as_cloud(namespace: Namespace, svc: Obj) -> None:
    name = svc["metadata"]["name"]
    await namespace.kube.patch(
        resources.SERVICE,
        namespace.name,
        name,
        {"status": {"loadBalancer": {"ingress": [{"hostname": _host(name)}]}}},
        subresource="status",
    )


@pytest.mark.usefixtures("agent")
async def test_nlbs_per_line_and_block_made_ahead_of_the_set(namespace: Namespace) -> None:
    gss = await namespace.create_set("gs", 5, network=NETWORK)
    await namespace.wait_servers("gs", {0, 1, 2, 3, 4})
    # 4 ports per NLB, one per server: ordinals 0-3 on block 0, 4 on block 1, and 1 reserved.
    lines = ("bgp", "chinatelecom")
    names = {f"gs-{line}-{block}" for line in lines for block in range(3)}
    found = await _wait_services(namespace, names)
    for svc in found.values():
        spec = svc["spec"]
        assert spec["type"] == "LoadBalancer"
        assert spec["loadBalancerClass"] == "alibabacloud.com/nlb"
        assert spec["allocateLoadBalancerNodePorts"] is False
        assert spec["selector"] == {"game.kruise.io/owner-gss": "gs"}
        notes = svc["metadata"]["annotations"]
        prefix = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
        assert notes[f"{prefix}zone-maps"] == ZONES
        assert f"{prefix}id" not in notes, "no existing NLB: the controller creates one"
        assert svc["metadata"]["ownerReferences"][0]["uid"] == gss["metadata"]["uid"]
    block1 = found["gs-bgp-1"]["spec"]["ports"]
    assert [(p["name"], p["port"], p["targetPort"]) for p in block1] == [
        (f"udp-{i}-7777", 1000 + i - 4, f"udp-{i}-7777") for i in range(4, 8)
    ]
    pods = await namespace.pods("gs")
    assert pods["gs-4"]["spec"]["containers"][0]["ports"] == [
        {"name": "udp-4-7777", "containerPort": 7777, "protocol": "UDP"}
    ]

    # NotReady until every line's NLB has its address.
    await wait_network(namespace, "gs-4", "Ready", "NotReady")
    await _answer_as_cloud(namespace, found["gs-bgp-1"])
    await wait_network(namespace, "gs-4", "Ready", "NotReady")
    for svc in found.values():
        await _answer_as_cloud(namespace, svc)
    status = await wait_network(namespace, "gs-4", "Ready", "Ready")
    assert status["externalAddresses"] == [
        {"ip": "", "endPoint": f"{_host(f'gs-{line}-1')}/{isp}",
         "ports": [{"name": "udp-4-7777", "protocol": "UDP", "port": 1000}]}
        for line, isp in zip(lines, ("BGP", "ChinaTelecom"), strict=True)
    ]  # fmt: skip
    assert status["internalAddresses"] == [
        {"ip": pods["gs-4"]["status"]["podIP"],
         "ports": [{"name": "udp-4-7777", "protocol": "UDP", "port": 7777}]}
    ]  # fmt: skip
    status = await wait_network(namespace, "gs-1", "Ready", "Ready")
    assert status["externalAddresses"][0]["ports"][0]["port"] == 1001

    # Isolation: only gs-1's ports lose their target, on both lines; then back.
    await namespace.patch_gs("gs-1", {"networkDisabled": True})
    await wait_network(namespace, "gs-1", "NotReady", "NotReady")
    for line in lines:
        svc = (await _services(namespace))[f"gs-{line}-0"]
        targets = {p["name"]: p["targetPort"] for p in svc["spec"]["ports"]}
        assert targets["udp-1-7777"] == "offu-1-7777"
        assert targets["udp-0-7777"] == "udp-0-7777"
    await wait_network(namespace, "gs-0", "Ready", "Ready")
    await namespace.patch_gs("gs-1", {"networkDisabled": False})
    await wait_network(namespace, "gs-1", "Ready", "Ready")

    # Growing: ordinal 8 reaches block 2, so block 3 is made ahead; the others stay as they
    # were (same uid: no server's address moves).
    uids = {n: s["metadata"]["uid"] for n, s in (await _services(namespace)).items()}
    await namespace.scale("gs", 9)
    await namespace.wait_servers("gs", set(range(9)))
    more = await _wait_services(namespace, names | {f"gs-{line}-3" for line in lines})
    assert {n: more[n]["metadata"]["uid"] for n in names} == uids
    # Scale-down deletes no Service: each holds a block of servers.
    await namespace.scale("gs", 2)
    await namespace.wait_servers("gs", {0, 1})
    assert set(await _services(namespace)) == set(more)
    await wait_network(namespace, "gs-1", "Ready", "Ready")
