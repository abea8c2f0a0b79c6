"""FleetAutoscalers on a real hub with simulated agents whose servers follow the desired sets:
allocations grow the region they happen in, idle servers shrink after the window and Allocated
ones never go, the replicas have one owner, webhooks and schedules decide, bad input is named."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from aiohttp import web
from gamefleet import protocol
from gamefleet.v1 import (
    agent_pb2,
    allocation_pb2,
    allocation_pb2_grpc,
    autoscaler_pb2,
    autoscaler_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
)

from hub.api.server import Hub, HubConfig
from hub.core import documents
from tests.support.agent_sim import SimulatedAgent
from tests.support.fleet_sim import FollowingCluster, allocated_names
from tests.support.hub_process import run_cli

from .conftest import TEST_HEALTH, StartAgent, following_regions, start_hub, wait_phase
from .fleet_docs import fleet, fleet_document
from .test_metrics import scrape_until

if TYPE_CHECKING:
    AutoscalerStub = autoscaler_pb2_grpc.FleetAutoscalerServiceAsyncStub
    FleetStub = fleet_pb2_grpc.FleetServiceAsyncStub
    AllocationStub = allocation_pb2_grpc.AllocationServiceAsyncStub
NS = "games"


@pytest.fixture
def allocations(channel: grpc.aio.Channel) -> AllocationStub:
    return allocation_pb2_grpc.AllocationServiceStub(channel)


@pytest.fixture
async def regions(start_agent: StartAgent) -> AsyncIterator[tuple[FollowingCluster, ...]]:
    """eu-1 (region eu) and us-1 (region us), their servers following the desired sets."""
    async with following_regions(start_agent) as followers:
        yield followers


def autoscaler(policy: dict[str, Any], **spec: Any) -> autoscaler_pb2.FleetAutoscaler:
    doc = {
        "metadata": {"name": "arena", "namespace": NS},
        "spec": {"fleetName": "arena", "policy": policy, **spec},
    }
    return documents.from_document(doc, autoscaler_pb2.FleetAutoscaler)


def buffer(size: int | str, label: str = "region", low: int = 0, high: int = 500) -> dict[str, Any]:
    return {
        "type": "Buffer",
        "buffer": {
            "bufferSize": size,
            "minReplicas": low,
            "maxReplicas": high,
            "perClusterLabel": label,
        },
    }


def window(seconds: float) -> dict[str, Any]:
    return {"scaleDown": {"stabilizationWindow": f"{seconds}s"}}


async def apply(stub: AutoscalerStub, scaler: autoscaler_pb2.FleetAutoscaler) -> None:
    await stub.ApplyFleetAutoscaler(
        autoscaler_pb2.ApplyFleetAutoscalerRequest(fleet_autoscaler=scaler)
    )


async def until(
    check: Callable[[], Awaitable[bool] | bool], what: str, timeout: float = 15.0
) -> None:
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = check()
                if result if isinstance(result, bool) else await result:
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"not within {timeout}s: {what}") from None


def idle_and_allocated(cluster: FollowingCluster) -> tuple[int, int]:
    allocated = cluster.count(NS, "arena", "Allocated")
    return cluster.count(NS, "arena") - allocated, allocated


async def allocate(stub: AllocationStub, cluster: str, count: int, prefix: str) -> None:
    for index in range(count):
        await stub.Allocate(
            allocation_pb2.AllocateRequest(
                namespace=NS,
                fleet="arena",
                request_id=f"{prefix}-{index}",
                preferred_clusters=[cluster],
            )
        )


async def get_fleet(fleets: FleetStub) -> fleet_pb2.Fleet:
    return await fleets.GetFleet(
        fleet_pb2.GetFleetRequest(ref=fleet_pb2.FleetRef(namespace=NS, name="arena"))
    )


async def get_autoscaler(stub: AutoscalerStub) -> autoscaler_pb2.FleetAutoscaler:
    return await stub.GetFleetAutoscaler(
        autoscaler_pb2.GetFleetAutoscalerRequest(
            ref=autoscaler_pb2.FleetAutoscalerRef(namespace=NS, name="arena")
        )
    )


async def test_an_allocation_burst_grows_the_region_it_happens_in(
    fleets: FleetStub,
    autoscalers: AutoscalerStub,
    allocations: AllocationStub,
    regions: tuple[FollowingCluster, FollowingCluster],
) -> None:
    eu, us = regions
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0)))
    await apply(autoscalers, autoscaler(buffer(5), behavior=window(60)))
    await until(lambda: idle_and_allocated(eu) == (5, 0) == idle_and_allocated(us), "5 idle each")

    # Two waves smaller than the buffer, so each finds idle servers in eu (a bigger burst
    # spills over to us while eu's new servers start, as it should).
    await allocate(allocations, "eu-1", 4, "wave-1")
    await until(lambda: idle_and_allocated(eu) == (5, 4), "eu back at 5 idle beside 4 allocated")
    await allocate(allocations, "eu-1", 4, "wave-2")
    await until(lambda: idle_and_allocated(eu) == (5, 8), "eu back at 5 idle beside 8 allocated")
    assert idle_and_allocated(us) == (5, 0)
    assert max(us.history[(NS, "arena")]) == 5, "nothing grew where nothing was allocated"

    stored = await get_fleet(fleets)
    assert stored.spec.replicas == 18
    assert stored.replicas_owner == "FleetAutoscaler/arena"
    assert dict(stored.cluster_demand) == {"eu-1": 13, "us-1": 5}
    status = (await get_autoscaler(autoscalers)).status
    last = status.decisions[-1]
    assert (last.to_replicas, last.policy) == (18, "Buffer")
    assert "region=eu: 8+5" in last.reason
    assert dict(last.clusters) == {"eu-1": 13, "us-1": 5}
    assert (status.current_replicas, status.able_to_scale) == (18, True)


async def test_a_cluster_whose_replicas_a_local_autoscaler_owns_takes_no_buffer(
    hub: Hub,
    fleets: FleetStub,
    autoscalers: AutoscalerStub,
    allocations: AllocationStub,
    regions: tuple[FollowingCluster, FollowingCluster],
) -> None:
    """us-1's set has its replicas set by an HPA in the cluster: the hub's autoscaler keeps
    its share as it is and grows nothing there (one owner of replicas at a time)."""
    eu, us = regions
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0)))
    await apply(autoscalers, autoscaler(buffer(5), behavior=window(60)))
    await until(lambda: idle_and_allocated(eu) == (5, 0) == idle_and_allocated(us), "5 idle each")
    us.replicas_owner = "HorizontalPodAutoscaler"
    await allocate(allocations, "eu-1", 1, "owner-0")  # a report of us-1's sets goes up too
    us.release(NS, "arena", 0)
    await allocate(allocations, "us-1", 4, "local")
    await allocate(allocations, "eu-1", 2, "owner-1")
    await until(lambda: idle_and_allocated(eu) == (5, 3), "eu back at 5 idle beside 3 allocated")
    await settled(hub)
    stored = await get_fleet(fleets)
    assert "us-1" not in stored.cluster_demand, "no demand where a local owner sets replicas"
    assert max(us.history[(NS, "arena")]) == 5, "a locally owned cluster keeps its share"


async def settled(hub: Hub, quiet: float = 0.5) -> None:
    """Wait until the autoscalers have evaluated nothing for ``quiet`` seconds."""
    runtime = hub.gate.autoscaling
    assert runtime is not None
    seen, since = runtime.stats.evaluations, time.monotonic()
    async with asyncio.timeout(20):
        while time.monotonic() - since < quiet:
            await asyncio.sleep(0.05)
            if runtime.stats.evaluations != seen:
                seen, since = runtime.stats.evaluations, time.monotonic()


class QuietAgent(SimulatedAgent):
    """An agent whose reports of allocations are late (held back here): the hub knows of an
    allocation only from its own Allocate call."""

    def report(self, delta: agent_pb2.StatusDelta) -> None:
        allocated = [s for s in delta.game_servers if s.ops_state == "Allocated"]
        if allocated and len(allocated) == len(delta.game_servers) and not delta.sets:
            for server in allocated:
                self.reported[protocol.game_server_key(server.namespace, server.name)] = server
            return
        super().report(delta)


async def test_an_allocation_alone_triggers_the_decision(
    hub: Hub, fleets: FleetStub, autoscalers: AutoscalerStub, allocations: AllocationStub
) -> None:
    agent = QuietAgent(f"127.0.0.1:{hub.port}", "eu-1", {"region": "eu"}, heartbeat_interval=0.2)
    await agent.start()
    eu = FollowingCluster(agent).start()
    try:
        await wait_phase(hub, "eu-1", "Ready")
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0)))
        await apply(autoscalers, autoscaler(buffer(5), behavior=window(60)))
        await until(lambda: idle_and_allocated(eu) == (5, 0), "5 idle in eu")
        await settled(hub)
        await allocate(allocations, "eu-1", 2, "quiet")
        await until(lambda: eu.count(NS, "arena") == 7, "eu grown to 7 on the allocations alone")
    finally:
        await eu.stop()
        await agent.stop()


async def test_idle_servers_shrink_after_the_window_and_allocated_ones_stay(
    fleets: FleetStub,
    autoscalers: AutoscalerStub,
    allocations: AllocationStub,
    regions: tuple[FollowingCluster, FollowingCluster],
) -> None:
    eu, _ = regions
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0)))
    await apply(autoscalers, autoscaler(buffer(3), behavior=window(2)))
    await until(lambda: idle_and_allocated(eu) == (3, 0), "3 idle in eu")
    await allocate(allocations, "eu-1", 3, "wave-1")
    await until(lambda: idle_and_allocated(eu) == (3, 3), "eu at 3 idle beside 3 allocated")
    await allocate(allocations, "eu-1", 3, "wave-2")
    await until(lambda: idle_and_allocated(eu) == (3, 6), "eu at 3 idle beside 6 allocated")

    ended = eu.release(NS, "arena", 4)
    playing = allocated_names(eu, NS, "arena")
    released_at = time.monotonic()
    assert len(ended) == 4 and len(playing) == 2
    await asyncio.sleep(1.0)  # the window is 2 s: nothing may shrink yet
    assert idle_and_allocated(eu) == (7, 2)
    await until(lambda: idle_and_allocated(eu) == (3, 2), "eu shrunk to 3 idle beside 2 playing")
    assert time.monotonic() - released_at >= 1.9
    assert allocated_names(eu, NS, "arena") == playing, "an Allocated server was removed"
    assert min(eu.history[(NS, "arena")][-3:]) >= 2


async def test_a_hub_restart_moves_nothing_of_an_autoscaled_fleet(tmp_path: Path) -> None:
    """The per-cluster split lives in the fleet record: the restarted hub places exactly what
    the autoscaler decided (the placement weights alone would split 18 as 9 and 9)."""
    hub = await start_hub(tmp_path / "hub.db")
    agents = [
        SimulatedAgent(f"127.0.0.1:{hub.port}", name, {"region": region}, heartbeat_interval=0.2)
        for name, region in (("eu-1", "eu"), ("us-1", "us"))
    ]
    followers = [FollowingCluster(agent) for agent in agents]
    try:
        for agent in agents:
            await agent.start()
        for follower in followers:
            follower.start()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{hub.port}") as channel:
            fleets = fleet_pb2_grpc.FleetServiceStub(channel)
            scalers = autoscaler_pb2_grpc.FleetAutoscalerServiceStub(channel)
            await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0)))
            await apply(scalers, autoscaler(buffer(5), behavior=window(60)))
            eu = followers[0]
            await until(lambda: idle_and_allocated(eu) == (5, 0), "5 idle in eu")
            stub = allocation_pb2_grpc.AllocationServiceStub(channel)
            await allocate(stub, "eu-1", 4, "before")
            await until(lambda: idle_and_allocated(eu) == (5, 4), "eu at 5 idle beside 4")
            assert dict((await get_fleet(fleets)).cluster_demand) == {"eu-1": 9, "us-1": 5}
        await settled(hub)
        for follower in followers:
            await follower.stop()
        for agent in agents:
            await agent.stop()
        await hub.stop(grace=0)

        patient = dataclasses.replace(TEST_HEALTH, grace=10.0)
        hub = await start_hub(tmp_path / "hub.db", health=patient)
        restarted = []
        for old in agents:
            agent = SimulatedAgent(
                f"127.0.0.1:{hub.port}", old.cluster, old.labels, heartbeat_interval=0.2
            )
            agent.sets, agent.reported, agent.reconnect = dict(old.sets), dict(old.reported), True
            restarted.append(agent)
        agents = restarted
        followers = [FollowingCluster(agent) for agent in agents]
        for agent in agents:
            await agent.start()
        for follower in followers:
            follower.start()
        for agent in agents:
            await wait_phase(hub, agent.cluster, "Ready")
        runtime = hub.gate.autoscaling
        assert runtime is not None
        await until(lambda: runtime.stats.evaluations > 0, "the new leader's autoscaler ran")
        await settled(hub)
        assert all(not [m for m in a.received if m.HasField("desired")] for a in agents)
        assert [idle_and_allocated(f) for f in followers] == [(5, 4), (5, 0)]
    finally:
        for follower in followers:
            await follower.stop()
        for agent in agents:
            await agent.stop()
        await hub.stop(grace=0)


async def test_replicas_have_one_owner_named_when_a_change_is_refused(
    fleets: FleetStub,
    autoscalers: AutoscalerStub,
    regions: tuple[FollowingCluster, FollowingCluster],
) -> None:
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=9)))
    await apply(autoscalers, autoscaler(buffer(2), behavior=window(60)))
    await until(lambda: _replicas(fleets, 4), "the autoscaler set 4 replicas")

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=9)))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "spec.replicas" in (refused.value.details() or "")
    assert "FleetAutoscaler/arena" in (refused.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await fleets.ScaleFleet(
            fleet_pb2.ScaleFleetRequest(
                ref=fleet_pb2.FleetRef(namespace=NS, name="arena"), replicas=1
            )
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    # The same manifest without replicas (or with the current count) still applies.
    doc = fleet_document(replicas=0)
    del doc["spec"]["replicas"]
    doc["spec"]["template"]["gameServerTemplate"]["spec"]["containers"][0]["image"] = "arena:2.0"
    updated = await fleets.ApplyFleet(
        fleet_pb2.ApplyFleetRequest(fleet=documents.from_document(doc, fleet_pb2.Fleet))
    )
    assert updated.changed and updated.fleet.spec.replicas == 4
    assert updated.fleet.replicas_owner == "FleetAutoscaler/arena"
    same = await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=updated.fleet))
    assert not same.changed

    second = autoscaler(buffer(1))
    second.metadata.name = "other"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await apply(autoscalers, second)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "FleetAutoscaler/arena" in (refused.value.details() or "")

    await autoscalers.DeleteFleetAutoscaler(
        autoscaler_pb2.DeleteFleetAutoscalerRequest(
            ref=autoscaler_pb2.FleetAutoscalerRef(namespace=NS, name="arena")
        )
    )
    released = await get_fleet(fleets)
    assert (released.replicas_owner, dict(released.cluster_demand)) == ("", {})
    scaled = await fleets.ScaleFleet(
        fleet_pb2.ScaleFleetRequest(ref=fleet_pb2.FleetRef(namespace=NS, name="arena"), replicas=1)
    )
    assert scaled.spec.replicas == 1


async def _replicas(fleets: FleetStub, replicas: int) -> bool:
    return (await get_fleet(fleets)).spec.replicas == replicas


async def test_an_autoscaler_created_before_its_fleet_claims_it_once_it_exists(
    fleets: FleetStub,
    autoscalers: AutoscalerStub,
    regions: tuple[FollowingCluster, FollowingCluster],
) -> None:
    await apply(autoscalers, autoscaler(buffer(1)))

    async def fleet_not_found() -> bool:
        condition = (await get_autoscaler(autoscalers)).status.conditions
        return [(c.type, c.status, c.reason) for c in condition] == [
            ("AbleToScale", "False", "FleetNotFound")
        ]

    await until(fleet_not_found, "the autoscaler says its fleet is not found")
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0)))
    await until(lambda: _replicas(fleets, 2), "claimed and scaled to one idle per region")
    assert (await get_fleet(fleets)).replicas_owner == "FleetAutoscaler/arena"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"spec": {"fleetName": "Arena"}}, "spec.fleetName"),
        ({"spec": {"policy": {"type": "Buffer"}}}, "spec.policy.buffer.bufferSize"),
        ({"spec": {"policy": buffer("150%")}}, "spec.policy.buffer.bufferSize"),
        ({"spec": {"policy": buffer(5, high=2)}}, "spec.policy.buffer.maxReplicas"),
        ({"spec": {"behavior": {"scaleDown": {"maxStep": -1}}}}, "spec.behavior.scaleDown.maxStep"),
        ({"spec": {"sync": {"type": "Sometimes"}}}, "spec.sync.type"),
    ],
)
async def test_bad_input_is_invalid_argument_naming_the_field_and_stores_nothing(
    autoscalers: AutoscalerStub, change: dict[str, Any], field: str
) -> None:
    doc: dict[str, Any] = {
        "metadata": {"name": "arena", "namespace": NS},
        "spec": {"fleetName": "arena", "policy": buffer(1)},
    }
    doc["spec"].update(change["spec"])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await apply(autoscalers, documents.from_document(doc, autoscaler_pb2.FleetAutoscaler))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (refused.value.details() or "").startswith(field), refused.value.details()
    listed = await autoscalers.ListFleetAutoscalers(autoscaler_pb2.ListFleetAutoscalersRequest())
    assert list(listed.fleet_autoscalers) == []


async def test_the_fleet_an_autoscaler_targets_cannot_change(autoscalers: AutoscalerStub) -> None:
    await apply(autoscalers, autoscaler(buffer(1)))
    moved = autoscaler(buffer(1))
    moved.spec.fleet_name = "other"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await apply(autoscalers, moved)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (refused.value.details() or "").startswith("spec.fleetName: cannot change")


class Webhook:
    """A real HTTP server on loopback that answers FleetAutoscaleReviews as told."""

    def __init__(self) -> None:
        self.replicas = 7
        self.status = 200
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _review(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        await asyncio.sleep(self.delay)
        answer = {
            "response": {"uid": body["request"]["uid"], "scale": True, "replicas": self.replicas}
        }
        return web.Response(status=self.status, text=json.dumps(answer))

    async def __aenter__(self) -> Webhook:
        app = web.Application()
        app.router.add_post("/scale", self._review)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        listening = socket.socket()
        listening.bind(("127.0.0.1", 0))
        port = listening.getsockname()[1]
        await web.SockSite(self._runner, listening).start()
        self.url = f"http://127.0.0.1:{port}/scale"
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def test_a_webhook_decides_and_a_failing_one_falls_back_to_the_next_chain_entry(
    fleets: FleetStub,
    autoscalers: AutoscalerStub,
    regions: tuple[FollowingCluster, FollowingCluster],
) -> None:
    eu, us = regions
    async with Webhook() as hook:
        policy = {
            "type": "Chain",
            "chain": [
                {
                    "id": "hook",
                    "type": "Webhook",
                    "webhook": {"url": hook.url, "timeout": "0.5s", "resyncPeriod": "1s"},
                },
                {"id": "fallback", **buffer(2)},
            ],
        }
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0)))
        await apply(autoscalers, autoscaler(policy, behavior=window(0)))
        await until(lambda: _replicas(fleets, 7), "the webhook's 7 replicas")
        request = hook.requests[-1]["request"]
        assert (request["namespace"], request["name"]) == (NS, "arena")
        assert {c["name"] for c in request["clusters"]} == {"eu-1", "us-1"}
        assert (
            await get_autoscaler(autoscalers)
        ).status.last_applied_policy == "Chain[hook]/Webhook"

        hook.status = 500
        await until(lambda: _replicas(fleets, 4), "the fallback buffer: 2 idle per region")
        status = (await get_autoscaler(autoscalers)).status
        assert status.last_applied_policy == "Chain[fallback]/Buffer"
        assert eu.count(NS, "arena") == us.count(NS, "arena") == 2


async def test_a_lone_webhook_that_times_out_leaves_the_replicas_and_says_why(
    fleets: FleetStub,
    autoscalers: AutoscalerStub,
    regions: tuple[FollowingCluster, FollowingCluster],
) -> None:
    async with Webhook() as hook:
        hook.delay = 2.0
        policy = {"type": "Webhook", "webhook": {"url": hook.url, "timeout": "0.2s"}}
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=3)))
        await apply(autoscalers, autoscaler(policy))

        async def failed() -> bool:
            conditions = (await get_autoscaler(autoscalers)).status.conditions
            return any(c.reason == "WebhookFailed" for c in conditions)

        await until(failed, "the webhook's failure in the status")
        status = (await get_autoscaler(autoscalers)).status
        assert not status.able_to_scale
        assert "did not answer within 0.2s" in status.conditions[0].message
        assert (await get_fleet(fleets)).spec.replicas == 3


async def test_an_active_schedule_decides_before_the_default(
    fleets: FleetStub,
    autoscalers: AutoscalerStub,
    regions: tuple[FollowingCluster, FollowingCluster],
) -> None:
    always = {"timezone": "Asia/Tokyo", "startCron": "* * * * *", "duration": "1h"}
    later = {"start": "2099-01-01T00:00:00Z"}
    policy = {
        "type": "Chain",
        "chain": [
            {
                "id": "future",
                "type": "Schedule",
                "schedule": {"between": later, "policy": buffer(9)},
            },
            {
                "id": "now",
                "type": "Schedule",
                "schedule": {"activePeriod": always, "policy": buffer(4)},
            },
            {"id": "default", **buffer(1)},
        ],
    }
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0)))
    await apply(autoscalers, autoscaler(policy))
    await until(lambda: _replicas(fleets, 8), "4 idle per region from the active schedule")
    status = (await get_autoscaler(autoscalers)).status
    assert status.decisions[-1].policy == "Chain[now]/Schedule/Buffer"


async def test_decisions_are_counted_on_metrics(tmp_path: Path, start_agent: StartAgent) -> None:
    hub = Hub(
        HubConfig(
            store_url=f"sqlite:///{tmp_path / 'hub.db'}",
            listen="127.0.0.1:0",
            metrics_listen="127.0.0.1:0",
            health=TEST_HEALTH,
        )
    )
    await hub.start()
    await hub.wait_until_leading()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{hub.port}") as channel:
            await fleet_pb2_grpc.FleetServiceStub(channel).ApplyFleet(
                fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0))
            )
            await apply(
                autoscaler_pb2_grpc.FleetAutoscalerServiceStub(channel),
                autoscaler(buffer(3, label="")),
            )
            assert hub.metrics_port is not None
            labels = {"namespace": NS, "autoscaler": "arena", "fleet": "arena", "side": "to"}
            scraped = await scrape_until(
                hub.metrics_port,
                lambda s: s.get("gamefleet_hub_autoscaler_last_decision_replicas", **labels) == 3,
            )
            assert (
                scraped.get(
                    "gamefleet_hub_autoscaler_decisions_total",
                    namespace=NS,
                    autoscaler="arena",
                    direction="up",
                )
                == 1
            )
            assert (scraped.get("gamefleet_hub_autoscaler_evaluations_total") or 0) >= 1
    finally:
        await hub.stop(grace=0)


AUTOSCALED_MANIFEST = """\
apiVersion: gamefleet.io/v1
kind: Fleet
metadata: {name: arena, namespace: games}
spec:
  template:
    gameServerTemplate:
      spec:
        containers: [{name: arena, image: arena:1.0}]
---
apiVersion: gamefleet.io/v1
kind: FleetAutoscaler
metadata: {name: arena, namespace: games}
spec:
  fleetName: arena
  policy:
    type: Buffer
    buffer: {bufferSize: 2, minReplicas: 3, maxReplicas: 50}
"""


async def test_the_cli_applies_gets_and_deletes_autoscalers(hub: Hub, tmp_path: Path) -> None:
    address = f"127.0.0.1:{hub.port}"

    def cli(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        done = run_cli(*args, "--hub", address, stdin=stdin)
        return done.returncode, done.stdout, done.stderr

    created = await asyncio.to_thread(cli, "apply", "-f", "-", stdin=AUTOSCALED_MANIFEST)
    assert created == (0, "fleet/arena created\nfleetautoscaler/arena created\n", "")
    again = await asyncio.to_thread(cli, "apply", "-f", "-", stdin=AUTOSCALED_MANIFEST)
    assert again == (0, "fleet/arena unchanged\nfleetautoscaler/arena unchanged\n", "")

    async def listed() -> bool:
        code, out, _ = await asyncio.to_thread(cli, "get", "fas", "-n", NS)
        return code == 0 and "3->" not in out and " 3 " in out and "->3 Buffer" in out

    await until(listed, "get fas shows the decision to 3 (minReplicas)")
    code, out, _ = await asyncio.to_thread(cli, "get", "fleetautoscalers", "-n", NS, "-o", "wide")
    header, row = out.splitlines()
    assert header.split()[:4] == ["NAMESPACE", "NAME", "FLEET", "POLICY"]
    assert "Buffer 2 [3,50]" in row and "minReplicas 3" in row
    code, out, _ = await asyncio.to_thread(cli, "get", "fleets", "-n", NS, "-o", "wide")
    assert "FleetAutoscaler/arena" in out.splitlines()[1]

    code, out, err = await asyncio.to_thread(
        cli, "scale", "fleet", "arena", "-n", NS, "--replicas", "9"
    )
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("error: FAILED_PRECONDITION: spec.replicas:")
    assert "FleetAutoscaler/arena" in err

    code, out, err = await asyncio.to_thread(
        cli, "apply", "-f", "-", stdin=AUTOSCALED_MANIFEST.replace("bufferSize: 2", "bufferSize: 0")
    )
    assert code == 1 and err.count("\n") == 1
    assert "spec.policy.buffer.bufferSize: 0 must be at least 1" in err

    code, out, _ = await asyncio.to_thread(cli, "delete", "fas", "arena", "-n", NS)
    assert code == 0 and out.startswith("fleetautoscaler/arena deleted")
    code, out, err = await asyncio.to_thread(
        cli, "scale", "fleet", "arena", "-n", NS, "--replicas", "9"
    )
    assert (code, out, err) == (0, "fleet/arena scaled to 9\n", "")
