"""ClusterService: registered member clusters. Errors map to statuses in ``errors``."""

from __future__ import annotations

from gamefleet.v1 import cluster_pb2, cluster_pb2_grpc

from hub.core import request_fields
from hub.registry.clusters import ClusterRegistry

from .errors import Context
from .leadership import LeaderGate


def _name(ref: cluster_pb2.ClusterRef) -> str:
    return request_fields.name(ref.name, "name")


class ClusterServicer(cluster_pb2_grpc.ClusterServiceServicer):
    def __init__(self, clusters: ClusterRegistry, gate: LeaderGate) -> None:
        self._clusters = clusters
        self._gate = gate

    async def RegisterCluster(
        self, request: cluster_pb2.RegisterClusterRequest, context: Context
    ) -> cluster_pb2.Cluster:
        federation = self._gate.require()
        record = await self._clusters.register(request.cluster)
        federation.observe_cluster(record)
        return federation.cluster_status(record)

    async def ListClusters(
        self, request: cluster_pb2.ListClustersRequest, context: Context
    ) -> cluster_pb2.ListClustersResponse:
        federation = self._gate.require()
        clusters = await self._clusters.list(request_fields.selector(request.label_selector))
        return cluster_pb2.ListClustersResponse(
            clusters=[federation.cluster_status(c) for c in clusters]
        )

    async def GetCluster(
        self, request: cluster_pb2.ClusterRef, context: Context
    ) -> cluster_pb2.Cluster:
        federation = self._gate.require()
        return federation.cluster_status(await self._clusters.get(_name(request)))

    async def CordonCluster(
        self, request: cluster_pb2.ClusterRef, context: Context
    ) -> cluster_pb2.Cluster:
        federation = self._gate.require()
        record = await self._clusters.set_cordoned(_name(request), True)
        federation.observe_cluster(record)
        return federation.cluster_status(record)

    async def UncordonCluster(
        self, request: cluster_pb2.ClusterRef, context: Context
    ) -> cluster_pb2.Cluster:
        federation = self._gate.require()
        record = await self._clusters.set_cordoned(_name(request), False)
        federation.observe_cluster(record)
        return federation.cluster_status(record)

    async def RemoveCluster(
        self, request: cluster_pb2.ClusterRef, context: Context
    ) -> cluster_pb2.RemoveClusterResponse:
        federation = self._gate.require()
        cluster = await self._clusters.remove(_name(request))
        federation.observe_cluster(cluster, removed=True)
        return cluster_pb2.RemoveClusterResponse(cluster=cluster)
