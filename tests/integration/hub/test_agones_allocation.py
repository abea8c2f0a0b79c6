"""Agones' AllocationService (package allocation) on the hub: a client stub generated from
Agones' published proto allocates across simulated clusters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from agones.allocation import allocation_pb2, allocation_pb2_grpc
from gamefleet import protocol
from gamefleet.v1 import agent_pb2, fleet_pb2, fleet_pb2_grpc, gameserver_pb2
from google.protobuf import wrappers_pb2

from hub.api.server import Hub, HubConfig
from tests.support.agent_sim import SimulatedAgent, game_server

from .conftest import TEST_HEALTH, StartAgent, wait_held
from .fleet_docs import fleet

if TYPE_CHECKING:
    Stub = allocation_pb2_grpc.AllocationServiceAsyncStub

Request = allocation_pb2.AllocationRequest
Selector = allocation_pb2.GameServerSelector


@pytest.fixture
def agones(channel: grpc.aio.Channel) -> Stub:
    return allocation_pb2_grpc.AllocationServiceStub(channel)


@pytest.fixture
async def fleets_applied(fleets: fleet_pb2_grpc.FleetServiceAsyncStub) -> None:
    for name in ("arena", "lobby"):
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(name, replicas=0)))


def network_status(ordinal: int) -> dict[str, Any]:
    return {
        "currentNetworkState": "Ready",
        "externalAddresses": [
            {"ip": "203.0.113.7", "ports": [{"name": "game", "port": 7000 + ordinal}]}
        ],
        "internalAddresses": [
            {"ip": f"10.0.0.{ordinal + 1}", "ports": [{"name": "game", "port": 7777}]}
        ],
    }


async def serve(
    hub: Hub, agent: SimulatedAgent, fleet_name: str, count: int, **labels: str
) -> None:
    """Have ``agent`` report ``count`` Ready servers of ``fleet_name``; wait for the hub."""
    reported: list[gameserver_pb2.GameServer] = []
    for ordinal in range(count):
        server = game_server("games", fleet_name, ordinal)
        server.node = f"{agent.cluster}-node"
        server.labels.update(labels)
        server.network_status.update(network_status(ordinal))
        reported.append(server)
    agent.report(agent_pb2.StatusDelta(game_servers=reported))
    await wait_held(hub, agent.cluster, fleet_name, {s.name for s in reported})


def selector(fleet_name: str | None = "arena", **labels: str) -> Selector:
    if fleet_name is not None:
        labels["agones.dev/fleet"] = fleet_name
    return Selector(matchLabels=labels)


async def refused(stub: Stub, message: Request) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Allocate(message)
    return caught.value


@pytest.mark.usefixtures("fleets_applied")
async def test_allocates_across_two_clusters_with_agones_fields(
    hub: Hub, agones: Stub, start_agent: StartAgent
) -> None:
    eu = await start_agent("eu-1")
    us = await start_agent("us-1")
    await serve(hub, eu, "arena", 1)
    await serve(hub, us, "arena", 1)
    got = []
    for match in ("m1", "m2"):
        response = await agones.Allocate(
            Request(
                namespace="games",
                gameServerSelectors=[selector()],
                scheduling=Request.Distributed,
                metadata=allocation_pb2.MetaPatch(
                    labels={"match": match}, annotations={"players": "8"}
                ),
                multiClusterSetting=allocation_pb2.MultiClusterSetting(enabled=True),
            )
        )
        got.append(response)
    assert sorted(r.source for r in got) == ["eu-1", "us-1"]
    for response in got:
        assert response.gameServerName == "arena-0"
        assert response.nodeName == f"{response.source}-node"
        assert response.address == "203.0.113.7"
        assert [(p.name, p.port) for p in response.ports] == [("game", 7000)]
        assert [(a.type, a.address) for a in response.addresses] == [
            ("ExternalIP", "203.0.113.7"),
            ("InternalIP", "10.0.0.1"),
        ]
        assert response.metadata.annotations["players"] == "8"
        assert response.metadata.annotations[protocol.ALLOCATION_REQUEST_ANNOTATION].startswith(
            "agones-"
        )
    assert {r.metadata.labels["match"] for r in got} == {"m1", "m2"}
    for agent in (eu, us):
        [operation] = agent.operations
        assert operation.require_ready_unallocated
        assert operation.patch.ops_state == "Allocated"
        assert operation.labels["match"] in ("m1", "m2")
        assert operation.annotations["players"] == "8"
    error = await refused(agones, Request(namespace="games", gameServerSelectors=[selector()]))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "games/arena" in (error.details() or "")


@pytest.mark.usefixtures("fleets_applied")
async def test_selectors_in_order_labels_then_the_next_fleet(
    hub: Hub, agones: Stub, start_agent: StartAgent
) -> None:
    """The first selector matching a candidate wins; an exhausted fleet passes to the next."""
    eu = await start_agent("eu-1")
    await serve(hub, eu, "arena", 2, version="v2")
    await serve(hub, eu, "lobby", 1)
    ordered = [selector(version="v3"), selector(version="v2"), selector("lobby")]
    first = await agones.Allocate(Request(namespace="games", gameServerSelectors=ordered))
    second = await agones.Allocate(Request(namespace="games", gameServerSelectors=ordered))
    third = await agones.Allocate(Request(namespace="games", gameServerSelectors=ordered))
    assert [first.gameServerName, second.gameServerName] == ["arena-0", "arena-1"]
    assert first.metadata.labels["version"] == "v2"
    assert third.gameServerName == "lobby-0"
    # The deprecated fields, as Agones converts them: preferred first, then required.
    error = await refused(
        agones,
        Request(
            namespace="games",
            requiredGameServerSelector=selector("lobby"),
            preferredGameServerSelectors=[selector(version="v2")],
        ),
    )
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "fleet games/arena or fleet games/lobby" in (error.details() or "")


@pytest.mark.usefixtures("fleets_applied")
@pytest.mark.parametrize(
    ("message", "field"),
    [
        (Request(gameServerSelectors=[selector()]), "namespace: is required"),
        (Request(namespace="games"), "gameServerSelectors: is required"),
        (
            Request(namespace="games", gameServerSelectors=[selector(), selector(None, a="b")]),
            'gameServerSelectors[1].matchLabels["agones.dev/fleet"]: is required',
        ),
        (
            Request(namespace="games", gameServerSelectors=[selector("Bad_Fleet")]),
            'gameServerSelectors[0].matchLabels["agones.dev/fleet"]: ',
        ),
        (
            Request(namespace="games", gameServerSelectors=[selector(**{"a b": "c"})]),
            'gameServerSelectors[0].matchLabels["a b"]: ',
        ),
        (
            Request(
                namespace="games",
                gameServerSelectors=[
                    Selector(
                        matchLabels={"agones.dev/fleet": "arena"},
                        gameServerState=7,  # type: ignore[arg-type]
                    )
                ],
            ),
            "gameServerSelectors[0].gameServerState: unknown value 7",
        ),
        (
            Request(
                namespace="games",
                gameServerSelectors=[
                    Selector(
                        matchLabels={"agones.dev/fleet": "arena"},
                        counters={
                            "rooms": allocation_pb2.CounterSelector(minAvailable=2, maxAvailable=1)
                        },
                    )
                ],
            ),
            'gameServerSelectors[0].counters["rooms"].maxAvailable: ',
        ),
        (
            Request(
                namespace="games",
                gameServerSelectors=[
                    Selector(
                        matchLabels={"agones.dev/fleet": "arena"},
                        lists={"players": allocation_pb2.ListSelector(minAvailable=-1)},
                    )
                ],
            ),
            'gameServerSelectors[0].lists["players"].minAvailable: ',
        ),
        (
            Request(
                namespace="games",
                gameServerSelectors=[selector()],
                lists={"players": allocation_pb2.ListAction(addValues=[""])},
            ),
            'lists["players"].addValues[0]: ',
        ),
        (
            Request(
                namespace="games",
                gameServerSelectors=[selector()],
                priorities=[allocation_pb2.Priority(key="rooms")],
            ),
            "priorities: not supported",
        ),
        (
            Request(
                namespace="games",
                gameServerSelectors=[selector()],
                metadata=allocation_pb2.MetaPatch(labels={"match": "not valid!"}),
            ),
            'metadata.labels["match"]: ',
        ),
        (
            Request(
                namespace="games",
                gameServerSelectors=[selector()],
                metaPatch=allocation_pb2.MetaPatch(
                    annotations={protocol.ALLOCATION_REQUEST_ANNOTATION: "x"}
                ),
            ),
            f'metaPatch.annotations["{protocol.ALLOCATION_REQUEST_ANNOTATION}"]: ',
        ),
        (
            Request(
                namespace="games",
                gameServerSelectors=[selector()],
                counters={
                    "rooms": allocation_pb2.CounterAction(
                        action=wrappers_pb2.StringValue(value="Add"),
                        amount=wrappers_pb2.Int64Value(value=1),
                    )
                },
            ),
            'counters["rooms"].action: must be Increment or Decrement',
        ),
        (
            Request(namespace="games", gameServerSelectors=[selector()], scheduling=7),  # type: ignore[arg-type]
            "scheduling: unknown value 7",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
async def test_bad_input_is_refused_naming_the_agones_field(
    hub: Hub, agones: Stub, start_agent: StartAgent, message: Request, field: str
) -> None:
    eu = await start_agent("eu-1")
    await serve(hub, eu, "arena", 1)
    error = await refused(agones, message)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (error.details() or "").startswith(field), error.details()
    assert eu.operations == []


@pytest.fixture
async def hub_with_tokens(tmp_path: Path) -> AsyncIterator[Hub]:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text("s3cret,alice\n")
    hub = Hub(
        HubConfig(
            store_url=f"sqlite:///{tmp_path / 'hub.db'}",
            listen="127.0.0.1:0",
            health=TEST_HEALTH,
            token_file=tokens,
            insecure=True,
        )
    )
    await hub.start()
    await hub.wait_until_leading()
    yield hub
    await hub.stop(grace=0)


async def test_needs_the_bearer_token_of_the_user_api(hub_with_tokens: Hub) -> None:
    message = Request(namespace="games", gameServerSelectors=[selector()])
    async with grpc.aio.insecure_channel(f"127.0.0.1:{hub_with_tokens.port}") as channel:
        stub: Stub = allocation_pb2_grpc.AllocationServiceStub(channel)
        error = await refused(stub, message)
        assert error.code() is grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Allocate(message, metadata=(("authorization", "Bearer s3cret"),))
        # Past the token: no fleet arena in the store, answered as Agones answers no server.
        assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


def by_room(fleet_name: str, state: int) -> Selector:
    return Selector(
        matchLabels={"agones.dev/fleet": fleet_name},
        gameServerState=state,  # type: ignore[arg-type]
        counters={"rooms": allocation_pb2.CounterSelector(minAvailable=1)},
    )


async def test_counters_and_reallocation_through_agones_fill_a_server_to_capacity(
    hub: Hub, agones: Stub, start_agent: StartAgent, fleets_applied: None
) -> None:
    eu = await start_agent("eu-1")
    reported = []
    for ordinal in range(2):
        server = game_server("games", "arena", ordinal)
        server.counters["rooms"].CopyFrom(gameserver_pb2.CounterStatus(count=0, capacity=2))
        reported.append(server)
    eu.report(agent_pb2.StatusDelta(game_servers=reported))
    async with asyncio.timeout(5):
        while True:
            federation = hub.gate.federation
            if federation is not None and len(federation.fleet_servers("games", "arena")) == 2:
                break
            await asyncio.sleep(0.01)
    message = Request(
        namespace="games",
        gameServerSelectors=[
            by_room("arena", Selector.ALLOCATED),
            by_room("arena", Selector.READY),
        ],
        counters={
            "rooms": allocation_pb2.CounterAction(
                action=wrappers_pb2.StringValue(value="Increment"),
                amount=wrappers_pb2.Int64Value(value=1),
            )
        },
    )
    answers = [await agones.Allocate(message) for _ in range(4)]
    names = [a.gameServerName for a in answers]
    assert names[0] == names[1] and names[2] == names[3] and names[0] != names[2]
    assert [a.counters["rooms"].count.value for a in answers] == [1, 2, 1, 2]
    assert answers[0].counters["rooms"].capacity.value == 2
    error = await refused(agones, message)
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "with room" in (error.details() or "")
