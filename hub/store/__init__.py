"""The hub's durable store: revisioned key-value storage, watches and leader election.

The bottom layer of the hub: it knows bytes and keys, never fleets.
"""

from __future__ import annotations

from . import _etcd_rpc, etcd, leader, metered, sqlite, url
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


async def open_store(store_url: str, *, metrics: metered.StoreMetrics | None = None) -> Store:
    """Open the store named by ``store_url`` (see ``hub.store.url``); ValueError if malformed.

    With ``metrics``, every operation is counted and timed there, labelled with the backend.
    """
    parsed = url.parse(store_url)
    opened: Store
    if isinstance(parsed, url.SqliteUrl):
        opened = await sqlite.SqliteStore.open(
            parsed.path, synchronous=parsed.synchronous, history=parsed.history
        )
    else:
        opened = etcd.EtcdStore(_etcd_rpc.EtcdRpc(parsed.endpoints), parsed.prefix)
    if metrics is None:
        return opened
    backend = "sqlite" if isinstance(parsed, url.SqliteUrl) else "etcd"
    return metered.MeteredStore(opened, backend, metrics)


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
