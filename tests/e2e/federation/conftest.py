"""Fixtures: the federation of one hub and the two shared local clusters, per test module."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from agent.controllers import views
from agent.kube import client as kclient
from agent.kube import crds, ready, resources
from tests.e2e.agent.harness import SERVED_KINDS, Namespace
from tests.localcluster.state import Cluster
from tests.support.hub_process import HubProcess
from tests.support.logs import assert_no_logging_errors

from .world import Member, World

NAMESPACES = resources.Resource("v1", "namespaces", "Namespace", False)


@pytest.fixture(scope="module")
async def world(
    local_clusters: list[Cluster],
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[World]:
    assert len(local_clusters) >= 2, "federation tests need two local clusters"
    workdir = tmp_path_factory.mktemp("federation")
    slug = re.sub(r"[^a-z0-9]+", "-", request.module.__name__.rsplit(".", 1)[-1].lower())[:20]
    namespace = f"fed-{slug}-{uuid.uuid4().hex[:5]}"
    async with AsyncExitStack() as stack:
        members = []
        for cluster in local_clusters[:2]:
            kube = await kclient.KubeClient.connect(str(cluster.kubeconfig))
            stack.push_async_callback(kube.close)
            await crds.install(kube)
            await ready.wait_serving(kube, SERVED_KINDS)
            await kube.create(
                NAMESPACES, None,
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
            )  # fmt: skip
            stack.push_async_callback(_drop_namespace, kube, namespace)
            members.append(
                Member(
                    name=cluster.name,
                    kubeconfig=cluster.kubeconfig,
                    kube=kube,
                    namespace=Namespace(kube, namespace),
                    region=cluster.region,
                    log=workdir / f"agent-{cluster.name}.log",
                    cluster=cluster,
                )
            )
        store_url = f"sqlite:///{workdir}/hub.db"
        # A test module may start its hub with more flags (HUB_ARGS = (...)).
        extra = getattr(request.module, "HUB_ARGS", ())
        hub = HubProcess(store_url, extra, log=workdir / "hub.log").start()
        world = World(hub=hub, store_url=store_url, members=members, namespace=namespace)
        for member in members:
            if getattr(request.module, "AGENT_GAME_API", False):
                member.game_api = f"127.0.0.1:{_free_port()}"
            member.start_agent(hub.address, world.lease)
        try:
            yield world
        finally:
            for member in members:
                member.kill_every_replica()
            world.hub.kill()
            for log in [member.log for member in members] + [world.hub.log_path]:
                assert_no_logging_errors(log)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _drop_namespace(kube: kclient.KubeClient, name: str) -> None:
    listed = await kube.request("GET", resources.POD.collection(name))
    for pod in listed.get("items") or []:
        if views.meta(pod).get("finalizers"):
            await kube.request(
                "PATCH",
                resources.POD.item(name, views.meta(pod)["name"]),
                body={"metadata": {"finalizers": None}},
                content_type=kclient.MERGE_PATCH,
            )
    await kube.request("DELETE", f"/api/v1/namespaces/{name}")
