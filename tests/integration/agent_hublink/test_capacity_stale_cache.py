"""An allocation by capacity on a real kube-apiserver, when the agent's cache has not seen the
server's last write yet (its own allocation just answered, most often): the agent reads the
server again before refusing it, so a server with room is re-allocated, and a full one is
still refused."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from gamefleet import capacity_wire, protocol
from gamefleet.v1 import agent_pb2, gameserver_pb2

from agent.controllers import manager
from agent.hublink import link
from agent.kube import cache as kcache
from agent.kube import client as kclient
from agent.kube import resources
from okg import capacity
from tests.support.standin_hub import StandInHub

DECLARED = json.dumps({"counters": {"rooms": {"capacity": 3}}})
WITH_ROOM = capacity.Need(True, {"rooms": capacity.CounterBounds(min_available=1)})
TAKE = capacity.Actions({"rooms": capacity.CounterChange(1)})


def take_a_room(namespace: str, name: str, request_id: str) -> agent_pb2.TargetedOperation:
    """The hub's re-allocation of an Allocated server with a free room, taking one."""
    return agent_pb2.TargetedOperation(
        namespace=namespace,
        game_servers=[name],
        patch=gameserver_pb2.GameServerPatch(ops_state="Allocated"),
        require_ready_unallocated=True,
        annotations={protocol.ALLOCATION_REQUEST_ANNOTATION: request_id},
        need=capacity_wire.need_message(WITH_ROOM, TAKE),
    )


async def allocated_with(kube: kclient.KubeClient, namespace: str, name: str, rooms: int) -> None:
    """What another writer (this agent's previous allocation) leaves on the server."""
    status = capacity.status_text(capacity.Capacity({"rooms": capacity.Counter(rooms, 3)}))
    await kube.request(
        "PATCH",
        resources.GAME_SERVER.item(namespace, name),
        body={"spec": {"opsState": "Allocated"},
              "metadata": {"annotations": {capacity.STATUS: status}}},
        content_type=kclient.MERGE_PATCH,
    )  # fmt: skip


def rooms_of(obj: dict[str, Any]) -> capacity.Counter:
    held = capacity.current(obj["metadata"].get("annotations") or {})
    assert held is not None
    return held.counters["rooms"]


async def test_a_server_allocated_since_the_cache_saw_it_is_reallocated_not_refused(
    served: tuple[kclient.KubeClient, str],
) -> None:
    kube, namespace = served
    for name in ("rooms-0", "rooms-1"):
        await kube.create(resources.GAME_SERVER, namespace, {
            "apiVersion": "game.kruise.io/v1alpha1", "kind": "GameServer",
            "metadata": {"name": name, "annotations": {capacity.DECLARATION: DECLARED}},
            "spec": {"opsState": "None"},
        })  # fmt: skip
        await kube.request(
            "PATCH",
            resources.GAME_SERVER.item(namespace, name, "status"),
            body={"status": {"currentState": "Ready"}},
            content_type=kclient.MERGE_PATCH,
        )
    controller = manager.Controller(kube, namespace=namespace)
    controller.start_caches()
    # The link's view of the game servers: synced on both Ready, then no longer following, so
    # it lags every write after (as a watch does under load, for a moment).
    lagging = kcache.WatchCache(kube, resources.GAME_SERVER, namespace=namespace)
    watching = asyncio.create_task(lagging.run())
    hub = await StandInHub().start()
    config = link.LinkConfig(hub=hub.address, cluster="c1", batch_window=0.01)
    hub_link = link.HubLink(config, kube, controller.sets, lagging, controller.pods)
    running: asyncio.Task[None] | None = None
    try:
        await controller.wait_synced()
        await lagging.wait_until(
            lambda: all(
                ((lagging.get((namespace, n)) or {}).get("status") or {}).get("currentState")
                == "Ready"
                for n in ("rooms-0", "rooms-1")
            ),
            20.0,
        )
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        running = asyncio.create_task(hub_link.run())
        await hub.wait_hello(20.0)
        await allocated_with(kube, namespace, "rooms-0", 1)
        await allocated_with(kube, namespace, "rooms-1", 3)

        # rooms-0: Allocated with a room free, though the cache says Ready: taken.
        async with asyncio.timeout(20.0):
            result = await hub.send(take_a_room(namespace, "rooms-0", "match-2"))
        assert list(result.updated) == ["rooms-0"] and not result.conflicts
        assert result.written["rooms-0"].counters["rooms"].count == 2
        assert rooms_of(await kube.get(resources.GAME_SERVER, namespace, "rooms-0")) == (
            capacity.Counter(2, 3)
        )

        # rooms-1: full since the cache saw it: refused, and left as it is.
        async with asyncio.timeout(20.0):
            result = await hub.send(take_a_room(namespace, "rooms-1", "match-3"))
        assert list(result.conflicts) == ["rooms-1"] and not result.updated
        assert rooms_of(await kube.get(resources.GAME_SERVER, namespace, "rooms-1")) == (
            capacity.Counter(3, 3)
        )
    finally:
        for task in (running, watching):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await controller.stop()
        await hub.stop()
