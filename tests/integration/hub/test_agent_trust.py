"""No cluster can hurt another: what one agent sends changes its own cluster's live state only.

Hub ↔ simulated agents over loopback gRPC. Each scenario has a misbehaving agent (a claim it
cannot back, counts near int32 max, oversized labels or capacity, entries beyond the limits)
next to well-behaved ones, and checks that the others' shares, servers and phases are as they
were and that the public API still answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
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

from hub import store as store_factory
from hub.api.server import Hub, HubConfig
from hub.core import agent_limits, documents, limits
from hub.federation.federation import Federation
from hub.federation.live_servers import ServerFilter
from hub.registry import codec
from tests.support.agent_sim import SimulatedAgent, game_server, set_status
from tests.support.hub_process import run_cli

from .conftest import TEST_HEALTH, StartAgent, start_hub, wait_phase
from .fleet_docs import fleet, fleet_document

REF = fleet_pb2.FleetRef(namespace="games", name="arena")
MiB = 2**20


def _federation(hub: Hub) -> Federation:
    federation = hub.gate.federation
    assert federation is not None
    return federation


def _rogue(hub: Hub, hello: agent_pb2.AgentHello) -> SimulatedAgent:
    """An agent that sends ``hello`` and then only what the test sends (no heartbeats)."""
    agent = SimulatedAgent(f"127.0.0.1:{hub.port}", hello.cluster, heartbeat_interval=0.2)
    agent.hello = hello
    agent.heartbeats = False
    return agent


async def _ended(agent: SimulatedAgent) -> grpc.aio.AioRpcError:
    """The status the hub ended ``agent``'s stream with."""
    await agent.wait_for(lambda: agent.error is not None)
    assert isinstance(agent.error, grpc.aio.AioRpcError)
    return agent.error


def _holding(agent: SimulatedAgent, replicas: int, name: str = "arena") -> Callable[[], bool]:
    return lambda: agent.replicas("games", name) == replicas


def _replicas_sent(agent: SimulatedAgent, since: int, name: str = "arena") -> list[int]:
    """spec.replicas of every desired set ``name`` the agent received from message ``since``."""
    return [
        int(entry.spec.fields["replicas"].number_value)
        for message in agent.received[since:]
        if message.HasField("desired")
        for entry in message.desired.sets
        if entry.name == name and not entry.deleted
    ]


async def _shares(fleets: fleet_pb2_grpc.FleetServiceAsyncStub) -> dict[str, int]:
    status = (await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))).status
    return {c.cluster: c.desired_replicas for c in status.clusters}


async def _two_clusters_of_three(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> tuple[SimulatedAgent, SimulatedAgent]:
    eu, us = await start_agent("eu-1"), await start_agent("us-1")
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=6)))
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 3)
    await us.wait_for(lambda: us.replicas("games", "arena") == 3)
    return eu, us


async def _processed(
    agent: SimulatedAgent,
    game_servers: gameserver_pb2_grpc.GameServerServiceAsyncStub,
    marker: str = "marker",
) -> None:
    """Send a marker server after what the agent sent; return once the hub lists it (a
    stream's messages are taken in order, so everything before it was taken too)."""
    agent.report(agent_pb2.StatusDelta(game_servers=[game_server("games", marker, 0)]))
    async with asyncio.timeout(10):
        while True:
            listed = await game_servers.ListGameServers(
                gameserver_pb2.ListGameServersRequest(cluster=agent.cluster, fleet=marker)
            )
            if listed.game_servers:
                return
            await asyncio.sleep(0.02)


# -- 1. claims ---------------------------------------------------------------------------------


async def test_a_silent_newcomer_claiming_a_fleet_takes_nothing_from_ready_clusters(
    hub: Hub, fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> None:
    eu, us = await _two_clusters_of_three(fleets, start_agent)
    since = {agent.cluster: len(agent.received) for agent in (eu, us)}
    hello = agent_pb2.AgentHello(cluster="aa-new", agent_version="rogue")
    hello.held_sets.add(namespace="games", name="arena", hash="claimed", replicas=100_000)
    rogue = _rogue(hub, hello)
    await rogue.start()
    try:
        await rogue.wait_for(lambda: rogue.hashes_received_at > 0)
        # The hub places the fleet again with the claim in view; the rogue stays silent.
        await fleets.ScaleFleet(fleet_pb2.ScaleFleetRequest(ref=REF, replicas=8))
        await eu.wait_for(lambda: eu.replicas("games", "arena") == 4)
        await us.wait_for(lambda: us.replicas("games", "arena") == 4)
        assert await _shares(fleets) == {"eu-1": 4, "us-1": 4}
        for agent in (eu, us):
            assert min(_replicas_sent(agent, since[agent.cluster])) >= 3
    finally:
        await rogue.stop()


async def test_a_newcomer_on_its_way_to_ready_never_scales_the_others_down_first(
    hub: Hub, fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> None:
    eu, us = await _two_clusters_of_three(fleets, start_agent)
    since = {agent.cluster: len(agent.received) for agent in (eu, us)}
    newcomer = SimulatedAgent(f"127.0.0.1:{hub.port}", "ap-1", heartbeat_interval=0.2)
    held = agent_pb2.DesiredSet(namespace="games", name="arena", version=1, hash="older")
    held.spec.update({"replicas": 6})
    newcomer.sets = {("games", "arena"): held}
    await newcomer.start()
    try:
        await wait_phase(hub, "ap-1", "Ready")
        await newcomer.wait_for(lambda: newcomer.replicas("games", "arena") == 2)
        await eu.wait_for(lambda: eu.replicas("games", "arena") == 2)
        await us.wait_for(lambda: us.replicas("games", "arena") == 2)
        for agent in (eu, us):
            assert _replicas_sent(agent, since[agent.cluster]) == [2]
    finally:
        await newcomer.stop()


async def _forget_assignments(store_path: Path) -> None:
    store = await store_factory.open_store(f"sqlite:///{store_path}")
    try:
        items, _ = await store.list(codec.ASSIGNMENTS_PREFIX)
        assert items, "the first hub wrote an assignment record"
        for item in items:
            await store.delete(item.key)
    finally:
        await store.close()


async def test_after_a_restart_without_a_record_claims_move_nothing_and_cannot_be_inflated(
    tmp_path: Path,
) -> None:
    """Claims exist so that a hub restart without a stored assignment moves nothing; a
    registered cluster whose agent claims the whole fleet and goes silent takes nothing."""
    hub = await start_hub(tmp_path / "hub.db")
    address = f"127.0.0.1:{hub.port}"
    agents = [SimulatedAgent(address, name, heartbeat_interval=0.2) for name in ("eu-1", "us-1")]
    rogue: SimulatedAgent | None = None
    try:
        for agent in agents:
            await agent.start()
        async with grpc.aio.insecure_channel(address) as channel:
            registry = cluster_pb2_grpc.ClusterServiceStub(channel)
            registration = cluster_pb2.Cluster()
            registration.metadata.name = "aa-rogue"
            await registry.RegisterCluster(cluster_pb2.RegisterClusterRequest(cluster=registration))
            await fleet_pb2_grpc.FleetServiceStub(channel).ApplyFleet(
                fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=6))
            )
        for agent in agents:
            await agent.wait_for(_holding(agent, 3))
        held = {agent.cluster: dict(agent.sets) for agent in agents}
        for agent in agents:
            await agent.stop()
        await hub.stop(grace=0)
        await _forget_assignments(tmp_path / "hub.db")

        patient = dataclasses.replace(TEST_HEALTH, grace=10.0)
        hub = await start_hub(tmp_path / "hub.db", health=patient)
        address = f"127.0.0.1:{hub.port}"
        hello = agent_pb2.AgentHello(cluster="aa-rogue")
        hello.held_sets.add(namespace="games", name="arena", hash="claimed", replicas=6)
        rogue = _rogue(hub, hello)
        await rogue.start()
        await rogue.wait_for(lambda: rogue is not None and rogue.hashes_received_at > 0)
        agents = [SimulatedAgent(address, name, heartbeat_interval=0.2) for name in held]
        for agent in agents:
            agent.sets = dict(held[agent.cluster])
            await agent.start()
        for agent in agents:
            await wait_phase(hub, agent.cluster, "Ready")
        async with grpc.aio.insecure_channel(address) as channel:
            stub = fleet_pb2_grpc.FleetServiceStub(channel)
            # A later change is placed with every claim in view.
            await stub.ScaleFleet(fleet_pb2.ScaleFleetRequest(ref=REF, replicas=8))
            for agent in agents:
                await agent.wait_for(_holding(agent, 4))
            assert await _shares(stub) == {"eu-1": 4, "us-1": 4}
        for agent in agents:
            assert _replicas_sent(agent, 0) == [4]
    finally:
        for agent in agents:
            await agent.stop()
        if rogue is not None:
            await rogue.stop()
        await hub.stop(grace=0)


# -- 2. counts near int32 max ------------------------------------------------------------------


async def test_set_counts_near_int32_max_are_dropped_and_fleet_reads_keep_answering(
    hub: Hub,
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
    game_servers: gameserver_pb2_grpc.GameServerServiceAsyncStub,
    start_agent: StartAgent,
) -> None:
    eu, us = await _two_clusters_of_three(fleets, start_agent)
    for agent in (eu, us):
        agent.report(agent_pb2.StatusDelta(sets=[set_status(agent.sets[("games", "arena")], 3)]))
    for agent in (eu, us):
        huge = set_status(agent.sets[("games", "arena")], ready=2**31 - 10, allocated=2**31 - 10)
        huge.counts.replicas = 2**31 - 10
        agent.report(agent_pb2.StatusDelta(sets=[huge]))
        await _processed(agent, game_servers)
    status = (await fleets.GetFleet(fleet_pb2.GetFleetRequest(ref=REF))).status
    assert (status.counts.ready, status.counts.allocated) == (6, 0)
    listed = await fleets.ListFleets(fleet_pb2.ListFleetsRequest(namespace="games"))
    assert [f.status.counts.ready for f in listed.fleets if f.metadata.name == "arena"] == [6]
    refusals = _federation(hub).stats.agent_refusals
    assert refusals[("status.sets.counts.replicas", "dropped")] == 2


# -- 3. desired sets over 4 MiB ----------------------------------------------------------------


def _annotated(name: str, blob: int) -> fleet_pb2.Fleet:
    doc = fleet_document(name=name, replicas=1)
    template = doc["spec"]["template"]["gameServerTemplate"]
    template["metadata"] = {"annotations": {"example.com/blob": "x" * blob}}
    return documents.from_document(doc, fleet_pb2.Fleet)


async def test_desired_sets_over_4_mib_for_one_cluster_arrive_in_messages_that_fit(
    hub: Hub, fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> None:
    """24 fleets of 200 KiB each (all accepted by ApplyFleet) placed on a cluster whose agent
    connects afterwards: 4.7 MiB of desired sets for one reconcile."""
    for index in range(24):
        await fleets.ApplyFleet(
            fleet_pb2.ApplyFleetRequest(fleet=_annotated(f"big-{index}", 200 * 2**10))
        )
    eu = await start_agent("eu-1")
    await eu.wait_for(lambda: len(eu.sets) == 24 or eu.error is not None, timeout=30)
    assert eu.error is None
    desired = [m for m in eu.received if m.HasField("desired")]
    assert len(desired) >= 2
    assert all(m.ByteSize() <= limits.AGENT_RECEIVE_BYTES for m in desired)
    assert all(not m.desired.complete for m in desired)


async def test_a_set_too_large_to_send_degrades_its_fleet_and_the_agent_stays_connected(
    hub: Hub, fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> None:
    """A fleet stored larger than any agent receives (written straight to the store, as a hub
    with a larger request limit could have): its set is not sent, the fleet says why, and the
    agent keeps its stream and gets every other set."""
    eu = await start_agent("eu-1")
    huge = _annotated("huge", 4 * MiB + 2**10)
    huge.metadata.generation = 1
    huge.metadata.uid = "huge"
    assert hub.store is not None and hub.fleets is not None
    await hub.store.put(codec.fleet_key("games", "huge"), codec.encode(huge))
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=2)))
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 2)
    federation = _federation(hub)

    async def degraded() -> tuple[str, str, str]:
        assert hub.fleets is not None
        status = federation.fleet_status(await hub.fleets.get("games", "huge"))
        found = next(c for c in status.conditions if c.type == "Degraded")
        return found.status, found.reason, found.message

    async with asyncio.timeout(10):
        while True:
            if (await degraded())[1] == "SetTooLarge":
                break
            await asyncio.sleep(0.02)
    assert "eu-1 (4,195," in (await degraded())[2]
    await fleets.ScaleFleet(fleet_pb2.ScaleFleetRequest(ref=REF, replicas=3))
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 3)
    assert eu.error is None and ("games", "huge") not in eu.sets
    assert len([m for m in eu.received if m.HasField("status_hashes")]) == 1


# -- 4. cluster labels, heartbeats, ListClusters -----------------------------------------------


def _registration(name: str, labels: dict[str, str]) -> cluster_pb2.RegisterClusterRequest:
    cluster = cluster_pb2.Cluster()
    cluster.metadata.name = name
    cluster.metadata.labels.update(labels)
    return cluster_pb2.RegisterClusterRequest(cluster=cluster)


async def test_cluster_labels_are_bounded_in_registration_and_in_the_hello(
    hub: Hub, clusters: cluster_pb2_grpc.ClusterServiceAsyncStub
) -> None:
    many = {f"label-{i}": "v" for i in range(40_000)}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await clusters.RegisterCluster(_registration("eu-1", many))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith("metadata.labels: 40,000 labels; at most 64")

    rogue = _rogue(hub, agent_pb2.AgentHello(cluster="us-1", labels=many))
    await rogue.start()
    error = await _ended(rogue)
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (error.details() or "").startswith("hello.labels: 40,000 labels; at most 64")
    await rogue.stop()
    listed = await clusters.ListClusters(cluster_pb2.ListClustersRequest())
    assert list(listed.clusters) == []


async def test_an_oversized_heartbeat_capacity_ends_the_stream_naming_the_field(
    hub: Hub, clusters: cluster_pb2_grpc.ClusterServiceAsyncStub, start_agent: StartAgent
) -> None:
    eu = await start_agent("eu-1")
    beat = agent_pb2.Heartbeat()
    beat.capacity.cpu = "9" * (5 * MiB // 2)
    eu.send(agent_pb2.AgentMessage(heartbeat=beat))
    error = await _ended(eu)
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (error.details() or "").startswith("heartbeat.capacity.cpu: 2,621,440 characters")
    cluster = await clusters.GetCluster(cluster_pb2.ClusterRef(name="eu-1"))
    assert cluster.status.capacity.cpu == ""


async def test_list_clusters_pages_and_the_cli_follows_every_page(
    hub: Hub, clusters: cluster_pb2_grpc.ClusterServiceAsyncStub
) -> None:
    """200 clusters with 64 labels of the longest keys and values: 4.8 MiB in all."""

    def labels(index: int) -> dict[str, str]:
        prefix = "p" * 250 + f"{index:03d}"
        return {f"{prefix}/{'k' * 61}{j:02d}": "v" * 63 for j in range(64)}

    await asyncio.gather(
        *(clusters.RegisterCluster(_registration(f"c-{i:03d}", labels(i))) for i in range(200))
    )
    result = await asyncio.to_thread(
        run_cli, "get", "clusters", "--hub", f"127.0.0.1:{hub.port}", "-o", "json"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count('"kind": "Cluster"') == 200

    first = await clusters.ListClusters(cluster_pb2.ListClustersRequest(page_size=2))
    assert [c.metadata.name for c in first.clusters] == ["c-000", "c-001"]
    second = await clusters.ListClusters(
        cluster_pb2.ListClustersRequest(page_size=2, page_token=first.next_page_token)
    )
    assert [c.metadata.name for c in second.clusters] == ["c-002", "c-003"]
    whole = await clusters.ListClusters(cluster_pb2.ListClustersRequest())
    assert 0 < len(whole.clusters) < 200 and whole.next_page_token
    assert whole.ByteSize() <= 2 * MiB


# -- each limit --------------------------------------------------------------------------------


def _hello(**fields: Any) -> agent_pb2.AgentHello:
    hello = agent_pb2.AgentHello(cluster="zz-rogue", agent_version="rogue")
    for name, value in fields.items():
        if name == "labels":
            hello.labels.update(value)
        elif name == "held_sets":
            hello.held_sets.extend(value)
        elif name == "capacity":
            hello.capacity.CopyFrom(value)
        elif name == "network_plugins":
            hello.network_plugins.extend(value)
        else:
            setattr(hello, name, value)
    return hello


def _held(count: int, **fields: Any) -> list[agent_pb2.SetVersion]:
    base = {"namespace": "games", "hash": "h", "replicas": 1}
    return [agent_pb2.SetVersion(name=f"f-{i}", **{**base, **fields}) for i in range(count)]


@pytest.mark.parametrize(
    ("hello", "code", "starts"),
    [
        (_hello(labels={"bad key!": "v"}), "INVALID_ARGUMENT", "hello.labels: key 1 of 1"),
        (_hello(labels={"k": "v" * 64}), "INVALID_ARGUMENT", "hello.labels: value of key 'k'"),
        (_hello(agent_version="v" * 65), "RESOURCE_EXHAUSTED", "hello.agent_version: 65"),
        (
            _hello(network_plugins=["p"] * 33),
            "RESOURCE_EXHAUSTED",
            "hello.network_plugins: 33 plugins",
        ),
        (
            _hello(network_plugins=["p" * 64]),
            "RESOURCE_EXHAUSTED",
            "hello.network_plugins[0]: 64 characters",
        ),
        (
            _hello(capacity=cluster_pb2.ClusterCapacity(nodes=-1)),
            "INVALID_ARGUMENT",
            "hello.capacity.nodes: -1 is negative",
        ),
        (_hello(held_sets=_held(4)), "RESOURCE_EXHAUSTED", "hello.held_sets: 4 sets; at most 3"),
        (
            _hello(held_sets=_held(1, namespace="Not_A_Name")),
            "INVALID_ARGUMENT",
            "hello.held_sets[0].namespace",
        ),
        (
            _hello(held_sets=_held(1, replicas=-5)),
            "INVALID_ARGUMENT",
            "hello.held_sets[0].replicas: -5 must be between 0",
        ),
        (_hello(held_sets=_held(1, hash="h" * 129)), "RESOURCE_EXHAUSTED", "hello.held_sets[0]"),
    ],
)
async def test_a_hello_beyond_the_limits_is_refused_naming_the_field(
    small_hub: Hub, hello: agent_pb2.AgentHello, code: str, starts: str
) -> None:
    rogue = _rogue(small_hub, hello)
    await rogue.start()
    error = await _ended(rogue)
    await rogue.stop()
    assert (error.code().name, (error.details() or "")[: len(starts)]) == (code, starts)
    assert _federation(small_hub).phase("zz-rogue").value == "Unknown"


SMALL = agent_limits.AgentLimits(
    sets_per_cluster=3,
    game_servers_per_cluster=4,
    game_server_bytes_per_cluster=10 * 2**10,
    status_batch=6,
)


@pytest.fixture
async def small_hub(tmp_path: Path) -> AsyncIterator[Hub]:
    """A hub with small per-cluster limits, so tests reach them with a few entries."""
    hub = Hub(
        HubConfig(
            store_url=f"sqlite:///{tmp_path / 'hub.db'}",
            listen="127.0.0.1:0",
            health=TEST_HEALTH,
            agent_limits=SMALL,
        )
    )
    await hub.start()
    await hub.wait_until_leading()
    yield hub
    await hub.stop(grace=0)


async def _small_agents(hub: Hub) -> tuple[SimulatedAgent, SimulatedAgent]:
    address = f"127.0.0.1:{hub.port}"
    agents = (SimulatedAgent(address, "eu-1"), SimulatedAgent(address, "us-1"))
    for agent in agents:
        agent.heartbeat_interval = 0.2
        await agent.start()
        await wait_phase(hub, agent.cluster, "Ready")
    return agents


async def test_a_status_batch_over_the_limit_ends_the_stream(small_hub: Hub) -> None:
    eu, us = await _small_agents(small_hub)
    try:
        us.report(agent_pb2.StatusDelta(game_servers=[game_server("games", "arena", 0)]))
        eu.report(
            agent_pb2.StatusDelta(game_servers=[game_server("games", "a", i) for i in range(7)])
        )
        error = await _ended(eu)
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (error.details() or "").startswith(
            "status: 7 set statuses and game servers; at most 6"
        )
        await wait_phase(small_hub, "us-1", "Ready")
        federation = _federation(small_hub)
        assert [s.name for s in _servers_held(federation, cluster="us-1")] == ["arena-0"]
        assert _servers_held(federation, cluster="eu-1") == []
        assert federation.stats.agent_refusals == {("status", "refused"): 1}
    finally:
        await eu.stop()
        await us.stop()


async def test_entries_beyond_the_limits_are_dropped_and_the_rest_kept(small_hub: Hub) -> None:
    eu, us = await _small_agents(small_hub)
    federation = _federation(small_hub)
    try:
        big = game_server("games", "arena", 1)
        big.network_status.update({"blob": "x" * (17 * 2**10)})
        nameless = game_server("games", "arena", 2)
        nameless.name = "Not/A\x00Name"
        long_state = game_server("games", "arena", 3, state="S" * 64)
        bad_set = agent_pb2.GameServerSetStatus(namespace="games", name="arena")
        bad_set.counts.ready = -1
        eu.report(
            agent_pb2.StatusDelta(
                sets=[bad_set],
                game_servers=[game_server("games", "arena", 0), big, nameless, long_state],
            )
        )
        us.report(agent_pb2.StatusDelta(game_servers=[game_server("games", "arena", 9)]))
        await _wait(lambda: len(_servers_held(federation)) == 2)
        names = [f"{s.cluster}/{s.name}" for s in _servers_held(federation)]
        assert names == ["eu-1/arena-0", "us-1/arena-9"]
        assert federation.stats.agent_refusals == {
            ("status.sets.counts.ready", "dropped"): 1,
            ("status.game_servers", "dropped"): 1,
            ("status.game_servers.name", "dropped"): 1,
            ("status.game_servers.state", "dropped"): 1,
        }
        assert eu.error is None
    finally:
        await eu.stop()
        await us.stop()


async def test_per_cluster_counts_keep_what_is_held_and_drop_new_entries(small_hub: Hub) -> None:
    eu, us = await _small_agents(small_hub)
    federation = _federation(small_hub)
    refusals = federation.stats.agent_refusals
    try:
        eu.report(
            agent_pb2.StatusDelta(game_servers=[game_server("games", "a", i) for i in range(6)])
        )
        sets = [agent_pb2.GameServerSetStatus(namespace="games", name=f"f-{i}") for i in range(5)]
        eu.report(agent_pb2.StatusDelta(sets=sets))
        us.report(
            agent_pb2.StatusDelta(game_servers=[game_server("games", "a", i) for i in range(4)])
        )
        await _wait(lambda: refusals.get(("status.sets", "dropped")) == 2)
        await _wait(lambda: len(_servers_held(federation, cluster="us-1")) == 4)
        held = [s.name for s in _servers_held(federation, cluster="eu-1")]
        assert held == ["a-0", "a-1", "a-2", "a-3"]
        assert refusals[("status.game_servers", "dropped")] == 2
        # A server already held may change; one that passes the cluster's bytes is dropped.
        eu.report(
            agent_pb2.StatusDelta(game_servers=[game_server("games", "a", 0, state="NotReady")])
        )
        heavy = game_server("games", "a", 1)
        heavy.network_status.update({"blob": "x" * (10 * 2**10 - 100)})
        eu.report(agent_pb2.StatusDelta(game_servers=[heavy]))
        await _wait(lambda: refusals[("status.game_servers", "dropped")] == 3)
        states = {s.name: s.state for s in _servers_held(federation, cluster="eu-1")}
        assert states == {"a-0": "NotReady", "a-1": "Ready", "a-2": "Ready", "a-3": "Ready"}
        assert not _servers_held(federation, cluster="eu-1")[1].HasField("network_status")
    finally:
        await eu.stop()
        await us.stop()


async def _wait(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.02)


# -- operation results and keys are per session and per cluster ---------------------------------


async def test_an_operation_result_answers_only_its_own_sessions_operation_and_servers(
    hub: Hub,
    game_servers: gameserver_pb2_grpc.GameServerServiceAsyncStub,
    start_agent: StartAgent,
) -> None:
    eu, us = await start_agent("eu-1"), await start_agent("us-1")
    eu.report(agent_pb2.StatusDelta(game_servers=[game_server("games", "arena", 0)]))
    us.report(agent_pb2.StatusDelta(game_servers=[game_server("games", "arena", 1)]))
    await _processed(eu, game_servers)
    await _processed(us, game_servers)

    def unanswered(operation: agent_pb2.TargetedOperation) -> agent_pb2.OperationResult:
        return agent_pb2.OperationResult(id=f"not-{operation.id}")

    eu._operate = unanswered  # type: ignore[method-assign]
    patch = gameserver_pb2.GameServerPatch(ops_state="Maintaining")
    call = asyncio.ensure_future(
        game_servers.UpdateGameServers(
            gameserver_pb2.UpdateGameServersRequest(
                namespace="games", names=["arena-0"], patch=patch
            )
        )
    )
    await eu.wait_for(lambda: bool(eu.operations))
    operation_id = eu.operations[-1].id
    us.send(
        agent_pb2.AgentMessage(
            operation_result=agent_pb2.OperationResult(id=operation_id, updated=["arena-0"])
        )
    )
    await _processed(us, game_servers, marker="after-forged-result")
    assert not call.done()
    eu.send(
        agent_pb2.AgentMessage(
            operation_result=agent_pb2.OperationResult(
                id=operation_id,
                updated=["arena-0", "arena-1", "ghost"],
                conflicts=["ghost"],
                errors={"arena-0": "e" * 5000, "ghost": "boo"},
            )
        )
    )
    response = await call
    assert list(response.updated) == ["eu-1/arena-0"]
    assert dict(response.errors) == {"eu-1/arena-0": "e" * 1024}


async def test_a_report_of_another_clusters_server_changes_only_the_reporters_entry(
    hub: Hub,
    game_servers: gameserver_pb2_grpc.GameServerServiceAsyncStub,
    start_agent: StartAgent,
) -> None:
    eu, us = await start_agent("eu-1"), await start_agent("us-1")
    allocated = game_server("games", "arena", 0, ops_state="Allocated")
    allocated.allocation_request_id = "match-1"
    eu.report(agent_pb2.StatusDelta(game_servers=[allocated]))
    await _processed(eu, game_servers)
    impostor = game_server("games", "arena", 0, state="NotReady", ops_state="Allocated")
    impostor.allocation_request_id = "match-1"
    us.report(agent_pb2.StatusDelta(game_servers=[impostor]))
    await _processed(us, game_servers)
    federation = _federation(hub)
    [held] = _servers_held(federation, cluster="eu-1", fleet="arena")
    assert (held.name, held.state, held.ops_state) == ("arena-0", "Ready", "Allocated")
    answer = federation.allocated_for("games", "arena", "match-1")
    assert answer is not None and answer.cluster == "eu-1"


# -- metrics, logs ------------------------------------------------------------------------------


async def test_refusals_are_counted_in_metrics_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from .test_metrics import scrape_until

    hub = Hub(
        HubConfig(
            store_url=f"sqlite:///{tmp_path / 'hub.db'}",
            listen="127.0.0.1:0",
            health=TEST_HEALTH,
            metrics_listen="127.0.0.1:0",
        )
    )
    await hub.start()
    await hub.wait_until_leading()
    caplog.set_level(logging.WARNING, logger="hub.federation.federation")
    try:
        for _ in range(3):
            rogue = _rogue(hub, agent_pb2.AgentHello(cluster="zz-rogue", agent_version="v" * 65))
            await rogue.start()
            await _ended(rogue)
            await rogue.stop()
        odd = SimulatedAgent(f"127.0.0.1:{hub.port}", "eu-1")
        await odd.start()
        states = ("Weird-1", "Weird-2", "Ready")
        odd.report(
            agent_pb2.StatusDelta(
                game_servers=[game_server("games", "a", i, state=s) for i, s in enumerate(states)]
            )
        )
        assert hub.metrics_port is not None
        found = await scrape_until(
            hub.metrics_port,
            lambda s: s.total("gamefleet_hub_game_servers", state="Other") == 2,
        )
        assert (
            found.get(
                "gamefleet_hub_agent_refusals_total", field="hello.agent_version", action="refused"
            )
            == 3
        )
        await odd.stop()
        logged = [r for r in caplog.records if "zz-rogue" in r.getMessage()]
        assert len(logged) == 1
        assert "hello.agent_version: 65 characters; at most 64" in logged[0].getMessage()
    finally:
        await hub.stop(grace=0)


# -- messages from the hub fit what an agent receives -------------------------------------------


async def test_the_status_hashes_of_a_large_cluster_fit_one_message(
    hub: Hub, start_agent: StartAgent
) -> None:
    """16,000 servers with 240-character names: their hashes are 4.4 MB. On reconnect the agent
    gets the hashes that fit one message and sends again the servers left out."""
    eu = await start_agent("eu-1")
    eu.reconnect = True
    servers = [game_server("games", "arena", i) for i in range(16_000)]
    for index, server in enumerate(servers):
        server.name = f"{'s' * 230}-{index:05d}"
    for start in range(0, len(servers), 500):
        eu.report(agent_pb2.StatusDelta(game_servers=servers[start : start + 500]))
    federation = _federation(hub)
    await _wait(lambda: len(_servers_held(federation, cluster="eu-1")) == 16_000, timeout=30)
    before = eu.hashes_received_at
    await eu.cut()
    await eu.start()
    await eu.wait_for(lambda: eu.hashes_received_at > before, timeout=20)
    hashes = next(m for m in reversed(eu.received) if m.HasField("status_hashes"))
    assert hashes.ByteSize() <= limits.AGENT_RECEIVE_BYTES
    assert 14_000 < len(hashes.status_hashes.hashes) < 16_000
    await _wait(lambda: len(_servers_held(federation, cluster="eu-1")) == 16_000, timeout=30)
    await wait_phase(hub, "eu-1", "Ready")


async def test_list_game_servers_pages_stay_within_2_mib_whatever_agents_report(
    hub: Hub,
    game_servers: gameserver_pb2_grpc.GameServerServiceAsyncStub,
    start_agent: StartAgent,
) -> None:
    eu = await start_agent("eu-1")
    servers = []
    for index in range(600):
        server = game_server("games", "arena", index)
        server.network_status.update({"blob": "x" * 15_000})
        servers.append(server)
    for start in range(0, len(servers), 200):
        eu.report(agent_pb2.StatusDelta(game_servers=servers[start : start + 200]))
    federation = _federation(hub)
    await _wait(lambda: len(_servers_held(federation, cluster="eu-1")) == 600, timeout=30)
    request = gameserver_pb2.ListGameServersRequest(namespace="games")
    listed = []
    while True:
        page = await game_servers.ListGameServers(request)
        assert page.ByteSize() <= 2 * MiB
        listed += [s.name for s in page.game_servers]
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    assert sorted(listed) == sorted(s.name for s in servers)


def _servers_held(
    federation: Federation, cluster: str = "", fleet: str = ""
) -> list[gameserver_pb2.GameServer]:
    """The servers the hub holds (of one cluster, one fleet), decoded."""
    wanted = ServerFilter(cluster=cluster, fleet=fleet)
    return [s.decode() for s in federation.matching_servers(wanted)]
