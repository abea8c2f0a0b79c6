"""Certificates, tokens and a small TLS server with the hub's auth interceptor, on loopback.

The server registers the real health service, a FleetService with two methods (an empty Fleet,
and a watch that reports the authenticated user) and an AgentService whose Connect echoes the
cluster identity it sees, checking each hello against it as the hub's servicer does.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from gamefleet.v1 import agent_pb2, agent_pb2_grpc, fleet_pb2
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hub.api import auth, errors
from hub.security import ca

TOKEN = "s3cret-token-for-alice"
FLEET_SERVICE = "gamefleet.v1.FleetService"


@dataclasses.dataclass(frozen=True)
class Credentials:
    cert: bytes
    key: bytes


@dataclasses.dataclass(frozen=True)
class Pki:
    ca_dir: Path
    ca_pem: bytes
    server_cert: Path
    server_key: Path
    token_file: Path
    agents: dict[str, Credentials]
    foreign_alpha: Credentials
    server_as_client: Credentials
    nameless_client: Credentials


def _nameless_client(authority: ca.CertificateAuthority) -> Credentials:
    """A client certificate the CA signed that names no cluster."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone")]))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(authority.key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Credentials(cert.public_bytes(serialization.Encoding.PEM), key_pem)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    authority = ca.create_ca(root / "ca")
    server = ca.issue_server_cert(authority)
    server_cert, server_key = ca.write_issued(server, root / "server", "hub")
    agents = {
        name: Credentials(issued.cert_pem, issued.key_pem)
        for name in ("alpha", "beta")
        for issued in [ca.issue_agent_cert(authority, name)]
    }
    foreign = ca.issue_agent_cert(ca.new_ca("another CA"), "alpha")
    token_file = root / "tokens.csv"
    token_file.write_text(f"# user tokens\n{TOKEN},alice\nother-token-of-bob,bob\n")
    return Pki(
        ca_dir=root / "ca",
        ca_pem=authority.cert_pem,
        server_cert=server_cert,
        server_key=server_key,
        token_file=token_file,
        agents=agents,
        foreign_alpha=Credentials(foreign.cert_pem, foreign.key_pem),
        server_as_client=Credentials(server.cert_pem, server.key_pem),
        nameless_client=_nameless_client(authority),
    )


class EchoAgentServicer(agent_pb2_grpc.AgentServiceServicer):
    async def Connect(
        self, request_iterator: Any, context: errors.Context
    ) -> AsyncIterator[agent_pb2.HubMessage]:
        identity = auth.cluster_identity(context)
        async for message in request_iterator:
            if message.HasField("hello"):
                auth.check_cluster(identity, message.hello.cluster, "hello.cluster")
            yield agent_pb2.HubMessage(operation=agent_pb2.TargetedOperation(id=identity or ""))


async def _get_fleet(
    request: fleet_pb2.GetFleetRequest, context: errors.Context
) -> fleet_pb2.Fleet:
    return fleet_pb2.Fleet()


async def _watch_fleets(
    request: fleet_pb2.WatchFleetsRequest, context: errors.Context
) -> AsyncIterator[fleet_pb2.FleetEvent]:
    # The event's type carries the authenticated user, for the test to read.
    yield fleet_pb2.FleetEvent(type=auth.current_user() or "")


def _fleet_handler() -> grpc.GenericRpcHandler[Any, Any]:
    return grpc.method_handlers_generic_handler(
        FLEET_SERVICE,
        {
            "GetFleet": grpc.unary_unary_rpc_method_handler(
                _get_fleet,
                request_deserializer=fleet_pb2.GetFleetRequest.FromString,
                response_serializer=fleet_pb2.Fleet.SerializeToString,
            ),
            "WatchFleets": grpc.unary_stream_rpc_method_handler(
                _watch_fleets,
                request_deserializer=fleet_pb2.WatchFleetsRequest.FromString,
                response_serializer=fleet_pb2.FleetEvent.SerializeToString,
            ),
        },
    )


@dataclasses.dataclass(frozen=True)
class Served:
    ports: auth.BoundPorts
    health: health_aio.HealthServicer


async def _serve(interceptor: auth.AuthInterceptor, **ports: Any) -> tuple[grpc.aio.Server, Served]:
    server = grpc.aio.server(interceptors=[interceptor, errors.ErrorInterceptor()])
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    agent_pb2_grpc.add_AgentServiceServicer_to_server(EchoAgentServicer(), server)
    server.add_generic_rpc_handlers([_fleet_handler()])
    bound = auth.add_ports(server, "127.0.0.1:0", **ports)
    await server.start()
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    return server, Served(bound, health)


@pytest.fixture
async def secured(pki: Pki) -> AsyncIterator[Served]:
    """Tokens on the user API, mTLS on AgentService: the user port and the agent port."""
    server, served = await _serve(
        auth.interceptor(pki.token_file, pki.ca_dir / ca.CA_CERT_FILE),
        tls_cert=pki.server_cert,
        tls_key=pki.server_key,
        client_ca=pki.ca_dir / ca.CA_CERT_FILE,
        agent_listen="127.0.0.1:0",
    )
    yield served
    await server.stop(None)


@pytest.fixture
async def open_server() -> AsyncIterator[Served]:
    """No token file and no client CA: the development mode, plaintext."""
    server, served = await _serve(auth.interceptor(None, None))
    yield served
    await server.stop(None)
