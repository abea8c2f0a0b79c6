"""Fixtures of the agent's end-to-end tests: one local cluster (shared by the session), a
namespace per test, and an agent process per test that reconciles only that namespace."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

import pytest

from agent.controllers import views
from agent.kube import client as kclient
from agent.kube import crds, ready, resources

from .harness import SERVED_KINDS, AgentProcess, Namespace

if TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator, Iterator

    from tests.localcluster.state import Cluster


@pytest.fixture(scope="session")
def kubeconfig(local_cluster: Cluster) -> pathlib.Path:
    return local_cluster.kubeconfig


@pytest.fixture(scope="session")
async def kube(kubeconfig: pathlib.Path) -> AsyncIterator[kclient.KubeClient]:
    client = await kclient.KubeClient.connect(str(kubeconfig))
    await crds.install(client)
    await ready.wait_serving(client, SERVED_KINDS)
    yield client
    await client.close()


@pytest.fixture
async def namespace(
    kube: kclient.KubeClient, request: pytest.FixtureRequest
) -> AsyncIterator[Namespace]:
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    name = f"e2e-{slug}-{uuid.uuid4().hex[:5]}"
    await kube.create(
        resources.Resource("v1", "namespaces", "Namespace", False),
        None,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )
    yield Namespace(kube, name)
    # Let held pods go, then drop the namespace without waiting for it.
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


@pytest.fixture
def agent(
    kubeconfig: pathlib.Path, namespace: Namespace, tmp_path: pathlib.Path
) -> Iterator[AgentProcess]:
    process = AgentProcess(kubeconfig, namespace.name, tmp_path / "agent.log").start()
    yield process
    process.stop()
