"""GameServer conditions as OKG derives them: PodNormal and NodeNormal."""

from __future__ import annotations

from agent.core import conditions

RUNNING = {
    "status": {
        "phase": "Running",
        "conditions": [
            {"type": t, "status": "True"}
            for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ],
        "containerStatuses": [{"name": "main", "state": {"running": {}}}],
    }
}


def test_a_running_pod_is_normal() -> None:
    assert conditions.pod_condition(RUNNING) == {"type": "PodNormal", "status": "True"}


def test_unschedulable_and_crashing_reasons_are_joined_once() -> None:
    pod = {
        "status": {
            "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "message": "0/3 nodes are available"},
            ],
            "containerStatuses": [
                {"name": "a", "state": {"waiting": {"reason": "CrashLoopBackOff",
                                                    "message": "back-off"}},
                 "lastState": {"terminated": {"reason": "Error", "exitCode": 2}}},
                {"name": "b", "state": {"waiting": {"reason": "CrashLoopBackOff",
                                                    "message": "back-off"}}},
            ],
        }
    }  # fmt: skip
    assert conditions.pod_condition(pod) == {
        "type": "PodNormal",
        "status": "False",
        "reason": "Unschedulable; CrashLoopBackOff; ContainerTerminated:Error",
        "message": "0/3 nodes are available; back-off;  ExitCode: 2",
    }


def test_not_ready_counts_only_when_the_containers_are_ready() -> None:
    pod = {
        "status": {
            "conditions": [
                {"type": "ContainersReady", "status": "True"},
                {"type": "Ready", "status": "False", "reason": "ReadinessGatesNotReady"},
            ]
        }
    }
    assert conditions.pod_condition(pod)["reason"] == "ReadinessGatesNotReady"


def test_node_ready_false_or_pressure_true_is_abnormal() -> None:
    healthy = {
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "MemoryPressure", "status": "False"},
            ]
        }
    }
    assert conditions.node_condition(healthy) == {"type": "NodeNormal", "status": "True"}
    sick = {"status": {"conditions": [
        {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "gone"},
        {"type": "DiskPressure", "status": "True", "reason": "Full", "message": "disk"},
    ]}}  # fmt: skip
    assert conditions.node_condition(sick) == {
        "type": "NodeNormal",
        "status": "False",
        "reason": "Ready:NodeStatusUnknown; DiskPressure:Full",
        "message": "gone; disk",
    }


def test_transition_time_moves_only_on_change_and_new_falses_are_reported() -> None:
    ok = {"type": "PodNormal", "status": "True"}
    first = conditions.with_times([ok], [], "t1")
    assert first == [{**ok, "lastTransitionTime": "t1"}]
    assert conditions.with_times([ok], first, "t2") == first
    bad = {"type": "PodNormal", "status": "False", "reason": "Unschedulable", "message": "m"}
    second = conditions.with_times([bad], first, "t3")
    assert second[0]["lastTransitionTime"] == "t3"
    assert conditions.newly_false([bad], first) == [bad]
    assert conditions.newly_false([bad], second) == []


def test_a_normal_start_is_not_a_problem() -> None:
    starting = {
        "status": {
            "containerStatuses": [
                {"name": "main", "state": {"waiting": {"reason": "ContainerCreating"}}}
            ]
        }
    }
    assert conditions.pod_condition(starting)["status"] == "True"


def _mounting(*claims: str) -> conditions.Obj:
    volumes = [{"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims]
    volumes.append({"name": "scratch", "emptyDir": {}})
    return {"metadata": {"namespace": "games"}, "spec": {"volumes": volumes}}


def test_volumes_are_normal_without_claims_and_with_bound_healthy_volumes() -> None:
    pod = _mounting("data-gs-0")
    assert conditions.mounted_claims(pod) == ["data-gs-0"]
    assert conditions.volume_condition(_mounting(), {}, {}) == {
        "type": "PersistentVolumeNormal",
        "status": "True",
    }
    claim = {"spec": {"volumeName": "pv-1"}}
    healthy = conditions.volume_condition(pod, {"data-gs-0": claim}, {"pv-1": {"status": {}}})
    assert healthy["status"] == "True"


def test_missing_claims_unbound_claims_and_failed_volumes_are_joined() -> None:
    pod = _mounting("a", "b", "c")
    claims: dict[str, conditions.Obj | None] = {
        "a": None,
        "b": {"spec": {}},
        "c": {"spec": {"volumeName": "pv-c"}},
    }
    failed = {"status": {"phase": "Failed", "reason": "DiskGone", "message": "the disk is gone"}}
    found = conditions.volume_condition(pod, claims, {"pv-c": failed})
    assert found == {
        "type": "PersistentVolumeNormal",
        "status": "False",
        "reason": "PersistentVolumeClaim Not Found; PersistentVolume Not Found; DiskGone",
        "message": "There is no pvc named games/a in cluster; "
        "There is no pv which pvc games/b is bound with; the disk is gone",
    }
    gone = conditions.volume_condition(_mounting("c"), claims, {})
    assert gone["reason"] == "PersistentVolume Not Found"
