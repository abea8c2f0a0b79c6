"""Agents say which namespaces they serve; fleets go only where their namespace is served."""

from __future__ import annotations

from gamefleet.v1 import agent_pb2, fleet_pb2, fleet_pb2_grpc

from hub.core import fleet_status
from tests.e2e.agent.harness import eventually

from .conftest import StartAgent
from .fleet_docs import condition_parts, fleet

REF = fleet_pb2.FleetRef(namespace="games", name="arena")
WEIGHTS = {"clusters": [{"name": "eu-1", "weight": 2}, {"name": "us-1", "weight": 1}]}


async def _status(fleets: fleet_pb2_grpc.FleetServiceAsyncStub) -> fleet_pb2.Fleet:
    return await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))


async def test_a_cluster_whose_agent_serves_another_namespace_gets_no_replicas_and_is_named(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> None:
    every = await start_agent("eu-1", namespaces=[])
    other = await start_agent("us-1", namespaces=["demo"])
    several = await start_agent("ap-1", namespaces=["demo", "games"])
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(placement=WEIGHTS)))

    # us-1's share goes where the namespace is served: 6 and 3, not 5, 2 and 2.
    await every.wait_for(lambda: every.replicas("games", "arena") == 6)
    await several.wait_for(lambda: several.replicas("games", "arena") == 3)
    placed = await _status(fleets)
    assert {c.cluster: c.desired_replicas for c in placed.status.clusters} == {
        "eu-1": 6,
        "ap-1": 3,
    }
    assert not [m for m in other.received if m.HasField("desired")]
    condition = condition_parts(placed, fleet_status.NAMESPACE_SERVED)
    assert condition is not None
    status, reason, message = condition
    assert (status, reason) == ("False", "NamespaceNotServed")
    assert "namespace games" in message and "us-1 (its agent serves demo)" in message
    assert "eu-1" not in message and "ap-1" not in message
    problem = fleet_status.problem(placed)
    assert problem is not None and problem.reason == "NamespaceNotServed"


async def test_no_agent_serving_the_namespace_leaves_the_fleet_unplaced_and_says_why(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> None:
    eu = await start_agent("eu-1", namespaces=["demo"])
    us = await start_agent("us-1", namespaces=["demo"])
    applied = await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(placement=WEIGHTS)))
    status = applied.fleet.status
    assert status.replicas == 0
    placed = condition_parts(applied.fleet, "Placed")
    assert placed is not None and placed[:2] == ("False", "NoEligibleClusters")
    served = condition_parts(applied.fleet, fleet_status.NAMESPACE_SERVED)
    assert served is not None and "eu-1 (its agent serves demo)" in served[2]
    assert "us-1 (its agent serves demo)" in served[2]
    # Nothing was sent to either agent; deleting the fleet is immediate (nothing to retire).
    await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))
    assert not [m for a in (eu, us) for m in a.received if m.HasField("desired")]
    deleted = await fleets.DeleteFleet(fleet_pb2.DeleteFleetRequest(ref=REF))
    assert deleted.removed


async def test_a_set_the_agent_refused_is_shown_as_not_served(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> None:
    """An agent that refuses a set (its namespace is not served) says so; the fleet shows it."""
    eu = await start_agent("eu-1", namespaces=[])
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet()))
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 9)
    refusal = "this agent serves only namespace demo, not games"
    eu.report(
        agent_pb2.StatusDelta(
            sets=[agent_pb2.GameServerSetStatus(namespace="games", name="arena", refused=refusal)]
        )
    )

    async def shown() -> bool:
        condition = condition_parts(await _status(fleets), fleet_status.NAMESPACE_SERVED)
        return condition is not None and refusal in condition[2]

    await eventually(shown, 10.0, "the refusal in the fleet's status")
