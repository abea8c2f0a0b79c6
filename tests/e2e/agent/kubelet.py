"""What a kubelet does after an in-place image patch, for kwok nodes.

kwok's pod stages fill a pod's status once, while it is Pending; a later change of a container
image is never reflected. A real kubelet restarts the container and reports the new image in
`status.containerStatuses`. `ImageRestarter` does that part of the kubelet's job: it watches the
game-server pods and, when a container's spec image differs from its status image, reports the
container restarted on the new image. It writes only pod status, with its own client.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from typing import Any

from agent.core import wire
from agent.kube import cache as kcache
from agent.kube import client as kclient
from agent.kube import resources


def _stale_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    statuses = {s.get("name"): s for s in (pod.get("status") or {}).get("containerStatuses") or []}
    stale = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        status = statuses.get(container.get("name"))
        if status is not None and status.get("image") != container.get("image"):
            stale.append({**status, "image": container.get("image")})
    return stale


class ImageRestarter:
    """Report restarted containers on the new image after an in-place update (kwok only)."""

    def __init__(self, kube: kclient.KubeClient, namespace: str | None = None) -> None:
        self._kube = kube
        self.pods = kcache.WatchCache(
            kube, resources.POD, namespace=namespace, label_selector=wire.OWNER_GSS
        )
        self.pods.add_handler(self._on_pod)
        self._pending: set[kcache.Key] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self.restarts = 0

    def _on_pod(self, kind: kcache.EventType, pod: dict[str, Any]) -> None:
        if kind is kcache.EventType.DELETED or (pod.get("metadata") or {}).get("deletionTimestamp"):
            return
        key = kcache.key_of(pod)
        if key in self._pending or not _stale_containers(pod):
            return
        self._pending.add(key)
        task = asyncio.create_task(self._restart(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _restart(self, key: kcache.Key) -> None:
        try:
            pod = self.pods.get(key)
            if pod is None:
                return
            now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            statuses = [
                {
                    **s,
                    "restartCount": int(s.get("restartCount") or 0) + 1,
                    "ready": True,
                    "state": {"running": {"startedAt": now}},
                }
                for s in _stale_containers(pod)
            ]
            with contextlib.suppress(kclient.ApiError):
                await self._kube.request(
                    "PATCH",
                    resources.POD.item(key[0], key[1], "status"),
                    body={"status": {"containerStatuses": statuses}},
                    content_type=kclient.STRATEGIC_PATCH,
                )
                self.restarts += 1
        finally:
            self._pending.discard(key)

    async def __aenter__(self) -> ImageRestarter:
        self._runner = asyncio.create_task(self.pods.run())
        await self.pods.synced.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in [self._runner, *self._tasks]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
