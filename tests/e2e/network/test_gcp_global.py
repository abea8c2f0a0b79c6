"""Global addresses on Google Cloud end to end: a GoogleCloud-NLB set with GlobalAddress=true
gets Config Connector's global proxy load balancer objects (minimal CRDs of the five kinds are
installed once per session): per set a health check and a global address per regional address,
per server TCP port a forwarding rule, TCP proxy and, once GKE's NEG controller reports the
server's standalone NEGs on its Service, a backend service on them. No Config Connector or GKE
runs here: the test writes what they write (the NEG status annotation, the objects' Ready
conditions and the reserved IP), and the server gets its global address; turning it off removes
the objects and empties the global addresses."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from agent.core.network import gcp_global
from agent.kube import client as kclient
from agent.kube import ready, resources
from agent.network.gcp_global import KINDS
from tests.e2e.agent.harness import eventually
from tests.e2e.network.helpers import (
    crd,
    lb_record,
    wait_global_address,
    wait_global_emptied,
    wait_invalid,
    wait_network,
)

if TYPE_CHECKING:
    from tests.e2e.agent.harness import Namespace

Obj = dict[str, Any]
REGIONAL = {"game-ip-a": "34.1.0.1", "game-ip-b": "34.1.0.2"}
GLOBAL_IP = "34.120.0.9"
ZONES = ["europe-west1-b", "europe-west1-c"]


@pytest.fixture(scope="session")
async def cnrm_crds(kube: kclient.KubeClient) -> None:
    for resource in KINDS:
        await kube.apply(resources.CRD, None, crd(resource))
    await ready.wait_serving(kube, KINDS, 60.0)


def _network(on: str, ports: str = "7777/TCP") -> Obj:
    conf = [
        ("AddressNames", "game-ip-a,game-ip-b"),
        ("PortProtocols", ports),
        ("MinPort", "7000"),
        ("MaxPort", "7000"),
        ("GlobalAddress", on),
        ("GlobalProjectId", "game-prod"),
    ]
    return {"networkType": "GoogleCloud-NLB",
            "networkConf": [{"name": n, "value": v} for n, v in conf]}  # fmt: skip


async def _objects(namespace: Namespace, resource: resources.Resource, count: int) -> list[Obj]:
    found: list[Obj] = []

    async def listed() -> bool:
        got = await namespace.kube.request("GET", resource.collection(namespace.name))
        found[:] = got.get("items") or []
        return len(found) == count

    await eventually(listed, 30.0, f"{count} {resource.kind}")
    return sorted(found, key=lambda o: str(o["metadata"]["name"]))


async def _made(namespace: Namespace, resource: resources.Resource, obj: Obj, **extra: Any) -> None:
    """Config Connector made the object in Google Cloud: Ready for its generation."""
    await namespace.kube.patch(
        resource, namespace.name, obj["metadata"]["name"],
        {"status": {"observedGeneration": obj["metadata"]["generation"],
                    "conditions": [{"type": "Ready", "status": "True", "reason": "UpToDate"}],
                    **extra}},
        subresource="status",
    )  # fmt: skip


async def _balanced(namespace: Namespace, name: str) -> Obj:
    """GKE's L4 controller made the regional rule: the address in the Service's status."""
    found: Obj = {}

    async def made() -> bool:
        svc = await namespace.find(resources.SERVICE, name)
        found.clear()
        found.update(svc or {})
        return svc is not None

    await eventually(made, 30.0, f"Service {name}")
    ip = REGIONAL[lb_record(found)[0]]
    return await namespace.kube.patch(
        resources.SERVICE, namespace.name, name,
        {"status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}},
        subresource="status",
    )  # fmt: skip


@pytest.mark.usefixtures("cnrm_crds", "agent")
async def test_global_address_through_config_connectors_proxy_load_balancer(
    namespace: Namespace,
) -> None:
    gss = await namespace.create_set("gs", 2, network=_network("true"))
    await namespace.wait_servers("gs", {0, 1})
    checks = await _objects(namespace, resources.COMPUTE_HEALTH_CHECK, 1)
    addresses = await _objects(namespace, resources.COMPUTE_ADDRESS, 2)
    for obj in (*checks, *addresses):
        assert obj["metadata"]["ownerReferences"][0]["uid"] == gss["metadata"]["uid"]
        assert obj["spec"]["location"] == "global"
    # Regional first: a server's global objects come once its regional address works (gs-1's
    # Service has none yet), and it is Ready without a global address.
    svc = await _balanced(namespace, "gs-0")
    lb, (port,) = lb_record(svc)
    status = await wait_network(namespace, "gs-0", "Ready", "Ready")
    assert "globalAddresses" not in status
    (rule,) = await _objects(namespace, resources.COMPUTE_FORWARDING_RULE, 1)
    assert rule["metadata"]["labels"][gcp_global.SERVER_LABEL] == "gs-0"
    await _balanced(namespace, "gs-1")
    rules = await _objects(namespace, resources.COMPUTE_FORWARDING_RULE, 2)
    await _objects(namespace, resources.COMPUTE_TCP_PROXY, 2)
    # No backend service before GKE reports the server's NEGs.
    await _objects(namespace, resources.COMPUTE_BACKEND_SERVICE, 0)
    asked = json.loads(svc["metadata"]["annotations"][gcp_global.NEG])
    neg = asked["exposed_ports"][str(port)]["name"]

    # GKE's NEG controller made the NEG in each zone: the backend service comes on it.
    neg_status = {"network_endpoint_groups": {str(port): neg}, "zones": ZONES}
    await namespace.kube.patch(
        resources.SERVICE, namespace.name, "gs-0",
        {"metadata": {"annotations": {gcp_global.NEG_STATUS: json.dumps(neg_status)}}},
    )  # fmt: skip
    (backend,) = await _objects(namespace, resources.COMPUTE_BACKEND_SERVICE, 1)
    assert backend["metadata"]["name"] == f"gs-0-gx-{port}"
    assert backend["metadata"]["ownerReferences"][0]["uid"] == svc["metadata"]["uid"]
    groups = [b["group"]["networkEndpointGroupRef"] for b in backend["spec"]["backend"]]
    assert [g["external"] for g in groups] == [
        f"projects/game-prod/zones/{zone}/networkEndpointGroups/{neg}" for zone in ZONES
    ]
    (rule,) = [r for r in rules if r["metadata"]["name"] == f"gs-0-gx-{port}"]
    assert rule["spec"]["portRange"] == str(port)
    assert rule["spec"]["ipAddress"]["addressRef"]["name"] == gcp_global.address_object("gs", lb)
    assert rule["spec"]["target"]["targetTCPProxyRef"]["name"] == f"gs-0-gx-{port}"

    # Config Connector made the address and the rule: the global address comes.
    (address,) = [
        a for a in addresses
        if a["metadata"]["name"] == gcp_global.address_object("gs", lb)
    ]  # fmt: skip
    await _made(namespace, resources.COMPUTE_ADDRESS, address,
                observedState={"address": GLOBAL_IP})  # fmt: skip
    await _made(namespace, resources.COMPUTE_FORWARDING_RULE, rule)
    found_status = await wait_global_address(namespace, "gs-0")
    assert found_status["globalAddresses"] == [
        {"ip": GLOBAL_IP, "ports": [{"name": "7777", "protocol": "TCP", "port": port}]}
    ]

    # Turned off: every object goes, and the global addresses are emptied.
    await namespace.patch_set("gs", {"network": _network("false")})
    for resource in KINDS:
        await _objects(namespace, resource, 0)

    await wait_global_emptied(namespace, "gs-0")
    await wait_network(namespace, "gs-0", "Ready", "Ready")


@pytest.mark.usefixtures("cnrm_crds", "agent")
async def test_udp_with_global_address_is_refused_naming_port_protocols(
    namespace: Namespace,
) -> None:
    await namespace.create_set("gs", 1, network=_network("true", "7777/UDP"))
    await wait_invalid(
        namespace,
        "gs",
        "network.networkConf[1] PortProtocols: GlobalAddress=true supports TCP ports only",
    )
    for resource in KINDS:
        listed = await namespace.kube.request("GET", resource.collection(namespace.name))
        assert listed.get("items") == []
