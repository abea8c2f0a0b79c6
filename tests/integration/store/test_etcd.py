"""etcd-only behaviour: watches across an etcd restart, several endpoints, an unreachable etcd."""

from __future__ import annotations

import asyncio
import signal
import uuid
from typing import TYPE_CHECKING

import pytest

from hub import store as hubstore
from hub.store import _etcd_rpc, etcd

from .conftest import etcd_store
from .etcd_server import free_port

if TYPE_CHECKING:
    from .etcd_server import EtcdServer


def _endpoint(server: EtcdServer) -> _etcd_rpc.Endpoint:
    host, port = server.endpoint.split(":")
    return _etcd_rpc.Endpoint(host, int(port))


async def test_watch_resumes_across_etcd_restart_without_loss_or_duplicates(
    own_etcd: EtcdServer,
) -> None:
    store = etcd_store(own_etcd, retry_timeout=1.0)
    writer = etcd.EtcdStore(_etcd_rpc.EtcdRpc([_endpoint(own_etcd)]), store.prefix)
    seen: list[hubstore.WatchEvent] = []
    arrived = asyncio.Condition()

    async def consume() -> None:
        async for event in store.watch("f/", 1):
            async with arrived:
                seen.append(event)
                arrived.notify_all()

    async def until_seen(count: int, within: float) -> None:
        async with asyncio.timeout(within), arrived:
            await arrived.wait_for(lambda: len(seen) >= count)

    consumer = asyncio.create_task(consume())
    try:
        for i in range(5):
            await writer.put(f"f/{i}", str(i).encode())
        await until_seen(5, 10)

        await asyncio.to_thread(own_etcd.stop, signal.SIGKILL)
        with pytest.raises(hubstore.StoreUnavailableError):
            await store.put("f/while-down", b"x")
        await asyncio.to_thread(own_etcd.start)
        for i in range(5, 10):
            await writer.put(f"f/{i}", str(i).encode())
        await until_seen(10, 20)
        await asyncio.sleep(0.5)
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        await store.close()
        await writer.close()

    assert [e.kv.key for e in seen] == [f"f/{i}" for i in range(10)]
    revisions = [e.revision for e in seen]
    assert revisions == sorted(set(revisions))


async def test_a_dead_endpoint_is_skipped(etcd_server: EtcdServer) -> None:
    dead = _etcd_rpc.Endpoint("127.0.0.1", free_port())
    rpc = _etcd_rpc.EtcdRpc([dead, _endpoint(etcd_server)], connect_timeout=0.5)
    store = etcd.EtcdStore(rpc, f"/test-{uuid.uuid4().hex}/")
    try:
        revision = await store.put("k", b"v")
        got = await store.get("k")
    finally:
        await store.close()

    assert got is not None
    assert got.mod_revision == revision


async def test_unreachable_etcd_raises_unavailable() -> None:
    dead = _etcd_rpc.Endpoint("127.0.0.1", free_port())
    rpc = _etcd_rpc.EtcdRpc([dead], connect_timeout=0.2, retry_timeout=1.0)
    store = etcd.EtcdStore(rpc)
    try:
        with pytest.raises(hubstore.StoreUnavailableError, match="no etcd endpoint"):
            await store.get("k")
    finally:
        await store.close()


async def test_open_store_keeps_keys_under_the_url_prefix(etcd_server: EtcdServer) -> None:
    prefix = f"/test-{uuid.uuid4().hex}"
    store = await hubstore.open_store(f"{etcd_server.url},127.0.0.1:1{prefix}")
    raw = _etcd_rpc.EtcdRpc([_endpoint(etcd_server)])
    try:
        await store.put("fleets/a", b"1")
        stored = await raw.range(f"{prefix}/kv/fleets/a".encode())
    finally:
        await store.close()
        await raw.close()

    assert [kv.value for kv in stored.kvs] == [b"1"]


async def test_a_limited_list_spans_several_etcd_ranges(
    etcd_server: EtcdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(etcd, "_PAGE", 2)
    store = etcd_store(etcd_server)
    try:
        for index in range(7):
            await store.put(f"f/{index}", b"v")
        five, _ = await store.list("f/", limit=5)
        after, _ = await store.list("f/", start_after="f/1", limit=3)
        everything, _ = await store.list("f/")
    finally:
        await store.close()

    assert [kv.key for kv in five] == [f"f/{index}" for index in range(5)]
    assert [kv.key for kv in after] == ["f/2", "f/3", "f/4"]
    assert len(everything) == 7
