"""Fixtures of the network e2e tests: the agent e2e fixtures (session cluster, a namespace per
test), and agents started with their own host-port range so tests never share ports."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.e2e.agent.conftest import kube, kubeconfig, namespace
from tests.e2e.agent.harness import REPO_ROOT, AgentProcess

if TYPE_CHECKING:
    import pathlib
    from collections.abc import Iterator

    from tests.e2e.agent.harness import Namespace

__all__ = ["kube", "kubeconfig", "namespace"]

_ranges = itertools.count()


class NetworkAgent(AgentProcess):
    """`python -m agent` with `--host-port-range`."""

    def __init__(self, *args: object, port_range: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.port_range = port_range

    def start(self) -> NetworkAgent:
        command = [
            sys.executable, "-m", "agent",
            "--kubeconfig", str(self.kubeconfig), "--namespace", self.namespace,
            "--lease-namespace", self.namespace, "--lease-name", self.lease_name,
            "--id", self.identity, "--skip-crds", "--host-port-range", self.port_range,
            "--scaler-port", "0",
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return self


@pytest.fixture
def port_range() -> str:
    """A range of 500 ports per test (from 10000 up), outside the default range."""
    low = 10000 + 500 * (next(_ranges) % 40)
    return f"{low}-{low + 499}"


@pytest.fixture
def agent(
    kubeconfig: pathlib.Path, namespace: Namespace, tmp_path: pathlib.Path, port_range: str
) -> Iterator[NetworkAgent]:
    process = NetworkAgent(
        kubeconfig, namespace.name, tmp_path / "agent.log", port_range=port_range
    ).start()
    yield process
    process.stop()
