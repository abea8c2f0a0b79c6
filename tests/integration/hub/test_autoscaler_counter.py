"""The Counter policy on a real hub with simulated agents: the players the agents report on
their servers' counters drive the fleet's replicas (keep 200 free player slots), a server with
players is never removed, and a key the template does not declare is refused by name."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from gamefleet.v1 import agent_pb2, autoscaler_pb2, fleet_pb2

from hub.api.server import Hub
from hub.core import documents
from okg import capacity
from tests.support.agent_sim import game_server
from tests.support.fleet_sim import FollowingCluster

from .conftest import StartAgent, following_regions
from .fleet_docs import fleet_document
from .test_autoscaler import apply, autoscaler, get_autoscaler, get_fleet, settled, until, window

if TYPE_CHECKING:
    from .test_autoscaler import AutoscalerStub, FleetStub

NS = "games"
SLOTS = 100


@pytest.fixture
async def clusters(start_agent: StartAgent) -> AsyncIterator[tuple[FollowingCluster, ...]]:
    """eu-1 and us-1, their servers following the desired sets with 100 player slots each."""
    async with following_regions(start_agent, counters={"players": SLOTS}) as followers:
        yield followers


def counted_fleet(**placement: Any) -> fleet_pb2.Fleet:
    doc = fleet_document(replicas=0, placement=placement)
    declared = json.dumps({"counters": {"players": {"capacity": SLOTS}}})
    doc["spec"]["template"]["gameServerTemplate"]["metadata"] = {
        "annotations": {capacity.DECLARATION: declared}
    }
    return documents.from_document(doc, fleet_pb2.Fleet)


def counter(key: str = "players", size: int | str = 200) -> dict[str, Any]:
    return {"type": "Counter", "counter": {"key": key, "bufferSize": size, "maxCapacity": 5000}}


def servers(clusters: tuple[FollowingCluster, ...]) -> dict[str, int]:
    """Each live server's players, by cluster/name."""
    return {
        f"{c.name}/{s.name}": s.counters["players"].count
        for c in clusters
        for s in c.servers(NS, "arena")
    }


async def test_reported_players_drive_the_replicas_and_servers_with_players_stay(
    hub: Hub,
    fleets: FleetStub,
    autoscalers: AutoscalerStub,
    clusters: tuple[FollowingCluster, FollowingCluster],
) -> None:
    eu, us = clusters
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=counted_fleet()))
    await apply(autoscalers, autoscaler(counter(), behavior=window(1)))
    await until(lambda: len(servers(clusters)) == 2, "200 free slots: 2 servers")

    # Players join two servers: 80 + 100 of 200 used, 20 free: two more servers (220 free).
    first, second = sorted(servers(clusters))
    for name, players in ((first, 80), (second, 100)):
        cluster = eu if name.startswith("eu-1/") else us
        cluster.set_count(NS, "arena", name.partition("/")[2], "players", players)
    await until(lambda: len(servers(clusters)) == 4, "180 used: 4 servers")
    stored = await get_fleet(fleets)
    assert stored.spec.replicas == 4
    last = (await get_autoscaler(autoscalers)).status.decisions[-1]
    assert last.policy == "Counter"
    # One decision if both reports came together (180/200 used: 2+2), else two (80/200: 2+1,
    # then 180/300: 3+1).
    assert last.reason.startswith(("players: 180/200 used", "players: 180/300 used")), last.reason

    # Most leave; 30 stay on the second server: 230 slots are enough, so after the window the
    # fleet falls to 3 — and the server with players is not among those removed.
    cluster = eu if first.startswith("eu-1/") else us
    cluster.set_count(NS, "arena", first.partition("/")[2], "players", 0)
    cluster = eu if second.startswith("eu-1/") else us
    cluster.set_count(NS, "arena", second.partition("/")[2], "players", 30)
    await until(lambda: len(servers(clusters)) == 3, "30 used: 3 servers", timeout=20)
    assert servers(clusters)[second] == 30
    await settled(hub)
    assert (await get_fleet(fleets)).spec.replicas == 3


async def test_a_key_the_template_does_not_declare_is_named(
    fleets: FleetStub, autoscalers: AutoscalerStub
) -> None:
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=counted_fleet()))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await apply(autoscalers, autoscaler(counter("rooms")))
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (raised.value.details() or "").startswith(
        'spec.policy.counter.key: "rooms" is not a counter of the template (its counters: players)'
    )
    listed = await autoscalers.ListFleetAutoscalers(
        autoscaler_pb2.ListFleetAutoscalersRequest(namespace=NS)
    )
    assert list(listed.fleet_autoscalers) == []


async def test_an_autoscaler_made_before_its_fleet_says_why_it_cannot_scale(
    fleets: FleetStub, autoscalers: AutoscalerStub
) -> None:
    await apply(autoscalers, autoscaler(counter("rooms")))
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=counted_fleet()))

    async def unable() -> bool:
        status = (await get_autoscaler(autoscalers)).status
        found = {c.type: c for c in status.conditions}.get("AbleToScale")
        return found is not None and found.reason == "CounterPolicyFailed"

    await until(unable, "AbleToScale False, CounterPolicyFailed")
    status = (await get_autoscaler(autoscalers)).status
    message = {c.type: c for c in status.conditions}["AbleToScale"].message
    assert (
        message == 'Counter: "rooms" is not a counter of the fleet\'s template (declared: players)'
    )


async def test_a_lying_agent_does_not_shrink_the_other_clusters_share(
    hub: Hub,
    fleets: FleetStub,
    autoscalers: AutoscalerStub,
    clusters: tuple[FollowingCluster, FollowingCluster],
) -> None:
    """us-1 (at most 2 replicas) reports 50 Allocated servers of a billion slots each beside its
    2 real ones: only 2 of them count, at the template's 100 slots, so eu-1 keeps its idle
    servers and grows when its players fill one (Agones' sum would see 50 billion free slots
    and remove eu-1's idle servers instead)."""
    eu, us = clusters
    one_two = counted_fleet(clusters=[{"name": "us-1", "max": 2}])
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=one_two))
    await apply(autoscalers, autoscaler(counter(size=400), behavior=window(0.5)))
    await until(lambda: eu.count(NS, "arena") == us.count(NS, "arena") == 2, "2 + 2 servers")

    lies = agent_pb2.StatusDelta()
    for ordinal in range(1000, 1050):
        fake = game_server(NS, "arena", ordinal, ops_state="Allocated")
        fake.counters["players"].capacity = capacity.MAX_COUNTER_CAPACITY
        lies.game_servers.append(fake)
    us.agent.report(lies)
    # Players fill one of eu-1's servers: 100 of 400 slots used, 300 free: one more server,
    # on eu-1 (us-1 is at its max).
    first = sorted(s.name for s in eu.servers(NS, "arena"))[0]
    eu.set_count(NS, "arena", first, "players", SLOTS)

    async def grown() -> bool:
        stored = await get_fleet(fleets)
        return stored.spec.replicas == 5 and dict(stored.cluster_demand) == {"eu-1": 3, "us-1": 2}

    await until(grown, "eu-1 grows to 3 for its players", timeout=20)
    await until(lambda: eu.count(NS, "arena") == 3, "eu-1 runs 3 servers")
    reasons = [d.reason for d in (await get_autoscaler(autoscalers)).status.decisions]
    assert any(r.startswith("players: 100/400 used") for r in reasons), reasons
    await settled(hub)
    assert await grown()
    assert eu.count(NS, "arena") == 3
