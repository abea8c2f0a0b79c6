"""The reconcile plan's updates, state in / state out: in place (order, Allocated left alone,
the inPlaceUpdate hook, markPodNotReady, finalizers re-armed), recreate, per-server images."""

from __future__ import annotations

from typing import Any

from agent.core import bodies, views, wire, writes

from .world import World, kinds

IN_PLACE = {"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible", "maxUnavailable": "100%"}}


def _template(image: str = "game:1", **metadata: Any) -> dict[str, Any]:
    return {"metadata": metadata, "spec": {"containers": [{"name": "main", "image": image}]}}


def _in_place(found: list[writes.Write]) -> list[writes.Patch]:
    return [
        w
        for w in found
        if isinstance(w, writes.Patch)
        and w.kind is writes.Kind.POD
        and "spec" in w.body
        and not w.status
    ]


def _new_image(world: World, image: str = "game:2") -> None:
    template = world.gss["spec"]["gameServerTemplate"]
    world.set_spec(gameServerTemplate={**template, "spec": _template(image)["spec"]})


def test_an_image_change_is_patched_in_place_by_update_priority() -> None:
    world = World.settled(
        3, updateStrategy={"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible"}}
    )
    world.set_gs(0, updatePriority=10)
    world.settle()
    _new_image(world)
    found = world.next_writes()
    (patch,) = _in_place(found)  # maxUnavailable 1: one at a time, highest priority first
    assert patch.name == "gs-0"
    assert patch.strategic and patch.guard
    assert patch.body["spec"] == {"containers": [{"name": "main", "image": "game:2"}]}
    revision = world.plan().decisions.desired.revision
    assert patch.body["metadata"]["labels"] == {
        wire.REVISION: revision.name,
        wire.REVISION_SHAPE: revision.shape,
    }
    note = patch.body["metadata"]["annotations"][views.IN_PLACE_UPDATE]
    assert '"old": {"main": "game:1|game:1@sha"}' in note
    # No other write touches the pod being patched.
    assert [k for k in kinds(found) if k.endswith("gs-0")] == ["patch Pod gs-0"]


def test_allocated_servers_are_not_updated() -> None:
    world = World.settled(3, updateStrategy=IN_PLACE)
    world.set_gs(1, opsState="Allocated")
    world.settle()
    _new_image(world)
    assert [p.name for p in _in_place(world.next_writes())] == ["gs-2", "gs-0"]


def test_recreate_deletes_the_pod_only() -> None:
    world = World.settled(2, updateStrategy={"rollingUpdate": {"maxUnavailable": "100%"}})
    _new_image(world)
    found = world.next_writes()
    deletes = [w for w in found if isinstance(w, writes.Delete)]
    assert [(d.name, d.note.endswith("(Update)")) for d in deletes] == [
        ("gs-1", True),
        ("gs-0", True),
    ]
    assert not [k for k in kinds(found) if k.startswith("patch GameServer ")]


def test_the_in_place_update_hook_holds_a_server_in_pre_update() -> None:
    hold = {"gs-sync/update-block": "true"}
    world = World.settled(
        2,
        updateStrategy=IN_PLACE,
        lifecycle={"inPlaceUpdate": {"labelsHandler": hold}},
        gameServerTemplate=_template(labels=hold),
    )
    _new_image(world)
    found = world.next_writes()
    assert _in_place(found) == []
    labels = [w for w in found if isinstance(w, writes.Patch) and w.kind is writes.Kind.POD]
    assert {w.name: w.body["metadata"]["labels"][wire.GS_STATE] for w in labels} == {
        "gs-0": "PreUpdate",
        "gs-1": "PreUpdate",
    }
    world.apply(found)
    # The game releases gs-1: its label syncs, then it is updated in place.
    world.gs(1)["metadata"].setdefault("labels", {})["gs-sync/update-block"] = "false"
    world.apply(world.next_writes())
    assert [p.name for p in _in_place(world.next_writes())] == ["gs-1"]


def test_mark_pod_not_ready_comes_before_the_in_place_patch() -> None:
    world = World.settled(
        2,
        updateStrategy=IN_PLACE,
        lifecycle={"inPlaceUpdate": {"markPodNotReady": True}},
    )
    assert views.kruise_pod_ready(world.pod(0)) is True
    assert {"conditionType": "KruisePodReady"} in world.pod(0)["spec"]["readinessGates"]
    _new_image(world)
    found = world.next_writes()
    assert kinds(found)[:4] == [
        "patch/status Pod gs-1",
        "patch Pod gs-1",
        "patch/status Pod gs-0",
        "patch Pod gs-0",
    ]
    ready = found[0]
    assert isinstance(ready, writes.Patch) and ready.strategic
    (condition,) = ready.body["status"]["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "KruisePodReady",
        "False",
        "LifecycleHook",
    )


def test_update_finalizers_hold_the_update_and_are_rearmed_by_it() -> None:
    world = World.settled(
        1,
        updateStrategy=IN_PLACE,
        lifecycle={"inPlaceUpdate": {"finalizersHandler": ["game/hold"]}},
    )
    assert bodies.finalizers(world.pod(0)) == ["game/hold"]
    _new_image(world)
    assert _in_place(world.next_writes()) == []  # PreUpdate until the owner removes it
    world.pod(0)["metadata"]["finalizers"] = []
    (patch,) = _in_place(world.next_writes())
    assert patch.body["metadata"]["finalizers"] == ["game/hold"]


def test_a_per_server_image_is_patched_onto_its_pod_unguarded() -> None:
    world = World.settled(2)
    world.set_gs(1, containers=[{"name": "main", "image": "game:9"}])
    (patch,) = _in_place(world.next_writes())
    assert patch.name == "gs-1" and not patch.guard
    assert patch.body["spec"] == {"containers": [{"name": "main", "image": "game:9"}]}
    assert "labels" not in patch.body["metadata"]
