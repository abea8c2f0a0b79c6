"""AllocationService with the real hub and simulated agents that apply allocations themselves."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from gamefleet import protocol
from gamefleet.v1 import (
    agent_pb2,
    allocation_pb2,
    allocation_pb2_grpc,
    cluster_pb2,
    cluster_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    gameserver_pb2,
)

from cli import main as cli_main
from hub.api.server import Hub
from hub.registry import codec
from hub.registry.allocations import RETENTION_S, Allocation, AllocationRegistry
from tests.support.agent_sim import SimulatedAgent, game_server

from .conftest import StartAgent, start_hub, wait_phase
from .fleet_docs import fleet

if TYPE_CHECKING:
    from collections.abc import Callable

    Stub = allocation_pb2_grpc.AllocationServiceAsyncStub


@pytest.fixture
def allocations(channel: grpc.aio.Channel) -> Stub:
    return allocation_pb2_grpc.AllocationServiceStub(channel)


@pytest.fixture
async def arena(fleets: fleet_pb2_grpc.FleetServiceAsyncStub) -> fleet_pb2.Fleet:
    response = await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0)))
    return response.fleet


async def serve(
    hub: Hub, agent: SimulatedAgent, count: int, start: int = 0, **server: str
) -> list[str]:
    """Have ``agent`` report ``count`` Ready servers of arena; wait until the hub holds them."""
    labels = {k: v for k, v in server.items() if k not in ("node", "state", "ops_state")}
    reported = []
    for ordinal in range(start, start + count):
        gs = game_server("games", "arena", ordinal, state=server.get("state", "Ready"))
        gs.ops_state = server.get("ops_state", "None")
        gs.node = server.get("node", "")
        gs.labels.update(labels)
        gs.network_status.update({"currentNetworkState": "Ready"})
        reported.append(gs)
    agent.report(agent_pb2.StatusDelta(game_servers=reported))
    names = {gs.name for gs in reported}
    async with asyncio.timeout(5):
        while True:
            federation = hub.gate.federation
            assert federation is not None
            held = {
                s.name
                for s in federation.fleet_servers("games", "arena")
                if s.cluster == agent.cluster
            }
            if names <= held:
                return sorted(names)
            await asyncio.sleep(0.01)


def request(request_id: str, **fields: object) -> allocation_pb2.AllocateRequest:
    return allocation_pb2.AllocateRequest(
        namespace="games",
        fleet="arena",
        request_id=request_id,
        **fields,  # type: ignore[arg-type]
    )


async def allocated(stub: Stub, request_id: str, **fields: object) -> str:
    response = await stub.Allocate(request(request_id, **fields))
    return f"{response.game_server.cluster}/{response.game_server.name}"


async def refused(stub: Stub, message: allocation_pb2.AllocateRequest) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Allocate(message)
    return caught.value


@pytest.mark.usefixtures("arena")
async def test_allocates_a_ready_server_and_the_agent_writes_it(
    hub: Hub, allocations: Stub, start_agent: StartAgent
) -> None:
    eu = await start_agent("eu-1")
    await serve(hub, eu, 1, ops_state="Allocated")
    await serve(hub, eu, 1, start=1)
    response = await allocations.Allocate(
        request("match-1", labels={"match": "m1"}, annotations={"players": "8"})
    )
    server = response.game_server
    assert (server.cluster, server.name, server.ops_state) == ("eu-1", "arena-1", "Allocated")
    assert server.network_status["currentNetworkState"] == "Ready"
    assert server.labels["match"] == "m1"
    assert not response.replayed
    [operation] = eu.operations
    assert operation.require_ready_unallocated
    assert list(operation.game_servers) == ["arena-1"]
    assert operation.patch.ops_state == "Allocated"
    assert dict(operation.annotations) == {
        "players": "8",
        protocol.ALLOCATION_REQUEST_ANNOTATION: "match-1",
    }
    held = eu.reported[protocol.game_server_key("games", "arena-1")]
    assert isinstance(held, gameserver_pb2.GameServer) and held.ops_state == "Allocated"
    error = await refused(allocations, request("match-2"))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "games/arena" in (error.details() or "")


@pytest.mark.usefixtures("arena")
async def test_a_repeated_request_id_gets_the_same_server(
    hub: Hub, allocations: Stub, start_agent: StartAgent
) -> None:
    eu = await start_agent("eu-1")
    await serve(hub, eu, 5)
    first = await allocations.Allocate(request("match-1"))
    again = await allocations.Allocate(request("match-1"))
    assert again.game_server.name == first.game_server.name
    assert (first.replayed, again.replayed) == (False, True)
    duplicates = await asyncio.gather(*(allocations.Allocate(request("match-2")) for _ in range(5)))
    assert len({d.game_server.name for d in duplicates}) == 1
    assert sorted(d.replayed for d in duplicates) == [False, True, True, True, True]
    assert len(eu.operations) == 2


async def test_a_request_id_is_replayed_by_a_restarted_hub(tmp_path: Path) -> None:
    store = tmp_path / "hub.db"
    hub = await start_hub(store)
    agent = SimulatedAgent(f"127.0.0.1:{hub.port}", "eu-1", heartbeat_interval=0.2)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{hub.port}") as channel:
            await fleet_pb2_grpc.FleetServiceStub(channel).ApplyFleet(
                fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0))
            )
            await agent.start()
            await wait_phase(hub, "eu-1", "Ready")
            await serve(hub, agent, 3)
            first = await allocation_pb2_grpc.AllocationServiceStub(channel).Allocate(
                request("match-1")
            )
    finally:
        await agent.stop()
        await hub.stop(grace=0)
    hub = await start_hub(store)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{hub.port}") as channel:
            again = await allocation_pb2_grpc.AllocationServiceStub(channel).Allocate(
                request("match-1")
            )
    finally:
        await hub.stop(grace=0)
    assert again.replayed
    assert (again.game_server.cluster, again.game_server.name) == ("eu-1", first.game_server.name)


async def _allocation_cut_by_a_hub_stop(
    store: Path, clusters: tuple[str, ...] = ("eu-1",)
) -> tuple[list[SimulatedAgent], str, str]:
    """A hub allocates match-1 on the first cluster's agent and stops after the agent took the
    operation, before the answer: the agent commits it anyway. Returns the agents (every one
    still dialling the stopped hub's address), the hub's address and the chosen server."""
    hub = await start_hub(store)
    address = f"127.0.0.1:{hub.port}"
    agents = [SimulatedAgent(address, c, heartbeat_interval=0.2) for c in clusters]
    agents[0].allocation_delay = 0.3
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            await fleet_pb2_grpc.FleetServiceStub(channel).ApplyFleet(
                fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0))
            )
            for agent in agents:
                agent.reconnect = True
                await agent.start()
                await wait_phase(hub, agent.cluster, "Ready")
                await serve(hub, agent, 3)
            call = asyncio.ensure_future(
                allocation_pb2_grpc.AllocationServiceStub(channel).Allocate(
                    request("match-1", preferred_clusters=[clusters[0]])
                )
            )
            await agents[0].wait_for(lambda: len(agents[0].operations) == 1)
            await hub.stop(grace=0)
            with pytest.raises(grpc.aio.AioRpcError):
                await call
    except BaseException:
        for agent in agents:
            await agent.stop()
        raise
    chosen = agents[0].operations[0].game_servers[0]
    key = protocol.game_server_key("games", chosen)
    await agents[0].wait_for(lambda: _ops_state(agents[0].reported[key]) == "Allocated")
    return agents, address, chosen


async def test_a_retry_after_the_hub_died_before_answering_gets_the_same_server(
    tmp_path: Path,
) -> None:
    """The hub stops after the agent took the allocation and before the answer: the retry of
    the request_id finds the intent, asks the same agent again and gets the same server."""
    store = tmp_path / "hub.db"
    [agent], address, chosen = await _allocation_cut_by_a_hub_stop(store)
    hub = await start_hub(store, listen=address)
    try:
        assert hub.store is not None
        records = AllocationRegistry(hub.store)
        intent = await records.get("games", "arena", "match-1")
        assert intent is not None and not intent.answered
        assert intent.game_server.name == chosen
        async with grpc.aio.insecure_channel(address) as channel:
            stub = allocation_pb2_grpc.AllocationServiceStub(channel)
            again = await stub.Allocate(request("match-1"))
            other = await stub.Allocate(request("match-2"))
        assert again.replayed
        assert (again.game_server.name, again.game_server.allocation_request_id) == (
            chosen,
            "match-1",
        )
        assert other.game_server.name != chosen
        assert hub.gate.federation is not None
        assert hub.gate.federation.stats.allocations["resumed"] == 1
        answer = await records.get("games", "arena", "match-1")
        assert answer is not None and answer.answered
    finally:
        await agent.stop()
        await hub.stop(grace=0)


async def test_a_retry_that_reaches_a_restarted_hub_first_waits_for_the_intended_cluster(
    tmp_path: Path,
) -> None:
    """Before its agent reports again, the cluster that holds the request's server is not
    given up on: the retry waits for it instead of taking a server in another cluster."""
    store = tmp_path / "hub.db"
    (eu, us), address, chosen = await _allocation_cut_by_a_hub_stop(store, ("eu-1", "us-1"))
    await eu.stop()  # eu-1's agent stays away for now
    hub = await start_hub(store, listen=address)
    try:
        await wait_phase(hub, "us-1", "Ready")
        async with grpc.aio.insecure_channel(address) as channel:
            retry = asyncio.ensure_future(
                allocation_pb2_grpc.AllocationServiceStub(channel).Allocate(request("match-1"))
            )
            # While eu-1 is away the retry is held, not answered from us-1.
            done, _ = await asyncio.wait([retry], timeout=1.0)
            assert not done, "the retry was answered while the intended cluster was away"
            await eu.start()
            again = await retry
        assert (again.game_server.cluster, again.game_server.name) == ("eu-1", chosen)
        assert again.replayed
        assert us.operations == []
    finally:
        await eu.stop()
        await us.stop()
        await hub.stop(grace=0)


def _ops_state(reported: object) -> str:
    assert isinstance(reported, gameserver_pb2.GameServer)
    return reported.ops_state


async def _hub_holds(
    hub: Hub, predicate: Callable[[list[gameserver_pb2.GameServer]], bool]
) -> None:
    async with asyncio.timeout(10):
        while True:
            if predicate(_servers(hub)):
                return
            await asyncio.sleep(0.01)


def _servers(hub: Hub) -> list[gameserver_pb2.GameServer]:
    federation = hub.gate.federation
    return [] if federation is None else federation.fleet_servers("games", "arena")


@pytest.mark.usefixtures("arena")
async def test_concurrent_requests_never_share_a_server(
    hub: Hub, allocations: Stub, start_agent: StartAgent
) -> None:
    agents = [await start_agent(f"c-{i}") for i in range(4)]
    for agent in agents:
        await serve(hub, agent, 25, start=0)

    async def one(i: int) -> str | grpc.StatusCode:
        try:
            return await allocated(allocations, f"match-{i}")
        except grpc.aio.AioRpcError as exc:
            return exc.code()

    results = await asyncio.gather(*(one(i) for i in range(200)))
    won = [r for r in results if isinstance(r, str)]
    assert len(won) == 100
    assert len(set(won)) == 100
    assert results.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 100
    written = [
        f"{agent.cluster}/{name}"
        for agent in agents
        for op in agent.operations
        for name in op.game_servers
    ]
    assert len(written) == len(set(written)) == 100


@pytest.mark.usefixtures("arena")
async def test_the_first_matching_selector_wins(
    hub: Hub, allocations: Stub, start_agent: StartAgent
) -> None:
    eu = await start_agent("eu-1")
    await serve(hub, eu, 1, start=0, map="dust")
    await serve(hub, eu, 1, start=1, map="nuke")
    selectors = [
        allocation_pb2.AllocationSelector(match_labels={"map": "inferno"}),
        allocation_pb2.AllocationSelector(match_labels={"map": "nuke"}),
    ]
    assert await allocated(allocations, "m1", selectors=selectors) == "eu-1/arena-1"
    error = await refused(allocations, request("m2", selectors=selectors[:1]))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert await allocated(allocations, "m3") == "eu-1/arena-0"


@pytest.mark.usefixtures("arena")
async def test_packed_fills_a_cluster_and_distributed_spreads(
    hub: Hub, allocations: Stub, start_agent: StartAgent
) -> None:
    a, b = await start_agent("a-1"), await start_agent("b-1")
    await serve(hub, a, 4)
    await serve(hub, b, 4, start=4)
    await serve(hub, b, 1, start=8, ops_state="Allocated")
    packed = [await allocated(allocations, f"p{i}") for i in range(3)]
    assert [p.split("/")[0] for p in packed] == ["b-1", "b-1", "b-1"]
    distributed = allocation_pb2.DISTRIBUTED
    spread = [await allocated(allocations, f"d{i}", scheduling=distributed) for i in range(3)]
    assert [s.split("/")[0] for s in spread] == ["a-1", "a-1", "a-1"]
    # a-1 now holds 3 allocated servers, b-1 holds 4: Distributed still picks a-1.
    assert (await allocated(allocations, "d3", scheduling=distributed)).startswith("a-1/")


@pytest.mark.usefixtures("arena")
async def test_preferred_clusters_are_tried_first(
    hub: Hub, allocations: Stub, start_agent: StartAgent
) -> None:
    a, b, c = await start_agent("a-1"), await start_agent("b-1"), await start_agent("c-1")
    await serve(hub, a, 1, start=0)
    await serve(hub, b, 1, start=1)
    await serve(hub, c, 1, start=2)
    prefer = ["c-1", "b-1"]
    assert await allocated(allocations, "m1", preferred_clusters=prefer) == "c-1/arena-2"
    assert await allocated(allocations, "m2", preferred_clusters=prefer) == "b-1/arena-1"
    assert await allocated(allocations, "m3", preferred_clusters=prefer) == "a-1/arena-0"


@pytest.mark.usefixtures("arena")
async def test_an_agent_conflict_makes_the_hub_pick_another_server(
    hub: Hub, allocations: Stub, start_agent: StartAgent
) -> None:
    eu = await start_agent("eu-1")
    await serve(hub, eu, 2)
    # Someone else allocated arena-0 in the cluster; the agent has not reported it yet.
    taken = game_server("games", "arena", 0, ops_state="Allocated")
    eu.change_quietly(taken)
    assert await allocated(allocations, "m1") == "eu-1/arena-1"
    assert [list(op.game_servers) for op in eu.operations] == [["arena-0"], ["arena-1"]]
    error = await refused(allocations, request("m2"))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.usefixtures("arena")
async def test_a_server_written_but_answered_with_an_error_is_given_back_after_the_answer(
    hub: Hub, allocations: Stub, start_agent: StartAgent
) -> None:
    """The agent's write of arena-0 landed but its answer was an error (an API server that
    failed after the commit): the hub answers with arena-1, then gives arena-0 back, and only
    because it is Allocated for this request (the chaos run's stray allocations)."""
    eu = await start_agent("eu-1")
    await serve(hub, eu, 2)
    eu.lost_answers = 1
    assert await allocated(allocations, "m1") == "eu-1/arena-1"

    def ops_state(name: str) -> str:
        held = eu.reported[protocol.game_server_key("games", name)]
        assert isinstance(held, gameserver_pb2.GameServer)
        return held.ops_state

    await eu.wait_for(lambda: ops_state("arena-0") == "None", timeout=20)
    releases = [op for op in eu.operations if op.release_request_id]
    assert [(list(op.game_servers), op.release_request_id) for op in releases] == [
        (["arena-0"], "m1")
    ]
    assert ops_state("arena-1") == "Allocated"
    assert await allocated(allocations, "m2") == "eu-1/arena-0"
    assert await allocated(allocations, "m1") == "eu-1/arena-1"  # the answer holds


@pytest.mark.usefixtures("arena")
async def test_unknown_and_cordoned_clusters_are_skipped(
    hub: Hub,
    allocations: Stub,
    clusters: cluster_pb2_grpc.ClusterServiceAsyncStub,
    start_agent: StartAgent,
) -> None:
    silent, cordoned = await start_agent("silent-1"), await start_agent("cordoned-1")
    ok = await start_agent("ok-1")
    await serve(hub, silent, 3, start=0)
    await serve(hub, cordoned, 3, start=3)
    await serve(hub, ok, 1, start=6)
    silent.heartbeats = False
    await wait_phase(hub, "silent-1", "Unknown")
    await clusters.CordonCluster(cluster_pb2.ClusterRef(name="cordoned-1"))
    await wait_phase(hub, "cordoned-1", "Cordoned")
    assert await allocated(allocations, "m1") == "ok-1/arena-6"
    error = await refused(allocations, request("m2"))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert silent.operations == [] and cordoned.operations == []


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"namespace": ""}, "namespace"),
        ({"fleet": ""}, "fleet"),
        ({"request_id": ""}, "request_id"),
        ({"request_id": "x" * 129}, "request_id"),
        ({"labels": {"bad key!": "v"}}, 'labels["bad key!"]'),
        ({"labels": {"tier": "x" * 64}}, 'labels["tier"]'),
        ({"annotations": {"": "v"}}, 'annotations[""]'),
        (
            {"annotations": {protocol.ALLOCATION_REQUEST_ANNOTATION: "m0"}},
            f'annotations["{protocol.ALLOCATION_REQUEST_ANNOTATION}"]',
        ),
        ({"annotations": {"note": "x" * 300_000}}, "annotations"),
        ({"fleet": "Not_A_Name"}, "fleet"),
        ({"preferred_clusters": ["x" * 20_000]}, "preferred_clusters[0]"),
        ({"preferred_clusters": [""]}, "preferred_clusters[0]"),
        (
            {"selectors": [allocation_pb2.AllocationSelector(match_labels={"a b": "c"})]},
            'selectors[0].match_labels["a b"]',
        ),
        (
            {"selectors": [allocation_pb2.AllocationSelector(match_labels={"a": "b c"})]},
            'selectors[0].match_labels["a"]',
        ),
    ],
)
@pytest.mark.usefixtures("arena")
async def test_bad_fields_are_refused_naming_the_field(
    allocations: Stub, fields: dict[str, object], path: str
) -> None:
    message = request("m1")
    for name, value in fields.items():
        if isinstance(value, dict):
            getattr(message, name).update(value)
        elif isinstance(value, list):
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)
    error = await refused(allocations, message)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (error.details() or "").startswith(f"{path}:")


async def test_an_unknown_fleet_is_not_found(allocations: Stub) -> None:
    error = await refused(allocations, request("m1"))
    assert error.code() is grpc.StatusCode.NOT_FOUND
    assert "games/arena" in (error.details() or "")


async def test_records_older_than_ten_minutes_are_swept(hub: Hub) -> None:
    assert hub.store is not None
    registry = AllocationRegistry(hub.store)
    server = game_server("games", "arena", 0)
    await registry.save("games", "arena", "old", Allocation(server, time=1_000.0))
    await registry.save("games", "arena", "new", Allocation(server, time=1_500.0))
    assert await registry.sweep(now=1_000.0 + RETENTION_S + 1) == 1
    assert await registry.get("games", "arena", "old") is None
    kept = await registry.get("games", "arena", "new")
    assert kept is not None and kept.game_server.name == "arena-0"


@pytest.mark.usefixtures("arena")
async def test_the_cli_allocates_and_prints_the_address(
    hub: Hub, start_agent: StartAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    eu = await start_agent("eu-1")
    await serve(hub, eu, 1)
    argv = ["allocate", "-n", "games", "arena", "--request-id", "m1", "--hub"]
    argv += [f"127.0.0.1:{hub.port}", "--selector", "game.kruise.io/owner-gss=arena"]
    argv += ["--label", "match=m1", "--prefer", "eu-1", "-o", "json"]
    code = await asyncio.to_thread(cli_main.main, argv)
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["kind"] == "GameServerAllocation"
    assert printed["gameServer"]["name"] == "arena-0"
    assert printed["gameServer"]["opsState"] == "Allocated"
    assert printed["replayed"] is False
    code = await asyncio.to_thread(cli_main.main, [*argv[:-2], "-o", "table"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["CLUSTER", "NAMESPACE", "NAME", "OPSSTATE", "ADDRESS", "REPLAYED"]
    assert lines[1].split() == ["eu-1", "games", "arena-0", "Allocated", "-", "true"]


@pytest.mark.usefixtures("arena")
async def test_a_caller_that_gives_up_still_gets_its_server_on_retry(
    hub: Hub, allocations: Stub, start_agent: StartAgent
) -> None:
    eu = await start_agent("eu-1")
    await serve(hub, eu, 2)
    eu.allocation_delay = 0.5
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await allocations.Allocate(request("m1"), timeout=0.1)
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    await eu.wait_for(lambda: len(eu.operations) == 1)
    again = await allocations.Allocate(request("m1"))
    assert again.replayed
    assert again.game_server.name == eu.operations[0].game_servers[0]
    assert len(eu.operations) == 1


@pytest.mark.usefixtures("arena")
async def test_an_agent_that_goes_away_unanswered_never_makes_a_request_take_two_servers(
    hub: Hub, allocations: Stub, start_agent: StartAgent
) -> None:
    """The agent took the operation and its stream broke before it answered: it may hold the
    server, so the call fails retryably instead of moving on to a second server; the retry asks
    the same server's agent again."""
    eu = await start_agent("eu-1")
    await serve(hub, eu, 2)
    eu.allocation_delay = 5.0
    call = asyncio.ensure_future(allocations.Allocate(request("m1")))
    await eu.wait_for(lambda: len(eu.operations) == 1)
    await eu.cut()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "retry with the same request_id" in (caught.value.details() or "")
    chosen = eu.operations[0].game_servers[0]
    eu.allocation_delay = 0.0
    eu.reconnect = True
    await eu.start()
    again = await allocations.Allocate(request("m1"))
    assert again.game_server.name == chosen
    assert [o.game_servers[0] for o in eu.operations] == [chosen, chosen]


async def test_an_intent_nobody_retried_gives_its_server_back_when_it_expires(
    tmp_path: Path,
) -> None:
    """No caller was told of the server (the hub stopped before answering) and nobody retried:
    when the record expires the server is set back to opsState None. An answered allocation is
    never given back."""
    store = tmp_path / "hub.db"
    [agent], address, chosen = await _allocation_cut_by_a_hub_stop(store)
    hub = await start_hub(store, listen=address)
    try:
        await _hub_holds(hub, lambda servers: len(servers) == 3)  # resent on reconnect
        async with grpc.aio.insecure_channel(address) as channel:
            answered = await allocation_pb2_grpc.AllocationServiceStub(channel).Allocate(
                request("match-2")
            )
        allocator = hub.gate.allocator
        assert allocator is not None
        removed = await allocator.sweep(now=time.time() + RETENTION_S + 1)
        assert removed == 2
        released = [o for o in agent.operations if o.release_request_id]
        assert [(o.game_servers[0], o.release_request_id) for o in released] == [
            (chosen, "match-1")
        ]
        key = protocol.game_server_key("games", chosen)
        assert _ops_state(agent.reported[key]) == "None"
        kept = protocol.game_server_key("games", answered.game_server.name)
        assert _ops_state(agent.reported[kept]) == "Allocated"
        assert hub.gate.federation is not None
        assert hub.gate.federation.stats.allocations_released == 1
    finally:
        await agent.stop()
        await hub.stop(grace=0)


async def test_a_server_whose_record_is_lost_is_found_by_the_request_id_on_it(
    tmp_path: Path,
) -> None:
    """Without any record (lost, or written by an older hub), a retry finds the server by the
    request_id its agent stamped on it, once the agent has reported it."""
    store = tmp_path / "hub.db"
    [agent], address, chosen = await _allocation_cut_by_a_hub_stop(store)
    hub = await start_hub(store, listen=address)
    try:
        assert hub.store is not None
        await hub.store.delete(codec.allocation_key("games", "arena", "match-1"))
        await _hub_holds(hub, lambda servers: any(s.ops_state == "Allocated" for s in servers))
        async with grpc.aio.insecure_channel(address) as channel:
            again = await allocation_pb2_grpc.AllocationServiceStub(channel).Allocate(
                request("match-1")
            )
        assert again.replayed and again.game_server.name == chosen
        assert hub.gate.federation is not None
        assert hub.gate.federation.stats.allocations["recovered"] == 1
    finally:
        await agent.stop()
        await hub.stop(grace=0)
