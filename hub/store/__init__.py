"""The hub's durable store: revisioned key-value storage, watches and leader election.

The bottom layer of the hub: it knows bytes and keys, never fleets.
"""

from __future__ import annotations

from . import _etcd_rpc, etcd, leader, sqlite, url
from .interface import (
    CompactedError,
    ConflictError,
    Delete,
    EventType,
    KeyValue,
    Op,
    Put,
    Store,
    StoreError,
    StoreUnavailableError,
    WatchEvent,
)
from .leader import LeaderElector, Leadership

__all__ = [
    "CompactedError",
    "ConflictError",
    "Delete",
    "EventType",
    "KeyValue",
    "LeaderElector",
    "Leadership",
    "Op",
    "Put",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "WatchEvent",
    "open_elector",
    "open_store",
]


async def open_store(store_url: str) -> Store:
    """Open the store named by ``store_url`` (see ``hub.store.url``); ValueError if malformed."""
    parsed = url.parse(store_url)
    if isinstance(parsed, url.SqliteUrl):
        return await sqlite.SqliteStore.open(
            parsed.path, synchronous=parsed.synchronous, history=parsed.history
        )
    return etcd.EtcdStore(_etcd_rpc.EtcdRpc(parsed.endpoints), parsed.prefix)


async def open_elector(store_url: str, identity: str, *, ttl: int = 5) -> LeaderElector:
    """Return a started elector for the hub replica ``identity`` (the address clients dial)."""
    parsed = url.parse(store_url)
    elector: LeaderElector
    if isinstance(parsed, url.SqliteUrl):
        elector = leader.SingleReplicaElector(identity)
    else:
        key = f"{parsed.prefix}leader".encode()
        elector = leader.EtcdElector(_etcd_rpc.EtcdRpc(parsed.endpoints), key, identity, ttl=ttl)
    await elector.start()
    return elector
