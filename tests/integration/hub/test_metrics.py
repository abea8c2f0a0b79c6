"""The hub's Prometheus endpoint, scraped over HTTP: gRPC calls, store operations, live state."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import grpc
import pytest
from gamefleet.v1 import (
    agent_pb2,
    allocation_pb2,
    allocation_pb2_grpc,
    cluster_pb2,
    cluster_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import parser

from hub.api.server import LEADER_SERVICE, Hub, HubConfig
from tests.integration.store.etcd_server import EtcdServer, etcd_binary
from tests.support.agent_sim import game_server
from tests.support.hub_process import HubProcess, run_cli

from .conftest import TEST_HEALTH, StartAgent, start_hub
from .fleet_docs import fleet

FLEETS = "gamefleet.v1.FleetService"
AGENTS = "gamefleet.v1.AgentService"
Labels = frozenset[tuple[str, str]]


class Scrape:
    """One scrape of /metrics: sample values by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[tuple[str, Labels], float] = {}
        for family in parser.text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[sample.name, frozenset(sample.labels.items())] = sample.value

    def get(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def total(self, name: str, **labels: str) -> float:
        """The sum over every series of ``name`` carrying ``labels`` (and any others)."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and wanted <= ls)

    def requests(self, service: str, method: str, code: str) -> float:
        sample = self.get(
            "gamefleet_hub_grpc_requests_total", service=service, method=method, code=code
        )
        return sample or 0.0


async def scrape(port: int) -> Scrape:
    """GET /metrics from another thread: the in-process hub answers on this event loop."""

    def get() -> tuple[str, str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            return response.headers.get("Content-Type", ""), response.read().decode()

    content_type, text = await asyncio.to_thread(get)
    assert content_type.startswith("text/plain")
    return Scrape(text)


async def scrape_until(port: int, ready: Callable[[Scrape], bool], timeout: float = 10.0) -> Scrape:
    """Scrape until ``ready`` holds: the agents' messages reach the hub asynchronously."""
    async with asyncio.timeout(timeout):
        while True:
            found = await scrape(port)
            if ready(found):
                return found
            await asyncio.sleep(0.02)


async def start_metered_hub(store_url: str) -> Hub:
    config = HubConfig(
        store_url=store_url, listen="127.0.0.1:0", health=TEST_HEALTH, metrics_listen="127.0.0.1:0"
    )
    hub = Hub(config)
    await hub.start()
    return hub


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    """This module's hub serves metrics (the conftest fixtures use it under this name)."""
    server = await start_metered_hub(f"sqlite:///{tmp_path / 'hub.db'}")
    await server.wait_until_leading()
    yield server
    await server.stop(grace=0)


def _port(hub: Hub) -> int:
    assert hub.metrics_port is not None and hub.metrics_port != hub.port
    return hub.metrics_port


async def test_apply_fleet_counts_ok_and_invalid_argument_and_its_store_writes(
    hub: Hub, fleets: fleet_pb2_grpc.FleetServiceAsyncStub
) -> None:
    before = await scrape(_port(hub))
    assert before.requests(FLEETS, "ApplyFleet", "OK") == 0
    puts_before = before.get(
        "gamefleet_hub_store_operations_total", backend="sqlite", op="put", result="ok"
    )

    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet()))
    bad = fleet()
    bad.spec.template.reserve_game_server_ids.add().string_value = "7-3"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=bad))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError):
        await fleets.GetFleet(
            fleet_pb2.GetFleetRequest(ref=fleet_pb2.FleetRef(namespace="games", name="none"))
        )

    after = await scrape(_port(hub))
    assert after.requests(FLEETS, "ApplyFleet", "OK") == 1
    assert after.requests(FLEETS, "ApplyFleet", "INVALID_ARGUMENT") == 1
    assert after.requests(FLEETS, "GetFleet", "NOT_FOUND") == 1
    timed = after.get(
        "gamefleet_hub_grpc_request_seconds_count", service=FLEETS, method="ApplyFleet"
    )
    assert timed == 2
    # The valid apply stored the fleet (the federation may write beside it, asynchronously).
    puts = after.get(
        "gamefleet_hub_store_operations_total", backend="sqlite", op="put", result="ok"
    )
    assert (puts or 0) >= (puts_before or 0) + 1
    store_seconds = after.get(
        "gamefleet_hub_store_operation_seconds_count", backend="sqlite", op="put"
    )
    assert (store_seconds or 0) >= 1
    assert after.total("gamefleet_hub_store_operations_total", op="get") >= 1
    assert after.get("gamefleet_hub_leader") == 1
    assert after.get("process_resident_memory_bytes")


async def test_a_connected_agent_and_its_servers_show_in_the_live_gauges(
    hub: Hub,
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
    clusters: cluster_pb2_grpc.ClusterServiceAsyncStub,
    start_agent: StartAgent,
) -> None:
    port = _port(hub)
    idle = await scrape(port)
    assert idle.get("gamefleet_hub_agent_sessions") == 0
    assert idle.total("gamefleet_hub_game_servers") == 0

    eu = await start_agent("eu-1")
    connected = await scrape(port)
    assert connected.get("gamefleet_hub_agent_sessions") == 1
    assert connected.get("gamefleet_hub_clusters", phase="Ready", cordoned="false") == 1
    assert connected.get("gamefleet_hub_clusters", phase="Unknown", cordoned="false") == 0

    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=4)))
    await eu.wait_for(lambda: eu.replicas("games", "arena") == 4)
    placed = await scrape(port)
    assert placed.get("gamefleet_hub_fleets") == 1
    assert (placed.get("gamefleet_hub_desired_set_messages_total") or 0) >= 1
    assert (placed.get("gamefleet_hub_reconcile_seconds_count") or 0) >= 1

    servers = [game_server("games", "arena", i) for i in range(3)]
    servers.append(game_server("games", "arena", 3, state="NotReady"))
    servers[0].ops_state = "Allocated"
    eu.report(agent_pb2.StatusDelta(game_servers=servers))
    reported = await scrape_until(
        port, lambda s: s.total("gamefleet_hub_game_servers") == len(servers)
    )
    assert reported.get("gamefleet_hub_game_servers", state="Ready", ops_state="None") == 2
    assert reported.get("gamefleet_hub_game_servers", state="Ready", ops_state="Allocated") == 1
    assert reported.get("gamefleet_hub_game_servers", state="NotReady", ops_state="None") == 1
    assert (reported.get("gamefleet_hub_status_deltas_total") or 0) >= 1

    await clusters.CordonCluster(cluster_pb2.ClusterRef(name="eu-1"))
    cordoned = await scrape(port)
    assert cordoned.get("gamefleet_hub_clusters", phase="Ready", cordoned="true") == 1
    assert cordoned.get("gamefleet_hub_clusters", phase="Ready", cordoned="false") == 0

    # The agent's stream is counted when it ends; cut, it ends CANCELLED (a half-close
    # before the cancel would let it end OK).
    assert cordoned.total("gamefleet_hub_grpc_requests_total", service=AGENTS) == 0
    await eu.cut()
    ended = await scrape_until(
        port, lambda s: s.total("gamefleet_hub_grpc_requests_total", service=AGENTS) == 1
    )
    assert ended.get("gamefleet_hub_agent_sessions") == 0
    assert ended.requests(AGENTS, "Connect", "CANCELLED") == 1


async def test_allocations_are_counted_by_outcome_and_conflicts_as_retries(
    hub: Hub,
    channel: grpc.aio.Channel,
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub,
    start_agent: StartAgent,
) -> None:
    port = _port(hub)
    await fleets.ApplyFleet(fleet_pb2.ApplyFleetRequest(fleet=fleet(replicas=0)))
    eu = await start_agent("eu-1")
    servers = [game_server("games", "arena", i) for i in range(2)]
    eu.report(agent_pb2.StatusDelta(game_servers=servers))
    await scrape_until(port, lambda s: s.total("gamefleet_hub_game_servers") == 2)
    taken = game_server("games", "arena", 0)
    taken.ops_state = "Allocated"
    eu.change_quietly(taken)  # allocated in the cluster, not reported yet: a conflict

    stub = allocation_pb2_grpc.AllocationServiceStub(channel)

    def ask(request_id: str) -> allocation_pb2.AllocateRequest:
        return allocation_pb2.AllocateRequest(
            namespace="games", fleet="arena", request_id=request_id
        )

    first = await stub.Allocate(ask("m1"))
    assert first.game_server.name == "arena-1"
    assert (await stub.Allocate(ask("m1"))).replayed
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Allocate(ask("m2"))
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED

    found = await scrape(port)
    outcomes = {
        outcome: found.get("gamefleet_hub_allocations_total", outcome=outcome)
        for outcome in ("allocated", "replayed", "recovered", "exhausted")
    }
    assert outcomes == {"allocated": 1, "replayed": 1, "recovered": 0, "exhausted": 1}
    retries = {
        reason: found.get("gamefleet_hub_allocation_retries_total", reason=reason)
        for reason in ("conflict", "unanswered", "error")
    }
    assert retries == {"conflict": 2, "unanswered": 0, "error": 0}  # arena-0 tried by m1 and m2


@pytest.mark.parametrize("metrics", [False, True], ids=["plain", "metered"])
async def test_health_watch_streams_through_the_interceptors(metrics: bool, tmp_path: Path) -> None:
    """Health's Watch answers with context.write, not as a generator; every interceptor that
    re-wraps streams must still pass it through (and metrics count it when it ends)."""
    store = tmp_path / "hub.db"
    server = await (start_metered_hub(f"sqlite:///{store}") if metrics else start_hub(store))
    try:
        await server.wait_until_leading()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service=LEADER_SERVICE)
            )
            first = await anext(aiter(watch))
            assert first.status == health_pb2.HealthCheckResponse.SERVING
            watch.cancel()
        if metrics:
            ended = await scrape_until(
                _port(server),
                lambda s: s.total("gamefleet_hub_grpc_requests_total", method="Watch") == 1,
            )
            assert ended.requests("grpc.health.v1.Health", "Watch", "CANCELLED") == 1
    finally:
        await server.stop(grace=0)


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    server = EtcdServer(etcd_binary(), tmp_path)
    server.start()
    yield server
    server.stop()


async def test_leader_reports_1_and_a_follower_0_without_live_state(etcd: EtcdServer) -> None:
    store = f"etcd://{etcd.endpoint}/metrics-{uuid.uuid4().hex}/"
    hubs = [await start_metered_hub(store), await start_metered_hub(store)]
    try:
        waits = [asyncio.create_task(hub.wait_until_leading()) for hub in hubs]
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        leader = hubs[waits.index(done.pop())]
        follower = next(hub for hub in hubs if hub is not leader)

        async with grpc.aio.insecure_channel(f"127.0.0.1:{follower.port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await fleet_pb2_grpc.FleetServiceStub(channel).ApplyFleet(
                    fleet_pb2.ApplyFleetRequest(fleet=fleet())
                )
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE

        leading, following = await scrape(_port(leader)), await scrape(_port(follower))
        assert (leading.get("gamefleet_hub_leader"), following.get("gamefleet_hub_leader")) == (
            1,
            0,
        )
        assert leading.get("gamefleet_hub_fleets") == 0
        assert following.get("gamefleet_hub_fleets") is None
        assert following.requests(FLEETS, "ApplyFleet", "UNAVAILABLE") == 1
        assert leading.total("gamefleet_hub_store_operations_total", backend="etcd") >= 1
    finally:
        for hub in hubs:
            await hub.stop(grace=0)


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def test_hub_process_serves_metrics_on_its_own_port(tmp_path: Path) -> None:
    hub = HubProcess(
        f"sqlite:///{tmp_path / 'hub.db'}", ["--metrics-listen", "127.0.0.1:0"]
    ).start()
    try:
        assert hub.metrics_port is not None and hub.metrics_port != hub.port
        applied = run_cli("apply", "-f", "-", "--hub", hub.address, stdin=_MANIFEST)
        assert applied.returncode == 0, applied.stderr
        status, text = _get(f"http://127.0.0.1:{hub.metrics_port}/metrics")
        assert status == 200
        found = Scrape(text)
        assert found.requests(FLEETS, "ApplyFleet", "OK") == 1
        assert found.get("gamefleet_hub_leader") == 1
    finally:
        hub.kill()


def test_hub_process_without_the_flag_serves_no_metrics(tmp_path: Path) -> None:
    hub = HubProcess(f"sqlite:///{tmp_path / 'hub.db'}").start()
    try:
        assert hub.metrics_port is None
        assert "metrics" not in hub.log_tail()
    finally:
        hub.kill()


_MANIFEST = """\
apiVersion: gamefleet.io/v1
kind: Fleet
metadata: {name: arena, namespace: games}
spec:
  replicas: 2
  template:
    gameServerTemplate:
      spec:
        containers:
          - {name: arena, image: arena:1.0}
"""


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


@pytest.mark.parametrize(
    "value", ["nonsense", "127.0.0.1", "127.0.0.1:99999", "::1:9465", ":9465", "busy"]
)
def test_bad_metrics_listen_exits_1_with_one_line_naming_the_flag(
    value: str, busy_port: int, tmp_path: Path
) -> None:
    if value == "busy":
        value = f"127.0.0.1:{busy_port}"
    done = run_cli(
        "hub", "serve", "--store", f"sqlite:///{tmp_path / 'hub.db'}",
        "--listen", "127.0.0.1:0", "--metrics-listen", value,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: ")
    assert "--metrics-listen" in done.stderr
    assert value in done.stderr


async def test_every_background_loop_of_the_leader_is_supervised(hub: Hub) -> None:
    """Each long-lived loop shows in gamefleet_hub_task_restarts from its start (at 0): a loop
    that fails is logged, counted and started again rather than stopping for good."""
    expected = {
        "follow-fleets",
        "follow-clusters",
        "health",
        "reconcile",
        "remove-deleted-fleets",
        "sweep-allocations",
        "follow-autoscalers",
        "autoscaler-status",
        "autoscaler-schedule",
    }

    def supervised(found: Scrape) -> set[str]:
        return {
            dict(labels)["task"]
            for name, labels in found.samples
            if name == "gamefleet_hub_task_restarts_total"
        }

    found = await scrape_until(_port(hub), lambda s: expected <= supervised(s))
    assert all(
        value == 0
        for (name, _), value in found.samples.items()
        if name == "gamefleet_hub_task_restarts_total"
    )
