"""The reconcile plan's per-server writes, state in / state out: pod labels and annotations,
events, GameServer status and conditions, missing GameServers, the preDelete hook, network
outcomes (stranded pods), service-quality actions, and the set's status."""

from __future__ import annotations

import pytest

from agent.core import actions, bodies, servers, views, wire, writes

from .world import NOW_TEXT, World, kinds


def _patches(found: list[writes.Write], kind: writes.Kind, name: str) -> list[writes.Patch]:
    return [w for w in found if isinstance(w, writes.Patch) and w.kind is kind and w.name == name]


def _events(found: list[writes.Write]) -> list[tuple[str, str, str]]:
    return [(e.type, e.reason, e.message) for e in found if isinstance(e, writes.Event)]


def test_pod_labels_follow_the_game_server_with_change_stamps_and_an_event() -> None:
    world = World.settled(2)
    world.set_gs(0, opsState="Maintaining", deletionPriority=3, updatePriority="7")
    found = world.next_writes()
    assert kinds(found) == [
        "patch Pod gs-0",
        "event GsOpsStateChanged gs-0",
        "patch/status GameServer gs-0",
        "patch/status GameServerSet gs",
    ]
    (pod,) = _patches(found, writes.Kind.POD, "gs-0")
    assert pod.body == {
        "metadata": {
            "labels": {
                wire.GS_OPS_STATE: "Maintaining",
                wire.GS_UPDATE_PRIORITY: "7",
                wire.GS_DELETE_PRIORITY: "3",
            },
            "annotations": {wire.OPS_STATE_LAST_CHANGED: NOW_TEXT},
        }
    }
    assert _events(found) == [
        ("Warning", "GsOpsStateChanged", "OpsState turn from None to Maintaining")
    ]
    (gs_status,) = _patches(found, writes.Kind.GAME_SERVER, "gs-0")
    assert gs_status.body == {"status": {"updatePriority": "7", "deletionPriority": "3"}}
    status = found[-1]
    assert isinstance(status, writes.Patch)
    assert status.body["status"]["maintainingReplicas"] == 1
    world.apply(found)
    assert world.next_writes() == []


def test_gs_sync_labels_and_annotations_reach_the_pod() -> None:
    world = World.settled(1)
    meta = world.gs(0)["metadata"]
    meta["labels"]["gs-sync/team"] = "red"
    meta["annotations"] = {"gs-sync/note": "hi", "private": "x"}
    (pod,) = _patches(world.next_writes(), writes.Kind.POD, "gs-0")
    assert pod.body == {
        "metadata": {"labels": {"gs-sync/team": "red"}, "annotations": {"gs-sync/note": "hi"}}
    }


def test_a_crashed_pod_makes_a_crashed_game_server_with_its_reasons() -> None:
    world = World.settled(1)
    world.pod(0)["status"] = {"phase": "Failed", "reason": "Evicted", "message": "low memory"}
    found = world.next_writes()
    (status,) = _patches(found, writes.Kind.GAME_SERVER, "gs-0")
    changed = status.body["status"]
    assert changed["currentState"] == "Crash"
    assert changed["lastTransitionTime"] == NOW_TEXT
    assert changed["podStatus"] == {
        "phase": "Failed",
        "reason": "Evicted",
        "message": "low memory",
        # What the pod's status no longer has goes from its copy too.
        "conditions": None,
        "containerStatuses": None,
        "podIP": None,
    }
    (condition,) = changed["conditions"]
    assert condition == {
        "type": "PodNormal",
        "status": "False",
        "reason": "Evicted",
        "message": "low memory",
        "lastTransitionTime": NOW_TEXT,
    }
    assert [(e.reason, e.message) for e in status.events] == [
        ("PodAbnormal", "Evicted: low memory")
    ]
    assert ("Warning", "GsStateChanged", "State turn from Ready to Crash") in _events(found)


def test_a_node_in_trouble_shows_in_the_game_server() -> None:
    world = World.settled(1)
    world.pod(0)["spec"]["nodeName"] = "n1"
    world.nodes = {
        "n1": {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Down"}]}}
    }
    (status,) = [
        p for p in _patches(world.next_writes(), writes.Kind.GAME_SERVER, "gs-0") if p.status
    ]
    node = [c for c in status.body["status"]["conditions"] if c["type"] == "NodeNormal"]
    assert node == [
        {
            "type": "NodeNormal",
            "status": "False",
            "reason": "Ready:Down",
            "message": "",
            "lastTransitionTime": NOW_TEXT,
        }
    ]
    assert [e.reason for e in status.events] == ["NodeAbnormal"]


def test_a_missing_game_server_is_created_owned_by_its_pod() -> None:
    world = World.settled(2)
    del world.game_servers["gs-1"]
    found = world.next_writes()
    (create,) = [w for w in found if isinstance(w, writes.CreateGameServer)]
    assert bodies.name(create.body) == "gs-1"
    assert bodies.owner_uid(create.body, "Pod") == bodies.uid(world.pod(1))


def test_the_pre_delete_hook_holds_a_deleted_pod_until_the_game_releases_it() -> None:
    hold = {"gs-sync/delete-block": "true"}
    world = World.settled(
        2,
        lifecycle={"preDelete": {"labelsHandler": hold, "markPodNotReady": True}},
        gameServerTemplate={
            "metadata": {"labels": hold},
            "spec": {"containers": [{"name": "main", "image": "game:1"}]},
        },
    )
    assert bodies.finalizers(world.pod(1)) == [views.PRE_DELETE_FINALIZER]
    world.pod(1)["metadata"]["deletionTimestamp"] = NOW_TEXT  # a user deleted it
    found = world.next_writes()
    assert not [w for w in found if isinstance(w, writes.CreateServer)]  # its ordinal is held
    assert kinds(found)[:3] == [
        "patch Pod gs-1",
        "patch/status Pod gs-1",
        "patch/status GameServer gs-1",
    ]
    labels, ready = _patches(found, writes.Kind.POD, "gs-1")
    assert labels.body["metadata"]["labels"] == {wire.GS_STATE: "PreDelete"}
    assert ready.body["status"]["conditions"][0]["status"] == "False"
    world.apply(found)
    assert world.gss["status"]["preDeleteReplicas"] == 1
    world.gs(1)["metadata"]["labels"]["gs-sync/delete-block"] = "false"
    found = world.next_writes()
    release = [p for p in _patches(found, writes.Kind.POD, "gs-1") if p.strategic]
    assert [p.body for p in release] == [
        {"metadata": {"$deleteFromPrimitiveList/finalizers": [views.PRE_DELETE_FINALIZER]}}
    ]


@pytest.mark.parametrize(("ops_state", "recreated"), [("None", True), ("Allocated", False)])
def test_a_stranded_pod_is_recreated_unless_allocated(ops_state: str, recreated: bool) -> None:
    world = World.settled(1)
    world.set_gs(0, opsState=ops_state)
    world.settle()
    status: bodies.NetworkStatus = {
        "networkType": "Kubernetes-HostPort",
        "currentNetworkState": "NotReady",
    }
    world.network = {0: servers.NetworkOutcome(status, {wire.NETWORK_STATUS: "{}"}, stranded=True)}
    found = world.next_writes()
    deletes = [w for w in found if isinstance(w, writes.Delete)]
    assert [(d.name, d.note.endswith("(NetworkNodeGone)")) for d in deletes] == (
        [("gs-0", True)] if recreated else []
    )
    if not recreated:
        (pod,) = _patches(found, writes.Kind.POD, "gs-0")
        assert pod.body["metadata"]["annotations"] == {wire.NETWORK_STATUS: "{}"}
        (gs,) = _patches(found, writes.Kind.GAME_SERVER, "gs-0")
        assert gs.body["status"]["networkStatus"] == status


def test_without_a_network_plugin_the_network_status_stays_empty_as_in_okg() -> None:
    world = World.settled(1)
    world.gs(0)["status"]["networkStatus"] = {
        "desiredNetworkState": "Ready",
        "currentNetworkState": "Ready",
    }
    world.set_gs(0, networkDisabled=True)
    found = world.next_writes()
    (gs,) = [p for p in _patches(found, writes.Kind.GAME_SERVER, "gs-0") if p.status]
    assert gs.body["status"]["networkStatus"] == {
        "desiredNetworkState": None,
        "currentNetworkState": None,
    }
    world.apply(found)
    assert world.gs(0)["status"]["networkStatus"] == {}
    assert world.next_writes() == []


def test_a_quality_outcome_fires_its_action_guarded_by_the_version_it_read() -> None:
    quality = {
        "name": "idle",
        "exec": {"command": ["cat", "state"]},
        "serviceQualityAction": [{"state": True, "result": "idle", "opsState": "WaitToBeDeleted"}],
    }
    world = World.settled(2, serviceQualities=[quality])
    conditions = [{"name": "idle", "status": "True", "result": "idle"}]
    world.gs(1)["status"]["serviceQualitiesConditions"] = conditions
    found = world.next_writes()
    (action,) = _patches(found, writes.Kind.GAME_SERVER, "gs-1")
    assert not action.status and not action.guard
    assert action.body["spec"] == {"opsState": "WaitToBeDeleted"}
    assert action.body["metadata"]["resourceVersion"] == bodies.resource_version(world.gs(1))
    assert actions.RECORD_ANNOTATION in action.body["metadata"]["annotations"]
    assert action.note.startswith("service quality idle fired on ns/gs-1")
    world.apply(found)
    found = world.next_writes()  # the new ops state reaches the pod
    (pod,) = _patches(found, writes.Kind.POD, "gs-1")
    assert pod.body["metadata"]["labels"] == {wire.GS_OPS_STATE: "WaitToBeDeleted"}


def test_the_sets_condition_keeps_its_transition_time_while_its_status_stays() -> None:
    world = World.settled(2)
    for ordinal in (0, 1):
        world.set_gs(ordinal, opsState="Allocated")
    world.settle()
    world.set_spec(replicas=1)
    world.apply(world.next_writes())
    first = world.gss["status"]["conditions"][0]
    assert (first["status"], first["lastTransitionTime"]) == ("True", NOW_TEXT)
    world.now += 60
    world.set_spec(replicas=0)
    status = world.next_writes()[-1]
    assert isinstance(status, writes.Patch)
    (condition,) = status.body["status"]["conditions"]
    assert condition["message"].startswith("2 game servers in use")
    assert condition["lastTransitionTime"] == NOW_TEXT
    assert condition["observedGeneration"] == bodies.generation(world.gss)


def test_the_game_server_carries_okg_fields_with_okg_types() -> None:
    world = World.settled(1)
    pod_status = world.pod(0)["status"]
    pod_status["qosClass"] = "BestEffort"
    pod_status["hostIPs"] = [{"ip": "10.0.0.1"}]
    world.pod(0)["spec"]["nodeName"] = "n7"
    world.apply(world.next_writes())
    gs = world.gs(0)
    status = gs["status"]
    assert status["podStatus"] == world.pod(0)["status"]
    assert (status["updatePriority"], status["deletionPriority"]) == ("0", "0")
    assert gs["metadata"]["labels"][wire.NODE_NAME] == "n7"
    digest = gs["metadata"]["annotations"][wire.TEMPLATE_METADATA_HASH]
    assert digest.isdigit()
    assert world.next_writes() == []
    # Metadata taken from an older template: the template's labels come back with its hash.
    gs["metadata"]["annotations"][wire.TEMPLATE_METADATA_HASH] = "1"
    del gs["metadata"]["labels"]["app"]
    (meta,) = _patches(world.next_writes(), writes.Kind.GAME_SERVER, "gs-0")
    assert meta.body == {
        "metadata": {
            "labels": {"app": "gs"},
            "annotations": {wire.TEMPLATE_METADATA_HASH: digest},
        }
    }
