"""Each server group's record (AllocateGroup), kept in the store for a while.

Written *pending* (the group's members and their request ids) before any member is taken, and
*answered* (every member's server) before the caller hears it. A pending record found by a
retry or by a restarted hub means the group may hold some members: they are given back (by
their own request ids) before anything else happens, so no group is ever left partial.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Sequence

from gamefleet.v1 import gameserver_pb2
from google.protobuf import message

from hub.store import interface as store_api

from . import codec
from .batched import BatchedPuts


@dataclasses.dataclass(frozen=True)
class Member:
    name: str
    fleet: str
    # The member's own allocation request id ("<group request id>/<name>").
    request_id: str


@dataclasses.dataclass(frozen=True)
class Group:
    namespace: str
    request_id: str
    members: Sequence[Member]
    # Wall-clock seconds of the request.
    time: float
    # Every member's server, in the members' order, once answered; empty while pending.
    servers: Sequence[gameserver_pb2.GameServer] = ()

    @property
    def answered(self) -> bool:
        return bool(self.servers)


class GroupRegistry:
    def __init__(self, store: store_api.Store) -> None:
        self._store = store
        # Concurrent groups' records share one store commit.
        self._puts = BatchedPuts(store)

    async def get(self, namespace: str, request_id: str) -> Group | None:
        item = await self._store.get(codec.allocation_group_key(namespace, request_id))
        return None if item is None else _decode(item.value)

    async def save(self, group: Group) -> None:
        value = {
            "namespace": group.namespace,
            "requestId": group.request_id,
            "time": group.time,
            "members": [dataclasses.asdict(m) for m in group.members],
            "servers": [base64.b64encode(codec.encode(s)).decode() for s in group.servers],
        }
        key = codec.allocation_group_key(group.namespace, group.request_id)
        await self._puts.put(key, json.dumps(value, separators=(",", ":")).encode())

    async def delete(self, namespace: str, request_id: str) -> None:
        await self._store.delete(codec.allocation_group_key(namespace, request_id))

    async def list(self) -> list[Group]:
        """Every group record (pending ones are few: one per group being allocated)."""
        found: list[Group] = []
        start = ""
        while True:
            page, _ = await self._store.list(
                codec.ALLOCATION_GROUPS_PREFIX, start_after=start, limit=1000
            )
            found.extend(g for g in (_decode(item.value) for item in page) if g is not None)
            if len(page) < 1000:
                return found
            start = page[-1].key


def _decode(value: bytes) -> Group | None:
    try:
        loaded = json.loads(value)
        return Group(
            namespace=str(loaded["namespace"]),
            request_id=str(loaded["requestId"]),
            members=[Member(**m) for m in loaded["members"]],
            time=float(loaded["time"]),
            servers=[
                codec.decode(base64.b64decode(s), gameserver_pb2.GameServer)
                for s in loaded["servers"]
            ],
        )
    except (ValueError, TypeError, KeyError, message.DecodeError):
        return None
