"""Waiting until a real API server serves kinds (`agent.kube.ready`): a new CRD's kind, the
built-in kinds, and a bounded wait for a kind that never comes."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import pytest

from agent.kube import client as kclient
from agent.kube import crds, ready, resources

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.localcluster.state import Cluster


@pytest.fixture
async def kube(local_cluster: Cluster) -> AsyncIterator[kclient.KubeClient]:
    client = await kclient.KubeClient.connect(str(local_cluster.kubeconfig))
    yield client
    await client.close()


def _crd(group: str) -> kclient.Obj:
    loose = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {"name": "v1", "served": True, "storage": True,
                 "schema": {"openAPIV3Schema": loose}},
            ],
        },
    }  # fmt: skip


async def test_a_new_crd_kind_is_listed_once_the_wait_returns(kube: kclient.KubeClient) -> None:
    """Right after a CRD is created its kind is not served (404) and its watch cache loads
    (429); once the wait returns, both lists a client makes answer at the first try."""
    crd = _crd(f"t{uuid.uuid4().hex[:8]}.ready.gamefleet.dev")
    kind = crds.kind_of(crd)
    await kube.apply(resources.CRD, None, crd)
    try:
        await ready.wait_serving(kube, [kind], 60.0)
        kube.retry_429_for = 0.0  # any 429 now fails the request
        for params in ({}, {"resourceVersion": "0"}, {"limit": 500}):
            listed = await kube.request("GET", kind.collection(None), params=params)
            assert listed["items"] == []
        await kube.create(
            kind, "default",
            {"apiVersion": kind.api_version, "kind": "Widget", "metadata": {"name": "w"}},
        )  # fmt: skip
    finally:
        await kube.delete(resources.CRD, None, crd["metadata"]["name"])


async def test_the_built_in_kinds_of_a_running_cluster_are_served_at_once(
    kube: kclient.KubeClient,
) -> None:
    began = time.monotonic()
    await ready.wait_serving(kube, [resources.POD, resources.NODE, resources.EVENT], 30.0)
    assert time.monotonic() - began < 10.0


async def test_a_kind_never_served_times_out_naming_it(kube: kclient.KubeClient) -> None:
    missing = resources.Resource("nowhere.gamefleet.dev/v1", "ghosts", "Ghost")
    began = time.monotonic()
    with pytest.raises(TimeoutError, match=r"/apis/nowhere\.gamefleet\.dev/v1/ghosts"):
        await ready.wait_serving(kube, [missing], 2.0)
    assert time.monotonic() - began < 10.0
