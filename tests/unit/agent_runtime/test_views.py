"""Objects → core views: pre-delete holds, in-place update progress, the set's spec."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.controllers import views
from agent.core import model, scaling, wire
from okg import reserve_ids, vocabulary


def _pod(**over: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {"name": "gs-1", "uid": "u1", "labels": {}, "annotations": {}},
        "spec": {"containers": [{"name": "main", "image": "game:2"}]},
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}
            ],
            "containerStatuses": [
                {"name": "main", "image": "game:1", "imageID": "", "ready": True}
            ],
        },
    }
    for key, value in over.items():
        pod[key] = value
    return pod


def test_in_place_update_is_under_way_until_the_status_shows_the_new_image() -> None:
    pod = _pod()
    note = views.in_place_note(pod, "rev2", {"main": "game:2"})
    assert json.loads(note) == {"old": {"main": "game:1|"}, "revision": "rev2"}
    pod["metadata"]["annotations"][views.IN_PLACE_UPDATE] = note
    assert views.in_place_updating(pod)
    pod["status"]["containerStatuses"][0]["image"] = "game:2"
    assert not views.in_place_updating(pod)


def test_a_normalised_image_name_counts_once_ready() -> None:
    pod = _pod()
    pod["metadata"]["annotations"][views.IN_PLACE_UPDATE] = views.in_place_note(
        pod, "r", {"main": "game:2"}
    )
    status = pod["status"]["containerStatuses"][0]
    status.update(image="docker.io/library/game:2", ready=False)
    assert views.in_place_updating(pod)
    status["ready"] = True
    assert not views.in_place_updating(pod)


def test_a_pod_without_the_annotation_is_not_updating() -> None:
    assert not views.in_place_updating(_pod())


@pytest.mark.parametrize(
    ("finalizers", "label", "held", "deleting"),
    [
        ([views.PRE_DELETE_FINALIZER], "true", True, False),
        ([views.PRE_DELETE_FINALIZER], "false", False, True),
        ([], "true", False, True),
    ],
)
def test_pre_delete_hold(finalizers: list[str], label: str, held: bool, deleting: bool) -> None:
    pod = _pod()
    pod["metadata"].update(
        deletionTimestamp="2025-01-01T00:00:00Z",
        finalizers=finalizers,
        labels={"gs-sync/delete-block": label},
    )
    view = views.pod_view(pod, 1, None, {"gs-sync/delete-block": "true"})
    assert view.held_pre_delete is held
    assert view.deleting is deleting
    assert view.held


@pytest.mark.parametrize(
    ("finalizers", "label", "holds"),
    [
        (["example.com/hold-update"], "false", True),
        (["other.example.com/x"], "false", False),
        ([], "true", True),
        ([], "false", False),
    ],
)
def test_in_place_update_hook(finalizers: list[str], label: str, holds: bool) -> None:
    """A labelsHandler match or any finalizersHandler finalizer holds the in-place update."""
    pod = _pod()
    pod["metadata"].update(finalizers=finalizers, labels={"gs-sync/update-block": label})
    view = views.pod_view(
        pod,
        1,
        None,
        {},
        update_handler={"gs-sync/update-block": "true"},
        update_finalizers=("example.com/hold-update",),
    )
    assert view.update_hook_holds is holds
    gss = {"spec": {"lifecycle": {"inPlaceUpdate": {"finalizersHandler": ["a/b", ""]}}}}
    assert views.in_place_update_finalizers(gss) == ("a/b",)
    assert views.pre_delete_finalizers(gss) == ()


def test_pod_view_reads_the_game_server_spec_over_pod_labels() -> None:
    pod = _pod()
    pod["metadata"]["labels"] = {wire.GS_OPS_STATE: "None", wire.REVISION: "r1"}
    gs = {
        "metadata": {"name": "gs-1"},
        "spec": {
            "opsState": "Allocated",
            "deletionPriority": "7",
            "containers": [{"name": "main", "image": "game:canary"}],
        },
    }
    view = views.pod_view(pod, 1, gs, {})
    assert view.ops_state is vocabulary.OpsState.ALLOCATED
    assert view.deletion_priority == 7
    assert view.revision == "r1"
    assert view.ready is True
    assert view.ready_since == 1735689600.0
    assert view.image_overrides == (model.ContainerImage("main", "game:canary"),)


def _gss(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "gs", "generation": 3, "annotations": {}},
        "spec": {
            "replicas": 2,
            "gameServerTemplate": {
                "reclaimPolicy": "Delete",
                "spec": {"containers": [{"name": "main", "image": "game:1"}]},
            },
            **spec,
        },
    }


def test_gss_view() -> None:
    view = views.gss_view(
        _gss(
            reserveGameServerIds=[1, "3-4"],
            scaleStrategy={"scaleDownStrategyType": "ReserveIds"},
            updateStrategy={"rollingUpdate": {"partition": 1, "podUpdatePolicy": "InPlaceOnly"}},
        )
    )
    assert view.replicas == 2
    assert view.generation == 3
    assert view.reserve_ids == frozenset({1, 3, 4})
    assert view.reclaim_policy is vocabulary.ReclaimPolicy.DELETE
    assert view.scale_down is vocabulary.ScaleDownStrategy.RESERVE_IDS
    assert view.update.partition == 1
    assert view.update.pod_update_policy is vocabulary.PodUpdatePolicy.IN_PLACE_ONLY
    assert view.revision.images == (model.ContainerImage("main", "game:1"),)


def test_the_revision_ignores_reclaim_policy() -> None:
    a = views.gss_view(_gss())
    b = _gss()
    b["spec"]["gameServerTemplate"]["reclaimPolicy"] = "Cascade"
    assert views.gss_view(b).revision == a.revision


def test_invalid_reserve_ids_raise() -> None:
    with pytest.raises(reserve_ids.ReserveIdsError, match=r"reserveGameServerIds\[0\]"):
        views.gss_view(_gss(reserveGameServerIds=["7-3"]))


def test_reserve_memory_round_trip() -> None:
    memory = scaling.ReserveMemory(explicit=frozenset({1, 2, 3}), implicit=frozenset({9}))
    gss = _gss()
    gss["metadata"]["annotations"] = views.memory_annotations(memory)
    assert gss["metadata"]["annotations"][wire.RESERVE_IDS] == "1-3"
    assert views.reserve_memory(gss) == memory
