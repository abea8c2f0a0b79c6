"""Caches of a cloud controller's custom resources, started the first time a set needs them
and only once the API server's discovery shows them served (the controllers may be installed
after the agent): until then a set gets `NetworkConfigInvalid` naming what is missing, and is
looked at again (discovery is asked at most every `REDISCOVER_SECONDS`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import TYPE_CHECKING

from agent.kube import client as kclient

if TYPE_CHECKING:
    from collections.abc import Sequence

    from agent.kube.cache import WatchCache

_log = logging.getLogger(__name__)

REDISCOVER_SECONDS = 10.0
RECHECK_SECONDS = 30.0
"""A set waiting for the resources is reconciled again after this long."""
SYNC_SECONDS = 30.0


def crd_name(cache: WatchCache) -> str:
    resource = cache.resource
    return f"{resource.plural}.{resource.group_version.split('/', 1)[0]}"


class CrdGate:
    def __init__(self, kube: kclient.KubeClient, caches: Sequence[WatchCache]) -> None:
        self._kube = kube
        self.caches = tuple(caches)
        self._lock = asyncio.Lock()
        self._missing: dict[str, list[str]] = {}
        self._asked_at: dict[str, float] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def missing(self, wanted: Sequence[WatchCache]) -> list[str]:
        """The CRDs (by name) of `wanted` the cluster does not serve; [] once they are served
        and their caches hold their first list."""
        async with self._lock:
            absent: list[str] = []
            for cache in wanted:
                name = crd_name(cache)
                if name in self._tasks:
                    continue
                now = time.monotonic()
                if now - self._asked_at.get(name, -math.inf) >= REDISCOVER_SECONDS:
                    self._asked_at[name] = now
                    if await self._served(cache):
                        self._tasks[name] = asyncio.create_task(cache.run(), name=f"cache-{name}")
                        _log.info("%s is served: watching it", name)
                        continue
                absent.append(name)
        if absent:
            return absent
        await asyncio.wait_for(asyncio.gather(*(c.synced.wait() for c in wanted)), SYNC_SECONDS)
        return []

    async def _served(self, cache: WatchCache) -> bool:
        resource = cache.resource
        try:
            listed = await self._kube.request("GET", f"/apis/{resource.group_version}")
        except kclient.ApiError as exc:
            if exc.not_found:
                return False
            raise
        return resource.plural in {str(r.get("name")) for r in listed.get("resources") or []}

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
