"""Typed access to etcd's v3 gRPC API through aetcd's generated stubs.

This is the only module that touches aetcd (which has no type information): everything leaving
it is a plain dataclass. It owns the endpoint list and the channel: a call first waits until a
channel is ready, trying the endpoints in order with backoff, so a dead member costs one
connect timeout, and a call that fails in flight is retried only when it is a read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING, Any, Final, TypeVar

import grpc
import grpc.aio
import tenacity
from aetcd import rpc

from . import interface

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_UNAVAILABLE_CODES: Final = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)

_EOF: Final[object] = grpc.aio.EOF  # type: ignore[attr-defined]

_CHANNEL_OPTIONS: Final = (
    # gRPC's default reconnect backoff grows to two minutes; a restarted etcd must be found
    # again within about a second.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # Detect a silently dead peer (no RST) under a long-lived watch; etcd allows pings every 5 s.
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
)


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclasses.dataclass(frozen=True, slots=True)
class RawKV:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    lease: int


@dataclasses.dataclass(frozen=True, slots=True)
class RawEvent:
    deleted: bool
    kv: RawKV


@dataclasses.dataclass(frozen=True, slots=True)
class Compare:
    """``target`` of ``key`` equals ``value``; target is "mod" or "create" revision."""

    key: bytes
    target: str
    value: int


@dataclasses.dataclass(frozen=True, slots=True)
class TxnPut:
    key: bytes
    value: bytes
    lease: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class TxnDelete:
    key: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class TxnGet:
    key: bytes


TxnOp = TxnPut | TxnDelete | TxnGet


@dataclasses.dataclass(frozen=True, slots=True)
class TxnResult:
    succeeded: bool
    revision: int
    # One entry per op of the branch that ran: deleted count for a delete, the key's value
    # (or None) for a get, None for a put.
    results: list[int | RawKV | None]


@dataclasses.dataclass(frozen=True, slots=True)
class RangeResult:
    kvs: list[RawKV]
    more: bool
    revision: int


class _NotReady(Exception):
    pass


def range_end(prefix: bytes) -> bytes:
    """Return the range end that selects every key starting with ``prefix``."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\0"
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _kv(kv: Any) -> RawKV:
    return RawKV(
        key=bytes(kv.key),
        value=bytes(kv.value),
        create_revision=int(kv.create_revision),
        mod_revision=int(kv.mod_revision),
        lease=int(kv.lease),
    )


def _request_op(op: TxnOp) -> Any:
    if isinstance(op, TxnPut):
        return rpc.RequestOp(request_put=rpc.PutRequest(key=op.key, value=op.value, lease=op.lease))
    if isinstance(op, TxnDelete):
        return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=op.key))
    return rpc.RequestOp(request_range=rpc.RangeRequest(key=op.key))


def _compare(c: Compare) -> Any:
    if c.target == "mod":
        return rpc.Compare(
            key=c.key, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL, mod_revision=c.value
        )
    if c.target == "create":
        return rpc.Compare(
            key=c.key,
            target=rpc.Compare.CREATE,
            result=rpc.Compare.EQUAL,
            create_revision=c.value,
        )
    raise ValueError(f"unknown compare target {c.target!r}")


def _op_result(op: TxnOp, response: Any) -> int | RawKV | None:
    if isinstance(op, TxnDelete):
        return int(response.response_delete_range.deleted)
    if isinstance(op, TxnGet):
        kvs = response.response_range.kvs
        return _kv(kvs[0]) if kvs else None
    return None


class _Connection:
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.channel = grpc.aio.insecure_channel(str(endpoint), options=_CHANNEL_OPTIONS)
        self.kv: Any = rpc.KVStub(self.channel)
        self.lease: Any = rpc.LeaseStub(self.channel)
        self.watch: Any = rpc.WatchStub(self.channel)


def is_unavailable(error: grpc.aio.AioRpcError) -> bool:
    return error.code() in _UNAVAILABLE_CODES


class EtcdRpc:
    """One logical connection to an etcd cluster reachable through any of ``endpoints``."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        connect_timeout: float = 2.0,
        call_timeout: float = 5.0,
        retry_timeout: float = 10.0,
    ) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is required")
        self.endpoints = tuple(endpoints)
        self._index = 0
        self._conn: _Connection | None = None
        self._lock = asyncio.Lock()
        self._connect_timeout = connect_timeout
        self._call_timeout = call_timeout
        self._retry_timeout = retry_timeout
        self._closed = False

    async def _connected(self, stop_after: float | None) -> _Connection:
        stop: tenacity.stop.stop_base = (
            tenacity.stop_never if stop_after is None else tenacity.stop_after_delay(stop_after)
        )
        try:
            async for attempt in tenacity.AsyncRetrying(
                stop=stop,
                wait=tenacity.wait_exponential_jitter(multiplier=0.05, max=1.0, jitter=0.1),
                retry=tenacity.retry_if_exception_type(_NotReady),
                reraise=True,
            ):
                with attempt:
                    return await self._try_connect()
        except _NotReady as e:
            raise interface.StoreUnavailableError(
                f"no etcd endpoint of {', '.join(map(str, self.endpoints))} answers: {e}"
            ) from None
        raise AssertionError("unreachable")

    async def _try_connect(self) -> _Connection:
        if self._closed:
            raise interface.StoreError("etcd connection is closed")
        async with self._lock:
            if self._conn is None:
                self._conn = _Connection(self.endpoints[self._index])
            conn = self._conn
        try:
            # Not wait_for: on Python 3.11 it can swallow a cancellation that races with an
            # already-ready channel, leaving the caller running after it was cancelled.
            async with asyncio.timeout(self._connect_timeout):
                await conn.channel.channel_ready()
        except TimeoutError:
            await self._rotate(conn)
            raise _NotReady(f"{conn.endpoint} not ready") from None
        return conn

    async def _rotate(self, failed: _Connection) -> None:
        if len(self.endpoints) == 1:
            return
        async with self._lock:
            if self._conn is not failed:
                return
            self._conn = None
            self._index = (self._index + 1) % len(self.endpoints)
        log.warning("etcd %s unreachable; trying %s", failed.endpoint, self.endpoints[self._index])
        await failed.channel.close(None)

    async def _call(self, fn: Callable[[_Connection], Awaitable[_T]], *, read: bool) -> _T:
        """Run one unary call; reads are retried until ``retry_timeout``, writes are not."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._retry_timeout
        while True:
            conn = await self._connected(max(0.0, deadline - loop.time()))
            try:
                return await fn(conn)
            except grpc.aio.AioRpcError as e:
                if not is_unavailable(e):
                    raise interface.StoreError(f"etcd {conn.endpoint}: {e.details()}") from e
                if not read or loop.time() >= deadline:
                    raise interface.StoreUnavailableError(
                        f"etcd {conn.endpoint}: {e.code().name}: {e.details()}"
                    ) from e
                await asyncio.sleep(0.05)

    async def range(
        self, key: bytes, end: bytes = b"", *, revision: int = 0, limit: int = 0
    ) -> RangeResult:
        request = rpc.RangeRequest(key=key, range_end=end, revision=revision, limit=limit)

        async def call(conn: _Connection) -> Any:
            return await conn.kv.Range(request, timeout=self._call_timeout)

        response = await self._call(call, read=True)
        return RangeResult(
            kvs=[_kv(kv) for kv in response.kvs],
            more=bool(response.more),
            revision=int(response.header.revision),
        )

    async def txn(
        self,
        compares: Sequence[Compare],
        success: Sequence[TxnOp],
        failure: Sequence[TxnOp] = (),
    ) -> TxnResult:
        request = rpc.TxnRequest(
            compare=[_compare(c) for c in compares],
            success=[_request_op(op) for op in success],
            failure=[_request_op(op) for op in failure],
        )

        async def call(conn: _Connection) -> Any:
            return await conn.kv.Txn(request, timeout=self._call_timeout)

        read = all(isinstance(op, TxnGet) for op in [*success, *failure])
        response = await self._call(call, read=read)
        ops = success if response.succeeded else failure
        return TxnResult(
            succeeded=bool(response.succeeded),
            revision=int(response.header.revision),
            results=[_op_result(op, r) for op, r in zip(ops, response.responses, strict=True)],
        )

    async def compact(self, revision: int) -> None:
        """Compact history before ``revision``; compacting an older revision again is a no-op."""
        request = rpc.CompactionRequest(revision=revision, physical=True)

        async def call(conn: _Connection) -> Any:
            return await conn.kv.Compact(request, timeout=self._call_timeout)

        try:
            await self._call(call, read=True)
        except interface.StoreError as e:
            cause = e.__cause__
            if not isinstance(cause, grpc.aio.AioRpcError):
                raise
            details = cause.details() or ""
            if "future revision" in details:
                raise ValueError(f"cannot compact at {revision}: {details}") from None
            if "has been compacted" not in details:
                raise

    async def grant_lease(self, ttl: int) -> tuple[int, int]:
        """Return (lease id, granted TTL in seconds)."""
        request = rpc.LeaseGrantRequest(TTL=ttl)

        async def call(conn: _Connection) -> Any:
            return await conn.lease.LeaseGrant(request, timeout=self._call_timeout)

        response = await self._call(call, read=False)
        if response.error:
            raise interface.StoreError(f"etcd lease grant failed: {response.error}")
        return int(response.ID), int(response.TTL)

    async def keep_alive(self, lease_id: int, within: float) -> int:
        """Refresh the lease once; return its remaining TTL (0 or less: the lease is gone)."""
        try:
            async with asyncio.timeout(within):
                conn = await self._connected(None)
                call = conn.lease.LeaseKeepAlive(iter([rpc.LeaseKeepAliveRequest(ID=lease_id)]))
                async for response in call:
                    return int(response.TTL)
        except TimeoutError:
            raise interface.StoreUnavailableError(
                f"etcd keepalive: no answer in {within:.1f}s"
            ) from None
        except grpc.aio.AioRpcError as e:
            raise interface.StoreUnavailableError(f"etcd keepalive: {e.details()}") from e
        raise interface.StoreUnavailableError("etcd keepalive stream ended without an answer")

    async def revoke_lease(self, lease_id: int) -> None:
        request = rpc.LeaseRevokeRequest(ID=lease_id)

        async def call(conn: _Connection) -> Any:
            return await conn.lease.LeaseRevoke(request, timeout=self._call_timeout)

        await self._call(call, read=False)

    async def watch(
        self, key: bytes, end: bytes, start_revision: int
    ) -> AsyncGenerator[RawEvent, None]:
        """Yield every event on [key, end) from ``start_revision`` on, across reconnects.

        After a broken stream the watch is created again from the revision after the last one
        seen (an event's, or a progress notification's), so nothing is lost or repeated.
        Raises ``CompactedError`` when that revision is no longer in etcd's history.
        """
        next_revision = start_revision
        while not self._closed:
            conn = await self._connected(None)
            call = conn.watch.Watch()
            try:
                create = rpc.WatchCreateRequest(
                    key=key, range_end=end, start_revision=next_revision, progress_notify=True
                )
                await call.write(rpc.WatchRequest(create_request=create))
                while True:
                    response = await call.read()
                    if response is _EOF:
                        break
                    if response.compact_revision:
                        raise interface.CompactedError(
                            next_revision, int(response.compact_revision)
                        )
                    if response.canceled:
                        raise interface.StoreError(
                            f"etcd canceled the watch: {response.cancel_reason}"
                        )
                    if not response.events:
                        if not response.created:
                            # A progress notification: nothing up to this revision is pending.
                            next_revision = max(next_revision, int(response.header.revision) + 1)
                        continue
                    for event in response.events:
                        raw = RawEvent(deleted=event.type == rpc.Event.DELETE, kv=_kv(event.kv))
                        next_revision = raw.kv.mod_revision + 1
                        yield raw
            except grpc.aio.AioRpcError as e:
                if self._closed:
                    return
                if not is_unavailable(e):
                    raise interface.StoreError(f"etcd watch: {e.details()}") from e
                log.info("etcd watch broke (%s); resuming at revision %d", e.code(), next_revision)
            finally:
                call.cancel()
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        self._closed = True
        async with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            await conn.channel.close(None)
