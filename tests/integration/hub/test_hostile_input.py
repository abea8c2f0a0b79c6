"""What a hostile client sends over gRPC: refused INVALID_ARGUMENT naming the field, bounded
answers, nothing stored, and the namespace still renders (`gamefleet get fleets -o yaml`)."""

from __future__ import annotations

import math
from collections.abc import Awaitable

import grpc
import pytest
from gamefleet.v1 import (
    allocation_pb2,
    cluster_pb2,
    cluster_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    gameserver_pb2,
    gameserver_pb2_grpc,
)
from google.protobuf import json_format

from hub.core import limits

from .fleet_docs import fleet

REF = fleet_pb2.FleetRef(namespace="games", name="arena")
HUGE = "a" * 20_000
PUBLIC_SERVICES = [
    fleet_pb2.DESCRIPTOR.services_by_name["FleetService"],
    cluster_pb2.DESCRIPTOR.services_by_name["ClusterService"],
    gameserver_pb2.DESCRIPTOR.services_by_name["GameServerService"],
    allocation_pb2.DESCRIPTOR.services_by_name["AllocationService"],
]
METHODS = [
    (f"/{service.full_name}/{method.name}", method.server_streaming)
    for service in PUBLIC_SERVICES
    for method in service.methods
]


def refused(error: grpc.aio.AioRpcError, path: str) -> str:
    details = error.details() or ""
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, details
    assert details.startswith(f"{path}: "), details
    assert len(details.encode()) <= limits.MAX_DETAILS_BYTES
    return details


async def apply_refused(fleets: fleet_pb2_grpc.FleetServiceAsyncStub, bad: fleet_pb2.Fleet) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=bad))
    return caught.value.details() or ""


async def assert_namespace_renders(fleets: fleet_pb2_grpc.FleetServiceAsyncStub) -> list[str]:
    listed = await fleets.ListFleets(fleet_pb2.ListFleetsRequest(namespace="games"))
    for stored in listed.fleets:
        json_format.MessageToDict(stored)  # what `get fleets -o yaml` does
    return [f.metadata.name for f in listed.fleets]


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
async def test_a_number_that_is_not_finite_is_refused_naming_it(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, number: float
) -> None:
    bad = fleet()
    spec = bad.spec.template.game_server_template.fields["spec"].struct_value
    container = spec.fields["containers"].list_value.values[0].struct_value
    container.fields["cpu"].number_value = number
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=bad))
    refused(caught.value, "spec.template.gameServerTemplate.spec.containers[0].cpu")
    assert await assert_namespace_renders(fleets) == []


@pytest.mark.parametrize(
    ("seconds", "nanos"), [(10**15, 0), (30, -5), (30, 2 * 10**9), (-(2**63), 0)]
)
async def test_a_duration_out_of_range_is_refused_and_the_namespace_still_renders(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, seconds: int, nanos: int
) -> None:
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet()))
    bad = fleet(name="other")
    bad.spec.placement.failover.after.seconds = seconds
    bad.spec.placement.failover.after.nanos = nanos
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=bad))
    refused(caught.value, "spec.placement.failover.after")
    assert await assert_namespace_renders(fleets) == ["arena"]


async def test_a_fleet_past_the_size_limit_is_refused_naming_the_field(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
) -> None:
    big = fleet()
    big.metadata.annotations["notes"] = "x" * (5 * 2**19)  # 2.5 MiB
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=big))
    assert "1.5 MiB" in refused(caught.value, "metadata.annotations")
    assert await assert_namespace_renders(fleets) == []


async def test_a_huge_name_is_refused_naming_the_field_without_echoing_it(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
    clusters: cluster_pb2_grpc.ClusterServiceAsyncStub,
    game_servers: gameserver_pb2_grpc.GameServerServiceAsyncStub,
) -> None:
    cases: list[tuple[Awaitable[object], str]] = [
        (fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=fleet_pb2.FleetRef(name=HUGE))), "ref.name"),
        (
            fleets.DeleteFleet(
                fleet_pb2.DeleteFleetRequest(ref=fleet_pb2.FleetRef(namespace=HUGE, name="a"))
            ),
            "ref.namespace",
        ),
        (fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(name=HUGE))), "metadata.name"),
        (fleets.ListFleets(fleet_pb2.ListFleetsRequest(label_selector=HUGE)), "label_selector"),
        (fleets.ListFleets(fleet_pb2.ListFleetsRequest(page_token=HUGE)), "page_token"),
        (clusters.GetCluster(cluster_pb2.ClusterRef(name=HUGE)), "name"),
        (clusters.RemoveCluster(cluster_pb2.ClusterRef(name=HUGE)), "name"),
        (
            game_servers.ListGameServers(gameserver_pb2.ListGameServersRequest(fleet=HUGE)),
            "fleet",
        ),
        (
            game_servers.UpdateGameServers(
                gameserver_pb2.UpdateGameServersRequest(
                    namespace="games",
                    names=[HUGE],
                    patch=gameserver_pb2.GameServerPatch(ops_state="Maintaining"),
                )
            ),
            "names[0]",
        ),
    ]
    for call, path in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert HUGE not in refused(caught.value, path)


async def test_numbers_out_of_range_are_refused_naming_the_request_field(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
) -> None:
    created = await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet()))
    cases: list[tuple[Awaitable[object], str]] = [
        (fleets.ScaleFleet(fleet_pb2.ScaleFleetRequest(ref=REF, replicas=-1)), "replicas"),
        (
            fleets.DeleteFleet(fleet_pb2.DeleteFleetRequest(ref=REF, expected_revision=-1)),
            "expected_revision",
        ),
        (
            fleets.ApplyFleet(
                fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=3), expected_revision=-5)
            ),
            "expected_revision",
        ),
    ]
    for call, path in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        refused(caught.value, path)
    stored = await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
    assert stored.metadata.revision == created.fleet.metadata.revision


async def call_raw(channel: grpc.aio.Channel, method: str, streaming: bool, data: bytes) -> None:
    """Send ``data`` as the request of ``method``; read every answer."""
    if streaming:
        async for _ in channel.unary_stream(method, None, None)(data):
            pass
    else:
        await channel.unary_unary(method, None, None)(data)


@pytest.mark.parametrize(("method", "streaming"), METHODS)
async def test_undecodable_bytes_are_invalid_argument_for_every_public_method(
    channel: grpc.aio.Channel, method: str, streaming: bool
) -> None:
    # A string field (tag 1) holding bytes that are not UTF-8, then a truncated varint.
    garbage = b"\x0a\x02\xff\xfe\x10"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call_raw(channel, method, streaming, garbage)
    details = refused(caught.value, "request")
    assert "is not a valid gamefleet.v1." in details
    assert "<class" not in details
