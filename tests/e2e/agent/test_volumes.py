"""volumeClaimTemplates: a claim per game server made before its pod, kept across pod
recreation, and persistentVolumeClaimRetentionPolicy on scale-down and set deletion. (No
volume is provisioned on the local clusters, so the pods wait Pending: the claims and the pods'
volumes are what is checked.)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from agent.kube import resources

from .harness import eventually

if TYPE_CHECKING:
    from .harness import Namespace

Obj = dict[str, Any]
CLAIM = resources.PERSISTENT_VOLUME_CLAIM
PERSISTENT_VOLUME = resources.PERSISTENT_VOLUME
DATA = {
    "metadata": {"name": "data", "labels": {"tier": "ssd"}},
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
}


def _template() -> Obj:
    return {
        "metadata": {"labels": {"app": "gs"}},
        "spec": {"containers": [{"name": "main", "image": "game:1"}]},
        "volumeClaimTemplates": [DATA],
    }


async def _create(namespace: Namespace, replicas: int, policy: Obj | None = None) -> None:
    spec: Obj = {"replicas": replicas, "gameServerTemplate": _template()}
    if policy:
        spec["persistentVolumeClaimRetentionPolicy"] = policy
    await namespace.kube.create(
        resources.GAME_SERVER_SET,
        namespace.name,
        {
            "apiVersion": "game.kruise.io/v1alpha1",
            "kind": "GameServerSet",
            "metadata": {"name": "gs", "namespace": namespace.name},
            "spec": spec,
        },
    )


async def _pods_exist(namespace: Namespace, names: set[str]) -> dict[str, Obj]:
    found: dict[str, Obj] = {}

    async def check() -> bool:
        found.clear()
        found.update(await namespace.pods("gs"))
        return set(found) == names

    await eventually(check, 30.0, f"pods {sorted(names)}")
    return found


@pytest.mark.usefixtures("agent")
async def test_claims_per_server_kept_across_recreation_and_by_default_on_scale_down(
    namespace: Namespace,
) -> None:
    await _create(namespace, 2)
    pods = await _pods_exist(namespace, {"gs-0", "gs-1"})
    for name, pod in pods.items():
        claim = await namespace.find(CLAIM, f"data-{name}")
        assert claim is not None
        assert claim["metadata"]["labels"] == {"tier": "ssd", "game.kruise.io/owner-gss": "gs"}
        assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
        assert "ownerReferences" not in claim["metadata"]  # whenDeleted: Retain
        assert {"name": "data", "persistentVolumeClaim": {"claimName": f"data-{name}"}} in pod[
            "spec"
        ]["volumes"]
    first = (await namespace.find(CLAIM, "data-gs-0") or {})["metadata"]["uid"]

    old = pods["gs-0"]["metadata"]["uid"]
    await namespace.delete_pod("gs-0")

    async def recreated() -> bool:
        pod = (await namespace.pods("gs")).get("gs-0")
        return pod is not None and pod["metadata"]["uid"] != old

    await eventually(recreated, 30.0, "gs-0 recreated")
    assert (await namespace.find(CLAIM, "data-gs-0") or {})["metadata"]["uid"] == first

    # whenScaled: Retain — the claim of a server scaled away stays, and comes back with it.
    kept = (await namespace.find(CLAIM, "data-gs-1") or {})["metadata"]["uid"]
    await namespace.scale("gs", 1)
    await _pods_exist(namespace, {"gs-0"})
    await namespace.scale("gs", 2)
    await _pods_exist(namespace, {"gs-0", "gs-1"})
    assert (await namespace.find(CLAIM, "data-gs-1") or {})["metadata"]["uid"] == kept


@pytest.mark.usefixtures("agent")
async def test_retention_delete_on_scale_down_and_with_the_set(namespace: Namespace) -> None:
    await _create(namespace, 2, {"whenScaled": "Delete", "whenDeleted": "Delete"})
    await _pods_exist(namespace, {"gs-0", "gs-1"})
    claim = await namespace.find(CLAIM, "data-gs-0")
    assert claim is not None
    owner = claim["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("GameServerSet", "gs")

    await namespace.scale("gs", 1)

    async def scaled_claim_gone() -> bool:
        return await namespace.find(CLAIM, "data-gs-1") is None

    await eventually(scaled_claim_gone, 30.0, "data-gs-1 deleted with its ordinal")
    assert await namespace.find(CLAIM, "data-gs-0") is not None

    # whenDeleted: Delete — the claims go with the set (the garbage collector follows the owner).
    await namespace.kube.delete(resources.GAME_SERVER_SET, namespace.name, "gs")

    async def claims_gone() -> bool:
        return await namespace.find(CLAIM, "data-gs-0") is None

    await eventually(claims_gone, 60.0, "data-gs-0 deleted with the set")


def _volume_condition(gs: Obj) -> Obj:
    found = [
        c
        for c in (gs.get("status") or {}).get("conditions") or []
        if c.get("type") == "PersistentVolumeNormal"
    ]
    return found[0] if found else {}


@pytest.mark.usefixtures("agent")
async def test_persistent_volume_normal_follows_the_claims_binding(namespace: Namespace) -> None:
    """PersistentVolumeNormal is False while the server's claim has no volume (nothing is
    provisioned here) and turns True once a PersistentVolume is bound to it (the cluster's
    volume binder does the binding)."""
    await _create(namespace, 1)
    await _pods_exist(namespace, {"gs-0"})

    async def condition(status: str, reason: str = "") -> bool:
        # The agent creates the pod first, its GameServer right after.
        found = _volume_condition(await namespace.find(resources.GAME_SERVER, "gs-0") or {})
        return found.get("status") == status and found.get("reason", "") == reason

    await eventually(
        lambda: condition("False", "PersistentVolume Not Found"), 30.0, "no volume yet"
    )
    volume_name = f"{namespace.name}-data-gs-0"
    await namespace.kube.create(
        PERSISTENT_VOLUME,
        None,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": volume_name},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": f"/tmp/{volume_name}"},
                "storageClassName": "",
                "claimRef": {"namespace": namespace.name, "name": "data-gs-0"},
            },
        },
    )
    try:
        await eventually(lambda: condition("True"), 60.0, "the claim bound to its volume")
        claim = await namespace.find(CLAIM, "data-gs-0")
        assert claim is not None and claim["spec"]["volumeName"] == volume_name
    finally:
        await namespace.kube.request("DELETE", PERSISTENT_VOLUME.item(None, volume_name))
