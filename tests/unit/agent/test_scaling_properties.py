"""Properties of scale planning over random sets."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from agent.core import model, scaling
from okg import vocabulary

from .sim import pod

_OPS = st.sampled_from(list(vocabulary.OpsState))


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[model.GameServerSetView, list[model.PodView], scaling.ReserveMemory]:
    ordinals = draw(st.sets(st.integers(0, 20), max_size=12))
    pods = [
        pod(
            o,
            ops_state=draw(_OPS),
            deletion_priority=draw(st.integers(-2, 2)),
            deleting=draw(st.booleans()) and draw(st.booleans()),
        )
        for o in sorted(ordinals)
    ]
    reserve = draw(st.frozensets(st.integers(0, 20), max_size=4))
    memory = scaling.ReserveMemory(
        explicit=draw(st.frozensets(st.integers(0, 20), max_size=4)),
        implicit=draw(st.frozensets(st.integers(0, 25), max_size=6)),
    )
    desired = model.GameServerSetView(
        name="gs",
        replicas=draw(st.integers(0, 15)),
        reserve_ids=reserve,
        scale_down=draw(st.sampled_from(list(vocabulary.ScaleDownStrategy))),
    )
    return desired, pods, memory


@given(scenarios())
def test_allocated_servers_are_deleted_only_when_targeted(
    scenario: tuple[model.GameServerSetView, list[model.PodView], scaling.ReserveMemory],
) -> None:
    desired, pods, memory = scenario
    result = scaling.compute_scale(desired, pods, memory)
    by_ordinal = {p.ordinal: p for p in pods}
    for deletion in result.delete:
        if by_ordinal[deletion.ordinal].ops_state is vocabulary.OpsState.ALLOCATED:
            assert deletion.reason is scaling.DeleteReason.RESERVED
            assert deletion.ordinal in desired.reserve_ids


@given(scenarios())
def test_target_has_replicas_servers_plus_those_held_back(
    scenario: tuple[model.GameServerSetView, list[model.PodView], scaling.ReserveMemory],
) -> None:
    desired, pods, memory = scenario
    result = scaling.compute_scale(desired, pods, memory)
    replicas = result.replicas if result.replicas is not None else desired.replicas
    assert len(result.target) == replicas + result.held_back
    if result.held_back:
        kept = [p for p in pods if p.ordinal in result.target and not p.held]
        assert sum(p.ops_state is vocabulary.OpsState.ALLOCATED for p in kept) >= result.held_back


@given(scenarios())
def test_new_ordinals_are_free_unreserved_and_not_held(
    scenario: tuple[model.GameServerSetView, list[model.PodView], scaling.ReserveMemory],
) -> None:
    desired, pods, memory = scenario
    result = scaling.compute_scale(desired, pods, memory)
    existing = {p.ordinal for p in pods}
    assert not set(result.create) & (existing | desired.reserve_ids)
    assert not set(result.create) & result.memory.implicit
    assert not result.target & result.memory.explicit


def _apply(
    desired: model.GameServerSetView, pods: list[model.PodView], memory: scaling.ReserveMemory
) -> tuple[scaling.ScalePlan, model.GameServerSetView, list[model.PodView]]:
    result = scaling.compute_scale(desired, pods, memory)
    if result.replicas is not None:
        desired = dataclasses.replace(desired, replicas=result.replicas)
    if result.reserve_ids is not None:
        desired = dataclasses.replace(desired, reserve_ids=frozenset(result.reserve_ids))
    gone = {d.ordinal for d in result.delete}
    after = [p for p in pods if p.ordinal not in gone] + [pod(o) for o in result.create]
    return result, desired, after


@given(scenarios())
def test_applying_plans_reaches_a_fixed_point(
    scenario: tuple[model.GameServerSetView, list[model.PodView], scaling.ReserveMemory],
) -> None:
    desired, pods, memory = scenario
    pods = [dataclasses.replace(p, deleting=False) for p in pods]
    # Kill waits for a settled set, so it may take one more round than scaling.
    first, desired, pods = _apply(desired, pods, memory)
    second, desired, pods = _apply(desired, pods, first.memory)
    third, desired, pods = _apply(desired, pods, second.memory)
    assert (third.create, third.delete, third.reserve_ids, third.replicas) == ((), (), None, None)
    assert third.target == second.target == {p.ordinal for p in pods}
