"""Kubernetes-NodePort end to end: OKG scenario 4, and Fixed Services outliving their pods."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from agent.kube import resources
from tests.e2e.agent.harness import eventually
from tests.e2e.network.helpers import wait_network

if TYPE_CHECKING:
    from tests.e2e.agent.harness import Namespace

Obj = dict[str, Any]


def _network(fixed: bool = False) -> Obj:
    conf = [{"name": "PortProtocols", "value": "8080/TCP"}]
    if fixed:
        conf.append({"name": "Fixed", "value": "true"})
    return {"networkType": "Kubernetes-NodePort", "networkConf": conf}


@pytest.mark.usefixtures("agent")
async def test_scenario_4_node_port_selector_and_network_disabled(namespace: Namespace) -> None:
    await namespace.create_set("gs", 3, network=_network())
    await namespace.wait_servers("gs", {0, 1, 2})
    pods = await namespace.pods("gs")
    for name in ("gs-0", "gs-1", "gs-2"):
        status = await wait_network(namespace, name, "Ready", "Ready")
        svc = await namespace.find(resources.SERVICE, name)
        assert svc is not None
        assert svc["spec"]["type"] == "NodePort"
        assert svc["spec"]["selector"] == {"statefulset.kubernetes.io/pod-name": name}
        assert svc["metadata"]["ownerReferences"][0]["uid"] == pods[name]["metadata"]["uid"]
        port = svc["spec"]["ports"][0]
        assert (port["port"], port["protocol"], port["targetPort"]) == (8080, "TCP", 8080)
        assert 30000 <= port["nodePort"] <= 32767
        assert status["networkType"] == "Kubernetes-NodePort"
        assert status["internalAddresses"] == [
            {
                "ip": pods[name]["status"]["podIP"],
                "ports": [{"name": "8080", "protocol": "TCP", "port": 8080}],
            }
        ]
        assert status["externalAddresses"][0]["ports"] == [
            {"name": "8080", "protocol": "TCP", "port": port["nodePort"]}
        ]

    await namespace.patch_gs("gs-1", {"networkDisabled": True})
    await wait_network(namespace, "gs-1", "NotReady", "NotReady")
    svc = await namespace.find(resources.SERVICE, "gs-1")
    assert svc is not None
    assert svc["spec"]["selector"] == {"game.kruise.io/svc-selector-disabled": "gs-1"}
    await namespace.wait_pod_label("gs", "gs-1", "game.kruise.io/network-disabled", "true")

    await namespace.patch_gs("gs-1", {"networkDisabled": False})
    await wait_network(namespace, "gs-1", "Ready", "Ready")
    svc = await namespace.find(resources.SERVICE, "gs-1")
    assert svc is not None
    assert svc["spec"]["selector"] == {"statefulset.kubernetes.io/pod-name": "gs-1"}
    # The other servers were never touched.
    assert (await namespace.find(resources.SERVICE, "gs-0") or {})["spec"]["selector"] == {
        "statefulset.kubernetes.io/pod-name": "gs-0"
    }


@pytest.mark.usefixtures("agent")
async def test_fixed_service_keeps_its_node_port_and_goes_with_scale_down(
    namespace: Namespace,
) -> None:
    await namespace.create_set("gs", 2, network=_network(fixed=True))
    await namespace.wait_servers("gs", {0, 1})
    await wait_network(namespace, "gs-1", "Ready", "Ready")
    svc = await namespace.find(resources.SERVICE, "gs-1")
    assert svc is not None
    assert svc["metadata"]["ownerReferences"][0]["kind"] == "GameServerSet"
    node_port = svc["spec"]["ports"][0]["nodePort"]
    old = (await namespace.pods("gs"))["gs-1"]["metadata"]["uid"]
    await namespace.delete_pod("gs-1")

    async def recreated() -> bool:
        pod = (await namespace.pods("gs")).get("gs-1")
        return pod is not None and pod["metadata"]["uid"] != old

    await eventually(recreated, 30.0, "gs-1 recreated")
    await namespace.wait_servers("gs", {0, 1})
    status = await wait_network(namespace, "gs-1", "Ready", "Ready")
    assert status["externalAddresses"][0]["ports"][0]["port"] == node_port

    await namespace.scale("gs", 1)
    await namespace.wait_servers("gs", {0})

    async def gone() -> bool:
        return await namespace.find(resources.SERVICE, "gs-1") is None

    await eventually(gone, 30.0, "the Service of gs-1 removed")
    assert await namespace.find(resources.SERVICE, "gs-0") is not None
