"""A watch cache is live only while it follows the API server: after its watch breaks (an API
server restart) it is stale until listed again, and an allocation reads it so."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

from agent.kube import cache as kcache
from agent.kube import client as kclient
from agent.kube import resources


class _FlakyApi:
    """Lists one pod; its first watch breaks after one event, the next stays open."""

    def __init__(self) -> None:
        self.lists = 0
        self.watches = 0
        self.broke = asyncio.Event()
        self.hold = asyncio.Event()

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        self.lists += 1
        pod = {"metadata": {"name": "arena-0", "namespace": "ns", "resourceVersion": "5"}}
        return {"items": [pod], "metadata": {"resourceVersion": "5"}}

    async def watch_lines(
        self, path: str, params: Mapping[str, Any], seconds: float
    ) -> AsyncIterator[dict[str, Any]]:
        self.watches += 1
        if self.watches == 1:
            self.broke.set()
            raise ConnectionResetError("the API server went away")
        await self.hold.wait()
        yield {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}


async def test_a_broken_watch_makes_the_copy_stale_until_it_is_listed_again() -> None:
    api = _FlakyApi()
    watched = kcache.WatchCache(cast("kclient.KubeClient", api), resources.POD, namespace="ns")
    running = asyncio.create_task(watched.run())
    try:
        await asyncio.wait_for(api.broke.wait(), 5)
        await asyncio.sleep(0)  # the break is handled before the retry's sleep
        assert watched.synced.is_set() and not watched.live
        # The retry lists again (not a watch resumed from where it was), then is live.
        await asyncio.wait_for(watched.wait_until(lambda: api.lists == 2, 5), 6)
        assert watched.live and api.watches == 2
    finally:
        api.hold.set()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
