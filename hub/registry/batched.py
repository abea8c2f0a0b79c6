"""Group commits: puts made while a store commit is in flight go together in the next one, so
concurrent requests share a commit (one fsync) instead of queueing for one each."""

from __future__ import annotations

import asyncio

from hub.store import interface as store_api


class BatchedPuts:
    def __init__(self, store: store_api.Store) -> None:
        self._store = store
        # Puts waiting for the commit in progress.
        self._queued: dict[str, tuple[bytes, asyncio.Future[None]]] = {}
        self._flushing = False

    async def put(self, key: str, value: bytes) -> None:
        """Write ``value`` at ``key``; returns once a commit holding it is done."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued[key] = (value, done)
        if not self._flushing:
            self._flushing = True
            try:
                while self._queued:
                    await self._flush()
            finally:
                self._flushing = False
        await done

    async def _flush(self) -> None:
        batch, self._queued = self._queued, {}
        try:
            await self._store.commit([store_api.Put(k, v) for k, (v, _) in batch.items()])
        except Exception as exc:
            for _, waiting in batch.values():
                waiting.set_exception(exc)
                waiting.exception()  # the putter raises it; no "never retrieved" warning
            return
        for _, waiting in batch.values():
            waiting.set_result(None)
