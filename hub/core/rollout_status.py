"""A fleet's rollout as its status shows it: status.rollout and the RolloutPaused condition."""

from __future__ import annotations

from gamefleet.v1 import fleet_pb2

from . import conditions
from . import rollout_progress as rp

ROLLOUT_PAUSED = "RolloutPaused"


def rollout_status(progress: rp.Progress, generation: int) -> fleet_pb2.RolloutStatus:
    status = fleet_pb2.RolloutStatus(
        phase=progress.phase, wave=progress.wave, waves=progress.waves, generation=generation
    )
    for cluster in progress.clusters:
        message = f"{cluster.reason}: {cluster.message}" if cluster.reason else ""
        status.clusters.add(
            cluster=cluster.cluster, wave=cluster.wave, state=cluster.state, message=message
        )
    return status


def paused_condition(
    progress: rp.Progress, control: fleet_pb2.RolloutControl, generation: int
) -> conditions.Condition:
    """True while the rollout gives no more clusters the template: paused by a user, or by a
    failure (the recorded one, else the one just found), naming the cluster and why."""
    failure = _failure(progress, control, generation)
    if failure is not None:
        cluster, reason, message = failure
        return conditions.Condition(
            ROLLOUT_PAUSED, conditions.TRUE, reason, f"cluster {cluster}: {message}"
        )
    if progress.phase == rp.PAUSED:
        return conditions.Condition(
            ROLLOUT_PAUSED, conditions.TRUE, "Paused", "paused by gamefleet rollout pause"
        )
    return conditions.Condition(ROLLOUT_PAUSED, conditions.FALSE, progress.phase, "")


def _failure(
    progress: rp.Progress, control: fleet_pb2.RolloutControl, generation: int
) -> tuple[str, str, str] | None:
    recorded = control.failure
    if control.HasField("failure") and recorded.generation == generation:
        return recorded.cluster, recorded.reason, recorded.message
    if progress.phase != rp.FAILED:
        return None
    found = progress.failure or next((c for c in progress.clusters if c.state == rp.FAILED), None)
    return (found.cluster, found.reason, found.message) if found is not None else None
