"""Placement: how many of a Fleet's replicas each cluster runs, and the spec it runs them with.

Eligibility is the cluster selector alone: a cluster is eligible when it is schedulable and
matches `placement.clusterSelector` (empty selects all). Entries of `placement.clusters` only
configure the clusters they name (weight, min, max, override); naming a cluster does not make
it eligible. Every eligible cluster gets an assignment, possibly of 0 replicas.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from gamefleet.v1 import fleet_pb2, gameserverset_pb2
from google.protobuf import struct_pb2

from . import apportion, conditions, documents, merge_patch, selectors

WEIGHTED = "Weighted"
PRIORITY = "Priority"
SPREAD = "Spread"

_RENDER_CACHE_SIZE = 1024
"""Distinct (template, overrides) renderings kept: a fleet's clusters share a few."""

PLACED = "Placed"
REASON_ALL_PLACED = "AllReplicasPlaced"
REASON_NO_ELIGIBLE_CLUSTERS = "NoEligibleClusters"
REASON_MINIMUMS_EXCEED_REPLICAS = "MinimumsExceedReplicas"
REASON_MAXIMUMS_BELOW_REPLICAS = "MaximumsBelowReplicas"


@dataclasses.dataclass(frozen=True)
class ClusterView:
    """What placement needs to know of a cluster; `schedulable` is Ready and not cordoned."""

    name: str
    labels: Mapping[str, str]
    schedulable: bool


@dataclasses.dataclass(frozen=True)
class ClusterAssignment:
    """One cluster's share: its replicas and the GameServerSet spec document to run."""

    cluster: str
    replicas: int
    spec: dict[str, Any]
    template_hash: str


@dataclasses.dataclass(frozen=True)
class Placement:
    """Assignments sorted by cluster name, replicas no cluster could take, and why."""

    assignments: tuple[ClusterAssignment, ...]
    unplaced: int
    conditions: tuple[conditions.Condition, ...]

    def replicas_by_cluster(self) -> dict[str, int]:
        return {assignment.cluster: assignment.replicas for assignment in self.assignments}


def template_hash(spec: Mapping[str, Any]) -> str:
    """A stable hash of a rendered spec, ignoring `replicas` so scaling leaves it unchanged."""
    without_replicas = {key: value for key, value in spec.items() if key != "replicas"}
    canonical = json.dumps(
        documents.normalize_numbers(without_replicas),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def render_spec(fleet: fleet_pb2.Fleet, cluster: ClusterView) -> tuple[dict[str, Any], str]:
    """The template with the matching overrides applied in order, then the cluster's own, and
    its `template_hash`.

    The spec carries no `replicas`; placement sets them. Clusters whose overrides are the
    same share one rendering, and a fleet's rendering is kept until its template or overrides
    change: rendering (proto to document, merge patches, hash) is most of a placement's cost.
    """
    patches = [
        override.patch.SerializeToString(deterministic=True)
        for override in fleet.spec.placement.overrides
        if selectors.selector_from_proto(override.cluster_selector).matches(cluster.labels)
    ]
    patches += [
        entry.override.SerializeToString(deterministic=True)
        for entry in fleet.spec.placement.clusters
        if entry.name == cluster.name and entry.HasField("override")
    ]
    template = fleet.spec.template.SerializeToString(deterministic=True)
    spec, digest = _rendered(template, tuple(patches))
    return copy.deepcopy(spec), digest


@functools.lru_cache(maxsize=_RENDER_CACHE_SIZE)
def _rendered(template: bytes, patches: tuple[bytes, ...]) -> tuple[dict[str, Any], str]:
    """Render once per distinct template and patches; callers get a copy (`render_spec`)."""
    spec: Any = documents.to_document(gameserverset_pb2.GameServerSetSpec.FromString(template))
    for patch in patches:
        spec = merge_patch.apply_merge_patch(
            spec, documents.to_document(struct_pb2.Struct.FromString(patch))
        )
    rendered = dict(spec) if isinstance(spec, dict) else {}
    rendered.pop("replicas", None)
    return rendered, template_hash(rendered)


def place(fleet: fleet_pb2.Fleet, clusters: Sequence[ClusterView]) -> Placement:
    """Split a validated Fleet's replicas over the eligible clusters.

    The result depends only on the set of clusters, not on their order; names must be unique
    (ValueError otherwise). An invalid selector in the Fleet raises SelectorError.
    """
    by_name = {cluster.name: cluster for cluster in clusters}
    if len(by_name) != len(clusters):
        raise ValueError("cluster names must be unique")
    placement = fleet.spec.placement
    selector = selectors.selector_from_proto(placement.cluster_selector)
    eligible = [
        by_name[name]
        for name in sorted(by_name)
        if by_name[name].schedulable and selector.matches(by_name[name].labels)
    ]
    replicas = fleet.spec.replicas
    shares = cluster_shares(placement, eligible)
    counts = split(placement, replicas, shares)
    placed = sum(counts.values())
    assignments = []
    for cluster in eligible:
        spec, digest = render_spec(fleet, cluster)
        spec["replicas"] = counts.get(cluster.name, 0)
        assignments.append(
            ClusterAssignment(cluster.name, counts.get(cluster.name, 0), spec, digest)
        )
    condition = _placed_condition(replicas, placed, shares)
    return Placement(tuple(assignments), replicas - placed, (condition,))


def cluster_shares(
    placement: fleet_pb2.Placement, eligible: Sequence[ClusterView]
) -> list[apportion.Share]:
    """Each eligible cluster's weight and bounds, as `placement.clusters` configures them."""
    configured = {entry.name: entry for entry in placement.clusters}
    shares = []
    for cluster in eligible:
        entry = configured.get(cluster.name)
        if entry is None:
            shares.append(apportion.Share(cluster.name))
            continue
        shares.append(
            apportion.Share(
                cluster.name,
                weight=max(1, entry.weight) if entry.HasField("weight") else 1,
                minimum=max(0, entry.min),
                maximum=max(0, entry.max) if entry.HasField("max") else None,
            )
        )
    return shares


def split(
    placement: fleet_pb2.Placement, replicas: int, shares: list[apportion.Share]
) -> dict[str, int]:
    """Divide ``replicas`` over ``shares`` by the placement's strategy."""
    if placement.strategy == PRIORITY:
        listed = [entry.name for entry in placement.clusters]
        rank = {name: index for index, name in reversed(list(enumerate(listed)))}
        ordered = sorted(shares, key=lambda share: (rank.get(share.name, len(listed)), share.name))
        return apportion.in_order(replicas, ordered)
    if placement.strategy == SPREAD:
        even = [dataclasses.replace(share, weight=1) for share in shares]
        return apportion.weighted(replicas, even)
    return apportion.weighted(replicas, shares)


def _placed_condition(
    replicas: int, placed: int, shares: Sequence[apportion.Share]
) -> conditions.Condition:
    if replicas > 0 and not shares:
        return conditions.Condition(
            PLACED,
            conditions.FALSE,
            REASON_NO_ELIGIBLE_CLUSTERS,
            f"no schedulable cluster matches the cluster selector; {replicas} replicas unplaced",
        )
    floors = sum(share.floor for share in shares)
    if floors > replicas:
        return conditions.Condition(
            PLACED,
            conditions.FALSE,
            REASON_MINIMUMS_EXCEED_REPLICAS,
            f"the cluster minimums add up to {floors} but the fleet has {replicas} replicas",
        )
    if placed < replicas:
        return conditions.Condition(
            PLACED,
            conditions.FALSE,
            REASON_MAXIMUMS_BELOW_REPLICAS,
            f"the cluster maximums allow {placed} of {replicas} replicas; "
            f"{replicas - placed} unplaced",
        )
    return conditions.Condition(
        PLACED,
        conditions.TRUE,
        REASON_ALL_PLACED,
        f"{replicas} replicas placed on {len(shares)} clusters",
    )
