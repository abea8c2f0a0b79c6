"""pytest plugin: session-scoped local clusters for tests/integration and tests/e2e.

Clusters that are already up and healthy are reused; clusters this session starts are stopped
at the end of the session. GAMEFLEET_CLUSTERS / GAMEFLEET_NODES / CLUSTER_RUNTIME override the
defaults (2 clusters, 3 nodes, binary). Failures to build or start fail the tests, never skip.
"""

from __future__ import annotations

import fcntl
import os
from typing import TYPE_CHECKING

import pytest

from tests.localcluster import manager, state
from tests.localcluster.state import Cluster
from tests.localcluster.versions import binary_path, missing_binaries

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["Cluster", "binary_path", "local_cluster", "local_clusters"]


@pytest.fixture(scope="session")
def local_clusters() -> Iterator[list[Cluster]]:
    count = int(os.environ.get("GAMEFLEET_CLUSTERS", "2"))
    nodes = int(os.environ.get("GAMEFLEET_NODES", "3"))
    runtime = os.environ.get("CLUSTER_RUNTIME", "binary")
    if runtime == "binary" and (missing := missing_binaries()):
        pytest.fail(
            f"local cluster binaries not built: {', '.join(missing)}. "
            "Run `make cluster-binaries` (or `.venv/bin/python -m tests.localcluster build`).",
            pytrace=False,
        )
    state.root().mkdir(parents=True, exist_ok=True)
    # Two sessions of one checkout must not start the same clusters at once.
    with (state.root() / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            clusters, started = manager.ensure(count, nodes, runtime)
        except Exception as exc:
            pytest.fail(f"local clusters did not come up ({runtime}): {exc}", pytrace=False)
    yield clusters
    if started:
        manager.down(started)


@pytest.fixture(scope="session")
def local_cluster(local_clusters: list[Cluster]) -> Cluster:
    """The first local cluster, for tests that need only one."""
    return local_clusters[0]
