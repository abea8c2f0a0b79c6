"""The hub's durable intent, mirrored: every fleet and cluster of the store, kept current by
watches, with each change handed to a listener.

A watch that ends (history compacted, a store outage) lists again and hands over the
differences, so a change made meanwhile — a fleet or a cluster removed — is not missed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from gamefleet.v1 import cluster_pb2, fleet_pb2

from hub.core.desired_sets import SetKey
from hub.registry.clusters import ClusterRegistry
from hub.registry.fleets import FleetRegistry

log = logging.getLogger(__name__)

RELIST_PAUSE_S = 1.0


class IntentListener(Protocol):
    def fleet_changed(
        self, key: SetKey, before: fleet_pb2.Fleet | None, after: fleet_pb2.Fleet | None
    ) -> None: ...

    def cluster_changed(
        self, name: str, before: cluster_pb2.Cluster | None, after: cluster_pb2.Cluster | None
    ) -> None: ...


def fleet_key(fleet: fleet_pb2.Fleet) -> SetKey:
    return (fleet.metadata.namespace, fleet.metadata.name)


class IntentMirror:
    """``fleets`` and ``clusters`` as the store holds them (plus what the hub itself just
    wrote, taken at once through ``put_cluster``/``remove_cluster``)."""

    def __init__(
        self, fleets: FleetRegistry, clusters: ClusterRegistry, listener: IntentListener
    ) -> None:
        self._fleet_registry = fleets
        self._cluster_registry = clusters
        self._listener = listener
        self.fleets: dict[SetKey, fleet_pb2.Fleet] = {}
        self.clusters: dict[str, cluster_pb2.Cluster] = {}
        self._fleets_at = 0
        self._clusters_at = 0

    async def load(self) -> None:
        """Read every fleet and cluster (no listener calls: the caller starts from these)."""
        fleets, self._fleets_at = await self._fleet_registry.list()
        self.fleets = {fleet_key(f): f for f in fleets}
        clusters, self._clusters_at = await self._cluster_registry.list_at()
        self.clusters = {c.metadata.name: c for c in clusters}

    def put_cluster(self, record: cluster_pb2.Cluster) -> None:
        name = record.metadata.name
        before = self.clusters.get(name)
        self.clusters[name] = record
        self._listener.cluster_changed(name, before, record)

    def remove_cluster(self, name: str) -> None:
        before = self.clusters.pop(name, None)
        self._listener.cluster_changed(name, before, None)

    def put_fleet(self, fleet: fleet_pb2.Fleet) -> None:
        key = fleet_key(fleet)
        before = self.fleets.get(key)
        self.fleets[key] = fleet
        self._listener.fleet_changed(key, before, fleet)

    def remove_fleet(self, key: SetKey, last: fleet_pb2.Fleet | None = None) -> None:
        """``last``: what the store said of it when it went (the hub may have let it go
        already)."""
        before = self.fleets.pop(key, None) or last
        self._listener.fleet_changed(key, before, None)

    async def follow_fleets(self) -> None:
        """Apply the store's fleet changes from the last revision read, for ever."""
        while True:
            try:
                async for event in self._fleet_registry.watch("", None, self._fleets_at + 1):
                    self._fleets_at = event.revision
                    if event.type == "DELETED":
                        self.remove_fleet(fleet_key(event.fleet), event.fleet)
                    else:
                        self.put_fleet(event.fleet)
            except Exception as exc:  # compaction or a store outage: list again and go on
                log.warning("watch of fleets ended (%s); listing again", exc)
                await asyncio.sleep(RELIST_PAUSE_S)
                await self._relist_fleets()

    async def follow_clusters(self) -> None:
        """Apply the store's cluster changes from the last revision read, for ever."""
        while True:
            try:
                async for change in self._cluster_registry.watch(self._clusters_at + 1):
                    self._clusters_at = change.revision
                    if change.record is None:
                        self.remove_cluster(change.name)
                    else:
                        self.put_cluster(change.record)
            except Exception as exc:
                log.warning("watch of clusters ended (%s); listing again", exc)
                await asyncio.sleep(RELIST_PAUSE_S)
                await self._relist_clusters()

    async def _relist_fleets(self) -> None:
        fleets, listed_at = await self._fleet_registry.list()
        listed = {fleet_key(f): f for f in fleets}
        for key in [k for k in self.fleets if k not in listed]:
            self.remove_fleet(key)
        for key, fleet in listed.items():
            if self.fleets.get(key) != fleet:
                self.put_fleet(fleet)
        self._fleets_at = listed_at

    async def _relist_clusters(self) -> None:
        clusters, listed_at = await self._cluster_registry.list_at()
        listed = {c.metadata.name: c for c in clusters}
        for name in [n for n in self.clusters if n not in listed]:
            self.remove_cluster(name)
        for name, record in listed.items():
            if self.clusters.get(name) != record:
                self.put_cluster(record)
        self._clusters_at = listed_at
