"""OKG's autoscaling hook end to end: the agent process serves KEDA's external scaler, a gRPC
client on the generated stubs plays KEDA, and the scale subresource is patched as KEDA's HPA
would. Two agent replicas run; KEDA's calls go to the one that does not lead."""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING

import grpc
import pytest
from externalscaler import externalscaler_pb2, externalscaler_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agent.kube import client as kclient
from agent.kube import resources

from .harness import AgentProcess, eventually

if TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator

    from .harness import Namespace

SERVICE = "externalscaler.ExternalScaler"


def _free_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        sock.bind(("::", 0))
        return int(sock.getsockname()[1])


class Keda:
    """KEDA's side of the calls, to one agent replica, for the sets of one namespace."""

    def __init__(self, process: AgentProcess) -> None:
        self.process = process
        self.namespace = process.namespace
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{process.scaler_port}")
        self.stub = externalscaler_pb2_grpc.ExternalScalerStub(self.channel)

    async def serving(self) -> bool:
        health = health_pb2_grpc.HealthStub(self.channel)
        try:
            answer = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=2)
        except grpc.aio.AioRpcError:
            return False
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    def ref(self, name: str, **metadata: str) -> externalscaler_pb2.ScaledObjectRef:
        """The ScaledObject named after its set, with a trigger's metadata as KEDA sends it."""
        scaler = {"scalerAddress": "gamefleet-agent-scaler.gamefleet-system:6000"}
        return externalscaler_pb2.ScaledObjectRef(
            name=name, namespace=self.namespace, scalerMetadata={**scaler, **metadata}
        )

    async def metric(self, name: str, **metadata: str) -> int:
        request = externalscaler_pb2.GetMetricsRequest(
            scaledObjectRef=self.ref(name, **metadata), metricName="s0-gssReplicas"
        )
        answer = await self.stub.GetMetrics(request)
        [value] = answer.metricValues
        assert value.metricName == "gssReplicas"
        return value.metricValue

    async def wait_metric(self, name: str, expected: int, **metadata: str) -> None:
        seen: list[int] = []

        async def check() -> bool:
            seen.append(await self.metric(name, **metadata))
            return seen[-1] == expected

        try:
            await eventually(check, 30.0, f"{name} {metadata} metric {expected}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last values {seen[-5:]}") from None

    async def is_active(self, name: str, **metadata: str) -> bool:
        return (await self.stub.IsActive(self.ref(name, **metadata))).result


class Replicas:
    def __init__(self, leader: Keda, follower: Keda) -> None:
        self.leader = leader
        self.follower = follower


async def _holder(kube: kclient.KubeClient, namespace: str) -> str:
    try:
        lease = await kube.get(resources.LEASE, namespace, "gamefleet-agent")
    except kclient.ApiError as exc:
        if exc.not_found:
            return ""
        raise
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


@pytest.fixture
async def replicas(
    namespace: Namespace, kubeconfig: pathlib.Path, tmp_path: pathlib.Path
) -> AsyncIterator[Replicas]:
    """Two agent replicas with their scaler ports; which one leads is read from the Lease."""
    started = [
        Keda(
            AgentProcess(
                kubeconfig,
                namespace.name,
                tmp_path / f"agent-{n}.log",
                f"agent-{n}",
                scaler_port=_free_port(),
            ).start()
        )
        for n in range(2)
    ]
    try:
        holder = ""

        async def elected() -> bool:
            nonlocal holder
            holder = await _holder(namespace.kube, namespace.name)
            return bool(holder)

        await eventually(elected, 30.0, "a leader")
        for keda in started:
            await eventually(keda.serving, 30.0, f"{keda.process.identity} scaler serving")
        [leader] = [k for k in started if k.process.identity == holder]
        [follower] = [k for k in started if k.process.identity != holder]
        yield Replicas(leader, follower)
    finally:
        for keda in started:
            await keda.channel.close(None)
            keda.process.stop()


async def apply_like_keda(namespace: Namespace, name: str, replicas: int) -> None:
    """What KEDA's HPA does with the metric: set the scale subresource's replicas."""
    await namespace.kube.request(
        "PATCH",
        resources.GAME_SERVER_SET.item(namespace.name, name, "scale"),
        body={"spec": {"replicas": replicas}},
        content_type=kclient.MERGE_PATCH,
    )


async def test_keda_loop_scales_the_set_with_okg_replicas(
    namespace: Namespace, replicas: Replicas
) -> None:
    keda = replicas.follower
    spec = await keda.stub.GetMetricSpec(keda.ref("gs"))
    assert [(s.metricName, s.targetSize, s.targetSizeFloat) for s in spec.metricSpecs] == [
        ("gssReplicas", 1, 1.0)
    ]
    await namespace.create_set("gs", 3)
    await namespace.wait_servers("gs", {0, 1, 2})
    await keda.wait_metric("gs", 3, minAvailable="1")
    # Two players arrive: one idle server left, three wanted -> 3 + 3 - 1.
    await namespace.patch_gs("gs-0", {"opsState": "Allocated"})
    await namespace.patch_gs("gs-1", {"opsState": "Allocated"})
    await keda.wait_metric("gs", 5, minAvailable="3")
    await replicas.leader.wait_metric("gs", 5, minAvailable="3")  # the leader agrees
    await apply_like_keda(namespace, "gs", 5)
    await namespace.wait_servers("gs", {0, 1, 2, 3, 4})
    await keda.wait_metric("gs", 5, minAvailable="3")  # settled: three idle servers
    # Two servers ask to leave; one idle server is enough: replicas - WaitToBeDeleted.
    await namespace.patch_gs("gs-2", {"opsState": "WaitToBeDeleted"})
    await namespace.patch_gs("gs-3", {"opsState": "WaitToBeDeleted"})
    await keda.wait_metric("gs", 3, minAvailable="1")
    await apply_like_keda(namespace, "gs", 3)
    await namespace.wait_servers("gs", {0, 1, 4})  # the leaving ones went, players stayed
    await keda.wait_metric("gs", 3, minAvailable="1")  # settled: nothing left to remove
    # maxAvailable caps idle servers: gs-4 is the only one and none is allowed -> 3 + 0 - 1.
    await keda.wait_metric("gs", 2, maxAvailable="0")


async def test_is_active_and_its_stream_follow_the_set(
    namespace: Namespace, replicas: Replicas
) -> None:
    keda = replicas.follower
    await namespace.create_set("idle", 0)

    async def inactive() -> bool:
        try:
            return await keda.is_active("idle") is False
        except grpc.aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.NOT_FOUND:  # not in this replica's cache yet
                return False
            raise

    await eventually(inactive, 30.0, "idle inactive")
    assert await keda.is_active("idle", minAvailable="0") is False
    assert await keda.is_active("idle", minAvailable="1") is True
    stream = keda.stub.StreamIsActive(keda.ref("idle"))

    async def next_answer() -> bool:
        answer = await asyncio.wait_for(stream.read(), 30.0)
        assert isinstance(answer, externalscaler_pb2.IsActiveResponse)
        return answer.result

    try:
        assert await next_answer() is False
        await namespace.scale("idle", 1)
        assert await next_answer() is True
        await namespace.wait_servers("idle", {0})
        await namespace.patch_gs("idle-0", {"opsState": "WaitToBeDeleted"})
        assert await next_answer() is False
        await namespace.patch_gs("idle-0", {"opsState": "None"})
        assert await next_answer() is True
    finally:
        stream.cancel()


async def test_bad_metadata_and_unknown_sets_are_refused(
    namespace: Namespace, replicas: Replicas
) -> None:
    keda = replicas.follower
    await namespace.create_set("gs", 1)
    for key, value in [
        ("minAvailable", "plenty"),
        ("maxAvailable", "-2"),
        ("scaleDownThreshold", "0"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await keda.metric("gs", **{key: value})
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert f"scalerMetadata.{key}" in str(caught.value.details())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await keda.is_active("gs", minAvailable="plenty")
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await keda.metric("ghost")
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    assert f"{namespace.name}/ghost" in str(caught.value.details())


async def test_a_taken_scaler_port_stops_the_agent_naming_the_flag(
    namespace: Namespace, kubeconfig: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    log = tmp_path / "agent.log"
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as taken:
        taken.bind(("::", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        agent = AgentProcess(kubeconfig, namespace.name, log, scaler_port=port).start()
        try:
            assert agent.process is not None
            code = await asyncio.to_thread(agent.process.wait, 30)
        finally:
            agent.stop()
    assert code == 1
    assert "error: --scaler-port:" in log.read_text()
