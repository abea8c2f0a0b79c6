"""What a policy asks of each cluster: its allocated servers plus its share of the idle buffer.

Allocated servers stay where they are, so a cluster's demand starts at its allocated count;
the idle servers the policy wants are divided among the Ready clusters the fleet selects by
the fleet's own placement (weights, Priority spill-over, Spread, each cluster's min and max).
With `perClusterLabel`, each group of clusters sharing that label's value gets the whole buffer
on top of the group's allocated servers, divided among the group's clusters. Clusters that are
Unknown or cordoned keep what they hold (placement keeps it) and take no part.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

from gamefleet.v1 import autoscaler_pb2, fleet_pb2
from google.protobuf import struct_pb2

from hub.core import placement, values
from hub.core.health import Phase


@dataclasses.dataclass(frozen=True)
class ClusterSnapshot:
    """One cluster as the fleet's autoscaler reads it."""

    name: str
    labels: Mapping[str, str]
    phase: Phase
    # Matches the fleet's cluster selector.
    eligible: bool
    # Replicas placement gives the cluster now.
    assigned: int
    # The fleet's Allocated servers there.
    allocated: int
    # The fleet's Ready, unallocated servers there (allocatable now).
    idle: int = 0


@dataclasses.dataclass(frozen=True)
class FleetSnapshot:
    fleet: fleet_pb2.Fleet
    clusters: tuple[ClusterSnapshot, ...]

    @property
    def replicas(self) -> int:
        return self.fleet.spec.replicas

    def ready(self) -> list[ClusterSnapshot]:
        """The clusters the autoscaler places on: selected, Ready and not cordoned."""
        return [c for c in self.clusters if c.eligible and c.phase is Phase.READY]

    def kept(self) -> int:
        """What selected clusters that are Unknown or cordoned keep."""
        return sum(c.assigned for c in self.clusters if c.eligible and c.phase is not Phase.READY)

    def allocated(self) -> int:
        return sum(c.allocated for c in self.clusters if c.eligible)

    def idle(self) -> int:
        return sum(c.idle for c in self.ready())


@dataclasses.dataclass(frozen=True)
class Recommendation:
    """A policy's answer: the fleet's total and each Ready cluster's part of it."""

    total: int
    clusters: dict[str, int]
    # What Unknown and cordoned clusters keep, included in total.
    kept: int
    # Why the policy's own bounds changed its answer ("" when they did not).
    limited: str = ""
    detail: str = ""


def idle_wanted(size: struct_pb2.Value, allocated: int) -> int:
    """Idle servers a buffer keeps beside ``allocated``: the count, or for a percentage p the
    servers that make them p% of the total (as Agones computes it, rounding the total up)."""
    count = values.whole_number(size)
    if count is not None:
        return count
    text = size.string_value.strip() if size.WhichOneof("kind") == "string_value" else ""
    if text.endswith("%") and text[:-1].isdigit() and int(text[:-1]) < 100:
        keep = 100 - int(text[:-1])
        return -(-allocated * 100 // keep) - allocated
    if text.isdigit():
        return int(text)
    raise ValueError(f"buffer size {values.describe(size)} is neither a count nor a percentage")


def proportional(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """``total`` split in proportion to ``weights`` (largest remainder, ties by name); each
    part is at most its weight when ``total`` does not exceed their sum."""
    whole = sum(weights.values())
    if whole <= 0:
        return dict.fromkeys(weights, 0)
    quotas = {name: Fraction(total * weight, whole) for name, weight in weights.items()}
    parts = {name: math.floor(quota) for name, quota in quotas.items()}
    leftover = total - sum(parts.values())
    for name in sorted(quotas, key=lambda n: (-(quotas[n] - parts[n]), n))[:leftover]:
        parts[name] += 1
    return parts


def spread(
    fleet: fleet_pb2.Fleet,
    clusters: Sequence[ClusterSnapshot],
    extra: int,
    base: Mapping[str, int],
    minimums: bool = True,
) -> dict[str, int]:
    """``extra`` replicas added to ``base`` over ``clusters`` by the fleet's placement rules:
    each cluster's min and max count what ``base`` already holds. With ``minimums``, clusters
    below their min get there even when that takes more than ``extra``."""
    views = [placement.ClusterView(c.name, c.labels, schedulable=True) for c in clusters]
    shares = []
    for share in placement.cluster_shares(fleet.spec.placement, views):
        held = base.get(share.name, 0)
        maximum = None if share.maximum is None else max(0, share.maximum - held)
        minimum = max(0, share.minimum - held) if minimums else 0
        shares.append(dataclasses.replace(share, minimum=minimum, maximum=maximum))
    wanted = max(extra, sum(share.floor for share in shares))
    return placement.split(fleet.spec.placement, wanted, shares)


def reduce_to(clusters: Mapping[str, int], floors: Mapping[str, int], total: int) -> dict[str, int]:
    """``clusters`` lowered to sum to ``total``, taking from each in proportion to what it has
    above its floor, never below it."""
    above = {name: max(0, count - floors.get(name, 0)) for name, count in clusters.items()}
    keep = max(0, total - sum(min(count, floors.get(name, 0)) for name, count in clusters.items()))
    if keep >= sum(above.values()):
        return dict(clusters)
    kept = proportional(keep, above)
    return {name: clusters[name] - above[name] + kept[name] for name in clusters}


def _groups(ready: Sequence[ClusterSnapshot], label: str) -> dict[str, list[ClusterSnapshot]]:
    groups: dict[str, list[ClusterSnapshot]] = {}
    for cluster in ready:
        groups.setdefault(cluster.labels.get(label, "") if label else "", []).append(cluster)
    return groups


def recommend_buffer(
    policy: autoscaler_pb2.BufferPolicy, snapshot: FleetSnapshot
) -> Recommendation:
    """Each group's allocated servers plus the buffer, within minReplicas and maxReplicas:
    when a bound moves the total, each group's idle part moves in proportion."""
    ready = snapshot.ready()
    kept = snapshot.kept()
    groups = sorted(_groups(ready, policy.per_cluster_label).items())
    allocated = {group: sum(c.allocated for c in members) for group, members in groups}
    wanted = {group: idle_wanted(policy.buffer_size, allocated[group]) for group, _ in groups}
    floors = {c.name: c.allocated for c in ready}
    unplaceable = 0 if groups else idle_wanted(policy.buffer_size, snapshot.allocated())
    wanted_total = kept + sum(floors.values()) + sum(wanted.values()) + unplaceable
    total = max(policy.min_replicas, min(policy.max_replicas, wanted_total))
    total = max(total, kept + sum(floors.values()))
    limited = ""
    if total < wanted_total:
        limited = f"maxReplicas {policy.max_replicas}"
    elif total > wanted_total:
        limited = f"minReplicas {policy.min_replicas}"
    if total != wanted_total and groups:
        weights = wanted if sum(wanted.values()) else {g: len(m) for g, m in groups}
        wanted = proportional(total - kept - sum(floors.values()), weights)
    demand: dict[str, int] = {}
    parts = []
    for group, members in groups:
        added = spread(snapshot.fleet, members, wanted[group], floors)
        for cluster in members:
            demand[cluster.name] = cluster.allocated + added.get(cluster.name, 0)
        if policy.per_cluster_label:
            name = group or "<none>"
            parts.append(f"{policy.per_cluster_label}={name}: {allocated[group]}+{wanted[group]}")
        else:
            parts.append(f"allocated {allocated[group]} + buffer {wanted[group]}")
    if kept + sum(demand.values()) > policy.max_replicas >= kept + sum(floors.values()):
        demand = reduce_to(demand, floors, policy.max_replicas - kept)
    if kept:
        parts.append(f"kept {kept} on Unknown or cordoned clusters")
    return Recommendation(total, demand, kept, limited, "; ".join(parts) or "no Ready cluster")


def recommend_total(total: int, snapshot: FleetSnapshot, detail: str) -> Recommendation:
    """A total decided elsewhere (a webhook's answer) over the clusters: allocated servers
    stay, the rest is divided by placement; never below what is allocated and kept."""
    ready = snapshot.ready()
    kept = snapshot.kept()
    floors = {c.name: c.allocated for c in ready}
    total = max(total, kept + sum(floors.values()))
    added = spread(snapshot.fleet, ready, total - kept - sum(floors.values()), floors)
    demand = {name: count + added.get(name, 0) for name, count in floors.items()}
    placed = kept + sum(demand.values())
    if placed > total:
        demand = reduce_to(demand, floors, total - kept)
    return Recommendation(total, demand, kept, "", detail)
