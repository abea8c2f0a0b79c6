"""A ``Store`` that counts and times every operation of the store it wraps.

The backends know nothing of metrics: ``open_store`` wraps whichever it opened when the hub
serves metrics, and leaves it bare otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Final, TypeVar

import prometheus_client

from . import interface

if TYPE_CHECKING:
    import builtins
    from collections.abc import AsyncGenerator, Awaitable, Sequence

_T = TypeVar("_T")

OPS: Final = ("get", "list", "put", "delete", "commit", "compact", "watch")
# Seconds: a SQLite read takes tens of microseconds, an etcd write under load tens of
# milliseconds, and a call retried across endpoints up to the 10 s retry budget.
BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 10.0,
)  # fmt: skip


def result_of(exc: BaseException | None) -> str:
    """The ``result`` label of an operation that raised ``exc`` (None: it returned)."""
    if exc is None:
        return "ok"
    if isinstance(exc, interface.ConflictError):
        return "conflict"
    if isinstance(exc, interface.CompactedError):
        return "compacted"
    if isinstance(exc, interface.StoreUnavailableError):
        return "unavailable"
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return "error"


class StoreMetrics:
    """The store's two metric families, in ``registry``."""

    def __init__(self, registry: prometheus_client.CollectorRegistry) -> None:
        self.operations = prometheus_client.Counter(
            "gamefleet_hub_store_operations",
            "Store operations, by backend, operation and result (ok; conflict: a "
            "compare-and-swap lost; compacted; unavailable; cancelled; error); a watch counts "
            "once, when it ends.",
            ["backend", "op", "result"],
            registry=registry,
        )
        self.seconds = prometheus_client.Histogram(
            "gamefleet_hub_store_operation_seconds",
            "Time a store operation took, whatever its result, by backend and operation "
            "(watches are not timed).",
            ["backend", "op"],
            buckets=BUCKETS,
            registry=registry,
        )


class MeteredStore:
    """``Store`` around ``inner``, recording each call under ``backend`` in ``metrics``."""

    def __init__(self, inner: interface.Store, backend: str, metrics: StoreMetrics) -> None:
        self.inner = inner
        self.backend = backend
        self._operations = metrics.operations
        # The "ok" series exist, at 0, from the first scrape; the failures once they happen.
        self._count = {(op, "ok"): metrics.operations.labels(backend, op, "ok") for op in OPS}
        self._seconds = {op: metrics.seconds.labels(backend, op) for op in OPS if op != "watch"}

    def _counter(self, op: str, result: str) -> prometheus_client.Counter:
        child = self._count.get((op, result))
        if child is None:
            child = self._count[op, result] = self._operations.labels(self.backend, op, result)
        return child

    async def _timed(self, op: str, call: Awaitable[_T]) -> _T:
        began = time.perf_counter()
        failure: BaseException | None = None
        try:
            return await call
        except BaseException as exc:
            failure = exc
            raise
        finally:
            self._seconds[op].observe(time.perf_counter() - began)
            self._counter(op, result_of(failure)).inc()

    async def get(self, key: str) -> interface.KeyValue | None:
        return await self._timed("get", self.inner.get(key))

    async def list(
        self, prefix: str, *, start_after: str = "", limit: int = 0
    ) -> tuple[builtins.list[interface.KeyValue], int]:
        return await self._timed(
            "list", self.inner.list(prefix, start_after=start_after, limit=limit)
        )

    async def put(self, key: str, value: bytes, *, expected_mod_revision: int | None = None) -> int:
        return await self._timed(
            "put", self.inner.put(key, value, expected_mod_revision=expected_mod_revision)
        )

    async def delete(self, key: str, *, expected_mod_revision: int | None = None) -> bool:
        return await self._timed(
            "delete", self.inner.delete(key, expected_mod_revision=expected_mod_revision)
        )

    async def commit(self, ops: Sequence[interface.Op]) -> int:
        return await self._timed("commit", self.inner.commit(ops))

    async def watch(
        self, prefix: str, start_revision: int
    ) -> AsyncGenerator[interface.WatchEvent, None]:
        failure: BaseException | None = None
        try:
            async with contextlib.aclosing(self.inner.watch(prefix, start_revision)) as events:
                async for event in events:
                    yield event
        except (GeneratorExit, asyncio.CancelledError):
            raise  # the caller closed it or cancelled a pending anext(): the usual end
        except BaseException as exc:
            failure = exc
            raise
        finally:
            self._counter("watch", result_of(failure)).inc()

    async def compact(self, revision: int) -> None:
        await self._timed("compact", self.inner.compact(revision))

    async def check(self) -> None:
        await self.inner.check()

    async def close(self) -> None:
        await self.inner.close()
