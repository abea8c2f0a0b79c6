"""Scale planning: OKG's golden scenarios, targeted deletes, and Allocated protection."""

from __future__ import annotations

import pytest

from agent.core import model, scaling
from okg import vocabulary

from .sim import FakeSet, pod

ALLOCATED = vocabulary.OpsState.ALLOCATED
KILL = vocabulary.OpsState.KILL
RESERVE_IDS = vocabulary.ScaleDownStrategy.RESERVE_IDS


def plan(
    replicas: int,
    pods: list[model.PodView],
    reserve: frozenset[int] = frozenset(),
    memory: scaling.ReserveMemory | None = None,
    strategy: vocabulary.ScaleDownStrategy = vocabulary.ScaleDownStrategy.GENERAL,
) -> scaling.ScalePlan:
    desired = model.GameServerSetView(
        name="gs", replicas=replicas, reserve_ids=reserve, scale_down=strategy
    )
    remembered = memory if memory is not None else scaling.ReserveMemory(explicit=reserve)
    return scaling.compute_scale(desired, pods, remembered)


def deleted(result: scaling.ScalePlan) -> list[int]:
    return [d.ordinal for d in result.delete]


# OKG scenario 1.
def test_scale_up_walks_ordinals_from_zero() -> None:
    fake = FakeSet.of(3)
    assert fake.ids == {0, 1, 2}
    assert fake.scale(5).ids == {0, 1, 2, 3, 4}


def test_wait_to_be_deleted_goes_first_then_deletion_priority() -> None:
    fake = FakeSet.of(5)
    fake.mark(2, ops_state=vocabulary.OpsState.WAIT_TO_BE_DELETED)
    assert fake.scale(4).ids == {0, 1, 3, 4}
    fake.mark(3, deletion_priority=100)
    assert fake.scale(3).ids == {0, 1, 4}


# OKG scenarios 7 and 8 (reclaimPolicy Delete changes nothing in the ordinal plan).
def test_reserving_existing_ids_deletes_them_and_replaces_at_next_free() -> None:
    fake = FakeSet.of(5, reclaim_policy=vocabulary.ReclaimPolicy.DELETE)
    fake.scale(5, reserve=frozenset({3, 4}))
    assert fake.ids == {0, 1, 2, 5, 6}
    assert fake.last_plan is not None
    assert {d.reason for d in fake.last_plan.delete} == {scaling.DeleteReason.RESERVED}
    assert fake.scale(3, reserve=frozenset({3, 4, 5, 6})).ids == {0, 1, 2}


# OKG scenario 9.
def test_reserve_ids_strategy_writes_removed_ordinals_back() -> None:
    fake = FakeSet.of(5, scale_down=vocabulary.ScaleDownStrategy.RESERVE_IDS)
    fake.scale(3)
    assert fake.ids == {0, 1, 2}
    assert fake.desired.reserve_ids == {3, 4}
    fake.scale(4, reserve=frozenset({3}))
    assert fake.ids == {0, 1, 2, 4}
    assert fake.desired.reserve_ids == {3}


# OKG scenario 10.
def test_kill_lowers_replicas_and_general_keeps_it_out_of_the_reserve_list() -> None:
    fake = FakeSet.of(3)
    fake.mark(1, ops_state=KILL).reconcile()
    assert fake.ids == {0, 2}
    assert fake.desired.replicas == 2
    assert fake.desired.reserve_ids == frozenset()
    assert fake.scale(3).ids == {0, 1, 2}


def test_general_scale_down_then_up_reuses_implicit_ordinals() -> None:
    fake = FakeSet.of(5).scale(3)
    assert fake.memory.implicit == {3, 4}
    assert fake.desired.reserve_ids == frozenset()
    assert fake.scale(5).ids == {0, 1, 2, 3, 4}
    assert fake.memory.implicit == frozenset()


def test_unreserving_an_id_makes_it_implicit_not_recreated() -> None:
    fake = FakeSet.of(3, reserve_ids=frozenset({1}))
    assert fake.ids == {0, 2, 3}
    fake.scale(3, reserve=frozenset())
    assert fake.ids == {0, 2, 3}
    assert fake.memory.implicit == {1}
    assert fake.scale(4).ids == {0, 1, 2, 3}


@pytest.mark.parametrize(
    ("pods", "expected"),
    [
        pytest.param(
            [pod(0, ops_state=vocabulary.OpsState.MAINTAINING), pod(1), pod(2)],
            [2, 1],
            id="maintaining-last",
        ),
        pytest.param(
            [
                pod(0, ops_state=KILL),
                pod(1, ops_state=vocabulary.OpsState.WAIT_TO_BE_DELETED),
                pod(2),
            ],
            [0, 1],
            id="kill-before-wait-to-be-deleted",
        ),
        pytest.param(
            [pod(0, deletion_priority=5), pod(1), pod(2, deletion_priority=-1)],
            [0, 1],
            id="deletion-priority-then-ordinal",
        ),
    ],
)
def test_scale_down_order(pods: list[model.PodView], expected: list[int]) -> None:
    assert deleted(plan(1, pods)) == expected


def test_unknown_ops_state_ranks_like_none() -> None:
    pods = [pod(0, ops_state=vocabulary.OpsState.from_wire("Busy")), pod(1)]
    assert deleted(plan(1, pods)) == [1]


# gamefleet: player continuity.
def test_scale_down_never_picks_allocated_and_reports_held_back() -> None:
    pods = [pod(i, ops_state=ALLOCATED) for i in range(3)] + [pod(3), pod(4)]
    result = plan(2, pods)
    assert deleted(result) == [4, 3]
    assert result.held_back == 1
    assert result.target == {0, 1, 2}


def test_allocated_at_high_ordinals_are_kept_and_low_idle_ones_go() -> None:
    pods = [pod(0), pod(1)] + [pod(i, ops_state=ALLOCATED) for i in (2, 3, 4)]
    result = plan(2, pods)
    assert sorted(deleted(result)) == [0, 1]
    assert result.held_back == 1
    assert result.memory.implicit == {0, 1}


def test_held_back_server_is_removed_once_it_leaves_allocated() -> None:
    fake = FakeSet.of(3)
    for ordinal in range(3):
        fake.mark(ordinal, ops_state=ALLOCATED)
    fake.scale(1)
    assert fake.ids == {0, 1, 2}
    assert fake.last_plan is not None
    assert fake.last_plan.held_back == 2
    fake.mark(1, ops_state=vocabulary.OpsState.NONE).reconcile()
    assert fake.ids == {0, 2}
    assert fake.last_plan.held_back == 1


def test_allocated_protection_holds_even_when_it_blocks_all_progress() -> None:
    pods = [pod(i, ops_state=ALLOCATED) for i in range(3)]
    result = plan(0, pods)
    assert result.delete == ()
    assert result.held_back == 3


def test_kill_removes_a_server_that_was_allocated() -> None:
    pods = [pod(0, ops_state=ALLOCATED), pod(1, ops_state=KILL), pod(2, ops_state=ALLOCATED)]
    result = plan(3, pods)
    assert result.replicas == 2
    assert [(d.ordinal, d.reason) for d in result.delete] == [(1, scaling.DeleteReason.KILL)]
    assert result.held_back == 0


def test_reserving_an_allocated_server_deletes_it() -> None:
    pods = [pod(0, ops_state=ALLOCATED), pod(1), pod(2)]
    result = plan(3, pods, reserve=frozenset({0}), memory=scaling.ReserveMemory())
    assert deleted(result) == [0]
    assert result.create == (3,)


def test_kill_waits_until_the_set_is_settled() -> None:
    pods = [pod(0), pod(1, ops_state=KILL), pod(2, deleting=True)]
    result = plan(3, pods)
    assert result.replicas is None
    assert result.delete == ()


# Held pods: terminating or held in pre-delete.
def test_user_deleted_pod_keeps_its_slot_and_comes_back_with_its_ordinal() -> None:
    fake = FakeSet.of(3)
    fake.mark(1, deleting=True).reconcile()
    assert fake.last_plan is not None
    assert fake.last_plan.create == ()
    assert fake.last_plan.target == {0, 1, 2}
    del fake.pods[1]
    after = fake.reconcile().last_plan
    assert after is not None
    assert after.create == (1,)


@pytest.mark.parametrize("hold", [{"deleting": True}, {"held_pre_delete": True}])
def test_held_ordinal_is_not_reused_while_held(hold: dict[str, bool]) -> None:
    pods = [pod(0), pod(1), pod(2, **hold)]
    memory = scaling.ReserveMemory(implicit=frozenset({2}))
    result = plan(3, pods, memory=memory)
    assert result.create == (3,)
    assert result.memory.implicit == {2}


def test_held_pods_are_not_scale_down_candidates() -> None:
    pods = [pod(0), pod(1), pod(2, held_pre_delete=True)]
    result = plan(1, pods, memory=scaling.ReserveMemory(implicit=frozenset({2})))
    assert deleted(result) == [1]


def test_scale_down_past_live_servers_absorbs_a_pod_being_replaced() -> None:
    pods = [pod(0), pod(1, deleting=True), pod(2, ops_state=ALLOCATED)]
    result = plan(1, pods)
    assert deleted(result) == [0]
    assert result.memory.implicit == {0, 1}
    assert result.held_back == 0
    assert result.target == {2}


def test_plan_is_empty_when_the_set_matches() -> None:
    result = plan(3, [pod(0), pod(1), pod(2)])
    assert (result.create, result.delete, result.replicas, result.reserve_ids) == (
        (),
        (),
        None,
        None,
    )


def test_stale_memory_never_reserves_an_existing_server() -> None:
    stale = scaling.ReserveMemory(implicit=frozenset({1}))
    result = plan(3, [pod(0), pod(1), pod(2)], memory=stale, strategy=RESERVE_IDS)
    assert result.memory.implicit == frozenset()
    assert result.reserve_ids is None


def test_reserve_ids_strategy_remembers_killed_ordinals() -> None:
    fake = FakeSet.of(3, scale_down=RESERVE_IDS)
    fake.mark(1, ops_state=KILL).reconcile()
    assert fake.ids == {0, 2}
    assert fake.desired.reserve_ids == {1}
    assert fake.scale(3).ids == {0, 2, 3}


@pytest.mark.parametrize(
    ("max_unavailable", "replicas", "ready", "allowed"),
    [
        (None, 10, [True, False], None),
        (2, 10, [True, True], 2),
        (2, 10, [True, False], 1),
        (2, 10, [False, False, False], 0),
        ("50%", 10, [False], 4),
        ("10%", 5, [], 1),  # rounds down to 0, but one may always be on its way
    ],
)
def test_scale_max_unavailable_paces_creations(
    max_unavailable: int | str | None, replicas: int, ready: list[bool], allowed: int | None
) -> None:
    desired = model.GameServerSetView(
        name="gs", replicas=replicas, scale_max_unavailable=max_unavailable
    )
    pods = [pod(i, ready=r) for i, r in enumerate(ready)]
    assert scaling.creations_allowed(desired, pods) == allowed


def test_scale_down_keeps_a_server_whose_counters_hold_players() -> None:
    pods = [pod(0), pod(1, holds_players=True), pod(2, holds_players=True)]
    result = plan(1, pods)
    assert deleted(result) == [0]
    assert result.held_back == 1


@pytest.mark.parametrize("ops", [vocabulary.OpsState.NONE, vocabulary.OpsState.WAIT_TO_BE_DELETED])
def test_scale_to_zero_keeps_only_the_servers_with_players(ops: vocabulary.OpsState) -> None:
    pods = [pod(0, ops_state=ops), pod(1, ops_state=ops, holds_players=True), pod(2)]
    result = plan(0, pods)
    assert sorted(deleted(result)) == [0, 2]
    assert result.held_back == 1
    assert result.target == frozenset({1})


def test_a_server_whose_players_left_goes_at_the_next_scale_down() -> None:
    assert deleted(plan(0, [pod(1, holds_players=False)])) == [1]
