"""Desired sets become GameServerSets; GameServerSets and GameServers become status messages."""

from __future__ import annotations

from typing import Any

from gamefleet.v1 import agent_pb2, gameserver_pb2

from agent.core import quality
from agent.hublink import translate
from okg import service_quality


def desired(replicas: int = 3, hash_: str = "abc-3") -> agent_pb2.DesiredSet:
    result = agent_pb2.DesiredSet(namespace="games", name="arena", version=4, hash=hash_)
    result.spec.update({"replicas": replicas, "gameServerTemplate": {"spec": {"containers": [
        {"name": "s", "image": "a:1", "ports": [{"containerPort": 7777}]}]}}})  # fmt: skip
    result.labels["gamefleet.io/fleet"] = "arena"
    return result


def test_set_object_is_marked_and_keeps_integers() -> None:
    obj = translate.set_object(desired())
    assert obj["metadata"]["labels"][translate.MANAGED_BY] == translate.MANAGED_BY_HUB
    assert obj["metadata"]["annotations"][translate.SPEC_HASH] == "abc-3"
    assert obj["metadata"]["annotations"][translate.FLEET_GENERATION] == "4"
    assert obj["spec"]["replicas"] == 3
    port = obj["spec"]["gameServerTemplate"]["spec"]["containers"][0]["ports"][0]
    assert port["containerPort"] == 7777
    assert isinstance(port["containerPort"], int)


def test_held_set_reports_hash_and_replicas_of_managed_sets_and_those_retiring() -> None:
    obj = translate.set_object(desired(replicas=5, hash_="h-5"))
    held = translate.held_set(obj)
    assert held is not None
    assert (held.hash, held.replicas, held.version) == ("h-5", 5, 4)
    users = {"metadata": {"name": "mine", "namespace": "games"}, "spec": {"replicas": 2}}
    assert translate.held_set(users) is None
    retired = translate.held_set(translate.retire_object("games", "arena"))
    assert retired is not None and retired.retiring and not retired.hash


def test_set_status_maps_counts_and_hides_an_unobserved_spec() -> None:
    obj = translate.set_object(desired())
    obj["metadata"]["generation"] = 2
    obj["status"] = {
        "observedGeneration": 2, "currentReplicas": 3, "readyReplicas": 2,
        "allocatedReplicas": 1, "updatedReplicas": 3, "heldBackReplicas": 1,
    }  # fmt: skip
    status = translate.set_status(obj)
    assert (status.counts.replicas, status.counts.ready, status.counts.allocated) == (3, 2, 1)
    assert (status.applied_hash, status.held_back, status.desired_replicas) == ("abc-3", 1, 3)
    obj["metadata"]["generation"] = 3
    assert translate.set_status(obj).applied_hash == ""


def test_game_server_status_carries_state_network_images_and_allocation() -> None:
    obj = {
        "metadata": {"name": "arena-0", "namespace": "games",
                     "labels": {"game.kruise.io/owner-gss": "arena"},
                     "annotations": {"gamefleet.io/allocation-request-id": "match-7"}},
        "spec": {"opsState": "Allocated", "deletionPriority": 5},
        "status": {
            "currentState": "Ready", "updatePriority": 0, "deletionPriority": 5,
            "networkStatus": {"currentNetworkState": "Ready"},
            "podStatus": {"containers": [{"name": "s", "image": "a:2"}]},
            "lastTransitionTime": "2026-11-26T01:00:00Z",
        },
    }  # fmt: skip
    server = translate.game_server(obj, node="node-1")
    assert (server.fleet, server.state, server.ops_state) == ("arena", "Ready", "Allocated")
    assert server.deletion_priority == 5
    assert server.network_status["currentNetworkState"] == "Ready"
    assert dict(server.images) == {"s": "a:2"}
    assert server.node == "node-1"
    assert server.allocation_request_id == "match-7"
    obj["metadata"] = {"name": "arena-0", "namespace": "games"}
    assert translate.game_server(obj).allocation_request_id == ""
    # OKG's shape: the pod's whole status, images in its containerStatuses.
    pod_status = {"containerStatuses": [{"name": "s", "image": "a:3"}]}
    obj["status"] = {**obj["status"], "podStatus": pod_status}  # type: ignore[dict-item]
    assert dict(translate.game_server(obj).images) == {"s": "a:3"}


def test_game_server_patch_sets_only_what_the_operation_names() -> None:
    patch = gameserver_pb2.GameServerPatch(ops_state="Kill", images={"s": "a:3"})
    assert translate.game_server_patch(patch) == {
        "spec": {"opsState": "Kill", "containers": [{"name": "s", "image": "a:3"}]}
    }
    assert translate.game_server_patch(gameserver_pb2.GameServerPatch(update_priority=0)) == {
        "spec": {"updatePriority": 0}
    }


def test_capacity_sums_node_allocatable() -> None:
    nodes = [
        {"status": {"allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1500"}}},
        {"status": {"allocatable": {"cpu": "500m", "memory": "1024Mi", "pods": "110"}}},
    ]
    capacity = translate.capacity(nodes)
    assert (capacity.nodes, capacity.cpu, capacity.memory, capacity.pods) == (
        2,
        "64.5",
        "257Gi",
        1610,
    )


def test_a_grpc_probe_from_the_hub_keeps_an_integer_port() -> None:
    sent = desired()
    sent.spec.update({"serviceQualities": [
        {"name": "health", "grpc": {"port": 9090, "service": "game"}}]})  # fmt: skip
    obj = translate.set_object(sent)
    (parsed,) = quality.parse_qualities(obj["spec"]["serviceQualities"])
    assert (parsed.probe.kind, parsed.probe.port, parsed.probe.service) == (
        service_quality.ProbeKind.GRPC, 9090, "game",
    )  # fmt: skip


def test_allocation_precondition_is_ready_with_ops_state_none() -> None:
    ready = {"metadata": {"resourceVersion": "41"}, "spec": {}, "status": {"currentState": "Ready"}}
    assert translate.ready_unallocated(ready)
    assert translate.ready_unallocated({**ready, "spec": {"opsState": "None"}})
    assert not translate.ready_unallocated({**ready, "spec": {"opsState": "Allocated"}})
    assert not translate.ready_unallocated({**ready, "status": {"currentState": "NotReady"}})
    deleting = {**ready, "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}
    assert not translate.ready_unallocated(deleting)


def test_allocation_write_is_guarded_by_the_checked_resource_version() -> None:
    patch = translate.game_server_patch(gameserver_pb2.GameServerPatch(ops_state="Allocated"))
    patch["metadata"] = translate.metadata_patch({"match": "m1"}, {})
    guarded = translate.with_resource_version(patch, {"metadata": {"resourceVersion": "41"}})
    assert guarded == {
        "spec": {"opsState": "Allocated"},
        "metadata": {"labels": {"match": "m1"}, "resourceVersion": "41"},
    }
    assert "resourceVersion" not in patch["metadata"]


def test_a_set_an_older_agent_wrote_under_gamefleet_dev_is_still_the_hubs() -> None:
    """Upgrade: the legacy managed-by label, hash and generation are read; new writes use only
    gamefleet.io/ keys."""
    old: dict[str, Any] = {
        "metadata": {
            "name": "arena", "namespace": "games",
            "labels": {"gamefleet.dev/managed-by": "gamefleet-hub"},
            "annotations": {
                "gamefleet.dev/spec-hash": "h-2", "gamefleet.dev/fleet-generation": "7",
            },
        },
        "spec": {"replicas": 2},
    }  # fmt: skip
    assert translate.managed(old)
    held = translate.held_set(old)
    assert held is not None and (held.hash, held.version, held.replicas) == ("h-2", 7, 2)
    old["metadata"]["annotations"]["gamefleet.dev/retiring"] = "true"
    assert translate.retiring(old)
    written = translate.set_object(desired())
    keys = [*written["metadata"]["labels"], *written["metadata"]["annotations"]]
    assert keys and not [k for k in keys if k.startswith("gamefleet.dev/")]
    assert translate.MANAGED_BY == "gamefleet.io/managed-by"
