"""Drift read from managedFields, as the API server wrote them (copied from a local cluster after
`kubectl scale`, `kubectl patch` and an HPA's scale)."""

from __future__ import annotations

from typing import Any

from agent.core import drift

AGENT = "gamefleet-agent"


def entry(manager: str, spec: dict[str, Any], subresource: str = "", op: str = "Update") -> Any:
    found: dict[str, Any] = {
        "apiVersion": "game.kruise.io/v1alpha1",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": spec} if spec else {"f:metadata": {"f:labels": {}}},
        "manager": manager,
        "operation": op,
    }
    if subresource:
        found["subresource"] = subresource
    return found


APPLIED = entry(AGENT, {}, op="Apply")
STATUS = {**entry(AGENT, {}, subresource="status"), "fieldsV1": {"f:status": {"f:replicas": {}}}}


def test_kubectl_scale_and_patch_are_drift_naming_field_and_manager() -> None:
    fields = [
        APPLIED,
        entry("kubectl", {"f:replicas": {}}, subresource="scale"),
        entry("kubectl-patch", {"f:gameServerTemplate": {"f:spec": {"f:containers": {}}}}),
        STATUS,
    ]
    assert drift.drift(fields, AGENT) == [
        "spec.gameServerTemplate.spec.containers by kubectl-patch",
        "spec.replicas by kubectl (scale)",
    ]


def test_the_agents_own_writes_and_status_are_not_drift() -> None:
    own_update = entry(AGENT, {"f:replicas": {}, "f:reserveGameServerIds": {}})
    assert drift.drift([APPLIED, own_update, STATUS], AGENT) == []
    assert drift.drift(None, AGENT) == []


def test_list_keys_read_as_paths_and_long_lists_are_cut() -> None:
    keyed: dict[str, Any] = {"f:containers": {'k:{"name":"arena"}': {".": {}, "f:image": {}}}}
    fields = [entry("kubectl-edit", {"f:gameServerTemplate": {"f:spec": keyed}})]
    assert drift.drift(fields, AGENT) == [
        "spec.gameServerTemplate.spec.containers[name=arena].image by kubectl-edit"
    ]
    many = [entry("someone", {f"f:field{i:02}": {} for i in range(20)})]
    reported = drift.drift(many, AGENT)
    assert len(reported) == drift.MAX_REPORTED
    assert reported[-1] == "and 13 more fields"


def test_an_hpa_owns_replicas_and_that_is_not_drift() -> None:
    fields = [APPLIED, entry(drift.HPA_MANAGER, {"f:replicas": {}}, subresource="scale")]
    owner = drift.replicas_owner(fields)
    assert owner == drift.HPA_OWNER
    assert drift.drift(fields, AGENT, owner) == []
    # The same manager writing replicas any other way is not an HPA.
    other = [entry(drift.HPA_MANAGER, {"f:replicas": {}})]
    assert drift.replicas_owner(other) == ""
    assert drift.drift(other, AGENT) == ["spec.replicas by kube-controller-manager"]


def test_an_annotated_owner_wins_and_leaves_other_fields_as_drift() -> None:
    fields = [
        entry("my-scaler", {"f:replicas": {}}),
        entry("kubectl-edit", {"f:minReadySeconds": {}}),
    ]
    owner = drift.replicas_owner(fields, annotated="my-scaler")
    assert owner == "my-scaler"
    assert drift.drift(fields, AGENT, owner) == ["spec.minReadySeconds by kubectl-edit"]
