"""Node maintenance: a drain (the API server's real Eviction API, through the pinned kubectl)
evicts a set's idle pods, which the set creates again on other nodes, and never an Allocated
server's pod: the agent keeps a PodDisruptionBudget over each set's Allocated pods."""

from __future__ import annotations

import collections
import json
import uuid
from typing import TYPE_CHECKING

import pytest

from agent.core import disruption, views, wire
from agent.kube import client as kclient
from agent.kube import resources
from okg import capacity

from .harness import AgentProcess, eventually, kubectl

if TYPE_CHECKING:
    import pathlib

    from .harness import Namespace, Obj

REPLICAS = 6  # over the local cluster's 3 nodes: some node holds two of them


def _node(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def _uid(pod: Obj) -> str:
    return str(pod["metadata"]["uid"])


async def _evict(namespace: Namespace, pod: str) -> None:
    await namespace.kube.request(
        "POST",
        resources.POD.item(namespace.name, pod, "eviction"),
        body={
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": pod, "namespace": namespace.name},
        },
    )


async def _allocate_one_sharing_a_node(namespace: Namespace, gss: str) -> tuple[str, str, Obj]:
    """Allocate a server whose node holds another pod of the set; (server, node, its pod)."""
    pods = await namespace.pods(gss)
    by_node = collections.defaultdict(list)
    for name, pod in sorted(pods.items()):
        by_node[_node(pod)].append(name)
    node, names = next((n, names) for n, names in sorted(by_node.items()) if len(names) >= 2)
    allocated = names[0]
    await namespace.patch_gs(allocated, spec={"opsState": "Allocated"})
    await namespace.wait_pod_label(gss, allocated, wire.GS_OPS_STATE, "Allocated")
    return allocated, node, pods[allocated]


async def _budget_processed(namespace: Namespace, gss: str, budget: str = "") -> None:
    """The agent made the set's budget (default: its Allocated pods') and the disruption
    controller has looked at it. Its counts may not be filled in (on a fresh cluster the
    controller may not know the set's kind yet: `SyncFailed`); either way it allows no
    disruption."""
    name = budget or disruption.budget_name(gss)

    async def check() -> bool:
        found = await namespace.find(resources.POD_DISRUPTION_BUDGET, name)
        status = (found or {}).get("status") or {}
        return (
            found is not None
            and status.get("observedGeneration") == found["metadata"].get("generation")
            and status.get("disruptionsAllowed") == 0
        )

    await eventually(check, 60.0, f"the disruption budget {name}")


async def test_an_eviction_of_an_allocated_pod_is_refused_and_of_an_idle_one_is_not(
    agent: AgentProcess, namespace: Namespace
) -> None:
    await namespace.create_set("gs", 2)
    await namespace.wait_servers("gs", {0, 1}, seconds=60.0)
    await namespace.patch_gs("gs-0", spec={"opsState": "Allocated"})
    await namespace.wait_pod_label("gs", "gs-0", wire.GS_OPS_STATE, "Allocated")
    await _budget_processed(namespace, "gs")
    before = await namespace.pods("gs")

    with pytest.raises(kclient.ApiError) as refused:
        await _evict(namespace, "gs-0")
    assert refused.value.too_many_requests, refused.value
    await _evict(namespace, "gs-1")

    async def idle_one_recreated() -> bool:
        pods = await namespace.pods("gs")
        return "gs-1" in pods and _uid(pods["gs-1"]) != _uid(before["gs-1"])

    await eventually(idle_one_recreated, 60.0, "gs-1 evicted and created again")
    after = await namespace.pods("gs")
    assert _uid(after["gs-0"]) == _uid(before["gs-0"])
    assert (await namespace.get_gs("gs-0"))["spec"]["opsState"] == "Allocated"
    assert agent.alive


async def test_an_eviction_of_a_pod_whose_server_holds_players_is_refused_until_they_leave(
    agent: AgentProcess, namespace: Namespace
) -> None:
    """Not Allocated, but players on its counter (issue 17): in use, so no eviction either."""
    declared = json.dumps({"counters": {"players": {"capacity": 8}}})
    await namespace.create_set("gs", 2, template_annotations={capacity.DECLARATION: declared})
    await namespace.wait_servers("gs", {0, 1}, seconds=60.0)

    async def set_players(count: int) -> None:
        held = capacity.Capacity({"players": capacity.Counter(count, 8)})
        await namespace.kube.request(
            "PATCH",
            resources.GAME_SERVER.item(namespace.name, "gs-0"),
            body={"metadata": {"annotations": {capacity.STATUS: capacity.status_text(held)}}},
            content_type=kclient.MERGE_PATCH,
        )

    await set_players(3)
    await namespace.wait_pod_label("gs", "gs-0", wire.HOLDS_PLAYERS, "true")
    await _budget_processed(namespace, "gs", disruption.players_budget_name("gs"))
    before = await namespace.pods("gs")
    assert views.labels_of(before["gs-1"]).get(wire.HOLDS_PLAYERS) is None
    with pytest.raises(kclient.ApiError) as refused:
        await _evict(namespace, "gs-0")
    assert refused.value.too_many_requests, refused.value

    await set_players(0)

    async def label_gone() -> bool:
        pod = (await namespace.pods("gs")).get("gs-0")
        return pod is not None and wire.HOLDS_PLAYERS not in views.labels_of(pod)

    await eventually(label_gone, 30.0, "gs-0's players label removed")
    await eventually(lambda: _evicted(namespace, "gs-0"), 60.0, "gs-0 evicted once idle")

    async def recreated() -> bool:
        pod = (await namespace.pods("gs")).get("gs-0")
        return pod is not None and _uid(pod) != _uid(before["gs-0"])

    await eventually(recreated, 60.0, "gs-0 created again")
    assert agent.alive


async def _evicted(namespace: Namespace, pod: str) -> bool:
    """Evict ``pod``; False while its budget still refuses (the controller counts again)."""
    try:
        await _evict(namespace, pod)
    except kclient.ApiError as exc:
        if exc.too_many_requests:
            return False
        raise
    return True


async def test_kubectl_drain_moves_idle_servers_and_leaves_the_allocated_one(
    agent: AgentProcess, namespace: Namespace, kubeconfig: pathlib.Path
) -> None:
    gss = f"drain-{uuid.uuid4().hex[:6]}"  # the drain selects pods by this name, in any namespace
    await namespace.create_set(gss, REPLICAS)
    await namespace.wait_servers(gss, set(range(REPLICAS)), seconds=90.0)
    allocated, node, allocated_pod = await _allocate_one_sharing_a_node(namespace, gss)
    await _budget_processed(namespace, gss)
    idle_on_node = {
        name: _uid(pod)
        for name, pod in (await namespace.pods(gss)).items()
        if _node(pod) == node and name != allocated
    }
    assert idle_on_node
    try:
        code, output = await kubectl(
            kubeconfig,
            "drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=25s",
            f"--pod-selector={wire.OWNER_GSS}={gss}",
            timeout=120.0,
        )  # fmt: skip
        # The drain ends without evicting the Allocated pod: it times out on the budget.
        assert code != 0, output
        assert "disruption budget" in output, output

        async def idle_moved() -> bool:
            pods = await namespace.pods(gss)
            return all(
                name in pods and _uid(pods[name]) != uid and _node(pods[name]) not in ("", node)
                for name, uid in idle_on_node.items()
            )

        await eventually(idle_moved, 90.0, f"the idle servers of {node} created on other nodes")
        await namespace.wait_servers(gss, set(range(REPLICAS)), seconds=90.0)
        pod = (await namespace.pods(gss))[allocated]
        assert (_uid(pod), _node(pod)) == (_uid(allocated_pod), node)
        assert (await namespace.get_gs(allocated))["spec"]["opsState"] == "Allocated"
        assert agent.alive
    finally:
        await kubectl(kubeconfig, "uncordon", node, timeout=60.0)
