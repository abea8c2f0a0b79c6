"""Replicas per cluster over time: placement, plus what clusters the hub cannot see keep.

Unknown is not dead: a cluster that is Unknown (or cordoned) keeps the replicas it was last
assigned, and only Ready, uncordoned clusters share the rest. With failover on, once a cluster
has been Unknown for `failover.after`, its unallocated servers are replaced on the Ready
clusters (it still keeps its own: nothing is deleted where the hub cannot see). When it is
Ready again, placement gives it its share back and the replacements go away.

A fleet whose replicas an autoscaler owns carries its demand per cluster (allocated servers
plus a share of the buffer): each Ready cluster's demand is its floor, so placement gives it
at least that and divides anything beyond by its usual rules (docs/autoscaling.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from gamefleet.v1 import fleet_pb2

from . import selectors
from .autoscaling.demand import proportional
from .health import Phase
from .placement import ClusterAssignment, ClusterView, Placement, place

DEFAULT_FAILOVER_AFTER = 30.0
DEFAULT_FAILOVER_RATE = 10


@dataclasses.dataclass(frozen=True)
class ClusterState:
    name: str
    labels: Mapping[str, str]
    phase: Phase
    unknown_since: float | None = None
    # This fleet's servers there, as last reported.
    allocated: int = 0
    # Its agent reconciles the fleet's namespace (or every namespace, or it has not said).
    serves: bool = True


@dataclasses.dataclass(frozen=True)
class Claims:
    """Clusters whose entry in a fleet's last assignment is only what their agent says it
    holds (after a hub restart without an assignment record), not what the hub assigned, and
    the fleet's replicas when the hub took those claims."""

    clusters: frozenset[str] = frozenset()
    replicas: int = 0


NO_CLAIMS = Claims()


def failover_after(fleet: fleet_pb2.Fleet) -> float | None:
    failover = fleet.spec.placement.failover
    if not failover.enabled:
        return None
    if failover.HasField("after"):
        return failover.after.ToTimedelta().total_seconds()
    return DEFAULT_FAILOVER_AFTER


def failover_rate(fleet: fleet_pb2.Fleet) -> int:
    failover = fleet.spec.placement.failover
    if failover.HasField("replicas_per_second"):
        return failover.replicas_per_second
    return DEFAULT_FAILOVER_RATE


def assign(
    fleet: fleet_pb2.Fleet,
    clusters: Sequence[ClusterState],
    previous: Mapping[str, int],
    now: float,
    claims: Claims = NO_CLAIMS,
) -> Placement:
    """Placement over the Ready clusters, with Unknown and cordoned ones keeping their share.

    A cluster whose agent does not serve the fleet's namespace is not eligible: its agent would
    refuse the set, so its share goes to the clusters that can run it.

    A claimed share (see Claims) of a cluster that is not Ready is kept only from the replicas
    the fleet had when the claim was taken that neither the assigned shares nor the Ready
    clusters hold: a claim never lowers another cluster's share, nor takes a fleet's growth.
    """
    selector = selectors.selector_from_proto(fleet.spec.placement.cluster_selector)
    clusters = [cluster for cluster in clusters if cluster.serves]
    kept: dict[str, int] = {}
    replaced = 0
    after: float | None = failover_after(fleet)
    budget = fleet.spec.replicas
    held_by_ready = sum(
        previous.get(c.name, 0)
        for c in clusters
        if c.phase is Phase.READY and selector.matches(c.labels)
    )
    claimed = claims.clusters
    for cluster in sorted(clusters, key=lambda c: (c.name in claimed, c.name)):
        if cluster.phase is Phase.READY or not selector.matches(cluster.labels):
            continue
        room = min(budget, claims.replicas) - held_by_ready if cluster.name in claimed else budget
        keep = min(previous.get(cluster.name, 0), room)
        if keep <= 0:
            continue
        kept[cluster.name] = keep
        budget -= keep
        if cluster.phase is Phase.UNKNOWN and cluster.unknown_since is not None and after:
            late = now - cluster.unknown_since - after
            if late >= 0:
                # Rate-limited: replacements grow with time instead of arriving all at once.
                allowed = int(late * failover_rate(fleet)) + 1
                replaced += min(max(0, keep - cluster.allocated), allowed)
    schedulable = [
        ClusterView(c.name, c.labels, schedulable=True) for c in clusters if c.phase is Phase.READY
    ]
    reduced = fleet_pb2.Fleet()
    reduced.CopyFrom(fleet)
    reduced.spec.replicas = budget + replaced
    if fleet.cluster_demand:
        _demand_as_floors(reduced, [c.name for c in schedulable if selector.matches(c.labels)])
    ready_placement = place(reduced, schedulable)
    if not kept:
        return ready_placement
    frozen: list[ClusterAssignment] = []
    for cluster in clusters:
        if cluster.name in kept:
            view = ClusterView(cluster.name, cluster.labels, schedulable=True)
            pinned = place(_pinned(fleet, cluster.name, kept[cluster.name]), [view])
            frozen.extend(pinned.assignments)
    assignments = sorted((*ready_placement.assignments, *frozen), key=lambda a: a.cluster)
    return dataclasses.replace(ready_placement, assignments=tuple(assignments))


def _demand_as_floors(fleet: fleet_pb2.Fleet, eligible: Sequence[str]) -> None:
    """Make the autoscaler's demand each eligible Ready cluster's floor (``min``), so the
    fleet's placement keeps its rules for whatever the demand does not cover; demand beyond
    the replicas to place is scaled down in proportion."""
    demand = {name: fleet.cluster_demand[name] for name in eligible if name in fleet.cluster_demand}
    if sum(demand.values()) > fleet.spec.replicas:
        demand = proportional(fleet.spec.replicas, demand)
    entries = {entry.name: entry for entry in fleet.spec.placement.clusters}
    for name in sorted(demand):
        entry = entries.get(name) or fleet.spec.placement.clusters.add(name=name)
        entry.min = max(entry.min, demand[name])


def _pinned(fleet: fleet_pb2.Fleet, cluster: str, replicas: int) -> fleet_pb2.Fleet:
    """The fleet as placed on one cluster alone, keeping that cluster's override."""
    pinned = fleet_pb2.Fleet()
    pinned.CopyFrom(fleet)
    pinned.spec.replicas = replicas
    entries = [c for c in fleet.spec.placement.clusters if c.name == cluster]
    del pinned.spec.placement.clusters[:]
    for entry in entries:
        kept = pinned.spec.placement.clusters.add()
        kept.CopyFrom(entry)
        kept.ClearField("min")
        kept.ClearField("max")
    return pinned
