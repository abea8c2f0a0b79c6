"""Player continuity extends to counters and lists: a server whose counter holds players is in
use, and a scale-down keeps it as it keeps an Allocated one, against a real API server with the
agent as its own process."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from agent.kube import client as kclient
from agent.kube import resources
from okg import capacity

if TYPE_CHECKING:
    from .harness import Namespace

pytestmark = pytest.mark.usefixtures("agent")

DECLARED = json.dumps({"counters": {"players": {"capacity": 8}}})
DELETE_PRIORITY = "game.kruise.io/gs-delete-priority"


async def set_players(namespace: Namespace, name: str, count: int, spec: dict[str, int]) -> None:
    """The game's own write of its counter (as `kubectl annotate` would)."""
    status = capacity.status_text(capacity.Capacity({"players": capacity.Counter(count, 8)}))
    await namespace.kube.request(
        "PATCH",
        resources.GAME_SERVER.item(namespace.name, name),
        body={"metadata": {"annotations": {capacity.STATUS: status}}, "spec": spec},
        content_type=kclient.MERGE_PATCH,
    )


async def test_scale_to_zero_keeps_the_server_with_players_until_they_leave(
    namespace: Namespace,
) -> None:
    await namespace.create_set("gs", 3, template_annotations={capacity.DECLARATION: DECLARED})
    await namespace.wait_servers("gs", {0, 1, 2})
    # The highest deletionPriority, in the same write: without continuity it would be the first
    # to go, and its pod label shows when the agent has read the write.
    await set_players(namespace, "gs-1", 2, {"deletionPriority": 100})
    await namespace.wait_pod_label("gs", "gs-1", DELETE_PRIORITY, "100")
    kept = (await namespace.pods("gs"))["gs-1"]["metadata"]["uid"]
    await namespace.scale("gs", 0)
    await namespace.wait_servers("gs", {1})
    status = await namespace.wait_status("gs", heldBackReplicas=1, replicas=0)
    blocked = {c["type"]: c for c in status["conditions"]}["ScaleDownBlocked"]
    assert blocked["status"] == "True"
    assert (await namespace.pods("gs"))["gs-1"]["metadata"]["uid"] == kept
    # The players leave: the scale-down finishes with no further action.
    await set_players(namespace, "gs-1", 0, {})
    await namespace.wait_servers("gs", set())
    await namespace.wait_status("gs", heldBackReplicas=0)
