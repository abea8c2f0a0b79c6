"""Fixtures of the hub link tests: a fresh namespace on a real kube-apiserver."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from agent.kube import client as kclient
from agent.kube import crds, resources
from tests.localcluster.state import Cluster

NAMESPACES = resources.Resource("v1", "namespaces", "Namespace", False)


@pytest.fixture
async def served(local_cluster: Cluster) -> AsyncIterator[tuple[kclient.KubeClient, str]]:
    kube = await kclient.KubeClient.connect(str(local_cluster.kubeconfig))
    await crds.install(kube)  # the cluster may be fresh: the agent's kinds must be served
    name = f"link-{uuid.uuid4().hex[:6]}"
    await kube.create(
        NAMESPACES, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    try:
        yield kube, name
    finally:
        await kube.request("DELETE", f"/api/v1/namespaces/{name}")
        await kube.close()
