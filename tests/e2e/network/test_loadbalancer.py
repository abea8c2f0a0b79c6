"""Cloud load balancers end to end (AlibabaCloud-SLB, TencentCloud-CLB): a LoadBalancer
Service per server with the cloud's annotations and ports allocated on the set's existing load
balancers; the address read back from the Service's status, which the test writes the way the
cloud's controller would (nothing fills it on the local clusters)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from agent.kube import resources
from tests.e2e.agent.harness import eventually
from tests.e2e.network.helpers import lb_record, wait_network

if TYPE_CHECKING:
    from tests.e2e.agent.harness import Namespace
    from tests.e2e.network.conftest import NetworkAgent

Obj = dict[str, Any]
SLB_ID = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id"
CLB_ID = "service.kubernetes.io/tke-existed-lbid"
LB_IPS = {"lb-a": "47.0.0.1", "lb-b": "47.0.0.2", "clb-1": "119.0.0.1"}


def _slb(*extra: tuple[str, str], ids: str = "lb-a,lb-b", ports: str = "7777/UDP") -> Obj:
    conf = [("SlbIds", ids), ("PortProtocols", ports), ("MinPort", "500"), ("MaxPort", "502")]
    return {
        "networkType": "AlibabaCloud-SLB",
        "networkConf": [{"name": n, "value": v} for n, v in (*conf, *extra)],
    }


async def _answer_as_cloud(namespace: Namespace, name: str, id_key: str = SLB_ID) -> Obj:
    """What the cloud's controller does once the listeners exist: the load balancer's address
    in the Service's status."""
    found: Obj = {}

    async def balanced() -> bool:
        svc = await namespace.find(resources.SERVICE, name)
        found.clear()
        found.update(svc or {})
        return svc is not None and svc["spec"]["type"] == "LoadBalancer"

    await eventually(balanced, 30.0, f"Service {name} of type LoadBalancer")
    ip = LB_IPS[found["metadata"]["annotations"][id_key]]
    return await namespace.kube.patch(
        resources.SERVICE,
        namespace.name,
        name,
        {"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}},
        subresource="status",
    )


@pytest.mark.usefixtures("agent")
async def test_slb_service_ports_address_and_isolation(namespace: Namespace) -> None:
    await namespace.create_set("gs", 3, network=_slb())
    await namespace.wait_servers("gs", {0, 1, 2})
    pods = await namespace.pods("gs")
    # Not Ready until the cloud has answered.
    status = await wait_network(namespace, "gs-0", "Ready", "NotReady")
    assert status["networkType"] == "AlibabaCloud-SLB"
    for name in ("gs-0", "gs-1", "gs-2"):
        await _answer_as_cloud(namespace, name)
    placed = {}
    for name in ("gs-0", "gs-1", "gs-2"):
        status = await wait_network(namespace, name, "Ready", "Ready")
        svc = await namespace.find(resources.SERVICE, name)
        assert svc is not None
        lb, (port,) = lb_record(svc)
        placed[name] = (lb, port)
        notes = svc["metadata"]["annotations"]
        assert notes[SLB_ID] == lb
        assert (
            notes["service.beta.kubernetes.io/alibaba-cloud-loadbalancer-force-override-listeners"]
            == "true"
        )
        assert svc["spec"]["selector"] == {"statefulset.kubernetes.io/pod-name": name}
        assert svc["metadata"]["ownerReferences"][0]["uid"] == pods[name]["metadata"]["uid"]
        assert [(p["port"], p["protocol"], p["targetPort"]) for p in svc["spec"]["ports"]] == [
            (port, "UDP", 7777)
        ]
        assert status["externalAddresses"] == [
            {"ip": LB_IPS[lb], "ports": [{"name": "7777", "protocol": "UDP", "port": port}]}
        ]
        assert status["internalAddresses"] == [
            {
                "ip": pods[name]["status"]["podIP"],
                "ports": [{"name": "7777", "protocol": "UDP", "port": 7777}],
            }
        ]
        # The game reads the same status from its pod.
        pod = (await namespace.pods("gs"))[name]
        assert json.loads(pod["metadata"]["annotations"]["game.kruise.io/network-status"]) == (
            status
        )
    # 500-502 less the blocked 593 (outside) = 3 ports on lb-a, first fit in order.
    assert sorted(placed.values()) == [("lb-a", 500), ("lb-a", 501), ("lb-a", 502)]

    # Isolation: the Service becomes ClusterIP (the listeners go); back, same port.
    await namespace.patch_gs("gs-1", {"networkDisabled": True})
    await wait_network(namespace, "gs-1", "NotReady", "NotReady")
    svc = await namespace.find(resources.SERVICE, "gs-1")
    assert svc is not None and svc["spec"]["type"] == "ClusterIP"
    await namespace.patch_gs("gs-1", {"networkDisabled": False})
    await _answer_as_cloud(namespace, "gs-1")
    status = await wait_network(namespace, "gs-1", "Ready", "Ready")
    assert status["externalAddresses"][0]["ports"][0]["port"] == placed["gs-1"][1]
    assert (await namespace.find(resources.SERVICE, "gs-0") or {})["spec"]["type"] == "LoadBalancer"


async def test_ports_spill_over_survive_a_restart_and_are_reused(
    namespace: Namespace, agent: NetworkAgent
) -> None:
    """3 ports per load balancer, two load balancers: 6 servers fit, a 7th waits."""
    await namespace.create_set("gs", 4, network=_slb(("Fixed", "true")))
    await namespace.wait_servers("gs", {0, 1, 2, 3})

    async def records() -> dict[str, tuple[str, list[int]]]:
        found = {}
        for i in range(8):
            svc = await namespace.find(resources.SERVICE, f"gs-{i}")
            if svc is not None:
                found[f"gs-{i}"] = lb_record(svc)
        return found

    async def have(count: int) -> bool:
        return len(await records()) == count

    await eventually(lambda: have(4), 30.0, "4 Services")
    first = await records()
    assert sorted(first.values()) == [
        ("lb-a", [500]), ("lb-a", [501]), ("lb-a", [502]), ("lb-b", [500]),
    ]  # fmt: skip

    # A new agent process continues the allocation from the Services.
    agent.stop()
    agent.start()
    await namespace.scale("gs", 7)
    await eventually(lambda: have(6), 30.0, "6 Services")
    after = await records()
    assert {k: v for k, v in after.items() if k in first} == first
    pairs = [(lb, port) for lb, ports in after.values() for port in ports]
    assert len(set(pairs)) == 6

    async def warned() -> bool:
        return any(
            e["type"] == "Warning" and e["reason"] == "NetworkUnavailable"
            for e in await namespace.events("gs")
        )

    await eventually(warned, 30.0, "a NetworkUnavailable event for the 7th server")
    assert len(await namespace.pods("gs")) == 6

    # Fixed: the Service outlives its pod, and the new pod gets the same port.
    old_uid = (await namespace.pods("gs"))["gs-1"]["metadata"]["uid"]
    await namespace.delete_pod("gs-1")

    async def recreated() -> bool:
        pod = (await namespace.pods("gs")).get("gs-1")
        return pod is not None and pod["metadata"]["uid"] != old_uid

    await eventually(recreated, 30.0, "gs-1 recreated")
    assert (await records())["gs-1"] == first["gs-1"]

    # Scaling down frees a server's ports, and the waiting server takes them.
    await namespace.kube.patch(
        resources.GAME_SERVER_SET,
        namespace.name,
        "gs",
        {"spec": {"reserveGameServerIds": [2]}},
    )
    await namespace.wait_servers("gs", {0, 1, 3, 4, 5, 6}, 60.0)
    await eventually(lambda: have(6), 30.0, "6 Services again")
    final = await records()
    assert final["gs-6"] == first["gs-2"], "the freed port went to the waiting server"


@pytest.mark.usefixtures("agent")
async def test_tencent_clb_binds_the_existing_clb(namespace: Namespace) -> None:
    network = {
        "networkType": "TencentCloud-CLB",
        "networkConf": [
            {"name": "ClbIds", "value": "clb-1"},
            {"name": "PortProtocols", "value": "7000/TCP,7001/UDP"},
        ],
    }
    await namespace.create_set("gs", 1, network=network)
    await namespace.wait_servers("gs", {0})
    svc = await _answer_as_cloud(namespace, "gs-0", CLB_ID)
    assert svc["metadata"]["annotations"][CLB_ID] == "clb-1"
    # TencentCloud-CLB's default range starts at 700.
    assert [(p["port"], p["protocol"], p["targetPort"]) for p in svc["spec"]["ports"]] == [
        (700, "TCP", 7000),
        (701, "UDP", 7001),
    ]
    status = await wait_network(namespace, "gs-0", "Ready", "Ready")
    assert status["externalAddresses"][0]["ip"] == LB_IPS["clb-1"]


@pytest.mark.usefixtures("agent")
async def test_bad_cloud_parameter_is_named_and_nothing_is_created(namespace: Namespace) -> None:
    await namespace.create_set("gs", 2, network=_slb(("LBHealthCheckType", "udp")))
    expected = 'network.networkConf[4] LBHealthCheckType: "udp" is not one of tcp, http'

    async def reported() -> bool:
        status = (await namespace.get_set("gs")).get("status") or {}
        conditions = {c["type"]: c for c in status.get("conditions") or []}
        cond = conditions.get("NetworkConfigInvalid")
        return cond is not None and expected in cond["message"]

    await eventually(reported, 30.0, "NetworkConfigInvalid naming LBHealthCheckType")
    assert await namespace.pods("gs") == {}
    assert await namespace.find(resources.SERVICE, "gs-0") is None
