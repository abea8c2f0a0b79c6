"""One game server's change is reconciled for that server, not for its whole set — unless the
set-level answer moves (Kill lowers replicas; a pod goes; the spec changes)."""

from __future__ import annotations

import re
import socket
import time
import urllib.request
from typing import TYPE_CHECKING

import pytest

from agent.kube import resources

from .harness import AgentProcess, eventually

if TYPE_CHECKING:
    import pathlib
    from collections.abc import Iterator

    from .harness import Namespace


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def agent_with_metrics(
    kubeconfig: pathlib.Path, namespace: Namespace, tmp_path: pathlib.Path
) -> Iterator[AgentProcess]:
    process = AgentProcess(
        kubeconfig, namespace.name, tmp_path / "agent.log", metrics_port=_free_port()
    ).start()
    yield process
    process.stop()


def _scopes(agent: AgentProcess) -> dict[str, float]:
    """The agent's reconciles by scope ("set": whole set, "servers": some of its servers)."""
    url = f"http://127.0.0.1:{agent.metrics_port}/metrics"
    try:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError:
        return {}
    pattern = r'gamefleet_agent_reconcile_scope_total\{scope="([a-z]+)"\} ([0-9.e+]+)'
    return {m.group(1): float(m.group(2)) for m in re.finditer(pattern, text)}


async def _settled(agent: AgentProcess, quiet: float = 2.0) -> dict[str, float]:
    """The scope counts once no reconcile has run for `quiet` seconds."""
    last: dict[str, float] = {}
    since = time.monotonic()

    async def check() -> bool:
        nonlocal last, since
        now = _scopes(agent)
        if now != last:
            last, since = now, time.monotonic()
        return bool(now) and time.monotonic() - since >= quiet

    await eventually(check, 60.0, "the agent to settle")
    return last


async def test_an_ops_state_change_reconciles_only_its_server(
    namespace: Namespace, agent_with_metrics: AgentProcess
) -> None:
    await namespace.create_set("gs", 4)
    await namespace.wait_servers("gs", {0, 1, 2, 3})
    await namespace.wait_status("gs", readyReplicas=4)
    before = await _settled(agent_with_metrics)

    await namespace.patch_gs("gs-1", {"opsState": "Maintaining", "deletionPriority": 5})
    await namespace.wait_pod_label("gs", "gs-1", "game.kruise.io/gs-opsState", "Maintaining")
    await namespace.wait_pod_label("gs", "gs-1", "game.kruise.io/gs-delete-priority", "5")
    await namespace.wait_status("gs", maintainingReplicas=1)
    events = await namespace.events("gs-1")
    assert any(e["message"] == "OpsState turn from None to Maintaining" for e in events)
    after = await _settled(agent_with_metrics)
    assert after.get("set", 0) == before.get("set", 0)
    assert after.get("servers", 0) > before.get("servers", 0)


async def test_kill_still_reconciles_the_set(
    namespace: Namespace, agent_with_metrics: AgentProcess
) -> None:
    await namespace.create_set("gs", 3)
    await namespace.wait_servers("gs", {0, 1, 2})
    before = await _settled(agent_with_metrics)

    await namespace.patch_gs("gs-1", {"opsState": "Kill"})
    await namespace.wait_servers("gs", {0, 2})
    await namespace.wait_status("gs", replicas=2, currentReplicas=2)
    after = await _settled(agent_with_metrics)
    assert after.get("set", 0) > before.get("set", 0)


async def test_a_spec_change_reconciles_the_set_and_a_status_change_does_not(
    namespace: Namespace, agent_with_metrics: AgentProcess
) -> None:
    await namespace.create_set("gs", 2)
    await namespace.wait_servers("gs", {0, 1})
    await namespace.wait_status("gs", readyReplicas=2)
    before = await _settled(agent_with_metrics)

    # Someone else writes the set's status: the agent puts its counts back, server by server.
    await namespace.kube.patch(
        resources.GAME_SERVER_SET,
        namespace.name,
        "gs",
        {"status": {"readyReplicas": 0}},
        subresource="status",
    )
    await namespace.wait_status("gs", readyReplicas=2)
    after_status = await _settled(agent_with_metrics)
    assert after_status.get("set", 0) == before.get("set", 0)

    await namespace.scale("gs", 3)
    await namespace.wait_servers("gs", {0, 1, 2})
    after_scale = await _settled(agent_with_metrics)
    assert after_scale.get("set", 0) > after_status.get("set", 0)
