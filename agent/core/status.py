"""Count a GameServerSet's status from its observed pods."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from okg import vocabulary

from . import bodies, model, state, wire, writes

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

SCALE_DOWN_BLOCKED = "ScaleDownBlocked"
"""Condition type: replicas asks for fewer servers than the set can remove without touching
Allocated ones."""


@dataclasses.dataclass(frozen=True)
class GameServerSetStatus:
    """`GameServerSet.status`, OKG's fields plus gamefleet's allocated and held-back counts.

    As in OKG, `replicas` echoes spec.replicas and `current_replicas` counts the pods.
    """

    observed_generation: int
    replicas: int
    ready_replicas: int
    available_replicas: int
    current_replicas: int
    updated_replicas: int
    updated_ready_replicas: int
    maintaining_replicas: int
    wait_to_be_deleted_replicas: int
    pre_delete_replicas: int
    allocated_replicas: int
    held_back_replicas: int
    label_selector: str
    conditions: tuple[model.Condition, ...]


def compute_status(
    desired: model.GameServerSetView,
    pods: Sequence[model.PodView],
    *,
    held_back: int,
    now: float,
) -> GameServerSetStatus:
    """Count the set's pods; `held_back` comes from ScalePlan, `now` is in epoch seconds."""
    target = desired.revision.name
    min_ready = desired.update.min_ready_seconds
    ready = [p for p in pods if _running_and_ready(p)]
    present = [p for p in pods if not p.deleting]
    return GameServerSetStatus(
        observed_generation=desired.generation,
        replicas=desired.replicas,
        ready_replicas=len(ready),
        available_replicas=sum(1 for p in ready if _ready_for(p, min_ready, now)),
        current_replicas=len(pods),
        updated_replicas=sum(1 for p in present if p.revision == target),
        updated_ready_replicas=sum(1 for p in ready if p.revision == target),
        maintaining_replicas=_count_ops(pods, vocabulary.OpsState.MAINTAINING),
        wait_to_be_deleted_replicas=_count_ops(pods, vocabulary.OpsState.WAIT_TO_BE_DELETED),
        pre_delete_replicas=sum(
            1 for p in pods if state.derive_state(p) is vocabulary.GameServerState.PRE_DELETE
        ),
        allocated_replicas=_count_ops(pods, vocabulary.OpsState.ALLOCATED),
        held_back_replicas=held_back,
        label_selector=f"{wire.OWNER_GSS}={desired.name}",
        conditions=(scale_down_condition(held_back),),
    )


def scale_down_condition(held_back: int) -> model.Condition:
    """ScaleDownBlocked: True while servers in use are kept beyond replicas."""
    if held_back == 0:
        return model.Condition(SCALE_DOWN_BLOCKED, "False", "ScaledDown", "")
    noun = "server" if held_back == 1 else "servers"
    return model.Condition(
        SCALE_DOWN_BLOCKED,
        "True",
        "AllocatedServers",
        f"{held_back} game {noun} in use kept beyond replicas until they are free"
        " (Allocated, or players on their counters or lists)",
    )


def _running_and_ready(pod: model.PodView) -> bool:
    return pod.phase is model.PodPhase.RUNNING and pod.ready is True


def _ready_for(pod: model.PodView, seconds: int, now: float) -> bool:
    if seconds == 0:
        return True
    return pod.ready_since is not None and now - pod.ready_since >= seconds


def _count_ops(pods: Sequence[model.PodView], ops: vocabulary.OpsState) -> int:
    return sum(1 for p in pods if p.ops_state is ops)


def status_patch(
    gss: bodies.GameServerSet,
    desired: model.GameServerSetView,
    pods: Iterable[model.PodView],
    held_back: int,
    now: float,
) -> writes.Patch | None:
    """The set's status from `compute_status`, when it says something else; the
    `ScaleDownBlocked` condition keeps its `lastTransitionTime` while its status stays."""
    counted = compute_status(desired, list(pods), held_back=held_back, now=now)
    current: Mapping[str, object] = gss.get("status") or {}
    found: list[bodies.Condition] = [
        {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message}
        for c in counted.conditions
    ]
    old = (gss.get("status") or {}).get("conditions")
    timed = bodies.with_times(found, old, bodies.rfc3339(now), ("status",))
    conditions = [{**c, "observedGeneration": counted.observed_generation} for c in timed]
    wanted: bodies.Json = {
        "observedGeneration": counted.observed_generation,
        "replicas": counted.replicas,
        "readyReplicas": counted.ready_replicas,
        "availableReplicas": counted.available_replicas,
        "currentReplicas": counted.current_replicas,
        "updatedReplicas": counted.updated_replicas,
        "updatedReadyReplicas": counted.updated_ready_replicas,
        "maintainingReplicas": counted.maintaining_replicas,
        "waitToBeDeletedReplicas": counted.wait_to_be_deleted_replicas,
        "preDeleteReplicas": counted.pre_delete_replicas,
        "allocatedReplicas": counted.allocated_replicas,
        "heldBackReplicas": counted.held_back_replicas,
        "labelSelector": counted.label_selector,
        "conditions": conditions,
    }
    if all(current.get(k) == v for k, v in wanted.items()):
        return None
    return writes.Patch(
        writes.Kind.GAME_SERVER_SET,
        bodies.name(gss),
        {"status": wanted},
        status=True,
        on_conflict=writes.OnConflict.RAISE,
    )
