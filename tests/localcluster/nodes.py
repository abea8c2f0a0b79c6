"""Simulated kwok nodes, and waiting for a cluster to be usable through its API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.localcluster.ports import node_pod_cidr
from tests.localcluster.state import Cluster, zone_of

if TYPE_CHECKING:
    import pathlib

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
ALLOCATABLE = {"cpu": "64", "memory": "256Gi", "pods": "1500", "ephemeral-storage": "1Ti"}


def api(cluster: Cluster) -> client.ApiClient:
    api_client: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(cluster.kubeconfig)
    )
    return api_client


def install_kwok_crds(cluster: Cluster, path: pathlib.Path) -> None:
    ext = client.ApiextensionsV1Api(api(cluster))
    for crd in yaml.safe_load_all(path.read_text()):
        if crd:
            ext.patch_custom_resource_definition(
                crd["metadata"]["name"],
                crd,
                field_manager="gamefleet-localcluster",
                force=True,
                _content_type="application/apply-patch+yaml",
            )


def node_name(cluster: Cluster, index: int) -> str:
    return f"{cluster.name}-node-{index}"


def _node(cluster: Cluster, index: int) -> dict[str, Any]:
    name = node_name(cluster, index)
    cidr = node_pod_cidr(cluster.pod_cidr, index)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name,
                "node-role.kubernetes.io/agent": "",
                "type": "kwok",
                "topology.kubernetes.io/region": cluster.region,
                "topology.kubernetes.io/zone": zone_of(cluster.zone_prefix, index),
            },
        },
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        "status": {
            "allocatable": ALLOCATABLE,
            "capacity": ALLOCATABLE,
        },
    }


def create_nodes(cluster: Cluster) -> None:
    core = client.CoreV1Api(api(cluster))
    for j in range(cluster.nodes):
        try:
            core.create_node(cast("client.V1Node", _node(cluster, j)))  # dicts are sent as-is
        except ApiException as exc:
            if exc.status != 409:
                raise


def api_ready(cluster: Cluster) -> bool:
    api_client = api(cluster)
    resp = api_client.call_api("GET", f"{api_client.configuration.host}/readyz")
    return bool(resp.status == 200)


def nodes_ready(cluster: Cluster) -> bool:
    nodes = client.CoreV1Api(api(cluster)).list_node().items
    ready = [
        n
        for n in nodes
        if any(
            c.type == "Ready" and c.status == "True"
            for c in (n.status.conditions if n.status else None) or []
        )
    ]
    return len(ready) >= cluster.nodes


def default_service_account(cluster: Cluster) -> bool:
    core = client.CoreV1Api(api(cluster))
    return bool(core.list_namespaced_service_account("default").items)
