"""Leader election: etcd leases for HA hubs, and a trivial one for the single-replica SQLite hub.

On etcd, a candidate holds a lease (TTL ``ttl`` seconds, refreshed every ttl/3) and campaigns by
creating ``<prefix>leader`` with its identity, attached to the lease, only if the key is absent.
The holder stays leader while its lease lives; everyone watches the key and campaigns again
when it goes away. A leader that cannot refresh its lease steps down when the lease would have
expired as counted from the last refresh it sent, which is never later than etcd's own expiry,
so two hubs never both believe they lead (clock rates permitting).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import TYPE_CHECKING, Protocol

from . import _etcd_rpc, interface

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Leadership:
    is_leader: bool
    # The current leader's identity (its address), or None while no leader is known.
    leader: str | None


class LeaderElector(Protocol):
    identity: str

    @property
    def state(self) -> Leadership:
        """The latest known leadership."""
        ...

    async def start(self) -> None:
        """Begin campaigning in the background."""
        ...

    def changes(self) -> AsyncIterator[Leadership]:
        """Yield the current leadership, then each change (latest wins); end on close."""
        ...

    async def close(self) -> None:
        """Stop campaigning and give up leadership at once."""
        ...


class _Published:
    """The latest leadership, and a way to wait for the next one."""

    def __init__(self, initial: Leadership) -> None:
        self.state = initial
        self._version = 0
        self._closed = False
        self._cond = asyncio.Condition()

    async def set(self, state: Leadership) -> None:
        if state == self.state:
            return
        async with self._cond:
            self.state = state
            self._version += 1
            self._cond.notify_all()

    async def end(self) -> None:
        async with self._cond:
            self._closed = True
            self._cond.notify_all()

    async def changes(self) -> AsyncIterator[Leadership]:
        seen = -1
        while True:
            async with self._cond:
                await self._cond.wait_for(
                    lambda: self._version != seen or self._closed  # noqa: B023
                )
                if self._version == seen:
                    return
                seen = self._version
                state = self.state
            yield state


class SingleReplicaElector:
    """Always the leader: the SQLite store has one replica by construction."""

    def __init__(self, identity: str) -> None:
        self.identity = identity
        self._published = _Published(Leadership(True, identity))

    @property
    def state(self) -> Leadership:
        return self._published.state

    async def start(self) -> None:
        return None

    def changes(self) -> AsyncIterator[Leadership]:
        return self._published.changes()

    async def close(self) -> None:
        await self._published.end()


class EtcdElector:
    def __init__(self, rpc: _etcd_rpc.EtcdRpc, key: bytes, identity: str, *, ttl: int = 5) -> None:
        if ttl < 2:
            raise ValueError(f"lease TTL must be at least 2 seconds, got {ttl}")
        self.identity = identity
        self._rpc = rpc
        self._key = key
        self._ttl = ttl
        self._lease: int | None = None
        self._published = _Published(Leadership(False, None))
        self._task: asyncio.Task[None] | None = None

    @property
    def state(self) -> Leadership:
        return self._published.state

    def changes(self) -> AsyncIterator[Leadership]:
        return self._published.changes()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"elector {self.identity}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        lease, self._lease = self._lease, None
        if lease is not None:
            # Revoking deletes the leader key, so a follower takes over without waiting a TTL.
            with contextlib.suppress(interface.StoreError, TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._rpc.revoke_lease(lease)
        await self._published.set(Leadership(False, None))
        await self._published.end()
        await self._rpc.close()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sent = loop.time()
                lease, granted = await self._rpc.grant_lease(self._ttl)
                self._lease = lease
                lost = asyncio.Event()
                keeper = asyncio.create_task(self._keep_alive(lease, sent + granted, lost))
                try:
                    await self._campaign(lease, lost)
                finally:
                    keeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await keeper
                log.warning("%s lost its etcd lease", self.identity)
            except interface.StoreError as e:
                log.warning("%s: leader election interrupted: %s", self.identity, e)
            await self._published.set(Leadership(False, None))
            await self._drop_lease()
            await asyncio.sleep(0.2)

    async def _drop_lease(self) -> None:
        lease, self._lease = self._lease, None
        if lease is None:
            return
        # A lease that might still hold the leader key would block every campaign until it
        # expires; give it up now when etcd is reachable.
        with contextlib.suppress(interface.StoreError, TimeoutError):
            async with asyncio.timeout(1.0):
                await self._rpc.revoke_lease(lease)

    async def _keep_alive(self, lease: int, deadline: float, lost: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        # Step down a little early: our clock and etcd's may run at slightly different rates.
        margin = self._ttl / 10
        while True:
            now = loop.time()
            if now >= deadline - margin:
                lost.set()
                return
            try:
                remaining = await self._rpc.keep_alive(lease, deadline - margin - now)
            except interface.StoreError:
                await asyncio.sleep(min(0.25, max(0.0, deadline - margin - loop.time())))
                continue
            if remaining <= 0:
                lost.set()
                return
            deadline = now + remaining
            await asyncio.sleep(self._ttl / 3)

    async def _campaign(self, lease: int, lost: asyncio.Event) -> None:
        while not lost.is_set():
            result = await self._rpc.txn(
                [_etcd_rpc.Compare(self._key, "create", 0)],
                [_etcd_rpc.TxnPut(self._key, self.identity.encode(), lease)],
                [_etcd_rpc.TxnGet(self._key)],
            )
            if result.succeeded:
                await self._published.set(Leadership(True, self.identity))
            else:
                holder = result.results[0]
                if not isinstance(holder, _etcd_rpc.RawKV):
                    continue
                leading = holder.lease == lease
                await self._published.set(Leadership(leading, holder.value.decode()))
            await self._wait_for_change(result.revision + 1, lost)

    async def _wait_for_change(self, revision: int, lost: asyncio.Event) -> None:
        events = self._rpc.watch(self._key, b"", revision)
        next_event = asyncio.ensure_future(anext(events))
        lease_lost = asyncio.ensure_future(lost.wait())
        try:
            await asyncio.wait({next_event, lease_lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            next_event.cancel()
            lease_lost.cancel()
            # wait() never raises the task's own error, but lets our cancellation through.
            await asyncio.wait({next_event})
            await events.aclose()
        if next_event.cancelled():
            return
        error = next_event.exception()
        if isinstance(error, StopAsyncIteration):
            raise interface.StoreError("etcd connection closed")
        if error is not None and not isinstance(error, interface.CompactedError):
            raise error
