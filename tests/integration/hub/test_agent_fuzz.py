"""Fuzz the agent stream: one cluster's agent sends random, malformed and oversized hellos,
status deltas, heartbeats and operation results; the hub stays healthy and nothing of the
other clusters changes.

Two fleets: "arena" selects the two honest clusters only, so its shares must stay 3 and 3
exactly; "open" (12 replicas) selects every cluster, so a rogue that heartbeats its way to
Ready takes its share (4 of 12, kept while it is silent again) but never more: the honest
clusters keep 4 each at least, and its counts must not break the fleet's status.

Seeded (``derandomize``) and bounded: the same 60 examples per property each run, about 10 s
in all. Every example ends with the hub's health SERVING, the other clusters' fleet shares,
servers and phases as they were, the public calls answering, and — when the hub ended the
rogue's stream — a status naming the field. ``-s`` prints the tally of messages and outcomes.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from gamefleet.v1 import (
    agent_pb2,
    cluster_pb2,
    cluster_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    gameserver_pb2,
    gameserver_pb2_grpc,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.api.server import Hub
from hub.federation.federation import Federation
from hub.federation.live_servers import ServerFilter
from tests.support.agent_sim import SimulatedAgent, game_server, set_status

from .conftest import TEST_HEALTH, start_hub, wait_phase
from .fleet_docs import fleet

REF = fleet_pb2.FleetRef(namespace="games", name="arena")
OPEN = fleet_pb2.FleetRef(namespace="games", name="open")
# Where a refusal's status must start: the field of the message it names.
FIELDS = ("hello", "heartbeat", "status", "operation_result")
FUZZ = settings(
    max_examples=60,
    derandomize=True,
    deadline=datetime.timedelta(seconds=5),
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    database=None,
)

# -- strategies ---------------------------------------------------------------------------------

NAMES = st.one_of(
    st.sampled_from(["games", "arena", "open", "arena-0", "eu-1", "us-1", "lobby", "a.b"]),
    st.sampled_from(["", "Bad_Name", "x" * 64, "y" * 300, "a/b", "nul\x00l", "é"]),
    st.text(max_size=12),
)
NAMES_OK = st.sampled_from(["eu", "aws", "a-b.c_d", ""])
WORDS = st.one_of(
    st.sampled_from(["Ready", "NotReady", "Allocated", "None", "Maintaining", "Weird"]),
    st.text(max_size=12),
    st.just("s" * 100),
)
COUNTS = st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.sampled_from([0, 1, 3, 6, 100_000, 2**31 - 10, 2**31 - 1, -1]),
)
BLOBS = st.one_of(st.just(""), st.text(max_size=30), st.just("b" * 20_000))


@st.composite
def capacities(draw: st.DrawFn) -> cluster_pb2.ClusterCapacity:
    return cluster_pb2.ClusterCapacity(
        nodes=draw(COUNTS),
        cpu=draw(st.one_of(st.just("8"), st.text(max_size=8), st.just("9" * 100_000))),
        memory=draw(st.one_of(st.just("32Gi"), st.text(max_size=8))),
        pods=draw(st.one_of(st.integers(-(2**63), 2**63 - 1), st.just(110))),
    )


@st.composite
def hellos(draw: st.DrawFn) -> agent_pb2.AgentHello:
    """A hello of the rogue cluster, valid (about half of them) or with one field beyond the
    limits; valid ones claim fleets with any replicas."""
    defects = ["cluster", "labels", "version", "plugins", "capacity", "held_sets", "many"]
    defect = draw(st.one_of(st.none(), st.sampled_from(defects)))
    hello = agent_pb2.AgentHello(
        cluster="zz-rogue"
        if defect != "cluster"
        else draw(st.sampled_from(["Bad_Name", "r" * 64])),
        agent_version="v" * 70 if defect == "version" else draw(st.text(max_size=8)),
        network_plugins=draw(st.lists(st.just("Kubernetes-HostPort"), max_size=2)),
    )
    labels = st.dictionaries(st.sampled_from(["region", "cloud", "example.com/zone"]), NAMES_OK)
    hello.labels.update(
        draw(
            st.dictionaries(NAMES, NAMES, max_size=3, min_size=1) if defect == "labels" else labels
        )
    )
    if defect == "many":
        hello.labels.update({f"k{i}": "v" for i in range(draw(st.sampled_from([65, 40_000])))})
    if defect == "plugins":
        hello.network_plugins.extend(draw(st.sampled_from([["p" * 64], ["p"] * 33])))
    if defect == "capacity":
        hello.capacity.CopyFrom(draw(capacities()))
    else:
        hello.capacity.nodes = draw(st.integers(0, 1000))
    for _ in range(draw(st.integers(0, 3))):
        hello.held_sets.add(
            namespace="games",
            name=draw(st.sampled_from(["arena", "open", "lobby"])),
            hash="claimed",
            replicas=draw(st.one_of(st.integers(0, 100_000), st.just(100_000))),
            version=draw(st.integers(0, 5)),
        )
    if defect == "held_sets":
        hello.held_sets.add(
            namespace=draw(NAMES),
            name=draw(NAMES),
            hash=draw(st.one_of(st.just("claimed"), st.just("h" * 200))),
            replicas=draw(COUNTS),
        )
    return hello


@st.composite
def game_servers(draw: st.DrawFn) -> gameserver_pb2.GameServer:
    server = game_server(
        draw(st.one_of(st.just("games"), NAMES)),
        "arena",
        draw(st.integers(0, 3)),
        state=draw(WORDS),
        ops_state=draw(WORDS),
    )
    if draw(st.booleans()):
        server.name = draw(NAMES)
    server.fleet = draw(st.one_of(st.just("arena"), NAMES))
    server.deleted = draw(st.booleans())
    server.cluster = draw(st.sampled_from(["", "eu-1", "us-1"]))
    server.allocation_request_id = draw(st.one_of(st.just(""), st.just("match-1"), WORDS))
    server.labels.update(draw(st.dictionaries(NAMES, NAMES, max_size=3)))
    blob = draw(BLOBS)
    if blob:
        server.network_status.update({"blob": blob})
    for _ in range(draw(st.integers(0, 2))):
        server.quality_conditions.add().update({"name": draw(NAMES), "result": draw(BLOBS)})
    return server


@st.composite
def set_statuses(draw: st.DrawFn) -> agent_pb2.GameServerSetStatus:
    status = agent_pb2.GameServerSetStatus(
        namespace=draw(st.one_of(st.just("games"), NAMES)),
        name=draw(st.one_of(st.sampled_from(["arena", "open"]), NAMES)),
        applied_hash=draw(st.one_of(st.just(""), st.just("h" * 200))),
        desired_replicas=draw(COUNTS),
        held_back=draw(COUNTS),
        deleted=draw(st.booleans()),
    )
    for field in ("replicas", "ready", "allocated", "updated", "updated_ready"):
        setattr(status.counts, field, draw(COUNTS))
    return status


@st.composite
def messages(draw: st.DrawFn) -> agent_pb2.AgentMessage:
    kind = draw(st.sampled_from(["heartbeat", "status", "status", "result", "hello", "big"]))
    if kind == "heartbeat":
        beat = agent_pb2.Heartbeat()
        if draw(st.booleans()):
            beat.capacity.CopyFrom(draw(capacities()))
        return agent_pb2.AgentMessage(heartbeat=beat)
    if kind == "status":
        delta = agent_pb2.StatusDelta(
            sets=draw(st.lists(set_statuses(), max_size=3)),
            game_servers=draw(st.lists(game_servers(), max_size=4)),
            complete=draw(st.booleans()),
        )
        return agent_pb2.AgentMessage(status=delta)
    if kind == "big":
        count = draw(st.sampled_from([5_001, 200]))
        servers = [game_server("games", "flood", i) for i in range(count)]
        return agent_pb2.AgentMessage(status=agent_pb2.StatusDelta(game_servers=servers))
    if kind == "result":
        result = agent_pb2.OperationResult(
            id=draw(st.one_of(st.sampled_from([f"op-{i}" for i in range(1, 40)]), NAMES)),
            updated=draw(st.lists(NAMES, max_size=3)),
            conflicts=draw(st.lists(NAMES, max_size=2)),
        )
        result.errors.update(draw(st.dictionaries(NAMES, BLOBS, max_size=2)))
        return agent_pb2.AgentMessage(operation_result=result)
    return agent_pb2.AgentMessage(hello=draw(hellos()))


# -- the world: two well-behaved clusters holding a fleet ----------------------------------------


@dataclasses.dataclass
class World:
    hub: Hub
    channel: grpc.aio.Channel
    honest: list[SimulatedAgent]
    baseline: dict[str, Any]
    tally: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    markers: int = 0

    @property
    def federation(self) -> Federation:
        federation = self.hub.gate.federation
        assert federation is not None
        return federation


def _holding(agent: SimulatedAgent, name: str, replicas: int) -> Callable[[], bool]:
    return lambda: agent.replicas("games", name) == replicas


async def _observed(channel: grpc.aio.Channel) -> dict[str, Any]:
    """What the other clusters look like from the public API; every call must answer."""
    fleets = fleet_pb2_grpc.FleetServiceStub(channel)
    servers = gameserver_pb2_grpc.GameServerServiceStub(channel)
    clusters = cluster_pb2_grpc.ClusterServiceStub(channel)
    status = (await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))).status
    shares = {c.cluster: c.desired_replicas for c in status.clusters}
    listed = await fleets.ListFleets(fleet_pb2.ListFleetsRequest())
    assert [f.metadata.name for f in listed.fleets] == ["arena", "open"]
    opened = (await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=OPEN))).status
    honest_open = {
        c.cluster: c.desired_replicas for c in opened.clusters if "rogue" not in c.cluster
    }
    assert honest_open["eu-1"] == honest_open["us-1"] >= 4, honest_open
    assert opened.counts.ready <= 2**31 - 1
    honest: dict[str, list[bytes]] = {}
    for name in ("eu-1", "us-1"):
        page = await servers.ListGameServers(gameserver_pb2.ListGameServersRequest(cluster=name))
        honest[name] = [s.SerializeToString(deterministic=True) for s in page.game_servers]
    phases = {
        c.metadata.name: c.status.phase
        for c in (await clusters.ListClusters(cluster_pb2.ListClustersRequest())).clusters
        if c.metadata.name in ("eu-1", "us-1")
    }
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "gamefleet.v1.FleetService", "gamefleet.v1.AgentService"):
        answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    return {"shares": shares, "servers": honest, "phases": phases}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    # A patient grace: the honest clusters must not flap while the machine is loaded.
    hub = await start_hub(tmp_path / "hub.db", health=dataclasses.replace(TEST_HEALTH, grace=5.0))
    address = f"127.0.0.1:{hub.port}"
    honest = [
        SimulatedAgent(address, name, {"tier": "prod"}, heartbeat_interval=0.2)
        for name in ("eu-1", "us-1")
    ]
    channel = grpc.aio.insecure_channel(address)
    try:
        for agent in honest:
            await agent.start()
            await wait_phase(hub, agent.cluster, "Ready")
        fleets = fleet_pb2_grpc.FleetServiceStub(channel)
        # The fleet selects the honest clusters: a rogue that heartbeats is a Ready member, and
        # its own share of a fleet that selected it would be placement, not harm.
        selected = fleet(
            replicas=6, placement={"clusterSelector": {"matchLabels": {"tier": "prod"}}}
        )
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=selected))
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet("open", replicas=12)))
        for agent in honest:
            await agent.wait_for(_holding(agent, "arena", 3))
            await agent.wait_for(_holding(agent, "open", 6))
            agent.report(
                agent_pb2.StatusDelta(
                    sets=[
                        set_status(agent.sets[("games", "arena")], ready=3, allocated=1),
                        set_status(agent.sets[("games", "open")], ready=6),
                    ],
                    game_servers=[game_server("games", "arena", i) for i in range(3)],
                )
            )
        world = World(hub, channel, honest, {})
        async with asyncio.timeout(10):
            while True:
                world.baseline = await _observed(channel)
                if all(len(s) == 3 for s in world.baseline["servers"].values()):
                    break
                await asyncio.sleep(0.02)
        assert world.baseline["shares"] == {"eu-1": 3, "us-1": 3}
        yield world
        print(f"\nagent fuzz tally: {json.dumps(dict(sorted(world.tally.items())))}")
    finally:
        for agent in honest:
            await agent.stop()
        await channel.close(None)
        await hub.stop(grace=0)


async def _play(
    world: World, hello: agent_pb2.AgentHello, sent: list[agent_pb2.AgentMessage]
) -> None:
    """Run one rogue stream, then check the world is as it was."""
    world.markers += 1
    marker = game_server("games", f"marker-{world.markers}", 0)
    refused_before = _refused(world)
    rogue = SimulatedAgent(f"127.0.0.1:{world.hub.port}", hello.cluster)
    rogue.hello = hello
    rogue.heartbeats = False
    await rogue.start()
    for message in sent:
        rogue.send(message)
    rogue.send(agent_pb2.AgentMessage(status=agent_pb2.StatusDelta(game_servers=[marker])))
    world.tally["messages: hellos"] += 1
    world.tally["messages: after the hello (fuzzed)"] += len(sent)
    world.tally["entries in those status deltas"] += sum(
        len(m.status.sets) + len(m.status.game_servers) for m in sent
    )

    def marked() -> bool:
        found = _servers_held(world.federation, cluster=hello.cluster, fleet=marker.fleet)
        return bool(found)

    try:
        async with asyncio.timeout(10):
            while True:
                if rogue.error is not None or marked():
                    break
                await asyncio.sleep(0.01)
        error = rogue.error  # before stop(), which cancels the stream
    finally:
        await rogue.stop()
    refused = _refused(world) - refused_before
    if error is None:
        world.tally["stream: kept (marker taken)"] += 1
        assert not refused
    else:
        assert isinstance(error, grpc.aio.AioRpcError)
        code, details = error.code(), error.details() or ""
        assert sum(refused.values()) == 1, (refused, code, details)
        if (code, details) == (grpc.StatusCode.INTERNAL, "Internal error from Core"):
            # The hub ended the stream while the client was still writing a large message:
            # gRPC's transport may then hand the client INTERNAL instead of the hub's status
            # (which ``refused`` shows, with its field).
            world.tally["stream: INTERNAL at the client (hub refused mid-write)"] += 1
        else:
            assert code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)
            field = details.partition(":")[0]
            assert field.startswith(FIELDS) and " " not in field, details
            assert set(refused) == {re.sub(r"\[\d+\]", "", field)}
            world.tally[f"stream: {code.name} {field.split('[')[0].split('.')[0]}"] += 1
    for (field, action), count in world.federation.stats.agent_refusals.items():
        world.tally[f"refusals so far: {action} {field}"] = count
    assert await _observed(world.channel) == world.baseline


def _refused(world: World) -> collections.Counter[str]:
    """Streams the hub has refused so far, by field."""
    return collections.Counter(
        {
            field: count
            for (field, action), count in world.federation.stats.agent_refusals.items()
            if action == "refused"
        }
    )


@FUZZ
@given(hello=hellos())
async def test_random_hellos_change_nothing_of_the_other_clusters(
    world: World, hello: agent_pb2.AgentHello
) -> None:
    if hello.cluster == "zz-rogue":
        # A new cluster each time: one that never becomes Ready, whose claims are all it says.
        hello.cluster = f"zz-rogue-{world.markers}"
    await _play(world, hello, [])


@FUZZ
@given(sent=st.lists(messages(), min_size=1, max_size=6))
async def test_random_agent_messages_change_nothing_of_the_other_clusters(
    world: World, sent: list[agent_pb2.AgentMessage]
) -> None:
    hello = agent_pb2.AgentHello(cluster="zz-rogue", agent_version="0.1.0")
    for name in ("arena", "open"):
        hello.held_sets.add(namespace="games", name=name, hash="claimed", replicas=100_000)
    await _play(world, hello, sent)


def _servers_held(
    federation: Federation, cluster: str = "", fleet: str = ""
) -> list[gameserver_pb2.GameServer]:
    """The servers the hub holds (of one cluster, one fleet), decoded."""
    wanted = ServerFilter(cluster=cluster, fleet=fleet)
    return [s.decode() for s in federation.matching_servers(wanted)]
