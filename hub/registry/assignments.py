"""The replicas each cluster was last assigned per fleet, kept in the store.

A cluster the hub cannot see keeps the share it was last given (nothing is deleted where the hub
cannot look). Agents report what they hold when they connect, but a cluster that stays out of
reach across a hub restart would report nothing; this record lets the new hub keep its share.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from hub.store import interface as store_api

from . import codec

SetKey = tuple[str, str]


class AssignmentRegistry:
    def __init__(self, store: store_api.Store) -> None:
        self._store = store

    async def load(self) -> dict[SetKey, dict[str, int]]:
        """Every fleet's last assignment: (namespace, name) -> cluster -> replicas."""
        found: dict[SetKey, dict[str, int]] = {}
        start = ""
        while True:
            page, _ = await self._store.list(
                codec.ASSIGNMENTS_PREFIX, start_after=start, limit=1000
            )
            for item in page:
                namespace, _, name = item.key.removeprefix(codec.ASSIGNMENTS_PREFIX).partition("/")
                try:
                    loaded = json.loads(item.value)
                    found[(namespace, name)] = {str(c): int(r) for c, r in loaded.items()}
                except (ValueError, TypeError, AttributeError):
                    continue  # an unreadable record is as good as none: agents report theirs
            if len(page) < 1000:
                return found
            start = page[-1].key

    async def save(self, key: SetKey, replicas: Mapping[str, int]) -> None:
        value = json.dumps(dict(sorted(replicas.items())), separators=(",", ":")).encode()
        await self._store.put(codec.assignment_key(*key), value)

    async def forget(self, key: SetKey) -> None:
        await self._store.delete(codec.assignment_key(*key))
