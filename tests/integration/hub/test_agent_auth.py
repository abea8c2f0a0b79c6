"""Agents authenticate with their cluster's certificate on the hub's mTLS agent port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest
from gamefleet.v1 import agent_pb2, agent_pb2_grpc

from hub.api.server import Hub, HubConfig
from hub.security import ca as security_ca
from tests.support.agent_sim import SimulatedAgent

from .conftest import TEST_HEALTH, wait_phase


@pytest.fixture
async def secure_hub(tmp_path: Path) -> AsyncIterator[tuple[Hub, Path]]:
    authority = security_ca.create_ca(tmp_path / "ca")
    server = security_ca.issue_server_cert(authority)
    security_ca.write_issued(server, tmp_path, "server")
    hub = Hub(
        HubConfig(
            store_url=f"sqlite:///{tmp_path}/hub.db",
            listen="127.0.0.1:0",
            agent_listen="127.0.0.1:0",
            tls_cert=tmp_path / "server.crt",
            tls_key=tmp_path / "server.key",
            client_ca=tmp_path / "ca" / "ca.crt",
            health=TEST_HEALTH,
        )
    )
    await hub.start()
    await hub.wait_until_leading()
    yield hub, tmp_path
    await hub.stop(grace=0)


def channel_with(workdir: Path, cluster: str | None) -> Callable[[str], grpc.aio.Channel]:
    """A channel factory presenting ``cluster``'s certificate (or none)."""
    authority = security_ca.load_ca(workdir / "ca")
    key = cert = None
    if cluster is not None:
        issued = security_ca.issue_agent_cert(authority, cluster)
        key, cert = issued.key_pem, issued.cert_pem
    credentials = grpc.ssl_channel_credentials(authority.cert_pem, key, cert)
    return lambda address: grpc.aio.secure_channel(address, credentials)


async def test_agent_with_its_own_certificate_connects(secure_hub: tuple[Hub, Path]) -> None:
    hub, workdir = secure_hub
    agent = SimulatedAgent(
        f"localhost:{hub.agent_port}", "eu-1", channel_factory=channel_with(workdir, "eu-1"),
        heartbeat_interval=0.2,
    )  # fmt: skip
    await agent.start()
    try:
        await wait_phase(hub, "eu-1", "Ready")
    finally:
        await agent.stop()


async def test_agent_speaking_for_another_cluster_is_denied(secure_hub: tuple[Hub, Path]) -> None:
    hub, workdir = secure_hub
    impostor = SimulatedAgent(
        f"localhost:{hub.agent_port}", "us-1", channel_factory=channel_with(workdir, "eu-1")
    )
    # Only the hello is written, so the refusal is not raced by a heartbeat write.
    impostor.heartbeats = False
    await impostor.start()
    await impostor.wait_for(lambda: impostor.error is not None)
    assert isinstance(impostor.error, grpc.aio.AioRpcError)
    assert impostor.error.code() is grpc.StatusCode.PERMISSION_DENIED
    await impostor.stop()
    assert hub.gate.federation is not None
    assert hub.gate.federation.phase("us-1").value == "Unknown"


@pytest.mark.parametrize(
    ("port", "code"),
    [
        # The agent port's TLS handshake needs a client certificate.
        ("agent", grpc.StatusCode.UNAVAILABLE),
        # The user port asks for none, so AgentService there is refused.
        ("user", grpc.StatusCode.UNAUTHENTICATED),
    ],
)
async def test_agent_without_a_certificate_is_rejected(
    secure_hub: tuple[Hub, Path], port: str, code: grpc.StatusCode
) -> None:
    hub, workdir = secure_hub
    number = hub.agent_port if port == "agent" else hub.port

    async def silent() -> AsyncIterator[agent_pb2.AgentMessage]:
        # Sends nothing, so the refusal is read cleanly: a client still writing when the hub
        # refuses may see grpc.aio's "Internal error from Core" instead of the status.
        await asyncio.Event().wait()
        yield agent_pb2.AgentMessage()

    async with channel_with(workdir, None)(f"localhost:{number}") as channel:
        stub: agent_pb2_grpc.AgentServiceAsyncStub = agent_pb2_grpc.AgentServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in stub.Connect(silent()):
                pass
    assert caught.value.code() is code
    assert hub.gate.federation is not None
    assert hub.gate.federation.phase("eu-1").value == "Unknown"
