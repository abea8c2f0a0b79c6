"""GameServerSet status counts."""

from __future__ import annotations

from agent.core import model, status
from okg import vocabulary

from .sim import pod

REVISION = model.TemplateRevision(name="r2", shape="s")
NOW = 1_000.0


def view(min_ready_seconds: int = 0) -> model.GameServerSetView:
    return model.GameServerSetView(
        name="web",
        replicas=4,
        generation=7,
        revision=REVISION,
        update=model.UpdateStrategy(min_ready_seconds=min_ready_seconds),
    )


def test_counts() -> None:
    pods = [
        pod(0, revision="r2", ready_since=NOW - 60, ops_state=vocabulary.OpsState.ALLOCATED),
        pod(1, revision="r2", ready_since=NOW - 1, ops_state=vocabulary.OpsState.MAINTAINING),
        pod(2, revision="r1", ops_state=vocabulary.OpsState.WAIT_TO_BE_DELETED),
        pod(3, revision="r2", ready=False, held_pre_delete=True),
        pod(4, revision="r2", deleting=True, ops_state=vocabulary.OpsState.ALLOCATED),
        pod(5, revision="r2", phase=model.PodPhase.PENDING, ready=None),
    ]
    result = status.compute_status(view(min_ready_seconds=30), pods, held_back=0, now=NOW)
    assert result == status.GameServerSetStatus(
        observed_generation=7,
        replicas=4,
        ready_replicas=4,
        available_replicas=1,
        current_replicas=6,
        updated_replicas=4,
        updated_ready_replicas=3,
        maintaining_replicas=1,
        wait_to_be_deleted_replicas=1,
        pre_delete_replicas=1,
        allocated_replicas=2,
        held_back_replicas=0,
        label_selector="game.kruise.io/owner-gss=web",
        conditions=(model.Condition("ScaleDownBlocked", "False", "ScaledDown", ""),),
    )


def test_available_without_min_ready_seconds_equals_ready() -> None:
    pods = [pod(0, revision="r2"), pod(1, revision="r2", ready=False)]
    result = status.compute_status(view(), pods, held_back=0, now=NOW)
    assert (result.ready_replicas, result.available_replicas) == (1, 1)


def test_held_back_sets_the_scale_down_blocked_condition() -> None:
    result = status.compute_status(view(), [], held_back=2, now=NOW)
    assert result.held_back_replicas == 2
    (condition,) = result.conditions
    assert (condition.type, condition.status, condition.reason) == (
        "ScaleDownBlocked",
        "True",
        "AllocatedServers",
    )
    assert condition.message.startswith("2 game servers in use kept")
    assert status.scale_down_condition(1).message.startswith("1 game server in use kept")
