"""In-place image updates (OKG scenario 2), recreate updates, per-server images, and the
rule that no update restarts an Allocated server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from agent.kube import resources

from .harness import eventually, images, kruise_pod_ready, uids

if TYPE_CHECKING:
    from .harness import Namespace

# A container patched in place is restarted on its new image by the local clusters' kwok stage
# (tests/localcluster/stages.yaml), as a kubelet does.
pytestmark = pytest.mark.usefixtures("agent")

IN_PLACE = {"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible", "maxUnavailable": "50%"}}


def _template(image: str, env: str = "") -> dict[str, object]:
    container: dict[str, object] = {"name": "main", "image": image}
    if env:
        container["env"] = [{"name": "MODE", "value": env}]
    return {"spec": {"containers": [container]}}


async def _wait_images(namespace: Namespace, gss: str, wanted: dict[str, str]) -> None:
    async def check() -> bool:
        return images(await namespace.pods(gss)) == wanted

    await eventually(check, 60.0, f"images {wanted}")


async def test_scenario_2_in_place_update_recreates_no_pod(namespace: Namespace) -> None:
    """A new image reaches every server in place: same pod UIDs and IPs, GameServers kept."""
    await namespace.create_set("gs", 4, updateStrategy=IN_PLACE)
    await namespace.wait_servers("gs", {0, 1, 2, 3})
    before = await namespace.pods("gs")
    gs_before = {n: g["metadata"]["uid"] for n, g in (await namespace.game_servers("gs")).items()}
    await namespace.patch_set("gs", {"gameServerTemplate": _template("game:2")})
    await _wait_images(namespace, "gs", dict.fromkeys(before, "game:2"))
    await namespace.wait_status("gs", updatedReplicas=4, updatedReadyReplicas=4, readyReplicas=4)
    after = await namespace.pods("gs")
    assert uids(after) == uids(before)
    assert {n: p["status"]["podIP"] for n, p in after.items()} == {
        n: p["status"]["podIP"] for n, p in before.items()
    }
    gs_after = {n: g["metadata"]["uid"] for n, g in (await namespace.game_servers("gs")).items()}
    assert gs_after == gs_before
    for gs in (await namespace.game_servers("gs")).values():
        assert gs["status"]["currentState"] == "Ready"


async def test_recreate_when_more_than_images_change(namespace: Namespace) -> None:
    await namespace.create_set("gs", 2, updateStrategy=IN_PLACE)
    await namespace.wait_servers("gs", {0, 1})
    before = uids(await namespace.pods("gs"))
    await namespace.patch_set("gs", {"gameServerTemplate": _template("game:1", env="new")})
    await namespace.wait_status("gs", updatedReplicas=2, readyReplicas=2, currentReplicas=2)
    await namespace.wait_servers("gs", {0, 1})
    after = await namespace.pods("gs")
    assert set(uids(after).values()).isdisjoint(before.values())
    assert all(p["spec"]["containers"][0]["env"][0]["value"] == "new" for p in after.values())


async def test_update_order_partition_and_allocated(namespace: Namespace) -> None:
    """updatePriority first; partition keeps servers on the old revision; an Allocated server
    is never restarted, and is updated once it is freed."""
    strategy = {"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible", "partition": 2}}
    await namespace.create_set("gs", 4, updateStrategy=strategy)
    await namespace.wait_servers("gs", {0, 1, 2, 3})
    await namespace.patch_gs("gs-0", {"updatePriority": 10})
    await namespace.patch_gs("gs-3", {"opsState": "Allocated"})
    await namespace.wait_status("gs", allocatedReplicas=1)
    await namespace.wait_pod_label("gs", "gs-0", "game.kruise.io/gs-update-priority", "10")
    await namespace.patch_set("gs", {"gameServerTemplate": _template("game:2")})
    # Window of 2: gs-0 (priority 10), then gs-2 (highest ordinal that is not Allocated).
    wanted = {"gs-0": "game:2", "gs-1": "game:1", "gs-2": "game:2", "gs-3": "game:1"}
    await _wait_images(namespace, "gs", wanted)
    await namespace.wait_status("gs", updatedReplicas=2, readyReplicas=4)
    # Lifting the partition updates gs-1, never the Allocated gs-3.
    await namespace.patch_set("gs", {"updateStrategy": {"rollingUpdate": {"partition": 0}}})
    await _wait_images(namespace, "gs", {**wanted, "gs-1": "game:2"})
    await namespace.wait_status("gs", updatedReplicas=3, readyReplicas=4)
    assert images(await namespace.pods("gs"))["gs-3"] == "game:1"
    await namespace.patch_gs("gs-3", {"opsState": "None"})
    await _wait_images(namespace, "gs", dict.fromkeys(wanted, "game:2"))


async def test_paused_update_waits(namespace: Namespace) -> None:
    strategy = {"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible", "paused": True}}
    await namespace.create_set("gs", 2, updateStrategy=strategy)
    await namespace.wait_servers("gs", {0, 1})
    await namespace.patch_set("gs", {"gameServerTemplate": _template("game:2")})
    await namespace.wait_status("gs", updatedReplicas=0)
    assert set(images(await namespace.pods("gs")).values()) == {"game:1"}
    await namespace.patch_set("gs", {"updateStrategy": {"rollingUpdate": {"paused": False}}})
    await _wait_images(namespace, "gs", {"gs-0": "game:2", "gs-1": "game:2"})


async def test_per_server_image_override(namespace: Namespace) -> None:
    """GameServer.spec.containers patches that server's live pod, even when Allocated."""
    await namespace.create_set("gs", 2, updateStrategy=IN_PLACE)
    await namespace.wait_servers("gs", {0, 1})
    before = uids(await namespace.pods("gs"))
    await namespace.patch_gs("gs-1", {"opsState": "Allocated"})
    await namespace.patch_gs("gs-1", {"containers": [{"name": "main", "image": "game:canary"}]})
    await _wait_images(namespace, "gs", {"gs-0": "game:1", "gs-1": "game:canary"})

    async def ready() -> bool:
        status = (await namespace.get_gs("gs-1")).get("status") or {}
        return bool(status.get("currentState") == "Ready")

    await eventually(ready, 30.0, "gs-1 Ready on its own image")
    assert uids(await namespace.pods("gs")) == before


async def test_idle_only_updates_wait_for_busy_servers(namespace: Namespace) -> None:
    """gamefleet's idleOnly: a Maintaining server keeps its image until it is None again."""
    strategy = {"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible", "idleOnly": True}}
    await namespace.create_set("gs", 3, updateStrategy=strategy)
    await namespace.wait_servers("gs", {0, 1, 2})
    await namespace.patch_gs("gs-1", {"opsState": "Maintaining"})
    await namespace.wait_status("gs", maintainingReplicas=1)
    before = uids(await namespace.pods("gs"))
    await namespace.patch_set("gs", {"gameServerTemplate": _template("game:2")})
    wanted = {"gs-0": "game:2", "gs-1": "game:1", "gs-2": "game:2"}
    await _wait_images(namespace, "gs", wanted)
    await namespace.wait_status("gs", updatedReplicas=2, readyReplicas=3)
    await namespace.patch_gs("gs-1", {"opsState": "None"})
    await _wait_images(namespace, "gs", dict.fromkeys(wanted, "game:2"))
    assert uids(await namespace.pods("gs")) == before


async def test_in_place_update_hook_holds_each_server_until_the_game_releases_it(
    namespace: Namespace,
) -> None:
    """lifecycle.inPlaceUpdate.labelsHandler: a server carrying the label is PreUpdate and keeps
    its image; the game releases it through its GameServer (gs-sync/), then it is updated in
    place. The others are not held up by it."""
    hook = {"gs-sync/update-block": "true"}
    strategy = {"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible", "maxUnavailable": 2}}
    await namespace.create_set(
        "gs",
        3,
        template_labels=hook,
        updateStrategy=strategy,
        lifecycle={"inPlaceUpdate": {"labelsHandler": hook}},
    )
    await namespace.wait_servers("gs", {0, 1, 2})
    # gs-2 has already said it may be updated.
    await namespace.patch_gs("gs-2", labels={"gs-sync/update-block": "false"})
    await namespace.wait_pod_label("gs", "gs-2", "gs-sync/update-block", "false")
    before = uids(await namespace.pods("gs"))
    await namespace.patch_set("gs", {"gameServerTemplate": _template("game:2")})
    await _wait_images(namespace, "gs", {"gs-0": "game:1", "gs-1": "game:1", "gs-2": "game:2"})

    await namespace.wait_states("gs", ("gs-0", "gs-1"), "PreUpdate")
    await namespace.wait_pod_label("gs", "gs-1", "game.kruise.io/gs-state", "PreUpdate")

    await namespace.patch_gs("gs-1", labels={"gs-sync/update-block": "false"})
    await _wait_images(namespace, "gs", {"gs-0": "game:1", "gs-1": "game:2", "gs-2": "game:2"})
    assert images(await namespace.pods("gs"))["gs-0"] == "game:1"
    assert uids(await namespace.pods("gs")) == before
    await namespace.wait_status("gs", updatedReplicas=2)


async def test_in_place_update_finalizers_hold_until_their_owner_removes_them(
    namespace: Namespace,
) -> None:
    """lifecycle.inPlaceUpdate.finalizersHandler: every pod is created with the finalizer; an
    in-place update waits (PreUpdate) while the pod carries it. Its owner removing it lets the
    update go ahead in place, and the update puts it back for the next one."""
    hold = "example.com/hold-update"
    strategy = {"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible", "maxUnavailable": 2}}
    await namespace.create_set(
        "gs", 2, updateStrategy=strategy, lifecycle={"inPlaceUpdate": {"finalizersHandler": [hold]}}
    )
    await namespace.wait_servers("gs", {0, 1})
    pods = await namespace.pods("gs")
    assert all(hold in (p["metadata"].get("finalizers") or []) for p in pods.values())
    before = uids(pods)
    await namespace.patch_set("gs", {"gameServerTemplate": _template("game:2")})

    await namespace.wait_states("gs", ("gs-0", "gs-1"), "PreUpdate")
    assert images(await namespace.pods("gs")) == {"gs-0": "game:1", "gs-1": "game:1"}

    # The finalizer's owner releases gs-1.
    pod = (await namespace.pods("gs"))["gs-1"]
    rest = [f for f in pod["metadata"]["finalizers"] if f != hold]
    await namespace.kube.patch(
        resources.POD, namespace.name, "gs-1", {"metadata": {"finalizers": rest or None}}
    )
    await _wait_images(namespace, "gs", {"gs-0": "game:1", "gs-1": "game:2"})
    after = await namespace.pods("gs")
    assert uids(after) == before
    assert hold in (after["gs-1"]["metadata"].get("finalizers") or [])  # armed for the next
    assert images(after)["gs-0"] == "game:1"


async def test_mark_pod_not_ready_through_an_in_place_update(namespace: Namespace) -> None:
    """inPlaceUpdate.markPodNotReady: KruisePodReady is False while the hook holds the server
    and while its update runs, True again once it runs the new image (same pod)."""
    hook = {"gs-sync/update-block": "true"}
    strategy = {"rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible"}}
    await namespace.create_set(
        "gs",
        1,
        template_labels=hook,
        updateStrategy=strategy,
        lifecycle={"inPlaceUpdate": {"labelsHandler": hook, "markPodNotReady": True}},
    )
    await namespace.wait_servers("gs", {0})

    async def kruise_ready(wanted: str) -> bool:
        return kruise_pod_ready((await namespace.pods("gs")).get("gs-0") or {}) == wanted

    await eventually(lambda: kruise_ready("True"), 30.0, "KruisePodReady True")
    before = uids(await namespace.pods("gs"))
    await namespace.patch_set("gs", {"gameServerTemplate": _template("game:2")})
    await eventually(lambda: kruise_ready("False"), 30.0, "held PreUpdate: KruisePodReady False")
    assert images(await namespace.pods("gs")) == {"gs-0": "game:1"}
    await namespace.patch_gs("gs-0", labels={"gs-sync/update-block": "false"})
    await _wait_images(namespace, "gs", {"gs-0": "game:2"})
    await eventually(lambda: kruise_ready("True"), 30.0, "updated: KruisePodReady True")
    assert uids(await namespace.pods("gs")) == before
