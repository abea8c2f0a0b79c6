"""The reconcile plan, state in / state out: creating, scaling down (OKG's order, Allocated
never picked), reserved ids, Kill, batches and pacing, reclaim policies and volume claims."""

from __future__ import annotations

from typing import Any

import pytest

from agent.core import bodies, reconcile, wire, writes

from .world import World, game_server_set, kinds


def _deleted_pods(found: list[writes.Write]) -> list[str]:
    return [w.name for w in found if isinstance(w, writes.Delete) and w.kind is writes.Kind.POD]


def _created(found: list[writes.Write]) -> list[writes.CreateServer]:
    return [w for w in found if isinstance(w, writes.CreateServer)]


def test_a_new_set_writes_its_memory_then_creates_its_servers_then_its_status() -> None:
    world = World(game_server_set(3))
    found = world.next_writes()
    assert kinds(found) == [
        "patch GameServerSet gs",
        "create gs-0",
        "create gs-1",
        "create gs-2",
        "patch/status GameServerSet gs",
    ]
    memory = found[0]
    assert isinstance(memory, writes.Patch) and not memory.guard
    assert memory.body == {
        "metadata": {"annotations": {wire.RESERVE_IDS: "", wire.IMPLICIT_RESERVE_IDS: ""}}
    }
    create = _created(found)[1]
    labels = bodies.labels_of(create.pod)
    assert labels[wire.OWNER_GSS] == "gs"
    assert labels[wire.GS_STATE] == "Creating"
    assert labels[wire.GS_OPS_STATE] == "None"
    assert labels["app"] == "gs"  # the template's
    assert labels["statefulset.kubernetes.io/pod-name"] == "gs-1"
    assert (create.pod.get("spec") or {}).get("hostname") == "gs-1"
    assert (create.pod.get("spec") or {}).get("subdomain") == "gs"
    assert bodies.owner_uid(create.pod, "GameServerSet") == "gs-uid"
    assert create.owned_by_pod and create.replaces is None
    assert create.game_server is not None
    assert create.game_server.get("spec") == {
        "opsState": "None",
        "updatePriority": 0,
        "deletionPriority": 0,
        "networkDisabled": False,
    }
    assert "ownerReferences" not in bodies.meta(create.game_server)  # the pod's, once created


def test_a_settled_set_writes_nothing() -> None:
    world = World.settled(3)
    assert world.next_writes() == []
    assert bodies.labels_of(world.pod(2))[wire.GS_STATE] == "Ready"
    assert (world.gs(2).get("status") or {}).get("currentState") == "Ready"
    assert world.gss["status"]["readyReplicas"] == 3


@pytest.mark.parametrize(
    ("changes", "replicas", "deleted"),
    [
        ({}, 3, ["gs-4", "gs-3"]),  # higher ordinal first
        ({2: {"opsState": "WaitToBeDeleted"}}, 4, ["gs-2"]),
        ({3: {"deletionPriority": 100}}, 4, ["gs-3"]),
        ({1: {"deletionPriority": 5}, 2: {"deletionPriority": 9}}, 3, ["gs-2", "gs-1"]),
        ({4: {"opsState": "Maintaining"}}, 4, ["gs-3"]),  # Maintaining goes last
        ({4: {"opsState": "Allocated"}, 3: {"opsState": "Allocated"}}, 4, ["gs-2"]),
        ({0: {"opsState": "WaitToBeDeleted"}, 4: {"deletionPriority": 50}}, 3, ["gs-0", "gs-4"]),
    ],
)
def test_scale_down_follows_okgs_order(
    changes: dict[int, dict[str, Any]], replicas: int, deleted: list[str]
) -> None:
    world = World.settled(5)
    for ordinal, spec in changes.items():
        world.set_gs(ordinal, **spec)
    world.settle()
    world.set_spec(replicas=replicas)
    found = world.next_writes()
    assert _deleted_pods(found) == deleted
    assert not _created(found)


def test_allocated_servers_are_never_scaled_down_and_the_status_says_so() -> None:
    world = World.settled(3)
    for ordinal in (0, 1, 2):
        world.set_gs(ordinal, opsState="Allocated")
    world.settle()
    world.set_spec(replicas=1)
    found = world.next_writes()
    assert _deleted_pods(found) == []
    status = found[-1]
    assert isinstance(status, writes.Patch) and status.status
    assert status.body["status"]["heldBackReplicas"] == 2
    (condition,) = status.body["status"]["conditions"]
    assert condition["type"] == "ScaleDownBlocked"
    assert condition["status"] == "True"
    assert condition["message"].startswith("2 game servers in use kept beyond replicas")
    # One leaves Allocated: it goes, the other stays held back.
    world.apply(found)
    world.set_gs(1, opsState="None")
    assert _deleted_pods(world.next_writes()) == ["gs-1"]


def test_reserving_an_existing_id_replaces_that_server_at_the_next_free_ordinal() -> None:
    world = World.settled(3)
    world.set_spec(reserveGameServerIds=[1])
    found = world.next_writes()
    assert kinds(found)[:3] == ["patch GameServerSet gs", "delete Pod gs-1", "create gs-3"]
    memory = found[0]
    assert isinstance(memory, writes.Patch)
    assert memory.body["metadata"]["annotations"][wire.RESERVE_IDS] == "1"
    delete = found[1]
    assert isinstance(delete, writes.Delete)
    assert delete.uid == bodies.uid(world.pod(1)) and delete.note.endswith("(Reserved)")


def test_the_reserve_ids_strategy_writes_removed_ordinals_back_guarded() -> None:
    world = World.settled(5, scaleStrategy={"scaleDownStrategyType": "ReserveIds"})
    world.set_spec(replicas=3)
    found = world.next_writes()
    memory = found[0]
    assert isinstance(memory, writes.Patch)
    assert memory.body["spec"] == {"reserveGameServerIds": [3, 4]}
    assert memory.guard and memory.on_conflict is writes.OnConflict.RESTART
    assert _deleted_pods(found) == ["gs-4", "gs-3"]


def test_kill_lowers_replicas_first_then_deletes_the_server() -> None:
    world = World.settled(3)
    world.set_gs(1, opsState="Kill")
    found = world.next_writes()
    replicas = found[0]
    assert isinstance(replicas, writes.Patch)
    assert replicas.body == {"spec": {"replicas": 2}}
    assert replicas.guard and replicas.on_conflict is writes.OnConflict.RESTART
    assert [(e.reason, e.message) for e in replicas.events] == [
        ("KillGameServers", "replicas lowered to 2 (opsState Kill)")
    ]
    assert _deleted_pods(found) == ["gs-1"]
    assert not _created(found)
    world.apply(found)
    world.settle()
    assert sorted(world.pods) == ["gs-0", "gs-2"]
    # General: a killed ordinal is reusable.
    world.set_spec(replicas=3)
    assert [bodies.name(c.pod) for c in _created(world.next_writes())] == ["gs-1"]


def test_kill_waits_for_a_settled_set() -> None:
    world = World.settled(3)
    world.set_gs(1, opsState="Kill")
    world.set_spec(replicas=4)  # not settled: replicas and pods differ
    found = world.next_writes()
    assert not [w for w in found if isinstance(w, writes.Patch) and "spec" in w.body]
    assert [bodies.name(c.pod) for c in _created(found)] == ["gs-3"]


def test_a_large_scale_up_is_created_in_batches() -> None:
    plan = World(game_server_set(reconcile.CREATE_BATCH + 100)).plan()
    assert len(plan.creations) == reconcile.CREATE_BATCH
    assert plan.decisions.more_to_create


def test_scale_up_pacing_waits_for_servers_to_turn_ready() -> None:
    world = World(game_server_set(4, scaleStrategy={"maxUnavailable": 2}))
    found = world.next_writes()
    assert [bodies.name(c.pod) for c in _created(found)] == ["gs-0", "gs-1"]
    world.apply(found)
    assert not _created(world.next_writes())  # two pods pending
    world.kubelet()
    assert [bodies.name(c.pod) for c in _created(world.next_writes())] == ["gs-2", "gs-3"]


def test_delete_policy_marks_the_game_server_then_removes_it_once_the_pod_is_gone() -> None:
    template = {
        "reclaimPolicy": "Delete",
        "spec": {"containers": [{"name": "main", "image": "game:1"}]},
    }
    world = World.settled(3, gameServerTemplate=template)
    assert bodies.owner_uid(world.gs(0), "GameServerSet") == "gs-uid"
    world.set_spec(replicas=2)
    found = world.next_writes()
    assert kinds(found)[:3] == [
        "patch GameServerSet gs",
        "patch GameServer gs-2",
        "delete Pod gs-2",
    ]
    label = found[1]
    assert isinstance(label, writes.Patch)
    assert label.body == {"metadata": {"labels": {wire.GS_DELETING: "true"}}}
    world.apply(found)
    assert "delete GameServer gs-2" in kinds(world.next_writes())


def test_delete_policy_keeps_the_game_server_of_a_recreated_pod() -> None:
    template = {
        "reclaimPolicy": "Delete",
        "spec": {"containers": [{"name": "main", "image": "game:1"}]},
    }
    world = World.settled(3, gameServerTemplate=template)
    world.set_gs(1, deletionPriority=100)
    world.settle()
    del world.pods["gs-1"]  # a user deleted the pod
    (create,) = _created(world.next_writes())
    assert create.game_server is None and create.replaces is None
    assert bodies.labels_of(create.pod)[wire.GS_DELETE_PRIORITY] == "100"


def test_cascade_replaces_the_game_server_of_an_earlier_pod() -> None:
    world = World.settled(3)
    world.set_gs(1, deletionPriority=100)
    world.settle()
    del world.pods["gs-1"]
    (create,) = _created(world.next_writes())
    assert create.replaces == ("gs-1", bodies.uid(world.gs(1)))
    assert create.game_server is not None
    assert (create.game_server.get("spec") or {}).get("deletionPriority") == 0
    assert bodies.labels_of(create.pod)[wire.GS_DELETE_PRIORITY] == "0"


def test_volume_claims_are_created_with_the_server_and_follow_the_retention_policy() -> None:
    world = World(
        game_server_set(
            2,
            persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete", "whenScaled": "Delete"},
            gameServerTemplate={
                "spec": {"containers": [{"name": "main", "image": "game:1"}]},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}],
            },
        )
    )
    create = _created(world.next_writes())[1]
    (claim,) = create.claims
    assert bodies.name(claim) == "data-gs-1"
    assert bodies.owner_uid(claim, "GameServerSet") == "gs-uid"  # whenDeleted: Delete
    volumes = (create.pod.get("spec") or {}).get("volumes")
    assert volumes == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-gs-1"}}]
    world.settle()
    world.set_spec(replicas=1)
    found = world.next_writes()
    assert kinds(found)[1:3] == ["delete Pod gs-1", "delete PersistentVolumeClaim data-gs-1"]
