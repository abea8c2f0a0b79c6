"""A server group with the real hub and agents on the local clusters: one game server of each
of two fleets, both Allocated in one cluster under their member request ids."""

from __future__ import annotations

from gamefleet import protocol
from gamefleet.v1 import allocation_pb2, allocation_pb2_grpc, fleet_pb2, gameserver_pb2

from agent.controllers import views
from tests.e2e.agent.harness import eventually

from .world import World


async def test_a_group_of_two_fleets_is_allocated_in_one_cluster(world: World) -> None:
    async with world.channel() as channel:
        for name in ("arena", "voice"):
            await world.fleets(channel).ApplyFleet(
                fleet_pb2.ApplyFleetRequest(fleet=world.fleet(3, name=name))
            )

        second = world.members[1]

        async def both_fleets_ready() -> bool:
            """3 Ready servers of each fleet, and some of each in the preferred cluster (a
            fleet applied before its agent connects starts on the other cluster alone)."""
            listed = await world.game_servers(channel).ListGameServers(
                gameserver_pb2.ListGameServersRequest(namespace=world.namespace, state="Ready")
            )
            fleets = [s.fleet for s in listed.game_servers]
            there = {s.fleet for s in listed.game_servers if s.cluster == second.name}
            return fleets.count("arena") == 3 and fleets.count("voice") == 3 and len(there) == 2

        await eventually(
            both_fleets_ready, 180.0, f"3 Ready servers of arena and of voice, in {second.name} too"
        )
        request = allocation_pb2.AllocateGroupRequest(
            request_id="match-1",
            members=[
                allocation_pb2.GroupMember(
                    name=member,
                    request=allocation_pb2.AllocateRequest(
                        namespace=world.namespace, fleet=fleet, preferred_clusters=[second.name]
                    ),
                )
                for member, fleet in (("game", "arena"), ("voice", "voice"))
            ],
        )
        stub = allocation_pb2_grpc.AllocationServiceStub(channel)
        response = await stub.AllocateGroup(request)
        again = await stub.AllocateGroup(request)

    servers = {m.name: m.allocation.game_server for m in response.members}
    assert {s.cluster for s in servers.values()} == {second.name}
    assert (servers["game"].fleet, servers["voice"].fleet) == ("arena", "voice")
    assert again.replayed
    assert [m.allocation.game_server.name for m in again.members] == [
        servers["game"].name,
        servers["voice"].name,
    ]
    for member, server in servers.items():

        async def written(name: str = server.name) -> bool:
            found = await second.namespace.get_gs(name)
            return bool(found["spec"].get("opsState") == "Allocated")

        await eventually(written, 60.0, f"{server.name} Allocated in {second.name}")
        in_cluster = await second.namespace.get_gs(server.name)
        stamp = views.meta(in_cluster)["annotations"][protocol.ALLOCATION_REQUEST_ANNOTATION]
        assert stamp == f"match-1/{member}"
