"""What the autoscaler takes of the agents' reports: a cluster's report can change only its
own share.

An agent is trusted for its own cluster only (docs/limits.md), yet the policies add the
clusters' reports up: taken as sent, one cluster's Allocated count would become a floor that
takes the maxReplicas budget the other clusters' buffers need, and its servers' capacity would
stand in for the whole fleet's free slots. So a report counts only within what the hub gave
the cluster, the replicas placement assigned it:

- its servers in use (Allocated, or players on them) and its idle ones, at most that many;
- for a Counter or List policy, at most that many of its servers (those in use first, then
  those with the fewest free slots), each with at most the capacity the template declares.

Within those bounds a report is one the cluster could send honestly, so every other cluster's
share is what it would be had the cluster sent that; beyond them it is not counted, which errs
toward adding servers, never toward removing them (docs/autoscaling.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from .counter import COUNTER, CounterServer, declared, measured
from .demand import ClusterSnapshot, FleetSnapshot


def vouched(snapshot: FleetSnapshot) -> FleetSnapshot:
    """``snapshot`` with each cluster's allocated and idle servers at most its assigned."""
    return dataclasses.replace(snapshot, clusters=tuple(map(_vouched, snapshot.clusters)))


def _vouched(cluster: ClusterSnapshot) -> ClusterSnapshot:
    allocated = min(cluster.allocated, cluster.assigned)
    idle = min(cluster.idle, cluster.assigned - allocated)
    if (allocated, idle) == (cluster.allocated, cluster.idle):
        return cluster
    return dataclasses.replace(cluster, allocated=allocated, idle=idle)


def vouched_servers(
    servers: Sequence[CounterServer], snapshot: FleetSnapshot, key: str, kind: str = COUNTER
) -> list[CounterServer]:
    """``servers`` as the Counter (or List) policy on ``key`` counts them: per cluster at most
    its assigned replicas of them, in use first and then the fewest free slots first (a cluster
    the snapshot does not list has none), each within the template's capacity of ``key``."""
    template = declared(snapshot.fleet)
    found = measured(template, key, kind) if template is not None else None
    ceiling = found.capacity if found is not None else None
    bounded = [_within(server, ceiling) for server in servers]
    by_cluster: dict[str, list[int]] = {}
    for index, server in enumerate(bounded):
        by_cluster.setdefault(server.cluster, []).append(index)
    room = {c.name: c.assigned for c in snapshot.clusters}
    dropped: set[int] = set()
    for cluster, indexes in by_cluster.items():
        allowed = room.get(cluster, 0)
        if len(indexes) > allowed:
            indexes.sort(key=lambda i: _kept_first(bounded[i]))
            dropped.update(indexes[allowed:])
    if not dropped:
        return bounded
    return [server for index, server in enumerate(bounded) if index not in dropped]


def _kept_first(server: CounterServer) -> tuple[bool, int]:
    """Servers in use first (they are floors), then the fewest free slots: the hub assumes the
    cluster's emptiest servers are the ones beyond its share."""
    return (not server.in_use, server.capacity - server.count)


def _within(server: CounterServer, ceiling: int | None) -> CounterServer:
    capacity = server.capacity if ceiling is None else min(server.capacity, ceiling)
    count = min(server.count, capacity)
    if (count, capacity) == (server.count, server.capacity):
        return server
    return dataclasses.replace(server, count=count, capacity=capacity)
