"""The events the federation records: what changed, said the way `describe` shows it."""

from __future__ import annotations

import logging

from gamefleet.v1 import cluster_pb2, fleet_pb2, gameserver_pb2

from hub.core import health

from .events import EventRecorder, cluster_ref, fleet_ref, game_server_ref

log = logging.getLogger(__name__)

FEDERATION = "hub/federation"
API = "hub/api"
ALLOCATOR = "hub/allocator"


def fleet_event(
    events: EventRecorder, key: tuple[str, str], kind: str, reason: str, message: str
) -> None:
    """Record an event the federation saw about fleet ``key`` (and log it)."""
    level = logging.WARNING if kind == "Warning" else logging.INFO
    log.log(level, "fleet %s/%s: %s: %s", key[0], key[1], reason, message)
    events.record(fleet_ref(*key), kind, reason, message, FEDERATION)


def fleet_changed(
    events: EventRecorder, before: fleet_pb2.Fleet | None, after: fleet_pb2.Fleet | None
) -> None:
    """A fleet created, changed or deleted in the store (by any writer)."""
    fleet = after if after is not None else before
    if fleet is None:
        return
    ref = fleet_ref(fleet.metadata.namespace, fleet.metadata.name)
    if after is None:
        events.normal(ref, "Deleted", "fleet deleted", FEDERATION)
        return
    replicas = after.spec.replicas
    if before is None:
        events.normal(
            ref,
            "Created",
            f"generation {after.metadata.generation}, {replicas} replicas",
            FEDERATION,
        )
        return
    if before.metadata.generation == after.metadata.generation:
        return  # metadata only (labels, annotations): no new spec
    if _only_replicas_differ(before.spec, after.spec):
        events.normal(ref, "Scaled", f"replicas {before.spec.replicas} → {replicas}", FEDERATION)
        return
    events.normal(
        ref,
        "Updated",
        f"generation {before.metadata.generation} → {after.metadata.generation}",
        FEDERATION,
    )


def _only_replicas_differ(before: fleet_pb2.FleetSpec, after: fleet_pb2.FleetSpec) -> bool:
    unscaled = fleet_pb2.FleetSpec()
    unscaled.CopyFrom(after)
    unscaled.replicas = before.replicas
    return unscaled == before and after.replicas != before.replicas


def cluster_changed(
    events: EventRecorder, before: cluster_pb2.Cluster | None, after: cluster_pb2.Cluster | None
) -> None:
    """A registration written: registered, cordoned, drained, uncordoned or removed."""
    cluster = after if after is not None else before
    if cluster is None:
        return
    ref = cluster_ref(cluster.metadata.name)
    if after is None:
        events.normal(ref, "Removed", "cluster removed", FEDERATION)
    elif before is None:
        labels = ",".join(f"{k}={v}" for k, v in sorted(after.metadata.labels.items()))
        events.normal(ref, "Registered", f"labels {labels or '(none)'}", FEDERATION)
    elif after.spec.draining and not before.spec.draining:
        events.normal(
            ref,
            "Draining",
            "idle servers move to the other clusters; Allocated ones stay",
            FEDERATION,
        )
    elif before.spec.cordoned != after.spec.cordoned:
        if after.spec.cordoned:
            events.normal(ref, "Cordoned", "no new placement or allocation", FEDERATION)
        else:
            events.normal(ref, "Uncordoned", "placement and allocation resume", FEDERATION)


def phase_changed(
    events: EventRecorder,
    cluster: str,
    before: health.Phase,
    after: health.Phase,
    policy: health.HealthPolicy,
) -> None:
    ref = cluster_ref(cluster)
    if after is health.Phase.UNKNOWN:
        events.warning(
            ref,
            "ClusterUnknown",
            f"{before.value} → Unknown: no heartbeat for {policy.grace:g}s",
            FEDERATION,
        )
    else:
        events.normal(ref, f"Cluster{after.value}", f"{before.value} → {after.value}", FEDERATION)


def agent_connected(events: EventRecorder, cluster: str, version: str) -> None:
    events.normal(cluster_ref(cluster), "AgentConnected", f"agent {version} connected", FEDERATION)


def agent_disconnected(events: EventRecorder, cluster: str) -> None:
    events.warning(cluster_ref(cluster), "AgentDisconnected", "agent stream ended", FEDERATION)


def describe_patch(patch: gameserver_pb2.GameServerPatch, ops_state_before: str) -> str:
    """What a targeted operation set, e.g. "opsState None → Maintaining, updatePriority 3"."""
    parts = []
    if patch.HasField("ops_state"):
        parts.append(f"opsState {ops_state_before or 'None'} → {patch.ops_state}")
    if patch.HasField("update_priority"):
        parts.append(f"updatePriority {patch.update_priority}")
    if patch.HasField("deletion_priority"):
        parts.append(f"deletionPriority {patch.deletion_priority}")
    if patch.HasField("network_disabled"):
        parts.append(f"networkDisabled {str(patch.network_disabled).lower()}")
    parts += [f"image {name}={image}" for name, image in sorted(patch.images.items())]
    return ", ".join(parts)


def server_updated(
    events: EventRecorder,
    server: gameserver_pb2.GameServer,
    patch: gameserver_pb2.GameServerPatch,
    actor: str,
) -> None:
    ref = game_server_ref(server.namespace, server.cluster, server.name)
    events.normal(ref, "Updated", f"{describe_patch(patch, server.ops_state)}, by {actor}", API)


def server_refused(
    events: EventRecorder, server: gameserver_pb2.GameServer, why: str, actor: str, by: str
) -> None:
    """An operation not written: refused by the hub's or the agent's guard (``by``)."""
    ref = game_server_ref(server.namespace, server.cluster, server.name)
    events.warning(ref, "UpdateRefused", f"{why} (asked by {actor}; refused by {by})", API)


def server_update_failed(
    events: EventRecorder, server: gameserver_pb2.GameServer, why: str, actor: str
) -> None:
    ref = game_server_ref(server.namespace, server.cluster, server.name)
    events.warning(ref, "UpdateFailed", f"{why} (asked by {actor})", API)


def server_allocated(
    events: EventRecorder, server: gameserver_pb2.GameServer, request_id: str
) -> None:
    ref = game_server_ref(server.namespace, server.cluster, server.name)
    events.normal(
        ref,
        "Allocated",
        f"opsState {server.ops_state or 'None'} → Allocated, by allocation request {request_id}",
        ALLOCATOR,
    )
