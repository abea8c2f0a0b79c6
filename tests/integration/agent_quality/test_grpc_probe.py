"""The prober's gRPC health checks against a real grpc.aio health server on loopback."""

from __future__ import annotations

import asyncio
import socket
import time
import types
from typing import TYPE_CHECKING, Any, cast

import grpc
import pytest
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agent.core import quality
from agent.kube import cache, resources
from agent.quality import prober as quality_prober
from okg import service_quality

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from agent.kube import client as kclient

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
KEY = ("games", "gs-0", "uid-0", "health")


class Health(health_aio.HealthServicer):  # type: ignore[misc]
    """The reference servicer, recording each caller's address, optionally slow."""

    def __init__(self) -> None:
        super().__init__()
        self.peers: list[str] = []
        self.delay = 0.0

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> health_pb2.HealthCheckResponse:
        self.peers.append(context.peer())
        await asyncio.sleep(self.delay)
        return cast("health_pb2.HealthCheckResponse", await super().Check(request, context))


async def start_server(health: Health | None, port: int = 0) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    if health is not None:
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server, bound


@pytest.fixture
async def health() -> AsyncIterator[tuple[Health, int]]:
    servicer = Health()
    await servicer.set("game", SERVING)
    server, port = await start_server(servicer)
    yield servicer, port
    await server.stop(None)


@pytest.fixture
def prober() -> quality_prober.Prober:
    # A gRPC probe makes no API request: a stand-in with the request count is enough.
    kube = cast("kclient.KubeClient", types.SimpleNamespace(requests=0))
    sets, game_servers, pods = (
        cache.WatchCache(kube, resource)
        for resource in (resources.GAME_SERVER_SET, resources.GAME_SERVER, resources.POD)
    )
    return quality_prober.Prober(kube, sets, game_servers, pods, None)


def pod(ip: str = "127.0.0.1") -> dict[str, Any]:
    return {
        "metadata": {"namespace": "games", "name": "gs-0", "uid": "uid-0"},
        "spec": {"containers": [{"name": "main", "image": "game:1"}]},
        "status": {"phase": "Running", "podIP": ip},
    }


def grpc_quality(
    port: int, service: str = "game", timeout: int = 1
) -> service_quality.ServiceQuality:
    (parsed,) = quality.parse_qualities(
        [{"name": "health", "grpc": {"port": port, "service": service}, "timeoutSeconds": timeout}]
    )
    return parsed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_serving_status_name_is_the_result(
    prober: quality_prober.Prober, health: tuple[Health, int]
) -> None:
    servicer, port = health
    assert await prober.probe_once(pod(), grpc_quality(port), KEY) == (True, "SERVING")
    await servicer.set("game", NOT_SERVING)
    assert await prober.probe_once(pod(), grpc_quality(port), KEY) == (False, "NOT_SERVING")
    # The empty service is the server's overall health; an unknown one is NOT_FOUND.
    assert await prober.probe_once(pod(), grpc_quality(port, ""), KEY) == (True, "SERVING")
    assert await prober.probe_once(pod(), grpc_quality(port, "other"), KEY) == (
        False,
        "SERVICE_UNKNOWN",
    )


async def test_a_target_keeps_its_channel_across_runs(
    prober: quality_prober.Prober, health: tuple[Health, int]
) -> None:
    servicer, port = health
    for _ in range(3):
        assert await prober.probe_once(pod(), grpc_quality(port), KEY) == (True, "SERVING")
    assert len(set(servicer.peers)) == 1, servicer.peers  # one connection for three runs
    assert prober.counts()["grpc_channels"] == 1
    servicer.peers.clear()
    for _ in range(2):  # without a target key: a channel for the run only
        assert await prober.probe_once(pod(), grpc_quality(port)) == (True, "SERVING")
    assert len(set(servicer.peers)) == 2, servicer.peers
    assert prober.counts()["grpc_channels"] == 1


async def test_refused_is_a_failure_and_the_next_run_connects_afresh(
    prober: quality_prober.Prober,
) -> None:
    port = free_port()
    assert await prober.probe_once(pod(), grpc_quality(port), KEY) == (False, "")
    assert prober.counts()["grpc_channels"] == 0  # a failed channel is not kept
    servicer = Health()
    await servicer.set("game", SERVING)
    server, _ = await start_server(servicer, port)
    try:
        began = time.monotonic()
        assert await prober.probe_once(pod(), grpc_quality(port), KEY) == (True, "SERVING")
        assert time.monotonic() - began < 1.0  # no reconnect backoff left over
    finally:
        await server.stop(None)


async def test_a_slow_answer_times_out_as_a_failure(
    prober: quality_prober.Prober, health: tuple[Health, int]
) -> None:
    servicer, port = health
    servicer.delay = 3.0
    began = time.monotonic()
    assert await prober.probe_once(pod(), grpc_quality(port, timeout=1), KEY) == (False, "")
    assert 0.9 < time.monotonic() - began < 2.0


async def test_a_server_without_the_health_service_is_a_failure(
    prober: quality_prober.Prober,
) -> None:
    server, port = await start_server(None)
    try:
        assert await prober.probe_once(pod(), grpc_quality(port), KEY) == (False, "")
    finally:
        await server.stop(None)


async def test_a_pod_without_an_ip_is_a_failure(prober: quality_prober.Prober) -> None:
    assert await prober.probe_once(pod(""), grpc_quality(9090), KEY) == (False, "")
