"""Registered member clusters: their labels and cordon state, kept in the store."""

from __future__ import annotations

import builtins
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable

from gamefleet.v1 import cluster_pb2
from google.protobuf import timestamp_pb2

from hub.core import errors as core_errors
from hub.core import selectors, validation
from hub.store import interface as store_api

from . import codec
from .errors import NotFoundError

Clock = Callable[[], timestamp_pb2.Timestamp]


def now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


@dataclasses.dataclass(frozen=True)
class ClusterPage:
    """Clusters in name order, and whether more matching clusters follow."""

    clusters: builtins.list[cluster_pb2.Cluster]
    more: bool


class ClusterRegistry:
    """Clusters as the studio registered them, with the health their agents report."""

    def __init__(self, store: store_api.Store, clock: Clock = now) -> None:
        self._store = store
        self._clock = clock

    async def register(self, cluster: cluster_pb2.Cluster) -> cluster_pb2.Cluster:
        errors = validation.validate_cluster_registration(cluster)
        if errors:
            raise core_errors.ValidationError(tuple(errors))
        name = cluster.metadata.name
        while True:
            stored = await self._store.get(codec.cluster_key(name))
            record = cluster_pb2.Cluster()
            if stored is not None:
                record = codec.decode(stored.value, cluster_pb2.Cluster)
            else:
                record.metadata.name = name
                record.metadata.uid = str(uuid.uuid4())
                record.metadata.create_time.CopyFrom(self._clock())
                record.metadata.generation = 1
            if dict(record.metadata.labels) == dict(cluster.metadata.labels) and stored:
                return self._with_status(record, stored.mod_revision)
            record.metadata.labels.clear()
            record.metadata.labels.update(cluster.metadata.labels)
            record.metadata.update_time.CopyFrom(self._clock())
            expected = stored.mod_revision if stored is not None else 0
            try:
                revision = await self._store.put(
                    codec.cluster_key(name), codec.encode(record), expected_mod_revision=expected
                )
            except store_api.ConflictError:
                continue
            return self._with_status(record, revision)

    async def get(self, name: str) -> cluster_pb2.Cluster:
        stored = await self._store.get(codec.cluster_key(name))
        if stored is None:
            raise NotFoundError("cluster", name)
        return self._with_status(
            codec.decode(stored.value, cluster_pb2.Cluster), stored.mod_revision
        )

    async def list(
        self, selector: selectors.Selector | None = None
    ) -> builtins.list[cluster_pb2.Cluster]:
        items, _ = await self._store.list(codec.CLUSTERS_PREFIX)
        clusters = [
            self._with_status(codec.decode(kv.value, cluster_pb2.Cluster), kv.mod_revision)
            for kv in items
        ]
        if selector is None:
            return clusters
        return [c for c in clusters if selector.matches(c.metadata.labels)]

    async def page(
        self, selector: selectors.Selector | None = None, *, after: str | None, size: int
    ) -> ClusterPage:
        """At most ``size`` clusters named after ``after``, reading the store a page at a
        time; with a selector, reads on until ``size`` clusters match or none are left."""
        if size < 1:
            raise ValueError(f"a page holds at least one cluster, not {size}")
        start = codec.cluster_key(after) if after is not None else ""
        batch = size + 1
        clusters: builtins.list[cluster_pb2.Cluster] = []
        while True:
            items, _ = await self._store.list(codec.CLUSTERS_PREFIX, start_after=start, limit=batch)
            for kv in items:
                cluster = codec.decode(kv.value, cluster_pb2.Cluster)
                if selector is None or selector.matches(cluster.metadata.labels):
                    clusters.append(self._with_status(cluster, kv.mod_revision))
            if len(clusters) > size or len(items) < batch:
                return ClusterPage(clusters[:size], more=len(clusters) > size)
            start = items[-1].key

    async def set_cordoned(self, name: str, cordoned: bool) -> cluster_pb2.Cluster:
        while True:
            stored = await self._store.get(codec.cluster_key(name))
            if stored is None:
                raise NotFoundError("cluster", name)
            record = codec.decode(stored.value, cluster_pb2.Cluster)
            if record.spec.cordoned == cordoned:
                return self._with_status(record, stored.mod_revision)
            record.spec.cordoned = cordoned
            record.metadata.generation += 1
            record.metadata.update_time.CopyFrom(self._clock())
            try:
                revision = await self._store.put(
                    codec.cluster_key(name),
                    codec.encode(record),
                    expected_mod_revision=stored.mod_revision,
                )
            except store_api.ConflictError:
                continue
            return self._with_status(record, revision)

    async def remove(self, name: str) -> cluster_pb2.Cluster:
        cluster = await self.get(name)
        await self._store.delete(codec.cluster_key(name))
        return cluster

    def watch(self, start_revision: int) -> AsyncIterator[store_api.WatchEvent]:
        """Registrations, cordons and removals after ``start_revision``."""
        return self._store.watch(codec.CLUSTERS_PREFIX, start_revision)

    async def list_at(self) -> tuple[builtins.list[cluster_pb2.Cluster], int]:
        """Every cluster and the store revision they were read at."""
        items, revision = await self._store.list(codec.CLUSTERS_PREFIX)
        clusters = [
            self._with_status(codec.decode(kv.value, cluster_pb2.Cluster), kv.mod_revision)
            for kv in items
        ]
        return clusters, revision

    def _with_status(self, record: cluster_pb2.Cluster, revision: int) -> cluster_pb2.Cluster:
        """The stored record; its status is soft and attached by the federation layer."""
        record.metadata.revision = revision
        record.ClearField("status")
        return record
