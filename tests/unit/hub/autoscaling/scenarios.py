"""Fleets and clusters as the autoscaler's core reads them, for the unit tests."""

from __future__ import annotations

from typing import Any

from gamefleet.v1 import autoscaler_pb2, fleet_pb2

from hub.core import documents
from hub.core.autoscaling.demand import ClusterSnapshot, FleetSnapshot
from hub.core.health import Phase


def fleet(
    replicas: int = 0, demand: dict[str, int] | None = None, **placement: Any
) -> fleet_pb2.Fleet:
    doc: dict[str, Any] = {
        "metadata": {"name": "arena", "namespace": "games"},
        "spec": {
            "replicas": replicas,
            "template": {
                "gameServerTemplate": {"spec": {"containers": [{"name": "s", "image": "a:1"}]}}
            },
            "placement": placement,
        },
        "clusterDemand": demand or {},
    }
    return documents.from_document(doc, fleet_pb2.Fleet)


def cluster(
    name: str,
    allocated: int = 0,
    assigned: int = 0,
    region: str = "",
    phase: Phase = Phase.READY,
    eligible: bool = True,
    idle: int = 0,
) -> ClusterSnapshot:
    labels = {"region": region} if region else {}
    return ClusterSnapshot(name, labels, phase, eligible, assigned, allocated, idle)


def snapshot(*clusters: ClusterSnapshot, replicas: int = 0, **placement: Any) -> FleetSnapshot:
    return FleetSnapshot(fleet(replicas, **placement), clusters)


def buffer(
    size: int | str, low: int = 0, high: int = 1000, label: str = ""
) -> autoscaler_pb2.BufferPolicy:
    doc: dict[str, Any] = {"bufferSize": size, "minReplicas": low, "maxReplicas": high}
    if label:
        doc["perClusterLabel"] = label
    return documents.from_document(doc, autoscaler_pb2.BufferPolicy)
