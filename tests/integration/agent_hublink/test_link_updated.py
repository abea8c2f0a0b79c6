"""The hub link reports whether each game server runs its set's current template (`updated`),
on a real kube-apiserver: the hub's progressive rollout gates read it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from gamefleet.v1 import gameserver_pb2

from agent.controllers import manager
from agent.core import revision, views, wire
from agent.hublink import link, translate
from agent.kube import client as kclient
from agent.kube import resources
from tests.support.standin_hub import StandInHub


def game_set(image: str) -> dict[str, Any]:
    return {
        "apiVersion": "game.kruise.io/v1alpha1",
        "kind": "GameServerSet",
        "metadata": {"name": "arena", "labels": {translate.MANAGED_BY: translate.MANAGED_BY_HUB}},
        "spec": {
            "replicas": 1,
            "gameServerTemplate": {"spec": {"containers": [{"name": "arena", "image": image}]}},
        },
    }


def revision_of(image: str) -> str:
    return revision.template_revision(views.pod_template(game_set(image))).name


def latest(hub: StandInHub, name: str) -> gameserver_pb2.GameServer | None:
    found = [
        s for m in hub.received if m.HasField("status") for s in m.status.game_servers
        if s.name == name
    ]  # fmt: skip
    return found[-1] if found else None


async def test_a_server_is_updated_when_its_pod_runs_the_sets_current_revision(
    served: tuple[kclient.KubeClient, str],
) -> None:
    kube, namespace = served
    hub = await StandInHub().start()
    controller = manager.Controller(kube, namespace=namespace)
    controller.start_caches()
    config = link.LinkConfig(hub=hub.address, cluster="c1", batch_window=0.01)
    hub_link = link.HubLink(config, kube, controller.sets, controller.game_servers, controller.pods)
    running = asyncio.create_task(hub_link.run())

    async def reported(updated: bool) -> None:
        async with asyncio.timeout(20.0), hub.changed:
            await hub.changed.wait_for(
                lambda: (found := latest(hub, "arena-0")) is not None and found.updated is updated
            )

    try:
        await controller.wait_synced()
        await kube.create(resources.GAME_SERVER_SET, namespace, game_set("arena:1.0"))
        owner = {wire.OWNER_GSS: "arena"}
        await kube.create(resources.POD, namespace, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "arena-0",
                         "labels": {**owner, wire.REVISION: revision_of("arena:1.0")}},
            "spec": {"containers": [{"name": "arena", "image": "arena:1.0"}]},
        })  # fmt: skip
        await kube.create(resources.GAME_SERVER, namespace, {
            "apiVersion": "game.kruise.io/v1alpha1", "kind": "GameServer",
            "metadata": {"name": "arena-0", "labels": owner}, "spec": {},
        })  # fmt: skip
        await reported(True)

        # A new template: the server runs an older revision now, though nothing of it changed.
        await kube.request(
            "PATCH",
            resources.GAME_SERVER_SET.item(namespace, "arena"),
            body=game_set("arena:2.0"),
            content_type=kclient.MERGE_PATCH,
        )
        await reported(False)

        # Updated in place: its pod is relabelled with the new revision.
        await kube.request(
            "PATCH",
            resources.POD.item(namespace, "arena-0"),
            body={"metadata": {"labels": {wire.REVISION: revision_of("arena:2.0")}}},
            content_type=kclient.MERGE_PATCH,
        )
        await reported(True)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await controller.stop()
        await hub.stop()
