"""The hub's auth rules over real TLS on loopback: tokens for users, certificates for agents."""

from __future__ import annotations

import grpc
import pytest
from gamefleet.v1 import agent_pb2, agent_pb2_grpc, fleet_pb2, fleet_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hub.api import auth

from .conftest import TOKEN, Credentials, Pki, Served

TIMEOUT = 10.0


def _user_channel(pki: Pki, port: int, token: str | None = None) -> grpc.aio.Channel:
    credentials = grpc.ssl_channel_credentials(root_certificates=pki.ca_pem)
    if token is not None:
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.access_token_call_credentials(token)
        )
    return grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials)


def _agent_channel(pki: Pki, port: int, client: Credentials | None) -> grpc.aio.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.ca_pem,
        private_key=client.key if client else None,
        certificate_chain=client.cert if client else None,
    )
    return grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials)


def _hello(cluster: str) -> agent_pb2.AgentMessage:
    return agent_pb2.AgentMessage(hello=agent_pb2.AgentHello(cluster=cluster))


async def _connect(channel: grpc.aio.Channel, cluster: str) -> str:
    """Say hello as ``cluster``; the identity the hub's side saw.

    Writes without half-closing before the reply: grpc.aio reports a write or half-close that
    races the server's final status as INTERNAL or CANCELLED instead of that status.
    """
    call = agent_pb2_grpc.AgentServiceStub(channel).Connect(None, timeout=TIMEOUT)
    await call.write(_hello(cluster))
    reply = await call.read()
    assert isinstance(reply, agent_pb2.HubMessage)
    await call.done_writing()
    assert await call.code() is grpc.StatusCode.OK
    return reply.operation.id


async def _refused(channel: grpc.aio.Channel) -> tuple[grpc.StatusCode, str]:
    """The status of a Connect the hub ends before reading a message: code and details."""
    call = agent_pb2_grpc.AgentServiceStub(channel).Connect(None, timeout=TIMEOUT)
    return await call.code(), await call.details()


def _agent_port(served: Served) -> int:
    assert served.ports.agent is not None
    return served.ports.agent


async def _get_fleet(channel: grpc.aio.Channel) -> fleet_pb2.Fleet:
    stub = fleet_pb2_grpc.FleetServiceStub(channel)
    return await stub.GetFleet(fleet_pb2.GetFleetRequest(), timeout=TIMEOUT)


async def test_health_needs_no_credentials(pki: Pki, secured: Served) -> None:
    request = health_pb2.HealthCheckRequest()
    async with _user_channel(pki, secured.ports.user) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(request, timeout=TIMEOUT)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    async with _agent_channel(pki, _agent_port(secured), pki.agents["alpha"]) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(request, timeout=TIMEOUT)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    ("token", "details"),
    [
        (None, auth.MISSING_TOKEN),
        ("wrong-token", auth.INVALID_TOKEN),
        (TOKEN[:-1], auth.INVALID_TOKEN),
    ],
)
async def test_user_call_without_a_valid_token_is_unauthenticated(
    pki: Pki, secured: Served, token: str | None, details: str
) -> None:
    async with _user_channel(pki, secured.ports.user, token) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _get_fleet(channel)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert caught.value.details() == details


async def test_user_stream_without_token_is_unauthenticated(pki: Pki, secured: Served) -> None:
    async with _user_channel(pki, secured.ports.user) as channel:
        stub = fleet_pb2_grpc.FleetServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in stub.WatchFleets(fleet_pb2.WatchFleetsRequest(), timeout=TIMEOUT):
                pass
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_user_call_with_the_right_token_succeeds_as_its_user(
    pki: Pki, secured: Served
) -> None:
    async with _user_channel(pki, secured.ports.user, TOKEN) as channel:
        assert await _get_fleet(channel) == fleet_pb2.Fleet()
        stub = fleet_pb2_grpc.FleetServiceStub(channel)
        events = [
            e async for e in stub.WatchFleets(fleet_pb2.WatchFleetsRequest(), timeout=TIMEOUT)
        ]
    assert [event.type for event in events] == ["alice"]


async def test_user_api_on_the_agent_port_still_needs_a_token(pki: Pki, secured: Served) -> None:
    async with _agent_channel(pki, _agent_port(secured), pki.agents["alpha"]) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _get_fleet(channel)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_agent_without_client_certificate_is_unauthenticated(
    pki: Pki, secured: Served
) -> None:
    # The user port never asks for a client certificate.
    async with _user_channel(pki, secured.ports.user, TOKEN) as channel:
        assert await _refused(channel) == (grpc.StatusCode.UNAUTHENTICATED, auth.MISSING_CERT)


async def test_agent_port_refuses_a_handshake_without_client_certificate(
    pki: Pki, secured: Served
) -> None:
    async with _agent_channel(pki, _agent_port(secured), None) as channel:
        code, _ = await _refused(channel)
    assert code is grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("cluster", ["alpha", "beta"])
async def test_agent_sees_its_certificate_cluster(pki: Pki, secured: Served, cluster: str) -> None:
    async with _agent_channel(pki, _agent_port(secured), pki.agents[cluster]) as channel:
        assert await _connect(channel, cluster) == cluster


async def test_agent_cannot_speak_for_another_cluster(pki: Pki, secured: Served) -> None:
    async with _agent_channel(pki, _agent_port(secured), pki.agents["alpha"]) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _connect(channel, "beta")
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "'alpha', not 'beta'" in (caught.value.details() or "")


async def test_certificate_of_another_ca_fails_the_handshake(pki: Pki, secured: Served) -> None:
    async with _agent_channel(pki, _agent_port(secured), pki.foreign_alpha) as channel:
        code, _ = await _refused(channel)
    assert code is grpc.StatusCode.UNAVAILABLE


async def test_server_certificate_as_client_fails_the_handshake(pki: Pki, secured: Served) -> None:
    # Its extended key usage is serverAuth only: TLS itself refuses it.
    async with _agent_channel(pki, _agent_port(secured), pki.server_as_client) as channel:
        code, _ = await _refused(channel)
    assert code is grpc.StatusCode.UNAVAILABLE


async def test_certificate_naming_no_cluster_is_unauthenticated(pki: Pki, secured: Served) -> None:
    async with _agent_channel(pki, _agent_port(secured), pki.nameless_client) as channel:
        code, details = await _refused(channel)
    assert code is grpc.StatusCode.UNAUTHENTICATED
    assert details.startswith("client certificate: ")


async def test_open_mode_lets_everyone_in_without_identity(open_server: Served) -> None:
    assert open_server.ports.agent is None
    async with grpc.aio.insecure_channel(f"127.0.0.1:{open_server.ports.user}") as channel:
        assert await _get_fleet(channel) == fleet_pb2.Fleet()
        assert await _connect(channel, "alpha") == ""
