"""Kubernetes-Ingress end to end: a Service and an Ingress path per server; Ready once the
ingress controller (played by the test) reports an address."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from agent.kube import client as kclient
from agent.kube import resources
from tests.e2e.agent.harness import eventually

if TYPE_CHECKING:
    from tests.e2e.agent.harness import Namespace

Obj = dict[str, Any]
NETWORK = {
    "networkType": "Kubernetes-Ingress",
    "networkConf": [
        {"name": "Path", "value": "/game<id>"},
        {"name": "PathType", "value": "Prefix"},
        {"name": "Port", "value": "8080"},
        {"name": "Host", "value": "games.example.com"},
        {"name": "IngressClassName", "value": "nginx"},
        {"name": "Annotation", "value": "example.com/idle: 30s"},
    ],
}


async def _network(namespace: Namespace, name: str) -> Obj:
    gs = (await namespace.game_servers("gs")).get(name) or {}
    return dict((gs.get("status") or {}).get("networkStatus") or {})


async def _get(namespace: Namespace, resource: resources.Resource, name: str) -> Obj | None:
    try:
        return await namespace.kube.get(resource, namespace.name, name)
    except kclient.ApiError as exc:
        if exc.not_found:
            return None
        raise


@pytest.mark.usefixtures("agent")
async def test_ingress_path_per_server_and_address_from_the_controller(
    namespace: Namespace,
) -> None:
    await namespace.create_set("gs", 2, network=NETWORK)
    await namespace.wait_servers("gs", {0, 1})

    async def objects() -> bool:
        return (
            await _get(namespace, resources.INGRESS, "gs-1") is not None
            and await _get(namespace, resources.SERVICE, "gs-1") is not None
        )

    await eventually(objects, 30.0, "Service and Ingress of gs-1")
    ingress = await _get(namespace, resources.INGRESS, "gs-1")
    assert ingress is not None
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "games.example.com"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["metadata"]["annotations"] == {"example.com/idle": "30s"}
    assert rule["http"]["paths"][0] == {
        "path": "/game1",
        "pathType": "Prefix",
        "backend": {"service": {"name": "gs-1", "port": {"number": 8080}}},
    }
    service = await _get(namespace, resources.SERVICE, "gs-1")
    assert service is not None
    assert service["spec"]["selector"] == {"statefulset.kubernetes.io/pod-name": "gs-1"}
    assert (await _network(namespace, "gs-1")).get("currentNetworkState") == "NotReady"

    # The ingress controller publishes its address.
    await namespace.kube.patch(
        resources.INGRESS,
        namespace.name,
        "gs-1",
        {"status": {"loadBalancer": {"ingress": [{"ip": "10.1.2.3"}]}}},
        subresource="status",
    )

    async def ready() -> bool:
        return (await _network(namespace, "gs-1")).get("currentNetworkState") == "Ready"

    await eventually(ready, 30.0, "gs-1 network Ready")
    status = await _network(namespace, "gs-1")
    assert status["externalAddresses"] == [
        {
            "ip": "10.1.2.3",
            "ports": [{"name": "8080", "protocol": "TCP", "port": 8080}],
            "endPoint": "games.example.com/game1",
        }
    ]
    assert status["internalAddresses"][0]["ports"][0]["port"] == 8080

    await namespace.scale("gs", 1)
    await namespace.wait_servers("gs", {0})

    async def gone() -> bool:
        return await _get(namespace, resources.INGRESS, "gs-1") is None

    await eventually(gone, 30.0, "the Ingress of gs-1 removed")
