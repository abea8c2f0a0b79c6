"""Running agents by hand: where metrics listen, which Lease an agent campaigns for, and what it
says when it cannot lead."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import urllib.request
from typing import TYPE_CHECKING

import pytest

from agent.kube import client as kclient
from agent.kube import resources

from .harness import REPO_ROOT, AgentProcess, eventually

if TYPE_CHECKING:
    import pathlib
    from collections.abc import Iterator

    from .harness import Namespace


@pytest.fixture
def agents() -> Iterator[list[AgentProcess]]:
    started: list[AgentProcess] = []
    yield started
    for agent in started:
        agent.stop()


def _start(
    agents: list[AgentProcess],
    kubeconfig: pathlib.Path,
    namespace: Namespace,
    log: pathlib.Path,
    *extra: str,
) -> AgentProcess:
    agent = AgentProcess(
        kubeconfig, namespace.name, log, identity=log.stem, lease_name=None, extra=extra
    )
    agents.append(agent.start())
    return agent


async def _logged(agent: AgentProcess, pattern: str, seconds: float = 30.0) -> re.Match[str]:
    found: list[re.Match[str]] = []

    async def check() -> bool:
        match = re.search(pattern, agent.log.read_text(errors="replace"))
        if match:
            found.append(match)
        return match is not None

    await eventually(check, seconds, f"{pattern!r} in {agent.log.name}")
    return found[0]


async def test_metrics_listen_binds_the_given_address_only(
    kubeconfig: pathlib.Path,
    namespace: Namespace,
    tmp_path: pathlib.Path,
    agents: list[AgentProcess],
) -> None:
    agent = _start(
        agents, kubeconfig, namespace, tmp_path / "a.log", "--metrics-listen", "127.0.0.2:0"
    )
    match = await _logged(agent, r"agent metrics on http://127\.0\.0\.2:(\d+)/metrics")
    port = int(match.group(1))
    body = await asyncio.to_thread(
        lambda: urllib.request.urlopen(f"http://127.0.0.2:{port}/metrics", timeout=10).read()
    )
    assert b"gamefleet_agent_leader" in body
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


async def test_agents_of_two_clusters_on_one_api_server_both_lead(
    kubeconfig: pathlib.Path,
    namespace: Namespace,
    tmp_path: pathlib.Path,
    agents: list[AgentProcess],
) -> None:
    """The default Lease is per cluster: an agent of another cluster (a leftover, another hub's)
    on the same API server does not keep this one following. A second agent of the same
    cluster follows, and says who holds the Lease."""
    east = _start(agents, kubeconfig, namespace, tmp_path / "east.log", "--cluster", "east")
    west = _start(agents, kubeconfig, namespace, tmp_path / "west.log", "--cluster", "west")
    await _logged(east, r"leading as east \(lease gamefleet-agent-east\)")
    await _logged(west, r"leading as west \(lease gamefleet-agent-west\)")
    for cluster in ("east", "west"):
        lease = await namespace.kube.get(
            resources.LEASE, namespace.name, f"gamefleet-agent-{cluster}"
        )
        assert lease["spec"]["holderIdentity"] == cluster

    again = _start(agents, kubeconfig, namespace, tmp_path / "again.log", "--cluster", "east")
    await _logged(
        again,
        rf"WARNING .*following: Lease {namespace.name}/gamefleet-agent-east is held by 'east'",
    )
    assert "leading as" not in again.log.read_text()


def test_a_missing_lease_namespace_is_one_line_and_exit_1(kubeconfig: pathlib.Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agent", "--kubeconfig", str(kubeconfig), "--skip-crds",
         "--scaler-port", "0", "--lease-namespace", "no-such-namespace", "--log-level", "ERROR"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: --lease-namespace: namespace 'no-such-namespace' does not exist: create it, "
        "or name an existing one for the agent's Lease"
    ]


async def test_the_lease_defaults_to_the_default_namespace(
    kubeconfig: pathlib.Path,
    namespace: Namespace,
    tmp_path: pathlib.Path,
    agents: list[AgentProcess],
) -> None:
    """Not the namespace the agent reconciles, which may not exist yet."""
    cluster = f"c-{namespace.name}"[:40].rstrip("-")
    agent = AgentProcess(
        kubeconfig,
        f"{namespace.name}-not-yet",
        tmp_path / "agent.log",
        identity="solo",
        lease_name=None,
        lease_in_namespace=False,
        extra=("--cluster", cluster),
    )
    agents.append(agent.start())
    name = f"gamefleet-agent-{cluster}"
    try:
        await _logged(agent, rf"leading as solo \(lease {name}\)")
        lease = await namespace.kube.get(resources.LEASE, "default", name)
        assert lease["spec"]["holderIdentity"] == "solo"
    finally:
        agent.stop()
        try:
            await namespace.kube.delete(resources.LEASE, "default", name)
        except kclient.ApiError as exc:
            if not exc.not_found:
                raise
