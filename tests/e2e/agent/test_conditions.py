"""GameServer conditions from the real objects: PodNormal for a pod that cannot be scheduled,
NodeNormal following its node's conditions (a node-problem-detector style condition)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from agent.kube import resources

from .harness import eventually

if TYPE_CHECKING:
    from .harness import Namespace

Obj = dict[str, Any]
pytestmark = pytest.mark.usefixtures("agent")


def _set(namespace: Namespace, selector: dict[str, str]) -> Obj:
    return {
        "apiVersion": "game.kruise.io/v1alpha1",
        "kind": "GameServerSet",
        "metadata": {"name": "gs", "namespace": namespace.name},
        "spec": {
            "replicas": 1,
            "gameServerTemplate": {
                "spec": {
                    "nodeSelector": selector,
                    "containers": [{"name": "main", "image": "game:1"}],
                }
            },
        },
    }


async def _condition(namespace: Namespace, kind: str, status: str) -> Obj:
    found: Obj = {}

    async def check() -> bool:
        gs = (await namespace.game_servers("gs")).get("gs-0") or {}
        for condition in (gs.get("status") or {}).get("conditions") or []:
            if condition["type"] == kind:
                found.clear()
                found.update(condition)
        return found.get("status") == status

    await eventually(check, 30.0, f"gs-0 {kind}={status}")
    return found


async def test_an_unschedulable_pod_is_not_normal_with_the_scheduler_reason(
    namespace: Namespace,
) -> None:
    await namespace.kube.create(
        resources.GAME_SERVER_SET, namespace.name, _set(namespace, {"pool": "nowhere"})
    )
    condition = await _condition(namespace, "PodNormal", "False")
    assert condition["reason"] == "Unschedulable"
    assert condition["lastTransitionTime"]

    async def warned() -> bool:
        return any(
            e["type"] == "Warning" and e["reason"] == "PodAbnormal"
            for e in await namespace.events("gs-0")
        )

    await eventually(warned, 30.0, "a PodAbnormal Warning event")


async def test_node_normal_follows_the_node(namespace: Namespace) -> None:
    kube = namespace.kube
    node_name = f"cond-{namespace.name}"[:63]
    await kube.create(
        resources.NODE,
        None,
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": node_name,
                "annotations": {"kwok.x-k8s.io/node": "fake"},
                "labels": {"pool": namespace.name, "type": "kwok"},
            },
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "10"}},
        },
    )
    try:
        await kube.create(
            resources.GAME_SERVER_SET, namespace.name, _set(namespace, {"pool": namespace.name})
        )
        await namespace.wait_servers("gs", {0})
        await _condition(namespace, "PodNormal", "True")
        await _condition(namespace, "NodeNormal", "True")
        assert not [e for e in await namespace.events("gs-0") if e["type"] == "Warning"]
        # A node-problem-detector style condition turns up on the node.
        await kube.patch(
            resources.NODE,
            None,
            node_name,
            {"status": {"conditions": [{"type": "FrequentKubeletRestart", "status": "True",
                                        "reason": "KubeletRestarting", "message": "5 in 20m"}]}},
            content_type="application/strategic-merge-patch+json",
            subresource="status",
        )  # fmt: skip
        condition = await _condition(namespace, "NodeNormal", "False")
        assert condition["reason"] == "FrequentKubeletRestart:KubeletRestarting"
        assert condition["message"] == "5 in 20m"
    finally:
        await kube.delete(resources.NODE, None, node_name)
