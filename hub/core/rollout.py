"""Rollout across clusters: Parallel sends changes at once; Sequential, a cluster at a time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gamefleet.v1 import fleet_pb2

PARALLEL = "Parallel"
SEQUENTIAL = "Sequential"


def cluster_order(fleet: fleet_pb2.Fleet, clusters: Sequence[str]) -> list[str]:
    """Clusters in placement order: those listed in the fleet's placement first, then by name."""
    listed = [c.name for c in fleet.spec.placement.clusters if c.name in clusters]
    return listed + sorted(set(clusters) - set(listed))


def held_back(
    fleet: fleet_pb2.Fleet,
    desired: Mapping[str, str],
    held: Mapping[str, str | None],
    settled: Mapping[str, bool],
) -> set[str]:
    """Clusters that keep the set they hold for now.

    Under Sequential, a cluster gets a changed set only when every cluster before it holds its
    own desired set and reports it settled; a cluster that holds nothing yet is never held back
    (there is nothing running to roll).
    """
    if fleet.spec.update_policy.type != SEQUENTIAL:
        return set()
    waiting: set[str] = set()
    open_gate = True
    for cluster in cluster_order(fleet, list(desired)):
        current = held.get(cluster)
        changed = current is not None and current != desired[cluster]
        if changed and not open_gate:
            waiting.add(cluster)
            continue
        if changed or not settled.get(cluster, False):
            open_gate = open_gate and not changed and settled.get(cluster, False)
    return waiting
