"""The agent's Kubernetes client retries a 429 (the request was not served), as a real API server
answers while a watch cache is "(re)initializing" or priority and fairness sheds load.

A loopback HTTP server plays the API server here: a real one cannot be made to answer 429 on
demand. It answers the agent's client over real HTTP, as the API server does (a Status body,
Retry-After in its details)."""

from __future__ import annotations

import time

import pytest
from aiohttp import web
from kubernetes.aio import client as k8s_client

from agent.kube import client as kclient
from agent.kube import resources

INITIALIZING = {
    "kind": "Status",
    "apiVersion": "v1",
    "status": "Failure",
    "message": "storage is (re)initializing",
    "reason": "TooManyRequests",
    "details": {"retryAfterSeconds": 1},
    "code": 429,
}


class FakeApiServer:
    """Answers 429 to the first `busy` requests, then a pod list; counts requests."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.seen: list[float] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(time.monotonic())
        if len(self.seen) <= self.busy:
            return web.json_response(INITIALIZING, status=429, headers={"Retry-After": "1"})
        return web.json_response({"kind": "PodList", "items": []})


async def _client(busy: int) -> tuple[FakeApiServer, kclient.KubeClient, web.AppRunner]:
    fake = FakeApiServer(busy)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    cfg = k8s_client.Configuration(host=f"http://127.0.0.1:{port}")
    return fake, kclient.KubeClient(k8s_client.ApiClient(cfg), cfg), runner


async def test_a_429_is_retried_after_the_time_the_server_asks() -> None:
    fake, kube, runner = await _client(busy=2)
    try:
        listed = await kube.request("GET", "/api/v1/pods")
    finally:
        await kube.close()
        await runner.cleanup()
    assert listed["items"] == []
    assert len(fake.seen) == 3
    gaps = [b - a for a, b in zip(fake.seen, fake.seen[1:], strict=False)]
    assert all(0.9 <= gap < 3.0 for gap in gaps), gaps  # Retry-After: 1


async def test_a_write_answered_429_is_retried_and_counted_once() -> None:
    fake, kube, runner = await _client(busy=1)
    try:
        await kube.create(resources.POD, "default", {"metadata": {"name": "p"}})
    finally:
        await kube.close()
        await runner.cleanup()
    assert len(fake.seen) == 2
    assert kube.writes.total() == 1


async def test_a_server_busy_for_longer_than_the_retry_bound_is_an_error() -> None:
    fake, kube, runner = await _client(busy=1000)
    kube.retry_429_for = 2.5
    began = time.monotonic()
    try:
        with pytest.raises(kclient.ApiError, match="storage is \\(re\\)initializing") as failed:
            await kube.request("GET", "/api/v1/pods")
    finally:
        await kube.close()
        await runner.cleanup()
    assert failed.value.status == 429
    assert 2.0 <= time.monotonic() - began < 8.0
    assert 2 <= len(fake.seen) <= 6
