"""Fixtures of the service-quality e2e tests: the agent e2e fixtures (session cluster, a
namespace and an agent process per test) plus per-pod kwok `Exec` objects, so an exec probe
runs a command on this machine in a directory of the pod's own."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from agent.kube import resources
from tests.e2e.agent.conftest import agent, kube, kubeconfig, namespace

if TYPE_CHECKING:
    import pathlib

    from agent.kube import client as kclient
    from tests.e2e.agent.harness import Namespace

__all__ = ["agent", "kube", "kubeconfig", "namespace"]

EXEC = resources.Resource("kwok.x-k8s.io/v1alpha1", "execs", "Exec")


class PodDirs:
    """One directory per pod; `kubectl exec` in that pod runs there (kwok's local exec)."""

    def __init__(self, kube: kclient.KubeClient, namespace: str, root: pathlib.Path) -> None:
        self.kube = kube
        self.namespace = namespace
        self.root = root

    async def add(self, *pods: str) -> None:
        for pod in pods:
            (self.root / pod).mkdir(exist_ok=True)
            await self.kube.create(
                EXEC,
                self.namespace,
                {
                    "apiVersion": EXEC.api_version,
                    "kind": "Exec",
                    "metadata": {"name": pod},
                    "spec": {"execs": [{"local": {"workDir": str(self.root / pod)}}]},
                },
            )

    def write(self, pod: str, name: str, text: str) -> None:
        path = self.root / pod / name
        path.with_suffix(".tmp").write_text(text)
        path.with_suffix(".tmp").replace(path)


@pytest.fixture
def pod_dirs(kube: kclient.KubeClient, namespace: Namespace, tmp_path: pathlib.Path) -> PodDirs:
    root = tmp_path / "pods"
    root.mkdir()
    return PodDirs(kube, namespace.name, root)
