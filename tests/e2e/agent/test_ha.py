"""OKG scenario 12: several agent replicas, exactly one leader, and a takeover within 15 s
when the leader dies without releasing its lease (SIGKILL)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from agent.kube import client as kclient
from agent.kube import resources

from .harness import AgentProcess, eventually

if TYPE_CHECKING:
    import pathlib

    from .harness import Namespace

TAKEOVER_SECONDS = 15.0


async def _holder(kube: kclient.KubeClient, namespace: str) -> str:
    try:
        lease = await kube.get(resources.LEASE, namespace, "gamefleet-agent")
    except kclient.ApiError as exc:
        if exc.not_found:
            return ""
        raise
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def _leading(agent: AgentProcess) -> bool:
    return "leading as" in agent.log.read_text()


async def test_scenario_12_one_leader_survives_losing_it(
    namespace: Namespace, kubeconfig: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    replicas = [
        AgentProcess(kubeconfig, namespace.name, tmp_path / f"agent-{n}.log", f"agent-{n}")
        for n in range(3)
    ]
    try:
        for agent in replicas:
            agent.start()
        holder = ""

        async def elected() -> bool:
            nonlocal holder
            holder = await _holder(namespace.kube, namespace.name)
            return bool(holder)

        await eventually(elected, 30.0, "a leader")
        await namespace.create_set("gs", 3)
        await namespace.wait_servers("gs", {0, 1, 2})
        assert [a.identity for a in replicas if _leading(a)] == [holder]

        leader = next(a for a in replicas if a.identity == holder)
        leader.kill()
        killed_at = time.monotonic()

        async def taken_over() -> bool:
            new = await _holder(namespace.kube, namespace.name)
            return new not in ("", holder)

        await eventually(taken_over, TAKEOVER_SECONDS + 5, "a new leader")
        took = time.monotonic() - killed_at
        assert took < TAKEOVER_SECONDS, f"takeover took {took:.1f}s"
        # The new leader reconciles: a scale-up goes through.
        await namespace.scale("gs", 4)
        await namespace.wait_servers("gs", {0, 1, 2, 3})
        survivors = [a for a in replicas if a.alive]
        assert len(survivors) == 2
        assert sum(1 for a in survivors if _leading(a)) == 1
    finally:
        for agent in replicas:
            agent.stop()
