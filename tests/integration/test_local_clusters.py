"""The local clusters behave like real Kubernetes: nodes, scheduling, CRDs, SSA, watches, Leases."""

from __future__ import annotations

import datetime
import ipaddress
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from tests.localcluster.nodes import api

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.localcluster.state import Cluster

GROUP, VERSION, PLURAL, KIND = "lctest.gamefleet.dev", "v1", "widgets", "Widget"
WAIT = 60
REGION = "topology.kubernetes.io/region"


def _watch_until(list_func: Callable[..., Any], matches: Callable[[Any], bool], *args: Any) -> Any:
    """The first object a watch reports that satisfies `matches`."""
    w: Any = watch.Watch()  # type: ignore[no-untyped-call]
    for event in w.stream(list_func, *args, timeout_seconds=WAIT):
        if event["type"] != "DELETED" and matches(event["object"]):
            w.stop()
            return event["object"]
    raise AssertionError(f"nothing matched within {WAIT}s watching {list_func.__name__}{args}")


@pytest.fixture
def namespace(local_clusters: list[Cluster]) -> Iterator[str]:
    """A fresh namespace of the same name in every cluster."""
    name = f"lc-{uuid.uuid4().hex[:8]}"
    for c in local_clusters:
        client.CoreV1Api(api(c)).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
        )
    yield name
    for c in local_clusters:
        client.CoreV1Api(api(c)).delete_namespace(name)


def test_nodes_ready_with_topology(local_clusters: list[Cluster]) -> None:
    regions = set()
    for c in local_clusters:
        core = client.CoreV1Api(api(c))
        nodes: list[Any] = core.list_node(label_selector=REGION).items
        assert len(nodes) == c.nodes, c.name
        for n in nodes:
            labels = n.metadata.labels
            assert labels[REGION] == c.region
            assert labels["topology.kubernetes.io/zone"].startswith(c.zone_prefix)
            ready = [x for x in n.status.conditions if x.type == "Ready"]
            assert ready and ready[0].status == "True", (c.name, n.metadata.name)
            if c.runtime == "binary":  # kind nodes keep the kubelet's default max pods
                assert int(n.status.allocatable["pods"]) >= 1000
        regions.add(c.region)
    assert len(regions) == len(local_clusters)


def _pod_ready(pod: Any) -> bool:
    conditions = pod.status.conditions or []
    ready = any(x.type == "Ready" and x.status == "True" for x in conditions)
    return pod.status.phase == "Running" and bool(pod.status.pod_ip) and ready


def test_pod_is_scheduled_and_runs(local_clusters: list[Cluster], namespace: str) -> None:
    for c in local_clusters:
        core = client.CoreV1Api(api(c))
        spec = client.V1PodSpec(
            containers=[client.V1Container(name="game", image="example.invalid/game:1")]
        )
        meta = client.V1ObjectMeta(name="p0")
        core.create_namespaced_pod(namespace, client.V1Pod(metadata=meta, spec=spec))
        pod = _watch_until(core.list_namespaced_pod, _pod_ready, namespace)
        node = core.read_node(pod.spec.node_name)
        assert node.metadata and node.metadata.labels
        assert node.metadata.labels[REGION] == c.region
        assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network(c.pod_cidr)


def _crd() -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {"replicas": {"type": "integer"}, "map": {"type": "string"}},
            },
            "status": {
                "type": "object",
                "properties": {"replicas": {"type": "integer"}, "selector": {"type": "string"}},
            },
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": PLURAL, "singular": "widget", "kind": KIND},
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                }
            ],
        },
    }


def _install_crd(c: Cluster) -> None:
    ext = client.ApiextensionsV1Api(api(c))
    ext.patch_custom_resource_definition(
        f"{PLURAL}.{GROUP}",
        _crd(),
        field_manager="localcluster-test",
        force=True,
        _content_type="application/apply-patch+yaml",
    )

    def established(crd: Any) -> bool:
        conds = (crd.status.conditions if crd.status else None) or []
        return crd.metadata.name == f"{PLURAL}.{GROUP}" and any(
            x.type == "Established" and x.status == "True" for x in conds
        )

    _watch_until(ext.list_custom_resource_definition, established)


def test_crd_status_scale_apply_and_watch(local_clusters: list[Cluster], namespace: str) -> None:
    for c in local_clusters:
        _install_crd(c)
        custom = client.CustomObjectsApi(api(c))
        args = (GROUP, VERSION, namespace, PLURAL)
        obj = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": {"name": "w"}}
        created: Any = custom.create_namespaced_custom_object(
            *args, {**obj, "spec": {"replicas": 1}}
        )

        with pytest.raises(ApiException) as invalid:
            custom.create_namespaced_custom_object(
                *args, {**obj, "metadata": {"name": "bad"}, "spec": {"replicas": "many"}}
            )
        assert invalid.value.status == 422  # the schema is really enforced

        applied: Any = custom.patch_namespaced_custom_object(
            *args,
            "w",
            {**obj, "spec": {"replicas": 3, "map": "dust2"}},
            field_manager="localcluster-test",
            force=True,
            _content_type="application/apply-patch+yaml",
        )
        assert applied["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
        managers = [m["manager"] for m in applied["metadata"]["managedFields"]]
        assert "localcluster-test" in managers

        custom.patch_namespaced_custom_object_status(
            *args, "w", {"status": {"replicas": 3, "selector": "app=w"}}
        )
        custom.patch_namespaced_custom_object_scale(*args, "w", {"spec": {"replicas": 5}})
        seen = _watch_until(
            custom.list_namespaced_custom_object,
            lambda o: o["spec"]["replicas"] == 5 and o.get("status", {}).get("replicas") == 3,
            *args,
        )
        assert seen["spec"]["map"] == "dust2"
        scale: Any = custom.get_namespaced_custom_object_scale(*args, "w")
        assert scale["spec"]["replicas"] == 5
        assert scale["status"] == {"replicas": 3, "selector": "app=w"}


def test_lease_can_be_taken(local_clusters: list[Cluster], namespace: str) -> None:
    for c in local_clusters:
        coord = client.CoordinationV1Api(api(c))
        spec = client.V1LeaseSpec(
            holder_identity="agent-a",
            lease_duration_seconds=15,
            acquire_time=datetime.datetime.now(datetime.UTC),
        )
        body = client.V1Lease(metadata=client.V1ObjectMeta(name="leader"), spec=spec)
        lease: Any = coord.create_namespaced_lease(namespace, body)
        assert lease.spec.holder_identity == "agent-a"
        with pytest.raises(ApiException) as taken:
            coord.create_namespaced_lease(namespace, body)
        assert taken.value.status == 409
        lease.spec.renew_time = datetime.datetime.now(datetime.UTC)
        renewed: Any = coord.replace_namespaced_lease("leader", namespace, lease)
        # A competitor still holding the old resourceVersion must lose.
        lease.spec.holder_identity = "agent-b"
        with pytest.raises(ApiException) as stale:
            coord.replace_namespaced_lease("leader", namespace, lease)
        assert stale.value.status == 409
        assert renewed.spec.holder_identity == "agent-a"


def test_clusters_are_separate(local_clusters: list[Cluster], namespace: str) -> None:
    assert len(local_clusters) >= 2, "set GAMEFLEET_CLUSTERS >= 2"
    first, *others = local_clusters
    body = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="only-here"), data={"cluster": first.name}
    )
    client.CoreV1Api(api(first)).create_namespaced_config_map(namespace, body)
    for c in others:
        with pytest.raises(ApiException) as absent:
            client.CoreV1Api(api(c)).read_namespaced_config_map("only-here", namespace)
        assert absent.value.status == 404
        assert c.api_url != first.api_url
