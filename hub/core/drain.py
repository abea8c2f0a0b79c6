"""Cluster drain, make-before-break, one fleet at a time (used by hub.core.assignment).

A draining cluster is cordoned and keeps its whole last share until this lowers it. Then:
1. only its Allocated servers count against the fleet's replicas: the idle part of its share
   is placed on the Ready clusters too, as failover adds its replacements: their shares rise
   first;
2. once every replica placed on the Ready clusters is Ready there (none left unplaced, and no
   other cluster holding a share of the fleet is Unknown: its servers cannot be counted), its
   share falls to its Allocated servers (never above what it had): its agent removes the
   idle ones, and its scale-down never picks an Allocated server;
3. as games end, its share follows its Allocated servers down the same way, to 0.

The fleet's last assignment is the only memory: a share once lowered is not raised again.
A draining cluster whose agent is silent (Unknown) gets step 1 only, its share untouched until
it is back: nothing is lowered where the hub cannot see.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from gamefleet.v1 import cluster_pb2, gameserver_pb2

from . import conditions
from .conditions import Condition
from .placement import Placement

DRAINED = "Drained"


@dataclasses.dataclass(frozen=True)
class Draining:
    """A draining cluster as one fleet sees it."""

    name: str
    # What it keeps of the fleet now (its last assignment).
    share: int
    # The fleet's Allocated servers there, as last reported.
    allocated: int
    # Its agent is heard (not Unknown) and reported the fleet's set: its Allocated are known.
    reachable: bool


@dataclasses.dataclass(frozen=True)
class DrainProgress:
    """One fleet's drain of one cluster, after this step."""

    # Idle servers of its share to be made up on the Ready clusters first.
    to_move: int
    # Of those, how many the Ready clusters already hold Ready.
    moved: int
    # Its share after this step.
    share: int


def idle(share: int, allocated: int) -> int:
    """The part of a share its Allocated servers do not need."""
    return max(0, share - allocated)


def step(
    draining: Sequence[Draining],
    elsewhere: Placement,
    ready: Mapping[str, int],
    silent_elsewhere: bool = False,
) -> dict[str, DrainProgress]:
    """Each draining cluster's share for now, given ``elsewhere``: the placement on the Ready
    clusters, raised by the draining clusters' idle servers, the Ready servers each Ready
    cluster reports (Allocated included), and whether an Unknown cluster holds a share."""
    to_move = sum(idle(d.share, d.allocated) for d in draining)
    placed = sum(a.replicas for a in elsewhere.assignments)
    held = sum(min(ready.get(a.cluster, 0), a.replicas) for a in elsewhere.assignments)
    made_up = not silent_elsewhere and elsewhere.unplaced == 0 and held >= placed
    # What the Ready clusters hold beyond what they would need without the drain.
    moved_left = min(to_move, max(0, held - (placed - to_move)))
    result = {}
    for cluster in sorted(draining, key=lambda d: d.name):
        own = idle(cluster.share, cluster.allocated)
        moved = min(own, moved_left)
        moved_left -= moved
        lowered = made_up and cluster.reachable
        share = min(cluster.share, cluster.allocated) if lowered else cluster.share
        result[cluster.name] = DrainProgress(
            to_move=0 if lowered else own, moved=0 if lowered else moved, share=share
        )
    return result


def cluster_drain(
    progress: Iterable[DrainProgress], counts: Iterable[gameserver_pb2.GameServerCounts]
) -> cluster_pb2.ClusterDrain:
    """A draining cluster's progress over its fleets: ``progress`` of each fleet it has a
    share of, ``counts`` of each set its agent last reported."""
    summary = cluster_pb2.ClusterDrain()
    for fleet in progress:
        summary.to_move += fleet.to_move
        summary.moved += fleet.moved
    for reported in counts:
        summary.allocated += reported.allocated
        summary.idle += max(0, reported.replicas - reported.allocated)
    return summary


def drained(summary: cluster_pb2.ClusterDrain, reachable: bool) -> Condition:
    """The Drained condition: True once only Allocated servers (or none) remain."""
    if not reachable:
        return Condition(
            DRAINED,
            conditions.UNKNOWN,
            "ClusterUnknown",
            "its agent is silent: its servers stay as they are until it is back",
        )
    if summary.to_move:
        return Condition(
            DRAINED,
            conditions.FALSE,
            "MovingIdleServers",
            f"{summary.moved}/{summary.to_move} idle servers made up on other clusters",
        )
    if summary.idle:
        return Condition(
            DRAINED, conditions.FALSE, "RemovingIdleServers", f"{summary.idle} idle servers left"
        )
    if summary.allocated:
        return Condition(
            DRAINED,
            conditions.TRUE,
            "WaitingForAllocated",
            f"{summary.allocated} servers in use (Allocated, or players on their counters"
            " or lists) stay until their games end",
        )
    return Condition(DRAINED, conditions.TRUE, "Empty", "no game servers left")
