"""The rollout in the fleet's status: status.rollout and the RolloutPaused condition."""

from __future__ import annotations

from gamefleet.v1 import fleet_pb2

from hub.core import rollout_progress as rp
from hub.core.rollout_status import paused_condition, rollout_status

FAILED = rp.ClusterProgress("us-1", 1, rp.FAILED, rp.QUALITY_FAILING, "on arena-1: healthy")


def progress(phase: str, *clusters: rp.ClusterProgress) -> rp.Progress:
    return rp.Progress(frozenset(), clusters, phase, 1, 2, None, {}, None)


def test_status_lists_each_cluster_with_its_wave_state_and_reason() -> None:
    ok = rp.ClusterProgress("eu-1", 0, rp.SUCCEEDED)
    status = rollout_status(progress(rp.FAILED, ok, FAILED), generation=4)
    assert (status.phase, status.wave, status.waves, status.generation) == ("Failed", 1, 2, 4)
    assert [(c.cluster, c.wave, c.state, c.message) for c in status.clusters] == [
        ("eu-1", 0, "Succeeded", ""),
        ("us-1", 1, "Failed", "QualityFailing: on arena-1: healthy"),
    ]


def test_a_failure_found_now_names_cluster_and_reason() -> None:
    found = paused_condition(progress(rp.FAILED, FAILED), fleet_pb2.RolloutControl(), 4)
    assert (found.status, found.reason, found.message) == (
        "True",
        "QualityFailing",
        "cluster us-1: on arena-1: healthy",
    )


def test_a_recorded_failure_of_this_generation_is_shown_once_the_cluster_recovered() -> None:
    control = fleet_pb2.RolloutControl(
        failure=fleet_pb2.RolloutFailure(
            generation=4, cluster="us-1", reason="NotReady", message="arena-2 not Ready"
        )
    )
    found = paused_condition(progress(rp.FAILED), control, 4)
    assert (found.status, found.reason, found.message) == (
        "True",
        "NotReady",
        "cluster us-1: arena-2 not Ready",
    )
    older = paused_condition(progress(rp.PROGRESSING), control, 5)
    assert (older.status, older.reason) == ("False", "Progressing")


def test_a_users_pause() -> None:
    found = paused_condition(progress(rp.PAUSED), fleet_pb2.RolloutControl(paused=True), 4)
    assert (found.status, found.reason) == ("True", "Paused")
