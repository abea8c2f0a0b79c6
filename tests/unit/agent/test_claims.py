"""Volume claims per game server: names, bodies, the pod's volumes, retention."""

from __future__ import annotations

from agent.core import claims

DATA = {
    "metadata": {"name": "data", "labels": {"tier": "ssd"}},
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
}
SPEC = {"gameServerTemplate": {"volumeClaimTemplates": [DATA, {"spec": {}}]}}
OWNER = {"kind": "GameServerSet", "name": "gs", "uid": "set-uid"}


def test_a_claim_per_named_template_named_after_the_server() -> None:
    assert claims.claim_names(SPEC, "gs-3") == ["data-gs-3"]
    body = claims.claim_body(DATA, "gs-3", "ns", {"game.kruise.io/owner-gss": "gs"}, None)
    assert body["metadata"] == {
        "name": "data-gs-3",
        "namespace": "ns",
        "labels": {"tier": "ssd", "game.kruise.io/owner-gss": "gs"},
    }
    assert body["spec"] == DATA["spec"]
    assert body["kind"] == "PersistentVolumeClaim"
    owned = claims.claim_body(DATA, "gs-3", "ns", {}, OWNER)
    assert owned["metadata"]["ownerReferences"] == [OWNER]


def test_the_pod_mounts_its_claims_unless_the_template_names_the_volume() -> None:
    pod_spec: dict[str, object] = {"containers": []}
    claims.mount_claims(pod_spec, SPEC, "gs-3")
    assert pod_spec["volumes"] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-gs-3"}}
    ]
    own = {"volumes": [{"name": "data", "emptyDir": {}}]}
    claims.mount_claims(own, SPEC, "gs-3")
    assert own["volumes"] == [{"name": "data", "emptyDir": {}}]
    none: dict[str, object] = {}
    claims.mount_claims(none, {}, "gs-3")
    assert "volumes" not in none


def test_retention_defaults_to_retain() -> None:
    assert claims.retention({}) == claims.RetentionPolicy("Retain", "Retain")
    policy = {"persistentVolumeClaimRetentionPolicy": {"whenScaled": "Delete"}}
    assert claims.retention(policy) == claims.RetentionPolicy("Retain", "Delete")
