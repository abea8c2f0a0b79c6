"""Between the hub's protocol messages and the cluster's GameServerSet/GameServer objects."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gamefleet import capacity_wire, protocol
from gamefleet.v1 import agent_pb2, cluster_pb2, gameserver_pb2
from google.protobuf import json_format, struct_pb2

from agent.core import bodies, drift, intstr, wire
from agent.kube.client import FIELD_MANAGER
from okg import capacity as counters_lists
from okg import vocabulary

Obj = bodies.Json

DOMAIN = "gamefleet.io/"
# Agents before the keys moved to one domain wrote them here: read them too, write only DOMAIN.
LEGACY_DOMAIN = "gamefleet.dev/"
MANAGED_BY = DOMAIN + "managed-by"
MANAGED_BY_HUB = "gamefleet-hub"
FLEET_GENERATION = DOMAIN + "fleet-generation"
SPEC_HASH = DOMAIN + "spec-hash"
# The hub no longer wants the set: it is scaled to 0 and deleted once its servers are gone.
RETIRING = DOMAIN + "retiring"
# Set by a user on a hub-managed set whose replicas a local autoscaler owns (its name as the
# value): the agent keeps the set's replicas and reports that owner instead of the hub's count.
REPLICAS_OWNER = DOMAIN + "replicas-owner"


def _read(entries: Mapping[str, Any], key: str) -> Any:
    """``key``'s value, or the value an older agent wrote under the legacy domain."""
    if key in entries:
        return entries[key]
    return entries.get(LEGACY_DOMAIN + key.removeprefix(DOMAIN))


def managed(obj: Obj) -> bool:
    return bool(_read(bodies.meta(obj).get("labels") or {}, MANAGED_BY) == MANAGED_BY_HUB)


def retiring(obj: Obj) -> bool:
    return bool(_read(bodies.meta(obj).get("annotations") or {}, RETIRING) == "true")


def applied_hash(obj: Obj) -> str:
    """The spec hash of the desired set last applied to ``obj`` (empty when none)."""
    return str(_read(bodies.meta(obj).get("annotations") or {}, SPEC_HASH) or "")


def replicas_owner(obj: Obj) -> str:
    """Who sets the set's replicas in the cluster instead of the hub ("" for the hub)."""
    meta = bodies.meta(obj)
    annotated = str((meta.get("annotations") or {}).get(REPLICAS_OWNER) or "")
    return drift.replicas_owner(meta.get("managedFields"), annotated)


def drifted(obj: Obj) -> list[str]:
    """The spec fields of a hub-managed set that someone other than the agent changed (none
    while it retires: the hub no longer wants its spec)."""
    if retiring(obj):
        return []
    return drift.drift(bodies.meta(obj).get("managedFields"), FIELD_MANAGER, replicas_owner(obj))


def set_object(desired: agent_pb2.DesiredSet, current: Obj | None = None) -> Obj:
    """The server-side-apply body of a desired set, marked as the hub's; it keeps the
    ``current`` set's replicas when a local owner (an autoscaler) sets them."""
    spec = (
        json.loads(desired.spec_json)
        if desired.spec_json
        else protocol.whole_numbers(json_format.MessageToDict(desired.spec))
    )
    if (
        current is not None
        and replicas_owner(current)
        and "replicas" in (current.get("spec") or {})
    ):
        spec["replicas"] = current["spec"]["replicas"]
    return {
        "apiVersion": vocabulary.API_VERSION,
        "kind": "GameServerSet",
        "metadata": {
            "name": desired.name,
            "namespace": desired.namespace,
            "labels": {**desired.labels, MANAGED_BY: MANAGED_BY_HUB},
            "annotations": {
                FLEET_GENERATION: str(desired.version),
                SPEC_HASH: desired.hash,
            },
        },
        "spec": spec,
    }


def retire_object(namespace: str, name: str) -> Obj:
    """The apply body that scales a retired set to 0 (its allocated servers stay until free)."""
    return {
        "apiVersion": vocabulary.API_VERSION,
        "kind": "GameServerSet",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {MANAGED_BY: MANAGED_BY_HUB},
            "annotations": {RETIRING: "true"},
        },
        "spec": {"replicas": 0},
    }


def held_set(obj: Obj) -> agent_pb2.SetVersion | None:
    """What the agent tells the hub it holds, for a set the hub manages."""
    if not managed(obj):
        return None
    if retiring(obj):
        meta = bodies.meta(obj)
        return agent_pb2.SetVersion(
            namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")), retiring=True
        )
    meta = bodies.meta(obj)
    annotations = meta.get("annotations") or {}
    return agent_pb2.SetVersion(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        version=_int(_read(annotations, FLEET_GENERATION)),
        hash=applied_hash(obj),
        replicas=_int((obj.get("spec") or {}).get("replicas")),
    )


def set_status(obj: Obj) -> agent_pb2.GameServerSetStatus:
    meta = bodies.meta(obj)
    annotations = meta.get("annotations") or {}
    status = obj.get("status") or {}
    result = agent_pb2.GameServerSetStatus(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        observed_generation=_int(status.get("observedGeneration")),
        applied_version=_int(_read(annotations, FLEET_GENERATION)),
        applied_hash=applied_hash(obj),
        held_back=_int(status.get("heldBackReplicas")),
        desired_replicas=_int((obj.get("spec") or {}).get("replicas")),
    )
    result.drift.extend(drifted(obj))
    result.replicas_owner = replicas_owner(obj)
    if _int(status.get("observedGeneration")) < _int(meta.get("generation")):
        # The controller has not acted on this spec yet: report it as not applied.
        result.applied_hash = ""
    counts = result.counts
    counts.replicas = _int(status.get("currentReplicas"))
    counts.ready = _int(status.get("readyReplicas"))
    counts.available = _int(status.get("availableReplicas"))
    counts.allocated = _int(status.get("allocatedReplicas"))
    counts.maintaining = _int(status.get("maintainingReplicas"))
    counts.wait_to_be_deleted = _int(status.get("waitToBeDeletedReplicas"))
    counts.updated = _int(status.get("updatedReplicas"))
    counts.updated_ready = _int(status.get("updatedReadyReplicas"))
    counts.pre_delete = _int(status.get("preDeleteReplicas"))
    return result


def game_server(obj: Obj, node: str = "") -> gameserver_pb2.GameServer:
    meta = bodies.meta(obj)
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    annotations = meta.get("annotations") or {}
    result = gameserver_pb2.GameServer(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        fleet=labels.get(wire.OWNER_GSS, ""),
        state=str(status.get("currentState", "")),
        ops_state=ops_state(obj),
        update_priority=intstr.priority_value(
            status.get("updatePriority", spec.get("updatePriority"))
        ),
        deletion_priority=intstr.priority_value(
            status.get("deletionPriority", spec.get("deletionPriority"))
        ),
        network_disabled=bool(spec.get("networkDisabled")),
        node=node,
        labels=labels,
        allocation_request_id=str(annotations.get(protocol.ALLOCATION_REQUEST_ANNOTATION, "")),
    )
    texts = {str(k): str(v) for k, v in annotations.items()}
    capacity_wire.put(counters_lists.current(texts), result)
    network = status.get("networkStatus")
    if isinstance(network, dict) and network:
        result.network_status.update(network)
    for condition in status.get("serviceQualitiesConditions") or []:
        if isinstance(condition, dict):
            result.quality_conditions.add().update(condition)
    pod_status = status.get("podStatus") or {}
    # The pod's own containerStatuses (OKG's full copy); `containers` is the condensed shape
    # agents before issue 20 wrote.
    running = pod_status.get("containerStatuses") or pod_status.get("containers") or []
    for container in running:
        if isinstance(container, dict) and container.get("name"):
            result.images[str(container["name"])] = str(container.get("image", ""))
    if status.get("lastTransitionTime"):
        result.last_transition_time.FromJsonString(str(status["lastTransitionTime"]))
    return result


def game_server_patch(patch: gameserver_pb2.GameServerPatch) -> Obj:
    """The merge patch of GameServer.spec a targeted operation asks for."""
    spec: Obj = {}
    if patch.HasField("ops_state"):
        spec["opsState"] = patch.ops_state
    if patch.HasField("update_priority"):
        spec["updatePriority"] = patch.update_priority
    if patch.HasField("deletion_priority"):
        spec["deletionPriority"] = patch.deletion_priority
    if patch.HasField("network_disabled"):
        spec["networkDisabled"] = patch.network_disabled
    if patch.images:
        spec["containers"] = [
            {"name": name, "image": image} for name, image in sorted(patch.images.items())
        ]
    return {"spec": spec}


def metadata_patch(labels: Mapping[str, str], annotations: Mapping[str, str]) -> Obj:
    """The merge patch of metadata that sets ``labels`` and ``annotations``."""
    meta: Obj = {}
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def ops_state(obj: Obj) -> str:
    """A GameServer's spec.opsState; unset reads as None."""
    return str((obj.get("spec") or {}).get("opsState") or "None")


def ready_unallocated(obj: Obj) -> bool:
    """True when the GameServer is Ready with opsState None (an allocation may take it)."""
    status = obj.get("status") or {}
    return (
        status.get("currentState") == "Ready"
        and ops_state(obj) == "None"
        and not bodies.meta(obj).get("deletionTimestamp")
    )


def allocated_with_room_state(obj: Obj) -> bool:
    """True when the GameServer is Ready and Allocated (a re-allocation may take it if it has
    room)."""
    status = obj.get("status") or {}
    return (
        status.get("currentState") == "Ready"
        and ops_state(obj) == "Allocated"
        and not bodies.meta(obj).get("deletionTimestamp")
    )


def capacity_patch(
    obj: Obj, need: counters_lists.Need, actions: counters_lists.Actions, request_id: str
) -> Obj | None:
    """The GameServer patch of an allocation by capacity (opsState Allocated, the counters and
    lists after ``actions``), or None when the server may not take it: not in the state the
    need asks, out of its bounds, or the actions do not fit."""
    in_state = allocated_with_room_state(obj) if need.allocated else ready_unallocated(obj)
    held = counters_lists.current(bodies.annotations_of(obj))
    if not in_state or not counters_lists.within(held, need):
        return None
    try:
        after = counters_lists.apply(held, actions, request_id)
    except counters_lists.CapacityError:
        return None
    patch: Obj = {"spec": {"opsState": "Allocated"}}
    if held is not None:
        text = counters_lists.status_text(after)
        patch["metadata"] = {"annotations": {counters_lists.STATUS: text}}
    return patch


def applied_request(obj: Obj, request_id: str) -> bool:
    """True when the allocation ``request_id`` is among those applied to the server's
    counters and lists (a retry must not apply it twice)."""
    held = counters_lists.current(bodies.annotations_of(obj))
    return bool(request_id) and held is not None and request_id in held.requests


def with_resource_version(patch: Obj, obj: Obj) -> Obj:
    """``patch`` that the API server applies only while ``obj`` is unchanged (else 409)."""
    guarded = dict(patch)
    meta = dict(bodies.meta(guarded))
    meta["resourceVersion"] = str(bodies.meta(obj).get("resourceVersion", ""))
    guarded["metadata"] = meta
    return guarded


def _int(value: object) -> int:
    try:
        return int(str(value)) if value not in (None, "") else 0
    except ValueError:
        return 0


def struct_of(document: Mapping[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(document)
    return result


_SUFFIXES = {
    "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}  # fmt: skip


def quantity(text: object) -> float:
    """A Kubernetes quantity ("500m", "256Gi", "64") as a number; 0 when unreadable."""
    value = str(text or "0")
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if value.endswith(suffix):
            try:
                return float(value[: -len(suffix)]) * _SUFFIXES[suffix]
            except ValueError:
                return 0.0
    try:
        return float(value)
    except ValueError:
        return 0.0


def capacity(nodes: list[Obj]) -> cluster_pb2.ClusterCapacity:
    """What the cluster's nodes can hold, summed over their allocatable resources."""
    cpu = memory = pods = 0.0
    for node in nodes:
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        cpu += quantity(allocatable.get("cpu"))
        memory += quantity(allocatable.get("memory"))
        pods += quantity(allocatable.get("pods"))
    return cluster_pb2.ClusterCapacity(
        nodes=len(nodes), cpu=f"{cpu:g}", memory=f"{memory / 2**30:.0f}Gi", pods=int(pods)
    )
