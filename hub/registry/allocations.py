"""Each allocation request_id's record, kept in the store for a while.

A record is written twice: first as an *intent* (the server chosen for the request, before its
cluster's agent is asked), then as the *answer* (before the caller hears it). A repeated request
(a client retry, or a retry after a hub restart) finds its answer here and gets the same game
server again; an intent tells a restarted hub which server the request may already hold, so the
retry asks that server's agent again instead of taking a second one. Records older than the
retention are swept.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Awaitable, Callable

from gamefleet.v1 import gameserver_pb2
from google.protobuf import message

from hub.store import interface as store_api

from . import codec
from .batched import BatchedPuts

RETENTION_S = 600.0


@dataclasses.dataclass(frozen=True)
class Allocation:
    game_server: gameserver_pb2.GameServer
    # Wall-clock seconds of the allocation.
    time: float
    # False for an intent: the server was chosen, its agent asked, and no caller told yet.
    answered: bool = True


class AllocationRegistry:
    def __init__(self, store: store_api.Store) -> None:
        self._store = store
        # Concurrent saves share one store commit.
        self._puts = BatchedPuts(store)

    async def get(self, namespace: str, fleet: str, request_id: str) -> Allocation | None:
        item = await self._store.get(codec.allocation_key(namespace, fleet, request_id))
        return None if item is None else _decode(item.value)

    async def delete(self, namespace: str, fleet: str, request_id: str) -> None:
        await self._store.delete(codec.allocation_key(namespace, fleet, request_id))

    async def save(self, namespace: str, fleet: str, request_id: str, record: Allocation) -> None:
        """Write the record; saves made while a commit is in flight go together in the next."""
        value = {
            "time": record.time,
            "gameServer": base64.b64encode(codec.encode(record.game_server)).decode(),
            "answered": record.answered,
        }
        key = codec.allocation_key(namespace, fleet, request_id)
        await self._puts.put(key, json.dumps(value, separators=(",", ":")).encode())

    async def sweep(
        self,
        now: float,
        retention: float = RETENTION_S,
        release: Callable[[Allocation], Awaitable[bool]] | None = None,
    ) -> int:
        """Delete the records older than ``retention`` seconds; return how many.

        An intent that was never answered is deleted only once ``release`` (when given) has
        given its server back or found nothing to give back (it returns True).
        """
        removed = 0
        start = ""
        while True:
            page, _ = await self._store.list(
                codec.ALLOCATIONS_PREFIX, start_after=start, limit=1000
            )
            for item in page:
                record = _decode(item.value)
                if record is not None and now - record.time <= retention:
                    continue
                if (
                    record is not None
                    and not record.answered
                    and release is not None
                    and not await release(record)
                ):
                    continue  # its cluster is away: a later sweep tries again
                try:
                    await self._store.delete(item.key, expected_mod_revision=item.mod_revision)
                except store_api.ConflictError:
                    continue  # written again meanwhile: a later sweep looks at it
                removed += 1
            if len(page) < 1000:
                return removed
            start = page[-1].key


def _decode(value: bytes) -> Allocation | None:
    try:
        loaded = json.loads(value)
        server = codec.decode(base64.b64decode(loaded["gameServer"]), gameserver_pb2.GameServer)
        return Allocation(server, float(loaded["time"]), bool(loaded.get("answered", True)))
    except (ValueError, TypeError, KeyError, message.DecodeError):
        return None
