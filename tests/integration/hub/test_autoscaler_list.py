"""The List policy on a real hub with simulated agents: the values the agents report on their
servers' lists drive the fleet's replicas (keep 6 free room slots, 4 a server), a server with
values is never removed, and a key that is no list of the template is refused by name."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from gamefleet.v1 import autoscaler_pb2, fleet_pb2

from hub.api.server import Hub
from hub.core import documents
from okg import capacity
from tests.support.fleet_sim import FollowingCluster

from .conftest import StartAgent, following_regions
from .fleet_docs import fleet_document
from .test_autoscaler import apply, autoscaler, get_autoscaler, get_fleet, settled, until, window

if TYPE_CHECKING:
    from .test_autoscaler import AutoscalerStub, FleetStub

NS = "games"
ROOMS = 4


@pytest.fixture
async def clusters(start_agent: StartAgent) -> AsyncIterator[tuple[FollowingCluster, ...]]:
    """eu-1 and us-1, their servers following the desired sets with 4 room slots each."""
    async with following_regions(start_agent, lists={"rooms": ROOMS}) as followers:
        yield followers


def listed_fleet() -> fleet_pb2.Fleet:
    """The template declares a "rooms" list, and a "players" counter the policy must not read."""
    doc = fleet_document(replicas=0)
    declared = json.dumps({"lists": {"rooms": {"capacity": ROOMS}}, "counters": {"players": {}}})
    doc["spec"]["template"]["gameServerTemplate"]["metadata"] = {
        "annotations": {capacity.DECLARATION: declared}
    }
    return documents.from_document(doc, fleet_pb2.Fleet)


def list_policy(key: str = "rooms", size: int | str = 6) -> dict[str, Any]:
    return {"type": "List", "list": {"key": key, "bufferSize": size, "maxCapacity": 400}}


def servers(clusters: tuple[FollowingCluster, ...]) -> dict[str, int]:
    """Each live server's rooms taken, by cluster/name."""
    return {
        f"{c.name}/{s.name}": len(s.lists["rooms"].values)
        for c in clusters
        for s in c.servers(NS, "arena")
    }


def open_rooms(clusters: tuple[FollowingCluster, ...], where: str, rooms: list[str]) -> None:
    name, _, server = where.partition("/")
    [cluster] = [c for c in clusters if c.name == name]
    cluster.set_values(NS, "arena", server, "rooms", rooms)


async def test_reported_list_values_drive_the_replicas_and_servers_with_values_stay(
    hub: Hub,
    fleets: FleetStub,
    autoscalers: AutoscalerStub,
    clusters: tuple[FollowingCluster, FollowingCluster],
) -> None:
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=listed_fleet()))
    await apply(autoscalers, autoscaler(list_policy(), behavior=window(1)))
    await until(lambda: len(servers(clusters)) == 2, "6 free room slots: 2 servers")

    # Rooms open on both servers: 7 of 8 taken, 1 free: two more servers (9 free).
    first, second = sorted(servers(clusters))
    open_rooms(clusters, first, ["a", "b", "c"])
    open_rooms(clusters, second, ["d", "e", "f", "g"])
    await until(lambda: len(servers(clusters)) == 4, "7 taken: 4 servers")
    assert (await get_fleet(fleets)).spec.replicas == 4
    last = (await get_autoscaler(autoscalers)).status.decisions[-1]
    assert last.policy == "List"
    # One decision if both reports came together (7/8 taken: 2+2), else two (3/8: 2+1, then
    # 7/12: 3+1).
    assert last.reason.startswith(("rooms: 7/8 used", "rooms: 7/12 used")), last.reason

    # The rooms close but one on the second server: 1 of 16 taken, 15 free; after the window
    # the fleet falls to 2 (7 free; one more removal would leave 3) — and the server with a
    # value is not among those removed.
    open_rooms(clusters, first, [])
    open_rooms(clusters, second, ["g"])
    await until(lambda: len(servers(clusters)) == 2, "1 taken: 2 servers", timeout=20)
    assert servers(clusters)[second] == 1
    await settled(hub)
    assert (await get_fleet(fleets)).spec.replicas == 2


async def test_a_key_that_is_no_list_of_the_template_is_named(
    fleets: FleetStub, autoscalers: AutoscalerStub
) -> None:
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=listed_fleet()))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await apply(autoscalers, autoscaler(list_policy("players")))
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (raised.value.details() or "").startswith(
        'spec.policy.list.key: "players" is not a list of the template (its lists: rooms)'
    )
    listed = await autoscalers.ListFleetAutoscalers(
        autoscaler_pb2.ListFleetAutoscalersRequest(namespace=NS)
    )
    assert list(listed.fleet_autoscalers) == []
