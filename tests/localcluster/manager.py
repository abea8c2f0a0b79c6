"""Bring clusters gamefleet-1..N up (reusing healthy ones) and down, for any runtime."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from tests.localcluster import binary, kind, state
from tests.localcluster.versions import binary_dir

if TYPE_CHECKING:
    from types import ModuleType

    from tests.localcluster.state import Cluster

RUNTIMES: dict[str, ModuleType] = {"binary": binary, "kind": kind}


def runtime(name: str) -> ModuleType:
    if name not in RUNTIMES:
        raise ValueError(f"unknown CLUSTER_RUNTIME {name!r}; choose one of {sorted(RUNTIMES)}")
    return RUNTIMES[name]


def ensure(count: int, nodes: int, runtime_name: str = "binary") -> tuple[list[Cluster], list[str]]:
    """Clusters 1..count, and the names of those this call started (the rest were reused)."""
    rt = runtime(runtime_name)
    ready: dict[int, Cluster] = {}
    for i in range(count):
        existing = state.load(state.cluster_name(i))
        if existing is None:
            continue
        if existing.runtime == runtime_name and existing.nodes >= nodes and rt.healthy(existing):
            ready[i] = existing
        else:
            runtime(existing.runtime).down(existing)
    missing = [i for i in range(count) if i not in ready]
    started = rt.plan(missing, nodes) if missing else []
    try:
        rt.up(started)
    except BaseException:
        for c in started:
            rt.down(c)
        raise
    ready.update({c.index: c for c in started})
    return [ready[i] for i in range(count)], [c.name for c in started]


def down(names: list[str] | None = None) -> list[str]:
    """Stop the named clusters (all recorded ones when None); returns the names stopped."""
    stopped = []
    for c in state.load_all():
        if names is None or c.name in names:
            runtime(c.runtime).down(c)
            stopped.append(c.name)
    return stopped


def env_lines() -> list[str]:
    """Shell lines that put the pinned kubectl on PATH and every recorded cluster in
    KUBECONFIG (contexts named after the clusters)."""
    lines = [f'export PATH="{binary_dir("kubectl")}:$PATH"']
    configs = [str(c.kubeconfig) for c in state.load_all()]
    if configs:
        lines.append(f'export KUBECONFIG="{os.pathsep.join(configs)}"')
    return lines
