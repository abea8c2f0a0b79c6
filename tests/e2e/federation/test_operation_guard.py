"""The agent holds the operation guard itself, on a real cluster: a targeted operation that
would take an Allocated game server out of Allocated, or set an opsState OKG does not define,
is refused unless it says so, whatever the hub checked before sending it.

The hub here is scripted (it speaks AgentService.Connect and sends what the test says): the
real hub refuses such operations first, so only a hub whose view lags, or a scripted one, can
put them in front of the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from gamefleet.v1 import agent_pb2, agent_pb2_grpc, gameserver_pb2

from agent.hublink import link
from agent.kube import cache as kcache
from agent.kube import client as kclient
from agent.kube import crds, resources
from okg import vocabulary
from tests.e2e.agent.harness import Namespace, eventually
from tests.localcluster.state import Cluster

from .conftest import NAMESPACES, _drop_namespace
from .world import Member

ANSWER_S = 30.0


class ScriptedHub(agent_pb2_grpc.AgentServiceServicer):
    """One agent's hub: acknowledges nothing held, records reports, sends operations."""

    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self.reported: dict[str, gameserver_pb2.GameServer] = {}
        self._outbox: asyncio.Queue[agent_pb2.HubMessage] = asyncio.Queue()
        self._answers: dict[str, asyncio.Future[agent_pb2.OperationResult]] = {}
        self._ids = itertools.count(1)

    async def Connect(
        self,
        request_iterator: AsyncIterator[agent_pb2.AgentMessage],
        context: grpc.aio.ServicerContext[agent_pb2.AgentMessage, agent_pb2.HubMessage],
    ) -> AsyncIterator[agent_pb2.HubMessage]:
        async def read() -> None:
            async for message in request_iterator:
                kind = message.WhichOneof("body")
                if kind == "status":
                    for server in message.status.game_servers:
                        self.reported[server.name] = server
                elif kind == "operation_result":
                    answer = self._answers.pop(message.operation_result.id, None)
                    if answer is not None and not answer.done():
                        answer.set_result(message.operation_result)

        reader = asyncio.create_task(read())
        self.connected.set()
        try:
            yield agent_pb2.HubMessage(status_hashes=agent_pb2.StatusHashes())
            while True:
                yield await self._outbox.get()
        finally:
            reader.cancel()

    async def operate(
        self, namespace: str, name: str, ops_state: str, allow_unallocate: bool = False
    ) -> agent_pb2.OperationResult:
        operation = agent_pb2.TargetedOperation(
            id=f"op-{next(self._ids)}",
            namespace=namespace,
            game_servers=[name],
            patch=gameserver_pb2.GameServerPatch(ops_state=ops_state),
            allow_unallocate=allow_unallocate,
        )
        answer: asyncio.Future[agent_pb2.OperationResult] = (
            asyncio.get_running_loop().create_future()
        )
        self._answers[operation.id] = answer
        self._outbox.put_nowait(agent_pb2.HubMessage(operation=operation))
        return await asyncio.wait_for(answer, ANSWER_S)


@pytest.fixture
async def scripted_hub() -> AsyncIterator[tuple[ScriptedHub, str]]:
    hub = ScriptedHub()
    server = grpc.aio.server()
    agent_pb2_grpc.add_AgentServiceServicer_to_server(hub, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield hub, f"127.0.0.1:{port}"
    await server.stop(0)


@pytest.fixture
async def cluster_namespace(local_cluster: Cluster) -> AsyncIterator[Namespace]:
    kube = await kclient.KubeClient.connect(str(local_cluster.kubeconfig))
    await crds.install(kube)
    name = f"guard-{uuid.uuid4().hex[:6]}"
    await kube.create(
        NAMESPACES, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    yield Namespace(kube, name)
    await _drop_namespace(kube, name)
    await kube.close()


async def _ops_state(namespace: Namespace, name: str) -> str:
    return str((await namespace.get_gs(name))["spec"].get("opsState") or "None")


async def test_the_agent_refuses_to_unallocate_without_force(
    local_cluster: Cluster,
    cluster_namespace: Namespace,
    scripted_hub: tuple[ScriptedHub, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    hub, address = scripted_hub
    namespace = cluster_namespace
    member = Member(
        name=local_cluster.name,
        kubeconfig=local_cluster.kubeconfig,
        kube=namespace.kube,
        namespace=namespace,
        region=local_cluster.region,
        log=tmp_path_factory.mktemp("guard") / "agent.log",
    )
    member.start_agent(address, f"guard-{uuid.uuid4().hex[:6]}")
    try:
        await namespace.create_set("arena", 1)

        async def created() -> bool:
            return "arena-0" in await namespace.game_servers("arena")

        await eventually(created, 90.0, "the agent creates arena-0")
        await namespace.patch_gs("arena-0", {"opsState": "Allocated"})

        async def seen_allocated() -> bool:
            reported = hub.reported.get("arena-0")
            return reported is not None and reported.ops_state == "Allocated"

        await eventually(seen_allocated, 60.0, "the agent reports arena-0 Allocated")

        refused = await hub.operate(namespace.name, "arena-0", "Maintaining")
        assert list(refused.updated) == []
        assert refused.refused["arena-0"].startswith("is Allocated: opsState Maintaining")
        unknown = await hub.operate(namespace.name, "arena-0", "Maintenance", allow_unallocate=True)
        assert "not a known opsState" in unknown.refused["arena-0"]
        assert await _ops_state(namespace, "arena-0") == "Allocated"

        forced = await hub.operate(namespace.name, "arena-0", "Maintaining", allow_unallocate=True)
        assert (list(forced.updated), dict(forced.refused)) == (["arena-0"], {})
        assert await _ops_state(namespace, "arena-0") == "Maintaining"
    finally:
        member.kill_agent()


async def test_an_allocation_after_the_agents_check_stops_the_write(
    local_cluster: Cluster,
    cluster_namespace: Namespace,
    scripted_hub: tuple[ScriptedHub, str],
) -> None:
    """The agent's cache still says opsState None when the operation arrives (the allocation
    landed after it was read): the write, guarded by that resourceVersion, fails, and the
    server read again is Allocated, so the operation is refused."""
    hub, address = scripted_hub
    namespace = cluster_namespace
    kube = namespace.kube
    await kube.create(
        resources.GAME_SERVER,
        namespace.name,
        {
            "apiVersion": vocabulary.API_VERSION,
            "kind": "GameServer",
            "metadata": {"name": "solo-0", "namespace": namespace.name},
            "spec": {"opsState": "None"},
        },
    )
    sets = kcache.WatchCache(kube, resources.GAME_SERVER_SET, namespace=namespace.name)
    servers = kcache.WatchCache(kube, resources.GAME_SERVER, namespace=namespace.name)
    pods = kcache.WatchCache(kube, resources.POD, namespace=namespace.name)
    caches = [asyncio.create_task(cache.run()) for cache in (sets, servers, pods)]
    config = link.LinkConfig(hub=address, cluster=local_cluster.name)
    running = asyncio.create_task(link.HubLink(config, kube, sets, servers, pods).run())
    try:
        async with asyncio.timeout(ANSWER_S):
            for cache in (sets, servers, pods):
                await cache.synced.wait()
            await hub.connected.wait()
        assert servers.get((namespace.name, "solo-0")) is not None
        caches[1].cancel()  # the agent's view of game servers stops here
        await kube.patch(
            resources.GAME_SERVER, namespace.name, "solo-0", {"spec": {"opsState": "Allocated"}}
        )
        stale = servers.get((namespace.name, "solo-0"))
        assert stale is not None and "opsState" in stale["spec"]
        assert stale["spec"]["opsState"] == "None"

        result = await hub.operate(namespace.name, "solo-0", "WaitToBeDeleted")
        assert list(result.updated) == []
        assert result.refused["solo-0"].startswith("is Allocated")
        assert await _ops_state(namespace, "solo-0") == "Allocated"
    finally:
        for task in [running, *caches]:
            task.cancel()
        for task in [running, *caches]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
