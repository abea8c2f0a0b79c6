"""The API's messages as the small JSON documents the console renders (pure functions)."""

from __future__ import annotations

from typing import Any

from gamefleet.v1 import cluster_pb2, event_pb2, fleet_pb2, gameserver_pb2
from google.protobuf import json_format, timestamp_pb2

from hub.federation.stats import LastDecision

View = dict[str, Any]
REGION_LABELS = ("region", "topology.kubernetes.io/region")


def _seconds(stamp: timestamp_pb2.Timestamp) -> float | None:
    if not stamp.seconds and not stamp.nanos:
        return None
    return stamp.seconds + stamp.nanos / 1e9


def _counts(counts: gameserver_pb2.GameServerCounts) -> View:
    return {
        "replicas": counts.replicas,
        "ready": counts.ready,
        "allocated": counts.allocated,
        "maintaining": counts.maintaining,
        "waitToBeDeleted": counts.wait_to_be_deleted,
        "updated": counts.updated,
        # Servers not yet on the fleet's current template: an update still has them to do.
        "updating": max(counts.replicas - counts.updated, 0),
    }


def fleet(message: fleet_pb2.Fleet) -> View:
    status = message.status
    return {
        "namespace": message.metadata.namespace,
        "name": message.metadata.name,
        "generation": message.metadata.generation,
        "deleting": message.metadata.HasField("deletion_time"),
        "replicas": message.spec.replicas,
        "placed": status.replicas,
        "allocatable": status.allocatable,
        "counts": _counts(status.counts),
        "clusters": [
            {
                "cluster": c.cluster,
                "desired": c.desired_replicas,
                "observedGeneration": c.observed_generation,
                "phase": c.cluster_phase,
                "allocatable": c.allocatable,
                "counts": _counts(c.counts),
            }
            for c in status.clusters
        ],
    }


def region(labels: dict[str, str] | Any) -> str:
    for key in REGION_LABELS:
        if labels.get(key):
            return str(labels[key])
    return ""


def cluster(message: cluster_pb2.Cluster) -> View:
    status = message.status
    return {
        "name": message.metadata.name,
        "region": region(message.metadata.labels),
        "labels": dict(message.metadata.labels),
        "phase": status.phase,
        "cordoned": message.spec.cordoned,
        "agentVersion": status.agent_version,
        "nodes": status.capacity.nodes,
        "lastHeartbeat": _seconds(status.last_heartbeat_time),
        "conditions": [
            {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message}
            for c in status.conditions
            if c.status != "True"
        ],
    }


def _address(network_status: dict[str, Any]) -> str:
    """OKG's networkStatus as "IP:PORT ...": external addresses first, else internal."""
    for field in ("externalAddresses", "internalAddresses"):
        found = []
        for address in network_status.get(field) or []:
            ip = address.get("ip", "")
            ports = [p.get("port") for p in address.get("ports") or [] if p.get("port")]
            if address.get("endPoint"):
                ip = address["endPoint"]
            found += [f"{ip}:{int(port)}" for port in ports] if ports else [ip] if ip else []
        if found:
            return " ".join(found)
    return ""


def game_server(message: gameserver_pb2.GameServer) -> View:
    network = json_format.MessageToDict(message.network_status)
    probes = []
    for condition in message.quality_conditions:
        doc = json_format.MessageToDict(condition)
        probes.append(
            {
                "name": doc.get("name", ""),
                "status": doc.get("status", ""),
                "result": doc.get("result", ""),
            }
        )
    return {
        "cluster": message.cluster,
        "name": message.name,
        "state": message.state,
        "opsState": message.ops_state,
        "address": _address(network),
        "network": network.get("currentNetworkState", ""),
        "probes": probes,
        "node": message.node,
        "since": _seconds(message.last_transition_time),
    }


def decision(namespace: str, autoscaler: str, last: LastDecision) -> View:
    return {
        "namespace": namespace,
        "autoscaler": autoscaler,
        "fleet": last.fleet,
        "time": last.time,
        "from": last.from_replicas,
        "to": last.to_replicas,
    }


def event(message: event_pb2.Event) -> View:
    return {
        "type": message.type,
        "reason": message.reason,
        "message": message.message,
        "count": message.count,
        "time": _seconds(message.last_time),
    }
