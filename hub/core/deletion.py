"""What a deleting fleet still waits for in each cluster.

A deleted fleet stays in the store, marked deleting, until every cluster that may hold its
GameServerSet has reported the set gone (or the cluster was removed). The agents retire the set:
scaled to 0, so their scale-down keeps every Allocated server until it is released, and deleted
once empty. A cluster the hub cannot see is waited for, never assumed empty.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from gamefleet.v1 import agent_pb2


@dataclasses.dataclass(frozen=True)
class ClusterCopy:
    """One cluster's copy of a deleting fleet's set, as far as the hub knows."""

    cluster: str
    # Its agent is connected and has told the hub which sets it holds.
    connected: bool
    # Connected: the agent holds the set (said so, or reports it). Otherwise: it may (it was
    # assigned the fleet, or last reported the set).
    holds: bool
    set_status: agent_pb2.GameServerSetStatus | None = None


def _plural(count: int, what: str) -> str:
    return f"{count} {what}{'' if count == 1 else 's'}"


def left_in(copy: ClusterCopy) -> str | None:
    """What the cluster still runs of the fleet, or None when its set is gone."""
    if not copy.holds:
        return None
    if not copy.connected:
        return "not connected"
    reported = copy.set_status
    if reported is None:
        return "set not removed yet"
    counts = reported.counts
    if counts.allocated:
        return _plural(counts.allocated, "Allocated server")
    if counts.replicas:
        return f"{_plural(counts.replicas, 'server')} leaving"
    return "set not removed yet"


def waiting_for(copies: Iterable[ClusterCopy]) -> dict[str, str]:
    """Cluster → what the deletion still waits for there; empty when every set is gone."""
    found = {copy.cluster: left_in(copy) for copy in copies}
    return {cluster: what for cluster, what in found.items() if what is not None}
