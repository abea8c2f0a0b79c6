"""KEDA's calls against the scaler's gRPC server over loopback, with in-memory caches."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc
import pytest
from externalscaler import externalscaler_pb2, externalscaler_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agent.autoscaler import server, service
from agent.hublink import translate
from tests.unit.agent_autoscaler.fakes import FakeCache, game_server, game_server_set, pod

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable

NS = "games"


class World:
    def __init__(self, *, synced: bool = True, namespace: str | None = None, hub: str = "") -> None:
        self.sets = FakeCache(synced=synced)
        self.game_servers = FakeCache(synced=synced)
        self.pods = FakeCache(synced=synced)
        self.server = server.ScalerServer(
            self.sets,
            self.game_servers,
            self.pods,
            namespace=namespace,
            hub_managed=translate.managed,
            hub=hub,
        )
        self.channel: grpc.aio.Channel | None = None

    async def __aenter__(self) -> World:
        port = await self.server.start(0, host="127.0.0.1")
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.channel is not None
        await self.channel.close(None)
        await self.server.stop(0)

    @property
    def stub(self) -> externalscaler_pb2_grpc.ExternalScalerAsyncStub:
        assert self.channel is not None
        return externalscaler_pb2_grpc.ExternalScalerStub(self.channel)

    def add_set(self, name: str, replicas: int, ops_states: list[str]) -> None:
        self.sets.put(game_server_set(NS, name, replicas))
        for ordinal, ops in enumerate(ops_states):
            self.pods.put(pod(NS, name, ordinal))
            self.game_servers.put(game_server(NS, name, ordinal, ops))


def ref(name: str = "arena", **metadata: str) -> externalscaler_pb2.ScaledObjectRef:
    return externalscaler_pb2.ScaledObjectRef(
        name=name, namespace=NS, scalerMetadata={"scalerAddress": "x:6000", **metadata}
    )


async def metric(world: World, name: str = "arena", **metadata: str) -> int:
    request = externalscaler_pb2.GetMetricsRequest(
        scaledObjectRef=ref(name, **metadata), metricName="s0-gssReplicas"
    )
    answer = await world.stub.GetMetrics(request)
    [value] = answer.metricValues
    assert value.metricName == "gssReplicas"
    assert value.metricValueFloat == value.metricValue
    return value.metricValue


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with World() as w:
        yield w


async def test_metric_spec_is_gss_replicas_with_target_one(world: World) -> None:
    answer = await world.stub.GetMetricSpec(ref())
    [spec] = answer.metricSpecs
    assert (spec.metricName, spec.targetSize, spec.targetSizeFloat) == ("gssReplicas", 1, 1.0)


async def test_metrics_follow_okg(world: World) -> None:
    world.add_set("arena", 5, ["None", "Allocated", "Allocated", "WaitToBeDeleted", "None"])
    assert await metric(world) == 4  # no minimum: remove the WaitToBeDeleted one
    assert await metric(world, minAvailable="3") == 6  # 2 None, 3 wanted: one more
    world.game_servers.put(game_server(NS, "arena", 3, "None"))
    assert await metric(world, minAvailable="3") == 5
    assert await metric(world, maxAvailable="1") == 3
    world.pods.put(pod(NS, "arena", 0, deleting=True))  # leaving: no longer counted
    assert await metric(world, minAvailable="3") == 6


async def test_is_active(world: World) -> None:
    world.add_set("empty", 0, [])
    world.add_set("leaving", 2, ["WaitToBeDeleted", "WaitToBeDeleted"])
    world.add_set("busy", 1, ["Allocated"])
    for name, metadata, expected in [
        ("empty", {}, False),
        ("empty", {"minAvailable": "0"}, False),
        ("empty", {"minAvailable": "1"}, True),
        ("empty", {"minAvailable": "0.2"}, True),
        ("leaving", {}, False),
        ("busy", {}, True),
    ]:
        answer = await world.stub.IsActive(ref(name, **metadata))
        assert answer.result is expected, (name, metadata)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("minAvailable", "lots"),
        ("minAvailable", "-1"),
        ("maxAvailable", "1.5"),
        ("scaleDownThreshold", "0"),
    ],
)
async def test_bad_metadata_is_invalid_argument_naming_the_key(
    world: World, key: str, value: str
) -> None:
    world.add_set("arena", 1, ["None"])
    calls: list[Awaitable[object]] = [
        world.stub.IsActive(ref(**{key: value})),
        world.stub.GetMetricSpec(ref(**{key: value})),
        world.stub.GetMetrics(
            externalscaler_pb2.GetMetricsRequest(scaledObjectRef=ref(**{key: value}))
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert f"scalerMetadata.{key}" in str(caught.value.details())
    stream = world.stub.StreamIsActive(ref(**{key: value}))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stream.read()
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_missing_name_is_invalid_argument(world: World) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world.stub.GetMetrics(externalscaler_pb2.GetMetricsRequest())
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "scaledObjectRef.name: required"


async def test_unknown_set_is_not_found_naming_it(world: World) -> None:
    calls: list[Awaitable[object]] = [
        world.stub.IsActive(ref("ghost")),
        world.stub.GetMetrics(externalscaler_pb2.GetMetricsRequest(scaledObjectRef=ref("ghost"))),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND
        assert f"{NS}/ghost" in str(caught.value.details())


async def test_a_namespace_the_agent_does_not_watch_is_not_found() -> None:
    async with World(namespace="elsewhere") as world:
        world.add_set("arena", 1, ["None"])
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await world.stub.IsActive(ref())
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND
        assert "watches namespace elsewhere only" in str(caught.value.details())


async def test_before_the_caches_list_calls_are_unavailable_and_health_not_serving(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service, "SYNC_WAIT_SECONDS", 0.05)
    async with World(synced=False) as world:
        assert world.channel is not None
        health = health_pb2_grpc.HealthStub(world.channel)
        check = health_pb2.HealthCheckRequest(service="externalscaler.ExternalScaler")
        assert (await health.Check(check)).status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await world.stub.IsActive(ref())
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
        for cache in (world.sets, world.game_servers, world.pods):
            cache.synced.set()
        watch = health.Watch(check)
        async for answer in watch:
            if answer.status == health_pb2.HealthCheckResponse.SERVING:
                break
        watch.cancel()


async def test_stream_is_active_sends_each_change_once(world: World) -> None:
    world.add_set("arena", 0, [])
    stream = world.stub.StreamIsActive(ref())
    first = await stream.read()
    assert isinstance(first, externalscaler_pb2.IsActiveResponse)
    assert first.result is False
    # A change that keeps the answer sends nothing; the next one that flips it does.
    world.sets.put(game_server_set(NS, "arena", 1))
    world.pods.put(pod(NS, "arena", 0))
    world.game_servers.put(game_server(NS, "arena", 0, "WaitToBeDeleted"))
    world.game_servers.put(game_server(NS, "arena", 0, "None"))
    second = await asyncio.wait_for(stream.read(), 5)
    assert isinstance(second, externalscaler_pb2.IsActiveResponse)
    assert second.result is True
    world.game_servers.put(game_server(NS, "arena", 0, "WaitToBeDeleted"))
    third = await asyncio.wait_for(stream.read(), 5)
    assert isinstance(third, externalscaler_pb2.IsActiveResponse)
    assert third.result is False
    assert world.server.scaler.changes.following() == 1
    stream.cancel()


async def test_stream_ends_not_found_when_the_set_goes(world: World) -> None:
    world.add_set("arena", 1, ["None"])
    stream = world.stub.StreamIsActive(ref())
    first = await stream.read()
    assert isinstance(first, externalscaler_pb2.IsActiveResponse)
    world.sets.delete(NS, "arena")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asyncio.wait_for(stream.read(), 5)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


async def test_stream_metric_spec_is_unimplemented(world: World) -> None:
    stream = world.stub.StreamMetricSpec(ref())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stream.read()
    assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED


async def test_the_port_is_exclusive(world: World) -> None:
    other = server.ScalerServer(FakeCache(), FakeCache(), FakeCache())
    try:
        with pytest.raises(RuntimeError, match="Failed to bind"):
            await other.start(world.server.port, host="127.0.0.1")
    finally:
        await other.stop(0)


async def test_a_set_the_hub_manages_is_refused_naming_the_hub() -> None:
    async with World(hub="hub.example:7400") as world:
        world.add_set("arena", 3, ["None", "Allocated", "None"])
        managed = game_server_set(NS, "arena", 3)
        managed["metadata"]["labels"] = {translate.MANAGED_BY: translate.MANAGED_BY_HUB}
        world.sets.put(managed)
        world.add_set("local", 2, ["None", "None"])
        request = externalscaler_pb2.GetMetricsRequest(
            scaledObjectRef=ref("arena"), metricName="s0-gssReplicas"
        )
        calls: list[Awaitable[object]] = [
            world.stub.GetMetricSpec(ref("arena")),
            world.stub.GetMetrics(request),
            world.stub.IsActive(ref("arena")),
            anext(aiter(world.stub.StreamIsActive(ref("arena")))),
        ]
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call
            assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            details = refused.value.details() or ""
            assert "games/arena is managed by the gamefleet hub at hub.example:7400" in details
            assert "FleetAutoscaler" in details, details
        assert await metric(world, "local") == 2  # a set of the cluster's own is served
