"""OKG scaling scenarios 1 and 7 to 10, player continuity on scale-down, Kill, and the scale
subresource, each against a real API server with the agent as its own process."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from agent.kube import client as kclient
from agent.kube import resources

if TYPE_CHECKING:
    from .harness import AgentProcess, Namespace

pytestmark = pytest.mark.usefixtures("agent")


async def test_scenario_1_scale_down_order(namespace: Namespace) -> None:
    """ids {0,1,2} → 5 → {0..4}; gs-2 WaitToBeDeleted, 4 → {0,1,3,4}; gs-3 deletionPriority
    100, 3 → {0,1,4}."""
    await namespace.create_set("gs", 3)
    await namespace.wait_servers("gs", {0, 1, 2})
    await namespace.scale("gs", 5)
    await namespace.wait_servers("gs", {0, 1, 2, 3, 4})
    await namespace.patch_gs("gs-2", {"opsState": "WaitToBeDeleted"})
    await namespace.wait_status("gs", waitToBeDeletedReplicas=1)
    await namespace.scale("gs", 4)
    await namespace.wait_servers("gs", {0, 1, 3, 4})
    await namespace.patch_gs("gs-3", {"deletionPriority": 100})
    await namespace.wait_pod_label("gs", "gs-3", "game.kruise.io/gs-delete-priority", "100")
    await namespace.scale("gs", 3)
    await namespace.wait_servers("gs", {0, 1, 4})
    await namespace.wait_status("gs", replicas=3, currentReplicas=3, readyReplicas=3)


async def test_scenarios_7_and_8_reserve_ids_with_delete_policy(namespace: Namespace) -> None:
    """Delete, 5 replicas, reserve "3-4" → {0,1,2,5,6}; then 3 + reserve "3-6" → {0,1,2}."""
    await namespace.create_set("gs", 5, reclaim_policy="Delete", reserveGameServerIds=["3-4"])
    await namespace.wait_servers("gs", {0, 1, 2, 5, 6})
    await namespace.patch_set("gs", {"replicas": 3, "reserveGameServerIds": ["3-6"]})
    await namespace.wait_servers("gs", {0, 1, 2})
    await namespace.wait_status("gs", replicas=3, currentReplicas=3)


async def test_scenario_9_reserve_ids_strategy(namespace: Namespace) -> None:
    """ReserveIds: 5 → 3 gives {0,1,2} and the reserve list {3,4}; reserve [3] + 4 →
    {0,1,2,4}."""
    await namespace.create_set("gs", 5, scaleStrategy={"scaleDownStrategyType": "ReserveIds"})
    await namespace.wait_servers("gs", {0, 1, 2, 3, 4})
    await namespace.scale("gs", 3)
    await namespace.wait_servers("gs", {0, 1, 2})
    gss = await namespace.get_set("gs")
    assert gss["spec"]["reserveGameServerIds"] == [3, 4]
    await namespace.patch_set("gs", {"replicas": 4, "reserveGameServerIds": [3]})
    await namespace.wait_servers("gs", {0, 1, 2, 4})
    gss = await namespace.get_set("gs")
    assert gss["spec"]["reserveGameServerIds"] == [3]


async def test_scenario_10_kill(namespace: Namespace) -> None:
    """Kill on gs-1 → replicas 2, ids {0,2}; scale 3 → {0,1,2} (1 never reserved)."""
    await namespace.create_set("gs", 3)
    await namespace.wait_servers("gs", {0, 1, 2})
    await namespace.patch_gs("gs-1", {"opsState": "Kill"})
    await namespace.wait_servers("gs", {0, 2})
    gss = await namespace.get_set("gs")
    assert gss["spec"]["replicas"] == 2
    assert not gss["spec"].get("reserveGameServerIds")
    await namespace.scale("gs", 3)
    await namespace.wait_servers("gs", {0, 1, 2})


async def test_scale_down_never_touches_allocated_servers(namespace: Namespace) -> None:
    """5 → 2 with 3 Allocated: only the 2 idle servers go; the status explains the hold-back."""
    await namespace.create_set("gs", 5)
    await namespace.wait_servers("gs", {0, 1, 2, 3, 4})
    for ordinal in (0, 2, 4):
        await namespace.patch_gs(f"gs-{ordinal}", {"opsState": "Allocated"})
    await namespace.wait_status("gs", allocatedReplicas=3)
    before = {n: p["metadata"]["uid"] for n, p in (await namespace.pods("gs")).items()}
    await namespace.scale("gs", 2)
    await namespace.wait_servers("gs", {0, 2, 4})
    status = await namespace.wait_status("gs", heldBackReplicas=1, replicas=2)
    blocked = {c["type"]: c for c in status["conditions"]}["ScaleDownBlocked"]
    assert blocked["status"] == "True"
    assert blocked["reason"] == "AllocatedServers"
    assert "1 game server in use kept" in blocked["message"]
    after = {n: p["metadata"]["uid"] for n, p in (await namespace.pods("gs")).items()}
    assert after == {n: before[n] for n in ("gs-0", "gs-2", "gs-4")}
    # Freeing one lets the scale-down finish, with no further action.
    await namespace.patch_gs("gs-4", {"opsState": "None"})
    await namespace.wait_servers("gs", {0, 2})
    await namespace.wait_status("gs", heldBackReplicas=0)


async def test_kill_on_an_allocated_server_removes_it(namespace: Namespace) -> None:
    await namespace.create_set("gs", 3)
    await namespace.wait_servers("gs", {0, 1, 2})
    await namespace.patch_gs("gs-1", {"opsState": "Allocated"})
    await namespace.wait_status("gs", allocatedReplicas=1)
    await namespace.patch_gs("gs-1", {"opsState": "Kill"})
    await namespace.wait_servers("gs", {0, 2})
    assert (await namespace.get_set("gs"))["spec"]["replicas"] == 2


async def test_scale_max_unavailable_paces_a_scale_up(namespace: Namespace) -> None:
    """scaleStrategy.maxUnavailable: 2 — pods that cannot be scheduled stay not Ready, so only
    2 are created; raising the limit lets the rest come."""
    template = {
        "metadata": {"labels": {"app": "gs"}},
        "spec": {
            "nodeSelector": {"pool": "nowhere"},
            "containers": [{"name": "main", "image": "game:1"}],
        },
    }
    await namespace.kube.create(
        resources.GAME_SERVER_SET,
        namespace.name,
        {
            "apiVersion": "game.kruise.io/v1alpha1",
            "kind": "GameServerSet",
            "metadata": {"name": "gs", "namespace": namespace.name},
            "spec": {
                "replicas": 6,
                "scaleStrategy": {"maxUnavailable": 2},
                "gameServerTemplate": template,
            },
        },
    )
    await namespace.wait_status("gs", currentReplicas=2, replicas=6)
    assert set(await namespace.pods("gs")) == {"gs-0", "gs-1"}
    await namespace.patch_set("gs", {"scaleStrategy": {"maxUnavailable": 6}})
    await namespace.wait_status("gs", currentReplicas=6)
    assert len(await namespace.pods("gs")) == 6


async def test_scale_subresource(namespace: Namespace) -> None:
    """What `kubectl scale gss/gs --replicas=4` does: PATCH the scale subresource."""
    await namespace.create_set("gs", 2)
    await namespace.wait_servers("gs", {0, 1})
    kube = namespace.kube
    path = resources.GAME_SERVER_SET.item(namespace.name, "gs", "scale")
    await kube.request(
        "PATCH", path, body={"spec": {"replicas": 4}}, content_type=kclient.MERGE_PATCH
    )
    await namespace.wait_servers("gs", {0, 1, 2, 3})
    await namespace.wait_status("gs", replicas=4)
    scale = await kube.request("GET", path)
    assert scale["kind"] == "Scale"
    assert scale["spec"]["replicas"] == 4
    assert scale["status"]["replicas"] == 4
    assert scale["status"]["selector"] == "game.kruise.io/owner-gss=gs"


async def test_agent_process_is_running(agent: AgentProcess) -> None:
    assert agent.alive
