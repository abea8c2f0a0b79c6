"""A set changed in its cluster (drift): the hub shows it and sends its spec again; a set whose
replicas a local autoscaler owns is shown with that owner and not fought over."""

from __future__ import annotations

import asyncio

from gamefleet.v1 import agent_pb2, fleet_pb2, fleet_pb2_grpc

from hub.core import fleet_status
from tests.e2e.agent.harness import eventually
from tests.support.agent_sim import SimulatedAgent, set_status

from .conftest import StartAgent
from .fleet_docs import condition_parts, fleet

REF = fleet_pb2.FleetRef(namespace="games", name="arena")
WEIGHTS = {"clusters": [{"name": "eu-1", "weight": 2}, {"name": "us-1", "weight": 1}]}
KEY = ("games", "arena")
SCALED = "spec.replicas by kubectl (scale)"


def _desired_messages(agent: SimulatedAgent) -> list[agent_pb2.DesiredSet]:
    return [s for m in agent.received if m.HasField("desired") for s in m.desired.sets]


async def _settled(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, eu: SimulatedAgent, us: SimulatedAgent
) -> None:
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(placement=WEIGHTS)))
    await eu.wait_for(lambda: eu.replicas(*KEY) == 6)
    await us.wait_for(lambda: us.replicas(*KEY) == 3)
    eu.report(agent_pb2.StatusDelta(sets=[set_status(eu.sets[KEY], ready=6)]))
    us.report(agent_pb2.StatusDelta(sets=[set_status(us.sets[KEY], ready=3)]))

    async def complete() -> bool:
        got = await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
        return condition_parts(got, "Progressing") == (
            "False",
            "Complete",
            "every cluster is up to date",
        )

    await eventually(complete, 10.0, "the fleet settled")


async def test_drift_is_shown_and_the_set_is_sent_again_to_that_cluster_only(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> None:
    eu, us = await start_agent("eu-1"), await start_agent("us-1")
    await _settled(fleets, eu, us)
    sent_eu, sent_us = len(_desired_messages(eu)), len(_desired_messages(us))

    watch = fleets.WatchFleets(fleet_pb2.WatchFleetsRequest(namespace="games"))
    events = watch.__aiter__()
    assert (await events.__anext__()).type == "ADDED"
    # Someone ran `kubectl scale` on eu-1's set: 8 instead of 6.
    drifted = set_status(eu.sets[KEY], ready=8)
    drifted.desired_replicas = drifted.counts.replicas = 8
    drifted.drift.append(SCALED)
    eu.report(agent_pb2.StatusDelta(sets=[drifted]))
    # Watchers see it too: a status change travels as a MODIFIED event carrying the status.
    async with asyncio.timeout(10.0):
        async for event in events:
            if condition_parts(event.fleet, fleet_status.DRIFTED) is not None:
                break
    watch.cancel()

    await eu.wait_for(lambda: len(_desired_messages(eu)) == sent_eu + 1)
    resent = _desired_messages(eu)[-1]
    assert resent == eu.sets[KEY]
    assert int(resent.spec.fields["replicas"].number_value) == 6
    got = await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
    condition = condition_parts(got, fleet_status.DRIFTED)
    assert condition is not None
    assert condition[:2] == ("True", "ChangedInCluster")
    assert f"eu-1: {SCALED}" in condition[2] and "us-1" not in condition[2]
    problem = fleet_status.problem(got)
    assert problem is not None and problem.reason == "ChangedInCluster"

    # The agent applied it: drift gone, and so is the condition; nothing more was sent.
    eu.report(agent_pb2.StatusDelta(sets=[set_status(eu.sets[KEY], ready=6)]))

    async def healed() -> bool:
        got = await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
        return condition_parts(got, fleet_status.DRIFTED) is None

    await eventually(healed, 10.0, "the Drifted condition cleared")
    assert len(_desired_messages(eu)) == sent_eu + 1
    assert len(_desired_messages(us)) == sent_us


async def test_replicas_owned_by_a_local_autoscaler_are_shown_not_fought(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> None:
    eu, us = await start_agent("eu-1"), await start_agent("us-1")
    await _settled(fleets, eu, us)
    sent_eu = len(_desired_messages(eu))

    scaled = set_status(eu.sets[KEY], ready=10)
    scaled.desired_replicas = scaled.counts.replicas = scaled.counts.updated = 10
    scaled.replicas_owner = "HorizontalPodAutoscaler"
    eu.report(agent_pb2.StatusDelta(sets=[scaled]))

    async def owner_shown() -> bool:
        got = await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
        return condition_parts(got, fleet_status.REPLICAS_OWNED_LOCALLY) is not None

    await eventually(owner_shown, 10.0, "the local owner in the fleet's status")
    got = await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
    condition = condition_parts(got, fleet_status.REPLICAS_OWNED_LOCALLY)
    assert condition == (
        "True",
        "LocalAutoscaler",
        "eu-1: HorizontalPodAutoscaler sets replicas (10; the hub placed 6)",
    )
    # Not a rollout that never ends, not a problem, nothing sent back.
    assert condition_parts(got, "Progressing") == (
        "False",
        "Complete",
        "every cluster is up to date",
    )
    assert fleet_status.problem(got) is None
    assert len(_desired_messages(eu)) == sent_eu
