"""Google Cloud (GKE) and Azure (AKS) end to end: per server a LoadBalancer Service on one of
the studio's existing addresses (GKE: a reserved regional address by name, with the
backend-service-based passthrough NLB annotation; AKS: a public IP by name on the cluster's
Standard Load Balancer), ports allocated per address. No cloud controller runs on the local
clusters: the test writes each Service's load-balancer status as GKE's L4 controller and
cloud-provider-azure's service controller do once the forwarding rule / load-balancing rule
exists."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from agent.kube import resources
from tests.e2e.agent.harness import eventually
from tests.e2e.network.helpers import lb_record, wait_invalid, wait_network

if TYPE_CHECKING:
    from tests.e2e.agent.harness import Namespace

Obj = dict[str, Any]
GKE_ADDRESS = "networking.gke.io/load-balancer-ip-addresses"
AZURE_PIP = "service.beta.kubernetes.io/azure-pip-name"
ADDRESSES = {"game-ip-a": "34.1.0.1", "game-ip-b": "34.1.0.2", "pip-1": "20.0.0.1",
             "pip-2": "20.0.0.2"}  # fmt: skip


def _network(network_type: str, ids: tuple[str, str, str], *extra: tuple[str, str]) -> Obj:
    ids_param, first, second = ids
    conf = [
        (ids_param, f"{first},{second}"),
        ("PortProtocols", "7777/UDP"),
        ("MinPort", "7000"),
        ("MaxPort", "7001"),
    ]
    return {
        "networkType": network_type,
        "networkConf": [{"name": n, "value": v} for n, v in (*conf, *extra)],
    }


async def _answer_as_cloud(namespace: Namespace, name: str, id_key: str) -> Obj:
    """The cloud's controller made the rule: the address in the Service's status."""
    found: Obj = {}

    async def balanced() -> bool:
        svc = await namespace.find(resources.SERVICE, name)
        found.clear()
        found.update(svc or {})
        return svc is not None and svc["spec"]["type"] == "LoadBalancer"

    await eventually(balanced, 30.0, f"Service {name} of type LoadBalancer")
    ip = ADDRESSES[found["metadata"]["annotations"][id_key]]
    return await namespace.kube.patch(
        resources.SERVICE,
        namespace.name,
        name,
        {"status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}},
        subresource="status",
    )


@pytest.mark.parametrize(
    ("network_type", "ids", "id_key", "fixed_notes"),
    [
        ("GoogleCloud-NLB", ("AddressNames", "game-ip-a", "game-ip-b"), GKE_ADDRESS,
         {"cloud.google.com/l4-rbs": "enabled", "cloud.google.com/network-tier": "Premium"}),
        ("Azure-SLB", ("PipNames", "pip-1", "pip-2"), AZURE_PIP,
         {"service.beta.kubernetes.io/azure-load-balancer-resource-group": "rg-net"}),
    ],
    ids=["gke", "aks"],
)  # fmt: skip
@pytest.mark.usefixtures("agent")
async def test_server_ports_on_existing_addresses_readiness_and_isolation(
    namespace: Namespace,
    network_type: str,
    ids: tuple[str, str, str],
    id_key: str,
    fixed_notes: dict[str, str],
) -> None:
    option = (
        ("NetworkTier", "Premium") if network_type == "GoogleCloud-NLB"
        else ("PipResourceGroup", "rg-net")
    )  # fmt: skip
    await namespace.create_set("gs", 3, network=_network(network_type, ids, option))
    await namespace.wait_servers("gs", {0, 1, 2})
    pods = await namespace.pods("gs")
    # NotReady until the cloud's controller has answered.
    status = await wait_network(namespace, "gs-0", "Ready", "NotReady")
    assert status["networkType"] == network_type
    placed = {}
    for name in ("gs-0", "gs-1", "gs-2"):
        svc = await _answer_as_cloud(namespace, name, id_key)
        lb, (port,) = lb_record(svc)
        placed[name] = (lb, port)
        notes = svc["metadata"]["annotations"]
        assert notes[id_key] == lb
        assert {k: notes[k] for k in fixed_notes} == fixed_notes
        assert svc["spec"]["selector"] == {"statefulset.kubernetes.io/pod-name": name}
        assert [(p["port"], p["protocol"], p["targetPort"]) for p in svc["spec"]["ports"]] == [
            (port, "UDP", 7777)
        ]
        status = await wait_network(namespace, name, "Ready", "Ready")
        assert status["externalAddresses"] == [
            {"ip": ADDRESSES[lb], "ports": [{"name": "7777", "protocol": "UDP", "port": port}]}
        ]
        assert status["internalAddresses"][0]["ip"] == pods[name]["status"]["podIP"]
    # Two ports per address: the first address fills, then the second.
    _, first, second = ids
    assert sorted(placed.values()) == [(first, 7000), (first, 7001), (second, 7000)]

    # Isolation: ClusterIP (the cloud removes the rule), then back on the same address and port.
    await namespace.patch_gs("gs-1", {"networkDisabled": True})
    await wait_network(namespace, "gs-1", "NotReady", "NotReady")
    isolated = await namespace.find(resources.SERVICE, "gs-1")
    assert isolated is not None and isolated["spec"]["type"] == "ClusterIP"
    await namespace.patch_gs("gs-1", {"networkDisabled": False})
    svc = await _answer_as_cloud(namespace, "gs-1", id_key)
    assert lb_record(svc) == (placed["gs-1"][0], [placed["gs-1"][1]])
    await wait_network(namespace, "gs-1", "Ready", "Ready")


@pytest.mark.usefixtures("agent")
async def test_gke_too_many_ports_is_refused_naming_the_parameter(namespace: Namespace) -> None:
    network = {
        "networkType": "GoogleCloud-NLB",
        "networkConf": [
            {"name": "AddressNames", "value": "game-ip-a"},
            {"name": "PortProtocols", "value": "7001/TCP,7002/TCP,7003/TCP,7004/TCP,7005/TCP,7006"},
        ],
    }
    await namespace.create_set("gs", 1, network=network)
    await wait_invalid(namespace, "gs", "network.networkConf[1] PortProtocols: 6 TCP ports")
