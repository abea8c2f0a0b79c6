"""The metrics wrapper: every operation counted by its result and timed, on a real SQLite file."""

from __future__ import annotations

import asyncio
import pathlib
from typing import TYPE_CHECKING

import prometheus_client
import pytest

from hub import store as hubstore
from hub.store import metered

from .helpers import take

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

Metered = tuple[hubstore.Store, prometheus_client.CollectorRegistry]


@pytest.fixture
async def metered_store(tmp_path: pathlib.Path) -> AsyncIterator[Metered]:
    registry = prometheus_client.CollectorRegistry()
    opened = await hubstore.open_store(
        f"sqlite:///{tmp_path / 'hub.db'}", metrics=metered.StoreMetrics(registry)
    )
    yield opened, registry
    await opened.close()


def _count(registry: prometheus_client.CollectorRegistry, op: str, result: str) -> float:
    labels = {"backend": "sqlite", "op": op, "result": result}
    return registry.get_sample_value("gamefleet_hub_store_operations_total", labels) or 0.0


def _timed(registry: prometheus_client.CollectorRegistry, op: str) -> float:
    labels = {"backend": "sqlite", "op": op}
    return registry.get_sample_value("gamefleet_hub_store_operation_seconds_count", labels) or 0.0


async def test_open_store_with_metrics_counts_and_times_each_operation(
    metered_store: Metered,
) -> None:
    store, registry = metered_store
    assert isinstance(store, metered.MeteredStore)

    revision = await store.put("f/a", b"1")
    await store.get("f/a")
    await store.get("f/missing")
    await store.list("f/")
    await store.commit([hubstore.Put("f/b", b"2")])
    await store.delete("f/b")

    assert [_count(registry, op, "ok") for op in ("put", "get", "list", "commit", "delete")] == [
        1,
        2,
        1,
        1,
        1,
    ]
    assert _timed(registry, "get") == 2
    assert _timed(registry, "put") == 1
    with pytest.raises(hubstore.ConflictError):
        await store.put("f/a", b"x", expected_mod_revision=revision + 100)
    assert _count(registry, "put", "conflict") == 1
    assert _timed(registry, "put") == 2


async def test_watch_counts_once_when_it_ends_compacted_or_closed(metered_store: Metered) -> None:
    store, registry = metered_store
    first = await store.put("f/a", b"1")
    last = await store.put("f/a", b"2")
    await store.compact(last)

    with pytest.raises(hubstore.CompactedError):
        await take(store.watch("f/", first), 1)
    assert _count(registry, "watch", "compacted") == 1

    events = store.watch("f/", last + 1)
    changed = await store.put("f/b", b"3")
    (event,) = await take(events, 1)
    assert event.revision == changed
    assert _count(registry, "watch", "ok") == 0  # still running
    await events.aclose()
    assert _count(registry, "watch", "ok") == 1

    pending = store.watch("f/", changed + 1)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await anext(pending)
    assert _count(registry, "watch", "ok") == 2
    assert _count(registry, "compact", "ok") == 1


async def test_open_store_without_metrics_returns_the_bare_backend(tmp_path: pathlib.Path) -> None:
    store = await hubstore.open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        assert not isinstance(store, metered.MeteredStore)
    finally:
        await store.close()
