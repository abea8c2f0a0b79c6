"""Tracing with the real hub and agent processes on the local clusters, both exporting over
OTLP (OTEL_EXPORTER_OTLP_ENDPOINT) to a receiver in the test: an ApplyFleet and an Allocate
each make one trace, from the hub's call through the agent to its Kubernetes write."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from gamefleet import telemetry
from gamefleet.v1 import (
    allocation_pb2,
    allocation_pb2_grpc,
    cluster_pb2,
    cluster_pb2_grpc,
    fleet_pb2,
)

from tests.e2e.agent.harness import eventually
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan

from .test_allocation import _hub_ready
from .world import World

APPLY = "gamefleet.v1.FleetService/ApplyFleet"
ALLOCATE = "gamefleet.v1.AllocationService/Allocate"
# The processes send their spans in batches, every few seconds.
EXPORTED_S = 60.0


@pytest.fixture(scope="module", autouse=True)
def receiver() -> Iterator[OtlpReceiver]:
    """Started before the module's world, whose hub and agents read the variable."""
    found = OtlpReceiver().start()
    os.environ[telemetry.ENDPOINT_ENV] = found.endpoint
    try:
        yield found
    finally:
        os.environ.pop(telemetry.ENDPOINT_ENV, None)
        found.stop()


async def spans_of(
    receiver: OtlpReceiver, trace_id: str, counts: dict[str, int]
) -> list[ReceivedSpan]:
    """The spans of trace ``trace_id`` once it holds ``counts[name]`` spans of each name."""

    def found() -> list[ReceivedSpan]:
        with receiver.lock:
            return [s for s in receiver.spans if s.trace_id == trace_id]

    async def arrived() -> bool:
        names = [s.name for s in found()]
        return all(names.count(name) >= count for name, count in counts.items())

    await eventually(arrived, EXPORTED_S, f"spans {counts} in trace {trace_id}")
    return found()


async def named(receiver: OtlpReceiver, name: str) -> list[ReceivedSpan]:
    async def arrived() -> bool:
        return bool(receiver.named(name))

    await eventually(arrived, EXPORTED_S, f"a span named {name}")
    return receiver.named(name)


def only(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    named = [s for s in spans if s.name == name]
    assert len(named) == 1, f"{len(named)} spans named {name} in {[s.name for s in spans]}"
    return named[0]


async def test_apply_and_allocate_are_each_one_trace_across_hub_agent_and_kubernetes(
    world: World, receiver: OtlpReceiver
) -> None:
    second = world.members[1]
    async with world.channel() as channel:
        # Both agents connected first: the placement the call makes reaches both.
        async def connected() -> bool:
            listed = await cluster_pb2_grpc.ClusterServiceStub(channel).ListClusters(
                cluster_pb2.ListClustersRequest()
            )
            phases = {c.metadata.name: c.status.phase for c in listed.clusters}
            return all(phases.get(m.name) == "Ready" for m in world.members)

        await eventually(connected, 120.0, "both clusters Ready")
        await world.fleets(channel).ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=world.fleet(3)))
        await _hub_ready(world, (2, 1))
        response = await allocation_pb2_grpc.AllocationServiceStub(channel).Allocate(
            allocation_pb2.AllocateRequest(
                namespace=world.namespace,
                fleet="arena",
                request_id="traced-1",
                preferred_clusters=[second.name],
            )
        )
    assert response.game_server.cluster == second.name

    [apply_call] = await named(receiver, APPLY)
    applied = await spans_of(
        receiver,
        apply_call.trace_id,
        {"fleet.placement": 1, "agent.apply_set": 2, "kubernetes apply GameServerSet": 2},
    )
    placement = only(applied, "fleet.placement")
    assert (placement.service, placement.parent_id) == ("gamefleet-hub", apply_call.span_id)
    # Each member's agent applied its set in the call's trace.
    applies = [s for s in applied if s.name == "agent.apply_set"]
    assert len(applies) == 2
    assert {(s.service, s.parent_id) for s in applies} == {("gamefleet-agent", placement.span_id)}
    writes = [s for s in applied if s.name == "kubernetes apply GameServerSet"]
    assert sorted(s.parent_id for s in writes) == sorted(s.span_id for s in applies)

    [allocate_call] = await named(receiver, ALLOCATE)
    allocated = await spans_of(
        receiver,
        allocate_call.trace_id,
        {"allocation.agent_round_trip": 1, "agent.operation": 1, "kubernetes patch GameServer": 1},
    )
    trip = only(allocated, "allocation.agent_round_trip")
    operation = only(allocated, "agent.operation")
    write = only(allocated, "kubernetes patch GameServer")
    assert trip.parent_id == allocate_call.span_id
    assert (operation.service, operation.parent_id) == ("gamefleet-agent", trip.span_id)
    assert (write.service, write.parent_id) == ("gamefleet-agent", operation.span_id)
    assert write.attributes["url.path"] == (
        f"/apis/game.kruise.io/v1alpha1/namespaces/{world.namespace}/gameservers/"
        f"{response.game_server.name}"
    )

    # The agents log the apply with the call's trace id.
    logs = "".join(member.log.read_text() for member in world.members)
    assert logs.count(f"trace_id={apply_call.trace_id}") >= 2
