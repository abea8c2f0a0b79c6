"""Tracing on a real hub, exported over OTLP to a real receiver: one trace per API call, from
the call through placement or allocation to the agent's stream, which carries the trace on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from gamefleet import telemetry
from gamefleet.v1 import (
    allocation_pb2,
    allocation_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
)

from hub.api.server import Hub
from tests.support.agent_sim import SimulatedAgent
from tests.support.hub_process import HubProcess
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan

from .conftest import start_hub, wait_phase
from .fleet_docs import fleet
from .test_allocation import serve

APPLY = "gamefleet.v1.FleetService/ApplyFleet"
ALLOCATE = "gamefleet.v1.AllocationService/Allocate"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    found = OtlpReceiver().start()
    telemetry.start(telemetry.TracingConfig(found.endpoint, "gamefleet-hub-test"))
    try:
        yield found
    finally:
        telemetry.stop()
        found.stop()


@pytest.fixture
async def traced_hub(receiver: OtlpReceiver, tmp_path: Path) -> AsyncIterator[Hub]:
    hub = await start_hub(tmp_path / "hub.db")
    yield hub
    await hub.stop(grace=0)


@pytest.fixture
async def agent(traced_hub: Hub) -> AsyncIterator[SimulatedAgent]:
    sim = SimulatedAgent(f"127.0.0.1:{traced_hub.port}", "eu-1", heartbeat_interval=0.2)
    await sim.start()
    await wait_phase(traced_hub, "eu-1", "Ready")
    yield sim
    await sim.stop()


async def exported(receiver: OtlpReceiver, *names: str) -> None:
    """Flush (off the loop: the exporter blocks while it sends) until spans ``names`` arrived."""
    async with asyncio.timeout(20):
        while not set(names) <= set(receiver.names()):
            await asyncio.to_thread(telemetry.flush)
            await asyncio.sleep(0.05)


def parent_of(span: ReceivedSpan, parent: ReceivedSpan) -> bool:
    return span.trace_id == parent.trace_id and span.parent_id == parent.span_id


def split(traceparent: str) -> tuple[str, str]:
    """(trace id, span id) of a W3C traceparent."""
    _, trace_id, span_id, _ = traceparent.split("-")
    return trace_id, span_id


async def test_apply_fleet_traces_the_call_the_commit_and_the_placement_the_agent_receives(
    traced_hub: Hub, agent: SimulatedAgent, receiver: OtlpReceiver
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{traced_hub.port}") as channel:
        fleets = fleet_pb2_grpc.FleetServiceStub(channel)
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=2)))
    await agent.wait_for(lambda: ("games", "arena") in agent.sets)
    await exported(receiver, APPLY, "store.commit", "fleet.validate", "fleet.placement")

    call = receiver.one(APPLY)
    assert call.attributes["rpc.grpc.status"] == "OK"
    assert call.attributes["rpc.grpc.status_code"] == 0
    assert call.service == "gamefleet-hub-test"
    assert call.parent_id == ""
    assert parent_of(receiver.one("store.commit"), call)
    assert parent_of(receiver.one("fleet.validate"), call)
    placement = receiver.one("fleet.placement")
    assert parent_of(placement, call)
    assert placement.attributes == {"fleet.namespace": "games", "fleet.name": "arena"}
    # The set the agent got carries the placement's span: its apply continues the call's trace.
    assert split(agent.sets[("games", "arena")].trace_parent) == (call.trace_id, placement.span_id)


async def test_an_unchanged_apply_and_a_refused_one_place_nothing_in_their_trace(
    traced_hub: Hub, agent: SimulatedAgent, receiver: OtlpReceiver
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{traced_hub.port}") as channel:
        fleets = fleet_pb2_grpc.FleetServiceStub(channel)
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=2)))
        await exported(receiver, "fleet.placement")
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=2)))
        bad = fleet(replicas=2)
        bad.spec.replicas = -1
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=bad))
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    await exported(receiver, APPLY)
    async with asyncio.timeout(20):
        while len(receiver.named(APPLY)) < 3:
            await asyncio.to_thread(telemetry.flush)
    first, unchanged, invalid = receiver.named(APPLY)
    assert invalid.attributes["rpc.grpc.status"] == "INVALID_ARGUMENT"
    assert invalid.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert [p.trace_id for p in receiver.named("fleet.placement")] == [first.trace_id]
    assert unchanged.trace_id != first.trace_id


async def test_allocate_traces_choice_records_and_the_agent_round_trip_the_agent_continues(
    traced_hub: Hub, agent: SimulatedAgent, receiver: OtlpReceiver
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{traced_hub.port}") as channel:
        fleets = fleet_pb2_grpc.FleetServiceStub(channel)
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0)))
        await serve(traced_hub, agent, 1)
        allocations = allocation_pb2_grpc.AllocationServiceStub(channel)
        response = await allocations.Allocate(
            allocation_pb2.AllocateRequest(namespace="games", fleet="arena", request_id="m-1")
        )
    assert response.game_server.name == "arena-0"
    steps = (
        "allocation.choose",
        "allocation.record_intent",
        "allocation.agent_round_trip",
        "allocation.record_answer",
    )
    await exported(receiver, ALLOCATE, *steps)
    call = receiver.one(ALLOCATE)
    assert call.attributes["rpc.grpc.status"] == "OK"
    for step in steps:
        assert parent_of(receiver.one(step), call), step
    trip = receiver.one("allocation.agent_round_trip")
    assert trip.attributes == {"cluster": "eu-1", "game_server": "arena-0"}
    [operation] = agent.operations
    assert split(operation.trace_parent) == (call.trace_id, trip.span_id)


async def test_a_caller_s_traceparent_is_continued(traced_hub: Hub, receiver: OtlpReceiver) -> None:
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    metadata = ((telemetry.TRACEPARENT, f"00-{caller_trace}-00f067aa0ba902b7-01"),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{traced_hub.port}") as channel:
        fleets = fleet_pb2_grpc.FleetServiceStub(channel)
        await fleets.ApplyFleet(
            fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0)), metadata=metadata
        )
    await exported(receiver, APPLY)
    call = receiver.one(APPLY)
    assert (call.trace_id, call.parent_id) == (caller_trace, "00f067aa0ba902b7")


def test_a_log_line_inside_a_span_ends_with_its_trace_id(
    receiver: OtlpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with telemetry.span("outer"):
        logging.getLogger("hub.test").info("inside %s", "a span")
        inside = telemetry.trace_id()
    logging.getLogger("hub.test").info("outside")
    messages = [r.getMessage() for r in caplog.records if r.name == "hub.test"]
    assert messages == [f"inside a span trace_id={inside}", "outside"]


async def test_hub_serve_with_the_otlp_endpoint_flag_exports_its_calls(tmp_path: Path) -> None:
    receiver = OtlpReceiver().start()
    hub = HubProcess(f"sqlite:///{tmp_path}/hub.db", ["--otlp-endpoint", receiver.endpoint]).start()
    try:
        async with grpc.aio.insecure_channel(hub.address) as channel:
            fleets = fleet_pb2_grpc.FleetServiceStub(channel)
            await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0)))
        hub.stop()  # SIGTERM: the hub sends what it holds before it exits
        call = receiver.one(APPLY)
        assert (call.service, call.attributes["rpc.grpc.status"]) == ("gamefleet-hub", "OK")
    finally:
        hub.kill()
        receiver.stop()
