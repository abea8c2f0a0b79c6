"""AllocateGroup with the real hub and simulated agents: one server per member, all in one
cluster (or zone), all or nothing, also across a hub restart."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from gamefleet.v1 import (
    agent_pb2,
    allocation_pb2,
    allocation_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    gameserver_pb2,
)

from cli import main as cli_main
from hub.api.server import Hub
from hub.registry.allocation_groups import GroupRegistry
from hub.registry.allocations import AllocationRegistry
from tests.e2e.agent.harness import eventually
from tests.support.agent_sim import SimulatedAgent, game_server

from .conftest import StartAgent, start_hub, wait_held, wait_phase
from .fleet_docs import fleet

if TYPE_CHECKING:
    Stub = allocation_pb2_grpc.AllocationServiceAsyncStub

FLEETS = ("arena", "voice")


@pytest.fixture
def allocations(channel: grpc.aio.Channel) -> Stub:
    return allocation_pb2_grpc.AllocationServiceStub(channel)


@pytest.fixture
async def two_fleets(fleets: fleet_pb2_grpc.FleetServiceAsyncStub) -> None:
    for name in FLEETS:
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(name, replicas=0)))


async def serve(hub: Hub, agent: SimulatedAgent, fleet: str, count: int, zone: str = "") -> None:
    """Have ``agent`` report ``count`` Ready servers of ``fleet``; wait until the hub holds
    them."""
    reported = []
    for ordinal in range(count):
        gs = game_server("games", fleet, ordinal)
        gs.zone = zone
        reported.append(gs)
    agent.report(agent_pb2.StatusDelta(game_servers=reported))
    await wait_held(hub, agent.cluster, fleet, {gs.name for gs in reported})


def group(
    request_id: str, same: int = allocation_pb2.SAME_CLUSTER, **fleets: str
) -> allocation_pb2.AllocateGroupRequest:
    """A group of one member per keyword (member name = fleet); default: game and voice."""
    members = fleets or {"game": "arena", "voice": "voice"}
    return allocation_pb2.AllocateGroupRequest(
        request_id=request_id,
        same=same,  # type: ignore[arg-type]
        members=[
            allocation_pb2.GroupMember(
                name=name, request=allocation_pb2.AllocateRequest(namespace="games", fleet=f)
            )
            for name, f in members.items()
        ],
    )


def placed(response: allocation_pb2.AllocateGroupResponse) -> dict[str, str]:
    return {
        m.name: f"{m.allocation.game_server.cluster}/{m.allocation.game_server.name}"
        for m in response.members
    }


def allocated(*agents: SimulatedAgent) -> dict[str, str]:
    """cluster/server → the request id of every server the agents hold Allocated."""
    return {
        f"{agent.cluster}/{server.name}": server.allocation_request_id
        for agent in agents
        for server in agent.reported.values()
        if isinstance(server, gameserver_pb2.GameServer) and server.ops_state == "Allocated"
    }


def releases(agent: SimulatedAgent) -> list[tuple[str, str]]:
    return [
        (o.game_servers[0], o.release_request_id) for o in agent.operations if o.release_request_id
    ]


def take_quietly(agent: SimulatedAgent, fleet: str, ordinal: int) -> None:
    """Someone else allocated the server in the cluster; the agent has not reported it yet."""
    taken = game_server("games", fleet, ordinal, ops_state="Allocated")
    taken.allocation_request_id = "someone-else"
    agent.change_quietly(taken)


@pytest.mark.usefixtures("two_fleets")
async def test_a_group_is_allocated_in_one_cluster(
    hub: Hub, allocations: Stub, start_agent: StartAgent
) -> None:
    eu, us = await start_agent("eu-1"), await start_agent("us-1")
    await serve(hub, eu, "arena", 2)  # eu-1 has no voice server
    await serve(hub, us, "arena", 1)
    await serve(hub, us, "voice", 1)
    response = await allocations.AllocateGroup(group("match-1"))
    assert placed(response) == {"game": "us-1/arena-0", "voice": "us-1/voice-0"}
    assert not response.replayed
    assert [m.allocation.game_server.ops_state for m in response.members] == ["Allocated"] * 2
    assert allocated(eu, us) == {
        "us-1/arena-0": "match-1/game",
        "us-1/voice-0": "match-1/voice",
    }
    assert eu.operations == []


@pytest.mark.usefixtures("two_fleets")
async def test_a_member_conflict_gives_back_the_members_taken_and_tries_the_next_cluster(
    hub: Hub, allocations: Stub, start_agent: StartAgent
) -> None:
    a, b = await start_agent("a-1"), await start_agent("b-1")
    for agent in (a, b):
        await serve(hub, agent, "arena", 1)
        await serve(hub, agent, "voice", 1)
    take_quietly(a, "voice", 0)
    response = await allocations.AllocateGroup(group("match-1"))
    assert placed(response) == {"game": "b-1/arena-0", "voice": "b-1/voice-0"}
    # a-1's game server was taken for the group, then given back when its voice was not had.
    assert releases(a) == [("arena-0", "match-1/game")]
    assert allocated(a, b) == {
        "a-1/voice-0": "someone-else",
        "b-1/arena-0": "match-1/game",
        "b-1/voice-0": "match-1/voice",
    }


@pytest.mark.usefixtures("two_fleets")
async def test_no_cluster_fits_is_resource_exhausted_naming_the_member_and_leaves_nothing(
    hub: Hub, allocations: Stub, start_agent: StartAgent
) -> None:
    a, b = await start_agent("a-1"), await start_agent("b-1")
    await serve(hub, a, "arena", 1)
    await serve(hub, a, "voice", 1)
    await serve(hub, b, "arena", 1)  # b-1: no voice server at all
    take_quietly(a, "voice", 0)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await allocations.AllocateGroup(group("match-1"))
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "member 'voice'" in (caught.value.details() or "")
    assert releases(a) == [("arena-0", "match-1/game")]
    assert allocated(a, b) == {"a-1/voice-0": "someone-else"}
    assert b.operations == []
    assert hub.store is not None
    assert await GroupRegistry(hub.store).get("games", "match-1") is None
    # Nothing anywhere: refused before any agent is asked.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await allocations.AllocateGroup(group("match-2", relay="missing-fleet"))
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


@pytest.mark.usefixtures("two_fleets")
async def test_the_zone_constraint_puts_every_member_in_one_zone(
    hub: Hub, allocations: Stub, start_agent: StartAgent
) -> None:
    eu = await start_agent("eu-1")
    await serve(hub, eu, "arena", 2, zone="z1")
    await serve(hub, eu, "voice", 1, zone="z2")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await allocations.AllocateGroup(group("match-1", allocation_pb2.SAME_ZONE))
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert eu.operations == []
    response = await allocations.AllocateGroup(group("match-1"))  # one cluster is enough
    assert placed(response) == {"game": "eu-1/arena-0", "voice": "eu-1/voice-0"}


@pytest.mark.usefixtures("two_fleets")
async def test_a_repeated_group_request_id_gets_the_same_servers(
    hub: Hub, allocations: Stub, start_agent: StartAgent
) -> None:
    eu = await start_agent("eu-1")
    await serve(hub, eu, "arena", 3)
    await serve(hub, eu, "voice", 3)
    first, concurrent = await asyncio.gather(
        allocations.AllocateGroup(group("match-1")), allocations.AllocateGroup(group("match-1"))
    )
    again = await allocations.AllocateGroup(group("match-1"))
    assert placed(first) == placed(concurrent) == placed(again)
    assert again.replayed and all(m.allocation.replayed for m in again.members)
    assert len([o for o in eu.operations if o.require_ready_unallocated]) == 2
    other = await allocations.AllocateGroup(group("match-2"))
    assert set(placed(other).values()).isdisjoint(placed(first).values())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda g: g.ClearField("members"), "members: is required"),
        (lambda g: g.members.append(g.members[0]), "members[2].name: duplicate"),
        (lambda g: g.members.extend([g.members[0]] * 8), "members: has 10 entries"),
        (lambda g: setattr(g.members[1], "name", "Voice!"), "members[1].name: "),
        (lambda g: setattr(g, "request_id", "a/b"), "request_id: must not contain '/'"),
        (lambda g: setattr(g, "request_id", "x" * 65), "request_id: must be at most 64"),
        (
            lambda g: setattr(g.members[0].request, "request_id", "x"),
            "members[0].request.request_id",
        ),
        (
            lambda g: setattr(g.members[1].request, "fleet", ""),
            "members[1].request.fleet: is required",
        ),
        (
            lambda g: setattr(g.members[1].request, "namespace", "other"),
            "members[1].request.namespace",
        ),
        (
            lambda g: g.members[0].request.labels.update({"a b": "x"}),
            'members[0].request.labels["a b"]',
        ),
    ],
)
@pytest.mark.usefixtures("two_fleets")
async def test_bad_fields_are_refused_naming_the_field(
    hub: Hub,
    allocations: Stub,
    start_agent: StartAgent,
    change: object,
    message: str,
) -> None:
    eu = await start_agent("eu-1")
    await serve(hub, eu, "arena", 1)
    await serve(hub, eu, "voice", 1)
    bad = group("match-1")
    assert callable(change)
    change(bad)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await allocations.AllocateGroup(bad)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith(message)
    assert eu.operations == []


class SlowVoice(SimulatedAgent):
    """Answers the allocation of a voice server only after ``voice_delay`` seconds."""

    voice_delay = 0.0

    async def _handle(self, message: agent_pb2.HubMessage) -> None:
        if message.WhichOneof("body") == "operation" and any(
            name.startswith("voice-") for name in message.operation.game_servers
        ):
            await asyncio.sleep(self.voice_delay)
        await super()._handle(message)


async def test_a_hub_killed_between_the_members_leaves_every_member_or_none(
    tmp_path: Path,
) -> None:
    """The hub stops after the game member's answer was recorded and while the voice member's
    agent is committing it: the restarted hub gives back both on its own (the group was never
    answered), and the retry of the group's request_id gets a whole group."""
    store = tmp_path / "hub.db"
    hub = await start_hub(store)
    address = f"127.0.0.1:{hub.port}"
    agent = SlowVoice(address, "eu-1", heartbeat_interval=0.2)
    agent.reconnect = True
    agent.voice_delay = 1.0
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            for name in FLEETS:
                await fleet_pb2_grpc.FleetServiceStub(channel).ApplyFleet(
                    fleet_pb2.ApplyFleetRequest(fleet=fleet(name, replicas=0))
                )
            await agent.start()
            await wait_phase(hub, "eu-1", "Ready")
            await serve(hub, agent, "arena", 2)
            await serve(hub, agent, "voice", 2)
            call = asyncio.ensure_future(
                allocation_pb2_grpc.AllocationServiceStub(channel).AllocateGroup(group("match-1"))
            )
            assert hub.store is not None
            records = AllocationRegistry(hub.store)

            async def game_answered() -> bool:
                record = await records.get("games", "arena", "match-1/game")
                return record is not None and record.answered

            await eventually(game_answered, 10.0, "the game member's answer recorded")
            await hub.stop(grace=0)
            with pytest.raises(grpc.aio.AioRpcError):
                await call
        # The voice member's agent commits it anyway: both members are held and nobody was
        # told, a partial group unless the hub acts.
        await agent.wait_for(lambda: len(allocated(agent)) == 2)
        assert sorted(allocated(agent).values()) == ["match-1/game", "match-1/voice"]
        agent.voice_delay = 0.0
        hub = await start_hub(store, listen=address)
        assert hub.store is not None
        # The restarted hub rolls the pending group back on its own, before any retry.
        await agent.wait_for(lambda: len(releases(agent)) == 2, timeout=20)
        assert sorted(r for _, r in releases(agent)) == ["match-1/game", "match-1/voice"]
        await agent.wait_for(lambda: allocated(agent) == {})
        async with grpc.aio.insecure_channel(address) as channel:
            again = await allocation_pb2_grpc.AllocationServiceStub(channel).AllocateGroup(
                group("match-1")
            )
        assert set(placed(again)) == {"game", "voice"} and not again.replayed
        assert sorted(allocated(agent).values()) == ["match-1/game", "match-1/voice"]
        answered = await GroupRegistry(hub.store).get("games", "match-1")
        assert answered is not None and answered.answered
    finally:
        await agent.stop()
        await hub.stop(grace=0)


def _ops_state(reported: object) -> str:
    assert isinstance(reported, gameserver_pb2.GameServer)
    return reported.ops_state


@pytest.mark.usefixtures("two_fleets")
async def test_an_agent_that_goes_away_mid_group_fails_the_group_and_holds_nothing(
    hub: Hub, allocations: Stub, start_agent: StartAgent
) -> None:
    """The members' agent takes the operations and its stream breaks before it answers: as
    for a single allocation, it may hold the servers. The group gives back every member by
    its request id once the agent is back and fails retryably; the retry gets a whole group."""
    eu = await start_agent("eu-1")
    await serve(hub, eu, "arena", 2)
    await serve(hub, eu, "voice", 2)
    eu.allocation_delay = 5.0
    call = asyncio.ensure_future(allocations.AllocateGroup(group("match-1")))
    await eu.wait_for(lambda: len(eu.operations) == 1)  # both are sent; it sleeps on one
    await eu.cut()
    eu.allocation_delay = 0.0
    eu.reconnect = True
    await eu.start()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "nothing of the group is held" in (caught.value.details() or "")
    assert sorted(releases(eu)) == [("arena-0", "match-1/game"), ("voice-0", "match-1/voice")]
    assert allocated(eu) == {}
    again = await allocations.AllocateGroup(group("match-1"))
    assert not again.replayed
    assert sorted(allocated(eu).values()) == ["match-1/game", "match-1/voice"]


@pytest.mark.usefixtures("two_fleets")
async def test_the_cli_allocates_a_group(
    hub: Hub, start_agent: StartAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    eu = await start_agent("eu-1")
    await serve(hub, eu, "arena", 1)
    await serve(hub, eu, "voice", 1)
    argv = ["allocate-group", "-n", "games", "--request-id", "m1", "--hub"]
    argv += [f"127.0.0.1:{hub.port}", "--member", "game=arena", "--member", "voice=voice"]
    code = await asyncio.to_thread(cli_main.main, [*argv, "-o", "json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in printed["members"]] == ["game", "voice"]
    assert printed["members"][1]["allocation"]["gameServer"]["name"] == "voice-0"
    code = await asyncio.to_thread(cli_main.main, argv)
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["MEMBER", "CLUSTER", "NAMESPACE"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["game", "eu-1", "games", "arena-0"],
        ["voice", "eu-1", "games", "voice-0"],
    ]
    assert lines[1].split()[-1] == "true"  # replayed
    code = await asyncio.to_thread(cli_main.main, [*argv, "--member", "game=voice"])
    assert code == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "members[2].name: duplicate" in error[0]
