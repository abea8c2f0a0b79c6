"""ClusterService: registered member clusters. Errors map to statuses in ``errors``."""

from __future__ import annotations

from gamefleet.v1 import cluster_pb2, cluster_pb2_grpc

from hub.core import limits, paging, request_fields
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
        # A cluster with its status is a few hundred bytes; about 25 KiB with 64 labels of the
        # longest keys and values.
        size = paging.page_size(
            request.page_size,
            default=limits.CLUSTERS_DEFAULT_PAGE_SIZE,
            maximum=limits.MAX_PAGE_SIZE,
        )
        position = paging.decode_token(request.page_token, 1)
        page = await self._clusters.page(
            request_fields.selector(request.label_selector),
            after=position[0] if position is not None else None,
            size=size,
        )
        clusters = [federation.cluster_status(c) for c in page.clusters]
        count = paging.fitting((c.ByteSize() for c in clusters), limits.LIST_PAGE_BYTES)
        token = ""
        if page.more or count < len(clusters):
            token = paging.encode_token((clusters[count - 1].metadata.name,))
        return cluster_pb2.ListClustersResponse(clusters=clusters[:count], next_page_token=token)

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
