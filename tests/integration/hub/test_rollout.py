"""Progressive rollouts with simulated agents: waves, a failing wave pauses, pause and resume,
undo restores the previous template everywhere; Allocated servers are never touched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from gamefleet.v1 import agent_pb2, fleet_pb2, fleet_pb2_grpc, gameserver_pb2
from google.protobuf import json_format

from hub.core import documents
from tests.e2e.agent.harness import eventually
from tests.support.agent_sim import SimulatedAgent, set_status

from .conftest import StartAgent
from .fleet_docs import condition_parts, fleet_document

KEY = ("games", "arena")
ROLLOUT = {"waves": [{"clusters": ["eu-1"]}, {"clusters": ["us-1"]}], "minSuccessTime": "0.5s"}


@pytest.fixture
def rollouts(channel: grpc.aio.Channel) -> fleet_pb2_grpc.RolloutServiceAsyncStub:
    return fleet_pb2_grpc.RolloutServiceStub(channel)


def arena(image: str, **spec: Any) -> fleet_pb2.Fleet:
    doc = fleet_document(replicas=6, rollout=ROLLOUT, **spec)
    doc["spec"]["template"]["gameServerTemplate"]["spec"]["containers"][0]["image"] = image
    return documents.from_document(doc, fleet_pb2.Fleet)


def image(agent: SimulatedAgent) -> str:
    spec = json_format.MessageToDict(agent.sets[KEY].spec)
    return str(spec["gameServerTemplate"]["spec"]["containers"][0]["image"])


def run(agent: SimulatedAgent, *, failing: str = "", ready: bool = True) -> None:
    """Report the held set converged: 3 servers, the first Allocated and on the older template
    when there was one (it keeps its pod until its game ends), the others updated."""
    desired = agent.sets[KEY]
    status = set_status(desired, ready=3 if ready else 1)
    status.counts.updated_ready = 2 if ready else 0
    servers = []
    for ordinal in range(3):
        server = gameserver_pb2.GameServer(
            namespace="games",
            name=f"arena-{ordinal}",
            fleet="arena",
            state="Ready" if ready or ordinal == 0 else "NotReady",
            ops_state="Allocated" if ordinal == 0 else "None",
            updated=ordinal != 0,
            pod_uid=f"{agent.cluster}-uid-{ordinal}" + ("" if ordinal == 0 else image(agent)),
        )
        if failing and ordinal == 1:
            server.quality_conditions.add().update({"name": failing, "status": "False"})
        servers.append(server)
    agent.report(agent_pb2.StatusDelta(sets=[status], game_servers=servers))


def allocated_uids(agent: SimulatedAgent) -> set[str]:
    return {
        s.pod_uid
        for s in agent.reported.values()
        if isinstance(s, gameserver_pb2.GameServer) and s.ops_state == "Allocated"
    }


def untouched(agent: SimulatedAgent) -> bool:
    """No targeted operation, no set deletion, and never fewer replicas than the 3 placed."""
    desired = [m.desired for m in agent.received if m.HasField("desired")]
    return not agent.operations and all(
        not s.deleted and s.spec.fields["replicas"].number_value == 3
        for d in desired
        for s in d.sets
    )


async def rollout_of(fleets: fleet_pb2_grpc.FleetServiceAsyncStub) -> fleet_pb2.Fleet:
    return await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=fleet_pb2.FleetRef(
        namespace="games", name="arena")))  # fmt: skip


async def wait_fleet(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, check: Callable[[fleet_pb2.Fleet], bool]
) -> fleet_pb2.Fleet:
    """GetFleet until ``check(fleet)`` holds (bounded)."""
    found: list[fleet_pb2.Fleet] = []

    async def holds() -> bool:
        found[:] = [await rollout_of(fleets)]
        return check(found[0])

    await eventually(holds, 20.0, "the fleet's rollout status")
    return found[0]


async def started(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> tuple[SimulatedAgent, SimulatedAgent]:
    eu, us = await start_agent("eu-1"), await start_agent("us-1")
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=arena("arena:1.0")))
    await eu.wait_for(lambda: KEY in eu.sets)
    await us.wait_for(lambda: KEY in us.sets)
    run(eu)
    run(us)
    return eu, us


async def test_a_failing_second_wave_pauses_and_undo_restores_everywhere(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
    rollouts: fleet_pb2_grpc.RolloutServiceAsyncStub,
    start_agent: StartAgent,
) -> None:
    eu, us = await started(fleets, start_agent)
    before = allocated_uids(eu) | allocated_uids(us)
    old_us = us.sets[KEY].hash

    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=arena("arena:2.0")))
    await eu.wait_for(lambda: image(eu) == "arena:2.0")
    assert us.sets[KEY].hash == old_us  # the second wave waits for the first
    fleet = await rollout_of(fleets)
    assert [(c.cluster, c.state) for c in fleet.status.rollout.clusters] == [
        ("eu-1", "Updating"),
        ("us-1", "Pending"),
    ]
    run(eu)  # settles: soaks for minSuccessTime, then the second wave starts
    await us.wait_for(lambda: image(us) == "arena:2.0", timeout=20)

    run(us, failing="healthy")
    fleet = await wait_fleet(fleets, lambda f: f.rollout_control.HasField("failure"))
    assert fleet.status.rollout.phase == "Failed"
    status, reason, message = condition_parts(fleet, "RolloutPaused") or ("", "", "")
    assert (status, reason) == ("True", "QualityFailing")
    assert message == "cluster us-1: service quality failing on arena-1: healthy"
    assert fleet.rollout_control.failure.cluster == "us-1"

    undone = await rollouts.UndoRollout(fleet_pb2.RolloutRequest(ref=fleet_pb2.FleetRef(
        namespace="games", name="arena")))  # fmt: skip
    assert undone.metadata.generation == fleet.metadata.generation + 1
    # A rollback is not gated: both clusters get the previous template at once.
    await eu.wait_for(lambda: image(eu) == "arena:1.0")
    await us.wait_for(lambda: image(us) == "arena:1.0")
    run(eu)
    run(us)
    fleet = await wait_fleet(fleets, lambda f: f.status.rollout.phase == "Complete")
    assert condition_parts(fleet, "RolloutPaused") == ("False", "Complete", "")
    history = await rollouts.RolloutHistory(fleet_pb2.RolloutRequest(ref=fleet_pb2.FleetRef(
        namespace="games", name="arena")))  # fmt: skip
    assert [r.generation for r in history.revisions] == [1, 2, 3]
    assert allocated_uids(eu) | allocated_uids(us) == before
    assert untouched(eu) and untouched(us)


async def test_pause_holds_the_next_clusters_and_resume_lets_them_go(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
    rollouts: fleet_pb2_grpc.RolloutServiceAsyncStub,
    start_agent: StartAgent,
) -> None:
    eu, us = await started(fleets, start_agent)
    ref = fleet_pb2.FleetRef(namespace="games", name="arena")
    paused = await rollouts.PauseRollout(fleet_pb2.RolloutRequest(ref=ref))
    assert paused.rollout_control.paused
    old_eu = eu.sets[KEY].hash

    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=arena("arena:2.0")))
    fleet = await wait_fleet(fleets, lambda f: f.status.rollout.generation == 2)
    assert fleet.status.rollout.phase == "Paused"
    assert condition_parts(fleet, "RolloutPaused") == (
        "True",
        "Paused",
        "paused by gamefleet rollout pause",
    )
    assert eu.sets[KEY].hash == old_eu

    await rollouts.ResumeRollout(fleet_pb2.RolloutRequest(ref=ref))
    await eu.wait_for(lambda: image(eu) == "arena:2.0")
    assert image(us) == "arena:1.0"
    assert untouched(eu) and untouched(us)


async def test_undo_without_an_earlier_revision_is_refused_and_changes_nothing(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
    rollouts: fleet_pb2_grpc.RolloutServiceAsyncStub,
) -> None:
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=arena("arena:1.0")))
    before = await rollout_of(fleets)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rollouts.UndoRollout(fleet_pb2.RolloutRequest(ref=fleet_pb2.FleetRef(
            namespace="games", name="arena")))  # fmt: skip
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "no earlier revision" in str(refused.value.details())
    assert (await rollout_of(fleets)).metadata.revision == before.metadata.revision


async def test_an_invalid_rollout_is_refused_naming_the_field(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
) -> None:
    bad = arena("arena:1.0")
    bad.spec.rollout.waves[1].max_concurrency = 0
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=bad))
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == "spec.rollout.waves[1].maxConcurrency: must be ≥ 1"
