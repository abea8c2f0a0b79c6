"""ClusterService, health checking and reflection over loopback gRPC."""

from __future__ import annotations

import grpc
import pytest
from gamefleet.v1 import cluster_pb2, cluster_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from .conftest import StartAgent


def _cluster(name: str, **labels: str) -> cluster_pb2.RegisterClusterRequest:
    cluster = cluster_pb2.Cluster()
    cluster.metadata.name = name
    cluster.metadata.labels.update(labels)
    return cluster_pb2.RegisterClusterRequest(cluster=cluster)


async def test_register_list_cordon_remove(
    clusters: cluster_pb2_grpc.ClusterServiceAsyncStub, start_agent: StartAgent
) -> None:
    registered = await clusters.RegisterCluster(_cluster("eu-1", region="eu", cloud="aws"))
    assert registered.status.phase == "Unknown"
    await clusters.RegisterCluster(_cluster("us-1", region="us", cloud="gcp"))

    listed = await clusters.ListClusters(
        cluster_pb2.ListClustersRequest(label_selector="cloud=aws")
    )
    assert [c.metadata.name for c in listed.clusters] == ["eu-1"]

    await start_agent("eu-1")
    assert (await clusters.GetCluster(cluster_pb2.ClusterRef(name="eu-1"))).status.phase == "Ready"
    await clusters.CordonCluster(cluster_pb2.ClusterRef(name="eu-1"))
    assert (
        await clusters.GetCluster(cluster_pb2.ClusterRef(name="eu-1"))
    ).status.phase == "Cordoned"
    await clusters.UncordonCluster(cluster_pb2.ClusterRef(name="eu-1"))
    assert (await clusters.GetCluster(cluster_pb2.ClusterRef(name="eu-1"))).status.phase == "Ready"

    await clusters.RemoveCluster(cluster_pb2.ClusterRef(name="us-1"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await clusters.GetCluster(cluster_pb2.ClusterRef(name="us-1"))
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


async def test_bad_cluster_name_is_invalid_argument(
    clusters: cluster_pb2_grpc.ClusterServiceAsyncStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await clusters.RegisterCluster(_cluster("Not_A_Name"))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith("metadata.name")
    listed = await clusters.ListClusters(cluster_pb2.ListClustersRequest())
    assert list(listed.clusters) == []


async def test_health_and_reflection(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "gamefleet.v1.FleetService", "gamefleet.v1.ClusterService"):
        response = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING

    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def one_request() -> reflection_pb2.ServerReflectionRequest:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    names: set[str] = set()
    async for response in reflection.ServerReflectionInfo(one_request()):
        names.update(s.name for s in response.list_services_response.service)
    assert {"gamefleet.v1.FleetService", "gamefleet.v1.ClusterService"} <= names
