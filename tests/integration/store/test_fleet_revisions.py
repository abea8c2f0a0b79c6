"""A fleet's revision history and rollout control on every store backend."""

from __future__ import annotations

import pytest
from gamefleet.v1 import fleet_pb2, gameserverset_pb2

from hub.registry import codec
from hub.registry.errors import PreconditionError
from hub.registry.fleets import FleetRegistry
from hub.registry.rollouts import RolloutRegistry
from hub.store.interface import Store


def arena(image: str, replicas: int = 3) -> fleet_pb2.Fleet:
    fleet = fleet_pb2.Fleet()
    fleet.metadata.namespace, fleet.metadata.name = "games", "arena"
    fleet.spec.replicas = replicas
    template = {"spec": {"containers": [{"name": "server", "image": image}]}}
    fleet.spec.template.game_server_template.update(template)
    return fleet


def image_of(template: gameserverset_pb2.GameServerSetSpec) -> str:
    spec = template.game_server_template.fields["spec"].struct_value
    container = spec.fields["containers"].list_value.values[0].struct_value
    return str(container.fields["image"].string_value)


async def test_the_last_ten_templates_are_kept_with_their_generation(store: Store) -> None:
    fleets, rollouts = FleetRegistry(store), RolloutRegistry(store)
    for version in range(12):
        await fleets.apply(arena(f"arena:{version}"))
    await fleets.apply(arena("arena:11", replicas=5))  # not a new template
    history = await rollouts.history("games", "arena")
    assert [r.generation for r in history.revisions] == list(range(3, 13))
    assert image_of(history.revisions[-1].template) == "arena:11"
    assert all(r.time.seconds > 0 for r in history.revisions)


async def test_a_dry_run_keeps_no_revision(store: Store) -> None:
    fleets, rollouts = FleetRegistry(store), RolloutRegistry(store)
    await fleets.apply(arena("arena:1"))
    await fleets.apply(arena("arena:2"), dry_run=True)
    assert len((await rollouts.history("games", "arena")).revisions) == 1


async def test_undo_applies_the_previous_template_as_a_new_generation(store: Store) -> None:
    fleets, rollouts = FleetRegistry(store), RolloutRegistry(store)
    await fleets.apply(arena("arena:1"))
    await fleets.apply(arena("arena:2"))
    await rollouts.pause("games", "arena")
    undone = await rollouts.undo("games", "arena")
    assert (undone.metadata.generation, image_of(undone.spec.template)) == (3, "arena:1")
    assert undone.rollout_control == fleet_pb2.RolloutControl(undo_generation=3)
    stored = await fleets.get("games", "arena")
    assert stored == undone
    again = await rollouts.undo("games", "arena")  # back and forth, as kubectl's undo
    assert image_of(again.spec.template) == "arena:2"


async def test_undo_without_an_earlier_template_changes_nothing(store: Store) -> None:
    fleets, rollouts = FleetRegistry(store), RolloutRegistry(store)
    applied = await fleets.apply(arena("arena:1"))
    with pytest.raises(PreconditionError, match="no earlier revision"):
        await rollouts.undo("games", "arena")
    assert (await fleets.get("games", "arena")).metadata.revision == applied.fleet.metadata.revision


async def test_pause_and_resume_keep_the_generation_and_survive_an_apply(store: Store) -> None:
    fleets, rollouts = FleetRegistry(store), RolloutRegistry(store)
    await fleets.apply(arena("arena:1"))
    paused = await rollouts.pause("games", "arena")
    assert paused.rollout_control.paused and paused.metadata.generation == 1
    applied = await fleets.apply(arena("arena:2"))
    assert applied.fleet.rollout_control.paused  # the hub's field: an apply keeps it
    resumed = await rollouts.resume("games", "arena")
    assert not resumed.rollout_control.paused


async def test_a_failure_is_kept_for_its_generation_only_and_resume_clears_it(
    store: Store,
) -> None:
    fleets, rollouts = FleetRegistry(store), RolloutRegistry(store)
    await fleets.apply(arena("arena:1"))
    stale = fleet_pb2.RolloutFailure(generation=7, cluster="us-1", reason="NotReady")
    assert not (
        await rollouts.record_failure("games", "arena", stale)
    ).rollout_control.failure.cluster
    failure = fleet_pb2.RolloutFailure(generation=1, cluster="us-1", reason="NotReady")
    recorded = await rollouts.record_failure("games", "arena", failure)
    assert recorded.rollout_control.failure.cluster == "us-1"
    assert recorded.rollout_control.failure.time.seconds > 0
    resumed = await rollouts.resume("games", "arena")
    assert not resumed.rollout_control.HasField("failure")


async def test_removing_the_fleet_removes_its_history(store: Store) -> None:
    fleets = FleetRegistry(store)
    await fleets.apply(arena("arena:1"))
    await fleets.request_deletion("games", "arena")
    await fleets.remove("games", "arena")
    assert await store.get(codec.fleet_revisions_key("games", "arena")) is None
