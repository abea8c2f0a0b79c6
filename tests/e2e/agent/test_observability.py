"""What an operator scrapes and points KEDA at: the agent's /metrics is valid exposition
(`promtool check metrics`) with every series the Grafana board queries, and both the metrics
and the scaler ports serve TLS when asked (the scaler with client certificates)."""

from __future__ import annotations

import socket
import ssl
from typing import TYPE_CHECKING

import aiohttp
import grpc
import pytest
from externalscaler import externalscaler_pb2, externalscaler_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hub.security import ca as security_ca
from tests.support import exposition

from .harness import AgentProcess, eventually

if TYPE_CHECKING:
    import pathlib

    from .harness import Namespace

SERVICE = "externalscaler.ExternalScaler"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _scrape(url: str, context: ssl.SSLContext | None = None) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, ssl=context if context is not None else False) as answer,
    ):
        assert answer.status == 200
        return await answer.text()


async def _scraped(url: str, context: ssl.SSLContext | None = None) -> str:
    """The first answer of an endpoint that is still starting."""
    text = ""

    async def answered() -> bool:
        nonlocal text
        try:
            text = await _scrape(url, context)
        except aiohttp.ClientError:
            return False
        return True

    await eventually(answered, 60.0, f"{url} answering")
    return text


async def test_the_agents_exposition_is_valid_and_holds_what_its_board_queries(
    kubeconfig: pathlib.Path, namespace: Namespace, tmp_path: pathlib.Path
) -> None:
    port = _free_port()
    agent = AgentProcess(
        kubeconfig,
        namespace.name,
        tmp_path / "agent.log",
        extra=("--metrics-listen", f"127.0.0.1:{port}"),
    ).start()
    try:
        await namespace.create_set("gs", 2)
        await namespace.wait_servers("gs", {0, 1})
        url = f"http://127.0.0.1:{port}/metrics"

        async def reconciled() -> bool:
            return "gamefleet_agent_reconciles_total{" in await _scrape(url)

        await eventually(reconciled, 60.0, "reconciles counted")
        text = await _scrape(url)
    finally:
        agent.stop()
    checked = exposition.check_metrics(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    names = exposition.sample_names(text)
    board = exposition.dashboards()["gamefleet-agent.json"]
    queried = set().union(*map(exposition.metric_names, exposition.expressions(board)))
    assert queried, "the agent board queries nothing"
    assert queried <= names, f"not in the agent's exposition: {sorted(queried - names)}"


def _certificates(directory: pathlib.Path) -> dict[str, pathlib.Path]:
    authority = security_ca.new_ca("test CA")
    ca = directory / "ca.crt"
    ca.write_bytes(authority.cert_pem)
    server_cert, server_key = security_ca.write_issued(
        security_ca.issue_server_cert(authority), directory, "server"
    )
    client_cert, client_key = security_ca.write_issued(
        security_ca.issue_agent_cert(authority, "keda"), directory, "client"
    )
    return {
        "ca": ca,
        "cert": server_cert,
        "key": server_key,
        "client_cert": client_cert,
        "client_key": client_key,
    }


async def _health(channel: grpc.aio.Channel) -> int:
    answer = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=SERVICE), timeout=5
    )
    return int(answer.status)


async def test_the_scaler_and_metrics_ports_serve_tls(
    kubeconfig: pathlib.Path,
    namespace: Namespace,
    tmp_path: pathlib.Path,
) -> None:
    certs = _certificates(tmp_path)
    scaler_port, metrics_port = _free_port(), _free_port()
    agent = AgentProcess(
        kubeconfig,
        namespace.name,
        tmp_path / "agent.log",
        scaler_port=scaler_port,
        extra=(
            "--scaler-tls-cert", str(certs["cert"]), "--scaler-tls-key", str(certs["key"]),
            "--scaler-client-ca", str(certs["ca"]),
            "--metrics-listen", f"127.0.0.1:{metrics_port}",
            "--metrics-tls-cert", str(certs["cert"]), "--metrics-tls-key", str(certs["key"]),
        ),
    ).start()  # fmt: skip
    try:
        await namespace.create_set("gs", 3)
        await namespace.wait_servers("gs", {0, 1, 2})
        # Metrics: HTTPS with the CA; plain HTTP gets nothing.
        context = ssl.create_default_context(cafile=str(certs["ca"]))
        text = await _scraped(f"https://127.0.0.1:{metrics_port}/metrics", context)
        assert "gamefleet_agent_leader" in text
        try:
            await _scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        except aiohttp.ClientError:
            pass
        else:
            raise AssertionError("the TLS metrics port answered plain HTTP")

        # Scaler: gRPC over TLS with a client certificate, as KEDA's TriggerAuthentication
        # (caCert, tlsClientCert, tlsClientKey) sends it.
        credentials = grpc.ssl_channel_credentials(
            root_certificates=certs["ca"].read_bytes(),
            private_key=certs["client_key"].read_bytes(),
            certificate_chain=certs["client_cert"].read_bytes(),
        )
        address = f"127.0.0.1:{scaler_port}"
        async with grpc.aio.secure_channel(address, credentials) as channel:

            async def serving() -> bool:
                try:
                    return bool(await _health(channel) == health_pb2.HealthCheckResponse.SERVING)
                except grpc.aio.AioRpcError:
                    return False

            await eventually(serving, 60.0, "the scaler serving over TLS")
            ref = externalscaler_pb2.ScaledObjectRef(
                name="gs", namespace=namespace.name, scalerMetadata={"minAvailable": "5"}
            )
            stub = externalscaler_pb2_grpc.ExternalScalerStub(channel)
            answer = await stub.GetMetrics(
                externalscaler_pb2.GetMetricsRequest(scaledObjectRef=ref, metricName="gssReplicas")
            )
            assert [m.metricValue for m in answer.metricValues] == [5]
        # Without a client certificate, or in plaintext: refused.
        anonymous = grpc.ssl_channel_credentials(root_certificates=certs["ca"].read_bytes())
        for channel in (
            grpc.aio.secure_channel(address, anonymous),
            grpc.aio.insecure_channel(address),
        ):
            async with channel:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await _health(channel)
                assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    finally:
        agent.stop()
