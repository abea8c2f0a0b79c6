"""GameServer ownership (OKG scenarios 5 and 6), the preDelete lifecycle hook, GameServer
status, wire labels, events, and what the API server rejects."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from agent.kube import client as kclient
from agent.kube import resources

from .harness import eventually, kruise_pod_ready, uids

if TYPE_CHECKING:
    from .harness import Namespace


@pytest.mark.usefixtures("agent")
async def test_scenario_5_delete_policy_keeps_the_game_server(namespace: Namespace) -> None:
    await namespace.create_set("gs", 3, reclaim_policy="Delete")
    await namespace.wait_servers("gs", {0, 1, 2})
    await namespace.patch_gs("gs-1", {"deletionPriority": 100})
    await namespace.wait_pod_label("gs", "gs-1", "game.kruise.io/gs-delete-priority", "100")
    old = uids(await namespace.pods("gs"))["gs-1"]
    await namespace.delete_pod("gs-1")

    async def replaced() -> bool:
        pod = (await namespace.pods("gs")).get("gs-1")
        return pod is not None and pod["metadata"]["uid"] != old

    await eventually(replaced, 30.0, "gs-1 recreated")
    await namespace.wait_servers("gs", {0, 1, 2})
    assert (await namespace.get_gs("gs-1"))["spec"]["deletionPriority"] == 100
    await namespace.wait_pod_label("gs", "gs-1", "game.kruise.io/gs-delete-priority", "100")


@pytest.mark.usefixtures("agent")
async def test_scenario_6_cascade_resets_the_game_server(namespace: Namespace) -> None:
    await namespace.create_set("gs", 3)
    await namespace.wait_servers("gs", {0, 1, 2})
    await namespace.patch_gs("gs-1", {"deletionPriority": 100})
    await namespace.wait_pod_label("gs", "gs-1", "game.kruise.io/gs-delete-priority", "100")
    old_gs = (await namespace.get_gs("gs-1"))["metadata"]["uid"]
    await namespace.delete_pod("gs-1")

    async def reset() -> bool:
        gs = (await namespace.game_servers("gs")).get("gs-1")
        return gs is not None and gs["metadata"]["uid"] != old_gs

    await eventually(reset, 30.0, "a new gs-1")
    await namespace.wait_servers("gs", {0, 1, 2})
    assert (await namespace.get_gs("gs-1"))["spec"]["deletionPriority"] == 0
    await namespace.wait_pod_label("gs", "gs-1", "game.kruise.io/gs-delete-priority", "0")


@pytest.mark.usefixtures("agent")
async def test_pre_delete_hook_holds_until_released(namespace: Namespace) -> None:
    hook = {"gs-sync/delete-block": "true"}
    await namespace.create_set(
        "gs", 2, template_labels=hook, lifecycle={"preDelete": {"labelsHandler": hook}}
    )
    await namespace.wait_servers("gs", {0, 1})
    await namespace.scale("gs", 1)

    await namespace.wait_states("gs", ("gs-1",), "PreDelete")
    await namespace.wait_status("gs", preDeleteReplicas=1, currentReplicas=2)
    pods = await namespace.pods("gs", terminating=True)
    assert pods["gs-1"]["metadata"]["labels"]["game.kruise.io/gs-state"] == "PreDelete"
    # The game releases the hook through its GameServer; the label syncs to the pod.
    await namespace.patch_gs("gs-1", labels={"gs-sync/delete-block": "false"})
    await namespace.wait_servers("gs", {0})
    await namespace.wait_status("gs", preDeleteReplicas=0, currentReplicas=1)


@pytest.mark.usefixtures("agent")
async def test_mark_pod_not_ready_while_the_pre_delete_hook_holds(namespace: Namespace) -> None:
    """preDelete.markPodNotReady: pods carry Kruise's readiness gate with its condition True;
    a server held PreDelete gets it False (Services stop sending it players)."""
    hook = {"gs-sync/delete-block": "true"}
    await namespace.create_set(
        "gs",
        2,
        template_labels=hook,
        lifecycle={"preDelete": {"labelsHandler": hook, "markPodNotReady": True}},
    )
    await namespace.wait_servers("gs", {0, 1})

    async def gated_and_ready() -> bool:
        pods = await namespace.pods("gs")
        return len(pods) == 2 and all(
            {"conditionType": "KruisePodReady"} in (p["spec"].get("readinessGates") or [])
            and kruise_pod_ready(p) == "True"
            for p in pods.values()
        )

    await eventually(gated_and_ready, 30.0, "both pods gated with KruisePodReady True")
    await namespace.scale("gs", 1)

    async def marked() -> bool:
        pod = (await namespace.pods("gs", terminating=True)).get("gs-1") or {}
        return kruise_pod_ready(pod) == "False"

    await eventually(marked, 30.0, "gs-1 held PreDelete with KruisePodReady False")
    assert kruise_pod_ready((await namespace.pods("gs"))["gs-0"]) == "True"
    await namespace.patch_gs("gs-1", labels={"gs-sync/delete-block": "false"})
    await namespace.wait_servers("gs", {0})


@pytest.mark.usefixtures("agent")
async def test_pre_delete_finalizers_hold_until_their_owner_removes_them(
    namespace: Namespace,
) -> None:
    drain = "example.com/drain-players"
    await namespace.create_set("gs", 2, lifecycle={"preDelete": {"finalizersHandler": [drain]}})
    await namespace.wait_servers("gs", {0, 1})
    pods = await namespace.pods("gs")
    assert all(drain in p["metadata"]["finalizers"] for p in pods.values())
    await namespace.scale("gs", 1)

    await namespace.wait_states("gs", ("gs-1",), "PreDelete")
    await namespace.wait_status("gs", preDeleteReplicas=1, currentReplicas=2)
    # The finalizer's owner (the game's own controller) lets the pod go.
    pod = (await namespace.pods("gs", terminating=True))["gs-1"]
    rest = [f for f in pod["metadata"]["finalizers"] if f != drain]
    await namespace.kube.patch(
        resources.POD, namespace.name, "gs-1", {"metadata": {"finalizers": rest or None}}
    )
    await namespace.wait_servers("gs", {0})
    await namespace.wait_status("gs", preDeleteReplicas=0, currentReplicas=1)


@pytest.mark.usefixtures("agent")
async def test_wire_labels_status_and_events(namespace: Namespace) -> None:
    await namespace.create_set("gs", 1, template_labels={"team": "blue"}, serviceName="arena")
    await namespace.wait_servers("gs", {0})
    await namespace.patch_gs(
        "gs-0",
        {"opsState": "Maintaining", "updatePriority": 5, "networkDisabled": True},
        labels={"gs-sync/config": "v2"},
    )
    await namespace.wait_pod_label("gs", "gs-0", "game.kruise.io/gs-opsState", "Maintaining")
    await namespace.wait_status("gs", maintainingReplicas=1)
    pod = (await namespace.pods("gs"))["gs-0"]
    labels = pod["metadata"]["labels"]
    assert labels["game.kruise.io/owner-gss"] == "gs"
    assert labels["game.kruise.io/gs-update-priority"] == "5"
    assert labels["game.kruise.io/network-disabled"] == "true"
    assert labels["gs-sync/config"] == "v2"
    assert labels["team"] == "blue"
    assert labels["statefulset.kubernetes.io/pod-name"] == "gs-0"
    assert labels["apps.kubernetes.io/pod-index"] == "0"
    assert pod["spec"]["hostname"] == "gs-0"
    assert pod["spec"]["subdomain"] == "arena"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "GameServerSet"
    assert "game.kruise.io/opsState-last-changed-time" in pod["metadata"]["annotations"]

    async def status_follows() -> bool:
        status = (await namespace.get_gs("gs-0")).get("status") or {}
        # As OKG: the status priority an IntOrString string, no network status without a
        # network plugin.
        return status.get("updatePriority") == "5" and not status.get("networkStatus")

    await eventually(status_follows, 30.0, "GameServer status")
    status = (await namespace.get_gs("gs-0"))["status"]
    assert status["currentState"] == "Ready"
    assert status["desiredState"] == "Ready"
    assert status["podStatus"]["phase"] == "Running"
    assert status["lastTransitionTime"]

    async def evented() -> bool:
        return any(
            e["message"] == "OpsState turn from None to Maintaining" and e["type"] == "Warning"
            for e in await namespace.events("gs-0")
        )

    await eventually(evented, 30.0, "the ops-state event")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"replicas": -1}, "spec.replicas"),
        ({"replicas": 1, "reserveGameServerIds": ["a-b"]}, "spec.reserveGameServerIds[0]"),
        ({"replicas": 1, "updateStrategy": {"type": "Sometimes"}}, "spec.updateStrategy.type"),
        (
            {"replicas": 1, "updateStrategy": {"rollingUpdate": {"maxUnavailable": "3"}}},
            "spec.updateStrategy.rollingUpdate.maxUnavailable",
        ),
        ({}, "spec.replicas"),
        (
            {"replicas": 1, "serviceQualities": [{"name": "g", "grpc": {"port": 70000}}]},
            "spec.serviceQualities[0].grpc.port",
        ),
        (
            {
                "replicas": 1,
                "serviceQualities": [{"name": "q", "tcpSocket": {"port": 1}, "grpc": {"port": 2}}],
            },
            "spec.serviceQualities[0]",
        ),
    ],
)
async def test_invalid_sets_are_rejected_naming_the_field(
    namespace: Namespace, spec: dict[str, object], field: str
) -> None:
    body = {
        "apiVersion": "game.kruise.io/v1alpha1",
        "kind": "GameServerSet",
        "metadata": {"name": "bad", "namespace": namespace.name},
        "spec": spec,
    }
    with pytest.raises(kclient.ApiError) as caught:
        await namespace.kube.request(
            "POST", resources.GAME_SERVER_SET.collection(namespace.name), body=body
        )
    assert caught.value.status == 422
    assert field in caught.value.message
    assert caught.value.body["details"]["causes"][0]["field"].startswith(field)
