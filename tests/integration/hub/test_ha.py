"""Two hub processes on one etcd: one leader serves; kill -9 it and the other serves within 10 s."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hub.api.server import LEADER_SERVICE
from tests.integration.store.etcd_server import EtcdServer, etcd_binary
from tests.support.hub_process import HubProcess, run_cli

from .test_cli import FLEET_MANIFEST

TAKEOVER_LIMIT_S = 10.0


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    server = EtcdServer(etcd_binary(), tmp_path)
    server.start()
    yield server
    server.stop()


def leads(hub: HubProcess) -> bool:
    with grpc.insecure_channel(hub.address) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=LEADER_SERVICE), timeout=2
            )
        except grpc.RpcError:
            return False
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


def wait_for_one_leader(hubs: list[HubProcess], timeout: float) -> HubProcess:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leaders = [hub for hub in hubs if leads(hub)]
        assert len(leaders) <= 1, "two hubs lead at once"
        if leaders:
            return leaders[0]
        time.sleep(0.1)  # polling another process's health; there is nothing to await
    raise AssertionError(f"no hub became leader within {timeout} s")


def test_kill_9_the_leader_and_the_other_takes_over(etcd: EtcdServer) -> None:
    store = f"etcd://{etcd.endpoint}/ha-{uuid.uuid4().hex}/"
    hubs = [HubProcess(store).start(), HubProcess(store).start()]
    try:
        leader = wait_for_one_leader(hubs, TAKEOVER_LIMIT_S)
        follower = next(hub for hub in hubs if hub is not leader)
        # Only the leader serves; a follower names it.
        refused = run_cli("apply", "-f", "-", "--hub", follower.address, stdin=FLEET_MANIFEST)
        assert refused.returncode == 1
        assert refused.stderr.startswith("error: UNAVAILABLE")
        assert leader.address in refused.stderr
        applied = run_cli("apply", "-f", "-", "--hub", leader.address, stdin=FLEET_MANIFEST)
        assert applied.returncode == 0, applied.stderr

        leader.kill()
        killed_at = time.monotonic()
        assert wait_for_one_leader([follower], TAKEOVER_LIMIT_S) is follower
        assert time.monotonic() - killed_at < TAKEOVER_LIMIT_S
        got = run_cli("get", "fleet", "arena", "-n", "games", "--hub", follower.address)
        assert got.returncode == 0, got.stderr
    finally:
        for hub in hubs:
            hub.kill()
