"""Rolling update planning: order, partition, maxUnavailable, policies, Allocated and idle-only."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from agent.core import model, updates
from okg import vocabulary

from .sim import pod

IMG = model.ContainerImage
TARGET = model.TemplateRevision(name="r2", shape="s", images=(IMG("game", "game:2"),))
NOW = 1_000.0


def old(ordinal: int, **fields: Any) -> model.PodView:
    defaults: dict[str, Any] = {"revision": "r1", "shape": "s", "images": (IMG("game", "game:1"),)}
    return pod(ordinal, **(defaults | fields))


def new(ordinal: int, **fields: Any) -> model.PodView:
    defaults: dict[str, Any] = {"revision": "r2", "shape": "s", "images": TARGET.images}
    return pod(ordinal, **(defaults | fields))


def desired(replicas: int, **strategy: Any) -> model.GameServerSetView:
    return model.GameServerSetView(
        name="gs",
        replicas=replicas,
        revision=TARGET,
        update=dataclasses.replace(model.UpdateStrategy(), **strategy),
    )


def updated(plan: updates.UpdatePlan) -> list[int]:
    return [a.ordinal for a in plan.actions]


@pytest.mark.parametrize(
    ("value", "replicas", "expected"),
    [
        pytest.param(1, 10, 1, id="default"),
        pytest.param(3, 10, 3, id="absolute"),
        pytest.param("25%", 10, 2, id="percent-rounds-down"),
        pytest.param("10%", 5, 1, id="at-least-one"),
        pytest.param(0, 5, 1, id="zero-means-one"),
        pytest.param("100%", 7, 7, id="all"),
    ],
)
def test_max_unavailable(value: int | str, replicas: int, expected: int) -> None:
    assert updates.max_unavailable(value, replicas) == expected


def test_max_unavailable_rejects_a_bare_string() -> None:
    with pytest.raises(ValueError, match="neither an integer nor a percentage"):
        updates.max_unavailable("3", 10)


def test_higher_update_priority_first_then_higher_ordinal() -> None:
    pods = [old(0), old(1, update_priority=5), old(2), old(3, update_priority=5)]
    plan = updates.plan_update(desired(4, max_unavailable=4), pods, NOW)
    assert updated(plan) == [3, 1, 2, 0]


def test_max_unavailable_limits_updates_per_pass() -> None:
    pods = [old(i) for i in range(5)]
    assert updated(updates.plan_update(desired(5), pods, NOW)) == [4]
    assert updated(updates.plan_update(desired(5, max_unavailable="40%"), pods, NOW)) == [4, 3]


def test_unavailable_updated_servers_use_up_the_budget() -> None:
    pods = [old(0), old(1), new(2, ready=False)]
    plan = updates.plan_update(desired(3), pods, NOW)
    assert plan.actions == ()
    assert plan.unavailable == 1


def test_min_ready_seconds_counts_fresh_servers_as_unavailable() -> None:
    pods = [old(0), new(1, ready_since=NOW - 5)]
    assert updates.plan_update(desired(2, min_ready_seconds=10), pods, NOW).actions == ()
    pods = [old(0), new(1, ready_since=NOW - 10)]
    assert updated(updates.plan_update(desired(2, min_ready_seconds=10), pods, NOW)) == [0]


def test_in_place_updating_server_is_unavailable() -> None:
    pods = [old(0), new(1, in_place_updating=True)]
    assert updates.plan_update(desired(2), pods, NOW).actions == ()


def test_partition_keeps_that_many_on_the_old_revision() -> None:
    pods = [old(i) for i in range(5)]
    plan = updates.plan_update(desired(5, partition=3, max_unavailable=5), pods, NOW)
    assert updated(plan) == [4, 3]
    pods = [old(0), old(1), old(2), new(3), new(4)]
    assert updates.plan_update(desired(5, partition=3, max_unavailable=5), pods, NOW).actions == ()


def test_partition_at_or_above_replicas_updates_nothing() -> None:
    pods = [old(0), old(1)]
    assert updates.plan_update(desired(2, partition=5), pods, NOW).actions == ()


@pytest.mark.parametrize(
    "strategy",
    [{"paused": True}, {"type": vocabulary.UpdateStrategyType.ON_DELETE}],
    ids=["paused", "on-delete"],
)
def test_paused_and_on_delete_update_nothing(strategy: dict[str, Any]) -> None:
    assert updates.plan_update(desired(2, **strategy), [old(0), old(1)], NOW).actions == ()


@pytest.mark.parametrize(
    ("policy", "shape", "expected"),
    [
        (vocabulary.PodUpdatePolicy.RECREATE, "s", updates.UpdateKind.RECREATE),
        (vocabulary.PodUpdatePolicy.IN_PLACE_IF_POSSIBLE, "s", updates.UpdateKind.IN_PLACE),
        (vocabulary.PodUpdatePolicy.IN_PLACE_IF_POSSIBLE, "other", updates.UpdateKind.RECREATE),
        (vocabulary.PodUpdatePolicy.IN_PLACE_ONLY, "s", updates.UpdateKind.IN_PLACE),
    ],
)
def test_pod_update_policy(
    policy: vocabulary.PodUpdatePolicy, shape: str, expected: updates.UpdateKind
) -> None:
    plan = updates.plan_update(desired(1, pod_update_policy=policy), [old(0, shape=shape)], NOW)
    assert [a.kind for a in plan.actions] == [expected]


def test_in_place_only_blocks_when_more_than_images_changed() -> None:
    policy = vocabulary.PodUpdatePolicy.IN_PLACE_ONLY
    pods = [old(0), old(1, shape="other")]
    plan = updates.plan_update(desired(2, pod_update_policy=policy, max_unavailable=2), pods, NOW)
    assert updated(plan) == [0]
    assert plan.blocked == (1,)


def test_in_place_update_keeps_the_servers_own_images() -> None:
    pods = [
        old(0, images=(IMG("game", "game:1"), IMG("sidecar", "cfg:1")), image_overrides=()),
    ]
    target = dataclasses.replace(TARGET, images=(IMG("game", "game:2"), IMG("sidecar", "cfg:2")))
    policy = vocabulary.PodUpdatePolicy.IN_PLACE_IF_POSSIBLE
    view = dataclasses.replace(desired(1, pod_update_policy=policy), revision=target)
    overridden = dataclasses.replace(pods[0], image_overrides=(IMG("sidecar", "cfg:custom"),))
    plan = updates.plan_update(view, [overridden], NOW)
    assert plan.actions[0].images == (IMG("game", "game:2"), IMG("sidecar", "cfg:custom"))


# gamefleet: player continuity and idle-only.
def test_allocated_servers_are_never_updated() -> None:
    allocated = vocabulary.OpsState.ALLOCATED
    pods = [old(0), old(1, ops_state=allocated, update_priority=100), old(2, ops_state=allocated)]
    plan = updates.plan_update(desired(3, max_unavailable=3), pods, NOW)
    assert updated(plan) == [0]
    assert plan.waiting_allocated == (1, 2)


def test_allocated_server_is_updated_once_it_is_released() -> None:
    pods = [new(0), old(1, ops_state=vocabulary.OpsState.NONE)]
    assert updated(updates.plan_update(desired(2), pods, NOW)) == [1]


def test_skipping_allocated_does_not_widen_a_canary() -> None:
    pods = [old(0), old(1), old(2, ops_state=vocabulary.OpsState.ALLOCATED)]
    plan = updates.plan_update(desired(3, partition=2, max_unavailable=3), pods, NOW)
    assert updated(plan) == [1]


@pytest.mark.parametrize(
    ("ops", "idle_only", "touched"),
    [
        (vocabulary.OpsState.NONE, True, True),
        (vocabulary.OpsState.MAINTAINING, True, False),
        (vocabulary.OpsState.WAIT_TO_BE_DELETED, True, False),
        (vocabulary.OpsState.KILL, True, False),
        (vocabulary.OpsState.MAINTAINING, False, True),
        (vocabulary.OpsState.WAIT_TO_BE_DELETED, False, True),
        (vocabulary.OpsState.ALLOCATED, False, False),
        (vocabulary.OpsState.ALLOCATED, True, False),
    ],
)
def test_idle_only_updates_only_none_servers(
    ops: vocabulary.OpsState, idle_only: bool, touched: bool
) -> None:
    plan = updates.plan_update(desired(1, idle_only=idle_only), [old(0, ops_state=ops)], NOW)
    assert bool(plan.actions) is touched
    assert plan.waiting_busy == ((0,) if idle_only and not touched and ops != "Allocated" else ())


@pytest.mark.parametrize("idle_only", [False, True])
@pytest.mark.parametrize("policy", list(vocabulary.PodUpdatePolicy))
def test_a_server_with_players_on_its_counters_is_never_updated(
    idle_only: bool, policy: vocabulary.PodUpdatePolicy
) -> None:
    pods = [old(0), old(1, holds_players=True, update_priority=100), old(2, holds_players=True)]
    plan = updates.plan_update(
        desired(3, max_unavailable=3, idle_only=idle_only, pod_update_policy=policy), pods, NOW
    )
    assert updated(plan) == [0]
    assert plan.waiting_allocated == (1, 2)
    assert plan.waiting_busy == ()


def test_a_server_is_updated_once_its_players_leave() -> None:
    pods = [new(0), old(1, holds_players=False)]
    plan = updates.plan_update(desired(2, idle_only=True), pods, NOW)
    assert updated(plan) == [1]
    assert plan.waiting_allocated == ()


def test_a_busy_server_with_players_waits_as_in_use() -> None:
    maintaining = vocabulary.OpsState.MAINTAINING
    pods = [old(0, ops_state=maintaining, holds_players=True), old(1, ops_state=maintaining)]
    plan = updates.plan_update(desired(2, max_unavailable=2), pods, NOW)
    assert updated(plan) == [1]
    assert plan.waiting_allocated == (0,)


def test_held_pods_are_not_updated() -> None:
    pods = [old(0, deleting=True), old(1, held_pre_update=True)]
    plan = updates.plan_update(desired(2, max_unavailable=5), pods, NOW)
    assert plan.actions == ()
    assert plan.unavailable == 2


def test_an_in_place_update_hook_holds_its_server_and_not_the_others() -> None:
    in_place = vocabulary.PodUpdatePolicy.IN_PLACE_IF_POSSIBLE
    pods = [old(0), old(1, update_hook_holds=True), old(2)]
    plan = updates.plan_update(desired(3, max_unavailable=2, pod_update_policy=in_place), pods, NOW)
    # 1 is held and keeps serving: it does not use up one of the two unavailable slots.
    assert updated(plan) == [2, 0]
    assert plan.pre_update == (1,)
    assert plan.unavailable == 2
    released = [new(0), old(1, update_hook_holds=False), new(2)]
    plan = updates.plan_update(
        desired(3, max_unavailable=2, pod_update_policy=in_place), released, NOW
    )
    assert updated(plan) == [1]
    assert plan.pre_update == ()


def test_the_in_place_update_hook_does_not_hold_a_recreate() -> None:
    plan = updates.plan_update(desired(1), [old(0, update_hook_holds=True)], NOW)
    assert [a.kind for a in plan.actions] == [updates.UpdateKind.RECREATE]
    assert plan.pre_update == ()


def test_image_overrides_patch_even_allocated_servers() -> None:
    pods = [
        new(
            0,
            image_overrides=(IMG("game", "game:hotfix"),),
            ops_state=vocabulary.OpsState.ALLOCATED,
        ),
        new(1, image_overrides=(IMG("game", "game:2"),)),
        new(2, image_overrides=(IMG("game", "game:x"),), deleting=True),
    ]
    patches = updates.plan_image_overrides(pods)
    assert patches == (updates.ImagePatch(0, "gs-0", "uid-0", (IMG("game", "game:hotfix"),)),)
