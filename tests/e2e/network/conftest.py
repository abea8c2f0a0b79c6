"""Fixtures of the network e2e tests: the agent e2e fixtures (session cluster, a namespace per
test), and agents started with their own host-port range so tests never share ports."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pytest

from tests.e2e.agent.conftest import kube, kubeconfig, namespace
from tests.e2e.agent.harness import AgentProcess

if TYPE_CHECKING:
    import pathlib
    from collections.abc import Iterator

    from tests.e2e.agent.harness import Namespace

__all__ = ["kube", "kubeconfig", "namespace"]

_ranges = itertools.count()


class NetworkAgent(AgentProcess):
    """`python -m agent` with `--host-port-range`."""

    def __init__(self, *args: object, port_range: str, **kwargs: object) -> None:
        kwargs["extra"] = ("--host-port-range", port_range)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.port_range = port_range


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
