"""Counters with the real hub and agents on the local clusters: a counter the game changes
through its agent's endpoint reaches the hub, and an allocation by counter re-allocates an
Allocated server until it is full."""

from __future__ import annotations

import json

import aiohttp
from gamefleet.v1 import allocation_pb2, allocation_pb2_grpc, fleet_pb2, gameserver_pb2
from google.protobuf import json_format

from agent.controllers import views
from hub.core import documents
from okg import capacity
from tests.e2e.agent.harness import eventually

from .world import World

AGENT_GAME_API = True
DECLARED = json.dumps({"counters": {"rooms": {"capacity": 3}}})
ROOM = {"rooms": allocation_pb2.CounterSelector(min_available=1)}
WITH_ROOM = [
    allocation_pb2.AllocationSelector(game_server_state=allocation_pb2.ALLOCATED, counters=ROOM),
    allocation_pb2.AllocationSelector(counters=ROOM),
]


def fleet_with_rooms(world: World, replicas: int) -> fleet_pb2.Fleet:
    doc = json_format.MessageToDict(world.fleet(replicas))
    template = doc["spec"]["template"]["gameServerTemplate"]
    template.setdefault("metadata", {})["annotations"] = {capacity.DECLARATION: DECLARED}
    return documents.from_document(doc, fleet_pb2.Fleet)


async def listed(world: World) -> list[gameserver_pb2.GameServer]:
    async with world.channel() as channel:
        found = await world.game_servers(channel).ListGameServers(
            gameserver_pb2.ListGameServersRequest(namespace=world.namespace, fleet="arena")
        )
    return list(found.game_servers)


async def test_a_counter_changed_by_the_game_reaches_the_hub_and_allocations_fill_it(
    world: World,
) -> None:
    async with world.channel() as channel:
        await world.fleets(channel).ApplyFleet(
            fleet_pb2.ApplyFleetRequest(fleet=fleet_with_rooms(world, 3))
        )

    async def ready_with_rooms() -> bool:
        servers = await listed(world)
        return sum(s.state == "Ready" and "rooms" in s.counters for s in servers) == 3

    await eventually(ready_with_rooms, 120.0, "3 Ready servers with a rooms counter in the hub")
    # Placement may have put them anywhere: the game of the first server listed takes a room.
    [seen, *_] = await listed(world)
    chosen = seen.name
    first = next(m for m in world.members if m.name == seen.cluster)

    # The game takes a room through its agent's endpoint.
    url = f"http://{first.game_api}/gameservers/{world.namespace}/{chosen}/counters/rooms"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"delta": 1}) as answer:
            assert answer.status == 200, await answer.text()
            assert (await answer.json())["counters"]["rooms"] == {"count": 1, "capacity": 3}
        async with http.post(url, json={"delta": 5}) as too_many:
            assert too_many.status == 400
            assert (await too_many.json())["error"].startswith("body: ")
        missing = url.replace("/rooms", "/seats")
        async with http.post(missing, json={"delta": 1}) as unknown:
            assert unknown.status == 404

    async def hub_sees_one_room_taken() -> bool:
        servers = {s.name: s for s in await listed(world) if s.cluster == first.name}
        return chosen in servers and servers[chosen].counters["rooms"].count == 1

    await eventually(hub_sees_one_room_taken, 30.0, f"{chosen}'s rooms count 1 in the hub")

    # Allocations by room: the fullest server first (Packed), then the same one again while
    # it is Allocated with room, never beyond its capacity.
    async with world.channel() as channel:
        stub = allocation_pb2_grpc.AllocationServiceStub(channel)
        names = []
        for i in range(3):
            response = await stub.Allocate(
                allocation_pb2.AllocateRequest(
                    namespace=world.namespace,
                    fleet="arena",
                    request_id=f"match-{i}",
                    selectors=WITH_ROOM,
                    preferred_clusters=[first.name],
                    counters={"rooms": allocation_pb2.CounterAction(delta=1)},
                )
            )
            server = response.game_server
            names.append((server.cluster, server.name, server.counters["rooms"].count))
    assert names[0] == (first.name, chosen, 2)
    assert names[1] == (first.name, chosen, 3)
    assert names[2][:2] != (first.name, chosen) and names[2][2] == 1

    in_cluster = await first.namespace.get_gs(chosen)
    assert in_cluster["spec"]["opsState"] == "Allocated"
    status = views.meta(in_cluster)["annotations"][capacity.STATUS]
    held = capacity.parse(status, "status", status=True)
    assert held.counters["rooms"] == capacity.Counter(3, 3)
    assert held.requests == ("match-0", "match-1")
