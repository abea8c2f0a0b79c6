"""Fixtures of the OKG conformance tests: the agent e2e fixtures (session cluster, a namespace
per test), kwok exec directories for service-quality probes, and an agent process serving its
metrics, with its own host-port range."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.e2e.agent.conftest import kube, kubeconfig, namespace
from tests.e2e.agent.harness import AgentProcess, free_port
from tests.e2e.quality.conftest import pod_dirs

if TYPE_CHECKING:
    import pathlib
    from collections.abc import Iterator

    from tests.e2e.agent.harness import Namespace

__all__ = ["kube", "kubeconfig", "namespace", "pod_dirs"]

PORT_RANGE = "30000-30099"
"""Host ports of these tests: outside the default range and the network tests' ranges."""


@pytest.fixture
def agent(
    kubeconfig: pathlib.Path, namespace: Namespace, tmp_path: pathlib.Path
) -> Iterator[AgentProcess]:
    process = AgentProcess(
        kubeconfig,
        namespace.name,
        tmp_path / "agent.log",
        extra=("--host-port-range", PORT_RANGE),
        metrics_port=free_port(),
    ).start()
    yield process
    process.stop()
